"""The DeepAR quality benchmark's data and goals (it measures; training itself is not run here)."""

from __future__ import annotations

import importlib.util
import re
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from benchmarks import deepar_quality as bench
from tests.ci import on_ci

HAVE_VEGA = importlib.util.find_spec("vega_datasets") is not None
if not HAVE_VEGA and on_ci():
    raise RuntimeError("CI is set but vega_datasets is missing: `make setup` installs requirements-demo.txt")

GOOD = bench.Row("demo", "shipped", 60.0, 0.9, 0.8, -1.0, 0.5, 0.02, 0.03)
BAD_FIT = bench.Row("demo", "bad-fit", 5.0, 20.0, 0.5, -100.0, -60.0, 0.4, 0.03)


def test_rows_that_meet_the_goals_pass() -> None:
    assert bench.goals([GOOD, BAD_FIT, replace(GOOD, setting="before", mae_ratio=3.0)]) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mae_ratio": 1.01}, r"1\.01x seasonal naive"),
        ({"coverage": 0.69}, "covers 69%"),
        ({"coverage": 0.91}, "covers 91%"),
        ({"seconds": 90.5}, "training took 90 s"),
    ],
)
def test_the_shipped_setting_must_beat_naive_cover_the_band_and_train_in_time(
    change: dict[str, float], message: str
) -> None:
    (missed,) = bench.goals([replace(GOOD, **change)])  # type: ignore[arg-type]
    assert missed.startswith("demo, shipped: ") and re.search(message, missed)


def test_a_bad_fit_that_the_gate_would_pass_is_a_missed_goal() -> None:
    (missed,) = bench.goals([replace(BAD_FIT, model_loss=0.045)])
    assert "within 1.5x naive's 0.030" in missed


def test_the_before_setting_restores_gluonts_lags_and_unpadded_windows_off() -> None:
    from localrun.deepar_local import training

    with bench.BEFORE.applied():
        assert training.training_min_past(839, [1680], 168) == 0
        assert max(training.lags_for("1h")) == 721
    assert training.training_min_past(839, [1680], 168) == 839
    assert max(training.lags_for("1h")) == 168


@pytest.mark.skipif(not HAVE_VEGA, reason="needs requirements-demo.txt (vega_datasets)")
def test_seattle_temps_is_a_whole_year_of_hours_with_the_missing_hour_kept_missing() -> None:
    start, values = bench.seattle_temps()
    assert start == datetime(2010, 1, 1) and len(values) == 8760
    assert values.count(None) == 1
    assert all(v is None or -10.0 < v < 110.0 for v in values)  # degrees Fahrenheit
    demo_start, demo = bench.demo()
    assert len(demo) == 10 * 7 * 24 and demo_start + len(demo) * timedelta(hours=1) == datetime(2026, 11, 22)
