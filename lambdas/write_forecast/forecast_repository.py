"""Where forecast runs and rows go: a small repository interface and its MySQL/MariaDB implementation.

Row building (:mod:`forecast_rows`) knows nothing about databases; a repository stores
:class:`~run_history.RunRecord` values and :class:`~forecast_rows.ForecastRow` values in the
layout of :mod:`run_history` (``<table>_runs``, ``<table>_rows`` and the VIEW ``<table>``).
The MySQL repository:

* creates the tables and the view if they are absent, before any transaction (MySQL DDL commits
  implicitly), and moves an earlier single-table layout over first (below);
* :meth:`~MySQLForecastRepository.record_run` (the gate) upserts the run's record in its own
  committed transaction;
* :meth:`~MySQLForecastRepository.write` writes the run's rows, as multi-row
  ``INSERT ... ON DUPLICATE KEY UPDATE`` statements of ``batch_size`` rows, deletes the run's rows
  that this write did not send (so a re-run replaces them exactly), and marks the run ``written``,
  all in ONE transaction; on any error it rolls back and raises :class:`ForecastWriteFailed` (a
  dropped connection rolls back on the server), so a run writes all of its rows or none of them;
  a run the gate rejected is refused (:class:`RunRejected`);
* ``series_id`` and ``run_id`` are binary-collated, so ids differing only in case stay distinct;
  ``created_at`` keeps the time of a run's first write of a row, ``updated_at`` the latest; UTC.

**The move from the single table** (today's ``<table>``, a BASE TABLE with ``series_id,
forecast_time, p10, p50, p90, mean, run_id, created_at, updated_at``) runs on the first gate or
write after the upgrade, in steps that each leave a state the next call recognises from
``information_schema``, so a crash at any point is repaired by simply calling again:

1. ``CREATE TABLE IF NOT EXISTS`` the runs and rows tables (idempotent);
2. while ``<table>`` is a BASE TABLE, in ONE transaction: record one ``migrated`` run per
   distinct ``run_id`` (``ended_at`` its rows' latest ``updated_at``, ``rows_written`` their
   count) and copy every row into ``<table>_rows`` with its times; rows and runs already there are
   left as they are, so a copy repeated after a crash adds nothing twice;
3. ``RENAME TABLE <table> TO <table>_legacy`` (atomic; the copy is kept as a backup that the
   operator may drop); a crash before it repeats step 2, a no-op;
4. ``CREATE OR REPLACE VIEW <table>`` while ``<table>`` is not a view (readers miss the table only
   between steps 3 and 4).

A BASE TABLE ``<table>`` without those columns, or one found while ``<table>_legacy`` exists too,
is not moved: :class:`SchemaMigrationFailed` says which and what to do. The database user needs
CREATE, ALTER, DROP and CREATE VIEW on the schema besides SELECT, INSERT, UPDATE and DELETE.

Table and column names are never interpolated unless they are plain identifiers
(:func:`run_history.validate_table_name`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any, Protocol

from forecast_rows import ForecastRow
from run_history import (
    FAILED,
    MIGRATED,
    REJECTED,
    RUN_COLUMNS,
    SELECTION_COLUMNS,
    SOURCE_COLUMNS,
    VIEW_COLUMNS,
    WRITTEN,
    RunRecord,
    Tables,
    latest_view_sql,
    validate_table_name,
)

LOG = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500
COLUMNS = ("series_id", "forecast_time", "p10", "p50", "p90", "mean", "run_id", *SOURCE_COLUMNS)
_UPDATED = ("p10", "p50", "p90", "mean", *SOURCE_COLUMNS, "updated_at")
#: The server-side time of a write, set once per transaction.
_STAMP = "@forecast_write_stamp"
_NO_SUCH_TABLE = 1146  # ER_NO_SUCH_TABLE
__all__ = ["ForecastRepository", "ForecastWriteFailed", "MySQLForecastRepository", "validate_table_name"]


class ForecastWriteFailed(RuntimeError):
    """The forecast (or the run's record) could not be written; the transaction was rolled back."""


class SchemaMigrationFailed(ForecastWriteFailed):
    """The earlier single-table layout cannot be moved automatically; the message says why."""


class RunRejected(ForecastWriteFailed):
    """The quality gate rejected this run (recorded in the runs table); its rows are not written."""


class ForecastRepository(Protocol):
    """Stores runs and their rows, all or nothing, idempotently per ``run_id``."""

    def record_run(self, run: RunRecord) -> None:
        """Upsert ``run``'s record (the gate's decision), committed."""
        ...

    def write(self, rows: Sequence[ForecastRow], run: RunRecord | None = None) -> int:
        """Replace the run's rows with ``rows`` and mark it written; returns how many rows were written."""
        ...


class Cursor(Protocol):
    def execute(self, query: str, args: Any = ...) -> Any: ...

    def fetchall(self) -> Any: ...

    def close(self) -> None: ...


class Connection(Protocol):
    """The DB-API subset used here (PyMySQL's ``Connection`` has it)."""

    def cursor(self) -> Any: ...

    def begin(self) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def close(self) -> None: ...


def _chunks(rows: Sequence[ForecastRow], size: int) -> Iterable[Sequence[ForecastRow]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def rows_run_id(rows: Sequence[ForecastRow]) -> str:
    """The one ``run_id`` that every row carries (``ValueError`` for none or several)."""
    ids = {r.run_id for r in rows}
    if len(ids) != 1:
        raise ValueError(f"a write holds the rows of exactly one run, got run ids {sorted(ids)}")
    return ids.pop()


class MySQLForecastRepository:
    """A :class:`ForecastRepository` on MySQL/MariaDB.

    ``connect`` returns a new DB-API connection with autocommit off (PyMySQL's default).
    ``after_batch(index, connection)``, if given, runs after each batch is sent and before the
    commit; ``after_step(step)`` after each step of the schema move (``tables``, ``copy`` before
    its commit, ``copied``, ``renamed``, ``view``). Tests use them to break a write or a move.
    """

    def __init__(
        self,
        connect: Callable[[], Connection],
        table: str,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        after_batch: Callable[[int, Connection], None] | None = None,
        after_step: Callable[[str], None] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self._connect = connect
        self.tables = Tables(table)
        self.table = self.tables.view
        self.batch_size = batch_size
        self._after_batch = after_batch
        self._after_step = after_step or (lambda _step: None)

    # -- schema -----------------------------------------------------------------------------------

    def create_runs_sql(self) -> str:
        metrics = "".join(f"  `{c}` DOUBLE NULL,\n" for c in RUN_COLUMNS[4:11])
        selection = "".join(f"  `{c}` {kind},\n" for c, kind in SELECTION_COLUMNS.items())
        return (
            f"CREATE TABLE IF NOT EXISTS `{self.tables.runs}` (\n"
            "  `run_id` VARCHAR(80) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,\n"
            "  `execution_arn` VARCHAR(2048) NULL,\n"
            "  `started_at` DATETIME(6) NULL,\n"
            "  `series_count` INT NULL,\n"
            f"{metrics}"
            "  `gate_decision` VARCHAR(16) NULL,\n"
            "  `status` VARCHAR(16) NOT NULL,\n"
            f"{selection}"
            "  `gated_at` DATETIME(6) NULL,\n"
            "  `ended_at` DATETIME(6) NULL,\n"
            "  `rows_written` INT NULL,\n"
            "  PRIMARY KEY (`run_id`),\n"
            "  KEY `status_ended` (`status`, `ended_at`)\n"
            ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        )

    def create_rows_sql(self) -> str:
        return (
            f"CREATE TABLE IF NOT EXISTS `{self.tables.rows}` (\n"
            "  `run_id` VARCHAR(80) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,\n"
            "  `series_id` VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,\n"
            "  `forecast_time` DATETIME NOT NULL,\n"
            "  `p10` DOUBLE NOT NULL,\n"
            "  `p50` DOUBLE NOT NULL,\n"
            "  `p90` DOUBLE NOT NULL,\n"
            "  `mean` DOUBLE NOT NULL,\n"
            "  `created_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),\n"
            "  `updated_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),\n"
            + "".join(f"  `{c}` {kind},\n" for c, kind in SOURCE_COLUMNS.items())
            + "  PRIMARY KEY (`run_id`, `series_id`, `forecast_time`),\n"
            "  KEY `latest` (`series_id`, `forecast_time`, `run_id`)\n"
            ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        )

    def create_view_sql(self) -> str:
        return f"CREATE OR REPLACE VIEW `{self.table}` AS {latest_view_sql(self.tables, '`')}"

    def _kinds(self, cursor: Any) -> dict[str, str]:
        """``{name: TABLE_TYPE}`` of ``<table>`` and ``<table>_legacy``, lower-cased names."""
        cursor.execute(
            "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (%s, %s)",
            (self.table, self.tables.legacy),
        )
        return {str(name).lower(): str(kind) for name, kind in cursor.fetchall()}

    def _add_columns(self, cursor: Any, table: str, columns: dict[str, str]) -> None:
        """Add those of ``columns`` (name -> SQL type) that ``table`` lacks: tables made by an
        earlier version. One ALTER per table; MySQL 8 has no ``ADD COLUMN IF NOT EXISTS``."""
        cursor.execute(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
            (table,),
        )
        present = {str(name).lower() for (name,) in cursor.fetchall()}
        absent = [f"ADD COLUMN `{c}` {kind}" for c, kind in columns.items() if c not in present]
        if absent:
            cursor.execute(f"ALTER TABLE `{table}` {', '.join(absent)}")
            LOG.info("added %d column(s) to %s", len(absent), table)

    def ensure_schema(self, conn: Connection, cursor: Any) -> None:
        """Create the layout, moving the single-table one over first (module docstring)."""
        cursor.execute(self.create_runs_sql())
        cursor.execute(self.create_rows_sql())
        self._add_columns(cursor, self.tables.runs, SELECTION_COLUMNS)
        self._add_columns(cursor, self.tables.rows, SOURCE_COLUMNS)
        self._after_step("tables")
        kinds = self._kinds(cursor)
        kind = kinds.get(self.table.lower())
        if kind == "VIEW":
            return
        if kind is not None:
            self._move_legacy(conn, cursor, legacy_exists=self.tables.legacy.lower() in kinds)
        cursor.execute(self.create_view_sql())
        self._after_step("view")
        LOG.info("created the view %s over %s and %s", self.table, self.tables.rows, self.tables.runs)

    def _move_legacy(self, conn: Connection, cursor: Any, *, legacy_exists: bool) -> None:
        t = self.tables
        cursor.execute(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
            (self.table,),
        )
        present = {str(name).lower() for (name,) in cursor.fetchall()}
        absent = [c for c in VIEW_COLUMNS if c not in present]
        if absent:
            raise SchemaMigrationFailed(
                f"table {self.table} is a BASE TABLE without the column(s) {absent} of the earlier "
                f"forecast table, so it is not moved to {t.rows}; rename it, or set FORECAST_TABLE "
                "to another name"
            )
        if legacy_exists:
            raise SchemaMigrationFailed(
                f"table {self.table} is a BASE TABLE but {t.legacy}, the earlier table already moved "
                f"aside, exists too; copy what {self.table} holds that {t.legacy} lacks, then drop "
                f"{self.table} or rename it, and run again"
            )
        LOG.info("moving the single table %s to %s and %s", self.table, t.rows, t.runs)
        conn.begin()
        cursor.execute(
            f"INSERT INTO `{t.runs}` (`run_id`, `status`, `ended_at`, `rows_written`) "
            f"SELECT `run_id` COLLATE utf8mb4_bin AS `rid`, '{MIGRATED}', MAX(`updated_at`), COUNT(*) "
            f"FROM `{self.table}` GROUP BY `rid` "
            f"ON DUPLICATE KEY UPDATE `{t.runs}`.`run_id` = `{t.runs}`.`run_id`"
        )
        columns = ", ".join(f"`{c}`" for c in ("run_id", *VIEW_COLUMNS[:6], "created_at", "updated_at"))
        cursor.execute(
            f"INSERT INTO `{t.rows}` ({columns}) SELECT {columns} FROM `{self.table}` "
            f"ON DUPLICATE KEY UPDATE `{t.rows}`.`run_id` = `{t.rows}`.`run_id`"
        )
        self._after_step("copy")
        conn.commit()
        self._after_step("copied")
        try:
            cursor.execute(f"RENAME TABLE `{self.table}` TO `{t.legacy}`")
        except Exception as exc:  # another invocation moved it first
            if not (getattr(exc, "args", None) and exc.args[0] == _NO_SUCH_TABLE):
                raise
        self._after_step("renamed")

    # -- the gate's record ------------------------------------------------------------------------

    def record_run_sql(self, ended: bool) -> str:
        """Upsert a run's full record; ``gated_at`` now, ``ended_at`` now when ``ended`` (rejected)."""
        names = (*RUN_COLUMNS, "gated_at", "ended_at", "rows_written")
        marks = ", ".join(["%s"] * len(RUN_COLUMNS))
        end = "UTC_TIMESTAMP(6)" if ended else "NULL"
        updates = ", ".join(f"`{c}` = VALUES(`{c}`)" for c in names[1:])
        return (
            f"INSERT INTO `{self.tables.runs}` ({', '.join(f'`{c}`' for c in names)}) "
            f"VALUES ({marks}, UTC_TIMESTAMP(6), {end}, NULL) ON DUPLICATE KEY UPDATE {updates}"
        )

    def record_run(self, run: RunRecord) -> None:
        def record(conn: Connection, cursor: Any, stage: _Stage) -> None:
            conn.begin()
            cursor.execute(self.record_run_sql(run.status == REJECTED), run.values())
            stage.name = "commit"
            conn.commit()

        self._run(record, f"recording run {run.run_id} ({run.status}) in table {self.tables.runs}")
        LOG.info("recorded run %s as %s in %s", run.run_id, run.status, self.tables.runs)

    # -- the write --------------------------------------------------------------------------------

    def upsert_sql(self, row_count: int) -> str:
        """One multi-row upsert for ``row_count`` rows (``len(COLUMNS)`` ``%s`` parameters per row)."""
        columns = ", ".join(f"`{c}`" for c in (*COLUMNS, "created_at", "updated_at"))
        one = "(" + ", ".join(["%s"] * len(COLUMNS)) + f", {_STAMP}, {_STAMP})"
        updates = ", ".join(f"`{c}` = VALUES(`{c}`)" for c in _UPDATED)
        return (
            f"INSERT INTO `{self.tables.rows}` ({columns}) VALUES "
            + ", ".join([one] * row_count)
            + f" ON DUPLICATE KEY UPDATE {updates}"
        )

    def mark_written_sql(self) -> str:
        """Insert the run's record if the gate left none, and mark it written at the write's time,
        with the selection's figures."""
        names = (*RUN_COLUMNS, "ended_at", "rows_written")
        marks = ", ".join(["%s"] * len(RUN_COLUMNS))
        selection = "".join(f", `{c}` = VALUES(`{c}`)" for c in SELECTION_COLUMNS)
        return (
            f"INSERT INTO `{self.tables.runs}` ({', '.join(f'`{c}`' for c in names)}) "
            f"VALUES ({marks}, {_STAMP}, %s) ON DUPLICATE KEY UPDATE `status` = VALUES(`status`), "
            "`ended_at` = VALUES(`ended_at`), `rows_written` = VALUES(`rows_written`), "
            f"`series_count` = COALESCE(VALUES(`series_count`), `series_count`){selection}"
        )

    @staticmethod
    def _params(rows: Sequence[ForecastRow]) -> list[Any]:
        params: list[Any] = []
        for r in rows:
            params.extend(
                (r.series_id, r.forecast_time, r.p10, r.p50, r.p90, r.mean, r.run_id, r.source, r.season)
            )
        return params

    def write(self, rows: Sequence[ForecastRow], run: RunRecord | None = None) -> int:
        rows = list(rows)
        if not rows:
            return 0
        run_id = rows_run_id(rows)
        if run is None:
            run = RunRecord(run_id, WRITTEN)
        elif run.run_id != run_id:
            raise ValueError(f"the rows are of run {run_id}, the record of run {run.run_id}")
        marked = replace(run, status=WRITTEN)
        sent = 0

        def write(conn: Connection, cursor: Any, stage: _Stage) -> None:
            nonlocal sent
            conn.begin()
            cursor.execute(
                f"SELECT `gate_decision` FROM `{self.tables.runs}` WHERE `run_id` = %s FOR UPDATE", (run_id,)
            )
            found = cursor.fetchall()
            if found and found[0][0] == FAILED:
                raise RunRejected(
                    f"run {run_id} was rejected by the quality gate (see table {self.tables.runs}); "
                    f"its forecast is not written, {self.table} keeps the last good forecast"
                )
            cursor.execute(f"SET {_STAMP} = UTC_TIMESTAMP(6)")
            for index, batch in enumerate(_chunks(rows, self.batch_size)):
                cursor.execute(self.upsert_sql(len(batch)), self._params(batch))
                sent += len(batch)
                if self._after_batch is not None:
                    self._after_batch(index, conn)
            stale = f"DELETE FROM `{self.tables.rows}` WHERE `run_id` = %s AND `updated_at` <> {_STAMP}"
            cursor.execute(stale, (run_id,))
            cursor.execute(self.mark_written_sql(), (*marked.values(), len(rows)))
            stage.name = "commit"
            conn.commit()

        what = f"writing {len(rows)} forecast rows of run {run_id} to table {self.tables.rows}"
        self._run(write, what, lambda: sent)
        LOG.info("wrote %d rows of run %s into %s in one transaction", len(rows), run_id, self.tables.rows)
        return len(rows)

    # -- connections and errors -------------------------------------------------------------------

    def _run(
        self,
        work: Callable[[Connection, Any, _Stage], None],
        what: str,
        sent: Callable[[], int] | None = None,
    ) -> None:
        """``ensure_schema`` then ``work(conn, cursor, stage)`` on a new connection; errors as
        :class:`ForecastWriteFailed` saying ``what`` failed, at which stage, and the outcome."""
        try:
            conn = self._connect()
        except Exception as exc:
            raise ForecastWriteFailed(
                f"could not connect to the forecast database: {_describe(exc)}; nothing was written"
            ) from exc
        stage = _Stage()
        try:
            cursor = conn.cursor()
            try:
                self.ensure_schema(conn, cursor)
                stage.name = "write"
                work(conn, cursor, stage)
            finally:
                _quietly(cursor.close)
        except (RunRejected, SchemaMigrationFailed):
            _quietly(conn.rollback)
            raise
        except Exception as exc:
            _quietly(conn.rollback)
            counted = f" ({sent()} rows sent)" if sent is not None else ""
            raise ForecastWriteFailed(
                f"{what} failed at {stage.name}{counted}: {_describe(exc)}; {_OUTCOMES[stage.name]}"
            ) from exc
        finally:
            _quietly(conn.close)


class _Stage:
    """Where a write is, for its error message: ``schema``, ``write`` or ``commit``."""

    name = "schema"


_OUTCOMES = {
    "schema": "nothing was written; the schema set-up (and any move from the single table) is "
    "restartable, running again continues it",
    "write": "the transaction was rolled back, nothing was written",
    "commit": "the commit's outcome is unknown; re-running is safe, the write is idempotent",
}


def _quietly(action: Callable[[], object]) -> None:
    try:
        action()
    except Exception as exc:  # the connection may already be gone
        LOG.debug("ignored during cleanup: %s", _describe(exc))
