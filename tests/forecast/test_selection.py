"""Per-series selection (selection.py, forecast_rows.selected_rows) and its write on MariaDB: each
series is written from the model or the seasonal-naive baseline, whichever forecast its backtest
window better, and the run records both candidates' figures."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import replace
from types import ModuleType
from typing import Any

import pytest
import run_history
from forecast_rows import MalformedForecast, RunFiles, selected_rows
from hypothesis import given, settings
from hypothesis import strategies as st
from selection import BASELINE, MODEL, Selection, choose, parse_baseline_line

import forecast_metrics
from tests.forecast.write_forecast_support import (
    BUCKET,
    PASSED_QUALITY,
    PREFIX,
    RUN,
    TWO_BACKTESTS,
    TWO_FORECASTS,
    TWO_SERIES,
    baseline_line,
    repository,
    runs,
    stored_rows,
    table_rows,
    write_event,
)
from tests.mysql_server import MySQLDatabase

ACTUAL = [10.0, 11.0, 12.0]
#: Series a's backtest when the baseline is exact and the model (p50 10, 11, 12) 3 off.
LATER = [13.0, 14.0, 15.0]


def band(p50: list[float], width: float = 1.0) -> dict[str, list[float]]:
    return {"0.1": [v - width for v in p50], "0.5": p50, "0.9": [v + width for v in p50]}


def line(actual: Sequence[float | None], p50: list[float], **options: Any) -> Any:
    return parse_baseline_line(baseline_line(actual, p50, **options), len(actual))


# --------------------------------------------------------------------------- one series (pure)


def test_the_model_wins_a_series_it_forecast_better() -> None:
    choice, model, baseline = choose(band(ACTUAL), line(ACTUAL, [15.0, 16.0, 17.0]))
    assert (choice.source, choice.reason, choice.season) == (MODEL, "model-won", 24)
    assert model is not None and baseline is not None
    assert choice.model_loss is not None and choice.baseline_loss is not None
    assert choice.model_loss < choice.baseline_loss


def test_the_baseline_wins_a_series_the_model_forecast_worse() -> None:
    choice, _, _ = choose(band([20.0, 21.0, 22.0]), line(ACTUAL, [10.5, 11.5, 12.5]))
    assert (choice.source, choice.reason, choice.season) == (BASELINE, "baseline-won", 24)


def test_a_tie_goes_to_the_model() -> None:
    """Equal losses: ``model <= ratio x baseline`` holds at ratio 1."""
    choice, _, _ = choose(band([11.0, 12.0, 13.0]), line(ACTUAL, [9.0, 10.0, 11.0]))
    assert choice.model_loss == pytest.approx(choice.baseline_loss)
    assert choice.source == MODEL


def test_the_ratio_lets_a_somewhat_worse_model_through() -> None:
    """maxLossRatio keeps its meaning: the model is taken when its loss <= ratio x the baseline's."""
    model, baseline = band([12.0, 13.0, 14.0]), line(ACTUAL, [11.0, 12.0, 13.0])
    choice, _, _ = choose(model, baseline)
    assert choice.source == BASELINE
    assert choice.model_loss is not None and choice.baseline_loss
    ratio = choice.model_loss / choice.baseline_loss
    assert choose(model, baseline, max_loss_ratio=ratio)[0].source == MODEL
    assert choose(model, baseline, max_loss_ratio=ratio * 0.999)[0].source == BASELINE


def test_a_window_without_actuals_cannot_be_scored_and_takes_the_baseline() -> None:
    choice, model, baseline = choose(band(ACTUAL), line([None, None, None], [15.0, 16.0, 17.0]))
    assert (choice.source, choice.reason, choice.model_loss, model, baseline) == (
        BASELINE,
        "unscored",
        None,
        None,
        None,
    )


def test_a_series_without_a_baseline_takes_the_model() -> None:
    doc = json.loads(baseline_line(ACTUAL, [15.0, 16.0, 17.0]))
    doc.update(season=None, backtest=None, future=None)
    no_history = parse_baseline_line(json.dumps(doc), 3)
    assert choose(band(ACTUAL), no_history)[0].reason == "no-baseline"
    doc = json.loads(baseline_line(ACTUAL, [15.0, 16.0, 17.0]))
    doc["future"]["0.9"][1] = None  # a value that overflowed: no usable baseline either
    assert choose(band(ACTUAL), parse_baseline_line(json.dumps(doc), 3))[0].reason == "no-baseline"


