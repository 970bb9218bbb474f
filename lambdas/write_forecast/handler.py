"""Lambda entry point: ``{"dataset": <generate-dataset's result>}`` -> ``{"rows": n}``.

Reads the series manifest (``dataset.series_uri``) and the DeepAR batch-transform output
(``dataset.forecast_uri``), builds one row per series and forecast step, and upserts them into
MySQL in one transaction.

Environment: ``SECRET_ID`` (Secrets Manager ARN of the database secret), ``FORECAST_TABLE``,
``TIME_FREQ`` (default ``1H``), ``PREDICTION_LENGTH`` (default 168), ``DB_TLS`` (default
``required``) and ``DB_CA_FILE`` (default: the runtime's trust store; see :mod:`mysql_connection`).

Errors the state machine routes on (by class name): ``MalformedForecast`` (nothing is written),
``ForecastWriteFailed`` (rolled back; also a TLS failure, named in its message),
``InvalidSecret``, ``ConfigurationError``, ``TlsConfigurationError``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any
from urllib.parse import urlparse

import boto3
from forecast_repository import ForecastRepository, MySQLForecastRepository, validate_table_name
from forecast_rows import ConfigurationError, MalformedForecast, forecast_rows, parse_prediction_length
from mysql_connection import TlsSettings, connection_factory, get_db_secret

logging.getLogger().setLevel(logging.INFO)
LOG = logging.getLogger(__name__)
_DATASET_KEYS = ("run_id", "series_uri", "forecast_uri")


@cache
def _s3() -> Any:
    return boto3.client("s3")


def read_s3_text(s3: Any, uri: str) -> str:
    """The UTF-8 text of ``s3://bucket/key``; a missing object is a :class:`MalformedForecast`."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.strip("/"):
        raise MalformedForecast(f"{uri!r} is not an s3://bucket/key URI")
    try:
        body = s3.get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"].read()
    except s3.exceptions.NoSuchKey:
        raise MalformedForecast(f"{uri} does not exist") from None
    try:
        return str(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise MalformedForecast(f"{uri} is not UTF-8: {exc}") from None


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set")
    return value


def write_forecast(
    s3: Any,
    event: Any,
    repository_for: Callable[[str], ForecastRepository],
    env: Mapping[str, str],
) -> dict[str, Any]:
    """Read the run's forecast, validate it whole, then write it through ``repository_for(table)``.

    ``env`` holds ``FORECAST_TABLE``, ``TIME_FREQ`` (1H) and ``PREDICTION_LENGTH`` (168). The
    offline runner calls this with its own repository; the handler with MySQL's.
    """
    dataset = event.get("dataset") if isinstance(event, dict) else None
    if not isinstance(dataset, dict) or not all(k in dataset for k in _DATASET_KEYS):
        raise ConfigurationError("expected {'dataset': {'run_id', 'series_uri', 'forecast_uri', ...}}")
    table = validate_table_name(_required(env, "FORECAST_TABLE"))
    freq = env.get("TIME_FREQ", "").strip() or "1H"
    prediction_length = parse_prediction_length(env.get("PREDICTION_LENGTH"))
    series_uri, forecast_uri = dataset["series_uri"], dataset["forecast_uri"]
    rows = forecast_rows(
        read_s3_text(s3, series_uri),
        series_uri,
        read_s3_text(s3, forecast_uri),
        forecast_uri,
        freq=freq,
        prediction_length=prediction_length,
        run_id=str(dataset["run_id"]),
    )
    written = repository_for(table).write(rows)
    LOG.info("run %s: wrote %d forecast rows to %s", dataset["run_id"], written, table)
    return {"rows": written}


def handler(event: dict[str, Any], _context: object = None) -> dict[str, Any]:
    """The Lambda: MySQL credentials from the secret ``SECRET_ID`` (cached per container)."""
    secret_id = _required(os.environ, "SECRET_ID")
    tls = TlsSettings.from_env(os.environ)  # a bad setting fails here, before any read

    def mysql(table: str) -> ForecastRepository:
        get_db_secret(secret_id)  # an unusable secret fails here, as InvalidSecret
        return MySQLForecastRepository(connection_factory(secret_id, tls=tls), table)

    return write_forecast(_s3(), event, mysql, os.environ)
