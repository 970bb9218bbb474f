"""Checks of the quota loop that each SageMaker job task of the state machines carries."""

from __future__ import annotations

import json
import re
from typing import Any

from config import QuotaRetryConfig

#: A caught error is the quota error: by its name, or by SageMaker's error code in the cause.
QUOTA_ERROR = {
    "Or": [
        {"Variable": "$.error.Error", "StringEquals": "SageMaker.ResourceLimitExceededException"},
        {
            "And": [
                {"Variable": "$.error.Cause", "IsPresent": True},
                {"Variable": "$.error.Cause", "IsString": True},
                {"Variable": "$.error.Cause", "StringMatches": "*ResourceLimitExceeded*"},
            ]
        },
    ]
}
#: (machine, job task, its quota counter, where any other error goes)
QUOTA_LOOPS = [
    ("standardize", "Standardize", "processing_quota", "StandardizeJobFailure"),
    ("forecast", "Train", "training_quota", "TrainCaught"),
    ("forecast", "Transform", "transform_quota", "TransformCaught"),
]
_WAIT_ARRAY = re.compile(r"States\.StringToJson\('(\[[0-9,]*\])'\)")


def quota_waits(states: dict[str, Any], task: str) -> tuple[list[int], list[int]]:
    """The shortest and the longest seconds of each wait that the task's backoff draws from."""
    seconds = states[f"{task}QuotaBackoff"]["Parameters"]["seconds.$"]
    lows, highs = (json.loads(found) for found in _WAIT_ARRAY.findall(seconds))
    attempts = states[f"{task}QuotaStart"]["Parameters"]["attempts.$"]
    assert (
        attempts == f"States.ArrayLength(States.StringToJson('{json.dumps(highs, separators=(',', ':'))}'))"
    )
    return lows, highs


def assert_quota_loop(
    states: dict[str, Any], task: str, counter: str, failed: str, quota_retry: QuotaRetryConfig
) -> None:
    """``task`` catches SageMaker errors into a Choice that sends the quota error to a jittered,
    growing Wait and back, at most as often as ``quota_retry`` allows, and every other error to
    ``failed``."""
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
    assert not_quota == {"Not": QUOTA_ERROR, "Next": failed}, "validation errors are not retried for hours"
    assert first_time == {"Not": {"Variable": f"$.{counter}", "IsPresent": True}, "Next": f"{task}QuotaStart"}
    assert more == {
        "Variable": f"$.{counter}.attempt",
        "NumericLessThanPath": f"$.{counter}.attempts",
        "Next": f"{task}QuotaBackoff",
    }
    start = states[f"{task}QuotaStart"]
    assert start["Type"] == "Pass" and start["Parameters"]["attempt"] == 0
    assert start["ResultPath"] == f"$.{counter}" and start["Next"] == f"{task}QuotaBackoff"
    backoff = states[f"{task}QuotaBackoff"]
    assert backoff["Type"] == "Pass"
    assert backoff["ResultPath"] == f"$.{counter}" and backoff["Next"] == f"{task}QuotaWait"
    lows, highs = quota_waits(states, task)
    assert list(zip(lows, highs, strict=True)) == list(quota_retry.windows())
    low, high = (
        f"States.ArrayGetItem(States.StringToJson('{json.dumps(values, separators=(',', ':'))}'), "
        f"$.{counter}.attempt)"
        for values in (lows, highs)
    )
    assert backoff["Parameters"] == {
        "attempt.$": f"States.MathAdd($.{counter}.attempt, 1)",
        "attempts.$": f"$.{counter}.attempts",
        "seconds.$": f"States.MathRandom({low}, {high})",
    }
    assert states[f"{task}QuotaWait"] == {"Type": "Wait", "SecondsPath": f"$.{counter}.seconds", "Next": task}
