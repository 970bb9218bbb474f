"""The forecast's run history: table names, a run's record, and the statuses it goes through.

With ``FORECAST_TABLE=forecast`` (:class:`Tables`) the database holds:

* ``forecast_runs``: one record per run (:class:`RunRecord`), keyed by ``run_id``, the Step
  Functions execution name;
* ``forecast_rows``: every written run's rows, keyed by ``(run_id, series_id, forecast_time)``, so
  earlier runs stay available for backtesting;
* the VIEW ``forecast``: per ``(series_id, forecast_time)``, the row of the most recently written
  run (latest ``ended_at``, ties broken by the larger ``run_id``), with the columns of the table
  of that name that earlier versions wrote, so its readers keep working;
* ``forecast_legacy``: that earlier table, renamed aside once its rows are copied (a backup the
  operator may drop).

A run's ``status`` (:data:`STATUSES`):

* ``accepted``: the model reported its test metrics and the run was recorded (the gate), nothing
  written yet; a run that fails after it (model, transform or write) stays ``accepted``, with
  ``ended_at`` and ``rows_written`` NULL, and none of its rows are visible;
* ``rejected``: an earlier version's gate failed the run (``gate_decision`` ``failed``); nothing
  is written for it. Runs are no longer rejected: each series takes the model or the baseline
  (``gate_decision`` ``per-series``; ``disabled``: every series the model);
* ``written``: its rows and this status were committed in one transaction; the view shows them;
* ``migrated``: a run of the earlier single-table layout, recorded when its rows were copied.

A written run's record holds the selection's backtest figures (:data:`SELECTION_COLUMNS`: the
metric, the model's, the baseline's and the written forecast's loss, both candidates' MAE, how
many series took each source, and how many of them had nothing to score), and each of its rows
its ``source`` (``model`` or ``seasonal-naive``) and ``season`` (the baseline's, else NULL);
earlier rows hold NULL there.

The view shows rows of ``written`` and ``migrated`` runs only. Re-running an execution (same
``run_id``) overwrites its record and replaces its rows exactly; no run or row is duplicated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline_rules import (
    FORECAST_TABLE_SUFFIXES,
    MAX_FORECAST_TABLE,
    check_forecast_table,
    check_setting,
)

ACCEPTED, REJECTED, WRITTEN, MIGRATED = "accepted", "rejected", "written", "migrated"
STATUSES = (ACCEPTED, REJECTED, WRITTEN, MIGRATED)
#: Runs whose rows the view shows.
VISIBLE = (WRITTEN, MIGRATED)
PASSED, FAILED, DISABLED, PER_SERIES = "passed", "failed", "disabled", "per-series"
#: ``passed`` and ``failed``: an earlier version's whole-run gate; ``per-series``: today's selection.
DECISIONS = (PASSED, FAILED, DISABLED, PER_SERIES)

RUNS_SUFFIX, ROWS_SUFFIX, LEGACY_SUFFIX = FORECAST_TABLE_SUFFIXES
#: The longest ``FORECAST_TABLE`` whose derived names fit MySQL's identifier limit (57).
MAX_TABLE_LENGTH = MAX_FORECAST_TABLE

#: The view's columns: those of the earlier single table, in its order.
VIEW_COLUMNS = (
    "series_id",
    "forecast_time",
    "p10",
    "p50",
    "p90",
    "mean",
    "run_id",
    "created_at",
    "updated_at",
)
#: The runs table's columns, in order (``gated_at``, ``ended_at`` are set by the database).
RUN_COLUMNS = (
    "run_id",
    "execution_arn",
    "started_at",
    "series_count",
    "model_rmse",
    "model_mean_wquantileloss",
    "baseline_rmse",
    "baseline_mean_wquantileloss",
    "baseline_mase",
    "loss_ratio",
    "max_loss_ratio",
    "gate_decision",
    "status",
    "selection_metric",
    "model_backtest_loss",
    "baseline_backtest_loss",
    "written_backtest_loss",
    "model_backtest_mae",
    "baseline_backtest_mae",
    "series_model",
    "series_baseline",
    "series_unscored",
)
#: The columns the write sets from the run's selection (:class:`RunRecord`), with their SQL types;
#: an earlier runs table gets them added.
SELECTION_COLUMNS = {
    "selection_metric": "VARCHAR(32) NULL",
    "model_backtest_loss": "DOUBLE NULL",
    "baseline_backtest_loss": "DOUBLE NULL",
    "written_backtest_loss": "DOUBLE NULL",
    "model_backtest_mae": "DOUBLE NULL",
    "baseline_backtest_mae": "DOUBLE NULL",
    "series_model": "INT NULL",
    "series_baseline": "INT NULL",
    "series_unscored": "INT NULL",
}
#: The rows table's columns that say where a row came from; an earlier rows table gets them added.
SOURCE_COLUMNS = {"source": "VARCHAR(16) NULL", "season": "INT NULL"}


def validate_table_name(name: str) -> str:
    """``name`` if it is a plain identifier (letters, digits, ``_``; not starting with a digit) of
    at most :data:`MAX_TABLE_LENGTH` characters, else ``ConfigurationError`` naming ``FORECAST_TABLE``."""
    return check_setting("FORECAST_TABLE", name, check_forecast_table)


@dataclass(frozen=True)
class Tables:
    """The names derived from ``FORECAST_TABLE`` (validated): ``view`` (the name itself), ``runs``,
    ``rows`` and ``legacy``."""

    view: str

    def __post_init__(self) -> None:
        validate_table_name(self.view)

    @property
    def runs(self) -> str:
        return self.view + RUNS_SUFFIX

    @property
    def rows(self) -> str:
        return self.view + ROWS_SUFFIX

    @property
    def legacy(self) -> str:
        return self.view + LEGACY_SUFFIX


@dataclass(frozen=True)
class RunRecord:
    """One run's record as the gate (or, without one, the write) knows it; times are naive UTC,
    metrics ``None`` when unknown. ``status`` is one of :data:`STATUSES`."""

    run_id: str
    status: str
    execution_arn: str | None = None
    started_at: datetime | None = None
    series_count: int | None = None
    model_rmse: float | None = None
    model_mean_wquantileloss: float | None = None
    baseline_rmse: float | None = None
    baseline_mean_wquantileloss: float | None = None
    baseline_mase: float | None = None
    loss_ratio: float | None = None
    max_loss_ratio: float | None = None
    gate_decision: str | None = None
    selection_metric: str | None = None
    model_backtest_loss: float | None = None
    baseline_backtest_loss: float | None = None
    written_backtest_loss: float | None = None
    model_backtest_mae: float | None = None
    baseline_backtest_mae: float | None = None
    series_model: int | None = None
    series_baseline: int | None = None
    series_unscored: int | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {self.status!r}")
        if self.gate_decision is not None and self.gate_decision not in DECISIONS:
            choices = ", ".join(DECISIONS)
            raise ValueError(f"gate_decision must be one of {choices}, got {self.gate_decision!r}")

    def values(self) -> tuple[Any, ...]:
        """The values of :data:`RUN_COLUMNS`, in order."""
        return tuple(getattr(self, name) for name in RUN_COLUMNS)


def latest_view_sql(tables: Tables, quote: str) -> str:
    """The view's SELECT (MySQL 8, MariaDB 10.x and SQLite alike), identifiers quoted with ``quote``.

    A row is shown when its run is visible and no visible run with a row for the same series and
    time ended later (or at the same time with a larger ``run_id``). The rows table's index
    ``(series_id, forecast_time, run_id)`` serves the NOT EXISTS probe.
    """

    def q(name: str) -> str:
        return f"{quote}{name}{quote}"

    visible = ", ".join(f"'{s}'" for s in VISIBLE)
    columns = ", ".join(f"r.{q(c)}" for c in VIEW_COLUMNS)
    return (
        f"SELECT {columns} FROM {q(tables.rows)} r JOIN {q(tables.runs)} u ON u.run_id = r.run_id "
        f"WHERE u.status IN ({visible}) AND NOT EXISTS ("
        f"SELECT 1 FROM {q(tables.rows)} r2 JOIN {q(tables.runs)} u2 ON u2.run_id = r2.run_id "
        "WHERE r2.series_id = r.series_id AND r2.forecast_time = r.forecast_time "
        f"AND u2.status IN ({visible}) AND (u2.ended_at > u.ended_at "
        "OR (u2.ended_at = u.ended_at AND u2.run_id > u.run_id)))"
    )
