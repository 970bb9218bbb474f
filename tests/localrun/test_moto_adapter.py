"""The moto adapter: local Lambda and SageMaker bindings, instant retries, and moto's known quirks."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.core.config import default_user_config
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
    lambda_eval_utils,
    state_task_factory,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.parse.intrinsic.intrinsic_parser import IntrinsicParser

from localrun.lambdas import bound, load
from localrun.moto_adapter import (
    OfflineAws,
    SageMakerApiError,
    SimulatedClock,
    SkippedWait,
    StateEvent,
    offline_aws,
)
from stacks.asl import intrinsic_string, render
from stacks.config import QuotaRetryConfig, StandardizeConfig, load_env, read_cdk_context
from stacks.forecast_pipeline import forecast_substitutions
from stacks.standardize_pipeline import standardize_substitutions

ACCOUNT = "123456789012"
FN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fn"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sagemaker"


class InvalidPartitionName(ValueError):
    """Named like the error the standardize state machine routes on."""


class Throttled(Exception):
    pass


@pytest.fixture
def aws() -> Iterator[OfflineAws]:
    with offline_aws() as handle:
        yield handle


def literal(value: str) -> str:
    """``value`` as a single-quoted intrinsic argument, escaped by the project's own helper."""
    decoded: str = json.loads(f'"{intrinsic_string(value)}"')
    return decoded


def machine(aws: OfflineAws, states: dict[str, Any]) -> str:
    """Create a state machine that starts at the first of ``states``."""
    definition = {"StartAt": next(iter(states)), "States": states}
    return aws.create_state_machine(f"sm-{time.monotonic_ns()}", definition)


def lambda_task(function: str = FN, partition: str = "aws", **extra: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": f"arn:{partition}:states:::lambda:invoke",
        "Parameters": {"FunctionName": function, "Payload.$": "$"},
        **extra,
    }


