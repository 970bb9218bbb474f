"""One run's forecast, from the run's files in S3 to a :class:`ForecastRepository`.

Reads the series manifest (``dataset.series_uri``) and the DeepAR batch-transform output
(``dataset.forecast_uri``), validates them whole (:mod:`forecast_rows`), then writes every row
through one repository call, MySQL's in the Lambda (:func:`mysql_repositories`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from forecast_repository import ForecastRepository, MySQLForecastRepository, validate_table_name
from forecast_rows import ConfigurationError, MalformedForecast, forecast_rows
from mysql_connection import TlsSettings, connection_factory, get_db_secret

from pipeline_rules import Environment, freq_step

LOG = logging.getLogger(__name__)
_DATASET_KEYS = ("run_id", "series_uri", "forecast_uri")


@dataclass(frozen=True)
class ForecastSettings:
    """``FORECAST_TABLE`` (required), ``TIME_FREQ`` (default ``1H``), ``PREDICTION_LENGTH``
    (default 168): where the rows go and the shape the run must have."""

    table: str
    freq: str
    prediction_length: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ForecastSettings:
        """Raises ``ConfigurationError`` naming the variable."""
        read = Environment(env)
        return cls(
            table=validate_table_name(read.required("FORECAST_TABLE")),
            freq=read.optional("TIME_FREQ", "1H", freq_step),
            prediction_length=read.positive_int("PREDICTION_LENGTH", 168),
        )


@dataclass(frozen=True)
class Settings:
    """The function's environment: ``SECRET_ID`` (the database secret's ARN), the TLS settings
    ``DB_TLS`` and ``DB_CA_FILE`` (:class:`TlsSettings`) and the :class:`ForecastSettings`."""

    secret_id: str
    tls: TlsSettings
    forecast: ForecastSettings

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Raises ``ConfigurationError`` (``TlsConfigurationError`` for TLS) naming the variable."""
        return cls(
            secret_id=Environment(env).required("SECRET_ID"),
            tls=TlsSettings.from_env(env),
            forecast=ForecastSettings.from_env(env),
        )


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


def write_forecast(
    s3: Any,
    event: Any,
    repository_for: Callable[[str], ForecastRepository],
    settings: ForecastSettings,
) -> dict[str, Any]:
    """Read the run's forecast, validate it whole, then write it through ``repository_for(table)``.

    The offline runner calls this with its own repository; the handler with MySQL's.
    """
    dataset = event.get("dataset") if isinstance(event, dict) else None
    if not isinstance(dataset, dict) or not all(k in dataset for k in _DATASET_KEYS):
        raise ConfigurationError("expected {'dataset': {'run_id', 'series_uri', 'forecast_uri', ...}}")
    series_uri, forecast_uri = dataset["series_uri"], dataset["forecast_uri"]
    rows = forecast_rows(
        read_s3_text(s3, series_uri),
        series_uri,
        read_s3_text(s3, forecast_uri),
        forecast_uri,
        freq=settings.freq,
        prediction_length=settings.prediction_length,
        run_id=str(dataset["run_id"]),
    )
    written = repository_for(settings.table).write(rows)
    LOG.info("run %s: wrote %d forecast rows to %s", dataset["run_id"], written, settings.table)
    return {"rows": written}


def mysql_repositories(settings: Settings) -> Callable[[str], ForecastRepository]:
    """MySQL repositories with the credentials of the secret (cached per container) over TLS."""

    def mysql(table: str) -> ForecastRepository:
        get_db_secret(settings.secret_id)  # an unusable secret fails here, as InvalidSecret
        return MySQLForecastRepository(connection_factory(settings.secret_id, tls=settings.tls), table)

    return mysql
