"""The offline session as a deployed environment, for ``tools.smoke``: same outputs, same names.

:func:`deploy` puts, in moto:

- the stacks with the outputs ``stacks/*_stack.py`` declare, holding the session's resources;
- the app's alarms as ``snapshots/<env>/`` holds them (each ``<stack>-<logical id>``, as
  CloudFormation names an alarm the CDK leaves unnamed, less its random suffix), with the alerts
  topic as their action.

:class:`DeployedClients` gives boto3 clients of the mocked account on which two deliveries that
moto does not make happen as in AWS:

- an upload (``PutObject``) sends the bucket's event notification to the trigger, through the
  session's prefix and suffix filter (S3 event notifications);
- an alarm's change of state (``SetAlarmState``) publishes the alarm's notification to the SNS
  topics of its actions, in the layout of "Amazon SNS notifications for CloudWatch alarms"
  (CloudWatch's alarm actions).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3

from config.paths import ROOT
from contracts.names import etl_job_name, etl_workflow_name
from localrun.runner import OfflineSession

SNAPSHOTS = ROOT / "snapshots"
#: A template with nothing to create: its one resource's condition never holds.
_EMPTY = {
    "Conditions": {"Never": {"Fn::Equals": ["deployed", "offline"]}},
    "Resources": {"Nothing": {"Type": "AWS::CloudFormation::WaitConditionHandle", "Condition": "Never"}},
}
_ALARM_FIELDS = (
    "AlarmDescription",
    "ComparisonOperator",
    "EvaluationPeriods",
    "MetricName",
    "Namespace",
    "Period",
    "Statistic",
    "Threshold",
    "TreatMissingData",
)


def outputs(session: OfflineSession) -> dict[str, dict[str, str]]:
    """Each stack's outputs, from the session's resources."""
    env = session.env
    failures = session.aws.client("sqs").create_queue(QueueName="trigger-failures")["QueueUrl"]
    stacks = {
        "Shared": {"DataBucketName": session.bucket, "AlertsTopicArn": session.alerts_arn},
        "Standardize": {"StateMachineArn": session.standardize_arn, "TriggerFailureQueueUrl": failures},
    }
    if session.database_secret_arn:
        stacks["Shared"]["DatabaseSecretArn"] = session.database_secret_arn
    if env.forecast is not None and session.forecast_arn is not None:
        stacks["Forecast"] = {
            "StateMachineArn": session.forecast_arn,
            "EtlJobName": etl_job_name(env.name, env.forecast.database.source_table),
            "EtlWorkflowName": etl_workflow_name(env.name),
        }
    return stacks


def deploy(session: OfflineSession) -> None:
    """Create the stacks (with their outputs) and the alarms in the session's mocked account."""
    cloudformation = session.aws.client("cloudformation")
    for unit, values in outputs(session).items():
        template = {**_EMPTY, "Outputs": {key: {"Value": value} for key, value in values.items()}}
        cloudformation.create_stack(StackName=session.env.stack_name(unit), TemplateBody=json.dumps(template))
    cloudwatch = session.aws.client("cloudwatch")
    for stack, logical_id, properties in alarms(session.env.name):
        if stack == session.env.stack_name("Forecast") and session.forecast_arn is None:
            continue
        cloudwatch.put_metric_alarm(
            AlarmName=f"{stack}-{logical_id}",
            AlarmActions=[session.alerts_arn],
            Dimensions=[
                {"Name": d["Name"], "Value": _plain(d["Value"])} for d in properties.get("Dimensions", [])
            ],
            **{key: properties[key] for key in _ALARM_FIELDS if key in properties},
        )


def alarms(env_name: str) -> list[tuple[str, str, dict[str, Any]]]:
    """``(stack name, logical id, properties)`` of every alarm in ``snapshots/<env_name>/``."""
    found = []
    for path in sorted((SNAPSHOTS / env_name).glob("*.template.json")):
        stack = path.name.removesuffix(".template.json")
        for logical_id, resource in json.loads(path.read_text(encoding="utf-8"))["Resources"].items():
            if resource["Type"] == "AWS::CloudWatch::Alarm":
                found.append((stack, logical_id, resource["Properties"]))
    return found


