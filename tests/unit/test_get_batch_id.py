"""get-batch-id: good and bad partition names, and processing job names."""

from __future__ import annotations

import re

import pytest

from tests.lambda_loader import load

batch = load("get_batch_id", "batch_id")
handler = load("get_batch_id")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("meta-data/partition_2333.csv", 2333),
        ("meta-data/partition_0.csv", 0),
        ("meta-data/partition_007.csv", 7),
        ("meta-data/my_long_name_42.csv", 42),
        ("meta-data/sub/dir/part_1.csv", 1),
        ("meta-data/my file(2)_12.csv", 12),
        ("partition_5.CSV", 5),
        ("meta-data/x_999999999999999999.csv", 999_999_999_999_999_999),
    ],
)
def test_good_names(key: str, expected: int) -> None:
    assert batch.batch_id(key) == expected


@pytest.mark.parametrize(
    "key",
    [
        "meta-data/partition.csv",
        "meta-data/partition_.csv",
        "meta-data/partition_abc.csv",
        "meta-data/partition_-1.csv",
        "meta-data/partition_1.5.csv",
        "meta-data/partition_1e3.csv",
        "meta-data/_12.csv",
        "meta-data/partition_١٢.csv",
        "meta-data/partition_ 12.csv",
        "meta-data/x_1000000000000000000.csv",
        "meta-data/",
        "",
    ],
)
def test_bad_names_raise_named_error_naming_the_key(key: str) -> None:
    with pytest.raises(batch.InvalidPartitionName) as err:
        batch.batch_id(key)
    assert type(err.value).__name__ == "InvalidPartitionName"
    assert repr(key) in str(err.value)


def test_handler_returns_batch_id_and_job_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOB_NAME_PREFIX", "standardize")
    out = handler.handler({"key": "meta-data/partition_2333.csv", "execution_name": "exec-1"})
    assert out["batch_id"] == 2333
    assert out["job_name"].startswith("standardize-2333-")
    assert out == handler.handler({"key": "meta-data/partition_2333.csv", "execution_name": "exec-1"})
    other = handler.handler({"key": "meta-data/partition_2333.csv", "execution_name": "exec-2"})
    assert other["job_name"] != out["job_name"]


def test_job_name_fits_sagemaker_limits_at_the_extremes() -> None:
    name = batch.processing_job_name("a" * 24, 999_999_999_999_999_999, "e" * 80)
    assert len(name) <= 63
    assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name)
    assert name == name.lower()
