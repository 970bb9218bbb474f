"""End to end through the offline runner: every state and every Fail path of the forecast state
machine.

The Lambda handlers, ASL files, substitutions and processing script are the deployed ones. Jobs
after a deliberately failed step use small stand-ins where only their outcome matters; one test
trains and forecasts with the real local DeepAR twin.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from config import load_env, read_cdk_context
from localrun import report
from localrun.databases import ServerDatabase
from localrun.demo_data import hourly_series, packaged_hourly_series
from localrun.glue_spark import Engine
from localrun.mariadb import MySQLServer
from localrun.runner import OfflineSession, Printer, open_session
from tests.localrun.runner_support import assert_message_only, fake_deepar

FORECAST_OK = ("GenerateDataset", "Train", "QualityGate", "CreateModel", "Transform", "WriteForecast", "Done")


# -- forecast ------------------------------------------------------------------------------------


def short_series(hours: int) -> list[tuple[Any, ...]]:
    start = datetime(2026, 1, 1)
    return [(start + timedelta(hours=h), float(h % 24 + (h * 37) % 5)) for h in range(hours)]


def lambda_failure(task: str) -> tuple[str, ...]:
    """The states from a failed Lambda task's catch to the end: the shared failure path."""
    return (f"{task}Caught", "ErrorCause", "LambdaErrorJson", "LambdaErrorMessage", "NotifyFailure", "Failed")


def gate_failure(run: Any, error: str) -> None:
    assert run.result.path == (
        "GenerateDataset",
        "Train",
        "QualityGate",
        *lambda_failure("QualityGate"),
    ), run.result.cause
    assert run.result.error == error
    assert_message_only(run.result.cause)


def forecast_rows(session: OfflineSession) -> list[dict[str, Any]]:
    assert session.database is not None and session.env.forecast is not None
    return session.database.read_forecast(session.env.forecast.database.forecast_table)


def test_forecast_writes_rows_and_a_rerun_updates_them(session: OfflineSession) -> None:
    fake_deepar(session)
    session.load_source(short_series(900))
    first = session.forecast()
    assert first is not None
    assert first.result.path == FORECAST_OK, first.result.cause
    assert session.last_etl is not None and session.last_etl.engine.startswith("plain-Python twin")
    assert first.result.output["written"] == {"rows": 168, "series": {"model": 1, "seasonal-naive": 0}}
    second = session.forecast()
    assert second is not None and second.result.status == "SUCCEEDED"
    rows = forecast_rows(session)
    assert len(rows) == 168, "a re-run updates, it never duplicates"
    assert {r["source"] for r in rows} == {"model"}  # the stand-in is exact on the backtest
    assert [m["SeriesOnModel"] for m in session.metrics] == [1, 1]
    assert rows[0]["forecast_time"].startswith("2026-02-07 12:00:00")
    assert session.alerts() == []


def test_a_model_worse_than_the_baseline_everywhere_still_gives_a_forecast_from_the_baseline(
    session: OfflineSession, capsys: pytest.CaptureFixture[str]
) -> None:
    """The run succeeds and writes every series from the seasonal-naive baseline (the view's
    readers get a forecast on the first run too); the run records both candidates, and the
    summary says which source each series took."""
    fake_deepar(session, mean_wql=5.0, off_by=1e6)
    session.load_source(short_series(900))
    run = session.forecast()
    assert run is not None
    assert run.result.path == FORECAST_OK, run.result.cause
    assert run.result.output["written"] == {"rows": 168, "series": {"model": 0, "seasonal-naive": 1}}
    assert session.alerts() == [], "a model that loses is not a failure"
    # the metric the stack's alarm reads (tests/infra/test_forecast_stack.py): 0, so it fires
    assert [(m["SeriesOnModel"], m["SeriesOnBaseline"]) for m in session.metrics] == [(0, 1)]
    rows = forecast_rows(session)
    assert len(rows) == 168 and all(r["p10"] <= r["p50"] <= r["p90"] for r in rows)
    assert {r["source"] for r in rows} == {"seasonal-naive"}
    assert session.database is not None
    [record] = session.database.read_runs(session.env.forecast.database.forecast_table)  # type: ignore[union-attr]
    assert (record["status"], record["gate_decision"]) == ("written", "per-series")
    assert (record["series_model"], record["series_baseline"]) == (0, 1)
    assert record["model_mean_wquantileloss"] == 5.0
    assert record["written_backtest_loss"] == record["baseline_backtest_loss"] < record["model_backtest_loss"]

    report.print_summary(session, {}, 1.0)
    summary = capsys.readouterr().out
    assert (
        "forecast quality" in summary and "series on the model 0, on the seasonal-naive baseline 1" in summary
    )
    assert "DeepAR's test:mean_wQuantileLoss 5" in summary, summary


