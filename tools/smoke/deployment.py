"""Step 1: the environment's stacks are deployed, and what the smoke needs is read from their outputs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from botocore.exceptions import ClientError

from config import EnvConfig

#: Stack states in which the stack runs the template last deployed.
DEPLOYED = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"})
#: The outputs each stack must have (stacks/*_stack.py's CfnOutputs).
OUTPUTS = {
    "Shared": ("DataBucketName", "AlertsTopicArn"),
    "Standardize": ("StateMachineArn", "TriggerFailureQueueUrl"),
    "Forecast": ("StateMachineArn", "EtlJobName", "EtlWorkflowName"),
}


class SmokeFailure(Exception):
    """A check failed; the message says which, what was seen, and where to look."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step


@dataclass(frozen=True)
class Deployment:
    """What the smoke reads from the stacks' outputs."""

    bucket: str
    alerts_topic_arn: str
    standardize_arn: str
    trigger_failure_queue_url: str
    forecast_arn: str | None = None
    etl_job_name: str | None = None
    etl_workflow_name: str | None = None
    #: The database secret the app created (the Shared stack's optional output), if any.
    database_secret_arn: str | None = None


def stack_outputs(cloudformation: Any, config: EnvConfig, unit: str) -> dict[str, str]:
    """The outputs of ``unit``'s stack, which must be deployed and have every output of :data:`OUTPUTS`."""
    name = config.stack_name(unit)
    step = "stacks"
    try:
        [stack] = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as err:
        if "does not exist" in str(err):
            raise SmokeFailure(
                step,
                f"stack {name} is not deployed in {config.region} (run: cdk deploy -c env={config.name})",
            ) from None
        raise SmokeFailure(step, f"cannot read stack {name}: {err}") from None
    status = stack["StackStatus"]
    if status not in DEPLOYED:
        reason = stack.get("StackStatusReason") or "see the stack's events in the CloudFormation console"
        raise SmokeFailure(step, f"stack {name} is {status}, not deployed ({reason})")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    missing = [key for key in OUTPUTS[unit] if not outputs.get(key)]
    if missing:
        raise SmokeFailure(
            step, f"stack {name} has no output {', '.join(missing)}: deploy this version of the app again"
        )
    return outputs


def read_deployment(cloudformation: Any, config: EnvConfig, *, forecast: bool) -> Deployment:
    """The :class:`Deployment` of ``config``'s stacks; ``forecast`` reads the forecast stack too."""
    shared = stack_outputs(cloudformation, config, "Shared")
    standardize = stack_outputs(cloudformation, config, "Standardize")
    deployment = Deployment(
        bucket=shared["DataBucketName"],
        alerts_topic_arn=shared["AlertsTopicArn"],
        standardize_arn=standardize["StateMachineArn"],
        trigger_failure_queue_url=standardize["TriggerFailureQueueUrl"],
        database_secret_arn=shared.get("DatabaseSecretArn"),
    )
    if not forecast:
        return deployment
    if config.forecast is None:
        raise SmokeFailure("stacks", f"environment {config.name} has no forecast pipeline in cdk.json")
    out = stack_outputs(cloudformation, config, "Forecast")
    return replace(
        deployment,
        forecast_arn=out["StateMachineArn"],
        etl_job_name=out["EtlJobName"],
        etl_workflow_name=out["EtlWorkflowName"],
    )
