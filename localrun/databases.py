"""The database the offline forecast reads its source table from and writes its forecast to.

``open_database(url)`` picks, in order: the MySQL/MariaDB server of ``url`` (``--mysql-url`` or
``MYSQL_URL``); a throwaway MariaDB when its binaries are installed; else an embedded SQLite file.
MySQL-family databases are written by write-forecast's own MySQL repository, with the
credentials in a (mocked) Secrets Manager secret, exactly as on AWS; SQLite through
:class:`localrun.sqlite_repository.SQLiteForecastRepository`, the same interface.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from localrun.mariadb import MySQLDatabase, MySQLServer, ServerUnavailable, ThrowawayMariaDB, parse_mysql_url
from localrun.sqlite_repository import SQLiteForecastRepository

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def _ident(name: str) -> str:
    if not _IDENT.fullmatch(name):
        raise ValueError(f"{name!r} is not a plain SQL identifier")
    return name


class Database(Protocol):
    """What the runner needs of a database."""

    label: str

    def load_source(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None: ...

    def read_source(self, table: str, columns: Sequence[str]) -> list[dict[str, Any]]: ...

    def secret(self) -> dict[str, Any] | None: ...

    def sqlite_repository(self, table: str) -> SQLiteForecastRepository | None: ...

    def read_forecast(self, table: str) -> list[dict[str, Any]]: ...

    def execute(self, sql: str) -> None: ...


@dataclass
class ServerDatabase:
    """A database on a MySQL/MariaDB server; write-forecast reaches it through its secret."""

    server: MySQLServer
    name: str
    label: str

    def _connect(self) -> Any:
        return self.server.connect(self.name)

    def execute(self, sql: str) -> None:
        self.server.execute(sql, self.name)

    def load_source(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        ts, value, *rest = (f"`{_ident(c)}`" for c in columns)
        series = f", {rest[0]} VARCHAR(255)" if rest else ""
        self.execute(f"DROP TABLE IF EXISTS `{_ident(table)}`")
        self.execute(f"CREATE TABLE `{table}` ({ts} DATETIME NOT NULL, {value} DOUBLE NULL{series})")
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                marks = ", ".join(["%s"] * len(columns))
                cur.executemany(f"INSERT INTO `{table}` VALUES ({marks})", [tuple(r) for r in rows])
            conn.commit()
        finally:
            conn.close()

    def read_source(self, table: str, columns: Sequence[str]) -> list[dict[str, Any]]:
        return self._rows(f"SELECT {', '.join(f'`{_ident(c)}`' for c in columns)} FROM `{_ident(table)}`")

    def _rows(self, sql: str) -> list[dict[str, Any]]:
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                names = [d[0] for d in cur.description]
                return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        finally:
            conn.close()

    def secret(self) -> dict[str, Any]:
        return MySQLDatabase(self.server, self.name).secret()

    def sqlite_repository(self, table: str) -> None:
        return None

    def read_forecast(self, table: str) -> list[dict[str, Any]]:
        try:
            return self._rows(f"SELECT * FROM `{_ident(table)}` ORDER BY series_id, forecast_time")
        except Exception as exc:  # an absent table means nothing was written
            if "doesn't exist" in str(exc):
                return []
            raise


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

    def secret(self) -> None:
        return None

    def sqlite_repository(self, table: str) -> SQLiteForecastRepository:
        return SQLiteForecastRepository(self.path, table)

    def read_forecast(self, table: str) -> list[dict[str, Any]]:
        return SQLiteForecastRepository(self.path, table).read()


@contextlib.contextmanager
def open_database(url: str | None, workdir: Path, *, allow_mariadb: bool = True) -> Iterator[Database]:
    """The database to use (see the module docstring); a throwaway one is removed on exit."""
    if url:
        server = parse_mysql_url(url)
        name = server.database or f"offline_{uuid.uuid4().hex[:12]}"
        if not server.database:
            _create_database(server, name)
        yield ServerDatabase(server, name, f"MySQL at {server.host}:{server.port}/{name}")
        return
    if allow_mariadb:
        with contextlib.suppress(ServerUnavailable):
            throwaway = ThrowawayMariaDB.from_path()
            try:
                server = throwaway.start()
            except (ServerUnavailable, OSError) as exc:
                throwaway.stop()
                print(f"  (could not start MariaDB: {exc}; using SQLite)")
            else:
                try:
                    name = f"offline_{secrets.token_hex(6)}"
                    _create_database(server, name)
                    yield ServerDatabase(server, name, "MariaDB (throwaway, local)")
                finally:
                    throwaway.stop()
                return
    yield SQLiteDatabase(workdir / "forecast.sqlite3")


def _create_database(server: MySQLServer, name: str) -> None:
    server.execute(f"CREATE DATABASE IF NOT EXISTS `{_ident(name)}` CHARACTER SET utf8mb4")
