"""write-forecast's rows: the transform output and the manifest, parsed and validated (no database)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import forecast_repository
import forecast_rows
import pytest
from forecast_repository import MySQLForecastRepository
from forecast_rows import MalformedForecast
from hypothesis import given
from hypothesis import strategies as st

from tests.forecast.write_forecast_support import (
    FORECAST_URI,
    MALFORMED,
    RUN,
    SERIES_URI,
    TWO_FORECASTS,
    TWO_SERIES,
    forecast_line,
    manifest,
)

# --------------------------------------------------------------------------- parsing and rows (pure)


def test_rows_have_timestamps_after_each_series_end() -> None:
    rows = forecast_rows.forecast_rows(
        TWO_SERIES, SERIES_URI, TWO_FORECASTS, FORECAST_URI, freq="1H", prediction_length=3, run_id=RUN
    )
    assert [(r.series_id, r.forecast_time) for r in rows] == [
        ("a", datetime(2024, 1, 1, 10)),
        ("a", datetime(2024, 1, 1, 11)),
        ("a", datetime(2024, 1, 1, 12)),
        ("b", datetime(2024, 1, 5, 10)),
        ("b", datetime(2024, 1, 5, 11)),
        ("b", datetime(2024, 1, 5, 12)),
    ]
    first = rows[0]
    assert (first.p10, first.p50, first.p90, first.mean, first.run_id) == (99.0, 100.0, 101.0, 100.25, RUN)
    assert rows[4].p50 == 201.0


def test_single_series_id_is_the_empty_string_and_daily_steps() -> None:
    doc = manifest([("", "2024-02-27 00:00:00", 2)], freq="1D", prediction_length=2)
    rows = forecast_rows.forecast_rows(
        doc, "m", forecast_line(1, n=2), "f", freq="1D", prediction_length=2, run_id=RUN
    )
    assert [(r.series_id, r.forecast_time) for r in rows] == [
        ("", datetime(2024, 2, 29)),
        ("", datetime(2024, 3, 1)),
    ]


def test_a_null_series_id_in_the_manifest_means_single_series() -> None:
    doc = json.dumps({"series": [{"id": None, "start": "2024-01-01 00:00:00", "length": 1}]})
    assert forecast_rows.parse_manifest(doc, "m").series[0].series_id == ""


@given(
    length=st.integers(min_value=1, max_value=10_000),
    minutes=st.sampled_from([1, 15, 60, 360, 1440, 10080]),
    k=st.integers(min_value=0, max_value=499),
)
def test_point_k_is_start_plus_length_plus_k_steps(length: int, minutes: int, k: int) -> None:
    start = datetime(2023, 12, 31, 23, 0)
    info = forecast_rows.SeriesInfo("s", start, length)
    n = k + 1
    forecast = forecast_rows.SeriesForecast([0.0] * n, [1.0] * n, [2.0] * n, [1.5] * n)
    rows = forecast_rows.build_rows([info], [forecast], timedelta(minutes=minutes), RUN)
    assert rows[k].forecast_time == start + (length + k) * timedelta(minutes=minutes)


@pytest.mark.parametrize(("text", "problem"), MALFORMED)
def test_malformed_forecast_names_file_and_line(text: str, problem: str) -> None:
    with pytest.raises(MalformedForecast) as info:
        forecast_rows.forecast_rows(
            TWO_SERIES, SERIES_URI, text, FORECAST_URI, freq="1H", prediction_length=3, run_id=RUN
        )
    assert type(info.value).__name__ == "MalformedForecast"
    assert str(info.value).startswith(f"{FORECAST_URI} line ")
    assert problem in str(info.value)


@pytest.mark.parametrize(
    "doc",
    [
        "{}",
        "not json",
        json.dumps({"series": []}),
        json.dumps({"series": [{"id": "a", "start": "2024-01-01", "length": 3}]}),
        json.dumps({"series": [{"id": "a", "start": "2024-01-01 00:00:00", "length": 0}]}),
        json.dumps({"series": [{"id": 7, "start": "2024-01-01 00:00:00", "length": 3}]}),
        json.dumps({"series": [{"id": "x" * 256, "start": "2024-01-01 00:00:00", "length": 3}]}),
    ],
)
def test_malformed_manifest(doc: str) -> None:
    with pytest.raises(MalformedForecast, match=f"series manifest {SERIES_URI} is malformed"):
        forecast_rows.parse_manifest(doc, SERIES_URI)


def test_manifest_built_with_other_settings_is_a_configuration_error() -> None:
    with pytest.raises(forecast_rows.ConfigurationError, match=r"TIME_FREQ is '1D' but .* built with '1H'"):
        forecast_rows.forecast_rows(
            TWO_SERIES, SERIES_URI, TWO_FORECASTS, FORECAST_URI, freq="1D", prediction_length=3, run_id=RUN
        )
    with pytest.raises(forecast_rows.ConfigurationError, match=r"PREDICTION_LENGTH is 4 but"):
        forecast_rows.forecast_rows(
            TWO_SERIES, SERIES_URI, TWO_FORECASTS, FORECAST_URI, freq="60min", prediction_length=4, run_id=RUN
        )


@pytest.mark.parametrize(
    "name", ["", "1table", "sales-forecast", "a`b", "t; DROP TABLE x", "db.t", "x" * 65, "forecast\n"]
)
def test_table_names_are_validated(name: str) -> None:
    with pytest.raises(forecast_rows.ConfigurationError, match="FORECAST_TABLE"):
        forecast_repository.validate_table_name(name)


def test_upsert_statement_is_one_multi_row_insert() -> None:
    def never_called() -> Any:
        raise AssertionError("no connection needed")

    repo = MySQLForecastRepository(never_called, "Sales_Forecast_2")
    sql = repo.upsert_sql(3)
    assert sql.startswith("INSERT INTO `Sales_Forecast_2_rows` (")
    assert sql.count("%s") == 3 * len(forecast_repository.COLUMNS)
    assert "ON DUPLICATE KEY UPDATE" in sql and "`created_at` = " not in sql.split("UPDATE")[1]
