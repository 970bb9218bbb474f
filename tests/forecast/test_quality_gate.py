"""write-forecast's gate: DeepAR's test metrics and the baseline's, recorded per run; a model that
loses no longer fails the run (the write chooses per series: test_selection.py)."""

from __future__ import annotations

import re
from datetime import datetime
from types import ModuleType
from typing import Any

import forecast_writer
import pytest
import quality_gate
from forecast_repository import RunRejected
from forecast_rows import ConfigurationError
from quality_gate import (
    GateSettings,
    MissingBaselineMetrics,
    MissingModelMetrics,
    evaluate,
)
from run_history import FAILED, REJECTED, RunRecord

from tests.forecast.write_forecast_support import (
    BASELINE,
    BUCKET,
    EXECUTION_ARN,
    PASSED_QUALITY,
    PREFIX,
    RUN,
    TABLE,
    TWO_FORECASTS,
    final_metrics,
    gate_event,
    repository,
    runs,
    stored_rows,
    table_exists,
    table_rows,
    write_event,
)
from tests.mysql_server import MySQLDatabase

GOOD = final_metrics(test_RMSE=1.2, test_mean_wQuantileLoss=0.08, train_final_loss=0.5)

# --------------------------------------------------------------------------- settings


def test_settings_default_to_an_enabled_gate_at_ratio_one() -> None:
    assert GateSettings.from_env({}) == GateSettings(
        enabled=True, max_loss_ratio=1.0, metric="mean_wQuantileLoss"
    )
    assert GateSettings.from_env({"QUALITY_GATE": "disabled", "MAX_LOSS_RATIO": " 1.25 "}) == GateSettings(
        False, 1.25
    )
    assert GateSettings.from_env({"SELECTION_METRIC": "MAE"}).metric == "MAE"
    settings = forecast_writer.ForecastSettings.from_env({"FORECAST_TABLE": "f", "MAX_LOSS_RATIO": "2"})
    assert settings.gate == GateSettings(True, 2.0)


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"QUALITY_GATE": "on"}, "QUALITY_GATE must be one of enabled, disabled, got 'on'"),
        ({"MAX_LOSS_RATIO": "x"}, "MAX_LOSS_RATIO 'x' is not a number"),
        ({"MAX_LOSS_RATIO": "0"}, "MAX_LOSS_RATIO must be a finite number above 0, got '0'"),
        ({"MAX_LOSS_RATIO": "-1"}, "MAX_LOSS_RATIO must be a finite number above 0"),
        ({"MAX_LOSS_RATIO": "nan"}, "MAX_LOSS_RATIO must be a finite number above 0, got 'nan'"),
        ({"MAX_LOSS_RATIO": "inf"}, "MAX_LOSS_RATIO must be a finite number above 0"),
        ({"QUALITY_GATE": "disabled", "MAX_LOSS_RATIO": "0"}, "MAX_LOSS_RATIO"),  # checked either way
        (
            {"SELECTION_METRIC": "MAPE"},
            "SELECTION_METRIC 'MAPE' is not one of mean_wQuantileLoss, MAE, RMSE",
        ),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(problem)):
        GateSettings.from_env(env)
    with pytest.raises(ConfigurationError, match=re.escape(problem)):
        forecast_writer.Settings.from_env({"SECRET_ID": "s", "FORECAST_TABLE": "f", **env})


# --------------------------------------------------------------------------- the decision (pure)


def training(metrics: Any) -> dict[str, Any]:
    return {"model_artifacts": "s3://b/model.tar.gz", "final_metrics": metrics}


