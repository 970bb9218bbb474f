"""What write-forecast's test modules share: sample manifests and forecasts, S3 and secret set-up,
and how to read the forecast table back."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import forecast_rows
import pytest
from forecast_rows import ForecastRow

from tests.mysql_server import MySQLDatabase

BUCKET = "forecast-test-bucket"
RUN = "run-0001"
PREFIX = f"forecast/{RUN}/"
SERIES_URI = f"s3://{BUCKET}/{PREFIX}series.json"
FORECAST_URI = f"s3://{BUCKET}/{PREFIX}transform/test.json.out"
TABLE = "sales_forecast"


def manifest(series: list[tuple[str, str, int]], freq: str = "1H", prediction_length: int = 3) -> str:
    return json.dumps(
        {
            "run_id": RUN,
            "freq": freq,
            "prediction_length": prediction_length,
            "series": [{"id": i, "start": s, "length": n} for i, s, n in series],
        }
    )


def forecast_line(base: float, n: int = 3, **replace: Any) -> str:
    doc: dict[str, Any] = {
        "quantiles": {
            "0.1": [base + k - 1 for k in range(n)],
            "0.5": [base + k for k in range(n)],
            "0.9": [base + k + 1 for k in range(n)],
        },
        "mean": [base + k + 0.25 for k in range(n)],
    }
    doc.update(replace)
    return json.dumps(doc)


TWO_SERIES = manifest([("a", "2024-01-01 00:00:00", 10), ("b", "2024-01-05 06:00:00", 4)])
TWO_FORECASTS = forecast_line(100) + "\n" + forecast_line(200) + "\n"


def rows_for(base: float = 100.0, run_id: str = RUN, ids: tuple[str, ...] = ("a", "b")) -> list[ForecastRow]:
    text = "\n".join(forecast_line(base + 100 * i) for i in range(len(ids)))
    doc = manifest([(i, "2024-01-01 00:00:00", 10) for i in ids])
    return forecast_rows.forecast_rows(doc, "m", text, "f", freq="1H", prediction_length=3, run_id=run_id)


def make_secret(document: dict[str, Any] | str) -> str:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    body = document if isinstance(document, str) else json.dumps(document)
    return str(client.create_secret(Name=f"db-{uuid.uuid4().hex[:8]}", SecretString=body)["ARN"])


def table_rows(db: MySQLDatabase, table: str = TABLE) -> list[tuple[Any, ...]]:
    return db.query(
        f"SELECT series_id, forecast_time, p10, p50, p90, mean, run_id, created_at, updated_at "
        f"FROM `{table}` ORDER BY series_id, forecast_time"
    )


def table_exists(db: MySQLDatabase, table: str = TABLE) -> bool:
    return bool(db.query("SHOW TABLES LIKE %s", (table,)))


def dataset_event(run_id: str = RUN) -> dict[str, Any]:
    return {
        "dataset": {
            "run_id": run_id,
            "series_uri": SERIES_URI,
            "forecast_uri": FORECAST_URI,
            "series_count": 2,
        }
    }


MALFORMED = [
    pytest.param(forecast_line(1) + "\n", "line 2: missing", id="fewer-lines"),
    pytest.param(TWO_FORECASTS + forecast_line(3) + "\n", "line 3: unexpected", id="more-lines"),
    pytest.param(forecast_line(1) + "\n{not json\n", "line 2: Expecting property name", id="bad-json"),
    pytest.param(
        forecast_line(1) + "\n" + forecast_line(2, quantiles={"0.1": [1, 2, 3], "0.9": [1, 2, 3]}),
        "line 2: quantile '0.5' is missing",
        id="missing-quantile",
    ),
    pytest.param(
        forecast_line(1, n=2) + "\n" + forecast_line(2), "line 1: quantiles['0.1'] has 2 values", id="short"
    ),
    pytest.param(
        forecast_line(1) + "\n" + forecast_line(2, n=4), "line 2: quantiles['0.1'] has 4 values", id="long"
    ),
    pytest.param(
        forecast_line(1, mean=[1, "x", 3]) + "\n" + forecast_line(2), "line 1: mean[1] = 'x'", id="text"
    ),
    pytest.param(
        forecast_line(1, mean=[1, None, 3]) + "\n" + forecast_line(2), "line 1: mean[1] = None", id="null"
    ),
    pytest.param(
        forecast_line(1, mean=[1, True, 3]) + "\n" + forecast_line(2), "line 1: mean[1] = True", id="bool"
    ),
    pytest.param(
        forecast_line(1) + "\n" + forecast_line(2).replace('"mean": [', '"mean": [NaN, ', 1),
        "line 2: NaN is not a finite number",
        id="nan",
    ),
    pytest.param(
        forecast_line(1) + "\n" + json.dumps({"quantiles": {}}), "line 2: quantile '0.1'", id="empty"
    ),
    pytest.param(
        forecast_line(1) + "\n" + json.dumps([1, 2]), "line 2: line is not a JSON object", id="list"
    ),
    pytest.param(
        forecast_line(1) + "\n" + forecast_line(2).replace('"mean"', '"average"'),
        "line 2: 'mean' is missing",
        id="mean",
    ),
    pytest.param("", "line 1: missing", id="empty-file"),
]
