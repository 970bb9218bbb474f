"""The function's two operations on one run, from its event to a :class:`ForecastRepository`.

:func:`run_operation` dispatches on the event's ``operation``:

* ``gate`` (:func:`gate_run`): the quality gate (:mod:`quality_gate`) on the training job's final
  metrics and the dataset's baseline; records the run (:mod:`run_history`) and returns the gate's
  result, or records it rejected and raises ``ModelWorseThanBaseline``;
* ``write`` (:func:`write_forecast`): reads the series manifest (``dataset.series_uri``) and the
  DeepAR batch-transform output (``dataset.forecast_uri``), validates them whole
  (:mod:`forecast_rows`), then writes every row and marks the run written through one repository
  call, MySQL's in the Lambda (:func:`mysql_repositories`).

The offline runner calls :func:`run_operation` with its own repository; the handler with MySQL's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from forecast_repository import ForecastRepository, MySQLForecastRepository
from forecast_rows import ConfigurationError, MalformedForecast, forecast_rows
from mysql_connection import TlsSettings, connection_factory, get_db_secret
from quality_gate import GateSettings, ModelWorseThanBaseline, evaluate, finite
from run_history import (
    ACCEPTED,
    DISABLED,
    FAILED,
    PASSED,
    REJECTED,
    WRITTEN,
    RunRecord,
    validate_table_name,
)

from pipeline_rules import Environment, check_execution_name, check_setting, freq_step

LOG = logging.getLogger(__name__)
_DATASET_KEYS = ("run_id", "series_uri", "forecast_uri")
OPERATIONS = ("gate", "write")


@dataclass(frozen=True)
class ForecastSettings:
    """``FORECAST_TABLE`` (required; the view's name, at most 57 characters), ``TIME_FREQ``
    (default ``1H``), ``PREDICTION_LENGTH`` (default 168): where the rows go and the shape the run
    must have; and the quality gate's ``QUALITY_GATE`` and ``MAX_LOSS_RATIO`` (:class:`GateSettings`)."""

    table: str
    freq: str
    prediction_length: int
    gate: GateSettings = field(default_factory=GateSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ForecastSettings:
        """Raises ``ConfigurationError`` naming the variable."""
        read = Environment(env)
        return cls(
            table=validate_table_name(read.required("FORECAST_TABLE")),
            freq=read.optional("TIME_FREQ", "1H", freq_step),
            prediction_length=read.positive_int("PREDICTION_LENGTH", 168),
            gate=GateSettings.from_env(env),
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


def _field(event: Mapping[str, Any], name: str) -> Any:
    if name not in event or event[name] is None:
        raise ConfigurationError(f"the event has no {name!r} field")
    return event[name]


def _dataset(event: Any) -> dict[str, Any]:
    dataset = event.get("dataset") if isinstance(event, dict) else None
    if not isinstance(dataset, dict) or not all(k in dataset for k in _DATASET_KEYS):
        raise ConfigurationError("expected {'dataset': {'run_id', 'series_uri', 'forecast_uri', ...}}")
    return dataset


def run_id_of(event: Mapping[str, Any], dataset: Mapping[str, Any]) -> str:
    """``dataset.run_id``, an execution name; ``execution_name``, when given, must be the same."""
    run_id = check_setting("dataset.run_id", str(dataset["run_id"]), check_execution_name)
    name = event.get("execution_name")
    if name is not None and name != run_id:
        raise ConfigurationError(f"the event's execution_name {name!r} is not its dataset.run_id {run_id!r}")
    return run_id


def parse_started_at(value: Any) -> datetime:
    """``$$.Execution.StartTime`` (ISO 8601, e.g. ``2024-05-01T10:00:00.123Z``) as naive UTC."""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise ConfigurationError(f"the event's started_at {value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _count(dataset: Mapping[str, Any]) -> int | None:
    count = dataset.get("series_count")
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def run_operation(
    s3: Any,
    event: Any,
    repository_for: Callable[[str], ForecastRepository],
    settings: ForecastSettings,
) -> dict[str, Any]:
    """The event's ``operation``, ``gate`` (:func:`gate_run`) or ``write`` (:func:`write_forecast`);
    anything else is a ``ConfigurationError`` naming the field."""
    operation = event.get("operation") if isinstance(event, dict) else None
    if operation == "gate":
        return gate_run(event, repository_for, settings)
    if operation == "write":
        return write_forecast(s3, event, repository_for, settings)
    raise ConfigurationError(
        f"the event's 'operation' field must be one of {', '.join(OPERATIONS)}, got {operation!r}"
    )


def gate_run(
    event: Any, repository_for: Callable[[str], ForecastRepository], settings: ForecastSettings
) -> dict[str, Any]:
    """Judge the run (``{"execution_name", "execution_arn", "started_at", "dataset", "training"}``),
    record it, and return the gate's result (:meth:`quality_gate.GateResult.as_dict`).

    Missing metrics raise before anything is recorded; a failed gate is recorded ``rejected``
    (committed) and then raised as :class:`ModelWorseThanBaseline`.
    """
    dataset = _dataset(event)
    run_id = run_id_of(event, dataset)
    arn, started = _field(event, "execution_arn"), parse_started_at(_field(event, "started_at"))
    result = evaluate(_field(event, "training"), dataset.get("baseline"), settings.gate)
    run = RunRecord(
        run_id,
        REJECTED if result.decision == FAILED else ACCEPTED,
        execution_arn=str(arn),
        started_at=started,
        series_count=_count(dataset),
        model_rmse=result.model_rmse,
        model_mean_wquantileloss=result.model_loss,
        baseline_rmse=result.baseline_rmse,
        baseline_mean_wquantileloss=result.baseline_loss,
        baseline_mase=result.baseline_mase,
        loss_ratio=result.loss_ratio,
        max_loss_ratio=result.max_loss_ratio,
        gate_decision=result.decision,
    )
    repository_for(settings.table).record_run(run)
    if result.decision == FAILED:
        raise ModelWorseThanBaseline(f"run {run_id}: {result.rejection(settings.table)}")
    LOG.info(
        "run %s: quality gate %s (model %s, baseline %s, ratio %s)",
        run_id,
        result.decision,
        result.model_loss,
        result.baseline_loss,
        result.loss_ratio,
    )
    return result.as_dict()


def _quality(event: Mapping[str, Any], run_id: str, dataset: Mapping[str, Any]) -> RunRecord:
    """The run's record from the write event's ``quality`` (the gate's result), which must have passed."""
    quality = _field(event, "quality")
    decision = quality.get("decision") if isinstance(quality, dict) else None
    if decision not in (PASSED, DISABLED):
        raise ConfigurationError(
            f"the event's quality.decision must be {PASSED!r} or {DISABLED!r} (the gate's result), "
            f"got {decision!r}; nothing was written"
        )
    model, base = quality.get("model"), quality.get("baseline")
    model, base = (model if isinstance(model, dict) else {}), (base if isinstance(base, dict) else {})
    return RunRecord(
        run_id,
        WRITTEN,
        series_count=_count(dataset),
        model_rmse=finite(model.get("RMSE")),
        model_mean_wquantileloss=finite(model.get("mean_wQuantileLoss")),
        baseline_rmse=finite(base.get("RMSE")),
        baseline_mean_wquantileloss=finite(base.get("mean_wQuantileLoss")),
        baseline_mase=finite(base.get("MASE")),
        loss_ratio=finite(quality.get("loss_ratio")),
        max_loss_ratio=finite(quality.get("max_loss_ratio")),
        gate_decision=decision,
    )


def write_forecast(
    s3: Any,
    event: Any,
    repository_for: Callable[[str], ForecastRepository],
    settings: ForecastSettings,
) -> dict[str, Any]:
    """Read the run's forecast (``{"execution_name", "dataset", "quality"}``), validate it whole,
    then write it and mark the run written through ``repository_for(table)``: ``{"rows": n}``."""
    dataset = _dataset(event)
    run_id = run_id_of(event, dataset)
    run = _quality(event, run_id, dataset)
    series_uri, forecast_uri = dataset["series_uri"], dataset["forecast_uri"]
    rows = forecast_rows(
        read_s3_text(s3, series_uri),
        series_uri,
        read_s3_text(s3, forecast_uri),
        forecast_uri,
        freq=settings.freq,
        prediction_length=settings.prediction_length,
        run_id=run_id,
    )
    written = repository_for(settings.table).write(rows, run)
    LOG.info("run %s: wrote %d forecast rows to %s", run_id, written, settings.table)
    return {"rows": written}


def mysql_repositories(settings: Settings) -> Callable[[str], ForecastRepository]:
    """MySQL repositories with the credentials of the secret (cached per container) over TLS."""

    def mysql(table: str) -> ForecastRepository:
        get_db_secret(settings.secret_id)  # an unusable secret fails here, as InvalidSecret
        return MySQLForecastRepository(connection_factory(settings.secret_id, tls=settings.tls), table)

    return mysql
