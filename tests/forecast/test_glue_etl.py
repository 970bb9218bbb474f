"""The Glue ETL script's plain functions (no Spark, no awsglue)."""

from __future__ import annotations

import importlib
import importlib.util
import io
import re
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import csv_input
import pytest
from hypothesis import given
from hypothesis import strategies as st

from processing import glue_etl
from processing.glue_etl import ColumnSpec, JobArgumentError

GLUE_ARGV = [
    "glue_etl.py",
    "--JOB_ID",
    "j_0123",
    "--JOB_RUN_ID",
    "jr_abc123",
    "--job-bookmark-option",
    "job-bookmark-disable",
    "--TempDir",
    "s3://assets/temp/",
    "--BUCKET",
    "my-data-bucket",
    "--OUTPUT_PREFIX",
    "etl/",
    "--CATALOG_DATABASE",
    "forecast_catalog",
    "--CATALOG_TABLE",
    "shop_sales",
    "--SOURCE_TABLE",
    "sales",
    "--TIMESTAMP_COLUMN",
    "sale_time",
    "--VALUE_COLUMN",
    "amount",
    "--enable-metrics",
    "true",
    "--JOB_NAME",
    "forecast-etl",
]


def test_module_imports_without_spark_or_glue(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("awsglue", "pyspark"):
        monkeypatch.setitem(sys.modules, name, None)  # importing either now raises ImportError
    spec = importlib.util.spec_from_file_location("glue_etl_probe", glue_etl.__file__)
    assert spec is not None and spec.loader is not None
    probe = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, probe)  # dataclasses look their module up
    spec.loader.exec_module(probe)  # a fresh, separate import of the script
    assert sys.modules["awsglue"] is None
    assert sys.modules["pyspark"] is None
    assert callable(probe.main) and probe.catalog_table_name("Sales", "Hourly") == "sales_hourly"


@pytest.mark.parametrize(
    ("database", "table", "expected"),
    [
        ("shop", "sales", "shop_sales"),
        ("Shop-DB", "Sales", "shop_db_sales"),
        ("db", "my.table$2", "db_my_table_2"),
        ("prod", "Hourly Sales", "prod_hourly_sales"),
    ],
)
def test_catalog_table_name_follows_the_jdbc_crawler(database: str, table: str, expected: str) -> None:
    assert glue_etl.catalog_table_name(database, table) == expected


@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_catalog_table_name_is_lowercase_alphanumeric_and_underscores(database: str, table: str) -> None:
    name = glue_etl.catalog_table_name(database, table)
    assert re.fullmatch(r"[a-z0-9_]+", name)
    assert len(name) == len(database) + 1 + len(table)


def test_parse_job_args_from_a_glue_argv() -> None:
    args = glue_etl.parse_job_args(GLUE_ARGV)
    assert args.job_name == "forecast-etl"
    assert args.job_run_id == "jr_abc123"
    assert (args.catalog_database, args.catalog_table, args.source_table) == (
        "forecast_catalog",
        "shop_sales",
        "sales",
    )
    assert args.columns == ColumnSpec("sale_time", "amount", None)
    assert args.output_path == "s3://my-data-bucket/etl/sales/run=jr_abc123/"


@pytest.mark.parametrize(
    ("extra", "series"),
    [
        ([], None),
        (["--SERIES_COLUMN", ""], None),
        (["--SERIES_COLUMN", "store_id"], "store_id"),
        (["--SERIES_COLUMN=store_id"], "store_id"),
    ],
)
def test_series_column_is_optional(extra: list[str], series: str | None) -> None:
    assert glue_etl.parse_job_args(GLUE_ARGV + extra).columns.series == series


def test_missing_arguments_are_all_named() -> None:
    argv = [a for a in GLUE_ARGV if a not in ("--BUCKET", "my-data-bucket", "--VALUE_COLUMN", "amount")]
    with pytest.raises(JobArgumentError, match=r"missing job argument.*--BUCKET, --VALUE_COLUMN"):
        glue_etl.parse_job_args(argv)


def test_the_last_occurrence_wins_and_unknown_options_are_ignored() -> None:
    argv = ["--A", "1", "--B=2", "--C", "--A", "3", "--D", "x", "--E"]
    assert glue_etl.resolve_options(argv, ["A", "B", "C", "E"]) == {"A": "3", "B": "2", "C": "", "E": ""}


@pytest.mark.parametrize(
    ("bucket", "prefix", "table", "run_id", "problem"),
    [
        ("Bad_Bucket", "etl/", "sales", "jr_1", "BUCKET"),
        ("bucket", "etl", "sales", "jr_1", "OUTPUT_PREFIX"),
        ("bucket", "/etl/", "sales", "jr_1", "OUTPUT_PREFIX"),
        ("bucket", "etl/", "../sales", "jr_1", "SOURCE_TABLE"),
        ("bucket", "etl/", "sales", "jr/1", "JOB_RUN_ID"),
        ("bucket\n", "etl/", "sales", "jr_1", "BUCKET"),  # `$` alone allows a final newline
        ("bucket", "etl/\n", "sales", "jr_1", "OUTPUT_PREFIX"),
        ("bucket", "etl/", "sales\n", "jr_1", "SOURCE_TABLE"),
        ("bucket", "etl/", "sales", "jr_1\n", "JOB_RUN_ID"),
    ],
)
def test_output_path_validation(bucket: str, prefix: str, table: str, run_id: str, problem: str) -> None:
    with pytest.raises(JobArgumentError, match=problem):
        glue_etl.output_path(bucket, prefix, table, run_id)


