"""open_database: the user's server, a scratch database on it, or SQLite, and nothing left behind."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pymysql
import pytest

from localrun.databases import ServerDatabase, SQLiteDatabase, open_database
from localrun.mariadb import MySQLDatabase, MySQLServer
from tests.mysql_server import require_mariadb_binaries

COLUMNS = ("ts", "value", "series_id")
ROWS = [(datetime(2024, 1, 1, h), float(h), "a") for h in range(3)]


def scratch_names(server: MySQLServer) -> set[str]:
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(r"SHOW DATABASES LIKE 'offline\_%'")
            return {row[0] for row in cur.fetchall()}
    finally:
        conn.close()


@pytest.mark.mysql
def test_a_server_url_without_a_database_gets_a_scratch_database_dropped_on_exit_and_on_failure(
    mysql_server: MySQLServer, tmp_path: Path
) -> None:
    server = replace(mysql_server, database=None)
    before = scratch_names(server)
    with open_database(server.url(), tmp_path) as db:
        assert isinstance(db, ServerDatabase)
        assert scratch_names(server) - before == {db.db.name}
        db.load_source("source", COLUMNS, ROWS)
        assert [r["value"] for r in db.read_source("source", COLUMNS)] == [0.0, 1.0, 2.0]
        assert db.read_forecast("forecast") == []  # no table yet: nothing written
    assert scratch_names(server) == before

    with pytest.raises(RuntimeError, match="the session failed"), open_database(server.url(), tmp_path) as db:
        assert isinstance(db, ServerDatabase) and db.db.name in scratch_names(server)
        raise RuntimeError("the session failed")
    assert scratch_names(server) == before


@pytest.mark.mysql
def test_a_named_database_is_used_and_kept(mysql_database: MySQLDatabase, tmp_path: Path) -> None:
    url = replace(mysql_database.server, database=mysql_database.name).url()
    with open_database(url, tmp_path) as db:
        assert isinstance(db, ServerDatabase) and db.db.name == mysql_database.name
        db.load_source("source", COLUMNS, ROWS)
    assert mysql_database.query("SELECT COUNT(*) FROM source") == [(3,)]


def test_without_a_url_or_mariadb_the_forecast_goes_to_sqlite(tmp_path: Path) -> None:
    with open_database(None, tmp_path, allow_mariadb=False) as db:
        assert isinstance(db, SQLiteDatabase)
        assert db.path.parent == tmp_path


@pytest.mark.mysql
def test_the_runners_own_mariadb_requires_tls_and_write_forecast_verifies_it(tmp_path: Path) -> None:
    require_mariadb_binaries("the runner's own server")
    with open_database(None, tmp_path) as db:
        assert isinstance(db, ServerDatabase) and "TLS required" in db.label
        server = db.db.server
        assert server.ca_file and server.tls_environment() == {
            "DB_TLS": "required",
            "DB_CA_FILE": server.ca_file,
        }
        assert db.db.query("SELECT @@GLOBAL.require_secure_transport") == [(1,)]
        assert server.user == "ml_pipelines" and db.db.query("SELECT CURRENT_USER()") == [
            ("ml_pipelines@127.0.0.1",)
        ]
        with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
            server.connect(ssl_disabled=True)  # plaintext is refused
