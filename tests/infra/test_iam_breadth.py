"""IAM breadth across the templates: broad grants appear only where a service requires them."""

from __future__ import annotations

from tests.infra.conftest import Synthesized
from tests.infra.iam import as_list

#: Step Functions' vended logging to CloudWatch Logs needs exactly these on "*" (AWS's documented
#: policy for state machine logging); no other role of the app needs logs:PutResourcePolicy.
STATES_LOG_DELIVERY = {
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
}


def test_put_resource_policy_only_for_the_state_machines_log_delivery(synthesized: Synthesized) -> None:
    holders = []
    for unit in ("shared", "standardize", "forecast"):
        if getattr(synthesized.stacks, unit) is None:
            continue
        resources = synthesized.template(unit).to_json()["Resources"]
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
