"""What every step shares: the clients, the environment, the clock, and what to remove at the end."""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from config import EnvConfig
from tools.smoke.deployment import Deployment, SmokeFailure


def add_environment_option(parser: argparse.ArgumentParser) -> None:
    """``-c env=NAME``, spelt as for ``cdk``: the environment of cdk.json (required)."""
    parser.add_argument(
        "-c",
        dest="context",
        action="append",
        default=[],
        metavar="env=NAME",
        help="the environment of cdk.json, as for cdk (required)",
    )


def environment_of(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """The NAME of the one ``-c env=NAME``; a usage error without it, or with two."""
    names = [c.split("=", 1)[1] for c in args.context if c.startswith("env=")]
    if len(names) != 1:
        parser.error("pass the environment once, as -c env=NAME")
    return names[0]


#: ``clients("s3")``: a boto3 client of the environment's region (the caller's credentials).
Clients = Callable[[str], Any]


@dataclass(frozen=True)
class Pace:
    """How the smoke waits: a poll every ``poll_seconds``, SQS long polls of ``long_poll_seconds``,
    a progress line every ``report_seconds``. The offline run polls fast; AWS gets 10 s and 20 s."""

    poll_seconds: float = 10.0
    long_poll_seconds: int = 20
    report_seconds: float = 60.0
    #: A pause before an alarm is forced, for the new queue's policy to take effect (SQS may take
    #: up to a minute to apply an attribute, and SNS drops a message that it may not deliver).
    settle_seconds: float = 30.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    wall: Callable[[], float] = time.time


@dataclass
class Smoke:
    """One smoke run: the clients, the environment and its deployment, and what it made."""

    clients: Clients
    config: EnvConfig
    pace: Pace = field(default_factory=Pace)
    say: Callable[[str], None] = print
    deployment: Deployment | None = None
    #: Undo actions, run last-made first by :func:`tools.smoke.run.clean_up`: (what, action).
    undo: list[tuple[str, Callable[[], None]]] = field(default_factory=list)
    #: What the run leaves on purpose or cannot remove from here, for the report.
    notes: list[str] = field(default_factory=list)
    #: SageMaker jobs this run caused, by kind (a smoke's cost).
    jobs: Counter[str] = field(default_factory=Counter)
    #: A tag unique to this run: in object keys, the queue name and the batch id.
    stamp: int = field(default_factory=lambda: int(time.time() * 1000))
    #: Minutes each step may wait, where the caller changes a step's default.
    limits: dict[str, float] = field(default_factory=dict)
    #: write-forecast's DB_TLS/DB_CA_FILE for reading the forecast table; None: from the config.
    database_tls: dict[str, str] | None = None

    def now(self) -> float:
        """Epoch seconds (execution start dates are compared with it)."""
        return self.pace.wall()

    def timeout_minutes(self, step: str, default: float) -> float:
        return self.limits.get(step, default)

    @property
    def deployed(self) -> Deployment:
        if self.deployment is None:
            raise SmokeFailure("stacks", "the deployment was not read (run the stacks step first)")
        return self.deployment

    def wait_for_execution(
        self,
        step: str,
        state_machine_arn: str,
        match: Callable[[dict[str, Any]], bool],
        since: float,
        timeout_seconds: float,
        *,
        name_prefix: str = "",
    ) -> dict[str, Any]:
        """The execution of ``state_machine_arn`` named ``name_prefix...`` whose input ``match``
        accepts, started at or after epoch ``since`` (less a minute), once it has ended; a progress
        line every ``report_seconds``. Past ``timeout_seconds`` a found execution is stopped (Step
        Functions then stops its SageMaker job) and the step fails."""
        sfn = self.clients("stepfunctions")
        start = self.pace.clock()
        arn: str | None = None
        last_report = start
        while True:
            elapsed = self.pace.clock() - start
            if arn is None:
                arn = _find_execution(sfn, state_machine_arn, match, since - 60, name_prefix)
            if arn is not None:
                described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
                if described["status"] != "RUNNING":
                    return described
            if elapsed > timeout_seconds:
                what = "no execution started"
                if arn is not None:
                    sfn.stop_execution(
                        executionArn=arn, error="SmokeTimeout", cause="tools.smoke gave up waiting"
                    )
                    what = f"execution {arn.rsplit(':', 1)[-1]} still RUNNING (now stopped)"
                raise SmokeFailure(
                    step, f"{what} after {elapsed:.0f} s (the limit; raise it with --timeout-minutes)"
                )
            if self.pace.clock() - last_report >= self.pace.report_seconds:
                last_report = self.pace.clock()
                status = (
                    f"execution {arn.rsplit(':', 1)[-1]} RUNNING"
                    if arn
                    else "waiting for the execution to start"
                )
                self.say(f"  {step}: {status}, {elapsed:.0f} s")
            self.pace.sleep(self.pace.poll_seconds)


def _find_execution(
    sfn: Any, state_machine_arn: str, match: Callable[[dict[str, Any]], bool], since: float, name_prefix: str
) -> str | None:
    """The newest execution named ``name_prefix...``, started after ``since`` (epoch seconds), whose
    input ``match`` accepts. ListExecutions sorts running executions by start and the others by
    stop (or redrive) time, newest first: the listing ends once that time is before ``since``."""
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn)
    for page in pages:
        for execution in page["executions"]:
            listed_at = execution.get("stopDate") or execution.get("redriveDate") or execution["startDate"]
            if listed_at.timestamp() < since:
                return None  # the rest ended, or started, earlier still
            if execution["startDate"].timestamp() < since or not execution["name"].startswith(name_prefix):
                continue
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            if match(json.loads(described.get("input") or "{}")):
                return str(execution["executionArn"])
    return None
