"""Lambda entry point: ``{"key", "execution_name"}`` -> ``{"batch_id", "job_name"}``.

Environment: :class:`batch_id.Settings`. Raises ``InvalidPartitionName`` (the state machine routes
on it) for a bad file name and ``ConfigurationError`` for a bad environment. Every log line
carries the execution name.
"""

from __future__ import annotations

import os
from typing import Any

from batch_id import Settings, batch_job

from pipeline_rules import execution_name_of, log_context


def handler(event: dict[str, Any], _context: object = None) -> dict[str, Any]:
    with log_context(execution_name=execution_name_of(event)):
        return batch_job(Settings.from_env(os.environ), event["key"], event["execution_name"])