def test_a_series_too_short_for_the_model_takes_the_baseline_or_nothing() -> None:
    doc = json.loads(baseline_line([None, None, None], [15.0, 16.0, 17.0]))
    doc["backtest"] = None  # too short for a backtest window too
    short = parse_baseline_line(json.dumps(doc), 3)
    choice, _, _ = choose(None, short)
    assert (choice.source, choice.reason, choice.season) == (BASELINE, "too-short", 24)
    doc["future"] = None  # no value at all: nothing to forecast from
    choice, _, _ = choose(None, parse_baseline_line(json.dumps(doc), 3))
    assert (choice.source, choice.reason) == (None, "no-forecast")


def test_disabled_selection_writes_the_model_and_still_scores_it() -> None:
    choice, model, _ = choose(band([20.0, 21.0, 22.0]), line(ACTUAL, ACTUAL), enabled=False)
    assert (choice.source, choice.reason) == (MODEL, "disabled") and model is not None


def test_the_metric_decides() -> None:
    """A model with the right p50 but a band far too wide loses on the quantile loss and wins on
    MAE; the baseline's p50 is off by one with a tight band."""
    model = {"0.1": [0.0, 0.0, 0.0], "0.5": ACTUAL, "0.9": [100.0, 100.0, 100.0]}
    baseline = line(ACTUAL, [11.0, 12.0, 13.0], band=0.1)
    assert choose(model, baseline)[0].source == BASELINE
    assert choose(model, baseline, metric="MAE")[0].source == MODEL
    assert choose(model, baseline, metric="RMSE")[0].source == MODEL


series_values = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=4, max_size=4)


@settings(max_examples=200, deadline=None)
@given(
    actual=st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)), min_size=4, max_size=4),
    model=st.lists(series_values, min_size=3, max_size=3),
    baseline=series_values,
    width=st.floats(0, 1e3),
    metric=st.sampled_from(forecast_metrics.SELECTION_METRICS),
)
def test_what_is_written_is_never_worse_than_the_baseline_on_the_backtest(
    actual: list[float | None], model: list[list[float]], baseline: list[float], width: float, metric: str
) -> None:
    """The issue's "done when", by construction: per series, and so overall."""
    low, mid, high = sorted(model, key=sum)
    forecast = {"0.1": low, "0.5": mid, "0.9": high}
    candidate = line(actual, baseline, band=width)
    choice, model_score, baseline_score = choose(forecast, candidate, metric=metric)
    if model_score is None or baseline_score is None:
        assert choice.source == BASELINE and not any(v is not None for v in actual)
        return
    written = model_score if choice.source == MODEL else baseline_score
    written_loss = forecast_metrics.selection_loss(written, metric)
    assert written_loss is not None and choice.baseline_loss is not None
    assert written_loss <= choice.baseline_loss


# --------------------------------------------------------------------------- a run (pure)


def files(baselines: str, backtests: str = TWO_BACKTESTS, future: str = TWO_FORECASTS) -> RunFiles:
    return RunFiles(
        manifest=(TWO_SERIES, "s3://b/series.json"),
        future=(future, "s3://b/transform/test.json.out"),
        backtest=(backtests, "s3://b/transform/train.json.out"),
        baseline=(baselines, "s3://b/baseline.json"),
    )


#: Series a: the model is exact on its backtest; series b: the baseline is (the model is 5 off).
MIXED = (
    baseline_line(ACTUAL, [15.0, 16.0, 17.0], season=168)
    + "\n"
    + baseline_line([25.0, 26.0, 27.0], [25.0, 26.0, 27.0], future=60.0, season=24)
    + "\n"
)


def select(text: str, **options: Any) -> tuple[list[Any], Selection]:
    arguments = {"freq": "1H", "prediction_length": 3, "run_id": RUN, "metric": "mean_wQuantileLoss"}
    return selected_rows(files(text), **{**arguments, "max_loss_ratio": 1.0, **options})


