"""The Glue ETL job's arguments, as the stack deploys them and the offline runner passes them."""

from __future__ import annotations

from config import ForecastConfig
from contracts.names import catalog_database_name
from processing import glue_etl


def etl_job_arguments(cfg: ForecastConfig, *, env_name: str, bucket_name: str) -> dict[str, str]:
    """The job's default arguments (``--NAME``: value) for environment ``env_name``."""
    db = cfg.database
    return {
        "--BUCKET": bucket_name,
        "--OUTPUT_PREFIX": cfg.etl_prefix,
        "--CATALOG_DATABASE": catalog_database_name(env_name),
        "--CATALOG_TABLE": glue_etl.catalog_table_name(db.database, db.source_table),
        "--SOURCE_TABLE": db.source_table,
        "--TIMESTAMP_COLUMN": db.timestamp_column,
        "--VALUE_COLUMN": db.value_column,
        "--SERIES_COLUMN": db.series_column or "",
        "--job-bookmark-option": "job-bookmark-disable",
    }
