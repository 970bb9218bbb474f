"""What write-forecast's test modules share: sample manifests and forecasts, gate and write events,
S3 and secret set-up, the single-table layout of earlier versions, and how to read the view, the
rows and the runs back."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import boto3
import forecast_rows
import pymysql
import pymysql.cursors
import pytest
from forecast_repository import MySQLForecastRepository
from forecast_rows import ForecastRow

from tests.mysql_server import MySQLDatabase

BUCKET = "forecast-test-bucket"
RUN = "run-0001"
PREFIX = f"forecast/{RUN}/"
SERIES_URI = f"s3://{BUCKET}/{PREFIX}series.json"
FORECAST_URI = f"s3://{BUCKET}/{PREFIX}transform/test.json.out"
BACKTEST_URI = f"s3://{BUCKET}/{PREFIX}transform/train.json.out"
BASELINE_URI = f"s3://{BUCKET}/{PREFIX}baseline.json"
TABLE = "sales_forecast"
EXECUTION_ARN = f"arn:aws:states:us-east-1:123456789012:execution:forecast:{RUN}"
STARTED_AT = "2024-05-01T10:00:00.250Z"
BASELINE = {
    "method": "seasonal_naive",
    "quantiles": ["0.1", "0.5", "0.9"],
    "RMSE": 2.5,
    "MAE": 2.0,
    "wQuantileLoss": {"0.1": 0.08, "0.5": 0.12, "0.9": 0.1},
    "mean_wQuantileLoss": 0.1,
    "MASE": 1.1,
    "points": 6,
}
PASSED_QUALITY = {
    "decision": "per-series",
    "model": {"RMSE": 1.2, "mean_wQuantileLoss": 0.08},
    "baseline": {"RMSE": 2.5, "mean_wQuantileLoss": 0.1, "MASE": 1.1},
    "loss_ratio": 0.8,
    "max_loss_ratio": 1.0,
}

#: The forecast table as write-forecast created it before the run history (its earlier single table).
LEGACY_CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS `{table}` (\n"
    "  `series_id` VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,\n"
    "  `forecast_time` DATETIME NOT NULL,\n"
    "  `p10` DOUBLE NOT NULL,\n"
    "  `p50` DOUBLE NOT NULL,\n"
    "  `p90` DOUBLE NOT NULL,\n"
    "  `mean` DOUBLE NOT NULL,\n"
    "  `run_id` VARCHAR(80) NOT NULL,\n"
    "  `created_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),\n"
    "  `updated_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),\n"
    "  PRIMARY KEY (`series_id`, `forecast_time`),\n"
    "  KEY `run_id` (`run_id`)\n"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
)
#: ... and how it upserted a run's rows.
LEGACY_UPSERT = (
    "INSERT INTO `{table}` (`series_id`, `forecast_time`, `p10`, `p50`, `p90`, `mean`, `run_id`, "
    "`created_at`, `updated_at`) VALUES (%s, %s, %s, %s, %s, %s, %s, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)) "
    "ON DUPLICATE KEY UPDATE `p10` = VALUES(`p10`), `p50` = VALUES(`p50`), `p90` = VALUES(`p90`), "
    "`mean` = VALUES(`mean`), `run_id` = VALUES(`run_id`), `updated_at` = VALUES(`updated_at`)"
)
#: The SQLite twin's table before the run history.
LEGACY_SQLITE_TABLE = (
    'CREATE TABLE IF NOT EXISTS "{table}" ('
    "series_id TEXT NOT NULL, forecast_time TEXT NOT NULL, p10 REAL NOT NULL, "
    "p50 REAL NOT NULL, p90 REAL NOT NULL, mean REAL NOT NULL, run_id TEXT NOT NULL, "
    "created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')), "
    "updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')), "
    "PRIMARY KEY (series_id, forecast_time))"
)


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


def baseline_line(
    actual: Sequence[float | None],
    p50: list[float],
    *,
    band: float = 1.0,
    future: float = 50.0,
    season: int = 24,
) -> str:
    """A line of generate-dataset's baseline file: the backtest window's ``actual`` values, the
    baseline's backtest ``p50`` with a band of ``band`` either side, and a future of ``future``,
    ``future + 1``, ... (p10/p90 one below/above, the mean 0.5 above)."""
    n = len(actual)
    ahead = [future + k for k in range(n)]
    return json.dumps(
        {
            "season": season,
            "losses": {str(season): 1.0},
            "actual": list(actual),
            "scale": 2.0,
            "backtest": {"0.1": [v - band for v in p50], "0.5": p50, "0.9": [v + band for v in p50]},
            "future": {
                "0.1": [v - 1 for v in ahead],
                "0.5": ahead,
                "0.9": [v + 1 for v in ahead],
                "mean": [v + 0.5 for v in ahead],
            },
        }
    )


TWO_SERIES = manifest([("a", "2024-01-01 00:00:00", 10), ("b", "2024-01-05 06:00:00", 4)])
TWO_FORECASTS = forecast_line(100) + "\n" + forecast_line(200) + "\n"
#: The model's backtest forecasts of both series: p50 10, 11, 12 and 20, 21, 22 (band +-1).
TWO_BACKTESTS = forecast_line(10) + "\n" + forecast_line(20) + "\n"
#: The baseline file for both: actuals on the model's p50, the baseline 5 off, so the model wins both.
MODEL_WINS = (
    baseline_line([10.0, 11.0, 12.0], [15.0, 16.0, 17.0])
    + "\n"
    + baseline_line([20.0, 21.0, 22.0], [25.0, 26.0, 27.0], future=60.0)
    + "\n"
)


def rows_for(base: float = 100.0, run_id: str = RUN, ids: tuple[str, ...] = ("a", "b")) -> list[ForecastRow]:
    text = "\n".join(forecast_line(base + 100 * i) for i in range(len(ids)))
    doc = manifest([(i, "2024-01-01 00:00:00", 10) for i in ids])
    return forecast_rows.forecast_rows(doc, "m", text, "f", freq="1H", prediction_length=3, run_id=run_id)


def repository(db: MySQLDatabase, table: str = TABLE, **options: Any) -> MySQLForecastRepository:
    """write-forecast's MySQL repository on ``db`` (``options``: batch size and test hooks)."""

    def connect() -> Any:
        return db.connect(autocommit=False, init_command="SET time_zone = '+00:00'")

    return MySQLForecastRepository(connect, table, **options)


