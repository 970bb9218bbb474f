"""Project paths, built from this file's location (never from the working directory)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAMBDAS = ROOT / "lambdas"
PROCESSING = ROOT / "processing"
STATEMACHINES = ROOT / "statemachines"
#: The rules module every Lambda bundle, the Glue job and the config share (imported as ``pipeline_rules``).
SHARED_RULES = ROOT / "pipeline_rules.py"
#: The forecast accuracy definitions and the seasonal-naive baseline, which generate-dataset and
#: write-forecast both score with (imported as ``forecast_metrics``).
FORECAST_METRICS = ROOT / "forecast_metrics.py"
#: Root modules a Lambda function ships besides :data:`SHARED_RULES`, by its folder's name.
FUNCTION_MODULES: dict[str, tuple[Path, ...]] = {
    "generate_dataset": (FORECAST_METRICS,),
    "write_forecast": (FORECAST_METRICS,),
}