def sagemaker_task(action: str, partition: str = "aws", **extra: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": f"arn:{partition}:states:::sagemaker:{action}", **extra}


# -- Lambda ------------------------------------------------------------------------------------------


def test_lambda_result_is_shaped_like_the_integration_and_result_selector_works(aws: OfflineAws) -> None:
    payloads: list[Any] = []

    def fn(payload: dict[str, Any]) -> dict[str, Any]:
        payloads.append(payload)
        return {"x": payload["n"] * 2, "name": payload["name"]}

    aws.bind_lambda(FN, fn)
    task = lambda_task(
        Parameters={"FunctionName": FN, "Payload": {"n.$": "$.n", "name.$": "$$.Execution.Name"}},
        ResultSelector={"x.$": "$.Payload.x", "whole.$": "$"},
        ResultPath="$.result",
        End=True,
    )
    events: list[StateEvent] = []
    result = aws.run(machine(aws, {"Call": task}), {"n": 21}, name="run-1", on_state=events.append)

    assert result.succeeded, result.cause
    assert payloads == [{"n": 21, "name": "run-1"}]
    assert result.output["result"]["x"] == 42
    whole = result.output["result"]["whole"]
    assert whole["StatusCode"] == 200 and whole["Payload"] == {"x": 42, "name": "run-1"}
    assert whole["ExecutedVersion"] == "$LATEST" and "FunctionError" not in whole
    assert result.path == ("Call",)
    assert [(e.name, e.phase) for e in events] == [("Call", "entered"), ("Call", "exited")]
    assert events[1].seconds is not None and events[1].seconds >= 0
    [step] = result.steps
    assert step.name == "Call" and step.exited is not None and step.seconds == events[1].seconds


def test_a_function_bound_by_name_serves_arn_and_plain_function_resources(aws: OfflineAws) -> None:
    aws.bind_lambda("fn", lambda payload: {"ok": True})
    legacy = {"Type": "Task", "Resource": FN, "End": True}  # the pre-integration form
    result = aws.run(machine(aws, {"Legacy": legacy}))
    assert result.succeeded and result.output == {"ok": True}
    result = aws.run(machine(aws, {"Invoke": lambda_task(f"{FN}:$LATEST", End=True)}))
    assert result.succeeded and result.output["Payload"] == {"ok": True}


def test_lambda_error_is_caught_by_its_class_name_with_the_lambda_cause(aws: OfflineAws) -> None:
    def fn(payload: dict[str, Any]) -> None:
        raise InvalidPartitionName(f"no batch id in {payload['key']}")

    aws.bind_lambda(FN, fn)
    states = {
        "Call": lambda_task(
            Catch=[{"ErrorEquals": ["InvalidPartitionName"], "ResultPath": "$.error", "Next": "Bad"}],
            End=True,
        ),
        "Bad": {
            "Type": "Fail",
            "Error": "InvalidPartitionName",
            "CausePath": "States.Format('key {}: {}', $.key, $.error.Cause)",
        },
    }
    result = aws.run(machine(aws, states), {"key": "meta-data/x.csv"})

    assert result.status == "FAILED" and result.path == ("Call", "Bad")
    assert result.error == "InvalidPartitionName"
    assert result.cause is not None
    prefix = "key meta-data/x.csv: "
    assert result.cause.startswith(prefix)
    cause = json.loads(result.cause[len(prefix) :])
    assert cause["errorType"] == "InvalidPartitionName"
    assert cause["errorMessage"] == "no batch id in meta-data/x.csv"
    assert any("raise InvalidPartitionName" in frame for frame in cause["stackTrace"])
    failed = [e for e in result.events if e["type"] == "TaskFailed"]
    assert failed[0]["taskFailedEventDetails"]["error"] == "InvalidPartitionName"


def test_an_uncaught_lambda_error_fails_the_execution_with_its_name(aws: OfflineAws) -> None:
    aws.bind_lambda(FN, lambda payload: 1 / 0)
    result = aws.run(machine(aws, {"Call": lambda_task(End=True)}))
    assert (result.status, result.error) == ("FAILED", "ZeroDivisionError")
    assert result.cause is not None and json.loads(result.cause)["errorMessage"] == "division by zero"


def test_a_return_value_that_is_not_json_fails_like_the_lambda_runtime(aws: OfflineAws) -> None:
    aws.bind_lambda(FN, lambda payload: {"when": object()})
    result = aws.run(machine(aws, {"Call": lambda_task(End=True)}))
    assert result.error == "Runtime.MarshalError"


def test_an_unbound_function_goes_to_moto_lambda(aws: OfflineAws) -> None:
    result = aws.run(machine(aws, {"Call": lambda_task(End=True)}))
    assert result.error == "Lambda.ResourceNotFoundException"


def test_retries_count_every_attempt_but_never_sleep(aws: OfflineAws) -> None:
    calls: list[float] = []

    def fn(payload: dict[str, Any]) -> str:
        calls.append(time.monotonic())
        if len(calls) < payload["succeed_on"]:
            raise Throttled("slow down")
        return "done"

    aws.bind_lambda(FN, fn)
    retry = [{"ErrorEquals": ["Throttled"], "IntervalSeconds": 5, "MaxAttempts": 3, "BackoffRate": 2}]
    arn = machine(aws, {"Call": lambda_task(Retry=retry, End=True)})

    started = time.monotonic()
    result = aws.run(arn, {"succeed_on": 3})
    assert result.succeeded and len(calls) == 3
    assert aws.retry_delays == [5, 10]
    assert 15 <= aws.clock.now(result.execution_arn) < 15 + (time.monotonic() - started) + 1

    calls.clear()
    aws.retry_delays.clear()
    result = aws.run(arn, {"succeed_on": 99})
    assert result.error == "Throttled" and len(calls) == 4, "1 attempt + MaxAttempts retries"
    assert aws.retry_delays == [5, 10, 20]
    assert time.monotonic() - started < 3, "35 s of backoff must not be slept"


def test_full_jitter_retries_are_counted_and_capped(aws: OfflineAws) -> None:
    calls: list[int] = []

    def fn(payload: dict[str, Any]) -> None:
        calls.append(1)
        raise Throttled("again")

    aws.bind_lambda(FN, fn)
    retry = [
        {
            "ErrorEquals": ["Throttled"],
            "IntervalSeconds": 2,
            "MaxAttempts": 6,
            "BackoffRate": 2,
            "JitterStrategy": "FULL",
        }
    ]
    result = aws.run(machine(aws, {"Call": lambda_task(Retry=retry, End=True)}))
    assert result.error == "Throttled" and len(calls) == 7
    assert len(aws.retry_delays) == 6
    assert all(0 <= d <= 2 * 2**i for i, d in enumerate(aws.retry_delays))


def test_wait_states_are_recorded_and_skipped_on_the_executions_clock(aws: OfflineAws) -> None:
    states = {
        "Pause": {"Type": "Wait", "Seconds": 3600, "Next": "Again"},
        "Again": {"Type": "Wait", "SecondsPath": "$.seconds", "Next": "Done"},
        "Done": {"Type": "Succeed"},
    }
    arn = machine(aws, states)
    started = time.monotonic()
    result = aws.run(arn, {"seconds": 7200})
    other = aws.run(arn, {"seconds": 0})
    assert time.monotonic() - started < 3, "three hours of Wait states must not be slept"

    assert result.succeeded and result.path == ("Pause", "Again", "Done")
    assert aws.waits[:2] == [
        SkippedWait(result.execution_arn, "Pause", 3600.0),
        SkippedWait(result.execution_arn, "Again", 7200.0),
    ]
    assert aws.waits[2:] == [
        SkippedWait(other.execution_arn, "Pause", 3600.0),
        SkippedWait(other.execution_arn, "Again", 0.0),
    ]
    real = time.monotonic() - started
    assert 10800 <= aws.clock.now(result.execution_arn) < 10800 + real + 1
    assert 3600 <= aws.clock.now(other.execution_arn) < 3600 + real + 1, "each execution has its own clock"
    assert aws.clock.now("arn:never-ran") < real + 1, "an execution that skipped nothing is on real time"


def test_simulated_clock_adds_skipped_seconds_per_execution() -> None:
    clock = SimulatedClock()
    clock.skip("a", 100.0)
    clock.skip("a", 20.5)
    clock.skip("b", 1.0)
    assert 120.5 <= clock.now("a") < 121.5 and 1.0 <= clock.now("b") < 2.0 and clock.now("c") < 1.0


# -- SageMaker ---------------------------------------------------------------------------------------

JOBS = {
    "processing": ("createProcessingJob.sync", "ProcessingJob", "processing-job", "ProcessingEndTime"),
    "training": ("createTrainingJob.sync", "TrainingJob", "training-job", "TrainingEndTime"),
    "transform": ("createTransformJob.sync", "TransformJob", "transform-job", "TransformEndTime"),
}


def job_task(kind: str, partition: str = "aws", **extra: Any) -> dict[str, Any]:
    action, noun, _, _ = JOBS[kind]
    params = {f"{noun}Name.$": "$.job", "RoleArn": ROLE, "Count.$": "States.StringToJson('2')"}
    return sagemaker_task(action, partition, Parameters=params, **extra)


@pytest.mark.parametrize("kind", sorted(JOBS))
def test_a_sync_job_returns_the_describe_result(aws: OfflineAws, kind: str) -> None:
    _, noun, arn_type, end_time = JOBS[kind]
    seen: list[dict[str, Any]] = []

    def handler(params: dict[str, Any]) -> dict[str, Any]:
        seen.append(params)
        extra = {"ModelArtifacts": {"S3ModelArtifacts": "s3://b/model.tar.gz"}} if kind == "training" else {}
        return {f"{noun}Status": "Completed", **extra}

    aws.bind_sagemaker(kind, handler)  # type: ignore[arg-type]
    result = aws.run(machine(aws, {"Job": job_task(kind, ResultPath="$.out", End=True)}), {"job": "Job-1"})

    assert result.succeeded, result.cause
    assert seen == [{f"{noun}Name": "Job-1", "RoleArn": ROLE, "Count": 2}]
    out = result.output["out"]
    assert out[f"{noun}Name"] == "Job-1" and out[f"{noun}Status"] == "Completed"
    assert out[f"{noun}Arn"] == f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:{arn_type}/job-1"
    assert isinstance(out[end_time], int), "epoch milliseconds, as Step Functions reports them"
    types = [e["type"] for e in result.events]
    assert types.index("TaskSubmitted") < types.index("TaskSucceeded")


@pytest.mark.parametrize("kind", sorted(JOBS))
def test_a_failed_sync_job_fails_the_task_with_states_task_failed(aws: OfflineAws, kind: str) -> None:
    _, noun, _, _ = JOBS[kind]
    aws.bind_sagemaker(kind, lambda p: {f"{noun}Status": "Failed", "FailureReason": "ClientError: bad"})  # type: ignore[arg-type]
    states = {
        "Job": job_task(
            kind, Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}], End=True
        ),
        "Failed": {"Type": "Fail", "Error": "JobFailed", "CausePath": "$.error.Cause"},
    }
    result = aws.run(machine(aws, states), {"job": "j"})

    assert result.path == ("Job", "Failed") and result.error == "JobFailed"
    assert result.cause is not None
    describe = json.loads(result.cause)
    assert describe[f"{noun}Status"] == "Failed" and describe["FailureReason"] == "ClientError: bad"
    assert describe[f"{noun}Name"] == "j"
    failed = next(e for e in result.events if e["type"] == "TaskFailed")["taskFailedEventDetails"]
    assert failed["error"] == "States.TaskFailed"
    assert failed["resource"] == JOBS[kind][0] and failed["resourceType"] == "sagemaker"