def write_legacy(db: MySQLDatabase, rows: list[ForecastRow], table: str = TABLE) -> None:
    """``rows`` written as write-forecast wrote them into its single table, in one transaction."""
    conn = db.connect(autocommit=False, init_command="SET time_zone = '+00:00'")
    try:
        with conn.cursor() as cur:
            cur.execute(LEGACY_CREATE_TABLE.format(table=table))
            for r in rows:
                cur.execute(
                    LEGACY_UPSERT.format(table=table),
                    (r.series_id, r.forecast_time, r.p10, r.p50, r.p90, r.mean, r.run_id),
                )
        conn.commit()
    finally:
        conn.close()


def make_secret(document: dict[str, Any] | str) -> str:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    body = document if isinstance(document, str) else json.dumps(document)
    return str(client.create_secret(Name=f"db-{uuid.uuid4().hex[:8]}", SecretString=body)["ARN"])


def table_rows(db: MySQLDatabase, table: str = TABLE) -> list[tuple[Any, ...]]:
    return db.query(
        f"SELECT series_id, forecast_time, p10, p50, p90, mean, run_id, created_at, updated_at "
        f"FROM `{table}` ORDER BY series_id, forecast_time"
    )


def stored_rows(db: MySQLDatabase, table: str = TABLE) -> list[tuple[Any, ...]]:
    """Every run's rows (``<table>_rows``), by run, series and time."""
    return db.query(
        "SELECT run_id, series_id, forecast_time, p10, p50, p90, mean, created_at, updated_at "
        f"FROM `{table}_rows` ORDER BY run_id, series_id, forecast_time"
    )


def runs(db: MySQLDatabase, table: str = TABLE) -> list[dict[str, Any]]:
    """Every run's record (``<table>_runs``) by run id; none before the first gate or write."""
    if not table_exists(db, f"{table}_runs"):
        return []
    conn = db.connect(cursorclass=pymysql.cursors.DictCursor)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT * FROM `{table}_runs` ORDER BY run_id")
            return list(cur.fetchall())
    finally:
        conn.close()


def table_exists(db: MySQLDatabase, table: str = TABLE) -> bool:
    """Whether ``table`` exists, as a table or a view."""
    return bool(db.query("SHOW TABLES LIKE %s", (table,)))


def table_type(db: MySQLDatabase, table: str) -> str | None:
    """``BASE TABLE``, ``VIEW`` or None."""
    found = db.query(
        "SELECT TABLE_TYPE FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
        (table,),
    )
    return str(found[0][0]) if found else None


def dataset_event(run_id: str = RUN, **extra: Any) -> dict[str, Any]:
    """generate-dataset's result for ``run_id`` (its series manifest and transform output are the
    run-0001 files), with the seasonal-naive baseline."""
    return {
        "run_id": run_id,
        "series_uri": SERIES_URI,
        "forecast_uri": FORECAST_URI,
        "backtest_uri": BACKTEST_URI,
        "baseline_uri": BASELINE_URI,
        "series_count": 2,
        "points": 14,
        "baseline": BASELINE,
        **extra,
    }


def final_metrics(**values: float | None) -> list[dict[str, Any]]:
    """A SageMaker ``FinalMetricDataList``; keyword ``test_RMSE`` names ``test:RMSE`` and so on."""
    return [
        {"MetricName": name.replace("_", ":", 1), "Value": value, "Timestamp": "2024-05-01T10:20:00Z"}
        for name, value in values.items()
    ]


def gate_event(
    run_id: str = RUN,
    *,
    loss: float | None = 0.08,
    metrics: list[dict[str, Any]] | None = None,
    baseline: Any = BASELINE,
) -> dict[str, Any]:
    """The gate's event: model ``test:mean_wQuantileLoss`` ``loss`` (and test:RMSE 1.2) unless
    ``metrics`` is given."""
    if metrics is None:
        metrics = final_metrics(test_RMSE=1.2, test_mean_wQuantileLoss=loss, train_final_loss=0.5)
    return {
        "operation": "gate",
        "execution_name": run_id,
        "execution_arn": EXECUTION_ARN.replace(RUN, run_id),
        "started_at": STARTED_AT,
        "dataset": dataset_event(run_id, baseline=baseline),
        "training": {
            "model_artifacts": f"s3://{BUCKET}/{PREFIX}model/model.tar.gz",
            "final_metrics": metrics,
        },
    }


def write_event(run_id: str = RUN, quality: Any = PASSED_QUALITY) -> dict[str, Any]:
    """The write's event, after a gate that passed."""
    return {
        "operation": "write",
        "execution_name": run_id,
        "dataset": dataset_event(run_id),
        "quality": quality,
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
