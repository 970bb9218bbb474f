"""Project paths, built from this file's location (never from the working directory)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAMBDAS = ROOT / "lambdas"
PROCESSING = ROOT / "processing"
STATEMACHINES = ROOT / "statemachines"
#: The rules module every Lambda bundle, the Glue job and the config share (imported as ``pipeline_rules``).
SHARED_RULES = ROOT / "pipeline_rules.py"
