"""The standardize state machine file on the moto adapter: paths, named failures, the quota wait."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from config import QuotaRetryConfig, StandardizeConfig
from contracts.asl import render
from contracts.substitutions import standardize_substitutions
from localrun.lambdas import bound, load
from localrun.moto_adapter import OfflineAws
from tests.localrun.offline_asl import ACCOUNT, ROLE, Rejecting

BUCKET = "data-bucket"
GET_BATCH_ID = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:get-batch-id"


JOB_NAME_PREFIX = StandardizeConfig().job_name_prefix
#: Between GetBatchId's catch and the Fail state: the cause becomes the function's errorMessage.
GET_BATCH_ID_ERROR = ("GetBatchIdLambdaError", "GetBatchIdErrorJson", "GetBatchIdErrorMessage")


class InvalidPartitionName(ValueError):
    """Named like the error get-batch-id raises."""


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
            ("CheckFileName", "GetBatchId", *GET_BATCH_ID_ERROR, "InvalidPartitionName"),
            "InvalidPartitionName",
            "key meta-data/partition_x1.csv: key 'meta-data/partition_x1.csv': batch id",
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


def test_an_invalid_partition_name_fails_with_the_functions_error_message(
    aws: OfflineAws, standardize: str
) -> None:
    message = "batch id 'x1' of \"partition_x1.csv\" is not a number {0-9}"

    def get_batch_id(payload: dict[str, Any]) -> dict[str, Any]:
        raise InvalidPartitionName(message)

    aws.bind_lambda(GET_BATCH_ID, get_batch_id)
    result = aws.run(standardize, s3_event("meta-data/partition_x1.csv"))
    assert result.path == ("CheckFileName", "GetBatchId", *GET_BATCH_ID_ERROR, "InvalidPartitionName")
    assert result.error == "InvalidPartitionName"
    assert result.cause == f"key meta-data/partition_x1.csv: {message}"


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
    job_failure = ("StandardizeJobFailure", "StandardizeJobJson", "StandardizeJobReason")
    assert result.path[-5:] == ("Standardize", *job_failure, "ProcessingFailed")
    assert result.error == "ProcessingFailed"
    # the cause leads with the job's FailureReason and names the job, not its whole description
    prefix = "processing of key meta-data/partition_7.csv failed: AlgorithmError: no numeric column (job "
    assert result.cause is not None and result.cause.startswith(prefix) and "{" not in result.cause


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

    assert result.path[-4:] == (
        "Standardize",
        "StandardizeQuota",
        "StandardizeJobFailure",
        "ProcessingFailed",
    )
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

    assert result.error == "ProcessingFailed"
    assert result.path[-3:] == ("StandardizeQuota", "StandardizeJobFailure", "ProcessingFailed")
    assert len(create.calls) == 4 and len(aws.waits) == 3
    assert all(
        [1 <= aws.waits[0].seconds <= 2, 2 <= aws.waits[1].seconds <= 3, 2 <= aws.waits[2].seconds <= 3]
    )
    assert result.cause is not None and "Error Code: ResourceLimitExceeded;" in result.cause
