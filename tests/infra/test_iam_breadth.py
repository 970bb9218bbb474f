"""IAM breadth across the templates: broad grants appear only where a service requires them."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Template

from tests.infra.conftest import Synthesized
from tests.infra.iam import STATES_LOG_DELIVERY, as_list, render, statements


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


#: Actions EC2, X-Ray, ECR and Glue authorize on Resource '*' only (no resource types in the
#: service authorization reference), and Step Functions' log delivery actions.
NO_RESOURCE_LEVEL = STATES_LOG_DELIVERY | {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "ecr:GetAuthorizationToken",
    "glue:GetSecurityConfiguration",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeRouteTables",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeVpcs",
}


def policy_statements(synthesized: Synthesized) -> list[tuple[str, dict[str, Any]]]:
    """``(unit/policy, statement)`` of every identity policy, inline ones included."""
    found: list[tuple[str, dict[str, Any]]] = []
    for unit, template in synthesized.templates():
        for logical_id, resource in template.to_json()["Resources"].items():
            documents = []
            if resource["Type"] == "AWS::IAM::Policy":
                documents = [resource["Properties"]["PolicyDocument"]]
            elif resource["Type"] == "AWS::IAM::Role":
                documents = [p["PolicyDocument"] for p in resource["Properties"].get("Policies", [])]
            for document in documents:
                found.extend((f"{unit}/{logical_id}", s) for s in document["Statement"])
    return found


def test_resource_star_only_for_actions_without_resource_level_permissions(synthesized: Synthesized) -> None:
    """What the IAM5 'Resource::*' acknowledgments say: '*' only where AWS allows nothing narrower."""
    broad = [(where, s) for where, s in policy_statements(synthesized) if "*" in as_list(s["Resource"])]
    assert broad, "X-Ray and log delivery need '*'"
    for where, statement in broad:
        assert set(as_list(statement["Action"])) <= NO_RESOURCE_LEVEL, where


def test_the_glue_job_reads_its_script_and_shared_module_objects_only(synthesized: Synthesized) -> None:
    template = forecast_template(synthesized)
    (job,) = template.find_resources("AWS::Glue::Job").values()
    script = job["Properties"]["Command"]["ScriptLocation"]
    module = job["Properties"]["DefaultArguments"]["--extra-py-files"]
    keys = {json.dumps(url).rsplit("/", 1)[1].rstrip('"]}') for url in (script, module)}
    stmts = statements(template, "Forecast ETL job")
    assets = [s for s in stmts if "cdk-" in json.dumps(s["Resource"])]
    assert len(assets) == 2, assets
    bucket = f"-assets-{synthesized.config.account}-{synthesized.config.region}/"
    assert {read["Resource"].rsplit(bucket, 1)[1] for read in assets} == keys
    assert all(as_list(read["Action"]) == ["s3:GetObject"] for read in assets)
    assert sorted(key.rsplit(".", 1)[1] for key in keys) == ["py", "zip"], (script, module)


def _ids(arns: Any, kind: str) -> set[str]:
    """The ids in the EC2 ARNs ``arns`` of resource type ``kind`` (rendered: ``${Ref}`` or literal)."""
    return {m[1] for m in (re.search(rf":{kind}/(.+)$", render(a)) for a in as_list(arns)) if m}


@pytest.mark.parametrize("role", ["Forecast crawler", "Forecast ETL job", "Runs write_forecast"])
def test_network_interfaces_are_created_and_deleted_in_the_own_subnets_only(
    synthesized: Synthesized, role: str
) -> None:
    """EC2's condition keys where it has them: the new interface's subnet and groups are named, in
    the VPC (ec2:Vpc); interfaces are deleted (re-addressed) in those subnets only (ec2:Subnet)."""
    template = forecast_template(synthesized)
    if role.startswith("Runs"):
        (function,) = [
            r
            for r in template.find_resources("AWS::Lambda::Function").values()
            if "VpcConfig" in r["Properties"]
        ]
        subnets = function["Properties"]["VpcConfig"]["SubnetIds"]
        groups = function["Properties"]["VpcConfig"]["SecurityGroupIds"]
        on_interfaces = {
            "ec2:DeleteNetworkInterface",
            "ec2:AssignPrivateIpAddresses",
            "ec2:UnassignPrivateIpAddresses",
        }
    else:
        (connection,) = template.find_resources("AWS::Glue::Connection").values()
        physical = connection["Properties"]["ConnectionInput"]["PhysicalConnectionRequirements"]
        subnets, groups = [physical["SubnetId"]], physical["SecurityGroupIdList"]
        on_interfaces = {"ec2:DeleteNetworkInterface"}
    subnet_ids, group_ids = {render(s) for s in subnets}, {render(g) for g in groups}
    stmts = statements(template, role)
    creates = [s for s in stmts if "ec2:CreateNetworkInterface" in as_list(s["Action"])]
    assert len(creates) == 2, creates
    (new,) = [
        s
        for s in creates
        if isinstance(s["Resource"], str) and s["Resource"].endswith(":network-interface/*")
    ]
    assert "Condition" not in new, "EC2 has no VPC key on an interface it has not created yet"
    (placed,) = [s for s in creates if s is not new]
    assert _ids(placed["Resource"], "subnet") == subnet_ids
    assert _ids(placed["Resource"], "security-group") == group_ids
    assert len(as_list(placed["Resource"])) == len(subnet_ids) + len(group_ids)
    vpcs = list(template.find_resources("AWS::EC2::VPC"))
    network = synthesized.config.forecast.network  # type: ignore[union-attr]
    vpc = f"${{{vpcs[0]}}}" if vpcs else network.vpc_id
    assert placed["Condition"] == {"ArnEquals": {"ec2:Vpc": placed["Condition"]["ArnEquals"]["ec2:Vpc"]}}
    assert render(placed["Condition"]["ArnEquals"]["ec2:Vpc"]).endswith(f":vpc/{vpc}")
    managing = [s for s in stmts if set(as_list(s["Action"])) & on_interfaces]
    assert len(managing) == 1 and set(as_list(managing[0]["Action"])) == on_interfaces
    assert list(managing[0]["Condition"]["ArnEquals"]) == ["ec2:Subnet"]
    assert _ids(managing[0]["Condition"]["ArnEquals"]["ec2:Subnet"], "subnet") == subnet_ids
    for statement in stmts:
        ec2_writes = {a for a in as_list(statement["Action"]) if a.startswith("ec2:") and "Describe" not in a}
        if ec2_writes:
            assert "*" not in as_list(statement["Resource"]), (role, statement)
            if statement is not new:
                assert "Condition" in statement or all(
                    ":subnet/" in render(r) or ":security-group/" in render(r)
                    for r in as_list(statement["Resource"])
                ), statement


def forecast_template(synthesized: Synthesized) -> Template:
    assert synthesized.stacks.forecast is not None
    return synthesized.template("forecast")
