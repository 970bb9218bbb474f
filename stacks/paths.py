"""Project paths, built from this file's location (never from the working directory)."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
LAMBDAS = ROOT / "lambdas"
PROCESSING = ROOT / "processing"
STATEMACHINES = ROOT / "statemachines"


def load_script(path: Path) -> ModuleType:
    """Import a standalone script (e.g. ``processing/glue_etl.py``) by path, once."""
    name = f"_script_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
