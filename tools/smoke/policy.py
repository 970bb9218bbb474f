"""The IAM policy of whoever runs the smoke: ``tools/smoke/operator-policy.json``, rendered for one
deployed environment from its stacks' outputs, and the IAM request behind each AWS call the smoke
makes, so that a test evaluates every call of an offline run against the rendered policy.

``python -m tools.smoke.policy -c env=NAME`` prints the policy for NAME's deployment (it reads the
stacks' outputs with the caller's credentials): attach it to the role the smoke runs as.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config import EnvConfig, load_env, read_cdk_context
from pipeline_rules import resource_prefix
from tools.smoke.context import add_environment_option, environment_of
from tools.smoke.deployment import Deployment, read_deployment

TEMPLATE = Path(__file__).with_name("operator-policy.json")
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")
#: Statements that only an environment with a forecast pipeline gets.
FORECAST_SID = "Forecast"


class UnmappedCall(LookupError):
    """A call of the smoke whose IAM request :func:`iam_requests` does not know."""


def values(config: EnvConfig, deployment: Deployment, account: str) -> dict[str, str]:
    """The placeholders of the template for ``deployment`` in ``account``."""
    std = config.standardize
    found = {
        "Partition": config.partition,
        "Region": config.region,
        "Account": account,
        "StackPrefix": config.stack_name(""),
        "ResourcePrefix": resource_prefix(config.name),
        "Bucket": deployment.bucket,
        "InputPrefix": std.input_prefix,
        "OutputPrefix": std.output_prefix,
        "StandardizeMachineArn": deployment.standardize_arn,
        "StandardizeMachine": deployment.standardize_arn.rsplit(":", 1)[1],
        "AlertsTopicArn": deployment.alerts_topic_arn,
    }
    if config.forecast is not None and deployment.forecast_arn:
        found |= {
            "EtlPrefix": config.forecast.etl_prefix,
            "SourceTable": config.forecast.database.source_table,
            "WorkPrefix": config.forecast.work_prefix,
            "ForecastMachineArn": deployment.forecast_arn,
            "ForecastMachine": deployment.forecast_arn.rsplit(":", 1)[1],
            "Workflow": deployment.etl_workflow_name or "",
            "DatabaseSecretArn": config.forecast.database.secret_arn or deployment.database_secret_arn or "",
        }
    return found


def render(config: EnvConfig, deployment: Deployment, account: str | None = None) -> dict[str, Any]:
    """The operator's policy for ``deployment``: the forecast's statements only with a forecast,
    the secret's only with a known secret; a placeholder without a value is an error."""
    known = values(config, deployment, account or config.account)
    document = json.loads(TEMPLATE.read_text(encoding="utf-8"))
    kept = []
    for statement in document["Statement"]:
        if statement["Sid"].startswith(FORECAST_SID) and "ForecastMachineArn" not in known:
            continue
        if statement["Sid"] == "ForecastDatabaseSecret" and not known.get("DatabaseSecretArn"):
            continue
        text = json.dumps(statement)
        missing = sorted(set(_PLACEHOLDER.findall(text)) - set(known))
        if missing:
            raise KeyError(
                f"{TEMPLATE.name}: statement {statement['Sid']} has placeholders without a value {missing}"
            )
        kept.append(json.loads(_PLACEHOLDER.sub(lambda m: known[m.group(1)], text)))
    return {"Version": document["Version"], "Statement": kept}


@dataclass(frozen=True)
class Where:
    """The partition, region and account of the calls' resources."""

    partition: str
    region: str
    account: str

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}"

    def s3(self, bucket: str, key: str | None = None) -> str:
        return f"arn:{self.partition}:s3:::{bucket}" + ("" if key is None else f"/{key}")

    def queue(self, url: str) -> str:
        account, name = url.rstrip("/").split("/")[-2:]
        return f"arn:{self.partition}:sqs:{self.region}:{account}:{name}"


IamRequest = tuple[str, str, dict[str, str]]
_Mapper = Callable[[Mapping[str, Any], Where], list[IamRequest]]


def _one(action: str, resource: Callable[[Mapping[str, Any], Where], str]) -> _Mapper:
    return lambda params, where: [(action, resource(params, where), {})]


def _deletes(params: Mapping[str, Any], where: Where) -> list[IamRequest]:
    return [
        (
            "s3:DeleteObjectVersion" if o.get("VersionId") else "s3:DeleteObject",
            where.s3(params["Bucket"], o["Key"]),
            {},
        )
        for o in params["Delete"]["Objects"]
    ]


