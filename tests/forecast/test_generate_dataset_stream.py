"""generate-dataset at scale: parts read as streams into compact storage, the InputTooLarge check
before reading, and the streamed uploads (dataset.py's "Memory" rule, streams.py)."""

from __future__ import annotations

import gzip
import io
import json
import math
import random
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import csv_input
import dataset
import dataset_config
import pytest
import streams
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from tests.forecast.test_generate_dataset import (
    BUCKET,
    EXECUTION,
    INPUT,
    env,
    glue_event,
    hourly,
    put,
    read_jsonl,
    run,
)

HEADER = "ts,sales,store"
TEST_KEY = f"forecast/{EXECUTION}/data/test.json"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def uri(name: str) -> str:
    return f"s3://{BUCKET}/{INPUT}{name}"


# --------------------------------------------------------------------------- streaming across parts


def test_rows_of_a_series_spread_over_parts_out_of_order(s3: Any) -> None:
    a = hourly("2024-01-01 00:00:00", [1, 2, 3, 4, 5, 6, 7, 8], "a")
    b = hourly("2024-01-01 03:00:00", [10, 11, 12, 13, 14, 15], "b")
    put(s3, "part-00000.csv", [a[7], b[5], a[0], a[3]], HEADER)  # the first part holds a's last hour
    body = "\n".join([HEADER, b[0], a[6], b[2], a[1]]) + "\n"
    s3.put_object(Bucket=BUCKET, Key=INPUT + "part-00001.csv.gz", Body=gzip.compress(body.encode()))
    put(s3, "part-00002.csv", [a[5], b[4], b[1], a[2], b[3]], HEADER)  # a[4] (04:00) is a gap

    result = run(s3, SERIES_COLUMN="store")

    assert result["series_count"] == 2 and result["points"] == 8
    assert read_jsonl(s3, TEST_KEY) == [
        {"start": "2024-01-01 00:00:00", "target": [1.0, 2.0, 3.0, 4.0, "NaN", 6.0, 7.0, 8.0]},
        {"start": "2024-01-01 03:00:00", "target": [10.0, 11.0, 12.0, 13.0, 14.0, 15.0]},
    ]


def test_off_grid_rows_across_parts_floor_to_the_earliest_rows_grid(s3: Any) -> None:
    put(s3, "part-0.csv", ["2024-01-01 02:30:00,3", "2024-01-01 01:59:00,2", "2024-01-01 05:20:00,6"])
    put(s3, "part-1.csv", ["2024-01-01 03:20:00,4", "2024-01-01 04:15:00,5"])
    put(s3, "part-2.csv", ["2024-01-01T01:15:00+01:00,1"])  # 00:15 UTC, the earliest row, last part
    run(s3)
    assert read_jsonl(s3, TEST_KEY) == [
        {"start": "2024-01-01 00:15:00", "target": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}
    ]


def test_duplicates_across_parts_name_both_files_and_lines_earlier_first(s3: Any) -> None:
    put(s3, "part-0.csv", hourly("2024-01-01 00:00:00", [1, 2, 3, 4, 5, 6], "a"), HEADER)
    put(s3, "part-1.csv", hourly("2024-01-01 00:00:00", [7, 7, 7, 7, 7, 7], "b"), HEADER)
    # b's 02:40 row, in the last part, floors into the slot of its 02:00 row in part-1 (line 4).
    put(s3, "part-2.csv", ["2024-01-01 09:00:00,1,a", "2024-01-01 02:40:00,9,b"], HEADER)
    with pytest.raises(dataset.DuplicateTimestamps) as info:
        run(s3, SERIES_COLUMN="store")
    assert str(info.value) == (
        "series 'b' has more than one row for 2024-01-01 02:00:00: "
        f"2024-01-01 02:00:00 ({uri('part-1.csv')} line 4) and "
        f"2024-01-01 02:40:00 ({uri('part-2.csv')} line 3)"
    )


def test_a_duplicate_whose_earlier_row_is_in_the_later_part(s3: Any) -> None:
    put(s3, "part-0.csv", ["2024-01-01 03:30:00,4", *hourly("2024-01-01 04:00:00", [5, 6])])
    put(s3, "part-1.csv", hourly("2024-01-01 00:00:00", [1, 2, 3, 4]))
    with pytest.raises(dataset.DuplicateTimestamps) as info:
        run(s3)
    assert str(info.value) == (
        "the series has more than one row for 2024-01-01 03:00:00: "
        f"2024-01-01 03:00:00 ({uri('part-1.csv')} line 5) and "
        f"2024-01-01 03:30:00 ({uri('part-0.csv')} line 2)"
    )


