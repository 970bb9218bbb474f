"""Lambda entry point: S3 ObjectCreated notification -> one Step Functions execution per record.

Environment: :class:`starter.Settings`; a bad one raises ``ConfigurationError``. Every log line
carries the record's S3 key (``s3_key``) and, once it is known, its execution name.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from starter import Settings, records_of, single_key, start_all

from pipeline_rules import log_context


@cache
def _client() -> Any:
    return boto3.client("stepfunctions")


def handler(event: dict[str, Any], _context: object = None) -> dict[str, Any]:
    """Start an execution for every record of ``event``; returns the execution names."""
    with log_context(s3_key=single_key(event)):
        settings = Settings.from_env(os.environ)
        started = start_all(_client(), settings.state_machine_arn, records_of(event))
    return {"executions": [s.name for s in started], "duplicates": sum(s.duplicate for s in started)}
