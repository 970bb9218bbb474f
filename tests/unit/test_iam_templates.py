"""tools/iam_check's renderer: every intrinsic the check meets resolves to one deterministic value,
the same ARN wherever a resource is referenced; anything else is an error that names it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tools.iam_check.templates import Environment, TemplateError

ACCOUNT, REGION = "111111111111", "cn-north-1"


def meta(path: str) -> dict[str, Any]:
    return {"Metadata": {"aws:cdk:path": path}}


def folder(tmp_path: Path, stacks: dict[str, dict[str, Any]], environment: str | None = None) -> Path:
    artifacts: dict[str, Any] = {}
    for name, template in stacks.items():
        (tmp_path / f"{name}.template.json").write_text(json.dumps(template))
        artifacts[name] = {
            "type": "aws:cloudformation:stack",
            "environment": environment or f"aws://{ACCOUNT}/{REGION}",
            "properties": {"templateFile": f"{name}.template.json"},
        }
    (tmp_path / "manifest.json").write_text(json.dumps({"artifacts": artifacts}))
    return tmp_path


SHARED = {
    "Resources": {
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}, **meta("App-Shared/Alerts/Topic/Resource")},
        "Bucket": {
            "Type": "AWS::S3::Bucket",
            "Properties": {"BucketName": "data-bucket"},
            **meta("App-Shared/Data/Bucket/Resource"),
        },
    },
    "Outputs": {
        "TopicArn": {"Value": {"Ref": "Topic"}, "Export": {"Name": {"Fn::Sub": "${AWS::StackName}-topic"}}},
        "BucketArn": {"Value": {"Fn::GetAtt": ["Bucket", "Arn"]}},
    },
}
WORK = {
    "Conditions": {"IsChina": {"Fn::Equals": [{"Ref": "AWS::Partition"}, "aws-cn"]}},
    "Resources": {
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Description": {"Fn::If": ["IsChina", "china", "global"]},
                "Tags": [
                    {"Key": "topic", "Value": {"Fn::ImportValue": "App-Shared-topic"}},
                    {
                        "Key": "bucket",
                        "Value": {
                            "Fn::GetStackOutput": {"StackName": "App-Shared", "OutputName": "BucketArn"}
                        },
                    },
                    {"Key": "az", "Value": {"Fn::Select": [1, {"Fn::GetAZs": ""}]}},
                    {"Key": "part", "Value": {"Fn::Select": [0, {"Fn::Split": ["/", "a/b"]}]}},
                    {"Key": "sub", "Value": {"Fn::Sub": ["${Role.Arn}|${X}|${!Literal}", {"X": "x"}]}},
                    {"Key": "join", "Value": {"Fn::Join": ["-", ["a", {"Ref": "AWS::URLSuffix"}]]}},
                ],
                "Policies": [{"Ref": "AWS::NoValue"}],
            },
            **meta("App-Work/Work/Role/Resource"),
        }
    },
}


def test_every_supported_intrinsic_resolves_deterministically(tmp_path: Path) -> None:
    env = Environment(folder(tmp_path, {"App-Shared": SHARED, "App-Work": WORK}))
    assert (env.account, env.region, env.partition, env.url_suffix) == (
        ACCOUNT,
        REGION,
        "aws-cn",
        "amazonaws.com.cn",
    )
    role = env.by_path("Work", "Work/Role")
    tags = {t["Key"]: t["Value"] for t in role.properties["Tags"]}
    topic = f"arn:aws-cn:sns:{REGION}:{ACCOUNT}:App-Shared-Topic"
    assert tags["topic"] == topic == env.ref(env.by_path("Shared", "Alerts/Topic"))
    assert tags["bucket"] == "arn:aws-cn:s3:::data-bucket"
    assert tags["az"] == "cn-north-1b" and tags["part"] == "a"
    assert tags["sub"] == f"arn:aws-cn:iam::{ACCOUNT}:role/App-Work-Role|x|${{Literal}}"
    assert tags["join"] == "a-amazonaws.com.cn"
    assert role.properties["Description"] == "china"
    assert role.properties["Policies"] == []  # AWS::NoValue drops the item


def test_an_unsupported_intrinsic_is_named(tmp_path: Path) -> None:
    bad = {
        "Resources": {
            "R": {"Type": "AWS::SNS::Topic", "Properties": {"X": {"Fn::Base64": "a"}}, **meta("S/R/Resource")}
        }
    }
    with pytest.raises(TemplateError, match=r"S/R: unsupported intrinsic Fn::Base64"):
        Environment(folder(tmp_path, {"S": bad}))


def test_a_template_without_path_metadata_is_refused(tmp_path: Path) -> None:
    bare = {"Resources": {"R": {"Type": "AWS::SNS::Topic", "Properties": {}}}}
    with pytest.raises(TemplateError, match="no aws:cdk:path metadata"):
        Environment(folder(tmp_path, {"S": bare}))


def test_an_environment_agnostic_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="is not a concrete account and region"):
        Environment(folder(tmp_path, {"S": SHARED}, "aws://unknown-account/unknown-region"))
