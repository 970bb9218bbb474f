"""A real MySQL/MariaDB server for tests, as pytest fixtures.

* ``MYSQL_URL`` set (``mysql://user:pass@host:port/db``): that server is used; its user needs
  CREATE/DROP DATABASE, and CREATE USER for the password-rotation test (a skip, or a failure
  under ``CI=true``, without it). If it cannot be reached, tests fail (the setting was explicit).
* Otherwise a throwaway MariaDB is started: ``mariadb-install-db`` into a temporary data
  directory, ``mariadbd`` on 127.0.0.1 at a free port with its socket in that directory, a test
  user with a random password. It is stopped by its PID at the end of the session (or at exit),
  and the directory is deleted.
* No server binaries: ``pytest.skip``, or ``pytest.fail`` when ``CI=true``.

The throwaway server requires TLS (``require_secure_transport=ON``, a CA generated at start);
``MySQLServer.tls_environment()`` gives write-forecast the settings that reach it.

Fixtures: ``mysql_server`` (session) and ``mysql_database`` (a fresh, empty database per test,
dropped afterwards). Use them from a ``conftest.py`` with
``from tests.mysql_server import mysql_database, mysql_server``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pymysql
import pytest

from localrun.mariadb import MySQLDatabase, MySQLServer, ServerUnavailable, ThrowawayMariaDB, parse_mysql_url
from tests.ci import missing


def require_mariadb_binaries(purpose: str) -> None:
    """Skip, or fail under ``CI=true``, unless a throwaway MariaDB can be started here."""
    try:
        ThrowawayMariaDB.from_path()
    except ServerUnavailable as exc:
        missing(f"no MariaDB server binaries for {purpose}", str(exc))


@contextlib.contextmanager
def throwaway_server(purpose: str, *, tls: bool = True) -> Iterator[MySQLServer]:
    """A throwaway MariaDB (with TLS required unless ``tls`` is false), stopped on exit; a missing
    one skips, or fails under ``CI=true``."""
    try:
        throwaway = ThrowawayMariaDB.from_path(tls=tls)
        server = throwaway.start()  # stops itself when it fails
    except ServerUnavailable as exc:
        missing(f"no MySQL/MariaDB server for {purpose}", str(exc))
    try:
        yield server
    finally:
        throwaway.stop()


def _check(server: MySQLServer) -> None:
    conn = server.connect()
    conn.close()


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[MySQLServer]:
    """A reachable server (``MYSQL_URL`` or a throwaway MariaDB) for the whole session."""
    url = os.environ.get("MYSQL_URL", "").strip()
    if url:
        server = parse_mysql_url(url)
        try:
            _check(server)
        except pymysql.err.MySQLError as exc:
            pytest.fail(f"MYSQL_URL is set but the server is unusable: {exc}", pytrace=False)
        yield server
        return
    with throwaway_server("the tests") as server:
        yield server


@pytest.fixture
def mysql_database(mysql_server: MySQLServer) -> Iterator[MySQLDatabase]:
    """A new empty database (utf8mb4), dropped after the test."""
    with mysql_server.scratch_database("test") as database:
        yield database