def _plain(value: Any) -> str:
    """A dimension's value: itself, or for a reference to a resource, that resource's logical id."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    return json.dumps(value)


class DeployedClients:
    """``clients(service)``: a client of the mocked account, with S3's and CloudWatch's deliveries;
    :attr:`calls` records what was asked of AWS (the smoke's permissions are checked on it)."""

    def __init__(self, session: OfflineSession) -> None:
        self.session = session
        self._clients: dict[str, Any] = {}
        #: Every call made through these clients: ``(service, operation, parameters)``.
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, service: str) -> Any:
        if service not in self._clients:
            client = boto3.client(service, region_name=self.session.aws.region)
            client.meta.events.register("before-parameter-build", self._recorder(service))
            if service == "s3":
                client.meta.events.register("before-parameter-build.s3.PutObject", _keep_params)
                client.meta.events.register("after-call.s3.PutObject", self._notify)
            if service == "cloudwatch":
                client.meta.events.register(
                    "before-parameter-build.cloudwatch.SetAlarmState", self._before_state
                )
                client.meta.events.register("after-call.cloudwatch.SetAlarmState", self._alarm_action)
            self._clients[service] = client
        return self._clients[service]

    def _recorder(self, service: str) -> Any:
        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            self.calls.append((service, model.name, dict(params)))

        return record

    def _notify(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        params = context["offline_params"]
        if params["Bucket"] != self.session.bucket:
            return
        body = params.get("Body", b"")
        size = len(body) if isinstance(body, bytes | str) else 0
        self.session.notify(self.session.s3_event(params["Key"], size, parsed["ETag"]))

    def _before_state(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        [alarm] = self.session.aws.client("cloudwatch").describe_alarms(AlarmNames=[params["AlarmName"]])[
            "MetricAlarms"
        ]
        context["offline_alarm"] = alarm

    def _alarm_action(self, context: dict[str, Any], **_: Any) -> None:
        before = context["offline_alarm"]
        [after] = self.session.aws.client("cloudwatch").describe_alarms(AlarmNames=[before["AlarmName"]])[
            "MetricAlarms"
        ]
        if after["StateValue"] == before["StateValue"]:
            return  # CloudWatch acts on a change of state only
        actions = {"ALARM": "AlarmActions", "OK": "OKActions", "INSUFFICIENT_DATA": "InsufficientDataActions"}
        message = alarm_notification(
            after, before["StateValue"], self.session.env.account, self.session.aws.region
        )
        subject = f'{after["StateValue"]}: "{after["AlarmName"]}" in {self.session.aws.region}'
        for topic in after.get(actions[after["StateValue"]], []):
            self.session.aws.client("sns").publish(
                TopicArn=topic, Subject=subject[:100], Message=json.dumps(message)
            )


def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context["offline_params"] = dict(params)


def alarm_notification(alarm: dict[str, Any], old_state: str, account: str, region: str) -> dict[str, Any]:
    """The JSON message CloudWatch publishes to an alarm action's topic (the fields of "Amazon SNS
    notifications for CloudWatch alarms" that a reader of the alerts needs)."""
    return {
        "AlarmName": alarm["AlarmName"],
        "AlarmDescription": alarm.get("AlarmDescription"),
        "AWSAccountId": account,
        "NewStateValue": alarm["StateValue"],
        "NewStateReason": alarm.get("StateReason", ""),
        "StateChangeTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        "Region": region,
        "AlarmArn": alarm.get("AlarmArn"),
        "OldStateValue": old_state,
        "Trigger": {
            "MetricName": alarm.get("MetricName"),
            "Namespace": alarm.get("Namespace"),
            "Statistic": alarm.get("Statistic"),
            "Dimensions": [{"name": d["Name"], "value": d["Value"]} for d in alarm.get("Dimensions", [])],
            "Period": alarm.get("Period"),
            "EvaluationPeriods": alarm.get("EvaluationPeriods"),
            "ComparisonOperator": alarm.get("ComparisonOperator"),
            "Threshold": alarm.get("Threshold"),
        },
    }
