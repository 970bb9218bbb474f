"""The requests a state machine's role makes, derived from its deployed (rendered) ASL.

Each Task's integration has documented needs (AWS Step Functions Developer Guide, "IAM policies for
calling Amazon SageMaker AI", "... AWS Lambda", "... Amazon SNS", and "Using CloudWatch Logs to log
execution history" / "AWS X-Ray and Step Functions"):

- ``lambda:invoke``: ``lambda:InvokeFunction`` on the function;
- ``sns:publish``: ``sns:Publish`` on the topic (the key's actions follow from the topic's encryption);
- ``sagemaker:create<Kind>.sync``: create, describe, stop, ``AddTags`` and ``ListTags`` on the job,
  ``events:PutTargets``/``PutRule``/``DescribeRule`` on the managed rule of that kind, and
  ``iam:PassRole`` of the job's role to SageMaker;
- ``sagemaker:createModel``: create, ``AddTags`` (the task tags the model) and ``iam:PassRole``;
- every machine: CloudWatch Logs delivery and X-Ray, which take no resource (``*``).

Job names are run-time values, so the job resource is the name a recorded run used
(``state_machine:<name>`` entries of the inventory).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from contracts.asl import states

#: The kind (ARN resource type), noun, managed ``.sync`` rule and role parameter of each SageMaker task.
SAGEMAKER_TASKS: Mapping[str, tuple[str, str, str | None, str | None]] = {
    "createProcessingJob": (
        "processing-job",
        "ProcessingJob",
        "StepFunctionsGetEventsForSageMakerProcessingJobsRule",
        "RoleArn",
    ),
    "createTrainingJob": (
        "training-job",
        "TrainingJob",
        "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
        "RoleArn",
    ),
    "createTransformJob": (
        "transform-job",
        "TransformJob",
        "StepFunctionsGetEventsForSageMakerTransformJobsRule",
        None,
    ),
    "createModel": ("model", "Model", None, "ExecutionRoleArn"),
}
LOG_DELIVERY = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)
XRAY = (
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
)

#: (action, resource, context) of one derived request; ``{job:<kind>}`` stands for a recorded job.
Derived = tuple[str, str, dict[str, str]]


def derive(definition_text: str, *, partition: str, region: str, account: str) -> list[Derived]:
    """The requests of the state machine whose rendered ASL is ``definition_text``."""
    definition = json.loads(definition_text)
    found: list[Derived] = [(action, "*", {}) for action in LOG_DELIVERY + XRAY]
    for task in (state for _, state in states(definition) if state["Type"] == "Task"):
        resource: str = task["Resource"]
        params = task.get("Parameters", {})
        integration = resource.split(":::", 1)[-1]
        service, _, api = integration.partition(":")
        api, _, pattern = api.partition(".")
        if service == "lambda" and api == "invoke":
            found.append(("lambda:InvokeFunction", params["FunctionName"], {}))
        elif service == "sns" and api == "publish":
            found.append(("sns:Publish", params["TopicArn"], {}))
        elif service == "sagemaker" and api in SAGEMAKER_TASKS:
            kind, noun, rule, role_param = SAGEMAKER_TASKS[api]
            job = f"{{job:{kind}}}"
            found.append((f"sagemaker:Create{noun}", job, {}))
            if "Tags" in params or pattern == "sync":
                found.append(("sagemaker:AddTags", job, {}))
            if pattern == "sync":
                for verb in ("Describe", "Stop"):
                    found.append((f"sagemaker:{verb}{noun}", job, {}))
                found.append(("sagemaker:ListTags", job, {}))
                rule_arn = f"arn:{partition}:events:{region}:{account}:rule/{rule}"
                found.extend(
                    (a, rule_arn, {}) for a in ("events:PutTargets", "events:PutRule", "events:DescribeRule")
                )
            if role_param is not None:
                passed = {"iam:PassedToService": "sagemaker.amazonaws.com"}
                found.append(("iam:PassRole", params[role_param], passed))
        elif resource.startswith(f"arn:{partition}:states:::"):
            raise ValueError(f"no derivation for the Task integration {resource}: add it to {__name__}")
        else:  # a bare Lambda ARN as the Resource
            found.append(("lambda:InvokeFunction", resource, {}))
    return found
