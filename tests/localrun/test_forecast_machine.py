"""The forecast state machine file on the moto adapter: paths, alerts, named failures, the quota."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from config import QuotaRetryConfig, load_env, read_cdk_context
from contracts.asl import render
from contracts.substitutions import forecast_substitutions
from contracts.timeouts import JOB_MARGIN_SECONDS, forecast_task_timeouts, with_timeouts
from localrun.moto_adapter import OfflineAws, offline_aws
from tests.localrun.offline_asl import ACCOUNT, Rejecting, received, sqs_subscription

BASELINE = {"method": "seasonal_naive", "mean_wQuantileLoss": 0.2, "RMSE": 3.0, "MASE": 1.0}
DATASET = {
    "baseline": BASELINE,
    "train_uri": "s3://b/forecast/run-1/data/train.json",
    "test_uri": "s3://b/forecast/run-1/data/test.json",
    "model_output_uri": "s3://b/forecast/run-1/model/",
    "transform_input_uri": "s3://b/forecast/run-1/data/",
    "transform_output_uri": "s3://b/forecast/run-1/transform/",
    "training_job_name": "forecast-train-1",
    "model_name": "forecast-model-1",
    "transform_job_name": "forecast-transform-1",
}


FINAL_METRICS = [
    {"MetricName": "test:RMSE", "Value": 2.5, "Timestamp": 1764000000000},
    {"MetricName": "test:mean_wQuantileLoss", "Value": 0.15, "Timestamp": 1764000000000},
    {"MetricName": "train:final_loss", "Value": 3.1, "Timestamp": 1764000000000},
]
QUALITY = {
    "decision": "per-series",
    "model": {"RMSE": 2.5, "mean_wQuantileLoss": 0.15},
    "baseline": {"RMSE": 3.0, "mean_wQuantileLoss": 0.2, "MASE": 1.0},
    "loss_ratio": 0.75,
    "max_loss_ratio": 1.0,
}


#: What the write returns: its rows, and the selection's figures (the state keeps the counts).
WRITTEN = {"rows": 168, "selection": {"series": {"model": 1, "seasonal-naive": 0}, "metric": "MAE"}}


class MissingBaselineMetrics(Exception):
    """One of the gate's errors, as the write-forecast function raises it."""


def lambda_error(task: str) -> tuple[str, ...]:
    """The states between a failed Lambda task and its Fail state: the cause becomes the
    function's errorMessage, then the alert."""
    return (f"{task}Caught", "ErrorCause", "LambdaErrorJson", "LambdaErrorMessage", "NotifyFailure")


def job_failure(task: str) -> tuple[str, ...]:
    """The states between a failed SageMaker job and its Fail state: the cause becomes the job's
    FailureReason and name, then the alert."""
    return (f"{task}Caught", "QuotaCheck", "ErrorCause", "JobErrorJson", "JobErrorReason", "NotifyFailure")


def forecast(
    aws: OfflineAws, env_name: str, quota_retry: QuotaRetryConfig | None = None
) -> tuple[str, dict[str, str], Any, str]:
    """Create the forecast state machine of ``env_name`` with an SNS topic read through SQS."""
    env = load_env(env_name, read_cdk_context())
    if quota_retry is not None:
        env = replace(env, quota_retry=quota_retry)
    partition, region = env.partition, env.region
    topic = aws.client("sns").create_topic(Name="alerts")["TopicArn"]
    sqs, queue_url = sqs_subscription(aws, topic)
    assert env.forecast is not None
    subs = forecast_substitutions(
        env.forecast.deepar,
        quota_retry=env.quota_retry,
        region=env.region,
        partition=partition,
        generate_dataset_arn=f"arn:{partition}:lambda:{region}:{ACCOUNT}:function:generate",
        write_forecast_arn=f"arn:{partition}:lambda:{region}:{ACCOUNT}:function:write",
        sagemaker_role_arn=f"arn:{partition}:iam::{ACCOUNT}:role/sagemaker",
        alerts_topic_arn=topic,
    )
    bounded = with_timeouts(render("forecast", subs), forecast_task_timeouts(env.forecast), env.quota_retry)
    return aws.create_state_machine("forecast", bounded), subs, sqs, queue_url