def test_equal_timestamps_in_two_parts_are_named_in_part_order(s3: Any) -> None:
    put(s3, "part-1.csv", ["2024-01-01 02:00:00,9"])
    put(s3, "part-0.csv", hourly("2024-01-01 00:00:00", [1, 2, 3, 4, 5, 6]))
    with pytest.raises(dataset.DuplicateTimestamps, match=re.escape(f"({uri('part-0.csv')} line 4) and")):
        run(s3)


@settings(max_examples=25, deadline=None)
@given(
    data=st.dictionaries(
        st.tuples(st.sampled_from(["a", "b", " c"]), st.integers(min_value=0, max_value=40)),
        st.one_of(st.none(), st.integers(min_value=-1000, max_value=1000)),
        min_size=1,
        max_size=60,
    ),
    parts=st.integers(min_value=1, max_value=4),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_any_split_and_order_of_the_rows_gives_the_same_dataset(
    data: dict[tuple[str, int], int | None], parts: int, seed: int
) -> None:
    t0 = datetime(2024, 1, 1)
    rows = [
        f"{t0 + timedelta(hours=hour):%Y-%m-%d %H:%M:%S},{'' if value is None else value},{series}"
        for (series, hour), value in data.items()
    ]
    random.Random(seed).shuffle(rows)
    expected = []
    for series in sorted({series for series, _ in data}):
        hours = {hour: value for (sid, hour), value in data.items() if sid == series}
        first = min(hours)
        target = [hours.get(h) for h in range(first, max(hours) + 1)]
        expected.append(
            {
                "start": f"{t0 + timedelta(hours=first):%Y-%m-%d %H:%M:%S}",
                "target": ["NaN" if v is None else float(v) for v in target],
            }
        )
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        for i in range(parts):
            put(client, f"part-{i}.csv", rows[i::parts], HEADER)
        try:
            run(client, SERIES_COLUMN="store", CONTEXT_LENGTH="1", PREDICTION_LENGTH="1")
        except dataset.NotEnoughHistory:
            assert all(len(e["target"]) < 2 for e in expected)  # none is long enough for the model
            return
        # the model's files hold the series long enough for it (2 points), in id order
        assert read_jsonl(client, TEST_KEY) == [e for e in expected if len(e["target"]) >= 2]


# --------------------------------------------------------------------------- compact storage


def test_a_row_is_stored_in_24_bytes() -> None:
    rows = dataset.SeriesRows()
    rows.add(0, 1.0, 0, 2)
    arrays = (rows.seconds, rows.values, rows.parts, rows.lines)
    assert sum(a.itemsize for a in arrays) == 24 and len(rows) == 1


def test_a_regular_series_keeps_its_value_array_as_the_target() -> None:
    rows = dataset.SeriesRows()
    for i in range(5):
        rows.add(3600 * i, float(i), 0, i + 2)
    series = dataset.regularize("s", rows, timedelta(hours=1), ["mem"])
    assert series.target is rows.values and series.start == datetime(1970, 1, 1)


def test_epoch_seconds_round_trip_across_the_calendar() -> None:
    for moment in (datetime(1, 1, 1), datetime(1969, 12, 31, 23, 59, 59), datetime(9999, 12, 31, 23)):
        assert dataset.from_epoch(csv_input.epoch_seconds(moment)) == moment


def test_read_rows_yields_epoch_seconds_and_nan_for_missing() -> None:
    text = ["ts,sales,store", "2024-01-01T00:00:00Z,1.5,a", "2024-01-01 00:00:00,,b", "", "1970-01-01,NaN,a"]
    rows = list(csv_input.read_rows(text, "mem", "ts", "sales", "store"))
    assert [(r[0], r[1], r[3]) for r in rows] == [("a", 1704067200, 2), ("b", 1704067200, 3), ("a", 0, 5)]
    assert rows[0][2] == 1.5 and all(r[2] != r[2] for r in rows[1:])


def test_a_part_that_is_not_utf8_names_the_file_and_the_last_line(s3: Any) -> None:
    body = "ts,sales\n" + "\n".join(hourly("2024-01-01", [1, 2, 3])) + "\n"
    s3.put_object(Bucket=BUCKET, Key=INPUT + "part-0.csv", Body=body.encode() + b"\xff\xfe,1\n")
    with pytest.raises(
        dataset.InvalidInputData, match=rf"{re.escape(uri('part-0.csv'))} line 5: is not UTF-8"
    ):
        run(s3)


def test_the_undecodable_line_is_found_across_blocks() -> None:
    text = b"\xef\xbb\xbfts,sales\n" + b"2024-01-01 00:00:00,1\n" * 10_000 + b"2024-01-01,\xc3\n"
    assert csv_input.undecodable_line(io.BytesIO(text)) == 10_002
    assert csv_input.undecodable_line(io.BytesIO(text[:-3])) == 0


def test_an_undecodable_line_in_a_gzip_part_is_named(s3: Any) -> None:
    body = b"ts,sales\n" + "\n".join(hourly("2024-01-01", range(5000))).encode() + b"\n\xff,1\n"
    s3.put_object(Bucket=BUCKET, Key=INPUT + "part-0.csv.gz", Body=gzip.compress(body))
    with pytest.raises(dataset.InvalidInputData, match=r"part-0.csv.gz line 5002: is not UTF-8 text"):
        run(s3)


def test_a_corrupt_gzip_part_names_the_file(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key=INPUT + "part-0.csv.gz", Body=b"not gzip at all, just text\n")
    with pytest.raises(dataset.InvalidInputData, match=r"part-0.csv.gz: is not gzip-compressed CSV"):
        run(s3)


# --------------------------------------------------------------------------- InputTooLarge


def need_mb(size: int) -> int:
    """The memory the check asks for ``size`` bytes of CSV: 96 MB + uploads + 1.5 x the input."""
    mib = size / 2**20
    return 96 + min(64, math.ceil(mib)) + math.ceil(1.5 * mib)


def too_large(memory_mb: int) -> int:
    """The smallest whole number of MiB (in bytes) the check rejects at ``memory_mb``."""
    mib = 1
    while need_mb(mib * 2**20) <= memory_mb:
        mib += 1
    return mib * 2**20


def test_the_rule_admits_about_this_much_at_each_memory() -> None:
    assert [too_large(m) // 2**20 for m in (128, 1024, 10240)] == [13, 577, 6721]
    assert all(csv_input.memory_needed(n) == need_mb(n) for n in (0, 1, 2**20, 10**8, 7 * 10**9))


def test_input_too_large_fails_before_reading_naming_size_memory_and_setting(s3: Any) -> None:
    junk = b"this is never read\n" * (20 * 2**20 // 19)  # 20 MiB, not even CSV: it is not read
    s3.put_object(Bucket=BUCKET, Key=INPUT + "part-0.csv", Body=junk)
    with pytest.raises(dataset_config.InputTooLarge) as info:
        run(s3, AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128")
    message = str(info.value)
    assert f"the input under s3://{BUCKET}/{INPUT} is 20 MiB of CSV in 1 part(s)" in message
    assert f"which needs about {need_mb(len(junk))} MB of memory (96 MB for the runtime" in message
    assert "the function has 128 MB (AWS_LAMBDA_FUNCTION_MEMORY_SIZE)" in message
    assert f"raise the setting forecast.generateDataset.memoryMb to at least {need_mb(len(junk))}" in message
    assert not s3.list_objects_v2(Bucket=BUCKET, Prefix="forecast/").get("Contents")  # nothing written


def test_gzip_parts_count_their_uncompressed_size(s3: Any) -> None:
    text = ("ts,sales\n" + "\n".join(hourly("2024-01-01", range(300_000))) + "\n").encode()  # 8 MB
    packed = gzip.compress(text)
    for i in range(3):
        s3.put_object(Bucket=BUCKET, Key=INPUT + f"part-{i}.csv.gz", Body=packed)
    assert len(packed) * 3 < too_large(128) < len(text) * 3  # too large only when counted unpacked
    with pytest.raises(
        dataset_config.InputTooLarge, match=rf"is 23 MiB of CSV in 3 part.* {need_mb(3 * len(text))} MB"
    ):
        run(s3, AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128")


def test_an_input_that_fits_passes_the_check(s3: Any) -> None:
    put(s3, "part-0.csv", hourly("2024-01-01", [1, 2, 3, 4, 5, 6]))
    assert run(s3, AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128")["points"] == 6


def test_no_memory_variable_means_no_check(s3: Any) -> None:
    assert dataset.Config.from_env(env()).memory_mb is None
    assert dataset.Config.from_env(env(AWS_LAMBDA_FUNCTION_MEMORY_SIZE="1769")).memory_mb == 1769
    with pytest.raises(dataset_config.ConfigurationError, match="AWS_LAMBDA_FUNCTION_MEMORY_SIZE 'lots'"):
        dataset.Config.from_env(env(AWS_LAMBDA_FUNCTION_MEMORY_SIZE="lots"))


def test_the_handler_raises_input_too_large_under_the_lambda_runtime_variable(
    s3: Any, generate_dataset_handler: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env(AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128").items():
        monkeypatch.setenv(name, value)
    s3.put_object(Bucket=BUCKET, Key=INPUT + "part-0.csv", Body=b"x" * too_large(128))
    with pytest.raises(dataset_config.InputTooLarge) as info:
        generate_dataset_handler.handler({"event": glue_event(), "execution_name": EXECUTION})
    assert type(info.value).__name__ == "InputTooLarge"


def test_beyond_lambdas_largest_memory_the_advice_is_a_smaller_export() -> None:
    with pytest.raises(
        dataset_config.InputTooLarge, match=r"more than Lambda's 10240 MB: export fewer series"
    ):
        csv_input.check_input_size(8 * 2**30, 1, 10240, "s3://b/in/")
    csv_input.check_input_size(2**20, 1, None, "s3://b/in/")  # no memory known: no check


class TailClient:
    """Answers the ranged GET of a gzip part's last 4 bytes with a given ISIZE."""

    def __init__(self, isize: int) -> None:
        self.isize = isize
        self.ranges: list[str] = []

    def get_object(self, *, Bucket: str, Key: str, Range: str) -> dict[str, Any]:
        self.ranges.append(Range)

        class Body:
            @staticmethod
            def read() -> bytes:
                return self.isize.to_bytes(4, "little")

        return {"Body": Body()}


@pytest.mark.parametrize(
    ("size", "isize", "expected"),
    [
        (1000, 50_000, 50_000),
        (5 * 2**30, 123, 2 * 2**32 + 123),  # ISIZE wraps at 4 GiB: the smallest size >= the packed one
        (2**32, 2**32 - 1, 2**32 - 1 + 2**32),
    ],
)
def test_gzip_size_comes_from_the_isize_trailer(size: int, isize: int, expected: int) -> None:
    client = TailClient(isize)
    assert csv_input.input_bytes(client, BUCKET, csv_input.CsvPart("p.csv.gz", size)) == expected
    assert client.ranges == ["bytes=-4"]
    assert csv_input.input_bytes(client, BUCKET, csv_input.CsvPart("p.csv", size)) == size


# --------------------------------------------------------------------------- streamed uploads


def test_chunk_reader_returns_exactly_what_is_asked_until_the_end() -> None:
    reader = streams.ChunkReader(iter([b"abc", b"", b"defgh", b"ij"]))
    assert reader.readable() and not reader.seekable()
    assert [reader.read(4), reader.read(4), reader.read(4), reader.read(4)] == [b"abcd", b"efgh", b"ij", b""]
    assert reader.bytes_read == 10
    assert streams.ChunkReader([b"ab", b"cd"]).read() == b"abcd"


def test_a_large_body_goes_up_in_parts_and_arrives_whole(s3: Any) -> None:
    lines = [(json.dumps({"i": i, "pad": "x" * 200}) + "\n").encode() for i in range(50_000)]  # 10.5 MB
    made: list[int] = []

    def chunks() -> Iterator[bytes]:
        for i, line in enumerate(lines):
            made.append(i)
            yield line

    size = streams.upload_chunks(s3, BUCKET, "out/big.json", chunks(), "application/jsonlines")
    assert size == sum(map(len, lines)) > streams.CHUNK_BYTES
    got = s3.get_object(Bucket=BUCKET, Key="out/big.json")
    assert got["ContentType"] == "application/jsonlines"
    assert got["Body"].read() == b"".join(lines)
    assert "-" in got["ETag"]  # a multipart upload's ETag: <md5 of the parts' md5s>-<parts>


def test_train_test_and_baseline_are_uploaded_as_streams(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, str]] = []
    original = streams.upload_chunks

    def spy(client: Any, bucket: str, key: str, chunks: Any, content_type: str) -> int:
        seen.append((key.rsplit("/", 1)[1], type(chunks).__name__))
        return original(client, bucket, key, chunks, content_type)

    monkeypatch.setattr(dataset, "upload_chunks", spy)
    put(s3, "part-0.csv", hourly("2024-01-01", [1, 2, 3, 4, 5, 6]))
    run(s3)
    assert seen == [("train.json", "generator"), ("test.json", "generator"), ("baseline.json", "generator")]
