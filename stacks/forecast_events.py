"""EventBridge patterns of the forecast pipeline, as plain data the stack and the offline runner share."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from processing import glue_etl
from stacks.config import EnvConfig

SUCCEEDED = ("SUCCEEDED",)
FAILED = ("FAILED", "TIMEOUT", "STOPPED")
#: The crawler states that stop the day's forecast (the workflow starts the job on success only).
CRAWL_FAILED = ("Failed",)


def etl_job_name(env: EnvConfig) -> str:
    """The Glue job's name: ``ml-pipelines-<env>-<source table>-etl`` (dashes for underscores)."""
    assert env.forecast is not None, "etl_job_name needs a forecast config"
    table = env.forecast.database.source_table.lower().replace("_", "-")
    return f"ml-pipelines-{env.name}-{table}-etl"


def crawler_name(env: EnvConfig) -> str:
    """The JDBC crawler's name: ``ml-pipelines-<env>-mysql-source``."""
    return f"ml-pipelines-{env.name}-mysql-source"


def glue_crawler_state_pattern(name: str, states: Iterable[str]) -> dict[str, Any]:
    """The pattern of "Glue Crawler State Change" events of crawler ``name`` in one of ``states``."""
    return {
        "source": ["aws.glue"],
        "detail-type": ["Glue Crawler State Change"],
        "detail": {"crawlerName": [name], "state": list(states)},
    }


def catalog_database_name(env: EnvConfig) -> str:
    """The Data Catalog database the crawler fills: ``ml_pipelines_<env>`` (underscores for dashes)."""
    return f"ml_pipelines_{env.name.replace('-', '_')}"


def etl_job_arguments(env: EnvConfig, bucket_name: str) -> dict[str, str]:
    """The Glue job's default arguments (``--NAME``: value), as the stack deploys them and the
    offline runner passes them to the script's ``main()``."""
    assert env.forecast is not None, "etl_job_arguments needs a forecast config"
    db = env.forecast.database
    return {
        "--BUCKET": bucket_name,
        "--OUTPUT_PREFIX": env.forecast.etl_prefix,
        "--CATALOG_DATABASE": catalog_database_name(env),
        "--CATALOG_TABLE": glue_etl.catalog_table_name(db.database, db.source_table),
        "--SOURCE_TABLE": db.source_table,
        "--TIMESTAMP_COLUMN": db.timestamp_column,
        "--VALUE_COLUMN": db.value_column,
        "--SERIES_COLUMN": db.series_column or "",
        "--job-bookmark-option": "job-bookmark-disable",
    }


def glue_job_state_pattern(job_name: str, states: Iterable[str]) -> dict[str, Any]:
    """The pattern of "Glue Job State Change" events of ``job_name`` in one of ``states``."""
    return {
        "source": ["aws.glue"],
        "detail-type": ["Glue Job State Change"],
        "detail": {"jobName": [job_name], "state": list(states)},
    }


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether ``event`` matches ``pattern`` under EventBridge's rules for exact-value lists.

    Each pattern field is a list of allowed values or a nested pattern; a field missing from the
    event never matches. (Content filters such as ``prefix`` are not used by this app.)
    """
    for key, allowed in pattern.items():
        if key not in event:
            return False
        value = event[key]
        if isinstance(allowed, Mapping):
            if not isinstance(value, Mapping) or not matches(allowed, value):
                return False
        elif isinstance(value, list):
            if not any(v in allowed for v in value):
                return False
        elif value not in allowed:
            return False
    return True
