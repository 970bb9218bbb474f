"""IAM breadth across the templates: broad grants appear only where a service requires them."""

from __future__ import annotations

from tests.infra.conftest import Synthesized
from tests.infra.iam import STATES_LOG_DELIVERY, as_list


def test_put_resource_policy_only_for_the_state_machines_log_delivery(synthesized: Synthesized) -> None:
    holders = []
    for _, template in synthesized.templates():
        resources = template.to_json()["Resources"]
        for logical_id, resource in resources.items():
            if resource["Type"] != "AWS::IAM::Policy":
                continue
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                actions = set(as_list(statement["Action"]))
                if "logs:PutResourcePolicy" in actions:
                    holders.append(logical_id)
                    assert actions >= STATES_LOG_DELIVERY and statement["Resource"] == "*"
                    (role,) = resource["Properties"]["Roles"]
                    trust = resources[role["Ref"]]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
                    assert [s["Principal"]["Service"] for s in trust] == ["states.amazonaws.com"], logical_id
    expected = 2 if synthesized.stacks.forecast is not None else 1
    assert len(holders) == expected, holders
