"""The function's two operations on one run, from its event to a :class:`ForecastRepository`.

:func:`run_operation` dispatches on the event's ``operation``:

* ``gate`` (:func:`gate_run`): the gate (:mod:`quality_gate`) on the training job's final
  metrics and the dataset's baseline; records the run (:mod:`run_history`) and returns the gate's
  result;
* ``write`` (:func:`write_forecast`): reads the series manifest (``dataset.series_uri``), the
  transform's two outputs (``dataset.forecast_uri``, the future; ``dataset.backtest_uri``, the
  backtest window) and the baseline file (``dataset.baseline_uri``), validates them whole and
  chooses each series' source (:mod:`forecast_rows`, :mod:`selection`), then writes every row and
  marks the run written with its figures through one repository call, MySQL's in the Lambda
  (:func:`mysql_repositories`), and prints the run's metrics (:mod:`run_metrics`).

The offline runner calls :func:`run_operation` with its own repository; the handler with MySQL's.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from forecast_repository import ForecastRepository, MySQLForecastRepository
from forecast_rows import ConfigurationError, MalformedForecast, RunFiles, selected_rows
from mysql_connection import TlsSettings, connection_factory, get_db_secret
from quality_gate import GateSettings, evaluate
from run_history import (
    ACCEPTED,
    DISABLED,
    PASSED,
    PER_SERIES,
    WRITTEN,
    RunRecord,
    validate_table_name,
)
from run_metrics import DEFAULT_ENVIRONMENT, emf_document
from selection import BASELINE, MODEL, UNSCORED

from forecast_metrics import finite
from pipeline_rules import Environment, check_execution_name, check_setting, freq_step

LOG = logging.getLogger(__name__)
_DATASET_KEYS = ("run_id", "series_uri", "forecast_uri", "backtest_uri", "baseline_uri")
OPERATIONS = ("gate", "write")


@dataclass(frozen=True)
class ForecastSettings:
    """``FORECAST_TABLE`` (required; the view's name, at most 57 characters), ``TIME_FREQ``
    (default ``1H``), ``PREDICTION_LENGTH`` (default 168): where the rows go and the shape the run
    must have; the selection's ``QUALITY_GATE``, ``MAX_LOSS_RATIO`` and ``SELECTION_METRIC``
    (:class:`GateSettings`); and ``METRICS_ENVIRONMENT``, the metrics' dimension (:mod:`run_metrics`)."""

    table: str
    freq: str
    prediction_length: int
    gate: GateSettings = field(default_factory=GateSettings)
    environment: str = DEFAULT_ENVIRONMENT

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ForecastSettings:
        """Raises ``ConfigurationError`` naming the variable."""
        read = Environment(env)
        return cls(
            table=validate_table_name(read.required("FORECAST_TABLE")),
            freq=read.optional("TIME_FREQ", "1H", freq_step),
            prediction_length=read.positive_int("PREDICTION_LENGTH", 168),
            gate=GateSettings.from_env(env),
            environment=read.optional("METRICS_ENVIRONMENT", DEFAULT_ENVIRONMENT),
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
        keys = ", ".join(repr(k) for k in _DATASET_KEYS)
        raise ConfigurationError(
            f"expected {{'dataset': {{{keys}, ...}}}}, as generate-dataset returns it; a run started "
            "before per-series selection has no backtest_uri or baseline_uri: start it again"
        )
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
    emit: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The event's ``operation``, ``gate`` (:func:`gate_run`) or ``write`` (:func:`write_forecast`,
    which passes its metrics' line to ``emit``); anything else is a ``ConfigurationError`` naming
    the field."""
    operation = event.get("operation") if isinstance(event, dict) else None
    if operation == "gate":
        return gate_run(event, repository_for, settings)
    if operation == "write":
        return write_forecast(s3, event, repository_for, settings, emit)
    raise ConfigurationError(
        f"the event's 'operation' field must be one of {', '.join(OPERATIONS)}, got {operation!r}"
    )


def gate_run(
    event: Any, repository_for: Callable[[str], ForecastRepository], settings: ForecastSettings
) -> dict[str, Any]:
    """Record the run (``{"execution_name", "execution_arn", "started_at", "dataset", "training"}``)
    with DeepAR's test metrics, and return the gate's result (:meth:`quality_gate.GateResult.as_dict`).

    Missing metrics raise before anything is recorded. A model that loses to the baseline does not
    stop the run: the write chooses per series (:mod:`selection`).
    """
    dataset = _dataset(event)
    run_id = run_id_of(event, dataset)
    arn, started = _field(event, "execution_arn"), parse_started_at(_field(event, "started_at"))
    result = evaluate(_field(event, "training"), dataset.get("baseline"), settings.gate)
    run = RunRecord(
        run_id,
        ACCEPTED,
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
    LOG.info(
        "run %s: gate %s (DeepAR test loss %s, baseline %s, ratio %s)",
        run_id,
        result.decision,
        result.model_loss,
        result.baseline_loss,
        result.loss_ratio,
    )
    return result.as_dict()


def _quality(event: Mapping[str, Any], run_id: str, dataset: Mapping[str, Any]) -> RunRecord:
    """The run's record from the write event's ``quality`` (the gate's result)."""
    quality = _field(event, "quality")
    decision = quality.get("decision") if isinstance(quality, dict) else None
    if decision not in (PER_SERIES, DISABLED, PASSED):
        raise ConfigurationError(
            f"the event's quality.decision must be {PER_SERIES!r} or {DISABLED!r} (the gate's result), "
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


def _with_selection(run: RunRecord, figures: Mapping[str, Any]) -> RunRecord:
    """``run`` with the selection's figures (:meth:`selection.Selection.figures`)."""
    return replace(
        run,
        selection_metric=figures["metric"],
        model_backtest_loss=figures["model"]["loss"],
        baseline_backtest_loss=figures["baseline"]["loss"],
        written_backtest_loss=figures["written"]["loss"],
        model_backtest_mae=figures["model"]["MAE"],
        baseline_backtest_mae=figures["baseline"]["MAE"],
        series_model=figures["series"][MODEL],
        series_baseline=figures["series"][BASELINE],
        series_unscored=figures["reasons"].get(UNSCORED, 0),
    )


def _read(s3: Any, dataset: Mapping[str, Any], key: str) -> tuple[str, str]:
    uri = str(dataset[key])
    return read_s3_text(s3, uri), uri


def write_forecast(
    s3: Any,
    event: Any,
    repository_for: Callable[[str], ForecastRepository],
    settings: ForecastSettings,
    emit: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Read the run's files (``{"execution_name", "dataset", "quality"}``), validate them whole,
    choose each series' source, write the rows and mark the run written with the selection's
    figures through ``repository_for(table)``, then ``emit`` the metrics' EMF line.

    Returns ``{"rows": n, "selection": <Selection.figures()>}``."""
    dataset = _dataset(event)
    run_id = run_id_of(event, dataset)
    run = _quality(event, run_id, dataset)
    files = RunFiles(
        manifest=_read(s3, dataset, "series_uri"),
        future=_read(s3, dataset, "forecast_uri"),
        backtest=_read(s3, dataset, "backtest_uri"),
        baseline=_read(s3, dataset, "baseline_uri"),
    )
    gate = settings.gate
    rows, selection = selected_rows(
        files,
        freq=settings.freq,
        prediction_length=settings.prediction_length,
        run_id=run_id,
        metric=gate.metric,
        max_loss_ratio=gate.max_loss_ratio,
        enabled=run.gate_decision != DISABLED,
    )
    figures = selection.figures()
    written = repository_for(settings.table).write(rows, _with_selection(run, figures))
    emit(json.dumps(emf_document(figures, settings.environment, run_id, int(time.time() * 1000))))
    _log_selection(run_id, written, settings.table, figures)
    return {"rows": written, "selection": figures}


def _log_selection(run_id: str, written: int, table: str, figures: Mapping[str, Any]) -> None:
    LOG.info(
        "run %s: wrote %d forecast rows to %s; series on the model %d, on the baseline %d (%s); "
        "backtest %s: model %s, baseline %s, written %s",
        run_id,
        written,
        table,
        figures["series"][MODEL],
        figures["series"][BASELINE],
        ", ".join(f"{reason} {count}" for reason, count in sorted(figures["reasons"].items())),
        figures["metric"],
        figures["model"]["loss"],
        figures["baseline"]["loss"],
        figures["written"]["loss"],
    )


def mysql_repositories(settings: Settings) -> Callable[[str], ForecastRepository]:
    """MySQL repositories with the credentials of the secret (cached per container) over TLS."""

    def mysql(table: str) -> ForecastRepository:
        get_db_secret(settings.secret_id)  # an unusable secret fails here, as InvalidSecret
        return MySQLForecastRepository(connection_factory(settings.secret_id, tls=settings.tls), table)

    return mysql