def test_a_series_too_short_for_the_model_is_written_from_the_baseline(tmp_path: Path) -> None:
    """Every series with history gets a forecast: the long one from the model (the stand-in is
    exact on its backtest), the short one, which the model never sees, from seasonal naive."""
    env = load_env("dev", read_cdk_context())
    assert env.forecast is not None
    database = replace(env.forecast.database, series_column="store")
    env = replace(env, forecast=replace(env.forecast, database=database))
    with open_session("dev", workdir=tmp_path, allow_mariadb=False, printer=Printer(False), config=env) as s:
        fake_deepar(s)
        rows = [(t, v, "long") for t, v in short_series(900)] + [
            (t, v, "short") for t, v in short_series(100)
        ]
        s.load_source(rows)
        run = s.forecast()
        assert run is not None
        assert run.result.path == FORECAST_OK, run.result.cause
        written = forecast_rows(s)
        assert {(r["series_id"], r["source"]) for r in written} == {
            ("long", "model"),
            ("short", "seasonal-naive"),
        }
        assert len(written) == 2 * 168
        [record] = s.database.read_runs(database.forecast_table)  # type: ignore[union-attr]
        assert (record["series_count"], record["series_model"], record["series_baseline"]) == (2, 1, 1)


def test_a_training_job_without_test_metrics_fails_the_gate(session: OfflineSession) -> None:
    fake_deepar(session, mean_wql=None)
    session.load_source(short_series(900))
    run = session.forecast()
    assert run is not None
    gate_failure(run, "MissingModelMetrics")
    assert "test:mean_wQuantileLoss" in (run.result.cause or "")
    assert "train:final_loss" in (run.result.cause or ""), "names what training did report"
    assert len(session.alerts()) == 1 and forecast_rows(session) == []


def test_not_enough_history_alerts_and_fails_in_generate_dataset(session: OfflineSession) -> None:
    session.load_source(short_series(100))
    run = session.forecast()
    assert run is not None
    assert run.result.path == ("GenerateDataset", *lambda_failure("GenerateDataset"))
    assert run.result.error == "GenerateDatasetFailed" and "NotEnoughHistory" in (run.result.cause or "")
    assert_message_only(run.result.cause)
    [alert] = session.alerts()
    assert session.alerts() == [alert]  # a second read still sees it
    assert "NotEnoughHistory" in alert and run.result.execution_arn.rsplit(":", 1)[1] in alert
    assert_message_only(alert)


def test_training_failure_alerts_and_fails_as_training_failed(session: OfflineSession) -> None:
    session.aws.bind_sagemaker(
        "training", lambda p: {"TrainingJobStatus": "Failed", "FailureReason": "ClientError: no"}
    )
    session.load_source(short_series(900))
    run = session.forecast()
    assert run is not None
    job_failure = (
        "TrainCaught",
        "QuotaCheck",
        "ErrorCause",
        "JobErrorJson",
        "JobErrorReason",
        "NotifyFailure",
        "Failed",
    )
    assert run.result.path == ("GenerateDataset", "Train", *job_failure)
    assert run.result.error == "TrainingFailed"
    assert (run.result.cause or "").split(": ", 2)[-1].startswith("ClientError: no (job forecast-train-")
    assert len(session.alerts()) == 1 and forecast_rows(session) == []


