"""The smoke's order: stacks, standardize, bad name, alerts, optionally the forecast; then clean up
and report the wall time and the SageMaker jobs the run caused."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tools.smoke.context import Smoke
from tools.smoke.deployment import SmokeFailure, read_deployment
from tools.smoke.steps import check_alerts, check_bad_name, check_standardize


@dataclass
class Report:
    """What a smoke run found: each passed check, the failure if any, and what cleaning up could not do."""

    passed: list[tuple[str, str]] = field(default_factory=list)
    failure: SmokeFailure | None = None
    leftovers: list[str] = field(default_factory=list)
    seconds: float = 0.0
    jobs: dict[str, int] = field(default_factory=dict)
    #: What the run left on purpose, or could not reach to remove (not a failure).
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failure is None and not self.leftovers


def steps(smoke: Smoke, *, forecast: bool, skip_etl: bool) -> list[tuple[str, Callable[[], str]]]:
    """The checks in order, each a name and a callable that returns what it proved."""

    def stacks() -> str:
        smoke.deployment = read_deployment(smoke.clients("cloudformation"), smoke.config, forecast=forecast)
        return f"bucket {smoke.deployment.bucket}, topic {smoke.deployment.alerts_topic_arn}"

    checks: list[tuple[str, Callable[[], str]]] = [
        ("stacks", stacks),
        ("standardize", lambda: check_standardize(smoke)),
        ("bad name", lambda: check_bad_name(smoke)),
        ("alerts", lambda: check_alerts(smoke)),
    ]
    if forecast:
        from tools.smoke.forecast_step import check_forecast

        checks.append(("forecast", lambda: check_forecast(smoke, skip_etl=skip_etl)))
    return checks


def clean_up(smoke: Smoke) -> list[str]:
    """Undo what the run made, last made first; returns what could not be removed, with why."""
    leftovers = []
    while smoke.undo:
        what, action = smoke.undo.pop()
        try:
            action()
            smoke.say(f"  removed {what}")
        except Exception as err:  # every removal is tried; the report lists what remains
            leftovers.append(f"{what}: {err}")
    return leftovers


def run_smoke(smoke: Smoke, *, forecast: bool = False, skip_etl: bool = False) -> Report:
    """Run the checks until one fails, then clean up; never raises :class:`SmokeFailure`."""
    report = Report()
    start = smoke.pace.clock()
    name = "stacks"
    try:
        for name, check in steps(smoke, forecast=forecast, skip_etl=skip_etl):
            smoke.say(f"{name} ...")
            found = check()
            smoke.say(f"{name}: ok ({found})")
            report.passed.append((name, found))
    except SmokeFailure as failure:
        report.failure = failure
        smoke.say(f"FAILED {failure}")
    except Exception as err:  # an AWS error (AccessDenied, throttling) fails the step it came from
        report.failure = SmokeFailure(name, f"{type(err).__name__}: {err}")
        smoke.say(f"FAILED {report.failure}")
    finally:
        smoke.say("cleaning up ...")
        report.leftovers = clean_up(smoke)
        report.seconds = smoke.pace.clock() - start
        report.jobs = dict(smoke.jobs)
    jobs = ", ".join(f"{n} {kind}" for kind, n in sorted(report.jobs.items())) or "none"
    verdict = "passed" if report.ok else "FAILED"
    smoke.say(
        f"smoke {verdict}: {len(report.passed)} checks in {report.seconds:.0f} s; "
        f"SageMaker jobs started: {jobs}"
    )
    for leftover in report.leftovers:
        smoke.say(f"  not removed: {leftover}")
    report.notes = list(smoke.notes)
    for note in report.notes:
        smoke.say(f"  note: {note}")
    return report
