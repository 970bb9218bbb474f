"""An embedded forecast database: SQLite behind write-forecast's ``ForecastRepository`` interface.

The offline runner uses it when no MySQL/MariaDB server is given or installed. The layout and the
guarantees are the MySQL repository's (write-forecast's ``run_history`` and
``forecast_repository``): ``<table>_runs``, ``<table>_rows`` keyed (run_id, series_id,
forecast_time), the VIEW ``<table>`` of the latest written run's rows; a gate record is committed
on its own, a write's rows and its ``written`` mark go in one transaction or not at all, and a
re-run of a ``run_id`` replaces its record and rows exactly. An earlier single ``<table>`` is moved
over as on MySQL, but in one transaction (SQLite's DDL is transactional), so there is no
half-moved state to restart from. Times are naive UTC text.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localrun.lambdas import load

_forecast_repository = load("write_forecast", "forecast_repository")
_run_history = load("write_forecast", "run_history")
ForecastWriteFailed = _forecast_repository.ForecastWriteFailed
RunRejected = _forecast_repository.RunRejected
SchemaMigrationFailed = _forecast_repository.SchemaMigrationFailed
validate_table_name = _run_history.validate_table_name
_NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now')"
_TIME = "%Y-%m-%d %H:%M:%S"
_STAMP = "%Y-%m-%d %H:%M:%S.%f"


_SOURCE = tuple(_run_history.SOURCE_COLUMNS)
_ROW_COLUMNS = ("run_id", *_run_history.VIEW_COLUMNS[:6], *_SOURCE, "created_at", "updated_at")
_ROW_UPDATES = ", ".join(f"{c} = excluded.{c}" for c in ("p10", "p50", "p90", "mean", *_SOURCE, "updated_at"))
_ROW_MARKS = ", ".join("?" * len(_ROW_COLUMNS))
#: SQLite's column type for each of MySQL's (the added columns' declarations).
_TYPES = {"DOUBLE": "REAL", "INT": "INTEGER", "VARCHAR": "TEXT"}


def _row_values(row: Any) -> tuple[Any, ...]:
    time = row.forecast_time.strftime(_TIME)
    return (row.series_id, time, row.p10, row.p50, row.p90, row.mean, row.source, row.season)


def _sqlite_type(mysql: str) -> str:
    return _TYPES[mysql.split("(")[0].split()[0]]


def forecast_with_source_sql(table: str, quote: str) -> str:
    """The view ``table``'s rows, each with the ``source`` and ``season`` its run wrote it with
    (``<table>_rows``), by series and time; identifiers quoted with ``quote``."""
    t = _run_history.Tables(validate_table_name(table))
    view, rows = f"{quote}{t.view}{quote}", f"{quote}{t.rows}{quote}"
    return (
        f"SELECT v.*, r.source, r.season FROM {view} v JOIN {rows} r ON r.run_id = v.run_id "
        "AND r.series_id = v.series_id AND r.forecast_time = v.forecast_time "
        "ORDER BY v.series_id, v.forecast_time"
    )


def _stamp() -> str:
    return datetime.now(UTC).strftime(_STAMP)


def _text(value: datetime | None) -> str | None:
    return value.strftime(_STAMP) if value is not None else None


class SQLiteForecastRepository:
    """Forecast runs and rows in the SQLite file ``path``, under the names of ``table``."""

    def __init__(self, path: Path, table: str) -> None:
        self.path = path
        self.tables = _run_history.Tables(validate_table_name(table))
        self.table = table

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, isolation_level=None)

    # -- schema -----------------------------------------------------------------------------------

    def _ensure_schema(self, conn: sqlite3.Connection) -> None:
        """Create the layout, moving an earlier single table over, in the caller's transaction."""
        t = self.tables
        metrics = "".join(f"{c} REAL, " for c in _run_history.RUN_COLUMNS[4:11])
        selection = "".join(
            f", {c} {_sqlite_type(kind)}" for c, kind in _run_history.SELECTION_COLUMNS.items()
        )
        source = "".join(f"{c} {_sqlite_type(kind)}, " for c, kind in _run_history.SOURCE_COLUMNS.items())
        conn.execute(
            f'CREATE TABLE IF NOT EXISTS "{t.runs}" (run_id TEXT NOT NULL PRIMARY KEY, execution_arn TEXT, '
            f"started_at TEXT, series_count INTEGER, {metrics}gate_decision TEXT, status TEXT NOT NULL, "
            f"gated_at TEXT, ended_at TEXT, rows_written INTEGER{selection})"
        )
        conn.execute(
            f'CREATE TABLE IF NOT EXISTS "{t.rows}" (run_id TEXT NOT NULL, series_id TEXT NOT NULL, '
            "forecast_time TEXT NOT NULL, p10 REAL NOT NULL, p50 REAL NOT NULL, p90 REAL NOT NULL, "
            f"mean REAL NOT NULL, {source}created_at TEXT NOT NULL DEFAULT ({_NOW}), "
            f"updated_at TEXT NOT NULL DEFAULT ({_NOW}), PRIMARY KEY (run_id, series_id, forecast_time))"
        )
        conn.execute(
            f'CREATE INDEX IF NOT EXISTS "{t.rows}_latest" ON "{t.rows}" (series_id, forecast_time, run_id)'
        )
        for table, columns in (
            (t.runs, _run_history.SELECTION_COLUMNS),
            (t.rows, _run_history.SOURCE_COLUMNS),
        ):
            present = {row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')}
            for column, kind in columns.items():
                if column not in present:  # a table of an earlier version
                    conn.execute(f'ALTER TABLE "{table}" ADD COLUMN {column} {_sqlite_type(kind)}')
        kinds = dict(
            conn.execute("SELECT name, type FROM sqlite_master WHERE name IN (?, ?)", (t.view, t.legacy))
        )
        if kinds.get(t.view) == "table":
            self._move_legacy(conn, legacy_exists=t.legacy in kinds)
        conn.execute(f'CREATE VIEW IF NOT EXISTS "{t.view}" AS {_run_history.latest_view_sql(t, chr(34))}')

    def _move_legacy(self, conn: sqlite3.Connection, *, legacy_exists: bool) -> None:
        t = self.tables
        present = {row[1] for row in conn.execute(f'PRAGMA table_info("{t.view}")')}
        absent = [c for c in _run_history.VIEW_COLUMNS if c not in present]
        if absent:
            raise SchemaMigrationFailed(
                f"table {t.view} is a table without the column(s) {absent} of the earlier forecast "
                f"table, so it is not moved to {t.rows}; rename it, or set FORECAST_TABLE to another name"
            )
        if legacy_exists:
            raise SchemaMigrationFailed(
                f"table {t.view} is a table but {t.legacy}, the earlier table already moved aside, exists "
                f"too; copy what {t.view} holds that {t.legacy} lacks, then drop {t.view}, and run again"
            )
        conn.execute(
            f'INSERT INTO "{t.runs}" (run_id, status, ended_at, rows_written) '
            f"SELECT run_id, '{_run_history.MIGRATED}', MAX(updated_at), COUNT(*) FROM \"{t.view}\" "
            "GROUP BY run_id ON CONFLICT (run_id) DO NOTHING"
        )
        columns = "run_id, series_id, forecast_time, p10, p50, p90, mean, created_at, updated_at"
        conn.execute(
            f'INSERT INTO "{t.rows}" ({columns}) SELECT {columns} FROM "{t.view}" WHERE true '
            "ON CONFLICT DO NOTHING"
        )
        conn.execute(f'ALTER TABLE "{t.view}" RENAME TO "{t.legacy}"')

    def _transaction(self, what: str, work: Any) -> None:
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            self._ensure_schema(conn)
            work(conn)
            conn.execute("COMMIT")
        except (sqlite3.Error, RunRejected, SchemaMigrationFailed) as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if not isinstance(exc, sqlite3.Error):
                raise
            raise ForecastWriteFailed(
                f"{what} in {self.path.name} failed: {exc}; the transaction was rolled back, "
                "nothing was written"
            ) from exc
        finally:
            conn.close()

    # -- runs and rows ----------------------------------------------------------------------------

    def _run_values(self, run: Any) -> tuple[Any, ...]:
        values = list(run.values())
        values[_run_history.RUN_COLUMNS.index("started_at")] = _text(run.started_at)
        return tuple(values)

    def record_run(self, run: Any) -> None:
        """Upsert the gate's record of ``run``, committed (``ended_at`` set when rejected)."""
        names = (*_run_history.RUN_COLUMNS, "gated_at", "ended_at", "rows_written")
        marks = ", ".join("?" * len(names))
        updates = ", ".join(f"{c} = excluded.{c}" for c in names[1:])
        now = _stamp()
        ended = now if run.status == _run_history.REJECTED else None

        def record(conn: sqlite3.Connection) -> None:
            conn.execute(
                f'INSERT INTO "{self.tables.runs}" ({", ".join(names)}) VALUES ({marks}) '
                f"ON CONFLICT (run_id) DO UPDATE SET {updates}",
                (*self._run_values(run), now, ended, None),
            )

        self._transaction(f"recording run {run.run_id} in {self.tables.runs}", record)

    def write(self, rows: Sequence[Any], run: Any = None) -> int:
        """Replace the run's rows and mark it written in one transaction; errors roll back and
        raise ForecastWriteFailed (``RunRejected`` for a run the gate rejected)."""
        rows = list(rows)
        if not rows:
            return 0
        run_id = _forecast_repository.rows_run_id(rows)
        run = replace(run or _run_history.RunRecord(run_id, "written"), status=_run_history.WRITTEN)
        if run.run_id != run_id:
            raise ValueError(f"the rows are of run {run_id}, the record of run {run.run_id}")
        t, stamp = self.tables, _stamp()
        names = (*_run_history.RUN_COLUMNS, "ended_at", "rows_written")

        def write(conn: sqlite3.Connection) -> None:
            decision = f'SELECT gate_decision FROM "{t.runs}" WHERE run_id = ?'
            found = conn.execute(decision, (run_id,)).fetchone()
            if found and found[0] == _run_history.FAILED:
                raise RunRejected(
                    f"run {run_id} was rejected by the quality gate (see table {t.runs}); its forecast "
                    f"is not written, {t.view} keeps the last good forecast"
                )
            conn.executemany(
                f'INSERT INTO "{t.rows}" ({", ".join(_ROW_COLUMNS)}) VALUES ({_ROW_MARKS}) '
                f"ON CONFLICT (run_id, series_id, forecast_time) DO UPDATE SET {_ROW_UPDATES}",
                [(run_id, *_row_values(r), stamp, stamp) for r in rows],
            )
            conn.execute(f'DELETE FROM "{t.rows}" WHERE run_id = ? AND updated_at <> ?', (run_id, stamp))
            conn.execute(
                f'INSERT INTO "{t.runs}" ({", ".join(names)}) VALUES ({", ".join("?" * len(names))}) '
                "ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, ended_at = excluded.ended_at, "
                "rows_written = excluded.rows_written, "
                "series_count = COALESCE(excluded.series_count, series_count)"
                + "".join(f", {c} = excluded.{c}" for c in _run_history.SELECTION_COLUMNS),
                (*self._run_values(run), stamp, len(rows)),
            )

        self._transaction(f"writing {len(rows)} forecast rows of run {run_id} to {t.rows}", write)
        return len(rows)

    # -- reading ----------------------------------------------------------------------------------

    def _select(self, name: str, sql: str) -> list[dict[str, Any]]:
        conn = self._connect()
        conn.row_factory = sqlite3.Row
        try:
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone():
                return []
            return [dict(row) for row in conn.execute(sql)]
        finally:
            conn.close()

    def read(self) -> list[dict[str, Any]]:
        """The view: the latest forecast, ordered by series and time (nothing written: no rows)."""
        return self._select(self.table, f'SELECT * FROM "{self.table}" ORDER BY series_id, forecast_time')

    def read_with_source(self) -> list[dict[str, Any]]:
        """The view's rows, each with its ``source`` and ``season`` (nothing written: no rows)."""
        return self._select(self.tables.rows, forecast_with_source_sql(self.table, chr(34)))

    def runs(self) -> list[dict[str, Any]]:
        """Every run's record, oldest first (by start, else end), then by run id."""
        return self._select(
            self.tables.runs,
            f'SELECT * FROM "{self.tables.runs}" ORDER BY COALESCE(started_at, gated_at, ended_at), run_id',
        )
