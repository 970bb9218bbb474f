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

from typing import Any  # noqa: E402

import boto3  # noqa: E402
import mysql_connection  # noqa: E402
from moto import mock_aws  # noqa: E402

from localrun.lambdas import load, reset_clients  # noqa: E402
from tests.forecast.generate_dataset_support import BUCKET as GENERATE_DATASET_BUCKET  # noqa: E402
from tests.forecast.write_forecast_support import (  # noqa: E402
    BUCKET,
    MODEL_WINS,
    PREFIX,
    TABLE,
    TWO_BACKTESTS,
    TWO_SERIES,
    make_secret,
)
from tests.mysql_server import MySQLDatabase  # noqa: E402


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


@pytest.fixture
def aws() -> Iterator[None]:
    """moto for the test, with write-forecast's secret cache empty before and after."""
    mysql_connection.clear_secret_cache()
    with mock_aws():
        yield
    mysql_connection.clear_secret_cache()


@pytest.fixture
def s3_and_secret(aws: None, mysql_database: MySQLDatabase, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The run's bucket with its series manifest, the model's backtest and the baseline file (the
    model wins both series), and write-forecast's environment for the database; each test puts the
    future's forecast (``transform/test.json.out``)."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}series.json", Body=TWO_SERIES.encode())
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}transform/train.json.out", Body=TWO_BACKTESTS.encode())
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}baseline.json", Body=MODEL_WINS.encode())
    monkeypatch.setenv("SECRET_ID", make_secret(mysql_database.secret()))
    monkeypatch.setenv("FORECAST_TABLE", TABLE)
    monkeypatch.setenv("TIME_FREQ", "1H")
    monkeypatch.setenv("PREDICTION_LENGTH", "3")
    for name, value in mysql_database.server.tls_environment().items():
        monkeypatch.setenv(name, value)
    return s3


@pytest.fixture
def s3() -> Iterator[Any]:
    """An emulated S3 with generate-dataset's test bucket (modules with their own bucket define their own)."""
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=GENERATE_DATASET_BUCKET)
        yield client
