"""Fixtures for the forecast pipeline's code: import paths and Lambda handlers.

Each Lambda folder is its own deployment root (``handler.py`` imports its siblings by plain
name), so the folders go on ``sys.path``; the ``*_handler`` fixtures load the two ``handler``
modules as the offline runner does. The Glue script is imported as ``processing.glue_etl``, the
module the stacks' config uses too. Fake AWS credentials and the MySQL fixtures come from
``tests/conftest.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
for _sub in ("lambdas/generate_dataset", "lambdas/write_forecast"):
    _path = str(ROOT / _sub)
    if _path not in sys.path:
        sys.path.insert(0, _path)

from localrun.lambdas import load, reset_clients  # noqa: E402


def _handler(function: str) -> Iterator[ModuleType]:
    module = load(function)
    reset_clients(module)  # a client made under an earlier mock must not leak into this test
    yield module
    reset_clients(module)


@pytest.fixture
def generate_dataset_handler() -> Iterator[ModuleType]:
    yield from _handler("generate_dataset")


@pytest.fixture
def write_forecast_handler() -> Iterator[ModuleType]:
    yield from _handler("write_forecast")
