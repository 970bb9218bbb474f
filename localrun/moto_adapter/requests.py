"""The AWS calls that each deployed principal makes in an offline run, recorded as botocore sees them.

IAM authorizes a request by who makes it, so every recorded call carries its principal:
``function:<folder>`` while a Lambda handler runs (``localrun.lambdas.bound`` sets it with
:func:`acting_as`), ``state_machine:<name>`` for a SageMaker task's Create* call. A botocore
``before-parameter-build`` hook on each client made inside the mock records the call. The principal
is the one acting when the call is made, or else the one that was acting when the client was made:
boto3's managed uploads (s3transfer) call from worker threads, which a context variable does not
reach. Calls that no principal makes (the runner's own set-up and checks) are not recorded.
``tools.iam_check.operations`` turns the calls into IAM requests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import botocore.session

_ACTING: ContextVar[str | None] = ContextVar("acting_principal", default=None)


@dataclass
class Collected:
    """What :func:`collecting` saw: the calls, and the environment each function principal ran with
    (its resource names: bucket, prefixes, ARNs)."""

    calls: list[RecordedCall] = field(default_factory=list)
    environments: dict[str, dict[str, str]] = field(default_factory=dict)


#: What :func:`collecting` blocks hold open; every recorded call is appended to each.
_COLLECTORS: list[Collected] = []


@dataclass(frozen=True)
class RecordedCall:
    """One API call: ``principal``, botocore's service and operation names, and the call's parameters
    (bodies left out)."""

    principal: str
    service: str
    operation: str
    params: Mapping[str, Any]


@dataclass
class CallLog:
    """The calls recorded in one ``offline_aws``; thread-safe."""

    calls: list[RecordedCall] = field(default_factory=list)
    gate: Gate | None = None  # refuses a call before it is made (tools/iam_check/enforce.py)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, principal: str, service: str, operation: str, params: Mapping[str, Any]) -> None:
        kept = {k: v for k, v in params.items() if k not in ("Body", "SecretString", "SecretBinary")}
        call = RecordedCall(principal, service, operation, kept)
        with self._lock:
            self.calls.append(call)
            for collector in _COLLECTORS:
                collector.calls.append(call)


@contextmanager
def acting_as(principal: str) -> Iterator[None]:
    """Attribute the AWS calls of the block (and of clients made in it) to ``principal``."""
    token = _ACTING.set(principal)
    try:
        yield
    finally:
        _ACTING.reset(token)


def note_environment(principal: str, environment: Mapping[str, str]) -> None:
    """Tell the open :func:`collecting` blocks the environment ``principal`` runs with."""
    for collector in _COLLECTORS:
        collector.environments[principal] = dict(environment)


@contextmanager
def observing(collector: Collected) -> Iterator[Collected]:
    """Give ``collector`` every call and function environment recorded during the block."""
    _COLLECTORS.append(collector)
    try:
        yield collector
    finally:
        _COLLECTORS.remove(collector)


@contextmanager
def collecting() -> Iterator[Collected]:
    """Every call that any :class:`CallLog` records during the block (for tests that check the
    calls of runs whose log they do not hold), and the functions' environments."""
    with observing(Collected()) as collector:
        yield collector


def acting() -> str | None:
    """The principal acting now, if any."""
    return _ACTING.get()


#: A check of a call before it is made: raises (as AWS would answer) to refuse it.
Gate = Callable[[RecordedCall], None]


def record_clients(session: botocore.session.Session, log: CallLog) -> None:
    """Make every client that ``session`` creates from now on record its calls into ``log``, after
    ``log.gate`` (if set) has let each through."""
    create_client = session.create_client

    def recording_client(*args: Any, **kwargs: Any) -> Any:
        client = create_client(*args, **kwargs)
        creator = acting()
        service = client.meta.service_model.service_name

        def before_build(params: Mapping[str, Any], model: Any, **_: Any) -> None:
            principal = acting() or creator
            if principal is not None:
                if log.gate is not None:
                    log.gate(RecordedCall(principal, service, model.name, dict(params)))
                log.add(principal, service, model.name, params)

        client.meta.events.register("before-parameter-build", before_build)
        return client

    session.create_client = recording_client
