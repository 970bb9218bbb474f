"""The seasonal-naive baseline (baseline.py) and the metric definitions it uses (forecast_metrics.py).

Expected numbers are worked out by hand in each test; generate-dataset's use of them (manifest,
state, ``TEST_QUANTILES``) is tested in test_generate_dataset.py.
"""

from __future__ import annotations

import json
import math
from datetime import timedelta

import pytest
from baseline import BaselineScorer, score_baseline

import forecast_metrics as fm

HOUR, DAY, WEEK = timedelta(hours=1), timedelta(days=1), timedelta(weeks=1)

# --------------------------------------------------------------------------- season rule


@pytest.mark.parametrize(
    ("step", "history", "season"),
    [
        (HOUR, 336, 168),  # two weeks of hours: a week
        (HOUR, 335, 24),  # less: a day
        (HOUR, 48, 24),
        (HOUR, 47, 1),  # under two days: naive
        (HOUR, 1, 1),
        (timedelta(minutes=15), 1344, 672),
        (timedelta(minutes=15), 1343, 96),
        (timedelta(minutes=15), 192, 96),
        (timedelta(minutes=15), 191, 1),
        (DAY, 14, 7),
        (DAY, 13, 1),
        (timedelta(days=2), 1000, 1),  # between a day and a week: no candidate
        (WEEK, 1000, 1),
        (2 * WEEK, 1000, 1),
        (timedelta(hours=7), 48, 24),  # 7H divides a week (24 steps) but not a day
        (timedelta(hours=7), 47, 1),
        (timedelta(hours=5), 10_000, 1),  # divides neither
        (timedelta(hours=6), 8, 4),
    ],
)
def test_season_length(step: timedelta, history: int, season: int) -> None:
    assert fm.season_length(step, history) == season


# --------------------------------------------------------------------------- seasonal naive


def test_seasonal_naive_repeats_one_season_back_with_fallbacks() -> None:
    history = [1.0, None, 3.0, 4.0, 5.0, None, 7.0, 8.0]
    # h=1 -> [4] = 5; h=2 -> [5] missing, [1] missing: the last present value 8; h=3 -> [6] = 7;
    # h=4 -> [7] = 8; h=5 (past one season) -> [4] again; h=6 -> as h=2.
    assert fm.seasonal_naive(history, 6, 4) == [5.0, 8.0, 7.0, 8.0, 5.0, 8.0]
    assert fm.seasonal_naive([1.0, float("nan"), 3.0], 2, 1) == [3.0, 3.0]
    assert fm.seasonal_naive([2.0, None, None], 2, 1) == [2.0, 2.0]  # walks back to a value
    assert fm.seasonal_naive([None, None], 2, 1) == [None, None]
    assert fm.seasonal_naive([], 1, 1) == [None]
    assert fm.seasonal_naive([1.0], 0, 1) == []


@pytest.mark.parametrize(("horizon", "season"), [(1, 0), (-1, 1)])
def test_seasonal_naive_rejects_a_bad_season_or_horizon(horizon: int, season: int) -> None:
    with pytest.raises(ValueError, match="season must be >= 1 and horizon >= 0"):
        fm.seasonal_naive([1.0], horizon, season)


# --------------------------------------------------------------------------- metric definitions


def test_pinball_loss() -> None:
    assert fm.pinball(2.0, 0.1) == pytest.approx(0.2)  # under-forecast: tau * e
    assert fm.pinball(-2.0, 0.1) == pytest.approx(1.8)  # over-forecast: (tau - 1) * e
    assert fm.pinball(0.0, 0.9) == 0.0


def test_accuracy_with_quantile_forecasts() -> None:
    acc = fm.Accuracy(quantiles=("0.1", "0.9"))
    acc.add([10.0, None, 20.0], [12.0, 0.0, 18.0], {"0.1": [8.0, 0.0, 15.0], "0.9": [13.0, 0.0, 22.0]})
    # RMSE over errors -2, 2; sum |y| = 30. 0.1: e = 2, 5 -> 0.2 + 0.5; 0.9: e = -3, -2 -> 0.3 + 0.2.
    assert acc.metrics() == {
        "RMSE": pytest.approx(2.0),
        "MAE": pytest.approx(2.0),
        "wQuantileLoss": {"0.1": pytest.approx(1.4 / 30), "0.9": pytest.approx(1.0 / 30)},
        "mean_wQuantileLoss": pytest.approx(1.2 / 30),
        "coverage": 1.0,  # 10 in [8, 13], 20 in [15, 22]
        "points": 2,
    }


