"""Secret rotation: off by default (SMG4 acknowledged), or Secrets Manager's hosted MySQL
single-user rotation in the configured VPC on the configured schedule."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from config import read_cdk_context
from config.paths import ROOT
from contracts.names import rotation_function_name
from tests.infra.conftest import Synthesized, synthesize

CFN_LINT = Path(sys.executable).with_name("cfn-lint")


def forecast_with_rotation(*, security_group: bool = True, days: int = 7) -> dict[str, Any]:
    """dev's forecast with china's imported network (in us-east-1) and rotation on."""
    environments = read_cdk_context()["environments"]
    forecast = copy.deepcopy(environments["dev"]["forecast"])
    network = copy.deepcopy(environments["china"]["forecast"]["network"])
    network["availabilityZones"] = ["us-east-1a", "us-east-1b"]
    if not security_group:
        network.pop("databaseSecurityGroupId")
    forecast["network"] = network
    forecast["database"]["rotation"] = {"enabled": True, "scheduleDays": days}
    return forecast


@cache
def rotating(security_group: bool = True) -> Synthesized:
    return synthesize("dev", {"forecast": forecast_with_rotation(security_group=security_group)})


def shared(s: Synthesized) -> dict[str, Any]:
    return dict(Template.from_stack(s.stacks.shared).to_json())


def of_type(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def smg4(s: Synthesized) -> list[str]:
    return [path for path, finding, _ in s.stacks.nag_acknowledged if finding == "AwsSolutions-SMG4"]


def test_rotation_is_off_by_default_and_smg4_is_acknowledged_for_that_case(dev: Synthesized) -> None:
    template = shared(dev)
    assert not of_type(template, "AWS::SecretsManager::RotationSchedule")
    assert "Transform" not in template
    (secret,) = of_type(template, "AWS::SecretsManager::Secret").values()
    assert "engine" not in json.loads(secret["Properties"]["GenerateSecretString"]["SecretStringTemplate"])
    assert smg4(dev) == ["MlPipelines-dev-Shared/DatabaseSecret/Resource"]
    (reason,) = [r for _, f, r in dev.stacks.nag_acknowledged if f == "AwsSolutions-SMG4"]
    assert "Rotation is off" in reason


def test_rotation_on_runs_hosted_mysql_single_user_rotation_in_the_vpc_on_the_schedule() -> None:
    s = rotating()
    network = s.config.forecast.network  # type: ignore[union-attr]
    template = shared(s)
    assert template["Transform"].startswith("AWS::SecretsManager-"), "hosted rotation's transform"
    (secret_id,) = of_type(template, "AWS::SecretsManager::Secret")
    (schedule,) = of_type(template, "AWS::SecretsManager::RotationSchedule").values()
    props = schedule["Properties"]
    assert props["SecretId"] == {"Ref": secret_id}
    hosted = props["HostedRotationLambda"]
    assert hosted["RotationType"] == "MySQLSingleUser"
    assert hosted["VpcSubnetIds"] == ",".join(network.private_subnet_ids)
    assert hosted["VpcSecurityGroupIds"] == network.database_security_group_id, (
        "the group the database accepts"
    )
    assert hosted["RotationLambdaName"] == rotation_function_name(s.config.name)
    assert props["RotationRules"] == {"ScheduleExpression": "rate(7 days)"}
    assert props["RotateImmediatelyOnUpdate"] is False, "the secret must hold real credentials first"
    (secret,) = of_type(template, "AWS::SecretsManager::Secret").values()
    generated = json.loads(secret["Properties"]["GenerateSecretString"]["SecretStringTemplate"])
    assert generated["engine"] == "mysql", "the rotation function refuses a secret without it"
    assert smg4(s) == [], "rotation is on: nothing to acknowledge"


def test_the_rotation_function_logs_to_a_stack_owned_group_with_the_retention() -> None:
    s = rotating()
    template = shared(s)
    ((schedule_id, schedule),) = of_type(template, "AWS::SecretsManager::RotationSchedule").items()
    groups = {
        lid: g
        for lid, g in of_type(template, "AWS::Logs::LogGroup").items()
        if g["Properties"].get("LogGroupName") == f"/aws/lambda/{rotation_function_name(s.config.name)}"
    }
    ((group_id, group),) = groups.items()
    assert group["Properties"]["RetentionInDays"] == s.config.logs.retention_days
    assert group_id in schedule["DependsOn"], (
        f"{schedule_id} waits for the group, so the function never creates it"
    )


def test_without_a_configured_group_the_rotation_function_gets_its_own() -> None:
    s = rotating(security_group=False)
    template = shared(s)
    (schedule,) = of_type(template, "AWS::SecretsManager::RotationSchedule").values()
    ((group_id, group),) = of_type(template, "AWS::EC2::SecurityGroup").items()
    assert schedule["Properties"]["HostedRotationLambda"]["VpcSecurityGroupIds"] == {
        "Fn::GetAtt": [group_id, "GroupId"]
    }
    assert group["Properties"]["VpcId"] == s.config.forecast.network.vpc_id  # type: ignore[union-attr]
    assert "accept this group" in group["Properties"]["GroupDescription"]
    assert template["Outputs"]["DatabaseRotationSecurityGroupId"]["Value"] == {
        "Fn::GetAtt": [group_id, "GroupId"]
    }


@pytest.mark.slow
def test_cfn_lint_passes_the_rotating_templates() -> None:
    s = rotating()
    out = Path(s.stacks.shared.node.root.outdir)  # type: ignore[attr-defined]
    forecast = s.stacks.forecast
    assert forecast is not None
    templates = [str(out / f"{stack.artifact_id}.template.json") for stack in (s.stacks.shared, forecast)]
    assert CFN_LINT.exists(), "cfn-lint is not installed: run `make setup`"
    proc = subprocess.run(
        [str(CFN_LINT), "--format", "parseable", "--regions", s.config.region, "--", *templates],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0 and not proc.stdout.strip(), f"cfn-lint:\n{proc.stdout}{proc.stderr}"
