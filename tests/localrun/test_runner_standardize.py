"""End to end through the offline runner: every state and every Fail path of the standardize
state machine, with the deployed trigger, handlers, ASL and processing script, and the deployed
policies' verdict on a call they deny."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from localrun.demo_data import partition_csv
from localrun.runner import OfflineSession, Printer, open_session
from tests.localrun.runner_support import assert_message_only

STANDARDIZE_OK = ("CheckFileName", "GetBatchId", "CheckBatchId", "Standardize", "Done")


# -- standardize ---------------------------------------------------------------------------------


def test_good_partition_is_standardized_into_prediction_data(session: OfflineSession) -> None:
    run = session.standardize("meta-data/partition_2333.csv", partition_csv(rows=200).encode())
    assert run is not None and run.result.status == "SUCCEEDED"
    assert run.result.path == STANDARDIZE_OK
    keys = session.list_keys("prediction-data/2333/")
    assert keys == [
        "prediction-data/2333/partition_2333.csv",
        "prediction-data/2333/stats/partition_2333.json",
    ]
    stats = json.loads(session.s3.get_object(Bucket=session.bucket, Key=keys[1])["Body"].read())
    assert stats  # the processing script's own stats document
    assert stats["rows"] == 200 and stats["ddof"] == 0
    assert stats["columns"]["temperature"]["kind"] == "numeric"
    assert stats["columns"]["temperature"]["count"] == 200
    assert stats["columns"]["id"]["kind"] == "id" and stats["columns"]["site"]["kind"] != "numeric"
    body = session.s3.get_object(Bucket=session.bucket, Key=keys[0])["Body"].read().decode()
    header, *lines = body.splitlines()
    assert header.split(",")[:2] == ["id", "timestamp"] and len(lines) == 200
    temperature = [float(line.split(",")[2]) for line in lines]
    assert abs(sum(temperature) / len(temperature)) < 1e-9


def test_functions_run_in_the_environments_region_whatever_the_process_default(tmp_path: Path) -> None:
    # conftest sets AWS_DEFAULT_REGION=us-east-1; china's functions must still reach cn-north-1.
    with open_session("china", workdir=tmp_path, forecast=False, printer=Printer(False)) as s:
        run = s.standardize("meta-data/partition_7.csv", partition_csv(rows=20).encode())
    assert os.environ["AWS_DEFAULT_REGION"] == "us-east-1"
    assert run is not None and run.result.status == "SUCCEEDED", run and run.result.cause
    assert run.result.execution_arn.startswith("arn:aws-cn:states:cn-north-1:")


def test_a_quiet_session_reads_the_execution_history_once(
    session: OfflineSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    from localrun.moto_adapter import history

    reads: list[str] = []
    real = history.read_history

    def counted(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
        reads.append(execution_arn)
        return real(sfn, execution_arn)

    monkeypatch.setattr(history, "read_history", counted)
    run = session.standardize("meta-data/partition_2333.csv", partition_csv(rows=20).encode())
    assert run is not None and run.result.status == "SUCCEEDED"
    assert reads == [run.result.execution_arn]


def test_bad_file_name_fails_as_invalid_file_name(session: OfflineSession) -> None:
    run = session.standardize("meta-data/partition.csv", b"a\n1\n")
    assert run is not None
    assert run.result.path == ("CheckFileName", "InvalidFileName")
    assert run.result.error == "InvalidFileName" and "meta-data/partition.csv" in (run.result.cause or "")


def test_missing_key_fails_as_invalid_file_name(session: OfflineSession) -> None:
    result = session.aws.run(session._standardize_arn, {"bucket": {"name": session.bucket}}, name="no-key")
    assert result.path == ("CheckFileName", "MissingKey", "InvalidFileName")
    assert result.error == "InvalidFileName"


def test_non_numeric_batch_id_fails_as_invalid_partition_name(session: OfflineSession) -> None:
    run = session.standardize("meta-data/partition_abc.csv", b"a\n1\n")
    assert run is not None
    assert run.result.path == (
        "CheckFileName",
        "GetBatchId",
        "GetBatchIdLambdaError",
        "GetBatchIdErrorJson",
        "GetBatchIdErrorMessage",
        "InvalidPartitionName",
    )
    assert run.result.error == "InvalidPartitionName" and "partition_abc.csv" in (run.result.cause or "")
    assert_message_only(run.result.cause)


def test_a_non_numeric_batch_id_from_the_function_is_caught_by_the_choice(session: OfflineSession) -> None:
    session.aws.bind_lambda(
        "get-batch-id", lambda payload: {"batch_id": "12", "job_name": "standardize-12-x"}
    )
    run = session.standardize("meta-data/partition_12.csv", b"a\n1\n")
    assert run is not None
    assert run.result.path == (
        "CheckFileName",
        "GetBatchId",
        "CheckBatchId",
        "BatchIdNotNumeric",
        "InvalidPartitionName",
    )


def test_processing_failure_fails_as_processing_failed_with_the_reason(session: OfflineSession) -> None:
    run = session.standardize("meta-data/ragged_5.csv", b"a,b\n1,2,3\n")
    assert run is not None
    job_failure = ("StandardizeJobFailure", "StandardizeJobJson", "StandardizeJobReason")
    assert run.result.path == (*STANDARDIZE_OK[:-1], *job_failure, "ProcessingFailed")
    assert run.result.error == "ProcessingFailed"
    assert "line 2" in (run.result.cause or "") and "ragged_5.csv" in (run.result.cause or "")
    assert session.list_keys("prediction-data/5/") == [], "a failed job leaves no output"


def test_duplicate_s3_delivery_starts_one_execution(session: OfflineSession) -> None:
    event = session.upload("meta-data/partition_9.csv", partition_csv(rows=20).encode(), sequencer="00AB")
    first, second = session.notify(event), session.notify(event)
    assert first == second
    sfn = session.aws.client("stepfunctions")
    assert len(sfn.list_executions(stateMachineArn=session._standardize_arn)["executions"]) == 1


def test_keys_outside_the_notification_filter_start_nothing(session: OfflineSession) -> None:
    assert session.standardize("other/partition_1.csv", b"a\n1\n") is None
    assert session.standardize("meta-data/partition_1.txt", b"a\n1\n") is None


def test_with_the_templates_a_call_their_policies_deny_fails_as_on_aws(tmp_path: Path) -> None:
    """``iam_from``: the trigger may start executions under the deployed policy; with the statement
    deleted from its role's policy, its StartExecution is refused with AccessDenied and no
    execution starts (the upload's event goes to the trigger's failure handling, as on AWS)."""
    from tests.infra.test_iam_check import _delete_statement, _logical_id, variant

    deployed = variant("dev").outdir
    with open_session(
        "dev", workdir=tmp_path / "ok", forecast=False, printer=Printer(False), iam_from=deployed
    ) as s:
        run = s.standardize("meta-data/partition_7.csv", partition_csv(rows=20).encode())
        assert run is not None and run.result.status == "SUCCEEDED"
    mutated = tmp_path / "mutated"
    policy = _logical_id(deployed, "Standardize", "AWS::IAM::Policy", "Trigger/Role")
    _delete_statement(deployed, mutated, "Standardize", policy, "states:StartExecution")
    with open_session(
        "dev", workdir=tmp_path / "no", forecast=False, printer=Printer(False), iam_from=mutated
    ) as s:
        with pytest.raises(Exception, match="AccessDenied") as refused:
            s.standardize("meta-data/partition_7.csv", partition_csv(rows=20).encode())
        assert "is not authorized to perform: states:StartExecution" in str(refused.value)
        assert (
            s.aws.client("stepfunctions").list_executions(stateMachineArn=s._standardize_arn)["executions"]
            == []
        )
