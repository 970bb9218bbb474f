"""The Lambdas' log lines as Lambda's JSON log format writes them.

:func:`runtime_json_logging` sets up the root logger exactly as the Lambda Python runtime does for
``LoggingFormat.JSON`` at ``ApplicationLogLevel`` INFO: awslambdaric's (the runtime interface
client's) own handler and ``JsonFormatter``, writing each record as one JSON line to stdout.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from awslambdaric import bootstrap
from awslambdaric.lambda_runtime_log_utils import LogFormat


@contextmanager
def runtime_json_logging() -> Iterator[None]:
    """The runtime's logging set-up for the block; the root logger's handlers and level after it."""
    root = logging.getLogger()
    handlers, level, converter = list(root.handlers), root.level, logging.Formatter.converter
    bootstrap._setup_logging(LogFormat.JSON, "INFO", bootstrap.StandardLogSink())
    try:
        yield
    finally:
        for handler in set(root.handlers) - set(handlers):
            root.removeHandler(handler)
        root.setLevel(level)
        logging.Formatter.converter = converter


def json_lines(stdout: str) -> list[dict[str, Any]]:
    """Every line of ``stdout``, each of which must be one JSON object."""
    lines = []
    for line in stdout.splitlines():
        record = json.loads(line)
        assert isinstance(record, dict), line
        lines.append(record)
    return lines
