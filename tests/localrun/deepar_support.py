"""What the DeepAR twin's test modules share: whether gluonts is installed, the hyperparameters
they start from, and writing JSON Lines."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.ci import on_ci

HAVE_GLUONTS = (
    importlib.util.find_spec("gluonts") is not None and importlib.util.find_spec("torch") is not None
)
if not HAVE_GLUONTS and on_ci():
    raise RuntimeError("CI is set but gluonts/torch are missing: `make setup` installs requirements-demo.txt")
needs_gluonts = pytest.mark.skipif(not HAVE_GLUONTS, reason="needs requirements-demo.txt (gluonts, torch)")

BASE_HP = {"time_freq": "1H", "prediction_length": "24", "context_length": "48", "epochs": "3"}


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path
