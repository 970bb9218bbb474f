"""generate-dataset's seasonal-naive baseline, as the handler writes it: the state's overall figures,
the manifest's per-series ones, and the baseline file."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest

from tests.forecast.generate_dataset_support import (
    hourly,
    put,
    read_manifest,
    run,
)

# --------------------------------------------------------------------------- seasonal-naive baseline

STATE_BASELINE_KEYS = {
    "method",
    "metric",
    "coverage",
    "quantiles",
    "season",
    "RMSE",
    "MAE",
    "wQuantileLoss",
    "mean_wQuantileLoss",
    "MASE",
    "points",
}


def six_hourly(values: Iterable[Any], series: str | None = None) -> list[str]:
    """CSV data lines at 6-hour steps from 2024-01-01 (a day is 4 steps, a week 28)."""
    return [
        ",".join([f"2024-01-{1 + i // 4:02d} {6 * (i % 4):02d}:00:00", "" if v is None else str(v)])
        + ("" if series is None else f",{series}")
        for i, v in enumerate(values)
    ]


def test_baseline_of_a_hand_computed_series_with_gaps(s3: Any) -> None:
    # 10 history points at 6H: at least 2 days (8 steps), under 2 weeks, so the season is a day, 4.
    history = [2, 4, 6, 8, 3, 5, 9, None, 4, 8]
    window = [8, None, 6]
    put(s3, "part-0.csv", six_hourly(history + window))

    result = run(s3, TIME_FREQ="6H", PREDICTION_LENGTH="3", CONTEXT_LENGTH="4")

    # Window step h repeats history[9 + h - 4]: h=1 -> [6] = 9; h=2 -> [7] is missing, so one season
    # earlier, [3] = 8; h=3 -> [8] = 4. Step 2's actual is missing: scored are 8 vs 9 (error -1) and
    # 6 vs 4 (error 2). sum |y| = 14. Lag-4 errors of the history's present pairs: 1, 1, 3, 1, 3 (the
    # gap breaks one), mean 9 / 5; sorted 1, 1, 1, 3, 3: the 0.9 quantile is 3 (p90 12, 7), the 0.1
    # quantile 1 is clamped to the median (p10 9, 4). Pinball sums: 0.1 -> 0.9 + 0.2; 0.5 -> 0.5 + 1;
    # 0.9 -> 0.4 + 0.1. The band [p10, p90] holds 6, not 8.
    figures = {
        "season": 4,
        "RMSE": pytest.approx((5 / 2) ** 0.5),
        "MAE": pytest.approx(1.5),
        "wQuantileLoss": {
            "0.1": pytest.approx(2.2 / 14),
            "0.5": pytest.approx(3 / 14),
            "0.9": pytest.approx(1 / 14),
        },
        "mean_wQuantileLoss": pytest.approx(6.2 / 42),
        "coverage": 0.5,
        "MASE": pytest.approx(1.5 / 1.8),
        "points": 2,
    }
    overall = {"method": "seasonal_naive", "quantiles": ["0.1", "0.5", "0.9"], "metric": "mean_wQuantileLoss"}
    assert result["baseline"] == {**overall, **figures}
    manifest = read_manifest(s3)
    seasons = {"4": pytest.approx(2 * (1.1 + 1.5 + 0.5) / 3)}
    assert manifest["baseline"] == {
        "overall": result["baseline"],
        "series": [{"id": "", **figures, "seasons": seasons}],
    }
    assert manifest["series"] == [{"id": "", "start": "2024-01-01 00:00:00", "length": 13, "model": True}]


def test_baseline_overall_and_per_series(s3: Any) -> None:
    header = "ts,sales,store"
    daily = [f"2024-01-{1 + i:02d}" for i in range(16)]
    a = [1, 2, 4, 5, 7]  # 3 history points: season 1; forecast 4, 4; errors 1, 3
    b = [10, 20, 30, 40, 50, 60, 70, 11, 21, 31, 41, 51, 61, 71, 12, 20]  # 14: season 7; 11, 21; 1, -1
    c = [None, None, None, 3, 4]  # no history value at all: no baseline
    rows = [f"{t},{v},a" for t, v in zip(daily, a, strict=False)]
    rows += [f"{t},{v},b" for t, v in zip(daily, b, strict=True)]
    rows += [f"{t},{'' if v is None else v},c" for t, v in zip(daily, c, strict=False)]
    put(s3, "part-0.csv", rows, header)

    result = run(s3, SERIES_COLUMN="store", TIME_FREQ="1D", PREDICTION_LENGTH="2", CONTEXT_LENGTH="3")

    nothing = {
        "RMSE": None,
        "MAE": None,
        "wQuantileLoss": dict.fromkeys(("0.1", "0.5", "0.9")),
        "mean_wQuantileLoss": None,
        "coverage": None,
        "MASE": None,
        "points": 0,
    }
    series = [
        {  # lag-1 errors 1, 2: p10 = p50 = 4 (0.1 clamped), p90 4 + 1.9; actuals 5, 7, sum |y| = 12.
            # Pinball sums 0.4, 2, 0.09 + 0.99; the band [4, 5.9] holds 5; MASE 2 / 1.5
            "id": "a",
            "season": 1,
            "seasons": {"1": pytest.approx(2 * (0.4 + 2 + 1.08) / 3)},
            "RMSE": pytest.approx(5**0.5),
            "MAE": pytest.approx(2.0),
            "wQuantileLoss": {
                "0.1": pytest.approx(0.8 / 12),
                "0.5": pytest.approx(4 / 12),
                "0.9": pytest.approx(2.16 / 12),
            },
            "mean_wQuantileLoss": pytest.approx(6.96 / 36),
            "coverage": 0.5,
            "MASE": pytest.approx(4 / 3),
            "points": 2,
        },
        {  # every lag-7 error is 1: p10 = p50 = 11, 21 and p90 12, 22; actuals 12, 20, sum |y| = 32.
            # Pinball sums 1, 1, 0.2; the band holds 12; MASE 1
            "id": "b",
            "season": 7,
            "seasons": {"7": pytest.approx(2 * 2.2 / 3)},
            "RMSE": pytest.approx(1.0),
            "MAE": pytest.approx(1.0),
            "wQuantileLoss": {
                "0.1": pytest.approx(2 / 32),
                "0.5": pytest.approx(2 / 32),
                "0.9": pytest.approx(0.4 / 32),
            },
            "mean_wQuantileLoss": pytest.approx(4.4 / 96),
            "coverage": 0.5,
            "MASE": pytest.approx(1.0),
            "points": 2,
        },
        {"id": "c", "season": None, "seasons": {}, **nothing},
    ]
    # Overall: one sum over a's and b's 4 points (sum |y| = 44), not a mean of the series' figures;
    # MASE is the mean of a's and b's; the seasons differ, so no one season.
    overall = {
        "method": "seasonal_naive",
        "quantiles": ["0.1", "0.5", "0.9"],
        "metric": "mean_wQuantileLoss",
        "season": None,
        "RMSE": pytest.approx(3**0.5),
        "MAE": pytest.approx(1.5),
        "wQuantileLoss": {
            "0.1": pytest.approx(2.8 / 44),
            "0.5": pytest.approx(6 / 44),
            "0.9": pytest.approx(2.56 / 44),
        },
        "mean_wQuantileLoss": pytest.approx(11.36 / 132),
        "coverage": 0.5,
        "MASE": pytest.approx((4 / 3 + 1) / 2),
        "points": 4,
    }
    assert result["baseline"] == overall
    assert read_manifest(s3)["baseline"] == {"overall": overall, "series": series}


def test_state_baseline_has_the_documented_shape_and_is_json(s3: Any) -> None:
    header = "ts,sales,store"
    rows = hourly("2024-01-01", [3, 1, 4, 1, 5, 9, 2, 6], "x") + hourly("2024-01-01", [2, 7, 1, 8, 2, 8], "y")
    put(s3, "part-0.csv", rows, header)

    result = run(s3, SERIES_COLUMN="store", TEST_QUANTILES="[0.25, 0.5, 0.75]")

    baseline = result["baseline"]
    assert set(baseline) == STATE_BASELINE_KEYS
    assert baseline["method"] == "seasonal_naive"
    assert baseline["quantiles"] == ["0.25", "0.5", "0.75"]
    assert list(baseline["wQuantileLoss"]) == baseline["quantiles"]
    assert baseline["season"] == 1
    figures = [baseline[name] for name in ("RMSE", "MAE", "mean_wQuantileLoss", "MASE")]
    assert all(type(value) is float for value in [*figures, *baseline["wQuantileLoss"].values()])
    assert type(baseline["points"]) is int and baseline["points"] == 4
    assert json.loads(json.dumps(result, allow_nan=False)) == result
    assert "series" not in baseline  # per-series figures stay in the manifest
    assert len(read_manifest(s3)["baseline"]["series"]) == 2


def test_state_baseline_stays_small_at_a_thousand_series(s3: Any) -> None:
    rows = [
        line
        for i in range(1000)
        for line in hourly("2024-01-01", [i, i + 1, i + 3, i + 2, i, i + 1], f"s{i:04d}")
    ]
    put(s3, "part-0.csv", rows, "ts,sales,store")
    result = run(s3, SERIES_COLUMN="store")
    assert len(json.dumps(result["baseline"])) < 1000
    assert len(read_manifest(s3)["baseline"]["series"]) == 1000


def test_baseline_values_are_json_safe_when_sums_overflow(s3: Any) -> None:
    put(s3, "part-0.csv", hourly("2024-01-01", [1e300, -1e300, 1e300, -1e300, 1e300, -1e300]))
    result = run(s3)  # forecast -1e300 twice; errors 2e300 and 0: squared, the sum is infinite
    assert result["baseline"]["RMSE"] is None
    assert result["baseline"]["MAE"] == pytest.approx(1e300)
    json.dumps(result, allow_nan=False)
    json.dumps(read_manifest(s3), allow_nan=False)