def test_a_failed_job_is_caught_by_states_task_failed_and_not_retried(aws: OfflineAws) -> None:
    calls: list[int] = []

    def handler(params: dict[str, Any]) -> dict[str, Any]:
        calls.append(1)
        return {"ProcessingJobStatus": "Stopped", "FailureReason": "MaxRuntimeExceeded"}

    aws.bind_sagemaker("processing", handler)
    retry = [{"ErrorEquals": ["SageMaker.AmazonSageMakerException"], "MaxAttempts": 3}]
    catch = [{"ErrorEquals": ["States.TaskFailed"], "Next": "Caught"}]
    states = {
        "Job": job_task("processing", Retry=retry, Catch=catch, End=True),
        "Caught": {"Type": "Succeed"},
    }
    result = aws.run(machine(aws, states), {"job": "j"})
    assert result.path == ("Job", "Caught") and calls == [1]


def test_a_sync_handler_that_raises_is_a_failed_job(aws: OfflineAws) -> None:
    def handler(params: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("price")

    aws.bind_sagemaker("processing", handler)
    result = aws.run(machine(aws, {"Job": job_task("processing", End=True)}), {"job": "j"})
    assert result.error == "States.TaskFailed"
    assert result.cause is not None
    describe = json.loads(result.cause)
    assert describe["ProcessingJobStatus"] == "Failed"
    assert describe["FailureReason"] == "AlgorithmError: KeyError: 'price'"


def test_sagemaker_api_errors_are_named_as_step_functions_reports_them() -> None:
    quota = SageMakerApiError("ResourceLimitExceeded", "The account-level service limit 'x' is 4 Instances")
    assert quota.error_name == "SageMaker.ResourceLimitExceededException"
    assert re.fullmatch(
        r"The account-level service limit 'x' is 4 Instances \(Service: AmazonSageMaker; Status Code: 400; "
        r"Error Code: ResourceLimitExceeded; Request ID: [0-9a-f-]{36}; Proxy: null\)",
        quota.cause,
    )
    assert SageMakerApiError("ResourceInUse", "m").error_name == "SageMaker.ResourceInUseException"
    invalid = SageMakerApiError("ValidationException", "1 validation error detected")
    assert invalid.error_name == "SageMaker.AmazonSageMakerException", "an undeclared code has the base name"
    assert "Error Code: ValidationException;" in invalid.cause
    shared = SageMakerApiError("ResourceLimitExceeded", "m", error_name="SageMaker.AmazonSageMakerException")
    assert shared.error_name == "SageMaker.AmazonSageMakerException"
    assert "Error Code: ResourceLimitExceeded;" in shared.cause


@pytest.mark.parametrize("kind", sorted(JOBS))
def test_a_rejected_create_call_fails_the_task_before_the_job_runs(aws: OfflineAws, kind: str) -> None:
    ran: list[dict[str, Any]] = []
    created: list[tuple[str, dict[str, Any], float]] = []

    def create(kind: str, params: dict[str, Any], now: float) -> float:
        created.append((kind, params, now))
        raise SageMakerApiError("ResourceLimitExceeded", "The account-level service limit is 4 Instances")

    aws.bind_sagemaker(kind, lambda params: ran.append(params) or {})  # type: ignore[arg-type, func-returns-value]
    aws.bind_sagemaker_create(create)
    catch = [{"ErrorEquals": ["SageMaker.ResourceLimitExceededException"], "ResultPath": "$.e", "Next": "Q"}]
    states = {"Job": job_task(kind, Catch=catch, End=True), "Q": {"Type": "Succeed"}}
    result = aws.run(machine(aws, states), {"job": "J-1"})

    assert result.succeeded and result.path == ("Job", "Q")
    assert ran == [], "a rejected job never runs"
    [(seen_kind, params, now)] = created
    assert seen_kind == kind and params == {f"{JOBS[kind][1]}Name": "J-1", "RoleArn": ROLE, "Count": 2}
    assert 0 <= now < aws.clock.now(result.execution_arn) + 1e-9
    error = result.output["e"]
    assert error["Error"] == "SageMaker.ResourceLimitExceededException"
    assert error["Cause"].startswith(
        "The account-level service limit is 4 Instances (Service: AmazonSageMaker;"
    )
    failed = next(e for e in result.events if e["type"] == "TaskFailed")["taskFailedEventDetails"]
    assert failed["resource"] == JOBS[kind][0] and failed["resourceType"] == "sagemaker"
    assert "TaskSubmitted" not in [e["type"] for e in result.events]


def test_an_admitted_job_runs_and_its_simulated_run_time_moves_the_clock_on(aws: OfflineAws) -> None:
    order: list[tuple[str, float]] = []

    def create(kind: str, params: dict[str, Any], now: float) -> float:
        order.append(("create", now))
        return 600.0

    def run(params: dict[str, Any]) -> dict[str, Any]:
        order.append(("run", 0.0))
        return {}

    aws.bind_sagemaker("processing", run)
    aws.bind_sagemaker_create(create)
    states = {
        "Pause": {"Type": "Wait", "Seconds": 100, "Next": "Job"},
        "Job": job_task("processing", ResultPath="$.out", Next="Again"),
        "Again": job_task("processing", ResultPath="$.out", End=True),
    }
    started = time.monotonic()
    result = aws.run(machine(aws, states), {"job": "j"})
    real = time.monotonic() - started + 1
    assert result.succeeded, result.cause
    assert [step for step, _ in order] == ["create", "run", "create", "run"]
    first, second = order[0][1], order[2][1]
    assert 100 <= first < 100 + real and 700 <= second < 700 + real, "the Wait, then the first job's 600 s"
    assert 1300 <= aws.clock.now(result.execution_arn) < 1300 + real


def test_create_model_returns_the_model_arn(aws: OfflineAws) -> None:
    seen: list[dict[str, Any]] = []

    def handler(params: dict[str, Any]) -> dict[str, Any]:
        seen.append(params)
        return {"ModelArn": "arn:aws:sagemaker:us-east-1:123456789012:model/m"}

    aws.bind_sagemaker("model", handler)
    params = {"ModelName.$": "$.name", "ExecutionRoleArn": ROLE, "PrimaryContainer": {"Image": "img"}}
    task = sagemaker_task("createModel", Parameters=params, ResultPath="$.model", End=True)
    result = aws.run(machine(aws, {"Model": task}), {"name": "m"})
    assert result.succeeded
    assert result.output["model"] == {"ModelArn": "arn:aws:sagemaker:us-east-1:123456789012:model/m"}
    assert seen == [{"ModelName": "m", "ExecutionRoleArn": ROLE, "PrimaryContainer": {"Image": "img"}}]

    aws.bind_sagemaker("model", lambda params: None)
    result = aws.run(machine(aws, {"Model": task}), {"name": "Other"})
    assert result.output["model"] == {"ModelArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model/other"}


def test_create_model_that_raises_is_a_retryable_sagemaker_api_error(aws: OfflineAws) -> None:
    calls: list[int] = []

    def handler(params: dict[str, Any]) -> None:
        calls.append(1)
        raise ValueError("Could not find model data")

    aws.bind_sagemaker("model", handler)
    retry = [{"ErrorEquals": ["SageMaker.AmazonSageMakerException"], "IntervalSeconds": 10, "MaxAttempts": 2}]
    task = sagemaker_task("createModel", Parameters={"ModelName": "m"}, Retry=retry, End=True)
    result = aws.run(machine(aws, {"Model": task}))
    assert result.error == "SageMaker.AmazonSageMakerException" and len(calls) == 3
    assert result.cause is not None
    assert result.cause.startswith("ValueError: Could not find model data (Service: AmazonSageMaker;")


def test_missing_handler_or_broken_result_is_a_runtime_error_that_names_the_fix(aws: OfflineAws) -> None:
    arn = machine(aws, {"Job": job_task("training", End=True)})
    result = aws.run(arn, {"job": "t"})
    assert result.error == "States.Runtime"
    assert result.cause is not None and "bind_sagemaker('training'" in result.cause

    aws.bind_sagemaker("training", lambda params: {"TrainingJobStatus": "Completed"})
    result = aws.run(arn, {"job": "t"})
    assert result.error == "States.Runtime"
    assert result.cause is not None and "ModelArtifacts.S3ModelArtifacts" in result.cause

    aws.bind_sagemaker("training", lambda params: {"TrainingJobStatus": "InProgress"})
    result = aws.run(arn, {"job": "t"})
    assert result.cause is not None and "'InProgress'" in result.cause


@pytest.mark.parametrize(
    "action", ["createModel.sync", "createEndpoint", "createTrainingJob.waitForTaskToken"]
)
def test_unsupported_sagemaker_tasks_are_rejected_at_creation(aws: OfflineAws, action: str) -> None:
    with pytest.raises(ClientError, match="offline SageMaker supports no task"):
        machine(aws, {"Job": sagemaker_task(action, Parameters={}, End=True)})


def test_bind_sagemaker_rejects_unknown_kinds(aws: OfflineAws) -> None:
    with pytest.raises(ValueError, match="unknown SageMaker kind"):
        aws.bind_sagemaker("endpoint", lambda params: None)  # type: ignore[arg-type]


# -- SNS, partitions ---------------------------------------------------------------------------------


def sqs_subscription(aws: OfflineAws, topic_arn: str) -> tuple[Any, str]:
    sqs = aws.client("sqs")
    queue_url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    aws.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return sqs, queue_url


def received(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_sns_publish_reaches_the_moto_topic(aws: OfflineAws) -> None:
    topic = aws.client("sns").create_topic(Name="alerts")["TopicArn"]
    sqs, queue_url = sqs_subscription(aws, topic)
    task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::sns:publish",
        "Parameters": {
            "TopicArn": topic,
            "Subject": "Pipeline failed",
            "Message.$": "States.Format('execution {} failed: {}', $$.Execution.Name, $.why)",
        },
        "ResultPath": None,
        "End": True,
    }
    result = aws.run(machine(aws, {"Notify": task}), {"why": "boom"}, name="exec-7")
    assert result.succeeded and result.output == {"why": "boom"}
    [message] = received(sqs, queue_url)
    assert message["Subject"] == "Pipeline failed"
    assert message["Message"] == "execution exec-7 failed: boom"


def test_sns_publish_to_a_missing_topic_fails_with_the_sns_error(aws: OfflineAws) -> None:
    task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::sns:publish",
        "Parameters": {"TopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:nope", "Message": "x"},
        "End": True,
    }
    result = aws.run(machine(aws, {"Notify": task}))
    assert result.error == "SNS.NotFoundException"


