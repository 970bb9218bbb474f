"""Checks of the quota loops of the state machines: standardize's one job has its own, and the
forecast's two jobs share one that counts each job's waits apart."""

from __future__ import annotations

import json
import re
from typing import Any

from config import QuotaRetryConfig

_CAUSE_NAMES_THE_QUOTA = [
    {"Variable": "$.error.Cause", "IsPresent": True},
    {"Variable": "$.error.Cause", "IsString": True},
    {"Variable": "$.error.Cause", "StringMatches": "*ResourceLimitExceeded*"},
]
#: standardize catches only SageMaker's errors into its loop: the quota is either's name or cause.
STANDARDIZE_QUOTA_ERROR = {
    "Or": [
        {"Variable": "$.error.Error", "StringEquals": "SageMaker.ResourceLimitExceededException"},
        {"And": _CAUSE_NAMES_THE_QUOTA},
    ]
}
#: forecast's loop sees every error of the job: the quota is one error's name, or the other's cause.
FORECAST_QUOTA_ERROR = {
    "Or": [
        {"Variable": "$.error.Error", "StringEquals": "SageMaker.ResourceLimitExceededException"},
        {
            "And": [
                {"Variable": "$.error.Error", "StringEquals": "SageMaker.AmazonSageMakerException"},
                *_CAUSE_NAMES_THE_QUOTA,
            ]
        },
    ]
}
#: (machine, the prefix of its loop's states, the state that holds the count)
QUOTA_LOOPS = [("standardize", "Standardize", "processing_quota"), ("forecast", "", "quota")]
#: The forecast's jobs, and the Pass each one's errors enter the shared paths through.
FORECAST_JOBS = ("Train", "Transform")
_WAIT_ARRAY = re.compile(r"States\.StringToJson\('(\[[0-9,]*\])'\)")


def quota_waits(states: dict[str, Any], prefix: str) -> tuple[list[int], list[int]]:
    """The shortest and the longest seconds of each wait that the loop's backoff draws from."""
    seconds = states[f"{prefix}QuotaBackoff"]["Parameters"]["seconds.$"]
    lows, highs = (json.loads(found) for found in _WAIT_ARRAY.findall(seconds))
    attempts = states[f"{prefix}QuotaStart"]["Parameters"]["attempts.$"]
    assert (
        attempts == f"States.ArrayLength(States.StringToJson('{json.dumps(highs, separators=(',', ':'))}'))"
    )
    return lows, highs


def _assert_backoff(states: dict[str, Any], prefix: str, counter: str, quota_retry: QuotaRetryConfig) -> None:
    """Start counts no wait yet; each backoff draws wait number ``attempt`` from its window."""
    start = states[f"{prefix}QuotaStart"]
    assert start["Type"] == "Pass" and start["Parameters"]["attempt"] == 0
    assert start["ResultPath"] == f"$.{counter}" and start["Next"] == f"{prefix}QuotaBackoff"
    backoff = states[f"{prefix}QuotaBackoff"]
    assert backoff["Type"] == "Pass"
    assert backoff["ResultPath"] == f"$.{counter}" and backoff["Next"] == f"{prefix}QuotaWait"
    lows, highs = quota_waits(states, prefix)
    assert list(zip(lows, highs, strict=True)) == list(quota_retry.windows())
    low, high = (
        f"States.ArrayGetItem(States.StringToJson('{json.dumps(values, separators=(',', ':'))}'), "
        f"$.{counter}.attempt)"
        for values in (lows, highs)
    )
    expected = {
        "attempt.$": f"States.MathAdd($.{counter}.attempt, 1)",
        "attempts.$": f"$.{counter}.attempts",
        "seconds.$": f"States.MathRandom({low}, {high})",
    }
    if not prefix:
        expected["step.$"] = "$.quota.step"
    assert backoff["Parameters"] == expected


def assert_quota_loop(states: dict[str, Any], machine: str, quota_retry: QuotaRetryConfig) -> None:
    """Each job sends the quota error to a jittered, growing Wait and back, at most as often as
    ``quota_retry`` allows, and every other error to its failure path."""
    if machine == "standardize":
        _assert_standardize_loop(states, quota_retry)
    else:
        _assert_forecast_loop(states, quota_retry)


def _assert_standardize_loop(states: dict[str, Any], quota_retry: QuotaRetryConfig) -> None:
    task, counter, failed = "Standardize", "processing_quota", "StandardizeJobFailure"
    first, last = states[task]["Catch"]
    assert first == {
        "ErrorEquals": ["SageMaker.ResourceLimitExceededException", "SageMaker.AmazonSageMakerException"],
        "ResultPath": "$.error",
        "Next": f"{task}Quota",
    }
    assert last == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": failed}
    check = states[f"{task}Quota"]
    assert check["Type"] == "Choice" and check["Default"] == failed
    not_quota, first_time, more = check["Choices"]
    assert not_quota == {"Not": STANDARDIZE_QUOTA_ERROR, "Next": failed}, "validation errors are not retried"
    assert first_time == {"Not": {"Variable": f"$.{counter}", "IsPresent": True}, "Next": f"{task}QuotaStart"}
    assert more == {
        "Variable": f"$.{counter}.attempt",
        "NumericLessThanPath": f"$.{counter}.attempts",
        "Next": f"{task}QuotaBackoff",
    }
    _assert_backoff(states, task, counter, quota_retry)
    assert states[f"{task}QuotaWait"] == {"Type": "Wait", "SecondsPath": f"$.{counter}.seconds", "Next": task}


def _assert_forecast_loop(states: dict[str, Any], quota_retry: QuotaRetryConfig) -> None:
    for job in FORECAST_JOBS:
        assert states[job]["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": f"{job}Caught"}
        ]
        assert states[f"{job}Caught"]["Parameters"]["step"] == job
        assert states[f"{job}Caught"]["Next"] == "QuotaCheck"
    check = states["QuotaCheck"]
    assert check["Type"] == "Choice" and check["Default"] == "ErrorCause"
    not_quota, first_time, other_job, more = check["Choices"]
    assert not_quota == {"Not": FORECAST_QUOTA_ERROR, "Next": "ErrorCause"}, (
        "validation errors are not retried"
    )
    assert first_time == {"Not": {"Variable": "$.quota", "IsPresent": True}, "Next": "QuotaStart"}
    assert other_job == {
        "Not": {"Variable": "$.quota.step", "StringEqualsPath": "$.failure.step"},
        "Next": "QuotaStart",
    }, "each job counts its own waits"
    assert more == {
        "Variable": "$.quota.attempt",
        "NumericLessThanPath": "$.quota.attempts",
        "Next": "QuotaBackoff",
    }
    assert states["QuotaStart"]["Parameters"]["step.$"] == "$.failure.step"
    _assert_backoff(states, "", "quota", quota_retry)
    assert states["QuotaWait"] == {"Type": "Wait", "SecondsPath": "$.quota.seconds", "Next": "QuotaRetry"}
    retry = states["QuotaRetry"]
    assert retry["Choices"] == [
        {"Variable": "$.quota.step", "StringEquals": job, "Next": job} for job in FORECAST_JOBS
    ]
