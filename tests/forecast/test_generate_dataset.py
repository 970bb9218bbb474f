"""generate-dataset: Glue CSV parts in S3 -> DeepAR train/test JSON Lines + series manifest.

Over 400 lines: one documented rule of dataset.py per test, read against its docstring.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import csv_input
import dataset
import dataset_config
import pytest
import run_paths
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

from pipeline_rules import MAX_FORECAST_NAME_PREFIX

BUCKET = "forecast-test-bucket"
RUN_ID = "jr_0123456789abcdef"
EXECUTION = "glue-run-7f3a_0123456789abcdef"
INPUT = f"etl/sales/run={RUN_ID}/"
NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
RESULT_KEYS = {
    "run_id",
    "run_prefix",
    "input_uri",
    "train_uri",
    "test_uri",
    "series_uri",
    "baseline_uri",
    "model_output_uri",
    "transform_input_uri",
    "transform_output_uri",
    "backtest_uri",
    "forecast_uri",
    "training_job_name",
    "model_name",
    "transform_job_name",
    "series_count",
    "model_series_count",
    "points",
    "baseline",
}


def env(**overrides: str) -> dict[str, str]:
    values = {
        "BUCKET_NAME": BUCKET,
        "ETL_PREFIX": "etl/sales/",
        "WORK_PREFIX": "forecast/",
        "TIMESTAMP_COLUMN": "ts",
        "VALUE_COLUMN": "sales",
        "SERIES_COLUMN": "",
        "TIME_FREQ": "1H",
        "PREDICTION_LENGTH": "2",
        "CONTEXT_LENGTH": "4",
        "NAME_PREFIX": "forecast",
    }
    values.update(overrides)
    return values


def glue_event(run_id: str = RUN_ID, state: str = "SUCCEEDED") -> dict[str, Any]:
    return {
        "version": "0",
        "detail-type": "Glue Job State Change",
        "source": "aws.glue",
        "detail": {"jobName": "forecast-etl", "jobRunId": run_id, "state": state, "severity": "INFO"},
    }


def hourly(start: str, values: Iterable[Any], series: str | None = None) -> list[str]:
    """CSV data lines ``ts,sales[,series]`` at consecutive hours from ``start``."""
    t0 = datetime.fromisoformat(start)
    lines = []
    for i, v in enumerate(values):
        cells = [(t0 + timedelta(hours=i)).strftime("%Y-%m-%d %H:%M:%S"), "" if v is None else str(v)]
        if series is not None:
            cells.append(series)
        lines.append(",".join(cells))
    return lines


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def put(s3: Any, name: str, lines: list[str], header: str = "ts,sales") -> str:
    key = INPUT + name
    s3.put_object(Bucket=BUCKET, Key=key, Body=("\n".join([header, *lines]) + "\n").encode())
    return key


def read_jsonl(s3: Any, key: str) -> list[dict[str, Any]]:
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines()]


def run(s3: Any, **overrides: str) -> dict[str, Any]:
    return dataset.generate_dataset(s3, dataset.Config.from_env(env(**overrides)), RUN_ID, EXECUTION)


# --------------------------------------------------------------------------- handler and contract


def test_handler_writes_train_test_manifest_and_returns_the_contract(
    s3: Any, generate_dataset_handler: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env().items():
        monkeypatch.setenv(name, value)
    rows = hourly("2024-03-01 00:00:00", [1, 2, 3, 4, 5, 6, 7, 8])
    del rows[3]  # a gap at 03:00
    put(s3, "part-00001-abc-c000.csv", rows[4:])  # later hours in the first-sorted part...
    put(s3, "part-00000-abc-c000.csv", list(reversed(rows[:4])))  # ...and unsorted rows
    s3.put_object(Bucket=BUCKET, Key=INPUT + "_SUCCESS", Body=b"")
    s3.put_object(Bucket=BUCKET, Key=INPUT + "notes.txt", Body=b"not,csv\n")
    s3.put_object(Bucket=BUCKET, Key=INPUT + "_temporary/0/part-9.csv", Body=b"ts,sales\nbad,bad\n")

    result = generate_dataset_handler.handler({"event": glue_event(), "execution_name": EXECUTION})

    assert set(result) == RESULT_KEYS
    run_prefix = f"forecast/{EXECUTION}/"
    base = f"s3://{BUCKET}/{run_prefix}"
    assert result["run_id"] == EXECUTION
    assert result["run_prefix"] == run_prefix
    assert result["input_uri"] == f"s3://{BUCKET}/{INPUT}"
    assert result["train_uri"] == base + "data/train.json"
    assert result["test_uri"] == base + "data/test.json"
    assert result["series_uri"] == base + "series.json"
    assert result["baseline_uri"] == base + "baseline.json"
    assert result["model_output_uri"] == base + "model/"
    # one transform job over data/ forecasts both files, each output named after its input
    assert result["transform_input_uri"] == base + "data/"
    assert result["transform_output_uri"] == base + "transform/"
    assert result["backtest_uri"] == base + "transform/train.json.out"
    assert result["forecast_uri"] == base + "transform/test.json.out"
    assert result["series_count"] == 1
    assert result["points"] == 8
    for key in ("training_job_name", "model_name", "transform_job_name"):
        assert NAME.fullmatch(result[key]) and len(result[key]) <= 63 and result[key] == result[key].lower()
    assert len({result["training_job_name"], result["model_name"], result["transform_job_name"]}) == 3

    target = [1.0, 2.0, 3.0, "NaN", 5.0, 6.0, 7.0, 8.0]
    assert read_jsonl(s3, run_prefix + "data/test.json") == [
        {"start": "2024-03-01 00:00:00", "target": target}
    ]
    assert read_jsonl(s3, run_prefix + "data/train.json") == [
        {"start": "2024-03-01 00:00:00", "target": target[:-2]}
    ]
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=run_prefix + "series.json")["Body"].read())
    assert manifest["series"] == [{"id": "", "start": "2024-03-01 00:00:00", "length": 8, "model": True}]
    assert manifest["freq"] == "1H" and manifest["prediction_length"] == 2

    # Baseline: 6 history points, so season 1 (naive): both window steps repeat 6.0; actuals 7 and 8,
    # sum |y| = 15. The history's present lag-1 errors are 1, 1, 1 (the gap breaks two pairs), so
    # p10 = p50 = 6 (a quantile never crosses the median) and p90 = 7.
    expected = {
        "method": "seasonal_naive",
        "quantiles": ["0.1", "0.5", "0.9"],
        "metric": "mean_wQuantileLoss",
        "season": 1,
        "RMSE": pytest.approx((5 / 2) ** 0.5),
        "MAE": pytest.approx(1.5),
        "wQuantileLoss": {
            "0.1": pytest.approx(0.6 / 15),
            "0.5": pytest.approx(3 / 15),
            "0.9": pytest.approx(1.8 / 15),
        },
        "mean_wQuantileLoss": pytest.approx(5.4 / 45),
        "coverage": 0.5,
        "MASE": pytest.approx(1.5),
        "points": 2,
    }
    assert result["baseline"] == expected
    assert manifest["baseline"]["overall"] == result["baseline"]
    per_series = {k: v for k, v in expected.items() if k not in ("method", "quantiles", "metric")}
    seasons = {"1": pytest.approx(2 * (0.3 + 1.5 + 0.9) / 3)}
    assert manifest["baseline"]["series"] == [{"id": "", **per_series, "seasons": seasons}]
    (line,) = read_jsonl(s3, run_prefix + "baseline.json")
    assert line == {
        "season": 1,
        "losses": seasons,
        "actual": [7.0, 8.0],
        "scale": 1.0,  # the history's mean |lag-1 difference|, MASE's denominator
        "backtest": {"0.1": [6.0, 6.0], "0.5": [6.0, 6.0], "0.9": [7.0, 7.0]},
        # the future from all 8 points: errors 1 x 5, so p90 = 9, the mean 8 + 1
        "future": {"0.1": [8.0, 8.0], "0.5": [8.0, 8.0], "0.9": [9.0, 9.0], "mean": [9.0, 9.0]},
    }


def test_result_is_deterministic_and_json_serializable(s3: Any) -> None:
    put(s3, "part-0.csv", hourly("2024-01-01 00:00:00", range(6)))
    first, second = run(s3), run(s3)
    assert first == second
    assert json.loads(json.dumps(first)) == first


def test_multiple_series_are_ordered_by_id_with_their_own_starts(s3: Any) -> None:
    header = "ts,sales,store"
    put(s3, "part-0.csv", hourly("2024-01-02 05:00:00", [10, 11, 12, 13, 14, 15, 16], "b"), header)
    put(s3, "part-1.csv", hourly("2024-01-01 00:00:00", [1, 2, 3, 4, 5, 6], "a"), header)
    put(s3, "part-2.csv", hourly("2024-01-01 00:00:00", [7, 7, 7, 7, 7, 7], "B"), header)

    result = run(s3, SERIES_COLUMN="store")

    assert result["series_count"] == 3
    assert result["points"] == 7
    prefix = f"forecast/{EXECUTION}/"
    test = read_jsonl(s3, prefix + "data/test.json")
    train = read_jsonl(s3, prefix + "data/train.json")
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=prefix + "series.json")["Body"].read())
    assert [s["id"] for s in manifest["series"]] == ["B", "a", "b"]  # plain string order
    assert [s["start"] for s in manifest["series"]] == [t["start"] for t in test]
    assert [s["length"] for s in manifest["series"]] == [len(t["target"]) for t in test] == [6, 6, 7]
    assert test[2] == {"start": "2024-01-02 05:00:00", "target": [10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0]}
    assert [len(t["target"]) for t in train] == [4, 4, 5]


def test_timestamps_with_utc_offsets_are_converted_to_utc(s3: Any) -> None:
    lines = [
        "2024-01-01T02:00:00+02:00,1",  # 00:00 UTC
        "2024-01-01T01:00:00Z,2",
        "2024-01-01 02:00:00,3",  # naive: UTC
        "2023-12-31T22:00:00-05:00,4",  # 03:00 UTC
        "2024-01-01T04:00:00.250+00:00,5",  # fractional seconds are dropped
        "2024-01-01T10:30:00+05:30,6",  # 05:00 UTC
    ]
    put(s3, "part-0.csv", lines)
    run(s3)
    test = read_jsonl(s3, f"forecast/{EXECUTION}/data/test.json")
    assert test == [{"start": "2024-01-01 00:00:00", "target": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}]


def test_gaps_and_empty_values_become_nan(s3: Any) -> None:
    lines = hourly("2024-01-01 00:00:00", [1, None, 3, 4, 5, 6, 7])
    del lines[4]  # 04:00 has no row at all
    lines.append("2024-01-01 07:00:00,nan")
    put(s3, "part-0.csv", lines)
    run(s3)
    test = read_jsonl(s3, f"forecast/{EXECUTION}/data/test.json")
    assert test[0]["target"] == [1.0, "NaN", 3.0, 4.0, "NaN", 6.0, 7.0, "NaN"]


def test_off_grid_timestamps_are_floored_to_the_grid(s3: Any) -> None:
    lines = ["2024-01-01 00:00:00,1", "2024-01-01 01:59:59,2", "2024-01-01 02:10:00,3"]
    lines += hourly("2024-01-01 03:00:00", [4, 5, 6])
    put(s3, "part-0.csv", lines)
    run(s3)
    test = read_jsonl(s3, f"forecast/{EXECUTION}/data/test.json")
    assert test[0]["target"] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


@pytest.mark.parametrize(
    ("freq", "timestamps", "target"),
    [
        ("15min", ["2024-01-01 00:00", "2024-01-01 00:15", "2024-01-01 00:45"], [1.0, 2.0, "NaN", 3.0]),
        ("D", ["2024-01-01", "2024-01-02 13:00", "2024-01-04"], [1.0, 2.0, "NaN", 3.0]),
        ("2W", ["2024-01-01", "2024-01-20", "2024-02-12"], [1.0, 2.0, "NaN", 3.0]),
    ],
)
def test_other_frequencies(s3: Any, freq: str, timestamps: list[str], target: list[Any]) -> None:
    put(s3, "part-0.csv", [f"{t},{i}" for i, t in enumerate(timestamps, start=1)])
    run(s3, TIME_FREQ=freq, CONTEXT_LENGTH="2", PREDICTION_LENGTH="1")
    assert read_jsonl(s3, f"forecast/{EXECUTION}/data/test.json")[0]["target"] == target


def test_gzipped_parts_are_read(s3: Any) -> None:
    body = "ts,sales\n" + "\n".join(hourly("2024-01-01 00:00:00", [1, 2, 3, 4, 5, 6])) + "\n"
    s3.put_object(Bucket=BUCKET, Key=INPUT + "part-0.csv.gz", Body=gzip.compress(body.encode()))
    assert run(s3)["points"] == 6


def test_extra_columns_quotes_and_a_bom_are_fine(s3: Any) -> None:
    lines = [f'"2024-01-01 0{h}:00:00",{h},"x, y"' for h in range(6)]
    body = "\ufeffts,sales,note\n" + "\n".join(lines) + "\n"
    s3.put_object(Bucket=BUCKET, Key=INPUT + "part-0.csv", Body=body.encode())
    assert run(s3)["points"] == 6


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


def read_manifest(s3: Any) -> dict[str, Any]:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=f"forecast/{EXECUTION}/series.json")["Body"].read())


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


# --------------------------------------------------------------------------- named errors


def test_duplicate_timestamps_are_rejected_naming_the_first_duplicate(s3: Any) -> None:
    lines = hourly("2024-01-01 00:00:00", [1, 2, 3, 4, 5, 6])
    put(s3, "part-0.csv", lines)
    put(s3, "part-1.csv", ["2024-01-01T04:00:00+01:00,9", "2024-01-01 05:00:00,8"])  # 03:00 UTC
    with pytest.raises(dataset.DuplicateTimestamps, match=r"2024-01-01 03:00:00") as info:
        run(s3)
    assert type(info.value).__name__ == "DuplicateTimestamps"
    assert "part-0.csv line 5" in str(info.value) and "part-1.csv line 2" in str(info.value)


def test_duplicate_within_one_series_only(s3: Any) -> None:
    header = "ts,sales,store"
    put(
        s3,
        "part-0.csv",
        hourly("2024-01-01", [1, 2, 3, 4, 5, 6], "a") + hourly("2024-01-01", [1] * 6, "b"),
        header,
    )
    assert run(s3, SERIES_COLUMN="store")["series_count"] == 2
    put(s3, "part-1.csv", ["2024-01-01 02:00:00,5,b"], header)
    with pytest.raises(dataset.DuplicateTimestamps, match=r"series 'b' .*2024-01-01 02:00:00"):
        run(s3, SERIES_COLUMN="store")


def test_rows_floored_into_one_slot_are_duplicates(s3: Any) -> None:
    put(s3, "part-0.csv", [*hourly("2024-01-01", [1, 2, 3, 4, 5, 6]), "2024-01-01 01:30:00,7"])
    with pytest.raises(dataset.DuplicateTimestamps, match=r"2024-01-01 01:00:00.*01:30:00"):
        run(s3)


def test_a_series_too_short_for_the_model_gets_the_baseline_alone(s3: Any) -> None:
    """The model's files hold the series long enough for it; the shorter one is in the manifest
    (model false) and the baseline file, with its future from every point, and no backtest."""
    header = "ts,sales,store"
    put(s3, "part-0.csv", hourly("2024-01-01", [1, 2, 3, 4, 5, 6], "long"), header)
    put(s3, "part-1.csv", hourly("2024-01-01", [1, 2, 3, 4, 5], "mid"), header)
    put(s3, "part-2.csv", hourly("2024-01-01", [7, 9], "tiny"), header)
    result = run(s3, SERIES_COLUMN="store")
    assert (result["series_count"], result["model_series_count"]) == (3, 1)
    prefix = f"forecast/{EXECUTION}/"
    assert [line["target"] for line in read_jsonl(s3, prefix + "data/test.json")] == [[1, 2, 3, 4, 5, 6]]
    manifest = read_manifest(s3)
    assert [(s["id"], s["length"], s["model"]) for s in manifest["series"]] == [
        ("long", 6, True),
        ("mid", 5, False),
        ("tiny", 2, False),
    ]
    long, mid, tiny = read_jsonl(s3, prefix + "baseline.json")
    assert long["backtest"] is not None and mid["backtest"] is not None  # mid: 3 history points
    # tiny has no backtest window (2 points, PREDICTION_LENGTH 2): its future repeats its last
    # value (season 1), its band from its one error, 2
    assert tiny["backtest"] is None and tiny["actual"] == [None, None]
    assert tiny["future"] == {"0.1": [9.0, 9.0], "0.5": [9.0, 9.0], "0.9": [11.0, 11.0], "mean": [11.0, 11.0]}
    # the overall figures are the long series' only, like DeepAR's test metrics
    assert result["baseline"]["points"] == 2


def test_no_series_long_enough_raises_not_enough_history(s3: Any) -> None:
    header = "ts,sales,store"
    put(s3, "part-0.csv", hourly("2024-01-01", [1, 2, 3], "a"), header)
    put(s3, "part-1.csv", hourly("2024-01-01", [1, 2, 3, 4, 5], "short"), header)
    with pytest.raises(dataset.NotEnoughHistory) as info:
        run(s3, SERIES_COLUMN="store")
    message = str(info.value)
    assert message.startswith("no series is long enough for the model: the longest, series 'short',")
    assert "5 points" in message and "6 needed" in message
    assert not s3.list_objects_v2(Bucket=BUCKET, Prefix="forecast/").get("Contents")  # nothing written


def test_missing_column_names_the_column_and_file(s3: Any) -> None:
    put(s3, "part-0.csv", hourly("2024-01-01", [1, 2, 3, 4, 5, 6]))
    with pytest.raises(
        dataset_config.MissingColumn, match=rf"'store'.*s3://{BUCKET}/{re.escape(INPUT)}part-0.csv"
    ):
        run(s3, SERIES_COLUMN="store")
    with pytest.raises(dataset_config.MissingColumn, match=r"'amount'"):
        run(s3, VALUE_COLUMN="amount")


def test_no_parts_raises_no_input_data_naming_the_prefix(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key=INPUT + "_SUCCESS", Body=b"")
    other_run = "etl/sales/run=jr_other/part-0.csv"  # another run's data is not this run's input
    s3.put_object(Bucket=BUCKET, Key=other_run, Body=b"ts,sales\n2024-01-01,1\n")
    with pytest.raises(dataset.NoInputData, match=re.escape(f"no CSV part under s3://{BUCKET}/{INPUT}")):
        run(s3)


def test_header_only_parts_raise_no_input_data(s3: Any) -> None:
    put(s3, "part-0.csv", [])
    s3.put_object(Bucket=BUCKET, Key=INPUT + "part-1.csv", Body=b"")
    with pytest.raises(dataset.NoInputData, match=r"2 CSV part\(s\).*no data rows"):
        run(s3)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("2024-01-01 06:00:00,abc", r"sales 'abc' is not a finite number"),
        ("2024-01-01 06:00:00,inf", r"sales 'inf' is not a finite number"),
        ("yesterday,1", r"ts 'yesterday' is not an ISO 8601 timestamp"),
        (",1", r"ts '' is not an ISO 8601 timestamp"),
        ("2024-01-01 06:00:00", r"expected at least 2 fields"),
    ],
)
def test_bad_rows_name_file_and_line(s3: Any, line: str, problem: str) -> None:
    put(s3, "part-0.csv", [*hourly("2024-01-01", [1, 2, 3, 4, 5, 6]), line])
    with pytest.raises(dataset.InvalidInputData, match=rf"part-0.csv line 8: {problem}"):
        run(s3)


def test_empty_series_id_is_rejected(s3: Any) -> None:
    put(s3, "part-0.csv", ["2024-01-01 00:00:00,1,"], "ts,sales,store")
    with pytest.raises(dataset.InvalidInputData, match=r"line 2: store is empty"):
        run(s3, SERIES_COLUMN="store")


def test_a_whitespace_only_series_id_is_rejected(s3: Any) -> None:
    put(s3, "part-0.csv", ["2024-01-01 00:00:00,1,  "], "ts,sales,store")
    with pytest.raises(dataset.InvalidInputData, match=r"line 2: store is only whitespace \('  '\)"):
        run(s3, SERIES_COLUMN="store")


def test_series_ids_keep_leading_and_trailing_spaces(s3: Any) -> None:
    rows = hourly("2024-01-01 00:00:00", range(6), "a") + hourly("2024-01-01 00:00:00", range(6), " a")
    put(s3, "part-0.csv", rows, "ts,sales,store")
    run(s3, SERIES_COLUMN="store")
    manifest = json.loads(
        s3.get_object(Bucket=BUCKET, Key=f"forecast/{EXECUTION}/series.json")["Body"].read()
    )
    assert [s["id"] for s in manifest["series"]] == [" a", "a"]


def test_ids_differing_only_in_trailing_spaces_are_rejected(s3: Any) -> None:
    rows = hourly("2024-01-01 00:00:00", range(6), "a") + hourly("2024-01-01 00:00:00", range(6), "a  ")
    put(s3, "part-0.csv", rows, "ts,sales,store")
    with pytest.raises(dataset.InvalidInputData, match=r"'a' and 'a  ' differ only in trailing spaces"):
        run(s3, SERIES_COLUMN="store")


def test_a_runaway_timestamp_is_rejected_before_allocating(s3: Any) -> None:
    put(s3, "part-0.csv", [*hourly("2024-01-01", [1, 2, 3, 4, 5, 6]), "9999-01-01 00:00:00,1"])
    with pytest.raises(dataset.InvalidInputData, match=r"9999-01-01 00:00:00 .*line 8.*TIME_FREQ"):
        run(s3)


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        (glue_event(state="FAILED"), "'FAILED', not SUCCEEDED"),
        (glue_event(run_id="jr_../../x"), "jobRunId"),
        (glue_event(run_id="jr_1\n"), "jobRunId"),
        ({"detail-type": "Glue Job State Change"}, "no 'detail'"),
    ],
)
def test_bad_events_raise_invalid_event(event: dict[str, Any], problem: str) -> None:
    with pytest.raises(dataset_config.InvalidEvent, match=re.escape(problem)):
        run_paths.job_run_id_from_event(event)


def test_handler_rejects_a_payload_without_execution_name(generate_dataset_handler: ModuleType) -> None:
    with pytest.raises(dataset_config.InvalidEvent):
        generate_dataset_handler.handler({"event": glue_event()})


@pytest.mark.parametrize("name", ["", "has space", "a" * 81, "x/y", "run-1\n"])
def test_bad_execution_names_are_rejected(name: str) -> None:
    with pytest.raises(dataset_config.InvalidEvent):
        run_paths.validate_run_key(name)


# --------------------------------------------------------------------------- configuration


def test_bad_freq_from_the_environment() -> None:
    with pytest.raises(dataset_config.ConfigurationError, match=r"TIME_FREQ '1M'"):
        dataset.Config.from_env(env(TIME_FREQ="1M"))


def test_defaults() -> None:
    values = env()
    for name in ("TIME_FREQ", "PREDICTION_LENGTH", "CONTEXT_LENGTH", "SERIES_COLUMN"):
        del values[name]
    config = dataset.Config.from_env(values)
    assert (config.freq, config.prediction_length, config.context_length, config.series_column) == (
        "1H",
        168,
        672,
        None,
    )
    assert config.test_quantiles == ("0.1", "0.5", "0.9")
    assert dataset.Config.from_env(env(TEST_QUANTILES="  ")).test_quantiles == ("0.1", "0.5", "0.9")


@pytest.mark.parametrize(
    ("raw", "quantiles"),
    [
        ('["0.1", "0.5", "0.9"]', ("0.1", "0.5", "0.9")),
        ("[0.1, 0.5, 0.9]", ("0.1", "0.5", "0.9")),  # numbers become DeepAR's string keys
        ('[0.9, "0.10", 0.50]', ("0.9", "0.1", "0.5")),  # shortest form, order kept
        ("[0.25, 1e-3]", ("0.25", "0.001")),
    ],
)
def test_test_quantiles_are_read_as_deepar_keys(raw: str, quantiles: tuple[str, ...]) -> None:
    assert dataset.Config.from_env(env(TEST_QUANTILES=raw)).test_quantiles == quantiles


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("0.1,0.5", "is not JSON"),
        ("[0.1, 0.5", "is not JSON"),
        ("[]", "non-empty JSON list"),
        ('"0.5"', "non-empty JSON list"),
        ('{"0.5": 1}', "non-empty JSON list"),
        ("[0, 0.5]", "item 0 (0) is not a level in (0, 1)"),
        ("[0.5, 1]", "item 1 (1) is not a level in (0, 1)"),
        ('["0.5", "1.5"]', "item 1 ('1.5') is not a level in (0, 1)"),
        ("[-0.1]", "item 0 (-0.1) is not a level in (0, 1)"),
        ('["NaN"]', "item 0 ('NaN') is not a level in (0, 1)"),
        ("[NaN]", "item 0 (nan) is not a level in (0, 1)"),
        ('["p50"]', "item 0 ('p50') is not a number"),
        ('[""]', "item 0 ('') is not a number"),
        ("[true]", "item 0 (True) is not a number or a numeric string"),
        ("[null]", "item 0 (None) is not a number or a numeric string"),
        ("[[0.5]]", "item 0 ([0.5]) is not a number or a numeric string"),
        ('["0.5", 0.50]', "item 1 (0.5) repeats the level 0.5"),
    ],
)
def test_bad_test_quantiles_name_the_setting(raw: str, problem: str) -> None:
    with pytest.raises(dataset_config.ConfigurationError, match=re.escape(problem)) as info:
        dataset.Config.from_env(env(TEST_QUANTILES=raw))
    assert str(info.value).startswith(f"TEST_QUANTILES {raw!r} ")


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("BUCKET_NAME", "", "BUCKET_NAME is not set"),
        ("BUCKET_NAME", "Bad_Bucket", "not a valid S3 bucket name"),
        ("ETL_PREFIX", "etl/sales", "ending with '/'"),
        ("WORK_PREFIX", "/forecast/", "relative S3 key prefix"),
        ("PREDICTION_LENGTH", "0", "at least 1"),
        ("CONTEXT_LENGTH", "many", "not an integer"),
        ("NAME_PREFIX", "Forecast", "lowercase"),
        ("NAME_PREFIX", "a" * 37, "at most 36"),
        ("TIMESTAMP_COLUMN", " ", "TIMESTAMP_COLUMN is not set"),
        ("SERIES_COLUMN", "ts", "must be distinct"),
        ("SERIES_COLUMN", "TS", "must be distinct (case-insensitively)"),
        ("VALUE_COLUMN", "sales$", "VALUE_COLUMN 'sales$' must be 1-64 letters, digits or '_'"),
        ("BUCKET_NAME", "a..b", "two adjacent dots"),
    ],
)
def test_bad_configuration(name: str, value: str, problem: str) -> None:
    with pytest.raises(dataset_config.ConfigurationError, match=re.escape(problem)):
        dataset.Config.from_env(env(**{name: value}))


@pytest.mark.parametrize("prefix", ["Forecast", "forecast\n", "-forecast", "a" * 37])
def test_job_names_reject_a_bad_prefix(prefix: str) -> None:
    with pytest.raises(dataset_config.ConfigurationError, match="NAME_PREFIX"):
        dataset.job_names(prefix, "run-1")


def test_job_names_fit_sagemaker_limits_at_the_longest_prefix() -> None:
    prefix = "p" * MAX_FORECAST_NAME_PREFIX
    names = dataset.job_names(prefix, "x" * 80)
    assert len(names["transform_job_name"]) == 63
    assert all(NAME.fullmatch(n) and len(n) <= 63 for n in names.values())
    assert dataset.job_names("forecast", "run-1") == dataset.job_names("forecast", "run-1")
    assert dataset.job_names("forecast", "run-1") != dataset.job_names("forecast", "run-2")
    assert dataset.job_names("forecast", "run-1")["model_name"].startswith("forecast-model-")


# --------------------------------------------------------------------------- properties


@given(
    slots=st.dictionaries(
        st.integers(min_value=0, max_value=200),
        st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False, width=32)),
        min_size=1,
        max_size=40,
    ),
    jitter=st.integers(min_value=0, max_value=3599),
    step_hours=st.integers(min_value=1, max_value=24),
)
def test_regularize_puts_every_value_in_its_slot(
    slots: dict[int, float | None], jitter: int, step_hours: int
) -> None:
    step = timedelta(hours=step_hours)
    first = min(slots)
    start = datetime(2024, 1, 1) + first * step
    rows = dataset.SeriesRows()  # the compact per-series storage the reader fills, out of order
    for i, (slot, value) in enumerate(reversed(list(slots.items()))):
        jitter_here = timedelta(seconds=jitter % step.total_seconds()) if slot != first else timedelta()
        moment = start + (slot - first) * step + jitter_here
        rows.add(csv_input.epoch_seconds(moment), math.nan if value is None else value, 0, i)
    series = dataset.regularize("s", rows, step, ["mem"])
    assert series.start == start
    assert len(series.target) == max(slots) - first + 1
    expected: list[float | None] = [None] * len(series.target)
    for slot, value in slots.items():
        expected[slot - first] = value
    assert [None if math.isnan(v) else v for v in series.target] == expected