def test_aws_cn_partition_task_resources() -> None:
    with offline_aws("cn-north-1") as aws:
        assert aws.partition == "aws-cn"
        fn = f"arn:aws-cn:lambda:cn-north-1:{ACCOUNT}:function:fn"
        aws.bind_lambda(fn, lambda payload: {"job": "cn-job"})
        aws.bind_sagemaker("processing", lambda params: {"ProcessingJobStatus": "Completed"})
        topic = aws.client("sns").create_topic(Name="alerts")["TopicArn"]
        assert topic.startswith("arn:aws-cn:sns:cn-north-1:")
        sqs, queue_url = sqs_subscription(aws, topic)
        states = {
            "Call": lambda_task(fn, "aws-cn", ResultSelector={"job.$": "$.Payload.job"}, Next="Job"),
            "Job": job_task("processing", "aws-cn", ResultPath="$.processing", Next="Notify"),
            "Notify": {
                "Type": "Task",
                "Resource": "arn:aws-cn:states:::sns:publish",
                "Parameters": {"TopicArn": topic, "Message.$": "$.processing.ProcessingJobArn"},
                "ResultPath": None,
                "End": True,
            },
        }
        result = aws.run(machine(aws, states))
        assert result.succeeded, result.cause
        job_arn = f"arn:aws-cn:sagemaker:cn-north-1:{ACCOUNT}:processing-job/cn-job"
        assert result.output["processing"]["ProcessingJobArn"] == job_arn
        assert [m["Message"] for m in received(sqs, queue_url)] == [job_arn]


# -- intrinsics and flow control the project's ASL uses ---------------------------------------------