def test_create_model_and_transform_failures_end_in_their_fail_states(session: OfflineSession) -> None:
    fake_deepar(session)
    session.load_source(short_series(900))

    def refuse(params: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("image not found")

    session.aws.bind_sagemaker("model", refuse)
    run = session.forecast()
    assert run is not None
    assert run.result.path[-5:] == (
        "CreateModel",
        "CreateModelCaught",
        "ErrorCause",
        "NotifyFailure",
        "Failed",
    )
    assert run.result.error == "CreateModelFailed"
    session.aws.bind_sagemaker("model", session.sagemaker.model)
    session.aws.bind_sagemaker(
        "transform", lambda p: {"TransformJobStatus": "Failed", "FailureReason": "boom"}
    )
    run = session.forecast()
    assert run is not None
    assert run.result.path[-3:] == ("JobErrorReason", "NotifyFailure", "Failed")
    assert run.result.error == "TransformFailed"
    assert "States.TaskFailed: boom (job forecast-transform-" in (run.result.cause or "")


def test_database_that_refuses_the_write_fails_as_write_forecast_failed(session: OfflineSession) -> None:
    fake_deepar(session)
    assert session.database is not None
    table = session.env.forecast.database.forecast_table  # type: ignore[union-attr]
    rows = f"{table}_rows"  # where write-forecast keeps every run's rows (the table name is a view)
    session.database.execute(
        f"CREATE TABLE {rows} (run_id TEXT, series_id TEXT, forecast_time TEXT, p10 REAL, p50 REAL, p90 REAL,"
        f" mean REAL, created_at TEXT, updated_at TEXT, PRIMARY KEY (run_id, series_id, forecast_time));"
        f" CREATE TRIGGER refuse BEFORE INSERT ON {rows} BEGIN SELECT RAISE(ABORT, 'writes refused'); END;"
    )
    session.load_source(short_series(900))
    run = session.forecast()
    assert run is not None
    assert run.result.path[-6:] == lambda_failure("WriteForecast")
    assert run.result.error == "WriteForecastFailed"
    assert "ForecastWriteFailed" in (run.result.cause or "") and "writes refused" in (run.result.cause or "")
    assert_message_only(run.result.cause)
    assert forecast_rows(session) == []


def _short_training(epochs: int = 2) -> Any:
    """dev's environment with DeepAR's epochs cut to ``epochs`` and its context to one prediction
    length (168 h, not 672): the network unrolls a quarter of the steps, and the run's path, files
    and selection are those of dev's settings."""
    env = load_env("dev", read_cdk_context())
    assert env.forecast is not None
    deepar = replace(env.forecast.deepar, epochs=epochs, context_length=env.forecast.deepar.prediction_length)
    return replace(env, forecast=replace(env.forecast, deepar=deepar))


@pytest.mark.slow
@pytest.mark.mysql
def test_demo_forecast_with_the_local_deepar_twin(
    tmp_path: Path, mysql_server: MySQLServer, glue_engine: Engine
) -> None:
    # The tests' server (MYSQL_URL or a throwaway MariaDB; missing under CI=true fails, see
    # tests/mysql_server.py), in a scratch database the session creates and drops. One epoch:
    # the path, not the model's quality (make demo and benchmarks/ train the full demo).
    url = replace(mysql_server, database=None).url()
    with open_session(
        "dev", workdir=tmp_path, mysql_url=url, printer=Printer(False), config=_short_training(epochs=1)
    ) as session:
        assert isinstance(session.database, ServerDatabase), (
            "the demo must write through write-forecast's MySQL repository"
        )
        series = hourly_series()
        session.load_source(series)
        run = session.forecast()
        assert run is not None
        assert run.result.path == FORECAST_OK, run.result.cause
        assert session.last_etl is not None
        assert session.last_etl.engine == f"Glue script on {glue_engine.describe()}"
        assert any(
            re.search(r"/run=jr_[0-9a-f]+/part-00000-[-0-9a-f]+-c000\.csv$", k) for k in session.last_etl.keys
        )
        rows = forecast_rows(session)
        assert len(rows) == 168
        assert all(r["p10"] <= r["p50"] <= r["p90"] for r in rows)
        values = [v for _, v in series if v is not None]
        assert min(values) - 50 < sum(r["p50"] for r in rows) / len(rows) < max(values) + 50
        assert [j.kind for j in session.sagemaker.jobs] == ["training", "transform"]


@pytest.mark.slow
def test_a_real_hourly_series_is_written_from_the_candidate_that_won_its_backtest(tmp_path: Path) -> None:
    """vega_datasets' hourly San Francisco temperatures (NOAA, 2010; its last ten weeks) through the
    real twin: the run writes every series, from the source whose backtest loss was the lower, and
    what the report reads back from the run's files agrees with what the run recorded. Two
    epochs: the selection, not the model's quality (benchmarks/forecast_selection.py trains it)."""
    config = _short_training()
    with open_session(
        "dev", workdir=tmp_path, allow_mariadb=False, printer=Printer(False), config=config
    ) as session:
        session.load_source(packaged_hourly_series("sf-temps", weeks=10))
        run = session.forecast()
        assert run is not None
        assert run.result.path == FORECAST_OK, run.result.cause
        rows = forecast_rows(session)
        assert len(rows) == 168 and all(r["p10"] <= r["p50"] <= r["p90"] for r in rows)
        assert session.database is not None
        [record] = session.database.read_runs(session.env.forecast.database.forecast_table)  # type: ignore[union-attr]
        model, baseline = record["model_backtest_loss"], record["baseline_backtest_loss"]
        assert record["written_backtest_loss"] == min(model, baseline)
        source = "model" if model <= baseline else "seasonal-naive"
        assert {r["source"] for r in rows} == {source}
        assert (record["series_model"], record["series_baseline"]) == (
            (1, 0) if source == "model" else (0, 1)
        )
        backtest = report.forecast_backtest(session)
        assert backtest is not None and backtest.naive_mae == pytest.approx(record["baseline_backtest_mae"])
        assert backtest.mae == pytest.approx(record["model_backtest_mae"])


@pytest.mark.slow
@pytest.mark.mysql
def test_the_real_twin_forced_to_a_bad_fit_is_replaced_by_the_baseline(
    tmp_path: Path, mysql_server: MySQLServer, glue_engine: Engine
) -> None:
    # The bad-fit recipe of benchmarks/deepar_quality.py: one epoch at a learning rate of 1e-6
    # leaves the twin's test:mean_wQuantileLoss about 10x seasonal naive's on the demo data.
    env = load_env("dev", read_cdk_context())
    assert env.forecast is not None
    bad_fit = replace(_short_training(epochs=1).forecast.deepar, learning_rate=1e-6)
    env = replace(env, forecast=replace(env.forecast, deepar=bad_fit))
    url = replace(mysql_server, database=None).url()
    with open_session("dev", workdir=tmp_path, mysql_url=url, printer=Printer(False), config=env) as session:
        session.load_source(hourly_series())
        run = session.forecast()
        assert run is not None
        assert run.result.path == FORECAST_OK, run.result.cause
        assert [j.kind for j in session.sagemaker.jobs] == ["training", "transform"]
        assert session.alerts() == []
        rows = forecast_rows(session)
        assert len(rows) == 168 and {r["source"] for r in rows} == {"seasonal-naive"}
        assert [m["SeriesOnModel"] for m in session.metrics] == [0], "printed by the real handler"
        assert session.database is not None
        [record] = session.database.read_runs(env.forecast.database.forecast_table)  # type: ignore[union-attr]
        assert (record["status"], record["series_model"], record["series_baseline"]) == ("written", 0, 1)
        model, baseline = record["model_mean_wquantileloss"], record["baseline_mean_wquantileloss"]
        assert model > 1.5 * baseline > 0, (model, baseline)
        assert (
            record["model_backtest_loss"]
            > record["written_backtest_loss"]
            == record["baseline_backtest_loss"]
        )
