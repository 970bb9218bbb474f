"""Lambda entry point: ``{"event": <Glue Job State Change>, "execution_name"}`` -> the run's dataset.

Environment: ``BUCKET_NAME``, ``ETL_PREFIX``, ``WORK_PREFIX``, ``TIMESTAMP_COLUMN``,
``VALUE_COLUMN``, ``SERIES_COLUMN`` (empty: single series), ``TIME_FREQ`` (default ``1H``),
``PREDICTION_LENGTH`` (default 168), ``CONTEXT_LENGTH`` (default 672), ``NAME_PREFIX``.

Returns ``{"run_id", "run_prefix", "input_uri", "train_uri", "test_uri", "series_uri",
"model_output_uri", "transform_output_uri", "forecast_uri", "training_job_name", "model_name",
"transform_job_name", "series_count", "points"}``. Errors the state machine routes on (by class
name): ``NoInputData``, ``MissingColumn``, ``InvalidInputData``, ``DuplicateTimestamps``,
``NotEnoughHistory``, ``InvalidEvent``, ``ConfigurationError``.
"""

from __future__ import annotations

import logging
import os
from functools import cache
from typing import Any

import boto3
from dataset import Config, InvalidEvent, generate_dataset, job_run_id_from_event

logging.getLogger().setLevel(logging.INFO)


@cache
def _s3() -> Any:
    return boto3.client("s3")


def handler(event: dict[str, Any], _context: object = None) -> dict[str, Any]:
    if not isinstance(event, dict) or "event" not in event or "execution_name" not in event:
        raise InvalidEvent("expected {'event': <Glue Job State Change event>, 'execution_name': <name>}")
    config = Config.from_env(os.environ)
    job_run_id = job_run_id_from_event(event["event"])
    return generate_dataset(_s3(), config, job_run_id, event["execution_name"])
