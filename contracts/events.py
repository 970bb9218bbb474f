"""EventBridge patterns of the forecast pipeline, as plain data the stack and the offline runner share."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from config import EnvConfig

SUCCEEDED = ("SUCCEEDED",)
FAILED = ("FAILED", "TIMEOUT", "STOPPED")
#: The crawler states that stop the day's forecast (the workflow starts the job on success only).
CRAWL_FAILED = ("Failed",)


def glue_crawler_state_pattern(name: str, states: Iterable[str]) -> dict[str, Any]:
    """The pattern of "Glue Crawler State Change" events of crawler ``name`` in one of ``states``."""
    return {
        "source": ["aws.glue"],
        "detail-type": ["Glue Crawler State Change"],
        "detail": {"crawlerName": [name], "state": list(states)},
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


def glue_job_event(env: EnvConfig, job_name: str, job_run_id: str, state: str) -> dict[str, Any]:
    """A "Glue Job State Change" event of ``job_name`` in ``env``, as EventBridge delivers it (the
    offline runner's ETL sends it, and ``tools.smoke --skip-etl`` sends it in place of the ETL)."""
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
            "jobName": job_name,
            "severity": "INFO" if state == "SUCCEEDED" else "ERROR",
            "state": state,
            "jobRunId": job_run_id,
            "message": f"Job run {state.lower()}",
        },
    }
