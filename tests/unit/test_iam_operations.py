"""Recorded calls become the IAM requests AWS authorizes, in the inventory's environment-free form."""

from __future__ import annotations

import pytest

from localrun.moto_adapter.requests import RecordedCall
from tools.iam_check.operations import Request, UnmappedOperation, generalize, requests_of

ENVS = {
    "function:generate_dataset": {
        "BUCKET_NAME": "bkt",
        "WORK_PREFIX": "forecast/",
        "NAME_PREFIX": "forecast",
    },
    "function:write_forecast": {"SECRET_ID": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbC"},
}


def one(
    service: str, operation: str, params: dict[str, str], principal: str = "function:generate_dataset"
) -> set[Request]:
    return requests_of([RecordedCall(principal, service, operation, params)], ENVS)


def test_head_object_is_get_object_and_multipart_is_put_object() -> None:
    key = {"Bucket": "bkt", "Key": "forecast/7f3a9c/data/train.json"}
    bucket = "arn:{partition}:s3:::{env:generate_dataset:BUCKET_NAME}"
    resource = bucket + "/{env:generate_dataset:WORK_PREFIX}*/data/train.json"
    assert {r.action for r in one("s3", "HeadObject", key)} == {"s3:GetObject"}
    for operation in ("CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"):
        assert one("s3", operation, key) == {Request("function:generate_dataset", "s3:PutObject", resource)}
    assert {r.action for r in one("s3", "AbortMultipartUpload", key)} == {"s3:AbortMultipartUpload"}


def test_list_objects_is_list_bucket_on_the_bucket_with_its_prefix() -> None:
    (request,) = one("s3", "ListObjectsV2", {"Bucket": "bkt", "Prefix": "forecast/7f3a9c/"})
    assert request.action == "s3:ListBucket"
    assert request.resource == "arn:{partition}:s3:::{env:generate_dataset:BUCKET_NAME}"
    assert request.context == (("s3:prefix", "{env:generate_dataset:WORK_PREFIX}*/"),)


def test_a_resource_from_the_environment_becomes_its_placeholder() -> None:
    secret = ENVS["function:write_forecast"]["SECRET_ID"]
    (request,) = one("secretsmanager", "GetSecretValue", {"SecretId": secret}, "function:write_forecast")
    assert request.resource == "{env:write_forecast:SECRET_ID}"


def test_run_specific_tokens_become_stars_but_an_arn_head_stays() -> None:
    assert (
        generalize("arn:aws:s3:::b/etl/run=jr_0a1b/part-00000.csv")
        == "arn:aws:s3:::b/etl/run=jr_*/part-*.csv"
    )
    assert generalize("forecast/fc971766-9611-47ed-8df1-dbf27aa70eb7/x.json") == "forecast/*/x.json"
    assert generalize("forecast/fcabcdef-9611-aead-8df1-dbf27aa70eb7/x.json") == "forecast/*/x.json"
    assert generalize("forecast/deadbeefcafe/x.json") == "forecast/*/x.json"


def test_an_unmapped_operation_is_an_error_that_says_where_to_map_it() -> None:
    with pytest.raises(UnmappedOperation, match=r"operations\.py"):
        one("s3", "RestoreObject", {"Bucket": "bkt", "Key": "k"})


def test_state_machines_of_tests_and_stand_in_namers_are_not_deployed_principals() -> None:
    call = RecordedCall("state_machine:sm-1", "sagemaker", "CreateModel", {"ModelName": "m"})
    assert requests_of([call], ENVS) == set()
    forecast = RecordedCall(
        "state_machine:forecast", "sagemaker", "CreateModel", {"ModelName": "forecast-model-1a"}
    )
    assert requests_of([forecast], {}) == set()  # its namer, generate-dataset, was a stand-in
    (named,) = requests_of([forecast], ENVS)
    assert named.resource.endswith(":model/{env:generate_dataset:NAME_PREFIX}-model-*")