def bind_forecast(aws: OfflineAws, subs: dict[str, str], seen: dict[str, Any]) -> None:
    def record(kind: str, result: dict[str, Any]) -> Any:
        def handler(params: dict[str, Any]) -> dict[str, Any]:
            seen[kind] = params
            return result

        return handler

    aws.bind_lambda(subs["GenerateDatasetFunctionArn"], record("generate", DATASET))
    gate, write = record("gate", QUALITY), record("write", WRITTEN)
    aws.bind_lambda(
        subs["WriteForecastFunctionArn"],
        lambda payload: gate(payload) if payload["operation"] == "gate" else write(payload),
    )
    aws.bind_sagemaker(
        "training",
        record(
            "training",
            {"ModelArtifacts": {"S3ModelArtifacts": "s3://b/m.tgz"}, "FinalMetricDataList": FINAL_METRICS},
        ),
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
            "QualityGate",
            "CreateModel",
            "Transform",
            "WriteForecast",
            "Done",
        )
        assert seen["generate"] == {
            "event": {"detail": {"jobName": "etl", "state": "SUCCEEDED"}},
            "execution_name": "run-1",
        }
        assert env.forecast is not None
        assert seen["training"]["HyperParameters"] == env.forecast.deepar.hyperparameters()
        assert seen["training"]["HyperParameters"]["test_quantiles"] == "[0.1, 0.5, 0.9]"
        channels = {c["ChannelName"]: c for c in seen["training"]["InputDataConfig"]}
        assert channels["test"]["DataSource"]["S3DataSource"]["S3Uri"] == DATASET["test_uri"]
        assert seen["training"]["ResourceConfig"]["InstanceCount"] == 1
        assert seen["model"]["PrimaryContainer"]["ModelDataUrl"] == "s3://b/m.tgz"
        inference = json.loads(seen["model"]["PrimaryContainer"]["Environment"]["DEEPAR_INFERENCE_CONFIG"])
        assert inference["quantiles"] == ["0.1", "0.5", "0.9"]
        # one job over both files: the train lines' backtest and the whole lines' future
        source = seen["transform"]["TransformInput"]["DataSource"]["S3DataSource"]
        assert source == {"S3DataType": "S3Prefix", "S3Uri": DATASET["transform_input_uri"]}
        training = {"model_artifacts": "s3://b/m.tgz", "final_metrics": FINAL_METRICS}
        started_at = seen["gate"].pop("started_at")
        assert isinstance(started_at, str) and started_at.startswith("20")
        assert seen["gate"] == {
            "operation": "gate",
            "dataset": DATASET,
            "training": training,
            "execution_name": "run-1",
            "execution_arn": arn.replace(":stateMachine:", ":execution:") + ":run-1",
        }
        assert seen["write"] == {
            "operation": "write",
            "dataset": DATASET,
            "quality": QUALITY,
            "execution_name": "run-1",
        }
        assert result.output == {
            "dataset": DATASET,
            "training": training,
            "quality": QUALITY,
            "written": {"rows": 168, "series": {"model": 1, "seasonal-naive": 0}},
        }
        assert received(sqs, queue_url) == []


def test_forecast_failed_training_alerts_and_ends_in_training_failed(aws: OfflineAws) -> None:
    arn, subs, sqs, queue_url = forecast(aws, "dev")
    bind_forecast(aws, subs, {})
    aws.bind_sagemaker(
        "training", lambda p: {"TrainingJobStatus": "Failed", "FailureReason": "ClientError: no data"}
    )
    result = aws.run(arn, {}, name="run-2")

    assert result.path == ("GenerateDataset", "Train", *job_failure("Train"), "Failed")
    assert result.error == "TrainingFailed"
    # the cause and the alert lead with the job's FailureReason, not its whole description as JSON
    reason = "States.TaskFailed: ClientError: no data (job forecast-train-1)"
    assert result.cause == f"Train failed for execution run-2: {reason}"
    [alert] = received(sqs, queue_url)
    assert alert["Subject"] == "Forecast pipeline failed"
    assert alert["Message"] == f"Forecast execution run-2 failed in Train: {reason}"


@pytest.mark.parametrize(
    ("kind", "step", "fail_state"),
    [("training", "Train", "TrainingFailed"), ("transform", "Transform", "TransformFailed")],
)
def test_a_job_that_runs_past_its_bound_fails_its_step_with_the_alert(
    aws: OfflineAws, kind: str, step: str, fail_state: str
) -> None:
    """The deployed bounds on the simulated clock: a job longer than its limit plus the margin is
    stopped, and the run ends in that step's named failure, with the alert; nothing after it runs."""
    arn, subs, sqs, queue_url = forecast(aws, "dev")
    seen: dict[str, Any] = {}
    bind_forecast(aws, subs, seen)
    env = load_env("dev", read_cdk_context())
    assert env.forecast is not None
    limit = {
        "training": env.forecast.deepar.training_max_runtime_seconds,
        "transform": env.forecast.deepar.transform_max_runtime_seconds,
    }[kind]
    aws.bind_sagemaker_create(lambda k, params, now: limit + JOB_MARGIN_SECONDS + 1.0 if k == kind else 60.0)
    result = aws.run(arn, {}, name="run-late")

    assert result.path[-2:] == ("NotifyFailure", "Failed") and result.error == fail_state
    assert "WriteForecast" not in result.path and kind not in seen
    [alert] = received(sqs, queue_url)
    assert alert["Message"].startswith(f"Forecast execution run-late failed in {step}: States.Timeout")


