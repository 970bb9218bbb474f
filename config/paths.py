"""Project paths, built from this file's location (never from the working directory)."""

import importlib
import sys
from pathlib import Path
from types import ModuleType

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


def function_module(function: str, module: str) -> ModuleType:
    """``lambdas/<function>/<module>.py`` by its plain name, as the function's bundle imports its
    siblings: the folder goes first on ``sys.path`` (module names are unique across functions),
    and a second call returns the same module object."""
    folder = str(LAMBDAS / function)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(module)
