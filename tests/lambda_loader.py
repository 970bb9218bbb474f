"""Import a Lambda's modules the way Lambda does: with its own folder on ``sys.path``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

LAMBDAS = Path(__file__).resolve().parent.parent / "lambdas"


def load(function: str, module: str = "handler") -> ModuleType:
    """``lambdas/<function>/<module>.py`` as a module named ``<function>.<module>``.

    Sibling modules of the function (imported by plain name) resolve from its folder, which is
    put first on ``sys.path``; their names are unique across functions.
    """
    folder = LAMBDAS / function
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    name = f"lambda_{function}.{module}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, folder / f"{module}.py")
    assert spec and spec.loader, f"cannot load {folder / module}.py"
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod
