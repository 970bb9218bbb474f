"""Where forecast rows go: a small repository interface and its MySQL/MariaDB implementation.

Row building (:mod:`forecast_rows`) knows nothing about databases; a repository only stores
:class:`~forecast_rows.ForecastRow` values. The MySQL repository:

* creates the table if it is absent, before the transaction (MySQL DDL commits implicitly);
  the key is ``(series_id, forecast_time)``, so a re-run updates rows instead of adding duplicates;
  ``series_id`` is binary-collated so ids differing only in case stay distinct;
* writes every row in ONE transaction, as multi-row ``INSERT ... ON DUPLICATE KEY UPDATE``
  statements of ``batch_size`` rows; on any error it rolls back and raises
  :class:`ForecastWriteFailed` (a dropped connection rolls back on the server), so a run writes
  all of its rows or none of them;
* ``created_at`` keeps the time of the first write of a row, ``updated_at`` and ``run_id`` the
  latest; times are UTC.

Table and column names are never interpolated unless they are plain identifiers
(:func:`pipeline_rules.check_identifier`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from forecast_rows import ForecastRow

from pipeline_rules import check_identifier, check_setting

LOG = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500
COLUMNS = ("series_id", "forecast_time", "p10", "p50", "p90", "mean", "run_id")
_UPDATED = ("p10", "p50", "p90", "mean", "run_id", "updated_at")


class ForecastWriteFailed(RuntimeError):
    """The forecast could not be written; the transaction was rolled back."""


class ForecastRepository(Protocol):
    """Stores forecast rows, all or nothing, idempotently on ``(series_id, forecast_time)``."""

    def write(self, rows: Sequence[ForecastRow]) -> int:
        """Upsert ``rows``; returns how many rows were written."""
        ...


class Cursor(Protocol):
    def execute(self, query: str, args: Any = ...) -> Any: ...

    def close(self) -> None: ...


class Connection(Protocol):
    """The DB-API subset used here (PyMySQL's ``Connection`` has it)."""

    def cursor(self) -> Any: ...

    def begin(self) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def close(self) -> None: ...


def validate_table_name(name: str) -> str:
    """``name`` if it is a plain identifier (letters, digits, ``_``; not starting with a digit),
    else ``ConfigurationError`` naming ``FORECAST_TABLE``."""
    return check_setting("FORECAST_TABLE", name, check_identifier)


def _chunks(rows: Sequence[ForecastRow], size: int) -> Iterable[Sequence[ForecastRow]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class MySQLForecastRepository:
    """A :class:`ForecastRepository` on MySQL/MariaDB.

    ``connect`` returns a new DB-API connection with autocommit off (PyMySQL's default).
    ``after_batch(index, connection)``, if given, runs after each batch is sent and before the
    commit; tests use it to break the connection mid-write.
    """

    def __init__(
        self,
        connect: Callable[[], Connection],
        table: str,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        after_batch: Callable[[int, Connection], None] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self._connect = connect
        self.table = validate_table_name(table)
        self.batch_size = batch_size
        self._after_batch = after_batch

    def create_table_sql(self) -> str:
        return (
            f"CREATE TABLE IF NOT EXISTS `{self.table}` (\n"
            "  `series_id` VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,\n"
            "  `forecast_time` DATETIME NOT NULL,\n"
            "  `p10` DOUBLE NOT NULL,\n"
            "  `p50` DOUBLE NOT NULL,\n"
            "  `p90` DOUBLE NOT NULL,\n"
            "  `mean` DOUBLE NOT NULL,\n"
            "  `run_id` VARCHAR(80) NOT NULL,\n"
            "  `created_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),\n"
            "  `updated_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),\n"
            "  PRIMARY KEY (`series_id`, `forecast_time`),\n"
            "  KEY `run_id` (`run_id`)\n"
            ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        )

    def upsert_sql(self, row_count: int) -> str:
        """One multi-row upsert for ``row_count`` rows (7 ``%s`` parameters per row)."""
        columns = ", ".join(f"`{c}`" for c in (*COLUMNS, "created_at", "updated_at"))
        one = "(" + ", ".join(["%s"] * len(COLUMNS)) + ", UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))"
        updates = ", ".join(f"`{c}` = VALUES(`{c}`)" for c in _UPDATED)
        return (
            f"INSERT INTO `{self.table}` ({columns}) VALUES "
            + ", ".join([one] * row_count)
            + f" ON DUPLICATE KEY UPDATE {updates}"
        )

    @staticmethod
    def _params(rows: Sequence[ForecastRow]) -> list[Any]:
        params: list[Any] = []
        for r in rows:
            params.extend((r.series_id, r.forecast_time, r.p10, r.p50, r.p90, r.mean, r.run_id))
        return params

    def write(self, rows: Sequence[ForecastRow]) -> int:
        rows = list(rows)
        if not rows:
            return 0
        try:
            conn = self._connect()
        except Exception as exc:
            raise ForecastWriteFailed(
                f"could not connect to the forecast database: {_describe(exc)}; nothing was written"
            ) from exc
        sent = 0
        stage = "create table"
        try:
            cursor = conn.cursor()
            try:
                cursor.execute(self.create_table_sql())
                stage = "write"
                conn.begin()
                for index, batch in enumerate(_chunks(rows, self.batch_size)):
                    cursor.execute(self.upsert_sql(len(batch)), self._params(batch))
                    sent += len(batch)
                    if self._after_batch is not None:
                        self._after_batch(index, conn)
                stage = "commit"
                conn.commit()
            finally:
                _quietly(cursor.close)
        except Exception as exc:
            _quietly(conn.rollback)
            outcome = (
                "the commit's outcome is unknown; re-running is safe, the write is idempotent"
                if stage == "commit"
                else "the transaction was rolled back, nothing was written"
            )
            raise ForecastWriteFailed(
                f"writing {len(rows)} forecast rows to table {self.table} failed at {stage} "
                f"({sent} rows sent): {_describe(exc)}; {outcome}"
            ) from exc
        finally:
            _quietly(conn.close)
        LOG.info("upserted %d forecast rows into %s in one transaction", len(rows), self.table)
        return len(rows)


def _quietly(action: Callable[[], object]) -> None:
    try:
        action()
    except Exception as exc:  # the connection may already be gone
        LOG.debug("ignored during cleanup: %s", _describe(exc))
