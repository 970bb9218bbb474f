"""generate-dataset: Glue CSV parts in S3 -> DeepAR train/test JSON Lines + series manifest.

One documented rule of dataset.py per test, read against its docstring; the baseline and the
settings have their own modules.
"""

from __future__ import annotations

import gzip
import json
import re
from types import ModuleType
from typing import Any

import dataset
import dataset_config
import pytest
import run_paths

from tests.forecast.generate_dataset_support import (
    BUCKET,
    EXECUTION,
    INPUT,
    NAME,
    RESULT_KEYS,
    env,
    glue_event,
    hourly,
    put,
    read_jsonl,
    read_manifest,
    run,
)

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
