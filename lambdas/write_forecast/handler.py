"""Lambda entry point, one function for two operations on a forecast run (``event["operation"]``):

* ``{"operation": "gate", "execution_name", "execution_arn", "started_at", "dataset", "training"}``
  -> ``{"decision", "model", "baseline", "loss_ratio", "max_loss_ratio"}``: the quality gate,
  recorded in the runs table;
* ``{"operation": "write", "execution_name", "dataset", "quality"}`` -> ``{"rows": n}``: the run's
  forecast, written and the run marked written in one transaction.

Logic in :mod:`forecast_writer`. Environment: :class:`forecast_writer.Settings`. Errors the state
machine routes on (by class name): ``ModelWorseThanBaseline`` (recorded rejected, nothing
written), ``MissingModelMetrics``, ``MissingBaselineMetrics``, ``MalformedForecast`` (nothing is
written), ``ForecastWriteFailed`` (rolled back; also a TLS failure, named in its message),
``RunRejected``, ``SchemaMigrationFailed``, ``InvalidSecret``, ``ConfigurationError``,
``TlsConfigurationError``. Every log line carries the execution name.
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