def test_intrinsics_result_path_null_and_fail_with_cause_path(aws: OfflineAws) -> None:
    hyper = {"it's": "{x}", "path": "C:\\dir", "q": '"quoted"', "n": "1"}
    states = {
        "Build": {
            "Type": "Pass",
            "Parameters": {
                "name.$": "$$.Execution.Name",
                "uri.$": f"States.Format('s3://bucket/{literal('prediction-data/')}{{}}/', $.batch)",
                "hyper.$": f"States.StringToJson('{literal(json.dumps(hyper))}')",
                "count.$": "States.StringToJson('3')",
                "text.$": f"States.Format('{literal(chr(39) + 'quoted' + chr(39))} and {{}}', $.batch)",
            },
            "ResultPath": "$.built",
            "Next": "Drop",
        },
        "Drop": {"Type": "Pass", "Result": {"ignored": True}, "ResultPath": None, "Next": "Fail"},
        "Fail": {
            "Type": "Fail",
            "Error": "Stopped",
            "CausePath": "States.Format('batch {} of {} at {}', $.batch, $.built.name, $.built.uri)",
        },
    }
    result = aws.run(machine(aws, states), {"batch": 2333}, name="exec-1")
    assert result.path == ("Build", "Drop", "Fail")
    assert result.error == "Stopped"
    assert result.cause == "batch 2333 of exec-1 at s3://bucket/prediction-data/2333/"
    built = json.loads(
        next(e for e in result.events if e["type"] == "PassStateExited")["stateExitedEventDetails"]["output"]
    )["built"]
    assert built["hyper"] == hyper and built["count"] == 3
    assert built["text"] == "'quoted' and 2333"
    fail_input = next(e for e in result.events if e["type"] == "FailStateEntered")["stateEnteredEventDetails"]
    assert json.loads(fail_input["input"]) == {"batch": 2333, "built": built}, (
        "ResultPath null drops the result"
    )


CHOICE = {
    "Check": {
        "Type": "Choice",
        "Choices": [
            {"Not": {"Variable": "$.key", "IsPresent": True}, "Next": "Missing"},
            {
                "And": [
                    {"Variable": "$.key", "IsString": True},
                    {"Variable": "$.key", "StringMatches": "*_*.csv"},
                    {"Variable": "$.id", "IsPresent": True},
                    {"Variable": "$.id", "IsNumeric": True},
                ],
                "Next": "Good",
            },
        ],
        "Default": "Bad",
    },
    "Missing": {"Type": "Succeed"},
    "Good": {"Type": "Succeed"},
    "Bad": {"Type": "Succeed"},
}


@pytest.mark.parametrize(
    ("execution_input", "branch"),
    [
        ({"key": "meta-data/partition_1.csv", "id": 1}, "Good"),
        ({"key": "meta-data/partition_1.csv", "id": "1"}, "Bad"),
        ({"key": "meta-data/partition_1.csv"}, "Bad"),
        ({"key": "meta-data/partition.csv", "id": 1}, "Bad"),
        ({"key": 5, "id": 1}, "Bad"),
        ({"id": 1}, "Missing"),
    ],
)
def test_choice_is_present_is_numeric_string_matches(
    aws: OfflineAws, execution_input: dict[str, Any], branch: str
) -> None:
    result = aws.run(machine(aws, CHOICE), execution_input)
    assert result.path == ("Check", branch)


def test_run_times_out_and_stops_the_execution(aws: OfflineAws) -> None:
    release = threading.Event()
    aws.bind_lambda(FN, lambda payload: release.wait(30))
    arn = machine(aws, {"Call": lambda_task(End=True)})
    try:
        with pytest.raises(TimeoutError, match=r"path so far \['Call'\]"):
            aws.run(arn, timeout=0.2)
    finally:
        release.set()


# -- known differences from AWS: these tests fail when a moto upgrade changes them -------------------


def test_moto_states_all_also_catches_states_runtime(aws: OfflineAws) -> None:
    aws.bind_lambda(FN, lambda payload: payload)
    task = lambda_task(
        Parameters={"FunctionName": FN, "Payload": {"x.$": "$.missing.field"}},
        Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}],
        End=True,
    )
    result = aws.run(machine(aws, {"Call": task, "Caught": {"Type": "Pass", "End": True}}), {})
    assert result.path == ("Call", "Caught"), "AWS would fail the execution with States.Runtime"
    assert result.output["error"]["Error"] == "States.Runtime"


def test_moto_choice_on_a_missing_field_takes_the_default(aws: OfflineAws) -> None:
    states = {
        "Check": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.missing", "NumericEquals": 1, "Next": "Matched"}],
            "Default": "Default",
        },
        "Matched": {"Type": "Succeed"},
        "Default": {"Type": "Succeed"},
    }
    result = aws.run(machine(aws, states), {})
    assert result.path == ("Check", "Default"), "AWS would fail the execution with States.Runtime"


def test_moto_without_the_fix_misreads_escapes_in_intrinsic_literals() -> None:
    with offline_aws(fix_intrinsic_escapes=False) as aws:
        parse = {"x.$": f"States.StringToJson('{literal(json.dumps({'a': 1}))}')"}
        result = aws.run(machine(aws, {"P": {"Type": "Pass", "Parameters": parse, "End": True}}))
        assert result.error == "States.Runtime" and "JSONDecodeError" in str(result.cause)


def test_moto_states_format_cannot_print_literal_braces(aws: OfflineAws) -> None:
    fmt = {"x.$": f"States.Format('{literal('{literal}')} {{}}', $.v)"}
    result = aws.run(machine(aws, {"P": {"Type": "Pass", "Parameters": fmt, "End": True}}), {"v": 1})
    assert result.error == "States.Runtime", "AWS gives '{literal} 1'"


def test_moto_start_execution_without_a_name_has_a_null_execution_name(aws: OfflineAws) -> None:
    arn = machine(aws, {"P": {"Type": "Pass", "Parameters": {"n.$": "$$.Execution.Name"}, "End": True}})
    sfn = aws.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    for _ in range(200):
        description = sfn.describe_execution(executionArn=execution)
        if description["status"] != "RUNNING":
            break
        time.sleep(0.005)
    assert json.loads(description["output"]) == {"n": None}, "AWS generates a UUID"
    assert aws.run(arn).output["n"], "run() always names the execution"


# -- the project's state machines --------------------------------------------------------------------

BUCKET = "data-bucket"
GET_BATCH_ID = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:get-batch-id"


JOB_NAME_PREFIX = StandardizeConfig().job_name_prefix


def get_batch_id() -> Callable[[Any], Any]:
    """The real get-batch-id function, loaded once per test, with the default job name prefix."""
    return bound("get_batch_id", {"JOB_NAME_PREFIX": JOB_NAME_PREFIX})


def processing_job_name(batch: int, execution_name: str) -> str:
    name = load("get_batch_id", "batch_id").processing_job_name(JOB_NAME_PREFIX, batch, execution_name)
    assert name.startswith(f"standardize-{batch}-"), name  # the documented <prefix>-<N>-<hex> form
    return str(name)