def test_a_gate_error_fails_the_run_before_create_model(aws: OfflineAws) -> None:
    arn, subs, sqs, queue_url = forecast(aws, "dev")
    seen: dict[str, Any] = {}
    bind_forecast(aws, subs, seen)
    message = "the dataset result has no usable baseline mean_wQuantileLoss"

    def gate(payload: dict[str, Any]) -> dict[str, Any]:
        if payload["operation"] == "gate":
            raise MissingBaselineMetrics(message)
        seen["write"] = payload
        return WRITTEN

    aws.bind_lambda(subs["WriteForecastFunctionArn"], gate)
    result = aws.run(arn, {}, name="run-9")

    assert result.path == (
        "GenerateDataset",
        "Train",
        "QualityGate",
        *lambda_error("QualityGate"),
        "Failed",
    )
    assert result.error == "MissingBaselineMetrics"
    assert result.cause == f"QualityGate failed for execution run-9: MissingBaselineMetrics: {message}"
    assert "model" not in seen and "transform" not in seen and "write" not in seen
    [alert] = received(sqs, queue_url)
    assert (
        alert["Message"]
        == f"Forecast execution run-9 failed in QualityGate: MissingBaselineMetrics: {message}"
    )


def test_a_training_job_without_metrics_fails_the_run_in_train(aws: OfflineAws) -> None:
    """DeepAR always reports train:final_loss, so a Describe without FinalMetricDataList is broken:
    the run stops in Train naming the missing field (a list without test metrics fails the gate)."""
    arn, subs, sqs, queue_url = forecast(aws, "dev")
    seen: dict[str, Any] = {}
    bind_forecast(aws, subs, seen)
    aws.bind_sagemaker("training", lambda p: {"ModelArtifacts": {"S3ModelArtifacts": "s3://b/m.tgz"}})
    result = aws.run(arn, {}, name="run-10")

    assert result.path == (
        "GenerateDataset",
        "Train",
        "TrainCaught",
        "QuotaCheck",
        "ErrorCause",
        "NotifyFailure",
        "Failed",
    )
    assert result.cause is not None and "$.FinalMetricDataList" in result.cause
    assert "gate" not in seen and "model" not in seen
    [alert] = received(sqs, queue_url)
    assert "FinalMetricDataList" in alert["Message"]


def test_forecast_jobs_wait_out_the_quota(aws: OfflineAws) -> None:
    arn, subs, sqs, queue_url = forecast(aws, "dev")
    bind_forecast(aws, subs, {})
    create = Rejecting({"training": 2, "transform": 1})
    aws.bind_sagemaker_create(create)
    result = aws.run(arn, {}, name="run-5")

    assert result.succeeded, (result.error, result.cause)
    assert create.calls == ["training"] * 3 + ["transform"] * 2
    assert [w.state for w in aws.waits] == ["QuotaWait"] * 3
    assert result.path.count("Train") == 3 and result.path.count("Transform") == 2
    assert result.path.count("CreateModel") == 1
    assert result.output["written"]["rows"] == 168 and received(sqs, queue_url) == []


def test_each_forecast_job_has_the_configured_waits_of_its_own(aws: OfflineAws) -> None:
    """The loop is shared, its count is not: with two waits allowed, training may use both and
    the transform both again; a third rejection of either fails that step with the quota error."""
    two_waits = QuotaRetryConfig(60, 2.0, 900, 180)
    assert len(list(two_waits.windows())) == 2
    arn, subs, sqs, queue_url = forecast(aws, "dev", two_waits)
    bind_forecast(aws, subs, {})
    create = Rejecting({"training": 2, "transform": 2})
    aws.bind_sagemaker_create(create)
    result = aws.run(arn, {}, name="run-7")
    assert result.succeeded, (result.error, result.cause)
    assert create.calls == ["training"] * 3 + ["transform"] * 3 and len(aws.waits) == 4

    for kind, error in (("training", "TrainingFailed"), ("transform", "TransformFailed")):
        aws.waits.clear()
        create = Rejecting({kind: 3})
        aws.bind_sagemaker_create(create)
        result = aws.run(arn, {}, name=f"run-8-{kind}")
        assert result.error == error and create.calls.count(kind) == 3 and len(aws.waits) == 2
        assert result.path[-4:] == ("QuotaCheck", "ErrorCause", "NotifyFailure", "Failed")
        [alert] = received(sqs, queue_url)
        assert "ResourceLimitExceeded" in alert["Message"], alert["Message"]


