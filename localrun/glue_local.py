"""The forecast's Glue ETL job, offline: the source table to CSV in S3, then the job's event.

With a MySQL/MariaDB source and Glue's engine installed (pyspark of the Glue version, its Java,
the MariaDB JDBC driver; see :mod:`localrun.glue_spark`), the Glue script's ``main()`` runs on
local Spark, reading the table over JDBC, and its part files go into the emulated bucket. Without
that engine, or with the SQLite source, the script's plain-Python twin (``glue_etl.write_csv``,
held to Spark's bytes by the tests) writes one part from the rows. :class:`EtlRun` says which.
"""

from __future__ import annotations

import functools
import io
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config import EnvConfig
from contracts.events import glue_job_event
from contracts.glue_job import etl_job_arguments
from contracts.names import etl_job_name
from localrun.databases import Database, ServerDatabase
from localrun.glue_spark import Engine, JdbcTable, SparkUnavailable, check_engine, local_spark, run_glue_main
from processing import glue_etl


@dataclass(frozen=True)
class EtlRun:
    """One offline job run: its "Glue Job State Change" event, the engine and the keys written."""

    event: dict[str, Any]
    engine: str
    keys: list[str]


def run_etl(
    env: EnvConfig, database: Database, s3: Any, workdir: Path, *, job_run_id: str | None = None
) -> EtlRun:
    """Copy the source table to ``s3://<bucket>/<etl prefix><table>/run=<id>/``, on Spark when it
    can run here (see the module docstring), and return the run with the job's SUCCEEDED event."""
    assert env.forecast is not None
    job_name = etl_job_name(env.name, env.forecast.database.source_table)
    run_id = job_run_id or f"jr_{uuid.uuid4().hex}"
    engine = _engine()
    if isinstance(database, ServerDatabase) and isinstance(engine, Engine):
        keys = run_glue_main(
            local_spark(engine),
            job_name=job_name,
            job_run_id=run_id,
            arguments=etl_job_arguments(env.forecast, env_name=env.name, bucket_name=env.data_bucket_name),
            source=JdbcTable.of(database.db, env.forecast.database.source_table),
            s3=s3,
            workdir=workdir / "glue" / run_id,
        )
        label = f"Glue script on {engine.describe()}"
    else:
        reason = (
            engine if isinstance(database, ServerDatabase) else "the SQLite source has no JDBC driver here"
        )
        keys = [_run_twin(env, database, s3, run_id)]
        label = f"plain-Python twin of the Glue script ({reason})"
    return EtlRun(glue_job_event(env, job_name, run_id, "SUCCEEDED"), label, keys)


@functools.cache
def _engine() -> Engine | str:
    """Glue's engine, or why it cannot run here; checked once per process (it runs ``java`` and ``dpkg``)."""
    try:
        return check_engine()
    except SparkUnavailable as exc:
        return str(exc)


def _run_twin(env: EnvConfig, database: Database, s3: Any, run_id: str) -> str:
    assert env.forecast is not None
    db = env.forecast.database
    spec = glue_etl.ColumnSpec(db.timestamp_column, db.value_column, db.series_column)
    rows = database.read_source(db.source_table, spec.columns)
    body = io.StringIO(newline="")
    glue_etl.write_csv(rows, spec, body)
    path = glue_etl.output_path(env.data_bucket_name, env.forecast.etl_prefix, db.source_table, run_id)
    key = path.split("/", 3)[3] + "part-00000.csv"
    s3.put_object(Bucket=env.data_bucket_name, Key=key, Body=body.getvalue().encode())
    return key
