"""The moto adapter: local Lambda bindings, unslept retries and waits, SNS and partitions, clean exit."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import boto3
import pytest
from moto.core.config import default_user_config
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
    lambda_eval_utils,
    state_task_factory,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.parse.intrinsic.intrinsic_parser import IntrinsicParser
from moto.stepfunctions.parser.asl.parse.intrinsic.preprocessor import Preprocessor

from localrun.moto_adapter import OfflineAws, SimulatedClock, SkippedWait, StateEvent, offline_aws
from tests.localrun.offline_asl import ACCOUNT, FN, job_task, lambda_task, machine, received, sqs_subscription


class InvalidPartitionName(ValueError):
    """Named like the error the standardize state machine routes on."""


class Throttled(Exception):
    pass


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


# -- SNS, partitions ---------------------------------------------------------------------------------
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


# -- moto's own log ----------------------------------------------------------------------------------


def test_moto_logs_to_the_handle_and_not_to_the_terminal(caplog: pytest.LogCaptureFixture) -> None:
    """moto logs each failure it handles at ERROR, with its internals; the mock keeps those records
    in ``moto_log``, and this project's own loggers still reach the root handlers."""
    moto = logging.getLogger("moto")
    before = (moto.propagate, list(moto.handlers))
    with offline_aws() as aws:
        stop = {"Type": "Fail", "Error": "Stopped", "Cause": "on purpose"}
        result = aws.run(machine(aws, {"Stop": stop}))
        logging.getLogger("localrun.tests").error("our own error")
    assert (result.error, result.cause) == ("Stopped", "on purpose")
    assert any("ERROR moto." in line and "FailureEventException" in line for line in aws.moto_log)
    reached = [(r.name, r.getMessage()) for r in caplog.records if not r.name.startswith("botocore")]
    assert reached == [("localrun.tests", "our own error")]  # botocore's INFO depends on test order
    assert (moto.propagate, list(moto.handlers)) == before, "restored on exit"


def test_everything_is_restored_on_exit() -> None:
    def patched() -> tuple[Any, ...]:
        return (
            lambda_eval_utils._invoke_lambda_function,
            state_task_factory.state_task_service_for,
            retrier_decl.time,
            retrier_decl.RetrierDecl._eval_body,
            WaitFunction._wait_interval,
            IntrinsicParser.parse,
            Preprocessor._replace_escaped_characters,
            boto3.DEFAULT_SESSION,
            json.dumps(default_user_config, sort_keys=True),
        )

    before = patched()
    with offline_aws():
        during = patched()
    assert all(b is not d for b, d in zip(before[:-1], during[:-1], strict=True))
    assert before[-1] != during[-1]
    after = patched()
    assert all(b is a for b, a in zip(before[:-1], after[:-1], strict=True)) and before[-1] == after[-1]