def test_accuracy_undefined_figures_are_none() -> None:
    empty = fm.Accuracy()
    assert empty.metrics() == {
        "RMSE": None,
        "MAE": None,
        "wQuantileLoss": {"0.1": None, "0.5": None, "0.9": None},
        "mean_wQuantileLoss": None,
        "coverage": None,
        "points": 0,
    }
    zeros = fm.Accuracy(quantiles=("0.5",))
    zeros.add([0.0, 0.0], [1.0, -1.0])  # sum |y| = 0: no weighted loss, but RMSE is defined
    assert zeros.metrics()["RMSE"] == pytest.approx(1.0)
    assert zeros.metrics()["wQuantileLoss"] == {"0.5": None}
    assert zeros.metrics()["mean_wQuantileLoss"] is None


def test_accuracy_rejects_bad_input() -> None:
    for quantiles in ((), ("0",), ("1.0",), ("nan",)):
        with pytest.raises(ValueError, match="quantiles must be a non-empty list of levels in"):
            fm.Accuracy(quantiles=quantiles)
    acc = fm.Accuracy()
    with pytest.raises(ValueError, match="a forecast has 1 steps, the window 2"):
        acc.add([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="step 0: the point forecast is missing"):
        acc.add([1.0], [None])
    acc.add([None], [None])  # a missing actual needs no forecast
    assert acc.points == 0


def test_accuracy_survives_overflowing_errors() -> None:
    acc = fm.Accuracy(quantiles=("0.5",))
    acc.add([1e300], [-1e300])  # ``** 2`` of the error raised OverflowError
    rmse = acc.metrics()["RMSE"]
    assert isinstance(rmse, float) and math.isinf(rmse)


def test_mase() -> None:
    history = [1.0, 3.0, None, 4.0, 8.0]  # lag-2 present pairs: (1, None) no, (3, 4) 1, (None, 8) no
    assert fm.seasonal_scale(history, 2) == pytest.approx(1.0)
    assert fm.mase([5.0, None], [3.0, 1.0], history, 2) == pytest.approx(2.0)
    assert fm.seasonal_scale([2.0, 2.0, 2.0], 1) is None  # all differences 0
    assert fm.seasonal_scale([1.0, 2.0], 2) is None  # no pair
    assert fm.mase([None], [1.0], [1.0, 2.0], 1) is None  # no present actual


# --------------------------------------------------------------------------- score_baseline


def test_score_baseline_hand_computed_with_gaps() -> None:
    # Season 4 (6H steps, 10 history points: a day of steps, not two weeks). p50 [9, 8 (one season
    # back from a gap), 4]; lag-4 errors 1, 1, 3, 1, 3 -> sorted 1, 1, 1, 3, 3: the 0.9 quantile
    # (position 3.6) is 3, the 0.1 (position 0.4) is 1 and so clamped to the median (+0).
    # Scored: 8 vs p50 9 / p90 12, and 6 vs 4 / 7; sum |y| = 14.
    target = [2.0, 4.0, 6.0, 8.0, 3.0, 5.0, 9.0, None, 4.0, 8.0, 8.0, None, 6.0]
    result = score_baseline([target], 3, timedelta(hours=6), ("0.5", "0.9"))
    figures = {
        "season": 4,
        # the selection loss: 2 x the mean pinball sum at 0.1 (p10 = p50: 0.9 + 0.2), 0.5 (0.5 + 1.0)
        # and 0.9 (0.4 + 0.1)
        "seasons": {"4": pytest.approx(2 * (1.1 + 1.5 + 0.5) / 3)},
        "RMSE": pytest.approx(2.5**0.5),
        "MAE": pytest.approx(1.5),
        "wQuantileLoss": {"0.5": pytest.approx(3 / 14), "0.9": pytest.approx(1 / 14)},
        "mean_wQuantileLoss": pytest.approx(2 / 14),
        "coverage": 0.5,  # 8 is outside [9, 12], 6 inside [4, 7]
        "MASE": pytest.approx(1.5 / 1.8),
        "points": 2,
    }
    assert result.series == (figures,)
    overall = {k: v for k, v in figures.items() if k not in ("season", "seasons")}
    assert result.overall == {
        "method": "seasonal_naive",
        "quantiles": ["0.5", "0.9"],
        "metric": "mean_wQuantileLoss",
        "season": 4,
        **overall,
    }


def test_score_baseline_overall_is_one_sum_and_mase_a_mean_of_the_defined() -> None:
    flat = [5.0, 5.0, 5.0, 6.0]  # naive 5 vs 6; its history never changes: MASE undefined
    ramp = [1.0, 2.0, 3.0, 3.0]  # naive 3 vs 3; lag-1 differences 1, 1: MASE 0
    result = score_baseline([flat, ramp], 1, HOUR, ("0.5",))
    assert [s["MASE"] for s in result.series] == [None, 0.0]
    assert [s["RMSE"] for s in result.series] == [1.0, 0.0]
    assert result.overall["RMSE"] == pytest.approx(0.5**0.5)  # errors 1 and 0 over 2 points
    assert result.overall["wQuantileLoss"] == {"0.5": pytest.approx(1 / 9)}  # 2 * 0.5 / (6 + 3)
    assert result.overall["MASE"] == 0.0
    assert score_baseline([flat], 1, HOUR).overall["MASE"] is None  # no series with a MASE
    assert result.overall["season"] == 1


def test_score_baseline_skips_a_series_without_history_values() -> None:
    result = score_baseline([[None, None, 1.0], [1.0, 2.0, 4.0]], 1, DAY, ("0.5",))
    assert result.series[0] == {
        "season": None,
        "seasons": {},
        "RMSE": None,
        "MAE": None,
        "wQuantileLoss": {"0.5": None},
        "mean_wQuantileLoss": None,
        "coverage": None,
        "MASE": None,
        "points": 0,
    }
    assert result.overall["points"] == 1 and result.overall["MAE"] == pytest.approx(2.0)
    assert result.overall["MASE"] == pytest.approx(2.0)


def test_score_baseline_is_json_safe_when_sums_overflow() -> None:
    result = score_baseline([[1.7e308, -1.7e308, 1.7e308, -1.7e308]], 1, HOUR)
    # Errors and sums overflow to infinity, their ratios to NaN: every such figure becomes None.
    assert result.series[0]["RMSE"] is None and result.series[0]["MAE"] is None
    assert all(v is None for v in result.overall["wQuantileLoss"].values())
    json.dumps([result.overall, result.series], allow_nan=False)


def test_a_target_without_a_backtest_window_gets_a_future_only() -> None:
    figures, line = BaselineScorer(2, HOUR).add([1.0, 3.0])  # 2 points: no history before a window
    assert (figures["season"], figures["points"], line["backtest"]) == (1, 0, None)
    assert line["actual"] == [None, None] and line["future"]["0.5"] == [3.0, 3.0]
    with pytest.raises(ValueError, match="prediction_length must be at least 1"):
        score_baseline([[1.0]], 0, HOUR)


def test_empirical_quantile_interpolates_between_order_statistics() -> None:
    assert fm.empirical_quantile([1.0, 2.0, 3.0, 4.0], 0.1) == pytest.approx(1.3)  # numpy's default
    assert fm.empirical_quantile([1.0, 2.0, 3.0, 4.0], 0.5) == pytest.approx(2.5)
    assert fm.empirical_quantile([5.0], 0.9) == 5.0
    with pytest.raises(ValueError, match="no values"):
        fm.empirical_quantile([], 0.5)


@pytest.mark.parametrize(
    ("step", "history", "seasons"),
    [(HOUR, 400, (168, 24)), (HOUR, 100, (24,)), (HOUR, 40, (1,)), (DAY, 20, (7,)), (DAY, 10, (1,))],
)
def test_season_candidates_need_two_seasons_of_history(
    step: timedelta, history: int, seasons: tuple[int, ...]
) -> None:
    assert fm.season_candidates(step, history) == seasons


def test_the_band_is_the_history_seasonal_errors_around_the_median() -> None:
    history = [1.0, 2.0, 1.0, 4.0, 1.0, 6.0]  # season 2: errors 0, 2, 0, 2 -> sorted 0, 0, 2, 2
    point, bands = fm.probabilistic_seasonal_naive(history, 2, 2, ("0.1", "0.5", "0.9"))
    assert point == [1.0, 6.0] == bands["0.5"]
    # 0.1 sits at 0.3 (between 0 and 0), 0.9 at 2.7 (between 2 and 2)
    assert bands["0.1"] == [1.0, 6.0] and bands["0.9"] == [3.0, 8.0]
    # a trend: errors 2, 2, 2, 2; the 0.1 quantile would be 2 above the median, so it is the median
    _, trend = fm.probabilistic_seasonal_naive([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 1, 2, ("0.1", "0.5", "0.9"))
    assert trend == {"0.1": [5.0], "0.5": [5.0], "0.9": [7.0]}
    flat_point, flat = fm.probabilistic_seasonal_naive([3.0, None], 1, 2, ("0.1", "0.9"))
    assert flat_point == [3.0] and flat == {"0.1": [3.0], "0.9": [3.0]}  # no seasonal error: no band


def _hourly(days: int, weekday_boost: float = 0.0, shift_from_day: int | None = None) -> list[float]:
    """Hourly values with a daily shape, a weekday boost, and a level shift of +30 from a day on."""
    return [
        10.0
        + (h % 24 in range(8, 18)) * 5
        + (h // 24 % 7 < 5) * weekday_boost
        + (30.0 if shift_from_day is not None and h // 24 >= shift_from_day else 0.0)
        for h in range(days * 24)
    ]


@pytest.mark.parametrize(
    ("target", "season"),
    [
        # weekdays differ from weekends: a day back misses every Monday and Saturday
        (_hourly(35, weekday_boost=20.0), 168),
        # the level rose the day before the window: a week back misses six days of it, a day back one
        (_hourly(35, shift_from_day=27), 24),
    ],
)
def test_each_series_takes_the_season_with_the_lower_backtest_loss(target: list[float], season: int) -> None:
    figures, line = BaselineScorer(168, HOUR).add(target)
    losses = {int(k): v for k, v in figures["seasons"].items()}
    assert set(losses) == {168, 24} and losses[season] < min(losses.values()) + 1e-12
    assert losses[season] < max(losses.values())
    assert figures["season"] == line["season"] == season


def test_a_tie_takes_the_longer_season_and_an_unscored_window_the_first() -> None:
    flat = [3.0] * (24 * 15)  # every candidate is exact: a tie
    figures, _ = BaselineScorer(24, HOUR).add(flat)
    assert figures["seasons"] == {"168": 0.0, "24": 0.0} and figures["season"] == 168
    gap = [1.0] * (24 * 15 - 24) + [None] * 24  # nothing to score in the window
    figures, line = BaselineScorer(24, HOUR).add(gap)
    assert figures["seasons"] == {"168": None, "24": None} and figures["season"] == 168
    assert line["actual"] == [None] * 24 and figures["points"] == 0


def test_the_line_holds_both_windows_at_the_written_quantiles() -> None:
    """Backtest from the history alone, the future from the whole series, p10 <= p50 <= p90, and
    the mean is the p50 plus the mean seasonal error."""
    target = [2.0, 4.0, 6.0, 8.0, 3.0, 5.0, 9.0, None, 4.0, 8.0, 8.0, None, 6.0]
    _, line = BaselineScorer(3, timedelta(hours=6), ("0.5",)).add(target)
    assert line["season"] == 4 and line["actual"] == [8.0, None, 6.0]
    assert line["backtest"] == {"0.1": [9.0, 8.0, 4.0], "0.5": [9.0, 8.0, 4.0], "0.9": [12.0, 11.0, 7.0]}
    # Whole series: p50 [4, 8, 8 (one season back from the gap at 11: index 7 is a gap too, so 3)]
    history = target
    point = [p for p in fm.seasonal_naive(history, 3, 4) if p is not None]
    errors = sorted(fm.seasonal_errors(history, 4))
    assert line["future"]["0.5"] == point
    assert line["future"]["0.9"] == [p + max(fm.empirical_quantile(errors, 0.9), 0.0) for p in point]
    assert line["future"]["0.1"] == [p + min(fm.empirical_quantile(errors, 0.1), 0.0) for p in point]
    assert line["future"]["mean"] == pytest.approx([p + sum(errors) / len(errors) for p in point])
    json.dumps(line, allow_nan=False)


def test_merged_sums_are_the_sums_of_both_windows_scored_at_once() -> None:
    first, second, both = (fm.Accuracy(quantiles=("0.1", "0.5")) for _ in range(3))
    bands = {"0.1": [0.0, 1.0], "0.5": [1.0, 2.0]}
    first.add([1.0, 3.0], [1.0, 2.0], bands)
    second.add([5.0, None], [4.0, 2.0], bands)
    both.add([1.0, 3.0, 5.0, None], [1.0, 2.0, 4.0, 2.0], {q: v + v for q, v in bands.items()})
    first.merge(second)
    assert first.metrics() == both.metrics()
    with pytest.raises(ValueError, match="cannot merge quantiles"):
        first.merge(fm.Accuracy(quantiles=("0.9",)))


@pytest.mark.parametrize(
    ("value", "expected"), [(2, 2.0), (1.5, 1.5), (True, None), (math.inf, None), ("1", None)]
)
def test_finite_keeps_finite_numbers_only(value: object, expected: float | None) -> None:
    assert fm.finite(value) == expected
