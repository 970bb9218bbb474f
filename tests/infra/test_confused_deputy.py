"""No confused deputies: every service principal in a resource policy names whose requests it serves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from stacks.iam_grants import SOURCE_ACCOUNT_SERVICES, SOURCE_KEYS
from tests.infra.conftest import Synthesized
from tests.infra.iam import actions, statements

#: Condition keys that tie a service's request to this account or to one of its resources.
CONDITION_KEYS = ("aws:SourceArn", "aws:SourceAccount", "kms:EncryptionContext:aws:logs:arn")
POLICIES = {
    "AWS::KMS::Key": "KeyPolicy",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
    "AWS::SQS::QueuePolicy": "PolicyDocument",
    "AWS::S3::BucketPolicy": "PolicyDocument",
}


def service_statements(synthesized: Synthesized) -> Iterator[tuple[str, dict[str, Any]]]:
    for unit, template in synthesized.templates():
        for logical_id, resource in template.to_json()["Resources"].items():
            key = POLICIES.get(resource["Type"])
            if key is None:
                continue
            for statement in resource["Properties"][key]["Statement"]:
                principal = statement.get("Principal")
                if statement["Effect"] == "Allow" and isinstance(principal, dict) and "Service" in principal:
                    yield f"{unit}/{logical_id}", statement


def test_every_service_principal_in_a_resource_policy_has_a_source_condition(
    synthesized: Synthesized,
) -> None:
    statements = list(service_statements(synthesized))
    assert statements, "the templates grant services access (logs, CloudWatch, EventBridge, S3 logging)"
    unconditioned = [
        (where, s["Principal"]["Service"])
        for where, s in statements
        if not any(key in json.dumps(s.get("Condition", {})) for key in CONDITION_KEYS)
    ]
    assert unconditioned == []


def test_alarms_of_this_account_only_may_use_the_alerts_key(synthesized: Synthesized) -> None:
    (key,) = (
        synthesized.template("shared")
        .find_resources(
            "AWS::KMS::Key", {"Properties": {"Description": "Encrypts the ML pipelines' alerts topic"}}
        )
        .values()
    )
    services = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if "Service" in s["Principal"]]
    assert [s["Principal"]["Service"] for s in services] == ["cloudwatch.amazonaws.com"]
    condition = services[0]["Condition"]
    assert condition["StringEquals"] == {"aws:SourceAccount": synthesized.config.account}
    assert condition["ArnLike"]["aws:SourceArn"].endswith(
        f":cloudwatch:{synthesized.config.region}:{synthesized.config.account}:alarm:*"
    )


def test_eventbridge_publishes_alerts_through_a_role_of_this_account(synthesized: Synthesized) -> None:
    assert synthesized.stacks.forecast is not None, "every shipped environment has the forecast"
    template = synthesized.template("forecast")
    topic_policy = synthesized.template("shared").find_resources("AWS::SNS::TopicPolicy")
    assert "events.amazonaws.com" not in json.dumps(topic_policy), "no service-principal publish grant"
    alert_targets = [
        t
        for rule in template.find_resources("AWS::Events::Rule").values()
        for t in rule["Properties"]["Targets"]
        if rule["Properties"]["EventPattern"]["detail"]["state"] != ["SUCCEEDED"]
    ]
    roles = {t["RoleArn"]["Fn::GetAtt"][0] for t in alert_targets}
    assert len(alert_targets) == 2 and len(roles) == 1
    (role,) = roles
    trust = template.to_json()["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    cfg = synthesized.config
    partition = "aws-cn" if cfg.region.startswith("cn-") else "aws"
    granted = actions(statements(template, "EventBridge: publishes Glue job and crawler failures"))
    assert granted == {"sns:Publish", "kms:Decrypt", "kms:GenerateDataKey*"}, "publish to the encrypted topic"
    assert trust == [
        {
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": synthesized.config.account},
                "ArnLike": {"aws:SourceArn": f"arn:{partition}:events:{cfg.region}:{cfg.account}:rule/*"},
            },
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
        }
    ]


def test_service_roles_trust_their_service_with_the_source_keys_it_documents(
    synthesized: Synthesized,
) -> None:
    """Each service's trust carries exactly the source keys it documents sending (SOURCE_KEYS);
    Glue documents none, so its roles have no condition that could stop it assuming them."""
    cfg = synthesized.config
    partition = "aws-cn" if cfg.region.startswith("cn-") else "aws"
    checked = set()
    for unit, template in synthesized.templates():
        for logical_id, resource in template.find_resources("AWS::IAM::Role").items():
            for statement in resource["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
                service = statement["Principal"].get("Service")
                if service not in SOURCE_KEYS:
                    continue
                checked.add(service)
                keys, arn_pattern, _ = SOURCE_KEYS[service]
                expected = {}
                if "aws:SourceAccount" in keys:
                    expected["StringEquals"] = {"aws:SourceAccount": cfg.account}
                if arn_pattern:
                    arn_service, resource_part = arn_pattern.split(":", 1)
                    source = f"arn:{partition}:{arn_service}:{cfg.region}:{cfg.account}:{resource_part}"
                    expected["ArnLike"] = {"aws:SourceArn": source}
                assert statement.get("Condition", {}) == expected, f"{unit}/{logical_id}"
    expected_services = {"sagemaker.amazonaws.com", "states.amazonaws.com"}
    if synthesized.stacks.forecast is not None:
        expected_services |= {"glue.amazonaws.com", "events.amazonaws.com"}
    assert expected_services <= checked
    assert "glue.amazonaws.com" not in SOURCE_ACCOUNT_SERVICES
