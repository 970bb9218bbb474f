"""Nothing runs unbounded: every Task and each execution carry a TimeoutSeconds, derived from the
deployed functions' timeouts and the jobs' limits (contracts/timeouts.py)."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from config import ConfigError, QuotaRetryConfig, load_env, read_cdk_context
from contracts.timeouts import (
    EXECUTION_MARGIN_SECONDS,
    JOB_MARGIN_SECONDS,
    LAMBDA_MARGIN_SECONDS,
    REQUEST_SECONDS,
    with_timeouts,
)
from tests.infra.conftest import Synthesized, synthesize


def machines(s: Synthesized) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """``unit -> (definition, resources)`` of each state machine, deferred ARNs left as ``${X}``."""
    found = {}
    for unit, template in s.templates():
        resources = template.to_json()["Resources"]
        for resource in resources.values():
            if resource["Type"] == "AWS::StepFunctions::StateMachine":
                found[unit] = (json.loads(resource["Properties"]["DefinitionString"]), resources)
    return found


def function_timeout(definition_props: dict[str, Any], resources: dict[str, Any], placeholder: str) -> int:
    """The deployed ``Timeout`` of the function a ``${X}`` FunctionName stands for."""
    (name,) = re.findall(r"\$\{(\w+)\}", placeholder)
    logical_id = definition_props["DefinitionSubstitutions"][name]["Fn::GetAtt"][0]
    return int(resources[logical_id]["Properties"]["Timeout"])


def test_every_task_and_execution_is_bounded(synthesized: Synthesized) -> None:
    quota = synthesized.config.quota_retry
    for unit, (definition, resources) in machines(synthesized).items():
        (props,) = [
            r["Properties"] for r in resources.values() if r["Type"] == "AWS::StepFunctions::StateMachine"
        ]
        tasks = {name: s for name, s in definition["States"].items() if s["Type"] == "Task"}
        assert tasks and all(isinstance(s.get("TimeoutSeconds"), int) for s in tasks.values()), unit
        for name, task in tasks.items():
            resource = task["Resource"]
            if resource.endswith(":::lambda:invoke"):
                deployed = function_timeout(props, resources, task["Parameters"]["FunctionName"])
                assert task["TimeoutSeconds"] == deployed + LAMBDA_MARGIN_SECONDS, name
            elif resource.endswith(".sync"):
                assert task["TimeoutSeconds"] > JOB_MARGIN_SECONDS, name
            else:
                assert task["TimeoutSeconds"] == REQUEST_SECONDS, name
        waits = sum(1 for s in definition["States"].values() if s["Type"] == "Wait")
        floor = sum(t["TimeoutSeconds"] for t in tasks.values()) + waits * sum(h for _, h in quota.windows())
        assert definition["TimeoutSeconds"] >= floor + EXECUTION_MARGIN_SECONDS, unit
        assert definition["TimeoutSeconds"] < 365 * 86400, "a Standard execution's limit is a year"


def test_the_job_tasks_outlast_their_jobs_limits(dev: Synthesized) -> None:
    cfg = dev.config
    assert cfg.forecast is not None
    standardize, _ = machines(dev)["standardize"]
    forecast, _ = machines(dev)["forecast"]
    assert standardize["States"]["Standardize"]["TimeoutSeconds"] == (
        cfg.standardize.max_runtime_seconds + JOB_MARGIN_SECONDS
    )
    assert forecast["States"]["Train"]["TimeoutSeconds"] == (
        cfg.forecast.deepar.training_max_runtime_seconds + JOB_MARGIN_SECONDS
    )
    assert forecast["States"]["Transform"]["TimeoutSeconds"] == 7200 + JOB_MARGIN_SECONDS  # the default


def test_the_transform_bound_is_a_setting() -> None:
    raw = copy.deepcopy(read_cdk_context()["environments"]["dev"]["forecast"])
    raw.setdefault("deepar", {})["transformMaxRuntimeSeconds"] = 900
    forecast, _ = machines(synthesize("dev", {"forecast": raw}))["forecast"]
    assert forecast["States"]["Transform"]["TimeoutSeconds"] == 900 + JOB_MARGIN_SECONDS


@pytest.mark.parametrize("value", [59, 2_419_201, "3600"])
def test_a_bad_transform_bound_names_the_setting(value: object) -> None:
    context = read_cdk_context()
    context["environments"]["dev"]["forecast"].setdefault("deepar", {})["transformMaxRuntimeSeconds"] = value
    with pytest.raises(
        ConfigError, match=re.escape("'forecast.deepar.transformMaxRuntimeSeconds' must be an integer")
    ):
        load_env("dev", context)


def test_a_task_without_a_bound_is_refused() -> None:
    definition = {
        "StartAt": "Work",
        "States": {
            "Work": {"Type": "Task", "Resource": "arn:aws:states:::glue:startJobRun.sync", "End": True}
        },
    }
    with pytest.raises(ValueError, match=r"Task Work .* has no time bound"):
        with_timeouts(definition, {}, QuotaRetryConfig())
    with pytest.raises(ValueError, match="no Task"):
        with_timeouts(definition, {"Work": 60, "Other": 60}, QuotaRetryConfig())
