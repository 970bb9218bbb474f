"""The intrinsics and flow control the project's ASL uses, and moto's pinned differences from AWS."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from localrun.moto_adapter import OfflineAws, offline_aws
from tests.localrun.offline_asl import FN, lambda_task, literal, machine

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
