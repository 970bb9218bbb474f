"""A local twin of the forecast's Glue ETL job: the source table to CSV in S3, then its event."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime
from typing import Any

from localrun.databases import Database
from processing import glue_etl
from stacks.config import EnvConfig
from stacks.forecast_events import etl_job_name


def run_etl(env: EnvConfig, database: Database, s3: Any, *, job_run_id: str | None = None) -> dict[str, Any]:
    """Copy the source table to ``s3://<bucket>/<etl prefix><table>/run=<id>/`` with the Glue
    script's own CSV writer, and return the "Glue Job State Change" event the job would emit."""
    assert env.forecast is not None
    db = env.forecast.database
    spec = glue_etl.ColumnSpec(db.timestamp_column, db.value_column, db.series_column)
    run_id = job_run_id or f"jr_{uuid.uuid4().hex}"
    rows = database.read_source(db.source_table, spec.columns)
    body = io.StringIO(newline="")
    glue_etl.write_csv(rows, spec, body)
    path = glue_etl.output_path(env.data_bucket_name, env.forecast.etl_prefix, db.source_table, run_id)
    key = path.split("/", 3)[3] + "part-00000.csv"
    s3.put_object(Bucket=env.data_bucket_name, Key=key, Body=body.getvalue().encode())
    return glue_job_event(env, run_id, "SUCCEEDED")


def glue_job_event(env: EnvConfig, job_run_id: str, state: str) -> dict[str, Any]:
    """A "Glue Job State Change" event of this environment's ETL job, as EventBridge delivers it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Glue Job State Change",
        "source": "aws.glue",
        "account": env.account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": env.region,
        "resources": [],
        "detail": {
            "jobName": etl_job_name(env),
            "severity": "INFO" if state == "SUCCEEDED" else "ERROR",
            "state": state,
            "jobRunId": job_run_id,
            "message": f"Job run {state.lower()}",
        },
    }