def test_output_path_matches_what_generate_dataset_reads() -> None:
    path = glue_etl.output_path("bucket", "etl/", "sales", "jr_1")
    etl_prefix = "etl/sales/"  # ETL_PREFIX = OUTPUT_PREFIX + SOURCE_TABLE + "/"
    assert path == f"s3://bucket/{etl_prefix}run=jr_1/"
    assert glue_etl.output_path("bucket", "", "sales", "jr_1") == "s3://bucket/sales/run=jr_1/"


def test_select_expressions_cast_and_alias() -> None:
    spec = ColumnSpec("sale_time", "amount", "store")
    assert glue_etl.select_expressions(spec) == [
        "CAST(`sale_time` AS TIMESTAMP) AS `sale_time`",
        "CAST(`amount` AS DOUBLE) AS `amount`",
        "CAST(`store` AS STRING) AS `store`",
    ]
    assert glue_etl.select_expressions(ColumnSpec("t", "v")) == [
        "CAST(`t` AS TIMESTAMP) AS `t`",
        "CAST(`v` AS DOUBLE) AS `v`",
    ]


def test_catalog_columns_are_matched_case_insensitively() -> None:
    spec = ColumnSpec("SaleTime", "Amount", "StoreId")
    mapping = glue_etl.resolve_columns(["id", "saletime", "amount", "storeid"], spec)
    assert mapping == {"SaleTime": "saletime", "Amount": "amount", "StoreId": "storeid"}
    assert glue_etl.select_expressions(spec, mapping)[0] == "CAST(`saletime` AS TIMESTAMP) AS `SaleTime`"


def test_a_missing_source_column_lists_the_available_ones() -> None:
    with pytest.raises(JobArgumentError, match=r"column 'value' is not in the source columns \['id', 'ts'\]"):
        glue_etl.resolve_columns(["ts", "id"], ColumnSpec("ts", "value"))


@pytest.mark.parametrize(
    ("timestamp", "value", "series"),
    [
        ("ts`; DROP", "v", None),
        ("ts", "v w", None),
        ("ts", "v", "1st"),
        ("ts", "TS", None),
        ("ts", "v", "v"),
        ("ts\n", "v", None),
    ],
)
def test_column_names_are_validated(timestamp: str, value: str, series: str | None) -> None:
    with pytest.raises(JobArgumentError):
        ColumnSpec(timestamp, value, series)


def test_write_csv_produces_the_job_shape() -> None:
    spec = ColumnSpec("sale_time", "amount", "store")
    rows: list[dict[str, Any]] = [
        {"sale_time": datetime(2024, 1, 1, 0, 0, 0, 500), "amount": 12, "store": 7, "ignored": "x"},
        {"sale_time": "2024-01-01T03:00:00+02:00", "amount": Decimal("1.50"), "store": "a,b"},
        {"sale_time": date(2024, 1, 2), "amount": None, "store": None},
        {
            "sale_time": datetime(2024, 1, 2, 5, tzinfo=timezone(timedelta(hours=-1))),
            "amount": "n/a",
            "store": "s",
        },
        {"sale_time": "garbage", "amount": "3e2", "store": "s"},
        {"sale_time": "2024-01-03 00:00:00", "amount": 2e7, "store": ' he said "hi"\r'},
    ]
    out = io.StringIO(newline="")
    assert glue_etl.write_csv(rows, spec, out) == 6
    assert out.getvalue().split("\n") == [
        "sale_time,amount,store",
        "2024-01-01 00:00:00.000500,12.0,7",
        '2024-01-01 01:00:00.000000,1.5,"a,b"',
        "2024-01-02 00:00:00.000000,,",
        "2024-01-02 06:00:00.000000,,s",
        ",300.0,s",
        '2024-01-03 00:00:00.000000,2.0E7," he said ""hi""\r"',
        "",
    ]


def test_write_csv_output_is_read_back_by_generate_dataset() -> None:
    spec = ColumnSpec("ts", "sales", "store")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [{"ts": start + timedelta(hours=h), "sales": h * 1.5, "store": "s1"} for h in range(5)]
    out = io.StringIO(newline="")
    glue_etl.write_csv(rows, spec, out)
    observations = list(
        csv_input.read_observations(io.StringIO(out.getvalue(), newline=""), "mem", "ts", "sales", "store")
    )
    assert [(o.series_id, o.timestamp, o.value) for o in observations] == [
        ("s1", datetime(2024, 1, 1, h), h * 1.5) for h in range(5)
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1, "1.0"),
        (2.5, "2.5"),
        (Decimal("0.1"), "0.1"),
        (" 7 ", "7.0"),
        (1e7, "1.0E7"),
        (-1.23456789e7, "-1.23456789E7"),
        (1e-5, "1.0E-5"),
        (0.001, "0.001"),
        (9999999.0, "9999999.0"),
        (-0.0, "-0.0"),
        (1.7976931348623157e308, "1.7976931348623157E308"),
        (True, ""),
        (float("nan"), ""),
        ("inf", ""),
    ],
)
def test_format_double(value: object, text: str) -> None:
    assert glue_etl.format_double(value) == text