def test_each_series_is_written_from_its_own_source_in_manifest_order() -> None:
    rows, selection = select(MIXED)
    assert [(r.series_id, r.source, r.season) for r in rows] == [
        *[("a", MODEL, None)] * 3,
        *[("b", BASELINE, 24)] * 3,
    ]
    # a: the model's future (p50 100, 101, 102); b: the baseline's (p50 60, 61, 62, the mean +0.5)
    assert [(r.p10, r.p50, r.p90, r.mean) for r in rows[:2]] == [
        (99, 100, 101, 100.25),
        (100, 101, 102, 101.25),
    ]
    assert [(r.p10, r.p50, r.p90, r.mean) for r in rows[3:5]] == [(59, 60, 61, 60.5), (60, 61, 62, 61.5)]
    assert rows[3].forecast_time.isoformat() == "2024-01-05T10:00:00"  # start + length x step
    figures = selection.figures()
    assert figures["series"] == {MODEL: 1, BASELINE: 1}
    assert figures["reasons"] == {"model-won": 1, "baseline-won": 1}
    assert figures["written"]["loss"] < min(figures["model"]["loss"], figures["baseline"]["loss"])
    assert figures["model"]["points"] == figures["baseline"]["points"] == figures["written"]["points"] == 6


def test_the_run_figures_are_deepar_s_definitions_over_every_scored_series() -> None:
    _, selection = select(MIXED)
    figures = selection.figures()
    # the model: exact on a (p50 10, 11, 12), 5 off on b (p50 20, 21, 22 vs 25, 26, 27)
    assert figures["model"]["MAE"] == pytest.approx(15 / 6)
    # the baseline: 5 off on a, exact on b; the written mix: exact on both
    assert figures["baseline"]["MAE"] == pytest.approx(15 / 6) and figures["written"]["MAE"] == 0.0
    assert figures["written"]["MASE"] == 0.0 and figures["model"]["MASE"] == pytest.approx((0 + 2.5) / 2)
    assert figures["model"]["coverage"] == pytest.approx(0.5)  # band +-1: a inside, b outside
    wql = figures["model"]["wQuantileLoss"]
    assert (
        figures["model"]["loss"]
        == figures["model"]["mean_wQuantileLoss"]
        == pytest.approx(sum(wql.values()) / 3)
    )


def test_a_model_worse_everywhere_writes_every_series_from_the_baseline() -> None:
    everywhere = (
        baseline_line(LATER, LATER)
        + "\n"
        + baseline_line([25.0, 26.0, 27.0], [25.0, 26.0, 27.0], future=60.0)
        + "\n"
    )
    rows, selection = select(everywhere)
    assert {r.source for r in rows} == {BASELINE} and len(rows) == 6
    assert selection.figures()["series"] == {MODEL: 0, BASELINE: 2}


