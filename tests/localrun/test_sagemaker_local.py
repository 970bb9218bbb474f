"""The SageMaker twin's concurrent-job quota: admission in simulated time, and SageMaker's rejection."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

import pytest

from localrun.moto_adapter import SageMakerApiError
from localrun.sagemaker_local import JobQuota, LocalSageMaker


def twin(tmp_path: Path, quota: JobQuota | None) -> LocalSageMaker:
    return LocalSageMaker(s3=None, workdir=tmp_path, quota=quota)


ROLE = "arn:aws:iam::123456789012:role/sagemaker"


def processing(name: str, count: int = 1, instance_type: str = "ml.t3.medium") -> dict[str, Any]:
    """The least CreateProcessingJob that SageMaker's model accepts."""
    cluster = {"InstanceCount": count, "InstanceType": instance_type, "VolumeSizeInGB": 30}
    return {
        "ProcessingJobName": name,
        "ProcessingResources": {"ClusterConfig": cluster},
        "AppSpecification": {"ImageUri": "local/processing:latest"},
        "RoleArn": ROLE,
    }


def training(name: str) -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/model/"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.c5.2xlarge", "VolumeSizeInGB": 30},
    }


def transform(name: str) -> dict[str, Any]:
    return {
        "TransformJobName": name,
        "ModelName": "model",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/in/"}}
        },
        "TransformOutput": {"S3OutputPath": "s3://bucket/out/"},
        "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.c5.xlarge"},
    }


@pytest.mark.parametrize(
    ("params", "named"),
    [
        (
            {**transform("t"), "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.t3.medium"}},
            "InstanceType",
        ),
        ({**processing("p"), "Environment": {"STANDARDIZE_EXCLUDE": "x" * 257}}, "STANDARDIZE_EXCLUDE"),
        ({**training("bad_name")}, "TrainingJobName"),
        ({**processing("p"), "Bogus": 1}, "Bogus"),
    ],
)
def test_parameters_sagemaker_would_refuse_are_refused_as_it_does(
    tmp_path: Path, params: dict[str, Any], named: str
) -> None:
    kind = next(k for k in ("processing", "training", "transform") if f"{k.capitalize()}JobName" in params)
    with pytest.raises(SageMakerApiError, match=named) as err:
        twin(tmp_path, None).create(kind, params, 0.0)  # type: ignore[arg-type]
    assert err.value.code == "ValidationException"


def test_without_a_quota_every_job_is_admitted_and_takes_no_simulated_time(tmp_path: Path) -> None:
    sagemaker = twin(tmp_path, None)
    assert [sagemaker.create("processing", processing(f"p{n}"), 0.0) for n in range(50)] == [0.0] * 50
    assert sagemaker.bookings == [] and sagemaker.rejections == []


def test_the_quota_admits_up_to_its_instances_until_a_job_ends(tmp_path: Path) -> None:
    sagemaker = twin(tmp_path, JobQuota(instances=2, job_seconds=300.0))
    assert sagemaker.create("processing", processing("a"), 0.0) == 300.0
    assert sagemaker.create("processing", processing("b"), 10.0) == 300.0
    for name, at in (("c", 10.0), ("c", 299.9)):
        with pytest.raises(SageMakerApiError) as rejected:
            sagemaker.create("processing", processing(name), at)
        assert rejected.value.code == "ResourceLimitExceeded"
        assert rejected.value.error_name == "SageMaker.ResourceLimitExceededException"
    assert rejected.value.message == (
        "The account-level service limit 'ml.t3.medium for processing job usage' is 2 Instances, with "
        "current utilization of 2 Instances and a request delta of 1 Instances. Please use AWS Service "
        "Quotas to request an increase for this quota. If AWS Service Quotas is not available, contact "
        "AWS support to request an increase for this quota."
    )
    assert sagemaker.create("processing", processing("c"), 300.0) == 300.0, "a's instance is free again"
    assert [(b.name, b.start, b.end) for b in sagemaker.bookings] == [
        ("a", 0.0, 300.0),
        ("b", 10.0, 310.0),
        ("c", 300.0, 600.0),
    ]
    assert [(r.name, r.at) for r in sagemaker.rejections] == [("c", 10.0), ("c", 299.9)]


def test_a_job_must_fit_its_whole_run_as_executions_arrive_out_of_simulated_order(tmp_path: Path) -> None:
    sagemaker = twin(tmp_path, JobQuota(instances=2, job_seconds=300.0))
    sagemaker.create("processing", processing("late-1"), 500.0)
    sagemaker.create("processing", processing("late-2"), 500.0)
    with pytest.raises(SageMakerApiError) as rejected:  # free at 300, but it would still run at 500
        sagemaker.create("processing", processing("early"), 300.0)
    assert "current utilization of 0 Instances" in rejected.value.message
    assert sagemaker.create("processing", processing("earlier"), 200.0) == 300.0, "ends as they start"


def test_instances_are_counted_and_each_kind_has_its_own_quota(tmp_path: Path) -> None:
    sagemaker = twin(tmp_path, JobQuota(instances=3))
    sagemaker.create("processing", processing("two", count=2), 0.0)
    with pytest.raises(SageMakerApiError, match="request delta of 2 Instances"):
        sagemaker.create("processing", processing("two-more", count=2), 0.0)
    sagemaker.create("processing", processing("one", count=1), 0.0)
    for kind, params in (("training", training), ("transform", transform)):
        for n in range(3):
            sagemaker.create(kind, params(f"{kind}-{n}"), 0.0)  # type: ignore[arg-type]
        with pytest.raises(SageMakerApiError, match=f"for {kind} job usage' is 3 Instances"):
            sagemaker.create(kind, params(f"{kind}-3"), 0.0)  # type: ignore[arg-type]


def test_concurrent_create_calls_never_take_the_quota_past_its_instances(tmp_path: Path) -> None:
    sagemaker = twin(tmp_path, JobQuota(instances=4))
    barrier = threading.Barrier(32)

    def create(n: int) -> None:
        barrier.wait()
        with contextlib.suppress(SageMakerApiError):
            sagemaker.create("processing", processing(f"p{n}"), 0.0)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sagemaker.bookings) == 4 and len(sagemaker.rejections) == 28


@pytest.mark.parametrize("bad", [{"instances": 0}, {"instances": 1, "job_seconds": 0.0}])
def test_a_quota_needs_instances_and_a_run_time(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="a quota needs"):
        JobQuota(**bad)
