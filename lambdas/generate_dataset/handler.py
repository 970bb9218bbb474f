"""Lambda entry point: ``{"event": <Glue Job State Change>, "execution_name"}`` -> the run's dataset.

Environment: :meth:`dataset.Config.from_env`. Returns ``{"run_id", "run_prefix", "input_uri",
"train_uri", "test_uri", "series_uri", "baseline_uri", "model_output_uri", "transform_input_uri",
"transform_output_uri", "backtest_uri", "forecast_uri", "training_job_name", "model_name",
"transform_job_name", "series_count", "model_series_count", "points", "baseline"}``,
``"baseline"`` being the overall seasonal-naive figures ``{"method", "quantiles", "metric",
"season", "RMSE", "MAE", "wQuantileLoss", "mean_wQuantileLoss", "coverage", "MASE", "points"}``
over the series the model sees (:mod:`baseline`; the per-series figures are in the manifest only,
as a Step Functions state is at most 256 KB). Errors the state machine routes on (by class
name): ``NoInputData``, ``MissingColumn``, ``InvalidInputData``, ``DuplicateTimestamps``,
``NotEnoughHistory`` (no series is long enough for the model), ``InputTooLarge`` (the input needs
more memory than the function has: raise ``forecast.generateDataset.memoryMb``), ``InvalidEvent``,
``ConfigurationError``. Every log line carries the execution name.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from dataset import generate_dataset
from dataset_config import Config
from run_paths import job_run_and_execution

from pipeline_rules import execution_name_of, log_context


@cache
def _s3() -> Any:
    return boto3.client("s3")


def handler(event: dict[str, Any], _context: object = None) -> dict[str, Any]:
    with log_context(execution_name=execution_name_of(event)):
        job_run_id, execution_name = job_run_and_execution(event)
        return generate_dataset(_s3(), Config.from_env(os.environ), job_run_id, execution_name)