@pytest.mark.parametrize("kind", ["training", "transform"])
def test_forecast_jobs_do_not_wait_out_other_sagemaker_errors(aws: OfflineAws, kind: str) -> None:
    arn, subs, sqs, queue_url = forecast(aws, "dev")
    bind_forecast(aws, subs, {})
    aws.bind_sagemaker_create(Rejecting({kind: 99}, code="ValidationException"))
    result = aws.run(arn, {}, name="run-6")

    task, fail = ("Train", "TrainingFailed") if kind == "training" else ("Transform", "TransformFailed")
    assert result.path[-6:] == (
        task,
        f"{task}Caught",
        "QuotaCheck",
        "ErrorCause",
        "NotifyFailure",
        "Failed",
    )
    assert result.error == fail
    assert result.error == fail and aws.waits == []
    [alert] = received(sqs, queue_url)
    assert "SageMaker.AmazonSageMakerException" in alert["Message"]


@pytest.mark.parametrize(
    ("broken", "path_end", "error"),
    [
        (
            "generate",
            ("GenerateDataset", *lambda_error("GenerateDataset"), "Failed"),
            "GenerateDatasetFailed",
        ),
        (
            "model",
            ("CreateModel", "CreateModelCaught", "ErrorCause", "NotifyFailure", "Failed"),
            "CreateModelFailed",
        ),
        ("transform", ("Transform", *job_failure("Transform"), "Failed"), "TransformFailed"),
        (
            "write",
            ("WriteForecast", *lambda_error("WriteForecast"), "Failed"),
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
        if params.get("operation") == "gate":
            return QUALITY
        raise RuntimeError(f"{broken} broke")

    if broken == "generate":
        aws.bind_lambda(subs["GenerateDatasetFunctionArn"], fail)
    elif broken == "write":
        aws.bind_lambda(subs["WriteForecastFunctionArn"], fail)
    else:
        aws.bind_sagemaker(broken, fail)  # type: ignore[arg-type]
    result = aws.run(arn, {}, name="run-3")

    assert result.path[-len(path_end) :] == path_end and result.error == error
    assert result.cause is not None and f"{broken} broke" in result.cause
    [alert] = received(sqs, queue_url)
    assert f"{broken} broke" in alert["Message"]


@pytest.mark.parametrize("task", ["GenerateDataset", "WriteForecast"])
def test_a_function_error_alerts_and_fails_with_its_error_message(aws: OfflineAws, task: str) -> None:
    """WriteForecast's function also runs QualityGate: the gate passes, then the write fails."""
    arn, subs, sqs, queue_url = forecast(aws, "dev")
    bind_forecast(aws, subs, {})
    message = 'no rows for "hourly_sales" {2026-01-01}: nothing to forecast'

    def fail(payload: dict[str, Any]) -> dict[str, Any]:
        if payload.get("operation") == "gate":
            return QUALITY
        raise LookupError(message)

    aws.bind_lambda(subs[f"{task}FunctionArn"], fail)
    result = aws.run(arn, {}, name="run-7")

    assert result.path[-7:] == (task, *lambda_error(task), "Failed")
    assert result.error == f"{task}Failed"
    assert result.cause == f"{task} failed for execution run-7: LookupError: {message}"
    [alert] = received(sqs, queue_url)
    assert alert["Message"] == f"Forecast execution run-7 failed in {task}: LookupError: {message}"


def test_a_lambda_service_error_keeps_its_plain_cause(aws: OfflineAws) -> None:
    """Not a function error (no function behind the ARN): the cause is not JSON, and it is kept."""
    arn, _, sqs, queue_url = forecast(aws, "dev")
    result = aws.run(arn, {}, name="run-8")  # nothing bound: moto's Lambda has no such function

    assert result.path == (
        "GenerateDataset",
        "GenerateDatasetCaught",
        "ErrorCause",
        "NotifyFailure",
        "Failed",
    )
    assert result.cause is not None
    prefix = "GenerateDataset failed for execution run-8: Lambda.ResourceNotFoundException: "
    assert result.cause.startswith(prefix) and "generate" in result.cause[len(prefix) :]
    [alert] = received(sqs, queue_url)
    assert "Lambda.ResourceNotFoundException: " in alert["Message"]


def test_the_project_asl_does_not_depend_on_the_escape_fix() -> None:
    """Config forbids the characters that would need escapes, so plain moto runs our files too."""
    with offline_aws(fix_intrinsic_escapes=False) as aws:
        arn, subs, _, _ = forecast(aws, "dev")
        bind_forecast(aws, subs, {})
        result = aws.run(arn, {}, name="run-4")
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.path[-1] == "Done"