def standardize_machine(aws: OfflineAws, quota_retry: QuotaRetryConfig) -> str:
    subs = standardize_substitutions(
        StandardizeConfig(),
        quota_retry=quota_retry,
        partition="aws",
        bucket_name=BUCKET,
        get_batch_id_arn=GET_BATCH_ID,
        processing_role_arn=ROLE,
        image_uri=f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/std:1",
    )
    return aws.create_state_machine(f"standardize-{time.monotonic_ns()}", render("standardize", subs))


@pytest.fixture
def standardize(aws: OfflineAws) -> str:
    return standardize_machine(aws, QuotaRetryConfig())


class Rejecting:
    """A create hook that rejects the first ``times[kind]`` Create* calls of each kind, then admits."""

    def __init__(self, times: dict[str, int], code: str = "ResourceLimitExceeded", **error: str) -> None:
        self.times, self.code, self.error = times, code, error
        self.calls: list[str] = []

    def __call__(self, kind: str, params: dict[str, Any], now: float) -> float:
        self.calls.append(kind)
        if self.calls.count(kind) <= self.times.get(kind, 0):
            raise SageMakerApiError(self.code, f"no room for {kind} at {now:.0f}", **self.error)
        return 300.0


def s3_event(key: str) -> dict[str, Any]:
    return {"bucket": {"name": BUCKET}, "object": {"key": key}}