@pytest.mark.parametrize("loss", [0.08, 0.1, 0.15, 0.5])
def test_the_gate_records_any_loss_and_leaves_the_decision_to_each_series(loss: float) -> None:
    """A model that loses to the baseline overall (0.15, 0.5) no longer fails the run."""
    result = evaluate(
        training(final_metrics(test_RMSE=1.2, test_mean_wQuantileLoss=loss)), BASELINE, GateSettings()
    )
    assert result.as_dict() == {
        "decision": "per-series",
        "model": {"RMSE": 1.2, "mean_wQuantileLoss": loss},
        "baseline": {"RMSE": 2.5, "mean_wQuantileLoss": 0.1, "MASE": 1.1},
        "loss_ratio": pytest.approx(loss / 0.1),
        "max_loss_ratio": 1.0,
    }


def test_a_baseline_of_zero_gives_an_undefined_ratio() -> None:
    result = evaluate(training(GOOD), {**BASELINE, "mean_wQuantileLoss": 0.0}, GateSettings())
    assert result.decision == "per-series" and result.loss_ratio is None


@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize(
    ("metrics", "problem"),
    [
        (
            final_metrics(test_RMSE=1.2, train_final_loss=0.5),
            "test:mean_wQuantileLoss is missing; metrics present: test:RMSE, train:final_loss",
        ),
        (final_metrics(test_mean_wQuantileLoss=None), "test:mean_wQuantileLoss is None, not a number"),
        (final_metrics(test_mean_wQuantileLoss=float("nan")), "is nan, not a number"),
        ([], "metrics present: none"),
        (None, "metrics present: none"),
    ],
)
def test_missing_model_metrics_always_fail_and_say_a_test_channel_is_needed(
    metrics: Any, problem: str, enabled: bool
) -> None:
    with pytest.raises(MissingModelMetrics, match=re.escape(problem)) as info:
        evaluate(training(metrics), BASELINE, GateSettings(enabled=enabled))
    assert "test channel" in str(info.value)


@pytest.mark.parametrize(
    "baseline", [None, {}, {**BASELINE, "mean_wQuantileLoss": None}, {**BASELINE, "mean_wQuantileLoss": -1}]
)
def test_a_missing_baseline_fails_an_enabled_gate_but_not_a_disabled_one(baseline: Any) -> None:
    with pytest.raises(MissingBaselineMetrics, match=r"dataset\.baseline\.mean_wQuantileLoss is"):
        evaluate(training(GOOD), baseline, GateSettings())
    result = evaluate(training(GOOD), baseline, GateSettings(enabled=False))
    assert (result.decision, result.loss_ratio, result.max_loss_ratio) == ("disabled", None, None)


def test_a_disabled_gate_reports_the_figures_but_never_fails() -> None:
    worse = final_metrics(test_mean_wQuantileLoss=0.5)
    result = evaluate(training(worse), BASELINE, GateSettings(enabled=False, max_loss_ratio=1.0))
    assert result.as_dict() == {
        "decision": "disabled",
        "model": {"RMSE": None, "mean_wQuantileLoss": 0.5},
        "baseline": {"RMSE": 2.5, "mean_wQuantileLoss": 0.1, "MASE": 1.1},
        "loss_ratio": pytest.approx(5.0),
        "max_loss_ratio": None,
    }


@pytest.mark.parametrize("operation", [None, "publish", "GATE", 1])
def test_an_unknown_operation_names_the_field(operation: Any) -> None:
    event = {**gate_event(), "operation": operation}
    if operation is None:
        del event["operation"]

    def no_repository(_table: str) -> Any:
        raise AssertionError("no database for an unknown operation")

    settings = forecast_writer.ForecastSettings.from_env({"FORECAST_TABLE": TABLE})
    with pytest.raises(ConfigurationError, match=r"'operation' field must be one of gate, write, got"):
        forecast_writer.run_operation(None, event, no_repository, settings)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"started_at": "yesterday"}, "started_at 'yesterday' is not an ISO 8601 time"),
        ({"started_at": None}, "the event has no 'started_at' field"),
        ({"execution_arn": None}, "the event has no 'execution_arn' field"),
        ({"training": None}, "the event has no 'training' field"),
        ({"execution_name": "other"}, "execution_name 'other' is not its dataset.run_id"),
    ],
)
def test_a_malformed_gate_event_names_the_field(change: dict[str, Any], problem: str) -> None:
    settings = forecast_writer.ForecastSettings.from_env({"FORECAST_TABLE": TABLE})
    with pytest.raises(ConfigurationError, match=re.escape(problem)):
        forecast_writer.gate_run({**gate_event(), **change}, lambda _t: None, settings)


