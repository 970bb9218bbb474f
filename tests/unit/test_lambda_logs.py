"""Every Lambda logs JSON lines that carry its execution name (the S3 key for the trigger), read
as Lambda's JSON log format writes them (tests/lambda_logs.py), on success and on failure."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from pipeline_rules import ConfigurationError
from tests.lambda_loader import load
from tests.lambda_logs import json_lines, runtime_json_logging

PASS_DEFINITION = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
EXECUTION = "partition-2333-csv-0123456789abcdef01234567"


def s3_record(key: str, sequencer: str = "0055AED6DCD90281E5") -> dict[str, Any]:
    return {"s3": {"bucket": {"name": "data"}, "object": {"key": key, "size": 1, "sequencer": sequencer}}}


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """A callable giving the JSON lines logged since the last call (the first call: since the
    test's other fixtures were set up)."""
    with runtime_json_logging():
        capsys.readouterr()
        yield lambda: json_lines(capsys.readouterr().out)


@pytest.fixture
def state_machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    trigger = load("trigger")
    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        arn = sfn.create_state_machine(
            name="standardize", definition=PASS_DEFINITION, roleArn="arn:aws:iam::123456789012:role/sfn"
        )["stateMachineArn"]
        monkeypatch.setenv("STATE_MACHINE_ARN", arn)
        trigger._client.cache_clear()
        yield arn
        trigger._client.cache_clear()


def test_get_batch_id_lines_carry_the_execution_name(logs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    handler = load("get_batch_id")
    monkeypatch.setenv("JOB_NAME_PREFIX", "standardize")
    handler.handler({"key": "meta-data/partition_2333.csv", "execution_name": EXECUTION})
    (line,) = logs()
    assert (line["level"], line["execution_name"]) == ("INFO", EXECUTION)
    assert "batch id 2333" in line["message"]

    with pytest.raises(load("get_batch_id", "batch_id").InvalidPartitionName):
        handler.handler({"key": "meta-data/partition.csv", "execution_name": EXECUTION})
    (line,) = logs()
    assert (line["level"], line["execution_name"], line["errorType"]) == (
        "ERROR",
        EXECUTION,
        "InvalidPartitionName",
    )
    assert "'meta-data/partition.csv'" in line["errorMessage"] and line["stackTrace"]


def test_a_configuration_error_names_the_variable_on_a_line_with_the_execution_name(
    logs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOB_NAME_PREFIX", "Bad_Prefix")
    with pytest.raises(ConfigurationError):
        load("get_batch_id").handler({"key": "meta-data/p_1.csv", "execution_name": EXECUTION})
    (line,) = logs()
    assert line["execution_name"] == EXECUTION and line["errorType"] == "ConfigurationError"
    assert line["errorMessage"].startswith("JOB_NAME_PREFIX 'Bad_Prefix' must be lowercase")


def test_trigger_lines_carry_the_s3_key_and_the_execution_name(logs: Any, state_machine: str) -> None:
    logs()
    out = load("trigger").handler({"Records": [s3_record("meta-data/partition_2333.csv")]})
    lines = logs()
    assert lines, "the trigger logs the execution it started"
    for line in lines:
        assert line["s3_key"] == "meta-data/partition_2333.csv", line
        assert line["execution_name"] == out["executions"][0], line


def test_each_record_of_a_trigger_event_logs_its_own_key(logs: Any, state_machine: str) -> None:
    logs()
    keys = ["meta-data/p_1.csv", "meta-data/p_2.csv"]
    load("trigger").handler({"Records": [s3_record(k) for k in keys]})
    lines = logs()
    assert sorted(line["s3_key"] for line in lines if "started execution" in line["message"]) == keys
    assert all(line["s3_key"] in keys and line["execution_name"] for line in lines), lines


def test_a_trigger_failure_is_logged_with_the_key(logs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STATE_MACHINE_ARN", raising=False)
    with pytest.raises(Exception, match="STATE_MACHINE_ARN is not set"):
        load("trigger").handler({"Records": [s3_record("meta-data/partition%2B1_7.csv")]})
    (line,) = logs()
    assert (line["s3_key"], line["errorType"]) == ("meta-data/partition+1_7.csv", "ConfigurationError")


def test_a_failing_record_is_logged_once_with_its_key(logs: Any, state_machine: str) -> None:
    logs()
    good, bad = s3_record("meta-data/p_1.csv"), {"s3": {"object": {"key": "meta-data/x_1.csv"}}}
    with pytest.raises(Exception, match="missing field"):
        load("trigger").handler({"Records": [bad, good]})
    lines = logs()
    failures = [line for line in lines if line["level"] == "ERROR"]
    assert [(f["s3_key"], f["errorType"]) for f in failures] == [("meta-data/x_1.csv", "InvalidS3Event")]
    assert {line["s3_key"] for line in lines} == {"meta-data/x_1.csv", "meta-data/p_1.csv"}


def test_generate_dataset_lines_carry_the_execution_name(logs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    handler = load("generate_dataset")
    env = {
        "BUCKET_NAME": "data",
        "ETL_PREFIX": "etl/sales/",
        "WORK_PREFIX": "forecast/",
        "TIMESTAMP_COLUMN": "ts",
        "VALUE_COLUMN": "sales",
        "PREDICTION_LENGTH": "2",
        "CONTEXT_LENGTH": "2",
        "NAME_PREFIX": "forecast",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    event = {"detail": {"jobName": "etl", "jobRunId": "jr_1", "state": "SUCCEEDED"}}
    rows = "".join(f"2024-01-01 {h:02d}:00:00,{h}\n" for h in range(6))
    with mock_aws():
        handler._s3.cache_clear()
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="data")
        logs()
        with pytest.raises(load("generate_dataset", "dataset").NoInputData):
            handler.handler({"event": event, "execution_name": EXECUTION})
        lines = logs()
        assert all(line["execution_name"] == EXECUTION for line in lines), lines
        (failure,) = (line for line in lines if line["level"] == "ERROR")
        assert failure["errorType"] == "NoInputData" and "no CSV part" in failure["errorMessage"]
        s3.put_object(Bucket="data", Key="etl/sales/run=jr_1/part-0.csv", Body=f"ts,sales\n{rows}".encode())
        handler.handler({"event": event, "execution_name": EXECUTION})
        handler._s3.cache_clear()
    lines = logs()
    assert len(lines) >= 2 and any("wrote 1 series" in line["message"] for line in lines)
    assert all(line["execution_name"] == EXECUTION for line in lines), lines
