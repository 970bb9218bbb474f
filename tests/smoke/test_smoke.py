"""The smoke command against the offline deployment: it passes and leaves nothing behind, and each
step fails with a message that names what it saw."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from typing import Any

import pytest

from localrun.deployed import DeployedClients
from localrun.runner import OfflineSession
from tests.smoke.support import leftovers
from tools.smoke.__main__ import main
from tools.smoke.context import Smoke
from tools.smoke.deployment import SmokeFailure, read_deployment
from tools.smoke.run import run_smoke
from tools.smoke.steps import check_bad_name

CHECKS = ["stacks", "standardize", "bad name", "alerts"]


def test_the_smoke_passes_on_the_offline_deployment_and_leaves_nothing(
    deployed: OfflineSession, smoke: Smoke
) -> None:
    before = leftovers(deployed)
    report = run_smoke(smoke)
    assert report.ok, (report.failure, report.leftovers)
    assert [name for name, _ in report.passed] == CHECKS
    assert report.jobs == {"processing": 1}
    assert leftovers(deployed) == before
    assert len(deployed.runs) == 0  # the smoke found its executions itself, through the clients


def test_the_command_runs_offline(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-c", "env=dev", "--offline"]) == 0
    out = capsys.readouterr().out
    assert "smoke passed: 4 checks" in out and "SageMaker jobs started: 1 processing" in out


def test_the_command_needs_the_environment() -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--offline"])
    assert exit_.value.code == 2


def test_a_missing_stack_is_named_and_nothing_else_runs(deployed: OfflineSession, smoke: Smoke) -> None:
    deployed.aws.client("cloudformation").delete_stack(StackName="MlPipelines-dev-Standardize")
    report = run_smoke(smoke)
    assert report.passed == [] and report.failure is not None
    assert str(report.failure) == (
        "stacks: stack MlPipelines-dev-Standardize is not deployed in us-east-1 (run: cdk deploy -c env=dev)"
    )


def test_a_missing_output_is_named(deployed: OfflineSession, smoke: Smoke) -> None:
    cloudformation = deployed.aws.client("cloudformation")
    cloudformation.delete_stack(StackName="MlPipelines-dev-Shared")
    template = {
        "Conditions": {"Never": {"Fn::Equals": ["a", "b"]}},
        "Resources": {"Nothing": {"Type": "AWS::CloudFormation::WaitConditionHandle", "Condition": "Never"}},
        "Outputs": {"DataBucketName": {"Value": deployed.bucket}},
    }
    cloudformation.create_stack(StackName="MlPipelines-dev-Shared", TemplateBody=json.dumps(template))
    report = run_smoke(smoke)
    assert str(report.failure) == (
        "stacks: stack MlPipelines-dev-Shared has no output AlertsTopicArn: "
        "deploy this version of the app again"
    )


def test_a_failed_standardize_run_is_reported_with_its_error_and_cleaned_up(
    deployed: OfflineSession, smoke: Smoke
) -> None:
    def failing(params: dict[str, Any]) -> dict[str, Any]:
        return {"ProcessingJobStatus": "Failed", "FailureReason": "AlgorithmError: no room on the volume"}

    deployed.aws.bind_sagemaker("processing", failing)
    before = leftovers(deployed)
    report = run_smoke(smoke)
    assert [name for name, _ in report.passed] == ["stacks"]
    assert report.failure is not None and report.failure.step == "standardize"
    message = str(report.failure)
    assert "ended FAILED: ProcessingFailed:" in message and "AlgorithmError: no room on the volume" in message
    assert leftovers(deployed) == before, "the upload is removed even though the check failed"


def test_wrong_z_scores_are_caught(deployed: OfflineSession, smoke: Smoke) -> None:
    real = deployed.sagemaker.processing

    def off_by_one(params: dict[str, Any]) -> dict[str, Any]:
        described = real(params)
        s3 = deployed.aws.client("s3")
        listed = s3.list_objects_v2(Bucket=deployed.bucket, Prefix="prediction-data/")["Contents"]
        [key] = [o["Key"] for o in listed if o["Key"].endswith(".csv")]
        text = s3.get_object(Bucket=deployed.bucket, Key=key)["Body"].read().decode()
        header, first, *rest = text.splitlines()
        name, level, count = first.split(",")
        first = f"{name},{float(level) + 1},{count}"
        s3.put_object(Bucket=deployed.bucket, Key=key, Body="\n".join([header, first, *rest]).encode())
        return described

    deployed.aws.bind_sagemaker("processing", off_by_one)
    report = run_smoke(smoke)
    assert report.failure is not None and report.failure.step == "standardize"
    assert "row row-0 has level" in str(report.failure) and "expected the z-score -1.64" in str(
        report.failure
    )


def test_a_bad_name_that_succeeds_fails_the_check(deployed: OfflineSession, smoke: Smoke) -> None:
    smoke.deployment = read_deployment(smoke.clients("cloudformation"), smoke.config, forecast=False)
    with pytest.raises(SmokeFailure) as failure:
        check_bad_name(smoke, name="smoke_42")
    assert "ended SUCCEEDED" in str(failure.value)
    assert "(expected FAILED with InvalidPartitionName naming the key)" in str(failure.value)


def test_no_alarm_on_the_topic_fails_the_alerts_check(deployed: OfflineSession, smoke: Smoke) -> None:
    cloudwatch = deployed.aws.client("cloudwatch")
    names = [a["AlarmName"] for a in cloudwatch.describe_alarms()["MetricAlarms"]]
    cloudwatch.delete_alarms(AlarmNames=names)
    report = run_smoke(smoke)
    assert [name for name, _ in report.passed] == ["stacks", "standardize", "bad name"]
    assert str(report.failure) == (
        f"alerts: no alarm named MlPipelines-dev-* publishes to the alerts topic {deployed.alerts_arn}"
    )


def test_an_alarm_whose_message_never_arrives_fails_the_alerts_check(
    deployed: OfflineSession, smoke: Smoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As when the topic's policy admits no CloudWatch: the state changes, nothing is delivered."""
    monkeypatch.setattr(DeployedClients, "_alarm_action", lambda self, **_: None)
    smoke.limits["alerts"] = 0.002
    before = leftovers(deployed)
    report = run_smoke(smoke)
    assert report.failure is not None and report.failure.step == "alerts"
    assert "went to ALARM but no message reached the topic's subscriber" in str(report.failure)
    assert leftovers(deployed) == before, "queue and subscription removed, the alarm set back"


