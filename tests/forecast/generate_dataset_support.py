"""What the generate-dataset test modules share: the run's names, the function's environment, Glue
events and CSV parts in S3, and reading the written files back."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import dataset

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


def put(s3: Any, name: str, lines: list[str], header: str = "ts,sales") -> str:
    key = INPUT + name
    s3.put_object(Bucket=BUCKET, Key=key, Body=("\n".join([header, *lines]) + "\n").encode())
    return key


def read_jsonl(s3: Any, key: str) -> list[dict[str, Any]]:
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines()]


def run(s3: Any, **overrides: str) -> dict[str, Any]:
    return dataset.generate_dataset(s3, dataset.Config.from_env(env(**overrides)), RUN_ID, EXECUTION)


def read_manifest(s3: Any) -> dict[str, Any]:
    """The run's series manifest."""
    return json.loads(s3.get_object(Bucket=BUCKET, Key=f"forecast/{EXECUTION}/series.json")["Body"].read())