def test_standardize_runs_end_to_end(aws: OfflineAws, standardize: str) -> None:
    jobs: list[dict[str, Any]] = []

    def processing(params: dict[str, Any]) -> dict[str, Any]:
        jobs.append(params)
        return {"ProcessingJobStatus": "Completed", "ProcessingEndTime": 1_700_000_000_000}

    aws.bind_lambda(GET_BATCH_ID, get_batch_id())
    aws.bind_sagemaker("processing", processing)
    result = aws.run(standardize, s3_event("meta-data/partition_2333.csv"), name="abcdef123456")

    assert result.succeeded, (result.error, result.cause)
    assert result.path == ("CheckFileName", "GetBatchId", "CheckBatchId", "Standardize", "Done")
    [job] = jobs
    assert job["ProcessingJobName"] == processing_job_name(2333, "abcdef123456")
    assert job["ProcessingInputs"][0]["S3Input"]["S3Uri"] == f"s3://{BUCKET}/meta-data/partition_2333.csv"
    output = job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert output == f"s3://{BUCKET}/prediction-data/2333/"
    assert job["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 1
    assert job["StoppingCondition"]["MaxRuntimeInSeconds"] == 3600
    assert result.output["processing"] == {
        "ProcessingJobName": processing_job_name(2333, "abcdef123456"),
        "ProcessingJobStatus": "Completed",
        "ProcessingEndTime": 1_700_000_000_000,
    }


@pytest.mark.parametrize(
    ("execution_input", "path", "error", "cause"),
    [
        (
            s3_event("meta-data/partition.csv"),
            ("CheckFileName", "InvalidFileName"),
            "InvalidFileName",
            "key meta-data/partition.csv does not match *_*.csv",
        ),
        (
            {"bucket": {"name": BUCKET}},
            ("CheckFileName", "MissingKey", "InvalidFileName"),
            "InvalidFileName",
            "key (no object.key in the execution input) does not match",
        ),
        (
            s3_event("meta-data/partition_x1.csv"),
            ("CheckFileName", "GetBatchId", "InvalidPartitionName"),
            "InvalidPartitionName",
            'key meta-data/partition_x1.csv: {"errorMessage":"key \'meta-data/partition_x1.csv\': batch id',
        ),
    ],
)
def test_standardize_rejects_bad_keys_in_named_fail_states(
    aws: OfflineAws,
    standardize: str,
    execution_input: dict[str, Any],
    path: tuple[str, ...],
    error: str,
    cause: str,
) -> None:
    aws.bind_lambda(GET_BATCH_ID, get_batch_id())
    result = aws.run(standardize, execution_input)
    assert (result.status, result.path, result.error) == ("FAILED", path, error)
    assert result.cause is not None and result.cause.startswith(cause), result.cause


def test_standardize_fails_when_the_batch_id_is_not_numeric(aws: OfflineAws, standardize: str) -> None:
    aws.bind_lambda(GET_BATCH_ID, lambda payload: {"batch_id": "2333", "job_name": "j"})
    result = aws.run(standardize, s3_event("meta-data/p_2333.csv"))
    assert result.path == (
        "CheckFileName",
        "GetBatchId",
        "CheckBatchId",
        "BatchIdNotNumeric",
        "InvalidPartitionName",
    )
    assert result.error == "InvalidPartitionName"
    assert result.cause == (
        "key meta-data/p_2333.csv: get-batch-id returned no numeric batch id for key meta-data/p_2333.csv"
    )


def test_standardize_processing_failure_ends_in_processing_failed(aws: OfflineAws, standardize: str) -> None:
    aws.bind_lambda(GET_BATCH_ID, get_batch_id())
    aws.bind_sagemaker(
        "processing",
        lambda params: {
            "ProcessingJobStatus": "Failed",
            "FailureReason": "AlgorithmError: no numeric column",
        },
    )
    result = aws.run(standardize, s3_event("meta-data/partition_7.csv"))
    assert result.path[-2:] == ("Standardize", "ProcessingFailed")
    assert result.error == "ProcessingFailed"
    prefix = "processing of key meta-data/partition_7.csv failed: "
    assert result.cause is not None and result.cause.startswith(prefix)
    assert json.loads(result.cause[len(prefix) :])["FailureReason"] == "AlgorithmError: no numeric column"


QUOTA_WAIT = ("StandardizeQuota", "StandardizeQuotaBackoff", "StandardizeQuotaWait", "Standardize")


def test_standardize_waits_out_the_quota_then_runs_the_job(aws: OfflineAws, standardize: str) -> None:
    aws.bind_lambda(GET_BATCH_ID, get_batch_id())
    aws.bind_sagemaker("processing", lambda params: {})
    create = Rejecting({"processing": 3})
    aws.bind_sagemaker_create(create)
    result = aws.run(standardize, s3_event("meta-data/partition_7.csv"))

    assert result.succeeded, (result.error, result.cause)
    assert result.path == (
        ("CheckFileName", "GetBatchId", "CheckBatchId", "Standardize", "StandardizeQuota")
        + ("StandardizeQuotaStart", "StandardizeQuotaBackoff", "StandardizeQuotaWait", "Standardize")
        + QUOTA_WAIT * 2
        + ("Done",)
    )
    assert create.calls == ["processing"] * 4
    waits = [w.seconds for w in aws.waits]
    assert {w.state for w in aws.waits} == {"StandardizeQuotaWait"}
    windows = QuotaRetryConfig().windows()[:3]
    assert all(low <= wait <= high for wait, (low, high) in zip(waits, windows, strict=True)), waits
    assert aws.retry_delays == [], "the quota error has its own name: the short Retry does not see it"
    assert result.output["processing_quota"] == {"attempt": 3, "attempts": 51, "seconds": waits[-1]}
    assert result.output["processing"]["ProcessingJobStatus"] == "Completed"
    assert aws.clock.now(result.execution_arn) >= sum(waits) + 300


def test_standardize_waits_out_the_quota_reported_as_a_generic_sagemaker_error(
    aws: OfflineAws, standardize: str
) -> None:
    """If Step Functions names the quota error SageMaker.AmazonSageMakerException, with the code only
    in the cause, the short Retry runs first and the quota wait follows."""
    aws.bind_lambda(GET_BATCH_ID, get_batch_id())
    aws.bind_sagemaker("processing", lambda params: {})
    create = Rejecting({"processing": 6}, error_name="SageMaker.AmazonSageMakerException")
    aws.bind_sagemaker_create(create)
    result = aws.run(standardize, s3_event("meta-data/partition_7.csv"))

    assert result.succeeded, (result.error, result.cause)
    assert create.calls == ["processing"] * 7, "4 calls (1 + 3 retries), a quota wait, 3 calls"
    assert [w.state for w in aws.waits] == ["StandardizeQuotaWait"]
    steps = [5, 10, 20, 5, 10]  # the Retry's full-jitter caps, counted again on the new entry
    assert len(aws.retry_delays) == 5
    assert all(0 <= delay <= step for delay, step in zip(aws.retry_delays, steps, strict=True))
    assert result.path[-6:] == ("StandardizeQuota", "StandardizeQuotaStart", *QUOTA_WAIT[1:], "Done")


def test_standardize_does_not_wait_out_other_sagemaker_errors(aws: OfflineAws, standardize: str) -> None:
    aws.bind_lambda(GET_BATCH_ID, get_batch_id())
    aws.bind_sagemaker("processing", lambda params: {})
    create = Rejecting({"processing": 99}, code="ValidationException")
    aws.bind_sagemaker_create(create)
    result = aws.run(standardize, s3_event("meta-data/partition_7.csv"))

    assert result.path[-3:] == ("Standardize", "StandardizeQuota", "ProcessingFailed")
    assert result.error == "ProcessingFailed" and len(create.calls) == 4, "1 call + the short Retry's 3"
    assert aws.waits == []
    assert result.cause is not None and "Error Code: ValidationException;" in result.cause
    assert result.cause.startswith("processing of key meta-data/partition_7.csv failed: no room for")


def test_standardize_gives_up_on_the_quota_after_the_configured_waits(aws: OfflineAws) -> None:
    arn = standardize_machine(aws, QuotaRetryConfig(2, 1.5, 3, 8))  # waits of at most 2, 3, 3 s
    aws.bind_lambda(GET_BATCH_ID, get_batch_id())
    aws.bind_sagemaker("processing", lambda params: {})
    create = Rejecting({"processing": 99})
    aws.bind_sagemaker_create(create)
    result = aws.run(arn, s3_event("meta-data/partition_7.csv"))

    assert result.error == "ProcessingFailed" and result.path[-2:] == ("StandardizeQuota", "ProcessingFailed")
    assert len(create.calls) == 4 and len(aws.waits) == 3
    assert all(
        [1 <= aws.waits[0].seconds <= 2, 2 <= aws.waits[1].seconds <= 3, 2 <= aws.waits[2].seconds <= 3]
    )
    assert result.cause is not None and "Error Code: ResourceLimitExceeded;" in result.cause


DATASET = {
    "train_uri": "s3://b/forecast/run-1/train/",
    "test_uri": "s3://b/forecast/run-1/test/",
    "model_output_uri": "s3://b/forecast/run-1/model/",
    "transform_output_uri": "s3://b/forecast/run-1/transform/",
    "training_job_name": "forecast-train-1",
    "model_name": "forecast-model-1",
    "transform_job_name": "forecast-transform-1",
}


def forecast(aws: OfflineAws, env_name: str) -> tuple[str, dict[str, str], Any, str]:
    """Create the forecast state machine of ``env_name`` with an SNS topic read through SQS."""
    env = load_env(env_name, read_cdk_context())
    partition, region = env.partition, env.region
    topic = aws.client("sns").create_topic(Name="alerts")["TopicArn"]
    sqs, queue_url = sqs_subscription(aws, topic)
    subs = forecast_substitutions(
        env,
        partition=partition,
        generate_dataset_arn=f"arn:{partition}:lambda:{region}:{ACCOUNT}:function:generate",
        write_forecast_arn=f"arn:{partition}:lambda:{region}:{ACCOUNT}:function:write",
        sagemaker_role_arn=f"arn:{partition}:iam::{ACCOUNT}:role/sagemaker",
        alerts_topic_arn=topic,
    )
    return aws.create_state_machine("forecast", render("forecast", subs)), subs, sqs, queue_url


def bind_forecast(aws: OfflineAws, subs: dict[str, str], seen: dict[str, Any]) -> None:
    def record(kind: str, result: dict[str, Any]) -> Any:
        def handler(params: dict[str, Any]) -> dict[str, Any]:
            seen[kind] = params
            return result

        return handler

    aws.bind_lambda(subs["GenerateDatasetFunctionArn"], record("generate", DATASET))
    aws.bind_lambda(subs["WriteForecastFunctionArn"], record("write", {"rows": 168}))
    aws.bind_sagemaker(
        "training", record("training", {"ModelArtifacts": {"S3ModelArtifacts": "s3://b/m.tgz"}})
    )
    aws.bind_sagemaker("model", record("model", {}))
    aws.bind_sagemaker("transform", record("transform", {}))


@pytest.mark.parametrize("env_name", ["dev", "china"])
def test_forecast_runs_end_to_end(env_name: str) -> None:
    env = load_env(env_name, read_cdk_context())
    with offline_aws(env.region) as aws:
        arn, subs, sqs, queue_url = forecast(aws, env_name)
        seen: dict[str, Any] = {}
        bind_forecast(aws, subs, seen)
        result = aws.run(arn, {"detail": {"jobName": "etl", "state": "SUCCEEDED"}}, name="run-1")

        assert result.succeeded, (result.error, result.cause)
        assert result.path == (
            "GenerateDataset",
            "Train",
            "CreateModel",
            "Transform",
            "WriteForecast",
            "Done",
        )
        assert seen["generate"] == {
            "event": {"detail": {"jobName": "etl", "state": "SUCCEEDED"}},
            "execution_name": "run-1",
        }
        assert seen["training"]["HyperParameters"] == env.forecast.deepar.hyperparameters()  # type: ignore[union-attr]
        assert seen["training"]["ResourceConfig"]["InstanceCount"] == 1
        assert seen["model"]["PrimaryContainer"]["ModelDataUrl"] == "s3://b/m.tgz"
        inference = json.loads(seen["model"]["PrimaryContainer"]["Environment"]["DEEPAR_INFERENCE_CONFIG"])
        assert inference["quantiles"] == ["0.1", "0.5", "0.9"]
        assert (
            seen["transform"]["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == DATASET["test_uri"]
        )
        assert seen["write"] == {"dataset": DATASET, "execution_name": "run-1"}
        assert result.output == {
            "dataset": DATASET,
            "training": {"model_artifacts": "s3://b/m.tgz"},
            "written": {"rows": 168},
        }
        assert received(sqs, queue_url) == []


def test_forecast_failed_training_alerts_and_ends_in_training_failed(aws: OfflineAws) -> None:
    arn, subs, sqs, queue_url = forecast(aws, "dev")
    bind_forecast(aws, subs, {})
    aws.bind_sagemaker(
        "training", lambda p: {"TrainingJobStatus": "Failed", "FailureReason": "ClientError: no data"}
    )
    result = aws.run(arn, {}, name="run-2")

    assert result.path == ("GenerateDataset", "Train", "NotifyTrainFailed", "TrainingFailed")
    assert result.error == "TrainingFailed"
    assert result.cause is not None
    assert result.cause.startswith("Train failed for execution run-2: States.TaskFailed: {")
    assert '"FailureReason":"ClientError: no data"' in result.cause
    [alert] = received(sqs, queue_url)
    assert alert["Subject"] == "Forecast pipeline failed"
    assert alert["Message"].startswith("Forecast execution run-2 failed in Train: States.TaskFailed: {")


def test_forecast_jobs_wait_out_the_quota(aws: OfflineAws) -> None:
    arn, subs, sqs, queue_url = forecast(aws, "dev")
    bind_forecast(aws, subs, {})
    create = Rejecting({"training": 2, "transform": 1})
    aws.bind_sagemaker_create(create)
    result = aws.run(arn, {}, name="run-5")

    assert result.succeeded, (result.error, result.cause)
    assert create.calls == ["training"] * 3 + ["transform"] * 2
    assert [w.state for w in aws.waits] == ["TrainQuotaWait", "TrainQuotaWait", "TransformQuotaWait"]
    assert result.path.count("Train") == 3 and result.path.count("Transform") == 2
    assert result.path.count("CreateModel") == 1
    assert result.output["written"] == {"rows": 168} and received(sqs, queue_url) == []


@pytest.mark.parametrize("kind", ["training", "transform"])
def test_forecast_jobs_do_not_wait_out_other_sagemaker_errors(aws: OfflineAws, kind: str) -> None:
    arn, subs, sqs, queue_url = forecast(aws, "dev")
    bind_forecast(aws, subs, {})
    aws.bind_sagemaker_create(Rejecting({kind: 99}, code="ValidationException"))
    result = aws.run(arn, {}, name="run-6")

    task, fail = ("Train", "TrainingFailed") if kind == "training" else ("Transform", "TransformFailed")
    assert result.path[-4:] == (task, f"{task}Quota", f"Notify{task}Failed", fail)
    assert result.error == fail and aws.waits == []
    [alert] = received(sqs, queue_url)
    assert "SageMaker.AmazonSageMakerException" in alert["Message"]


@pytest.mark.parametrize(
    ("broken", "path_end", "error"),
    [
        (
            "generate",
            ("GenerateDataset", "NotifyGenerateDatasetFailed", "GenerateDatasetFailed"),
            "GenerateDatasetFailed",
        ),
        ("model", ("CreateModel", "NotifyCreateModelFailed", "CreateModelFailed"), "CreateModelFailed"),
        ("transform", ("Transform", "NotifyTransformFailed", "TransformFailed"), "TransformFailed"),
        (
            "write",
            ("WriteForecast", "NotifyWriteForecastFailed", "WriteForecastFailed"),
            "WriteForecastFailed",
        ),
    ],
)
def test_forecast_failures_end_in_their_named_fail_state(
    aws: OfflineAws, broken: str, path_end: tuple[str, ...], error: str
) -> None:
    arn, subs, sqs, queue_url = forecast(aws, "dev")
    bind_forecast(aws, subs, {})

    def fail(params: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError(f"{broken} broke")

    if broken == "generate":
        aws.bind_lambda(subs["GenerateDatasetFunctionArn"], fail)
    elif broken == "write":
        aws.bind_lambda(subs["WriteForecastFunctionArn"], fail)
    else:
        aws.bind_sagemaker(broken, fail)  # type: ignore[arg-type]
    result = aws.run(arn, {}, name="run-3")

    assert result.path[-3:] == path_end and result.error == error
    assert result.cause is not None and f"{broken} broke" in result.cause
    [alert] = received(sqs, queue_url)
    assert f"{broken} broke" in alert["Message"]


def test_the_project_asl_does_not_depend_on_the_escape_fix() -> None:
    """Config forbids the characters that would need escapes, so plain moto runs our files too."""
    with offline_aws(fix_intrinsic_escapes=False) as aws:
        arn, subs, _, _ = forecast(aws, "dev")
        bind_forecast(aws, subs, {})
        result = aws.run(arn, {}, name="run-4")
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.path[-1] == "Done"


def test_everything_is_restored_on_exit() -> None:
    def patched() -> tuple[Any, ...]:
        return (
            lambda_eval_utils._invoke_lambda_function,
            state_task_factory.state_task_service_for,
            retrier_decl.time,
            retrier_decl.RetrierDecl._eval_body,
            WaitFunction._wait_interval,
            IntrinsicParser.parse,
            boto3.DEFAULT_SESSION,
            json.dumps(default_user_config, sort_keys=True),
        )

    before = patched()
    with offline_aws():
        during = patched()
    assert all(b is not d for b, d in zip(before[:7], during[:7], strict=True))
    assert before[7] != during[7]
    after = patched()
    assert all(b is a for b, a in zip(before[:7], after[:7], strict=True)) and before[7] == after[7]