def test_the_start_time_is_stored_as_naive_utc() -> None:
    assert forecast_writer.parse_started_at("2024-05-01T12:00:00.5+02:00") == datetime(
        2024, 5, 1, 10, 0, 0, 500000
    )
    assert forecast_writer.parse_started_at("2024-05-01T10:00:00Z") == datetime(2024, 5, 1, 10)


# --------------------------------------------------------------------------- the handler on MariaDB


def put_forecast(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}transform/test.json.out", Body=TWO_FORECASTS.encode())


@pytest.mark.mysql
@pytest.mark.parametrize("loss", [0.08, 0.25])
def test_the_gate_records_the_run_accepted_and_the_write_marks_it_written(
    s3_and_secret: Any, mysql_database: MySQLDatabase, write_forecast_handler: ModuleType, loss: float
) -> None:
    """Whether DeepAR's overall test loss beats the baseline's (0.08) or not (0.25), the run goes on."""
    put_forecast(s3_and_secret)
    quality = write_forecast_handler.handler(gate_event(loss=loss))
    assert quality == {
        **PASSED_QUALITY,
        "model": {"RMSE": 1.2, "mean_wQuantileLoss": loss},
        "loss_ratio": pytest.approx(loss / 0.1),
    }
    (run,) = runs(mysql_database)
    assert run["run_id"] == RUN and run["execution_arn"] == EXECUTION_ARN
    assert run["started_at"] == datetime(2024, 5, 1, 10, 0, 0, 250000)
    assert (run["status"], run["gate_decision"], run["series_count"]) == ("accepted", "per-series", 2)
    assert (run["model_rmse"], run["model_mean_wquantileloss"]) == (1.2, loss)
    assert (run["baseline_rmse"], run["baseline_mean_wquantileloss"], run["baseline_mase"]) == (2.5, 0.1, 1.1)
    assert run["loss_ratio"] == pytest.approx(loss / 0.1) and run["max_loss_ratio"] == 1.0
    assert run["gated_at"] is not None and run["ended_at"] is None and run["rows_written"] is None
    assert table_rows(mysql_database) == []  # nothing visible before the write

    assert write_forecast_handler.handler(write_event(quality=quality))["rows"] == 6
    (run,) = runs(mysql_database)
    assert (run["status"], run["rows_written"], run["gate_decision"]) == ("written", 6, "per-series")
    assert run["ended_at"] >= run["gated_at"] and run["model_mean_wquantileloss"] == loss
    assert {r[6] for r in table_rows(mysql_database)} == {RUN}


@pytest.mark.mysql
def test_a_run_an_earlier_version_rejected_is_never_written(
    s3_and_secret: Any, mysql_database: MySQLDatabase, write_forecast_handler: ModuleType
) -> None:
    """Records of the whole-run gate stay meaningful: a write of a rejected run is refused."""
    put_forecast(s3_and_secret)
    good = write_forecast_handler.handler(gate_event("run-good"))
    write_forecast_handler.handler(write_event("run-good", good))
    before = table_rows(mysql_database)
    repository(mysql_database).record_run(
        RunRecord("run-bad", REJECTED, gate_decision=FAILED, loss_ratio=2.5)
    )

    with pytest.raises(RunRejected, match="run run-bad was rejected by the quality gate"):
        write_forecast_handler.handler(write_event("run-bad"))
    assert table_rows(mysql_database) == before and {r[6] for r in before} == {"run-good"}
    assert {r[0] for r in stored_rows(mysql_database)} == {"run-good"}


