"""Lambda entry point, one function for two operations on a forecast run (``event["operation"]``):

* ``{"operation": "gate", "execution_name", "execution_arn", "started_at", "dataset", "training"}``
  -> ``{"decision", "model", "baseline", "loss_ratio", "max_loss_ratio"}``: DeepAR's test metrics,
  recorded in the runs table;
* ``{"operation": "write", "execution_name", "dataset", "quality"}`` -> ``{"rows": n, "selection"}``:
  each series' forecast from the model or the seasonal-naive baseline, whichever did better on
  its backtest window, written and the run marked written in one transaction; the run's metrics
  are printed as one embedded-metric-format line, which CloudWatch Logs turns into metrics.

Logic in :mod:`forecast_writer`. Environment: :class:`forecast_writer.Settings`. Errors the state
machine routes on (by class name): ``MissingModelMetrics``, ``MissingBaselineMetrics``,
``MalformedForecast`` (nothing is written; also a malformed baseline file),
``ForecastWriteFailed`` (rolled back; also a TLS failure, named in its message), ``RunRejected``,
``SchemaMigrationFailed``, ``InvalidSecret``, ``ConfigurationError``, ``TlsConfigurationError``.
Every log line carries the execution name.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from forecast_writer import Settings, mysql_repositories, run_operation

from pipeline_rules import execution_name_of, log_context


@cache
def _s3() -> Any:
    return boto3.client("s3")


def handler(event: dict[str, Any], _context: object = None) -> dict[str, Any]:
    with log_context(execution_name=execution_name_of(event)):
        settings = Settings.from_env(os.environ)  # a bad setting fails here, before any read
        return run_operation(_s3(), event, mysql_repositories(settings), settings.forecast)
