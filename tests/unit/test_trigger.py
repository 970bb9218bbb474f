"""The trigger Lambda against moto's Step Functions: one, several, duplicate and encoded records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from pipeline_rules import EXECUTION_NAME_LENGTH, ConfigurationError
from tests.lambda_loader import load

starter = load("trigger", "starter")
handler = load("trigger")

PASS_DEFINITION = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})


def s3_record(key: str, sequencer: str = "0055AED6DCD90281E5", bucket: str = "data") -> dict[str, Any]:
    return {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {
                "key": key,
                "size": 1024,
                "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                "sequencer": sequencer,
            },
        },
    }


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        arn = sfn.create_state_machine(
            name="standardize",
            definition=PASS_DEFINITION,
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]
        monkeypatch.setenv("STATE_MACHINE_ARN", arn)
        handler._client.cache_clear()
        yield sfn, arn
        handler._client.cache_clear()


def executions(sfn: Any, arn: str) -> list[dict[str, Any]]:
    listed = sfn.list_executions(stateMachineArn=arn)["executions"]
    return [sfn.describe_execution(executionArn=e["executionArn"]) for e in listed]


def test_one_record_starts_one_execution_with_the_s3_object_as_input(machine: tuple[Any, str]) -> None:
    sfn, arn = machine
    out = handler.handler({"Records": [s3_record("meta-data/partition_2333.csv")]})
    [execution] = executions(sfn, arn)
    assert execution["name"] == out["executions"][0]
    assert json.loads(execution["input"]) == {
        "bucket": {"name": "data"},
        "object": {
            "key": "meta-data/partition_2333.csv",
            "size": 1024,
            "eTag": "d41d8cd98f00b204e9800998ecf8427e",
            "sequencer": "0055AED6DCD90281E5",
        },
    }


def test_several_records_start_one_execution_each(machine: tuple[Any, str]) -> None:
    sfn, arn = machine
    keys = [f"meta-data/partition_{n}.csv" for n in range(5)]
    out = handler.handler({"Records": [s3_record(k) for k in keys]})
    started = executions(sfn, arn)
    assert len(started) == 5 == len(set(out["executions"]))
    assert sorted(json.loads(e["input"])["object"]["key"] for e in started) == sorted(keys)


def test_duplicate_delivery_gives_one_execution(machine: tuple[Any, str]) -> None:
    sfn, arn = machine
    event = {"Records": [s3_record("meta-data/partition_7.csv")]}
    first = handler.handler(event)
    second = handler.handler(event)
    assert first["executions"] == second["executions"]
    assert len(executions(sfn, arn)) == 1


def test_same_key_new_upload_is_a_new_execution(machine: tuple[Any, str]) -> None:
    sfn, arn = machine
    handler.handler({"Records": [s3_record("meta-data/partition_7.csv", sequencer="01")]})
    handler.handler({"Records": [s3_record("meta-data/partition_7.csv", sequencer="02")]})
    assert len(executions(sfn, arn)) == 2


def test_url_encoded_keys_are_decoded(machine: tuple[Any, str]) -> None:
    sfn, arn = machine
    out = handler.handler({"Records": [s3_record("meta-data/my+file%282%29_12.csv")]})
    [execution] = executions(sfn, arn)
    assert json.loads(execution["input"])["object"]["key"] == "meta-data/my file(2)_12.csv"
    name = out["executions"][0]
    assert name.startswith("my-file-2-_12-csv-")


def test_already_exists_error_counts_as_success() -> None:
    from botocore.exceptions import ClientError

    class Client:
        calls = 0

        def start_execution(self, **_: Any) -> dict[str, Any]:
            self.calls += 1
            raise ClientError({"Error": {"Code": "ExecutionAlreadyExists", "Message": "x"}}, "StartExecution")

    client = Client()
    [started] = starter.start_all(client, "arn", [s3_record("meta-data/p_1.csv")])
    assert started.duplicate and client.calls == 1


def test_a_failing_record_does_not_stop_the_others_and_raises() -> None:
    from botocore.exceptions import ClientError

    class Client:
        names: list[str] = []

        def start_execution(self, *, name: str, **_: Any) -> dict[str, Any]:
            if len(self.names) == 0:
                self.names.append("boom")
                raise ClientError(
                    {"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "StartExecution"
                )
            self.names.append(name)
            return {}

    client = Client()
    with pytest.raises(ClientError):
        starter.start_all(client, "arn", [s3_record("meta-data/p_1.csv"), s3_record("meta-data/p_2.csv")])
    assert len(client.names) == 2


@pytest.mark.parametrize(
    ("key", "sequencer"),
    [
        ("meta-data/" + "x" * 1000 + "_1.csv", "A" * 40),
        ("meta-data/日本語_1.csv", "1"),
        ("meta-data/_.csv", ""),
    ],
)
def test_execution_names_are_valid_and_deterministic(key: str, sequencer: str) -> None:
    name = starter.execution_name(key, sequencer)
    assert len(name) <= EXECUTION_NAME_LENGTH
    assert all(c.isascii() and (c.isalnum() or c in "-_") for c in name)
    assert name == starter.execution_name(key, sequencer)
    assert name != starter.execution_name(key, sequencer + "0")


def test_bad_events_get_clear_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(starter.InvalidS3Event, match="Records"):
        starter.records_of({"detail": {}})
    with pytest.raises(starter.InvalidS3Event, match="missing field"):
        starter.execution_input({"s3": {"bucket": {}}})
    assert starter.records_of({"Event": "s3:TestEvent"}) == []
    monkeypatch.delenv("STATE_MACHINE_ARN", raising=False)
    with pytest.raises(ConfigurationError, match="environment variable STATE_MACHINE_ARN is not set"):
        handler.handler({"Records": []})
