"""Time bounds of the two state machines: each Task's ``TimeoutSeconds`` and the execution's.

Nothing may run unbounded. CDK's ``timeout`` prop is ignored for a definition given as a string
(aws/aws-cdk#37150), and batch transform jobs have no maximum runtime of their own, so both bounds
are written into the ASL itself, here, for the stacks and the offline runner alike:

- a Lambda task: the function's own timeout plus :data:`LAMBDA_MARGIN_SECONDS`;
- a ``.sync`` SageMaker task: the job's limit (``MaxRuntimeInSeconds``, or for batch transform
  ``forecast.deepar.transformMaxRuntimeSeconds``) plus :data:`JOB_MARGIN_SECONDS` for instance
  start-up and the data it downloads and uploads;
- a request-response call (``createModel``, ``sns:publish``): :data:`REQUEST_SECONDS`;
- the execution: the longest legitimate run, that is each Task's bound once (a retried attempt is
  one that failed fast: throttling, a rejected call), every retry's longest backoff, every quota
  wait that ``quotaRetry`` allows each job, plus :data:`EXECUTION_MARGIN_SECONDS`.

A task that times out fails with ``States.Timeout``, which each step's ``States.ALL`` catcher takes
to the same failure and alert as any other failure of that step.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from config import ForecastConfig, QuotaRetryConfig, StandardizeConfig
from contracts.asl import states

LAMBDA_MARGIN_SECONDS = 30
JOB_MARGIN_SECONDS = 1800
REQUEST_SECONDS = 300
EXECUTION_MARGIN_SECONDS = 3600

#: The functions' own timeouts (the stacks set them from here).
GET_BATCH_ID_TIMEOUT_SECONDS = 10
WRITE_FORECAST_TIMEOUT_SECONDS = 300

#: Task integrations that are one request and its response.
_REQUEST_RESPONSE = (":::sns:publish", ":::sagemaker:createModel")


def standardize_task_timeouts(cfg: StandardizeConfig) -> dict[str, int]:
    """``TimeoutSeconds`` of each Task of ``standardize.asl.json`` that is not a request-response call."""
    return {
        "GetBatchId": GET_BATCH_ID_TIMEOUT_SECONDS + LAMBDA_MARGIN_SECONDS,
        "Standardize": cfg.max_runtime_seconds + JOB_MARGIN_SECONDS,
    }


def forecast_task_timeouts(cfg: ForecastConfig) -> dict[str, int]:
    """``TimeoutSeconds`` of each Task of ``forecast.asl.json`` that is not a request-response call."""
    return {
        "GenerateDataset": cfg.generate_dataset.timeout_seconds + LAMBDA_MARGIN_SECONDS,
        "Train": cfg.deepar.training_max_runtime_seconds + JOB_MARGIN_SECONDS,
        "QualityGate": WRITE_FORECAST_TIMEOUT_SECONDS + LAMBDA_MARGIN_SECONDS,
        "Transform": cfg.deepar.transform_max_runtime_seconds + JOB_MARGIN_SECONDS,
        "WriteForecast": WRITE_FORECAST_TIMEOUT_SECONDS + LAMBDA_MARGIN_SECONDS,
    }


def _longest_backoff(retrier: Mapping[str, Any]) -> float:
    """The waits of one Retry entry if every attempt fails (Step Functions' defaults where unset)."""
    interval, rate = float(retrier.get("IntervalSeconds", 1)), float(retrier.get("BackoffRate", 2.0))
    cap = float(retrier.get("MaxDelaySeconds", float("inf")))
    return sum(min(interval * rate**k, cap) for k in range(int(retrier.get("MaxAttempts", 3))))


def quota_jobs(definition: Mapping[str, Any]) -> set[str]:
    """The jobs that wait out the SageMaker quota: where each quota ``Wait`` (one with
    ``SecondsPath``) leads back to, directly or through a Choice; each job counts its waits."""
    every = dict(states(definition))
    jobs: set[str] = set()
    for state in every.values():
        if state["Type"] == "Wait" and "SecondsPath" in state:
            after = every[state["Next"]]
            if after["Type"] == "Choice":
                jobs.update(choice["Next"] for choice in after["Choices"])
            else:
                jobs.add(state["Next"])
    return jobs


def with_timeouts(
    definition: Mapping[str, Any], task_timeouts: Mapping[str, int], quota_retry: QuotaRetryConfig
) -> dict[str, Any]:
    """``definition`` with ``TimeoutSeconds`` on every Task and on the execution.

    ``task_timeouts`` names every Task but the request-response ones; a Task it does not name, or a
    name that is no Task, is a ``ValueError``, so no new Task goes unbounded by mistake.
    """
    out: dict[str, Any] = json.loads(json.dumps(definition))
    tasks = {name: state for name, state in states(out) if state["Type"] == "Task"}
    unknown = set(task_timeouts) - set(tasks)
    if unknown:
        raise ValueError(f"timeouts for states that are no Task: {sorted(unknown)}")
    total = float(EXECUTION_MARGIN_SECONDS)
    for name, state in tasks.items():
        if name in task_timeouts:
            state["TimeoutSeconds"] = int(task_timeouts[name])
        elif str(state["Resource"]).endswith(_REQUEST_RESPONSE):
            state["TimeoutSeconds"] = REQUEST_SECONDS
        else:
            raise ValueError(f"Task {name} ({state['Resource']}) has no time bound in contracts/timeouts.py")
        total += state["TimeoutSeconds"] + sum(_longest_backoff(r) for r in state.get("Retry", []))
    total += len(quota_jobs(out)) * sum(high for _, high in quota_retry.windows())
    out["TimeoutSeconds"] = int(total)
    return out
