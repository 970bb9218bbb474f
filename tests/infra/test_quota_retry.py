"""Both deployed state machines wait out the SageMaker quota with the environment's quotaRetry waits."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from config import QuotaRetryConfig
from tests.infra.conftest import Synthesized, synthesize
from tests.infra.quota import QUOTA_LOOPS, assert_quota_loop, quota_waits


def deployed_states(template: Template) -> dict[str, Any]:
    [machine] = template.find_resources("AWS::StepFunctions::StateMachine").values()
    states: dict[str, Any] = json.loads(machine["Properties"]["DefinitionString"])["States"]
    return states


@pytest.mark.parametrize(("machine", "prefix", "counter"), QUOTA_LOOPS)
def test_each_job_task_waits_out_the_quota_as_configured(
    synthesized: Synthesized, machine: str, prefix: str, counter: str
) -> None:
    if machine == "forecast" and synthesized.config.forecast is None:
        pytest.skip(f"{synthesized.config.name} has no forecast pipeline")
    states = deployed_states(synthesized.template(machine))
    assert_quota_loop(states, machine, synthesized.config.quota_retry)
    assert synthesized.config.quota_retry == QuotaRetryConfig(60, 2.0, 900, 43200), "cdk.json's values"


def test_a_changed_quota_retry_setting_reaches_both_state_machines() -> None:
    custom = {
        "firstWaitSeconds": 120,
        "backoffRate": 1.5,
        "maxWaitSeconds": 1800,
        "maxTotalWaitSeconds": 7200,
    }
    synthesized = synthesize("dev", {"quotaRetry": custom})
    quota_retry = synthesized.config.quota_retry
    assert quota_retry == QuotaRetryConfig(120, 1.5, 1800, 7200)
    # 120, 180, 270, 405, 608, 911, 1367, 1800 (cap) add up to 5661; one more 1800 would pass 7200
    expected_highs = [120, 180, 270, 405, 608, 911, 1367, 1800]
    for machine, prefix, _ in QUOTA_LOOPS:
        states = deployed_states(synthesized.template(machine))
        assert_quota_loop(states, machine, quota_retry)
        lows, highs = quota_waits(states, prefix)
        assert highs == expected_highs and lows == [(h + 1) // 2 for h in expected_highs]
