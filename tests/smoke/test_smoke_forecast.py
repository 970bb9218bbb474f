"""The smoke's forecast step (``--forecast --skip-etl``) against the offline deployment: on SQLite
the record comes from the execution's output; on a MariaDB server through the secret, read with
write-forecast's code and removed again."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from config import load_env, read_cdk_context
from config.paths import ROOT
from localrun.databases import ServerDatabase
from localrun.deployed import DeployedClients, deploy
from localrun.mariadb import MySQLServer
from localrun.runner import OfflineSession, Printer, open_session
from tests.localrun.runner_support import fake_deepar
from tests.smoke.support import leftovers
from tools.smoke.__main__ import OFFLINE_PACE
from tools.smoke.context import Smoke
from tools.smoke.database import tls_environment
from tools.smoke.run import run_smoke

ALL_CHECKS = ["stacks", "standardize", "bad name", "alerts", "forecast"]


@pytest.fixture
def on_sqlite(tmp_path: Path) -> Iterator[OfflineSession]:
    with open_session("dev", workdir=tmp_path, allow_mariadb=False, printer=Printer(False)) as session:
        fake_deepar(session)
        deploy(session)
        yield session


def smoke_of(session: OfflineSession, **extra: Any) -> Smoke:
    return Smoke(DeployedClients(session), session.env, pace=OFFLINE_PACE, say=lambda _: None, **extra)


def test_the_forecast_step_passes_and_removes_its_files(on_sqlite: OfflineSession) -> None:
    before = leftovers(on_sqlite)
    report = run_smoke(smoke_of(on_sqlite), forecast=True, skip_etl=True)
    assert report.ok, (report.failure, report.leftovers)
    assert [name for name, _ in report.passed] == ALL_CHECKS
    assert report.jobs == {"processing": 1, "training": 1, "transform": 1}
    found = dict(report.passed)["forecast"]
    assert "168 rows" in found and "no database secret among the outputs" in found
    assert leftovers(on_sqlite) == before, "the ETL output and the run's files are removed"
    [note] = report.notes
    table = on_sqlite.env.forecast.database.forecast_table  # type: ignore[union-attr]
    assert "the forecast table keeps run smoke-" in note and f"DELETE FROM {table}_rows WHERE run_id" in note


def test_a_failed_forecast_is_reported_with_its_error(on_sqlite: OfflineSession) -> None:
    def failing(params: dict[str, Any]) -> dict[str, Any]:
        return {"TrainingJobStatus": "Failed", "FailureReason": "ClientError: the smoke's series"}

    on_sqlite.aws.bind_sagemaker("training", failing)
    before = leftovers(on_sqlite)
    report = run_smoke(smoke_of(on_sqlite), forecast=True, skip_etl=True)
    assert report.failure is not None and report.failure.step == "forecast"
    assert "ended FAILED: TrainingFailed:" in str(report.failure)
    assert "ClientError: the smoke's series" in str(report.failure)
    assert report.jobs == {"processing": 1, "training": 1}
    assert leftovers(on_sqlite) == before


@pytest.mark.mysql
def test_the_run_is_read_from_the_database_and_removed(tmp_path: Path, mysql_server: MySQLServer) -> None:
    env = load_env("dev", read_cdk_context())
    assert env.forecast is not None
    url = replace(mysql_server, database=None).url()
    with open_session("dev", workdir=tmp_path, mysql_url=url, printer=Printer(False), config=env) as session:
        fake_deepar(session)
        deploy(session)
        assert isinstance(session.database, ServerDatabase)
        tls = session.database.db.server.tls_environment()
        report = run_smoke(smoke_of(session, database_tls=tls), forecast=True, skip_etl=True)
        assert report.ok, (report.failure, report.leftovers)
        found = dict(report.passed)["forecast"]
        table = env.forecast.database.forecast_table
        assert f"{table}_runs: written, decision per-series; {table}: 168 rows" in found
        assert report.notes == []
        assert session.database.read_runs(env.forecast.database.forecast_table) == [], "the run is removed"


def test_the_database_is_read_with_write_forecasts_tls_settings(on_sqlite: OfflineSession) -> None:
    """The function's DB_TLS/DB_CA_FILE, with a CA bundle read from the repository."""
    smoke = smoke_of(on_sqlite)
    assert tls_environment(smoke) == {"DB_TLS": "required", "DB_CA_FILE": ""}
    forecast = on_sqlite.env.forecast
    assert forecast is not None
    for tls, bundle, expected in (
        ("required", "certs/db-ca.pem", {"DB_TLS": "required", "DB_CA_FILE": str(ROOT / "certs/db-ca.pem")}),
        ("disabled", None, {"DB_TLS": "disabled", "DB_CA_FILE": ""}),
    ):
        database = replace(forecast.database, tls=tls, ca_bundle=bundle)
        smoke.config = replace(on_sqlite.env, forecast=replace(forecast, database=database))
        assert tls_environment(smoke) == expected
