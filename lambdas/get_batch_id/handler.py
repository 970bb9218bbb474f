"""Lambda entry point: ``{"key", "execution_name"}`` -> ``{"batch_id", "job_name"}``.

Environment: ``JOB_NAME_PREFIX`` (required), the processing job-name prefix from config.
"""

from __future__ import annotations

import os
from typing import Any

from batch_id import batch_id, processing_job_name


def handler(event: dict[str, Any], _context: object = None) -> dict[str, Any]:
    """Raises ``InvalidPartitionName`` (the state machine routes on it) for a bad file name."""
    key = event["key"]
    batch = batch_id(key)
    prefix = os.environ["JOB_NAME_PREFIX"]
    return {"batch_id": batch, "job_name": processing_job_name(prefix, batch, event["execution_name"])}
