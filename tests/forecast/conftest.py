"""Fixtures for the forecast pipeline's code: import paths, fake AWS, MariaDB, Lambda handlers.

Each Lambda folder is its own deployment root (``handler.py`` imports its siblings by plain
name), so the folders go on ``sys.path``; the two ``handler`` modules are loaded under distinct
names by the ``*_handler`` fixtures.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
for _sub in ("lambdas/generate_dataset", "lambdas/write_forecast", "processing"):
    _path = str(ROOT / _sub)
    if _path not in sys.path:
        sys.path.insert(0, _path)

from tests.mysql_server import MySQLDatabase, MySQLServer, mysql_database, mysql_server  # noqa: E402

__all__ = ["MySQLDatabase", "MySQLServer", "mysql_database", "mysql_server"]


@pytest.fixture(autouse=True)
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region, so nothing can reach a real AWS account."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")


def _load_handler(folder: str) -> ModuleType:
    name = f"{folder}_handler"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "lambdas" / folder / "handler.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def generate_dataset_handler() -> Iterator[ModuleType]:
    module = _load_handler("generate_dataset")
    module._s3.cache_clear()  # a client made under an earlier mock must not leak into this test
    yield module
    module._s3.cache_clear()


@pytest.fixture
def write_forecast_handler() -> Iterator[ModuleType]:
    module = _load_handler("write_forecast")
    module._s3.cache_clear()
    yield module
    module._s3.cache_clear()
