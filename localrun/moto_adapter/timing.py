"""Time in the mock: ``Retry`` and ``Wait`` waits are recorded, not slept, on a simulated clock.

Patched moto internals (under ``moto.stepfunctions.parser.asl.component``):

- ``common.retry.retrier_decl.time`` and ``RetrierDecl._eval_body``: ``Retry`` waits go to
  ``OfflineAws.retry_delays`` and are not slept; the number of attempts does not change. (The
  second patch only tells the first which execution is waiting.)
- ``state.wait.wait_function.wait_function.WaitFunction._wait_interval``: a ``Wait`` state is
  recorded in ``OfflineAws.waits`` and not slept.

Every skipped wait (``Retry`` or ``Wait``) moves the waiting execution's clock on by its length, so
``OfflineAws.clock`` gives each execution a simulated time: real seconds since the mock began plus
what the execution skipped, plus the simulated run time of its jobs. Executions that run at the
same time interleave on it as they would on AWS, hours of backoff included, in seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.eval.environment import Environment


class SimulatedClock:
    """Each execution's simulated time, in seconds: real time since the clock was made plus what
    the execution skipped (waits, simulated job run times). Thread-safe."""

    def __init__(self) -> None:
        self._origin = time.monotonic()
        self._skipped: dict[str, float] = {}
        self._lock = threading.Lock()

    def now(self, execution_arn: str) -> float:
        """The simulated time of ``execution_arn`` (real time for one that skipped nothing)."""
        with self._lock:
            return time.monotonic() - self._origin + self._skipped.get(execution_arn, 0.0)

    def skip(self, execution_arn: str, seconds: float) -> None:
        """Move the clock of ``execution_arn`` on by ``seconds``."""
        with self._lock:
            self._skipped[execution_arn] = self._skipped.get(execution_arn, 0.0) + seconds


@dataclass(frozen=True)
class SkippedWait:
    """A ``Wait`` state that was not slept: its execution, state name and length in seconds."""

    execution_arn: str
    state: str
    seconds: float


def execution_arn(env: Environment) -> str:
    """The ARN of the execution that moto's evaluation environment ``env`` belongs to."""
    return str(env.states.context_object.context_object_data["Execution"]["Id"])


def state_name(env: Environment) -> str:
    """The name of the state ``env`` is evaluating ("" outside a state)."""
    state_data = env.states.context_object.context_object_data.get("State")
    return str(state_data["Name"]) if state_data else ""


class NoSleep:
    """Stands in for the ``time`` module of moto's retrier: records the delay, returns at once."""

    def __init__(self, skip: Callable[[float], None]) -> None:
        self._skip = skip

    def sleep(self, seconds: float) -> None:
        self._skip(seconds)


#: The environment whose Retrier runs in this thread, for ``NoSleep`` (it gets no environment).
_RETRYING = threading.local()
_ORIGINAL_RETRIER_EVAL: Final = retrier_decl.RetrierDecl._eval_body


def eval_retrier(retrier: retrier_decl.RetrierDecl, env: Environment) -> None:
    """``RetrierDecl._eval_body``, with ``env`` known to :func:`retrying_execution` meanwhile."""
    _RETRYING.env = env
    try:
        _ORIGINAL_RETRIER_EVAL(retrier, env)
    finally:
        _RETRYING.env = None


def retrying_execution() -> str | None:
    """The ARN of the execution whose Retrier runs in this thread, if one does."""
    env = getattr(_RETRYING, "env", None)
    return None if env is None else execution_arn(env)