@pytest.mark.mysql
def test_regating_a_run_overwrites_its_record(
    s3_and_secret: Any,
    mysql_database: MySQLDatabase,
    write_forecast_handler: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A redriven execution: same run id, one record, the latest figures and settings."""
    write_forecast_handler.handler(gate_event(loss=0.12))
    write_forecast_handler.handler(gate_event(loss=0.12))
    assert [(r["status"], r["gate_decision"]) for r in runs(mysql_database)] == [("accepted", "per-series")]
    monkeypatch.setenv("MAX_LOSS_RATIO", "1.25")
    result = write_forecast_handler.handler(gate_event(loss=0.11))
    assert result["decision"] == "per-series" and result["max_loss_ratio"] == 1.25
    (run,) = runs(mysql_database)
    assert (run["status"], run["model_mean_wquantileloss"], run["max_loss_ratio"], run["ended_at"]) == (
        "accepted",
        0.11,
        1.25,
        None,
    )


@pytest.mark.mysql
@pytest.mark.parametrize("gate", ["enabled", "disabled"])
def test_missing_model_metrics_fail_the_gate_before_anything_is_recorded(
    s3_and_secret: Any,
    mysql_database: MySQLDatabase,
    write_forecast_handler: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    gate: str,
) -> None:
    monkeypatch.setenv("QUALITY_GATE", gate)
    metrics = final_metrics(train_final_loss=0.5)
    with pytest.raises(MissingModelMetrics, match=r"metrics present: train:final_loss\).*test channel"):
        write_forecast_handler.handler(gate_event(metrics=metrics))
    assert not table_exists(mysql_database, f"{TABLE}_runs")


@pytest.mark.mysql
def test_a_missing_baseline_fails_the_enabled_gate(
    s3_and_secret: Any, mysql_database: MySQLDatabase, write_forecast_handler: ModuleType
) -> None:
    with pytest.raises(MissingBaselineMetrics, match=r"dataset\.baseline\.mean_wQuantileLoss is None"):
        write_forecast_handler.handler(gate_event(baseline={**BASELINE, "mean_wQuantileLoss": None}))
    assert runs(mysql_database) == []


@pytest.mark.mysql
def test_a_disabled_gate_records_the_figures_and_lets_the_run_through(
    s3_and_secret: Any,
    mysql_database: MySQLDatabase,
    write_forecast_handler: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    put_forecast(s3_and_secret)
    monkeypatch.setenv("QUALITY_GATE", "disabled")
    result = write_forecast_handler.handler(gate_event(loss=0.5, baseline=None))
    assert result == {
        "decision": "disabled",
        "model": {"RMSE": 1.2, "mean_wQuantileLoss": 0.5},
        "baseline": {"RMSE": None, "mean_wQuantileLoss": None, "MASE": None},
        "loss_ratio": None,
        "max_loss_ratio": None,
    }
    written = write_forecast_handler.handler(write_event(quality=result))
    assert written["rows"] == 6 and written["selection"]["reasons"] == {"disabled": 2}
    (run,) = runs(mysql_database)
    assert (run["status"], run["gate_decision"], run["max_loss_ratio"], run["rows_written"]) == (
        "written",
        "disabled",
        None,
        6,
    )
    assert (run["series_model"], run["series_baseline"]) == (2, 0)


@pytest.mark.mysql
def test_a_bad_gate_setting_fails_before_any_read(
    s3_and_secret: Any,
    mysql_database: MySQLDatabase,
    write_forecast_handler: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAX_LOSS_RATIO", "0")
    for event in (gate_event(), write_event()):
        with pytest.raises(ConfigurationError, match="MAX_LOSS_RATIO"):
            write_forecast_handler.handler(event)
    assert not table_exists(mysql_database, f"{TABLE}_runs")


def test_a_losing_model_is_no_longer_an_error() -> None:
    assert not hasattr(quality_gate, "ModelWorseThanBaseline")  # retired: a losing model is not an error