def test_an_execution_that_never_starts_times_out_with_a_message(
    deployed: OfflineSession, smoke: Smoke
) -> None:
    with pytest.raises(SmokeFailure) as failure:
        smoke.wait_for_execution("standardize", deployed.standardize_arn, lambda _: False, smoke.now(), 0.1)
    assert "no execution started after" in str(failure.value) and "--timeout-minutes" in str(failure.value)


def test_a_subscription_sns_asks_to_confirm_is_confirmed_before_the_alarm(
    deployed: OfflineSession, smoke: Smoke
) -> None:
    """moto confirms a queue's subscription at once, as AWS does within one account; where SNS asks
    for a confirmation instead, the smoke confirms it from the queue (a stand-in SNS asks here)."""
    from tools.smoke.steps import _confirm

    sqs = deployed.aws.client("sqs")
    queue_url = sqs.create_queue(QueueName="pending")["QueueUrl"]
    request = {"Type": "SubscriptionConfirmation", "Token": "token-1", "TopicArn": deployed.alerts_arn}
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(request))

    class PendingOnce:
        confirmed: list[str] = []

        def get_subscription_attributes(self, SubscriptionArn: str) -> dict[str, Any]:
            return {"Attributes": {"PendingConfirmation": "false" if self.confirmed else "true"}}

        def confirm_subscription(self, TopicArn: str, Token: str) -> None:
            self.confirmed.append(Token)

    sns = PendingOnce()
    _confirm(smoke, "alerts", sns, sqs, queue_url, deployed.alerts_arn, "arn:subscription")
    assert sns.confirmed == ["token-1"]


def test_an_execution_past_its_limit_is_stopped_and_named(deployed: OfflineSession, smoke: Smoke) -> None:
    """Past the step's limit the running execution is stopped (on AWS, Step Functions then stops
    its processing job), and the failure says so; the upload and any output are removed. The
    smoke's clock passes the limit once the stand-in job runs (moto cannot stop an execution
    whose program has not started yet; AWS can)."""
    real = deployed.sagemaker.processing
    running = threading.Event()

    def slow(params: dict[str, Any]) -> dict[str, Any]:
        running.set()
        time.sleep(1.0)
        return real(params)

    deployed.aws.bind_sagemaker("processing", slow)
    smoke.pace = replace(smoke.pace, clock=lambda: 3600.0 if running.is_set() else 0.0)
    before = leftovers(deployed)
    report = run_smoke(smoke)
    assert report.failure is not None and report.failure.step == "standardize"
    assert "still RUNNING (now stopped) after" in str(report.failure)
    sfn = deployed.aws.client("stepfunctions")
    [execution] = sfn.list_executions(stateMachineArn=deployed.standardize_arn)["executions"]
    stops = [params for service, operation, params in smoke.clients.calls if operation == "StopExecution"]  # type: ignore[attr-defined]
    assert [s["executionArn"] for s in stops] == [execution["executionArn"]]
    # AWS reports a stopped execution ABORTED; moto fails its running task instead, once the stand-in
    # job returns. Either way it ends.
    deadline = time.monotonic() + 10
    while sfn.describe_execution(executionArn=execution["executionArn"])["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the stopped execution never ended"
        time.sleep(0.05)
    assert report.leftovers == [] and leftovers(deployed)["queues"] == before["queues"]


def test_an_aws_error_fails_its_step_and_still_cleans_up(
    deployed: OfflineSession, smoke: Smoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error that is no check's (here AccessDenied on SetAlarmState) fails the step it came from."""
    from botocore.exceptions import ClientError

    def denied(self: Any, **_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "SetAlarmState")

    monkeypatch.setattr(DeployedClients, "_before_state", denied)
    before = leftovers(deployed)
    report = run_smoke(smoke)
    assert report.failure is not None and report.failure.step == "alerts"
    assert "ClientError: An error occurred (AccessDenied)" in str(report.failure)
    assert leftovers(deployed) == before


def test_offline_the_forecast_needs_skip_etl(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["-c", "env=dev", "--offline", "--forecast"])
    assert exit_.value.code == 2
    assert "offline, --forecast needs --skip-etl" in capsys.readouterr().err
