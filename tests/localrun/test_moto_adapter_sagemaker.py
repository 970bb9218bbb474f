"""The moto adapter's SageMaker tasks: .sync jobs, createModel, rejected Create* calls."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localrun.moto_adapter import OfflineAws, SageMakerApiError
from tests.localrun.offline_asl import ACCOUNT, JOBS, ROLE, job_task, machine, sagemaker_task

# -- SageMaker ---------------------------------------------------------------------------------------


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


@pytest.mark.parametrize("kind", sorted(JOBS))
def test_a_job_that_runs_past_its_bound_times_the_task_out(aws: OfflineAws, kind: str) -> None:
    """TimeoutSeconds on the simulated clock: the job is stopped at the bound, unrun, and the task
    fails with States.Timeout, which a States.ALL catcher takes; within the bound it runs."""
    _, noun, _, _ = JOBS[kind]
    ran: list[str] = []

    def handler(params: dict[str, Any]) -> dict[str, Any]:
        ran.append(params[f"{noun}Name"])
        extra = {"ModelArtifacts": {"S3ModelArtifacts": "s3://b/model.tar.gz"}} if kind == "training" else {}
        return {f"{noun}Status": "Completed", **extra}

    aws.bind_sagemaker(kind, handler)  # type: ignore[arg-type]
    aws.bind_sagemaker_create(lambda kind, params, now: 7200.0)
    catch = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}]
    states = {
        "Job": job_task(kind, TimeoutSeconds=3600, Catch=catch, End=True),
        "Failed": {"Type": "Fail", "Error": "JobFailed", "CausePath": "States.JsonToString($.error)"},
    }
    result = aws.run(machine(aws, states), {"job": "late"})
    assert result.path == ("Job", "Failed") and ran == []
    assert json.loads(result.cause or "{}")["Error"] == "States.Timeout"
    assert "TaskTimedOut" in [e["type"] for e in result.events]
    assert aws.clock.now(result.execution_arn) >= 3600

    states["Job"] = job_task(kind, TimeoutSeconds=7201, Catch=catch, End=True)
    assert aws.run(machine(aws, states), {"job": "in-time"}).succeeded and ran == ["in-time"]
