"""Lambda entry point: S3 ObjectCreated notification -> one Step Functions execution per record.

Environment: ``STATE_MACHINE_ARN`` (required), the standardize state machine.
"""

from __future__ import annotations

import logging
import os
from functools import cache
from typing import Any

import boto3
from starter import records_of, start_all

logging.getLogger().setLevel(logging.INFO)


@cache
def _client() -> Any:
    return boto3.client("stepfunctions")


def handler(event: dict[str, Any], _context: object = None) -> dict[str, Any]:
    """Start an execution for every record of ``event``; returns the execution names."""
    arn = os.environ.get("STATE_MACHINE_ARN")
    if not arn:
        raise RuntimeError("environment variable STATE_MACHINE_ARN is not set")
    started = start_all(_client(), arn, records_of(event))
    return {"executions": [s.name for s in started], "duplicates": sum(s.duplicate for s in started)}
