"""open_database: the user's server, a scratch database on it, or SQLite, and nothing left behind;
the forecast read back from the latest-forecast view and the runs table."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pymysql
import pytest

from localrun.databases import Database, ServerDatabase, SQLiteDatabase, open_database
from localrun.lambdas import load
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


def _rows(run_id: str, base: float, series: tuple[str, ...] = ("a", "b")) -> list[Any]:
    row = load("write_forecast", "forecast_rows").ForecastRow
    return [
        row(s, datetime(2024, 1, 2, h), base + h - 1, base + h, base + h + 1, base + h, run_id)
        for s in series
        for h in range(2)
    ]


def _check_latest_and_runs(db: Database, repo: Any) -> None:
    assert db.read_forecast("forecast") == [] and db.read_runs("forecast") == []
    run = load("write_forecast", "run_history").RunRecord
    repo.record_run(run("run-1", "accepted", started_at=datetime(2024, 1, 1, 9), gate_decision="passed"))
    repo.write(_rows("run-1", 100.0))
    repo.record_run(run("run-2", "rejected", started_at=datetime(2024, 1, 1, 10), gate_decision="failed"))
    repo.record_run(run("run-3", "accepted", started_at=datetime(2024, 1, 1, 11), gate_decision="passed"))
    repo.write(_rows("run-3", 500.0, ("a",)))
    latest = db.read_forecast("forecast")
    assert [(r["series_id"], r["p50"], r["run_id"]) for r in latest] == [
        ("a", 500.0, "run-3"),
        ("a", 501.0, "run-3"),
        ("b", 100.0, "run-1"),
        ("b", 101.0, "run-1"),
    ]
    # the view's columns, and where each row came from (the rows table's source and season)
    assert set(latest[0]) == {"series_id", "forecast_time", "p10", "p50", "p90", "mean", "run_id"} | {
        "created_at",
        "updated_at",
        "source",
        "season",
    }
    assert {(r["source"], r["season"]) for r in latest} == {("model", None)}
    summary = [
        (r["run_id"], r["status"], r["gate_decision"], r["rows_written"]) for r in db.read_runs("forecast")
    ]
    assert summary == [
        ("run-1", "written", "passed", 4),
        ("run-2", "rejected", "failed", None),
        ("run-3", "written", "passed", 2),
    ]


@pytest.mark.mysql
def test_a_server_database_reads_the_latest_forecast_and_the_runs(
    mysql_database: MySQLDatabase, tmp_path: Path
) -> None:
    url = replace(mysql_database.server, database=mysql_database.name).url()
    with open_database(url, tmp_path) as db:
        assert isinstance(db, ServerDatabase)
        server_db = db.db

        def connect() -> Any:
            return server_db.connect(autocommit=False, init_command="SET time_zone = '+00:00'")

        repository = load("write_forecast", "forecast_repository").MySQLForecastRepository
        _check_latest_and_runs(db, repository(connect, "forecast"))


def test_the_sqlite_database_reads_the_latest_forecast_and_the_runs(tmp_path: Path) -> None:
    with open_database(None, tmp_path, allow_mariadb=False) as db:
        assert isinstance(db, SQLiteDatabase)
        _check_latest_and_runs(db, db.sqlite_repository("forecast"))
