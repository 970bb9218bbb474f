"""Step 5 (``--forecast``): the forecast pipeline from the ETL's output to the forecast table.

Without ``--skip-etl`` it starts the Glue workflow (crawler, then ETL job) and waits for it; the
job's SUCCEEDED event starts the state machine through the EventBridge rule. With ``--skip-etl``
it writes a generated hourly series where the ETL job writes (``processing/glue_etl.py``'s layout)
and starts the state machine with the event that rule would send. Either way the execution must
succeed, and its run must be recorded with rows (:mod:`tools.smoke.database`).
"""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.events import glue_job_event
from processing import glue_etl
from tools.smoke.context import Smoke
from tools.smoke.database import run_record
from tools.smoke.deployment import SmokeFailure
from tools.smoke.steps import delete_all_versions

FORECAST_MINUTES = 240
WORKFLOW_MINUTES = 60
#: SageMaker's steps of the forecast machine, by the job kind each starts.
JOB_STEPS = {"Train": "training", "Transform": "transform"}


def series_rows(smoke: Smoke) -> list[dict[str, Any]]:
    """An hourly series with a daily cycle, long enough for DeepAR's context and two prediction
    windows (backtest and future) and one more. It ends in 2000, so its forecast's times never
    meet a real forecast's in the view; with a series column it is the series ``smoke``."""
    forecast = smoke.config.forecast
    assert forecast is not None
    db, deepar = forecast.database, forecast.deepar
    hours = deepar.context_length + 3 * deepar.prediction_length
    start = datetime(2000, 1, 1, tzinfo=UTC)
    rows = []
    for hour in range(hours):
        row: dict[str, Any] = {
            db.timestamp_column: start + timedelta(hours=hour),
            db.value_column: round(50 + 10 * math.sin(2 * math.pi * hour / 24), 3),
        }
        if db.series_column:
            row[db.series_column] = "smoke"
        rows.append(row)
    return rows


def _put_etl_output(smoke: Smoke, run_id: str) -> str:
    """Write the generated series as the ETL job's run ``run_id`` would; returns its prefix."""
    forecast, bucket = smoke.config.forecast, smoke.deployed.bucket
    assert forecast is not None
    db = forecast.database
    spec = glue_etl.ColumnSpec(db.timestamp_column, db.value_column, db.series_column)
    body = io.StringIO(newline="")
    glue_etl.write_csv(series_rows(smoke), spec, body)
    prefix = glue_etl.output_path(bucket, forecast.etl_prefix, db.source_table, run_id).split("/", 3)[3]
    smoke.undo.append((f"s3://{bucket}/{prefix}", lambda: delete_all_versions(smoke, prefix)))
    smoke.clients("s3").put_object(
        Bucket=bucket, Key=f"{prefix}part-00000.csv", Body=body.getvalue().encode()
    )
    return prefix


def _run_workflow(smoke: Smoke) -> str:
    """Start the Glue workflow, wait for it, and return the ETL job's run id."""
    glue, dep, step = smoke.clients("glue"), smoke.deployed, "forecast"
    run_id = glue.start_workflow_run(Name=dep.etl_workflow_name)["RunId"]
    start, limit = smoke.pace.clock(), smoke.timeout_minutes("workflow", WORKFLOW_MINUTES) * 60
    while True:
        run = glue.get_workflow_run(Name=dep.etl_workflow_name, RunId=run_id, IncludeGraph=True)["Run"]
        if run["Status"] in ("COMPLETED", "STOPPED", "ERROR"):
            break
        if smoke.pace.clock() - start > limit:
            raise SmokeFailure(step, f"workflow {dep.etl_workflow_name} run {run_id} still {run['Status']}")
        smoke.pace.sleep(smoke.pace.poll_seconds)
    job_runs = [
        job_run
        for node in run.get("Graph", {}).get("Nodes", [])
        for job_run in node.get("JobDetails", {}).get("JobRuns", [])
        if job_run.get("JobName") == dep.etl_job_name
    ]
    if run["Status"] != "COMPLETED" or not job_runs or job_runs[-1]["JobRunState"] != "SUCCEEDED":
        state = job_runs[-1]["JobRunState"] if job_runs else "not run (did the crawler fail?)"
        detail = job_runs[-1].get("ErrorMessage", "") if job_runs else run.get("ErrorMessage", "")
        raise SmokeFailure(
            step,
            f"workflow {dep.etl_workflow_name} run {run_id} ended {run['Status']}; ETL job {state} {detail}",
        )
    return str(job_runs[-1]["Id"])


def check_forecast(smoke: Smoke, *, skip_etl: bool) -> str:
    """Run the forecast; its execution must succeed and record its run with rows.

    With ``--skip-etl`` the run is the smoke's own (generated data): its files and its record are
    removed. Through the workflow it is a real forecast of the source table, like a scheduled run:
    its files and record stay, and the report says so."""
    dep, step, forecast = smoke.deployed, "forecast", smoke.config.forecast
    assert dep.forecast_arn and dep.etl_job_name and forecast is not None
    since = smoke.now()
    name_prefix = ""
    if skip_etl:
        job_run_id, name_prefix = f"jr_smoke_{smoke.stamp}", f"smoke-{smoke.stamp}"
        _put_etl_output(smoke, job_run_id)
        work = f"{forecast.work_prefix}{name_prefix}/"  # before the run: also what a stopped run left
        smoke.undo.append((f"s3://{dep.bucket}/{work}", lambda: delete_all_versions(smoke, work)))
        event = glue_job_event(smoke.config, dep.etl_job_name, job_run_id, "SUCCEEDED")
        smoke.clients("stepfunctions").start_execution(
            stateMachineArn=dep.forecast_arn, name=name_prefix, input=json.dumps(event)
        )
    else:
        job_run_id = _run_workflow(smoke)
    described = smoke.wait_for_execution(
        step,
        dep.forecast_arn,
        lambda execution_input: execution_input.get("detail", {}).get("jobRunId") == job_run_id,
        since,
        smoke.timeout_minutes(step, FORECAST_MINUTES) * 60,
        name_prefix=name_prefix,
    )
    name = described["name"]
    if not skip_etl:
        smoke.notes.append(
            f"forecast run {name} (ETL job run {job_run_id}) is a real forecast of "
            f"{forecast.database.source_table}: its files under {forecast.work_prefix}{name}/ and its "
            "record stay, as a scheduled run's do"
        )
    _count_jobs(smoke, described["executionArn"])
    if described["status"] != "SUCCEEDED":
        raise SmokeFailure(
            step,
            f"execution {name} ended {described['status']}: {described.get('error', '')}: "
            f"{described.get('cause', '')}",
        )
    output = json.loads(described.get("output") or "{}")
    written = output.get("written", {})
    if not written.get("rows"):
        raise SmokeFailure(step, f"execution {name} succeeded but wrote no rows: its output is {written}")
    return f"execution {name}: {run_record(smoke, name, output, remove=skip_etl)}"


def _count_jobs(smoke: Smoke, execution_arn: str) -> None:
    """Add the SageMaker jobs the execution started (each entry of Train or Transform)."""
    pages = (
        smoke.clients("stepfunctions")
        .get_paginator("get_execution_history")
        .paginate(executionArn=execution_arn)
    )
    for page in pages:
        for event in page["events"]:
            entered = event.get("stateEnteredEventDetails", {}).get("name")
            if entered in JOB_STEPS:
                smoke.jobs[JOB_STEPS[entered]] += 1
