"""generate-dataset's settings (its environment) and its regularizing properties."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta

import csv_input
import dataset
import dataset_config
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_rules import MAX_FORECAST_NAME_PREFIX
from tests.forecast.generate_dataset_support import (
    NAME,
    env,
)

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
