"""An execution as the runner sees it: polled until it ends, then read from its history.

Public API only (DescribeExecution, GetExecutionHistory, StopExecution): nothing here touches
moto's internals.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

#: The longest pause between two polls of a running execution (the first is poll_interval).
MAX_POLL_INTERVAL = 0.1


@dataclass(frozen=True)
class StateEvent:
    """A state entered or exited; ``seconds`` is the time since it was entered (None on entry)."""

    name: str
    phase: Literal["entered", "exited"]
    timestamp: datetime
    seconds: float | None = None


@dataclass(frozen=True)
class Step:
    """One visit of a state; ``exited``/``seconds`` are None for a state that never exits (Fail)."""

    name: str
    entered: datetime
    exited: datetime | None
    seconds: float | None


@dataclass(frozen=True)
class ExecutionResult:
    """The end of an execution, from DescribeExecution and GetExecutionHistory."""

    execution_arn: str
    status: str  # SUCCEEDED, FAILED, TIMED_OUT or ABORTED
    output: Any  # the parsed output JSON; None unless SUCCEEDED
    error: str | None
    cause: str | None
    path: tuple[str, ...]  # names of the states entered, in order
    steps: tuple[Step, ...]
    events: tuple[dict[str, Any], ...]  # the raw history events

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


def wait_for_execution(
    sfn: Any,
    execution_arn: str,
    *,
    timeout: float,
    poll_interval: float,
    on_state: Callable[[StateEvent], None] | None,
) -> ExecutionResult:
    """Poll ``execution_arn`` through the client ``sfn`` until it ends (see ``OfflineAws.wait``)."""
    deadline = time.monotonic() + timeout
    reported = 0
    entered: dict[str, datetime] = {}
    events: list[dict[str, Any]] | None = None
    delay = poll_interval
    while True:
        description = sfn.describe_execution(executionArn=execution_arn)
        if on_state is not None:
            events = read_history(sfn, execution_arn)  # read after the description: complete once it ended
            for event in events[reported:]:
                state_event = _state_event(event, entered)
                if state_event is not None:
                    on_state(state_event)
            reported = len(events)
        if description["status"] != "RUNNING":
            break
        if time.monotonic() > deadline:
            sfn.stop_execution(executionArn=execution_arn, error="Timeout", cause="offline run timed out")
            events = read_history(sfn, execution_arn)
            path = [e.name for e in _state_events(events) if e.phase == "entered"]
            raise TimeoutError(f"{execution_arn} still running after {timeout}s; path so far {path}")
        time.sleep(delay)
        delay = min(2 * delay, max(poll_interval, MAX_POLL_INTERVAL))
    output = description.get("output")
    if events is None:
        events = read_history(sfn, execution_arn)
    state_events = _state_events(events)
    return ExecutionResult(
        execution_arn=execution_arn,
        status=str(description["status"]),
        output=None if output is None else json.loads(output),
        error=description.get("error"),
        cause=description.get("cause"),
        path=tuple(e.name for e in state_events if e.phase == "entered"),
        steps=_steps(state_events),
        events=tuple(events),
    )


def read_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every history event of ``execution_arn``, in order."""
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
    return [event for page in pages for event in page["events"]]


def _state_event(event: Mapping[str, Any], entered: dict[str, datetime]) -> StateEvent | None:
    """The StateEvent of a history event (None for other events); ``entered`` tracks entry times."""
    kind = str(event["type"])
    if kind.endswith("StateEntered"):
        name = event["stateEnteredEventDetails"]["name"]
        entered[name] = event["timestamp"]
        return StateEvent(name, "entered", event["timestamp"])
    if kind.endswith("StateExited"):
        name = event["stateExitedEventDetails"]["name"]
        start = entered.pop(name, None)
        seconds = None if start is None else (event["timestamp"] - start).total_seconds()
        return StateEvent(name, "exited", event["timestamp"], seconds)
    return None


def _state_events(events: list[dict[str, Any]]) -> list[StateEvent]:
    entered: dict[str, datetime] = {}
    return [e for e in (_state_event(event, entered) for event in events) if e is not None]


def _steps(state_events: list[StateEvent]) -> tuple[Step, ...]:
    steps: list[Step] = []
    open_steps: dict[str, int] = {}
    for event in state_events:
        if event.phase == "entered":
            open_steps[event.name] = len(steps)
            steps.append(Step(event.name, event.timestamp, None, None))
        elif (index := open_steps.pop(event.name, None)) is not None:
            steps[index] = Step(event.name, steps[index].entered, event.timestamp, event.seconds)
    return tuple(steps)
