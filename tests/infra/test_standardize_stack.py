"""The standardize stack: functions, notification, state machine, least-privilege IAM, alarms."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from stacks.nag import objects_under
from tests.infra.conftest import Synthesized, synthesize
from tests.infra.iam import STATES_LOG_DELIVERY, actions, as_list, role_id, statement_for, statements


def only(resources: Mapping[str, Any]) -> tuple[str, Any]:
    assert len(resources) == 1, list(resources)
    return next(iter(resources.items()))


def state_machine(template: Template) -> tuple[str, dict[str, Any]]:
    return only(template.find_resources("AWS::StepFunctions::StateMachine"))


def function(template: Template, description: str) -> tuple[str, dict[str, Any]]:
    return only(
        template.find_resources(
            "AWS::Lambda::Function", {"Properties": {"Description": Match.string_like_regexp(description)}}
        )
    )


def test_functions_use_the_newest_python_with_tracing_and_own_logs(synthesized: Synthesized) -> None:
    template = synthesized.template("standardize")
    for description in ("Starts one standardize", "Extracts the batch id"):
        _, fn = function(template, description)
        props = fn["Properties"]
        assert props["Runtime"] == "python3.14"
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["Handler"] == "handler.handler"
        assert "LogGroup" in props["LoggingConfig"]


def test_trigger_gets_the_state_machine_arn_and_an_on_failure_queue(synthesized: Synthesized) -> None:
    template = synthesized.template("standardize")
    sm_id, _ = state_machine(template)
    trigger_id, trigger = function(template, "Starts one standardize")
    assert trigger["Properties"]["Environment"]["Variables"] == {"STATE_MACHINE_ARN": {"Ref": sm_id}}
    queue_id, queue = only(template.find_resources("AWS::SQS::Queue"))
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": {"Ref": trigger_id},
            "MaximumRetryAttempts": 2,
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}},
        },
    )


def test_bucket_notification_feeds_the_trigger_for_csv_under_meta_data(synthesized: Synthesized) -> None:
    template = synthesized.template("standardize")
    trigger_id, _ = function(template, "Starts one standardize")
    cfg = synthesized.config.standardize
    template.has_resource_properties(
        "Custom::S3BucketNotifications",
        {
            "BucketName": synthesized.config.data_bucket_name,
            "Managed": False,
            "NotificationConfiguration": {
                "LambdaFunctionConfigurations": [
                    {
                        "Events": ["s3:ObjectCreated:*"],
                        "LambdaFunctionArn": {"Fn::GetAtt": [trigger_id, "Arn"]},
                        "Filter": {
                            "Key": {
                                "FilterRules": Match.array_equals(
                                    [
                                        {"Name": "suffix", "Value": cfg.input_suffix},
                                        {"Name": "prefix", "Value": cfg.input_prefix},
                                    ]
                                )
                            }
                        },
                    }
                ]
            },
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "Principal": "s3.amazonaws.com",
            "FunctionName": {"Fn::GetAtt": [trigger_id, "Arn"]},
            "SourceAccount": synthesized.config.account,
        },
    )


def test_state_machine_logs_everything_traces_and_gets_config_values(synthesized: Synthesized) -> None:
    template = synthesized.template("standardize")
    _, sm = state_machine(template)
    props = sm["Properties"]
    cfg = synthesized.config
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["TracingConfiguration"] == {"Enabled": True}
    definition = json.loads(props["DefinitionString"])
    assert set(props["DefinitionSubstitutions"]) == {
        "GetBatchIdFunctionArn",
        "ProcessingRoleArn",
        "ProcessingImageUri",
    }
    task = definition["States"]["Standardize"]
    assert task["Resource"] == f"arn:{cfg.partition}:states:::sagemaker:createProcessingJob.sync"
    params = task["Parameters"]
    cluster = params["ProcessingResources"]["ClusterConfig"]
    assert cluster["InstanceType"] == cfg.standardize.instance_type
    assert cluster["InstanceCount.$"] == f"States.StringToJson('{cfg.standardize.instance_count}')"
    assert cluster["VolumeSizeInGB.$"] == f"States.StringToJson('{cfg.standardize.volume_size_gb}')"
    assert params["StoppingCondition"]["MaxRuntimeInSeconds.$"] == (
        f"States.StringToJson('{cfg.standardize.max_runtime_seconds}')"
    )
    output = params["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri.$"]
    prefix = f"s3://{cfg.data_bucket_name}/{cfg.standardize.output_prefix}"
    assert output == f"States.Format('{prefix}{{}}/', $.batch.batch_id)"
    assert params["RoleArn"] == "${ProcessingRoleArn}"


def test_processing_image_is_a_docker_asset_built_from_processing(dev: Synthesized) -> None:
    _, sm = state_machine(dev.template("standardize"))
    image = sm["Properties"]["DefinitionSubstitutions"]["ProcessingImageUri"]
    assert "container-assets" in json.dumps(image)
    manifest = json.loads(
        (
            Path(dev.stacks.standardize.node.root.outdir)  # type: ignore[attr-defined]
            / f"{dev.stacks.standardize.artifact_id}.assets.json"
        ).read_text()
    )
    [docker] = manifest["dockerImages"].values()
    assert docker["source"]["platform"] == "linux/amd64"


def test_configured_image_uri_is_used_and_only_its_repository_is_pullable() -> None:
    uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/standardize:1.2"
    s = synthesize("dev", {"standardize": {"imageUri": uri}})
    template = s.template("standardize")
    _, sm = state_machine(template)
    definition = json.loads(sm["Properties"]["DefinitionString"])
    assert definition["States"]["Standardize"]["Parameters"]["AppSpecification"]["ImageUri"] == uri
    stmts = statements(template, "Standardize processing jobs")
    assert statement_for(stmts, "ecr:BatchGetImage")["Resource"] == (
        "arn:aws:ecr:us-east-1:123456789012:repository/team/standardize"
    )


def test_state_machine_role_is_least_privilege(synthesized: Synthesized) -> None:
    template = synthesized.template("standardize")
    cfg = synthesized.config
    stmts = statements(template, "Standardize state machine")
    batch_id, _ = function(template, "Extracts the batch id")
    processing_role = role_id(template, "Standardize processing jobs")

    invoke = statement_for(stmts, "lambda:InvokeFunction")
    assert as_list(invoke["Action"]) == ["lambda:InvokeFunction"]
    assert {"Fn::GetAtt": [batch_id, "Arn"]} in as_list(invoke["Resource"])
    assert all(batch_id in json.dumps(r) for r in as_list(invoke["Resource"]))

    jobs = statement_for(stmts, "sagemaker:CreateProcessingJob")
    assert set(as_list(jobs["Action"])) == {
        "sagemaker:CreateProcessingJob",
        "sagemaker:DescribeProcessingJob",
        "sagemaker:StopProcessingJob",
        "sagemaker:AddTags",
        "sagemaker:ListTags",
    }
    assert jobs["Resource"] == (
        f"arn:{cfg.partition}:sagemaker:{cfg.region}:{cfg.account}:processing-job/{cfg.standardize.job_name_prefix}-*"
    )

    pass_role = statement_for(stmts, "iam:PassRole")
    assert pass_role["Resource"] == {"Fn::GetAtt": [processing_role, "Arn"]}
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}

    events = statement_for(stmts, "events:PutRule")
    assert set(as_list(events["Action"])) == {"events:PutTargets", "events:PutRule", "events:DescribeRule"}
    assert events["Resource"] == (
        f"arn:{cfg.partition}:events:{cfg.region}:{cfg.account}:rule/"
        "StepFunctionsGetEventsForSageMakerProcessingJobsRule"
    )

    wildcard = [s for s in stmts if s["Resource"] == "*"]
    assert actions(wildcard) <= STATES_LOG_DELIVERY | {
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
    }
    assert len(stmts) == 5


def test_trigger_may_only_start_its_own_state_machine(synthesized: Synthesized) -> None:
    template = synthesized.template("standardize")
    sm_id, _ = state_machine(template)
    stmts = statements(template, r"Runs trigger")
    start = statement_for(stmts, "states:StartExecution")
    assert as_list(start["Action"]) == ["states:StartExecution"]
    assert start["Resource"] == {"Ref": sm_id}
    assert actions(stmts) == {
        "states:StartExecution",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "sqs:SendMessage",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
    }
    for s in stmts:
        if s["Resource"] == "*":
            assert actions([s]) <= {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_get_batch_id_may_only_write_its_logs_and_traces(synthesized: Synthesized) -> None:
    stmts = statements(synthesized.template("standardize"), r"Runs get_batch_id")
    assert actions(stmts) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }


def test_processing_role_reads_meta_data_writes_prediction_data_and_own_logs(
    synthesized: Synthesized,
) -> None:
    template = synthesized.template("standardize")
    cfg = synthesized.config
    bucket_arn = f"arn:{cfg.partition}:s3:::{cfg.data_bucket_name}"
    stmts = statements(template, "Standardize processing jobs")
    assert statement_for(stmts, "s3:GetObject")["Resource"] == f"{bucket_arn}/meta-data/*"
    assert as_list(statement_for(stmts, "s3:GetObject")["Action"]) == ["s3:GetObject"]
    listing = statement_for(stmts, "s3:ListBucket")
    assert listing["Resource"] == bucket_arn
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["meta-data/*"]}}
    write = statement_for(stmts, "s3:PutObject")
    assert write["Resource"] == f"{bucket_arn}/prediction-data/*"
    assert set(as_list(write["Action"])) == {"s3:PutObject", "s3:AbortMultipartUpload"}
    logs = statement_for(stmts, "logs:PutLogEvents")
    assert logs["Resource"] == (
        f"arn:{cfg.partition}:logs:{cfg.region}:{cfg.account}:log-group:/aws/sagemaker/ProcessingJobs:*"
    )
    s3_actions = {a for a in actions(stmts) if a.startswith("s3:")}
    assert s3_actions == {"s3:GetObject", "s3:ListBucket", "s3:PutObject", "s3:AbortMultipartUpload"}
    assert {a for a in actions(stmts) if a.startswith("ecr:")} == {
        "ecr:BatchCheckLayerAvailability",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchGetImage",
        "ecr:GetAuthorizationToken",
    }
    for s in stmts:
        if s["Resource"] == "*":
            assert as_list(s["Action"]) == ["ecr:GetAuthorizationToken"]


def test_alarms_cover_failed_timed_out_aborted_trigger_errors_and_dead_letters(
    synthesized: Synthesized,
) -> None:
    template = synthesized.template("standardize")
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    metrics = {(a["Properties"]["Namespace"], a["Properties"]["MetricName"]) for a in alarms.values()}
    assert metrics == {
        ("AWS/States", "ExecutionsFailed"),
        ("AWS/States", "ExecutionsTimedOut"),
        ("AWS/States", "ExecutionsAborted"),
        ("AWS/Lambda", "Errors"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    }
    for alarm in alarms.values():
        props = alarm["Properties"]
        assert props["Threshold"] == 1 and props["TreatMissingData"] == "notBreaching"
        [action] = props["AlarmActions"]
        assert (
            "AlertsTopic" in json.dumps(action)
            or "Fn::GetStackOutput" in json.dumps(action)
            or "Fn::ImportValue" in json.dumps(action)
        )


def test_china_uses_the_aws_cn_partition_everywhere(china: Synthesized) -> None:
    for unit in ("shared", "standardize", "forecast"):  # forecast holds the literal DeepAR image domain
        text = json.dumps(china.template(unit).to_json())
        assert not re.search(r"arn:aws:", text), f"{unit}: literal aws-partition ARN in the china template"
        ecr = re.search(r"dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?!\.cn)", text)
        assert not ecr, f"{unit}: an ECR domain without .cn in the china template: {ecr}"
    _, sm = state_machine(china.template("standardize"))
    resource = json.loads(sm["Properties"]["DefinitionString"])["States"]["GetBatchId"]["Resource"]
    assert resource == "arn:aws-cn:states:::lambda:invoke"


def test_every_nag_acknowledgment_has_a_reason_and_every_acceptance_is_used(synthesized: Synthesized) -> None:
    from stacks.nag import acceptances

    made = synthesized.stacks.nag_acknowledged
    assert made, "the app acknowledges some findings; an empty list means nag did not run"
    assert all(reason.strip() for _, _, reason in made)
    declared: set[tuple[str, str]] = set()
    stacks = synthesized.stacks
    for stack in (stacks.shared, stacks.standardize, stacks.forecast):
        if stack is None:
            continue
        for construct in stack.node.find_all():
            for acc in acceptances(construct):
                declared.add((acc.rule, acc.reason))
    used = {(re.sub(r"\[.*", "", finding, flags=re.S), reason) for _, finding, reason in made}
    assert declared == used, f"acceptances that match no finding: {declared - used}"


def test_objects_under_matches_only_objects_under_its_prefixes() -> None:
    finding = objects_under("meta-data/", "a.b/")
    assert re.fullmatch(finding, "Resource::arn:aws:s3:::bucket/meta-data/*")
    assert re.fullmatch(finding, "Resource::arn:aws-cn:s3:::bucket/a.b/*")
    for other in ("Resource::arn:aws:s3:::bucket/*", "Resource::arn:aws:s3:::bucket/axb/*", "Resource::*"):
        assert not re.fullmatch(finding, other), other
    for bad in ((), ("",), ("meta-data/", "")):
        with pytest.raises(ValueError, match="non-empty prefixes"):
            objects_under(*bad)


def test_state_machine_logging_follows_the_environments_settings(synthesized: Synthesized) -> None:
    (machine,) = (
        synthesized.template("standardize").find_resources("AWS::StepFunctions::StateMachine").values()
    )
    logging = machine["Properties"]["LoggingConfiguration"]
    assert (logging["Level"], logging["IncludeExecutionData"]) == ("ALL", True), "today's defaults"
    quiet = synthesize("dev", {"logs": {"stateMachineLevel": "ERROR", "includeExecutionData": False}})
    for unit in ("standardize", "forecast"):
        (machine,) = quiet.template(unit).find_resources("AWS::StepFunctions::StateMachine").values()
        logging = machine["Properties"]["LoggingConfiguration"]
        assert (logging["Level"], logging["IncludeExecutionData"]) == ("ERROR", False)
    assert any(rule.endswith("SF1") for _, rule, _ in quiet.stacks.nag_acknowledged), (
        "an explicit, acknowledged choice"
    )
