"""Read IAM statements out of a synthesized template, found by role description, not logical id."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match, Template

#: Step Functions' vended logging to CloudWatch Logs needs exactly these on "*" (AWS's documented
#: policy for state machine logging); CDK grants them to a state machine's role.
STATES_LOG_DELIVERY = frozenset(
    {
        "logs:CreateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:DescribeLogGroups",
        "logs:DescribeResourcePolicies",
        "logs:GetLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:UpdateLogDelivery",
    }
)


def render(value: Any) -> str:
    """A template value as text: ``{"Ref": "X"}`` is ``${X}``, ``Fn::GetAtt [X, A]`` is ``${X.A}``,
    ``Fn::Join`` joins its rendered parts."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return "${" + value["Ref"] + "}"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "${" + ".".join(value["Fn::GetAtt"]) + "}"
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(render(part) for part in parts)
    raise AssertionError(f"cannot render {value!r}")


def role_id(template: Template, description: str) -> str:
    roles = template.find_resources(
        "AWS::IAM::Role", {"Properties": {"Description": Match.string_like_regexp(description)}}
    )
    assert len(roles) == 1, f"expected one role described by {description!r}, found {list(roles)}"
    return next(iter(roles))


def statements(template: Template, description: str) -> list[dict[str, Any]]:
    """Every statement of every policy attached to the role whose description matches."""
    rid = role_id(template, description)
    found: list[dict[str, Any]] = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        if {"Ref": rid} in policy["Properties"]["Roles"]:
            found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    role = template.find_resources("AWS::IAM::Role")[rid]
    assert not role["Properties"].get("ManagedPolicyArns"), "no managed policies on this app's roles"
    for inline in role["Properties"].get("Policies", []):
        found.extend(inline["PolicyDocument"]["Statement"])
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def actions(stmts: list[dict[str, Any]]) -> set[str]:
    return {a for s in stmts for a in as_list(s["Action"])}


def statement_for(stmts: list[dict[str, Any]], action: str) -> dict[str, Any]:
    matching = [s for s in stmts if action in as_list(s["Action"])]
    assert len(matching) == 1, f"expected one statement with {action}, found {matching}"
    return matching[0]
