"""moto's own log, kept off the terminal while a mock runs.

moto's Step Functions interpreter logs each failure it handles at ERROR through the ``moto``
loggers, with the failed state's whole internal representation (``Exception=FailureEventException,
Error=..., Details=... at '(StateFail| {...})'``). With no logging set up, Python's last-resort
handler prints those records to stderr; under pytest they fill the captured log. A failed
execution's error and cause are in its result already, so inside ``offline_aws`` the records of
the ``moto`` loggers go to ``OfflineAws.moto_log`` (formatted lines, tracebacks included) and
nowhere else. No other logger changes: this project's own (``localrun.*``, the Lambda handlers')
still reach the terminal.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

MOTO_LOGGER = "moto"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _Keep(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines
        self.setFormatter(logging.Formatter(_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # as logging.Handler does: a record that cannot be formatted is reported
            self.handleError(record)


@contextmanager
def kept_moto_log(lines: list[str]) -> Iterator[None]:
    """Append what the ``moto`` loggers emit to ``lines``, and stop it propagating, until exit."""
    logger = logging.getLogger(MOTO_LOGGER)
    handler, propagate = _Keep(lines), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
