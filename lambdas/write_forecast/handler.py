"""Lambda entry point: ``{"dataset": <generate-dataset's result>, "execution_name"}`` -> ``{"rows": n}``.

Upserts the run's forecast into MySQL in one transaction (:mod:`forecast_writer`). Environment:
:class:`forecast_writer.Settings`. Errors the state machine routes on (by class name):
``MalformedForecast`` (nothing is written), ``ForecastWriteFailed`` (rolled back; also a TLS
failure, named in its message), ``InvalidSecret``, ``ConfigurationError``,
``TlsConfigurationError``. Every log line carries the execution name.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from forecast_writer import Settings, mysql_repositories, write_forecast

from pipeline_rules import execution_name_of, log_context


@cache
def _s3() -> Any:
    return boto3.client("s3")


def handler(event: dict[str, Any], _context: object = None) -> dict[str, Any]:
    with log_context(execution_name=execution_name_of(event)):
        settings = Settings.from_env(os.environ)  # a bad setting fails here, before any read
        return write_forecast(_s3(), event, mysql_repositories(settings), settings.forecast)