def test_series_the_model_does_not_see_keep_the_others_aligned() -> None:
    """A short series between two modelled ones: the transform's outputs hold two lines, the
    baseline file three; each modelled series gets its own model line."""
    doc = json.loads(TWO_SERIES)
    doc["series"].insert(1, {"id": "short", "start": "2024-01-02 00:00:00", "length": 2, "model": False})
    short = json.loads(baseline_line([None, None, None], [1.0, 1.0, 1.0], future=7.0))
    short["backtest"] = None
    three = MIXED.split("\n")[0] + "\n" + json.dumps(short) + "\n" + MIXED.split("\n")[1] + "\n"
    run = RunFiles(
        manifest=(json.dumps(doc), "s3://b/series.json"),
        future=(TWO_FORECASTS, "s3://b/transform/test.json.out"),
        backtest=(TWO_BACKTESTS, "s3://b/transform/train.json.out"),
        baseline=(three, "s3://b/baseline.json"),
    )
    rows, selection = selected_rows(
        run, freq="1H", prediction_length=3, run_id=RUN, metric="mean_wQuantileLoss", max_loss_ratio=1.0
    )
    by_series = {
        r.series_id: r
        for r in rows
        if r.forecast_time == min(x.forecast_time for x in rows if x.series_id == r.series_id)
    }
    assert (by_series["a"].source, by_series["a"].p50) == (MODEL, 100.0)  # model line 1
    assert (by_series["short"].source, by_series["short"].p50) == (BASELINE, 7.0)
    assert (by_series["b"].source, by_series["b"].p50) == (BASELINE, 60.0)  # b's own backtest lost
    assert selection.figures()["reasons"] == {"model-won": 1, "too-short": 1, "baseline-won": 1}
    with pytest.raises(MalformedForecast, match="line 3: unexpected"):  # a line per modelled series
        selected_rows(
            replace(run, future=(TWO_FORECASTS + TWO_FORECASTS.split("\n")[0], "f")),
            freq="1H",
            prediction_length=3,
            run_id=RUN,
            metric="MAE",
            max_loss_ratio=1.0,
        )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (baseline_line(ACTUAL, ACTUAL) + "\n", "s3://b/baseline.json line 2: missing"),
        (MIXED + MIXED, "s3://b/baseline.json line 3: unexpected"),
        ("{}\n" + MIXED.split("\n")[1], "s3://b/baseline.json line 1: 'actual' is not a list of"),
        (MIXED.replace('"season": 168', '"season": 0'), "line 1: 'season' 0 is not a positive integer"),
        (MIXED.replace("[15.0, 16.0, 17.0]", '[15.0, "x", 17.0]'), "line 1: 'backtest'['0.5'][1] = 'x'"),
        (MIXED.replace("[10.0, 11.0, 12.0]", '[10.0, "x", 12.0]'), "line 1: 'actual' holds a value"),
    ],
)
def test_a_malformed_baseline_file_names_the_file_and_line(text: str, problem: str) -> None:
    with pytest.raises(MalformedForecast, match=re.escape(problem)):
        select(text)


def test_a_malformed_backtest_names_its_file() -> None:
    with pytest.raises(MalformedForecast, match=re.escape("s3://b/transform/train.json.out line 2: missing")):
        selected_rows(
            files(MIXED, backtests=TWO_BACKTESTS.split("\n")[0]),
            freq="1H",
            prediction_length=3,
            run_id=RUN,
            metric="MAE",
            max_loss_ratio=1.0,
        )


# --------------------------------------------------------------------------- the write on MariaDB


def put(s3: Any, baselines: str) -> None:
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}transform/test.json.out", Body=TWO_FORECASTS.encode())
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}baseline.json", Body=baselines.encode())


def emf_lines(out: str) -> list[dict[str, Any]]:
    return [doc for doc in map(json.loads, filter(None, out.splitlines())) if "_aws" in doc]


