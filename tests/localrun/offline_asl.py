"""Helpers of the offline state machine tests: tiny state machines, task states, an SNS inbox."""

from __future__ import annotations

import json
import time
from typing import Any

from contracts.asl import intrinsic_string
from localrun.moto_adapter import OfflineAws, SageMakerApiError

ACCOUNT = "123456789012"
FN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fn"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sagemaker"


def literal(value: str) -> str:
    """``value`` as a single-quoted intrinsic argument, escaped by the project's own helper."""
    decoded: str = json.loads(f'"{intrinsic_string(value)}"')
    return decoded


def machine(aws: OfflineAws, states: dict[str, Any]) -> str:
    """Create a state machine that starts at the first of ``states``."""
    definition = {"StartAt": next(iter(states)), "States": states}
    return aws.create_state_machine(f"sm-{time.monotonic_ns()}", definition)


def lambda_task(function: str = FN, partition: str = "aws", **extra: Any) -> dict[str, Any]:
    """A ``lambda:invoke`` task of ``function`` with the state input as payload, plus ``extra`` fields."""
    return {
        "Type": "Task",
        "Resource": f"arn:{partition}:states:::lambda:invoke",
        "Parameters": {"FunctionName": function, "Payload.$": "$"},
        **extra,
    }


def sagemaker_task(action: str, partition: str = "aws", **extra: Any) -> dict[str, Any]:
    """A ``sagemaker:<action>`` task, plus ``extra`` fields."""
    return {"Type": "Task", "Resource": f"arn:{partition}:states:::sagemaker:{action}", **extra}


#: kind -> (task action, Describe* noun, ARN resource type, end-time field)
JOBS = {
    "processing": ("createProcessingJob.sync", "ProcessingJob", "processing-job", "ProcessingEndTime"),
    "training": ("createTrainingJob.sync", "TrainingJob", "training-job", "TrainingEndTime"),
    "transform": ("createTransformJob.sync", "TransformJob", "transform-job", "TransformEndTime"),
}


def job_task(kind: str, partition: str = "aws", **extra: Any) -> dict[str, Any]:
    """A ``.sync`` job task of ``kind`` named from ``$.job``, with an intrinsic in its Parameters."""
    action, noun, _, _ = JOBS[kind]
    params = {f"{noun}Name.$": "$.job", "RoleArn": ROLE, "Count.$": "States.StringToJson('2')"}
    return sagemaker_task(action, partition, Parameters=params, **extra)


def sqs_subscription(aws: OfflineAws, topic_arn: str) -> tuple[Any, str]:
    """Subscribe a new queue to ``topic_arn``; return the SQS client and the queue URL."""
    sqs = aws.client("sqs")
    queue_url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    aws.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return sqs, queue_url


def received(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """The SNS notifications waiting in ``queue_url`` (up to 10)."""
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


class Rejecting:
    """A create hook that rejects the first ``times[kind]`` Create* calls of each kind, then admits."""

    def __init__(self, times: dict[str, int], code: str = "ResourceLimitExceeded", **error: str) -> None:
        self.times, self.code, self.error = times, code, error
        self.calls: list[str] = []

    def __call__(self, kind: str, params: dict[str, Any], now: float) -> float:
        self.calls.append(kind)
        if self.calls.count(kind) <= self.times.get(kind, 0):
            raise SageMakerApiError(self.code, f"no room for {kind} at {now:.0f}", **self.error)
        return 300.0
