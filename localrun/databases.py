"""The database the offline forecast reads its source table from and writes its forecast to.

``open_database(url)`` picks, in order: the MySQL/MariaDB server of ``url`` (``--mysql-url`` or
``MYSQL_URL``); a throwaway MariaDB when its binaries are installed; else an embedded SQLite file.
MySQL-family databases are written by write-forecast's own MySQL repository, with the
credentials in a (mocked) Secrets Manager secret, exactly as on AWS; SQLite through
:class:`localrun.sqlite_repository.SQLiteForecastRepository`, the same interface and layout.

``read_forecast(table)`` reads the VIEW ``table``: the latest forecast per series and time;
``read_runs(table)`` the run history, ``<table>_runs`` (write-forecast's ``run_history``).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pymysql
import pymysql.cursors

from localrun.lambdas import load
from localrun.mariadb import MySQLDatabase, MySQLServer, ServerUnavailable, ThrowawayMariaDB, parse_mysql_url
from localrun.sqlite_repository import SQLiteForecastRepository, forecast_with_source_sql
from pipeline_rules import RuleError, check_identifier

_run_history = load("write_forecast", "run_history")


def _ident(name: str) -> str:
    """``name`` if it is an identifier by the rule the config and write-forecast apply."""
    try:
        return check_identifier(name)
    except RuleError:
        raise ValueError(f"{name!r} is not a plain SQL identifier") from None


class Database(Protocol):
    """What the runner needs of a database (a :class:`ServerDatabase` or a :class:`SQLiteDatabase`)."""

    label: str

    def load_source(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None: ...

    def read_source(self, table: str, columns: Sequence[str]) -> list[dict[str, Any]]: ...

    def read_forecast(self, table: str) -> list[dict[str, Any]]: ...

    def read_runs(self, table: str) -> list[dict[str, Any]]: ...

    def execute(self, sql: str) -> None: ...


_NO_SUCH_TABLE = 1146  # ER_NO_SUCH_TABLE


@dataclass
class ServerDatabase:
    """A database on a MySQL/MariaDB server; write-forecast reaches it through :meth:`secret`."""

    db: MySQLDatabase
    label: str

    def secret(self) -> dict[str, Any]:
        return self.db.secret()

    def execute(self, sql: str) -> None:
        self.db.server.execute(sql, self.db.name)

    def load_source(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        ts, value, *rest = (f"`{_ident(c)}`" for c in columns)
        series = f", {rest[0]} VARCHAR(255)" if rest else ""
        marks = ", ".join(["%s"] * len(columns))
        conn = self.db.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f"DROP TABLE IF EXISTS `{_ident(table)}`")
                cur.execute(f"CREATE TABLE `{table}` ({ts} DATETIME NOT NULL, {value} DOUBLE NULL{series})")
                cur.executemany(f"INSERT INTO `{table}` VALUES ({marks})", [tuple(r) for r in rows])
            conn.commit()
        finally:
            conn.close()

    def read_source(self, table: str, columns: Sequence[str]) -> list[dict[str, Any]]:
        return self._rows(f"SELECT {', '.join(f'`{_ident(c)}`' for c in columns)} FROM `{_ident(table)}`")

    def _rows(self, sql: str) -> list[dict[str, Any]]:
        conn = self.db.connect(cursorclass=pymysql.cursors.DictCursor)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return list(cur.fetchall())
        finally:
            conn.close()

    def _rows_if_any(self, sql: str) -> list[dict[str, Any]]:
        try:
            return self._rows(sql)
        except pymysql.err.ProgrammingError as exc:  # an absent table means nothing was written
            if exc.args and exc.args[0] == _NO_SUCH_TABLE:
                return []
            raise

    def read_forecast(self, table: str) -> list[dict[str, Any]]:
        """The latest forecast (the view ``table``) with each row's source, by series and time;
        none written: ``[]``."""
        return self._rows_if_any(forecast_with_source_sql(table, "`"))

    def read_runs(self, table: str) -> list[dict[str, Any]]:
        """Every run's record (``<table>_runs``), oldest first (by start, else end), then by run id."""
        runs = _run_history.Tables(_ident(table)).runs
        return self._rows_if_any(
            f"SELECT * FROM `{runs}` ORDER BY COALESCE(started_at, gated_at, ended_at), run_id"
        )


@dataclass
class SQLiteDatabase:
    """An embedded SQLite file holding both the source table and the forecast table."""

    path: Path
    label: str = "SQLite (embedded)"

    def execute(self, sql: str) -> None:
        conn = sqlite3.connect(self.path)
        try:
            conn.executescript(sql)
        finally:
            conn.close()

    def load_source(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        cols = ", ".join(f'"{_ident(c)}"' for c in columns)
        conn = sqlite3.connect(self.path)
        try:
            with conn:
                conn.execute(f'DROP TABLE IF EXISTS "{_ident(table)}"')
                conn.execute(f'CREATE TABLE "{table}" ({cols})')
                marks = ", ".join("?" * len(columns))
                conn.executemany(f'INSERT INTO "{table}" VALUES ({marks})', [tuple(r) for r in rows])
        finally:
            conn.close()

    def read_source(self, table: str, columns: Sequence[str]) -> list[dict[str, Any]]:
        conn = sqlite3.connect(self.path)
        conn.row_factory = sqlite3.Row
        try:
            cols = ", ".join(f'"{_ident(c)}"' for c in columns)
            return [dict(r) for r in conn.execute(f'SELECT {cols} FROM "{_ident(table)}"')]
        finally:
            conn.close()

    def sqlite_repository(self, table: str) -> SQLiteForecastRepository:
        return SQLiteForecastRepository(self.path, table)

    def read_forecast(self, table: str) -> list[dict[str, Any]]:
        """The latest forecast (the view ``table``) with each row's source, by series and time;
        none written: ``[]``."""
        return SQLiteForecastRepository(self.path, table).read_with_source()

    def read_runs(self, table: str) -> list[dict[str, Any]]:
        """Every run's record (``<table>_runs``), oldest first (by start, else end), then by run id."""
        return SQLiteForecastRepository(self.path, table).runs()


@contextlib.contextmanager
def open_database(url: str | None, workdir: Path, *, allow_mariadb: bool = True) -> Iterator[Database]:
    """The database to use (see the module docstring); one this function created is removed on exit."""
    if url:
        server = parse_mysql_url(url)
        if server.database:
            yield ServerDatabase(MySQLDatabase(server, server.database), _label(server, server.database))
            return
        with server.scratch_database("offline") as db:
            yield ServerDatabase(db, _label(server, db.name))
        return
    throwaway: ThrowawayMariaDB | None = None
    if allow_mariadb:
        try:
            throwaway = ThrowawayMariaDB.from_path()
            server = throwaway.start()
        except ServerUnavailable as exc:
            if throwaway is not None:
                print(f"  (could not start MariaDB: {exc}; using SQLite)")
            throwaway = None
    if throwaway is None:
        yield SQLiteDatabase(workdir / "forecast.sqlite3")
        return
    try:
        with server.scratch_database("offline") as db:
            yield ServerDatabase(db, "MariaDB (throwaway, local, TLS required)")
    finally:
        throwaway.stop()


def _label(server: MySQLServer, name: str) -> str:
    transport = "TLS" if server.ca_file else "plaintext"
    return f"MySQL at {server.host}:{server.port}/{name} ({transport})"