#: ``(service, operation)``: the IAM requests of that call of the smoke.
MAPPERS: dict[tuple[str, str], _Mapper] = {
    ("cloudformation", "DescribeStacks"): _one(
        "cloudformation:DescribeStacks", lambda p, w: w.arn("cloudformation", f"stack/{p['StackName']}/id")
    ),
    ("s3", "PutObject"): _one("s3:PutObject", lambda p, w: w.s3(p["Bucket"], p["Key"])),
    ("s3", "GetObject"): _one("s3:GetObject", lambda p, w: w.s3(p["Bucket"], p["Key"])),
    ("s3", "ListObjectVersions"): lambda p, w: [
        ("s3:ListBucketVersions", w.s3(p["Bucket"]), {"s3:prefix": p.get("Prefix", "")})
    ],
    ("s3", "DeleteObjects"): _deletes,
    ("stepfunctions", "ListExecutions"): _one("states:ListExecutions", lambda p, w: p["stateMachineArn"]),
    ("stepfunctions", "StartExecution"): _one("states:StartExecution", lambda p, w: p["stateMachineArn"]),
    ("stepfunctions", "DescribeExecution"): _one("states:DescribeExecution", lambda p, w: p["executionArn"]),
    ("stepfunctions", "GetExecutionHistory"): _one(
        "states:GetExecutionHistory", lambda p, w: p["executionArn"]
    ),
    ("stepfunctions", "StopExecution"): _one("states:StopExecution", lambda p, w: p["executionArn"]),
    # CloudWatch's authorization of a prefix query is not documented; the request names the alarms of
    # the prefix, and the policy grants DescribeAlarms (read-only) on "*", as its docs ask for composites.
    ("cloudwatch", "DescribeAlarms"): _one(
        "cloudwatch:DescribeAlarms", lambda p, w: w.arn("cloudwatch", f"alarm:{p['AlarmNamePrefix']}")
    ),
    ("cloudwatch", "SetAlarmState"): _one(
        "cloudwatch:SetAlarmState", lambda p, w: w.arn("cloudwatch", f"alarm:{p['AlarmName']}")
    ),
    ("sqs", "CreateQueue"): _one("sqs:CreateQueue", lambda p, w: w.arn("sqs", p["QueueName"])),
    **{
        ("sqs", op): _one(f"sqs:{op}", lambda p, w: w.queue(p["QueueUrl"]))
        for op in ("GetQueueAttributes", "SetQueueAttributes", "ReceiveMessage", "DeleteQueue")
    },
    ("sns", "Subscribe"): _one("sns:Subscribe", lambda p, w: p["TopicArn"]),
    ("sns", "Unsubscribe"): _one("sns:Unsubscribe", lambda p, w: p["SubscriptionArn"].rsplit(":", 1)[0]),
    ("sns", "GetSubscriptionAttributes"): _one(
        "sns:GetSubscriptionAttributes", lambda p, w: p["SubscriptionArn"].rsplit(":", 1)[0]
    ),
    ("sns", "ConfirmSubscription"): _one("sns:ConfirmSubscription", lambda p, w: p["TopicArn"]),
    ("secretsmanager", "GetSecretValue"): _one("secretsmanager:GetSecretValue", lambda p, w: p["SecretId"]),
    **{
        ("glue", op): _one(f"glue:{op}", lambda p, w: w.arn("glue", f"workflow/{p['Name']}"))
        for op in ("StartWorkflowRun", "GetWorkflowRun")
    },
}


def iam_requests(service: str, operation: str, params: Mapping[str, Any], where: Where) -> list[IamRequest]:
    """``(action, resource ARN, context)`` of each IAM request behind one call of the smoke."""
    mapper = MAPPERS.get((service, operation))
    if mapper is None:
        raise UnmappedCall(
            f"the smoke calls {service}:{operation}: map its IAM request in tools/smoke/policy.py"
        )
    return mapper(params, where)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.smoke.policy", description=__doc__)
    add_environment_option(parser)
    args = parser.parse_args(argv)
    config = load_env(environment_of(parser, args), read_cdk_context())
    import boto3

    cloudformation = boto3.Session(region_name=config.region).client("cloudformation")
    deployment = read_deployment(cloudformation, config, forecast=config.forecast is not None)
    print(json.dumps(render(config, deployment), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
