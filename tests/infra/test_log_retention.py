"""Log retention: every log group the app writes to keeps its events ``logs.retentionDays``, and no
account-wide service log group is a stack resource."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template

from config import LOG_RETENTION_DAYS
from stacks.forecast_etl import job_log_group_prefix
from stacks.log_groups import LOG_RETENTION_FUNCTION, retention
from tests.infra.conftest import Synthesized, synthesize
from tests.infra.iam import as_list, render

#: Log groups AWS services share across every app of an account and region.
ACCOUNT_WIDE = re.compile(r"^/aws/sagemaker/|^/aws-glue/(jobs/(error|output|logs-v2)|crawlers)$")
_LOG_GROUP_ARN = re.compile(r"^arn:[-a-z]+:logs:[^:]+:[^:]+:log-group:(?P<name>.+?)(:\*)?$")


def resources(template: Template) -> dict[str, Any]:
    return dict(template.to_json()["Resources"])


def log_groups(synthesized: Synthesized) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for unit, template in synthesized.templates():
        for logical_id, resource in resources(template).items():
            if resource["Type"] == "AWS::Logs::LogGroup":
                yield unit, logical_id, resource


def log_retentions(synthesized: Synthesized) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for unit, template in synthesized.templates():
        for logical_id, resource in resources(template).items():
            if resource["Type"] == "Custom::LogRetention":
                yield unit, logical_id, resource


def written_log_groups(template: Template) -> Iterator[tuple[str, str]]:
    """``(policy, log group)`` of every log group an IAM policy lets a role write events to."""
    for logical_id, resource in resources(template).items():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            if "logs:PutLogEvents" in as_list(statement["Action"]):
                for arn in as_list(statement["Resource"]):
                    yield logical_id, render(arn)


def test_every_log_group_and_log_retention_keeps_the_configured_retention(synthesized: Synthesized) -> None:
    days = synthesized.config.logs.retention_days
    groups, retentions = list(log_groups(synthesized)), list(log_retentions(synthesized))
    assert len(groups) >= 7 and len(retentions) >= 3, "functions, state machines, handlers; SageMaker, Glue"
    for unit, logical_id, resource in groups + retentions:
        assert int(resource["Properties"]["RetentionInDays"]) == days, f"{unit}/{logical_id}"


def test_retention_follows_logs_retention_days() -> None:
    s = synthesize("dev", {"logs": {"retentionDays": 14}})
    kept = [int(r["Properties"]["RetentionInDays"]) for _, _, r in [*log_groups(s), *log_retentions(s)]]
    assert kept and set(kept) == {14}


def test_retention_days_map_onto_cloudwatch_logs_values() -> None:
    stack = Stack(App(), "S")
    for days in LOG_RETENTION_DAYS:
        logs.LogGroup(stack, f"G{days}", retention=retention(days))
    kept = sorted(r["Properties"]["RetentionInDays"] for r in resources(Template.from_stack(stack)).values())
    assert kept == list(LOG_RETENTION_DAYS)


def test_no_account_wide_service_log_group_is_a_stack_resource(synthesized: Synthesized) -> None:
    for unit, logical_id, resource in log_groups(synthesized):
        name = resource["Properties"].get("LogGroupName")
        if name is not None:
            assert not ACCOUNT_WIDE.search(render(name)), f"{unit}/{logical_id} owns {render(name)}"
    shared = [
        r
        for _, _, r in log_retentions(synthesized)
        if ACCOUNT_WIDE.search(render(r["Properties"]["LogGroupName"]))
    ]
    kinds = {"ProcessingJobs"} | ({"TrainingJobs", "TransformJobs"} if synthesized.stacks.forecast else set())
    assert {r["Properties"]["LogGroupName"] for r in shared} == {f"/aws/sagemaker/{k}" for k in kinds}
    for resource in shared:  # kept when the stack goes: another app of the account may write there
        assert resource["Properties"]["RemovalPolicy"] == "retain"


def test_every_log_group_the_app_writes_to_keeps_the_retention(synthesized: Synthesized) -> None:
    """Roles write only to stack-owned groups or to groups whose retention a LogRetention sets."""
    for unit, template in synthesized.templates():
        res = resources(template)
        owned = {
            lid: render(r["Properties"]["LogGroupName"]) if "LogGroupName" in r["Properties"] else None
            for lid, r in res.items()
            if r["Type"] == "AWS::Logs::LogGroup"
        }
        retained = {
            render(r["Properties"]["LogGroupName"])
            for r in res.values()
            if r["Type"] == "Custom::LogRetention"
        }
        for policy, arn in written_log_groups(template):
            attribute = re.fullmatch(r"\$\{(?P<id>[^.}]+)\.Arn\}", arn)
            if attribute:
                assert attribute["id"] in owned, f"{unit}/{policy}: {arn}"
                continue
            match = _LOG_GROUP_ARN.match(arn)
            assert match, f"{unit}/{policy}: {arn}"
            name = match["name"]
            if name.endswith("/*"):  # a prefix: only the Glue job's, whose groups the stack owns
                assert name == f"{job_log_group_prefix(synthesized.etl_job_name)}/*", name
                under = [n for n in owned.values() if n and n.startswith(name[:-1])]
                assert len(under) == 2, f"{unit}/{policy}: {name} holds {under}"
                continue
            assert name in retained, f"{unit}/{policy} writes to {name}, which no LogRetention keeps"


def test_every_function_logs_to_a_stack_owned_group(synthesized: Synthesized) -> None:
    """The app's functions and CDK's own handlers alike: none writes to /aws/lambda/<name>."""
    days = synthesized.config.logs.retention_days
    checked = []
    for unit, template in synthesized.templates():
        res = resources(template)
        for logical_id, resource in res.items():
            if resource["Type"] != "AWS::Lambda::Function":
                continue
            group = resource["Properties"]["LoggingConfig"]["LogGroup"]
            (target,) = group.values()
            target_id = target[0] if isinstance(target, list) else target
            assert res[target_id]["Type"] == "AWS::Logs::LogGroup", f"{unit}/{logical_id}"
            assert res[target_id]["Properties"]["RetentionInDays"] == days
            checked.append(logical_id)
    handlers = [c for c in checked if c.startswith(("BucketNotificationsHandler", LOG_RETENTION_FUNCTION))]
    assert len(handlers) == (3 if synthesized.stacks.forecast else 2), checked


def test_the_log_retention_function_may_touch_only_the_named_groups(synthesized: Synthesized) -> None:
    for _, template in synthesized.templates():
        res = resources(template)
        functions = {
            lid: r
            for lid, r in res.items()
            if lid.startswith(LOG_RETENTION_FUNCTION) and r["Type"] == "AWS::Lambda::Function"
        }
        if not functions:
            continue
        ((_, function),) = functions.items()
        role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
        assert not res[role_id]["Properties"].get("ManagedPolicyArns"), "no AWSLambdaBasicExecutionRole"
        assert set(function["DependsOn"]) >= {role_id}, "the function waits for its role's policy"
        name = function["Properties"]["FunctionName"]
        targets = {
            render(r["Properties"]["LogGroupName"])
            for r in res.values()
            if r["Type"] == "Custom::LogRetention"
        }
        (policy,) = [
            r
            for r in res.values()
            if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"]["Roles"]
        ]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Resource"] != "*", statement
            if "logs:PutLogEvents" in as_list(statement["Action"]):
                continue  # its own stack-owned group (test_every_function_logs_to_a_stack_owned_group)
            for arn in as_list(statement["Resource"]):
                group = _LOG_GROUP_ARN.match(render(arn))
                assert group and group["name"] in targets | {f"/aws/lambda/{name}"}, arn


def test_the_glue_job_logs_under_its_own_prefix_not_the_account_wide_groups(synthesized: Synthesized) -> None:
    assert synthesized.stacks.forecast is not None
    template = synthesized.template("forecast")
    (job,) = [r for r in resources(template).values() if r["Type"] == "AWS::Glue::Job"]
    args = job["Properties"]["DefaultArguments"]
    prefix = job_log_group_prefix(synthesized.etl_job_name)
    assert args["--custom-logGroup-prefix"] == prefix
    assert not {"--enable-continuous-cloudwatch-log", "--continuous-log-logGroup"} & set(args), (
        "Glue 4.0 logging"
    )
    security = render(job["Properties"]["SecurityConfiguration"])
    owned = {
        render(r["Properties"]["LogGroupName"])
        for r in resources(template).values()
        if r["Type"] == "AWS::Logs::LogGroup"
        and "LogGroupName" in r["Properties"]
        and render(r["Properties"]["LogGroupName"]).startswith(prefix)
    }
    role = job["Properties"]["Role"]["Fn::GetAtt"][0]
    assert owned == {f"{prefix}/{security}-role/${{{role}}}/{kind}" for kind in ("error", "output")}


def test_the_crawler_log_group_is_named_after_its_role_and_security_configuration(
    synthesized: Synthesized,
) -> None:
    assert synthesized.stacks.forecast is not None
    res = resources(synthesized.template("forecast"))
    (crawler,) = [r for r in res.values() if r["Type"] == "AWS::Glue::Crawler"]
    role = crawler["Properties"]["Role"]["Fn::GetAtt"][0]
    security = crawler["Properties"]["CrawlerSecurityConfiguration"]
    (retention_of,) = [
        r
        for r in res.values()
        if r["Type"] == "Custom::LogRetention" and "crawlers" in render(r["Properties"]["LogGroupName"])
    ]
    assert (
        render(retention_of["Properties"]["LogGroupName"])
        == f"/aws-glue/crawlers-role/${{{role}}}-{render(security)}"
    )
    assert retention_of["Properties"]["RemovalPolicy"] == "destroy", "the app's own group goes with the stack"


@pytest.mark.parametrize("unit", ["standardize", "forecast"])
def test_only_cdk_deployment_handlers_carry_a_managed_policy(dev: Synthesized, unit: str) -> None:
    """AWSLambdaBasicExecutionRole (the IAM4 acknowledgment) stays on CDK's bucket-notifications
    and default-security-group handlers, which run during deployments only."""
    roles = resources(dev.template(unit))
    with_managed = [
        lid
        for lid, r in roles.items()
        if r["Type"] == "AWS::IAM::Role" and r["Properties"].get("ManagedPolicyArns")
    ]
    assert with_managed, "the bucket-notifications handler's role has one"
    assert all(
        lid.startswith(("BucketNotificationsHandler", "CustomVpcRestrictDefaultSG")) for lid in with_managed
    )


def test_every_pipeline_function_logs_json_at_info(synthesized: Synthesized) -> None:
    """Lambda's JSON log format: each line is a JSON object with the record's fields (the
    execution name among them, tests/unit/test_lambda_logs.py); INFO is set here, not in code."""
    functions = {
        logical_id: resource["Properties"]
        for _, template in synthesized.templates()
        for logical_id, resource in resources(template).items()
        if resource["Type"] == "AWS::Lambda::Function"
        and resource["Properties"].get("Handler") == "handler.handler"
    }
    expected = 4 if synthesized.config.forecast else 2
    assert len(functions) == expected, sorted(functions)
    for logical_id, props in functions.items():
        config = props["LoggingConfig"]
        assert (config["LogFormat"], config["ApplicationLogLevel"]) == ("JSON", "INFO"), logical_id
        assert "Ref" in config["LogGroup"], logical_id