@pytest.mark.mysql
def test_a_model_worse_everywhere_still_writes_every_series_and_reports_zero_on_the_model(
    s3_and_secret: Any,
    mysql_database: MySQLDatabase,
    write_forecast_handler: ModuleType,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The run succeeds, every series is written from the baseline (the view's readers see it), the
    runs table counts them, and the metric the alarm reads is 0."""
    b = [20.0, 26.0, 32.0]
    put(s3_and_secret, baseline_line(LATER, LATER) + "\n" + baseline_line(b, b))
    capsys.readouterr()
    result = write_forecast_handler.handler(write_event(quality=PASSED_QUALITY))
    assert result["rows"] == 6 and result["selection"]["series"] == {MODEL: 0, BASELINE: 2}
    (metrics,) = emf_lines(capsys.readouterr().out)
    assert metrics["SeriesOnModel"] == 0 and metrics["SeriesOnBaseline"] == 2
    assert metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"] == forecast_metrics.METRICS_NAMESPACE
    view = table_rows(mysql_database)
    assert [row[3] for row in view[:3]] == [50.0, 51.0, 52.0]  # the baseline's future p50
    assert {row[0]: row[7:] for row in _sources(mysql_database)} == {
        "a": ("seasonal-naive", 24),
        "b": ("seasonal-naive", 24),
    }
    (run,) = runs(mysql_database)
    assert (run["status"], run["series_model"], run["series_baseline"], run["selection_metric"]) == (
        "written",
        0,
        2,
        "mean_wQuantileLoss",
    )
    assert run["written_backtest_loss"] == run["baseline_backtest_loss"] < run["model_backtest_loss"]
    assert run["model_backtest_mae"] > run["baseline_backtest_mae"] == 0


def _sources(db: MySQLDatabase) -> list[tuple[Any, ...]]:
    return db.query(
        "SELECT series_id, forecast_time, p10, p50, p90, mean, run_id, source, season "
        "FROM `sales_forecast_rows` ORDER BY series_id, forecast_time"
    )


@pytest.mark.mysql
def test_a_re_run_with_another_choice_replaces_the_rows_and_the_counts(
    s3_and_secret: Any, mysql_database: MySQLDatabase, write_forecast_handler: ModuleType
) -> None:
    put(s3_and_secret, MIXED)
    write_forecast_handler.handler(write_event())
    first = _sources(mysql_database)
    write_forecast_handler.handler(write_event())  # the same run again: nothing changes
    assert [r[:9] for r in _sources(mysql_database)] == [r[:9] for r in first]
    assert [(r[0], r[7]) for r in first[::3]] == [("a", "model"), ("b", "seasonal-naive")]
    put(s3_and_secret, baseline_line(LATER, LATER) + "\n" + MIXED.split("\n")[1])  # now a is the baseline's
    write_forecast_handler.handler(write_event())
    assert [(r[0], r[7]) for r in _sources(mysql_database)[::3]] == [
        ("a", "seasonal-naive"),
        ("b", "seasonal-naive"),
    ]
    assert len(stored_rows(mysql_database)) == 6
    (run,) = runs(mysql_database)
    assert (run["series_model"], run["series_baseline"], run["rows_written"]) == (0, 2, 6)
    put(s3_and_secret, baseline_line([None, None, None], LATER) + "\n" + MIXED.split("\n")[1])
    write_forecast_handler.handler(write_event())  # a's window has nothing to score: the baseline
    (run,) = runs(mysql_database)
    assert (run["series_model"], run["series_baseline"], run["series_unscored"]) == (0, 2, 1)


@pytest.mark.mysql
def test_tables_of_the_earlier_version_get_the_new_columns_and_keep_their_rows(
    s3_and_secret: Any, mysql_database: MySQLDatabase, write_forecast_handler: ModuleType
) -> None:
    """Runs and rows tables made before per-series selection (without its columns) are altered in
    place on the next write; earlier rows read NULL as their source, and the view is unchanged."""
    earlier = repository(mysql_database)
    new = (*run_history.SELECTION_COLUMNS, *run_history.SOURCE_COLUMNS)
    for create in (earlier.create_runs_sql(), earlier.create_rows_sql()):
        lines = [line for line in create.splitlines() if not any(f"`{c}`" in line for c in new)]
        mysql_database.query("\n".join(lines))
    mysql_database.query(
        "INSERT INTO `sales_forecast_runs` (run_id, status, ended_at, rows_written) "
        "VALUES ('run-old', 'written', '2024-01-01 00:00:00', 1)"
    )
    mysql_database.query(
        "INSERT INTO `sales_forecast_rows` (run_id, series_id, forecast_time, p10, p50, p90, mean) "
        "VALUES ('run-old', 'z', '2030-01-01 00:00:00', 1, 2, 3, 2)"
    )
    put(s3_and_secret, MIXED)
    write_forecast_handler.handler(write_event())
    columns = {r[0] for r in mysql_database.query("SHOW COLUMNS FROM `sales_forecast_rows`")}
    assert set(run_history.SOURCE_COLUMNS) <= columns
    old = [r for r in _sources(mysql_database) if r[6] == "run-old"]
    assert [(r[0], r[3], r[7], r[8]) for r in old] == [("z", 2.0, None, None)]
    assert {r[0] for r in table_rows(mysql_database)} == {"a", "b", "z"}  # the view shows both runs
    assert {r["run_id"]: r["series_model"] for r in runs(mysql_database)} == {"run-old": None, RUN: 1}
