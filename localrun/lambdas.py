"""The project's Lambda handlers, imported as Lambda does and called with their deployed environment."""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from config.paths import LAMBDAS, function_module
from localrun.moto_adapter.requests import acting_as, note_environment

_ENVIRON_LOCK = threading.Lock()


def load(function: str, module: str = "handler") -> ModuleType:
    """``lambdas/<function>/<module>.py``: the handler as ``lambda_<function>.handler``.

    The function's folder goes first on ``sys.path``, so its sibling modules resolve by plain
    name, as on Lambda (their names are unique across functions). A sibling is returned as that
    same module, the one its handler uses, so clearing its caches reaches the handler.
    """
    if module != "handler":
        return function_module(function, module)
    folder = LAMBDAS / function
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    name = f"lambda_{function}.{module}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, folder / f"{module}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {folder / module}.py")
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[name] = loaded
    spec.loader.exec_module(loaded)
    return loaded


@contextmanager
def environment(variables: Mapping[str, str]) -> Iterator[None]:
    """Set ``variables`` in ``os.environ`` for the block (one block at a time), then restore it."""
    with _ENVIRON_LOCK:
        saved = {k: os.environ.get(k) for k in variables}
        os.environ.update(variables)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def reset_clients(module: ModuleType) -> None:
    """Forget the AWS clients a handler module cached, so the next call makes them in this mock."""
    for value in vars(module).values():
        clear = getattr(value, "cache_clear", None)
        if callable(clear):
            clear()


def bound(
    function: str, variables: Mapping[str, str], call: Callable[[Any], Any] | None = None
) -> Callable[[Any], Any]:
    """A callable for ``OfflineAws.bind_lambda``: the function's handler (or ``call``) run with the
    environment ``variables``."""
    module = load(function)
    reset_clients(module)
    note_environment(f"function:{function}", variables)
    target = call or module.handler

    def invoke(payload: Any) -> Any:
        with environment(variables), acting_as(f"function:{function}"):
            return target(payload)

    return invoke
