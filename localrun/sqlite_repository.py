"""An embedded forecast database: SQLite behind write-forecast's ``ForecastRepository`` interface.

The offline runner uses it when no MySQL/MariaDB server is given or installed. Same table shape
and the same guarantees as the MySQL repository: key (series_id, forecast_time), a re-run
updates instead of duplicating, and all rows go in one transaction or none do.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from localrun.lambdas import load

_forecast_repository = load("write_forecast", "forecast_repository")
ForecastWriteFailed = _forecast_repository.ForecastWriteFailed
validate_table_name = _forecast_repository.validate_table_name


class SQLiteForecastRepository:
    """Forecast rows in the SQLite file ``path``, table ``table`` (created if absent)."""

    def __init__(self, path: Path, table: str) -> None:
        self.path = path
        self.table = validate_table_name(table)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, isolation_level=None)

    def write(self, rows: Sequence[Any]) -> int:
        """Upsert every row in one transaction; any error rolls back and raises ForecastWriteFailed."""
        rows = list(rows)
        if not rows:
            return 0
        conn = self._connect()
        try:
            conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{self.table}" ('
                "series_id TEXT NOT NULL, forecast_time TEXT NOT NULL, p10 REAL NOT NULL, "
                "p50 REAL NOT NULL, p90 REAL NOT NULL, mean REAL NOT NULL, run_id TEXT NOT NULL, "
                "created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')), "
                "updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')), "
                "PRIMARY KEY (series_id, forecast_time))"
            )
            conn.execute("BEGIN")
            conn.executemany(
                f'INSERT INTO "{self.table}" (series_id, forecast_time, p10, p50, p90, mean, run_id) '
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (series_id, forecast_time) DO UPDATE SET "
                "p10 = excluded.p10, p50 = excluded.p50, p90 = excluded.p90, mean = excluded.mean, "
                "run_id = excluded.run_id, updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')",
                [
                    (
                        r.series_id,
                        r.forecast_time.strftime("%Y-%m-%d %H:%M:%S"),
                        r.p10,
                        r.p50,
                        r.p90,
                        r.mean,
                        r.run_id,
                    )
                    for r in rows
                ],
            )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise ForecastWriteFailed(
                f"writing {len(rows)} forecast rows to {self.path.name}:{self.table} failed: {exc}; "
                "the transaction was rolled back, nothing was written"
            ) from exc
        finally:
            conn.close()
        return len(rows)

    def read(self) -> list[dict[str, Any]]:
        """Every row, ordered by series and time (an absent table gives no rows)."""
        conn = self._connect()
        conn.row_factory = sqlite3.Row
        try:
            exists = conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (self.table,)).fetchone()
            if not exists:
                return []
            cursor = conn.execute(f'SELECT * FROM "{self.table}" ORDER BY series_id, forecast_time')
            return [dict(row) for row in cursor]
        finally:
            conn.close()
