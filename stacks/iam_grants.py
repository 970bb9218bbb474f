"""IAM helpers of the constructs: trusted service principals and the grants several units make.

``service_for_this_account`` for role trust policies (the source keys each service documents),
``grant_prefix``
for a bucket prefix, ``grant_sagemaker_logs`` for SageMaker's account-wide job log groups.
Network-interface grants live in stacks/vpc_access.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from stacks.log_groups import ServiceLogGroups

#: The source keys each service documents that it sends when it assumes a role, with the resource
#: type of its ``aws:SourceArn`` (``None``: it sends no key we may rely on), and the page that says so.
#: A trust condition on a key the service does not send would stop it assuming the role at all.
SOURCE_KEYS: dict[str, tuple[tuple[str, ...], str | None, str]] = {
    "states.amazonaws.com": (
        ("aws:SourceAccount", "aws:SourceArn"),
        "states:stateMachine:*",
        "Step Functions Developer Guide, procedure-create-iam-role: "
        "'Prevent cross-service confused deputy issue'",
    ),
    "events.amazonaws.com": (
        ("aws:SourceAccount", "aws:SourceArn"),
        "events:rule/*",
        "EventBridge User Guide, cross-service-confused-deputy-prevention: "
        "for rule targets aws:SourceArn is the rule",
    ),
    "sagemaker.amazonaws.com": (
        ("aws:SourceArn",),
        "sagemaker:*",
        "SageMaker Developer Guide, security-confused-deputy-prevention: aws:SourceArn is the job "
        "(the account is in the ARN, so no aws:SourceAccount)",
    ),
    "vpc-flow-logs.amazonaws.com": (
        ("aws:SourceAccount", "aws:SourceArn"),
        "ec2:vpc-flow-log/*",
        "VPC User Guide, flow-logs-iam-role: aws:SourceAccount and aws:SourceArn = the flow log",
    ),
    "glue.amazonaws.com": (
        (),
        None,
        "Glue Developer Guide, create-an-iam-role: no source key is documented for Glue's AssumeRole, "
        "so a condition on one could stop the crawler and the job from assuming their roles",
    ),
}
#: The services whose role trust takes source conditions (the rest of SOURCE_KEYS takes none).
SOURCE_ACCOUNT_SERVICES = frozenset(service for service, (keys, _, _) in SOURCE_KEYS.items() if keys)


def source_conditions(scope: Construct, service: str) -> dict[str, dict[str, str]]:
    """The trust conditions ``service`` documents for confused-deputy prevention, for ``scope``'s
    account and region: ``aws:SourceAccount`` and/or ``aws:SourceArn`` (see :data:`SOURCE_KEYS`)."""
    if service not in SOURCE_KEYS:
        raise ValueError(f"{service}: which source keys it sends to AssumeRole is not known (SOURCE_KEYS)")
    keys, arn_pattern, _ = SOURCE_KEYS[service]
    stack = Stack.of(scope)
    conditions: dict[str, dict[str, str]] = {}
    if "aws:SourceAccount" in keys:
        conditions["StringEquals"] = {"aws:SourceAccount": stack.account}
    if "aws:SourceArn" in keys and arn_pattern is not None:
        arn_service, resource = arn_pattern.split(":", 1)
        conditions["ArnLike"] = {
            "aws:SourceArn": f"arn:{stack.partition}:{arn_service}:{stack.region}:{stack.account}:{resource}"
        }
    return conditions


def service_for_this_account(scope: Construct, service: str) -> iam.IPrincipal:
    """``service`` (e.g. ``states.amazonaws.com``), allowed to assume the role only on behalf of a
    resource of ``scope``'s account and region, with the source keys the service documents."""
    conditions = source_conditions(scope, service)
    principal = iam.ServicePrincipal(service)
    return iam.PrincipalWithConditions(principal, conditions) if conditions else principal


def grant_secret_read(role: iam.IRole, secret: secretsmanager.ISecret) -> None:
    """Let ``role`` read ``secret``. A secret with its own key (the one the shared stack creates)
    is granted, key included, in ``role``'s policy only: the key's policy names the readers itself
    (stacks/shared_stack.py), and ``secret.grant_read`` would add the role, of a stack deployed
    later, to that policy, a dependency cycle."""
    key = secret.encryption_key
    if key is None:
        secret.grant_read(role)
        return
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ReadDatabaseSecret",
            actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            resources=[secret.secret_arn],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="DecryptDatabaseSecret",
            actions=["kms:Decrypt"],
            resources=[key.key_arn],
            conditions={
                "StringEquals": {"kms:ViaService": f"secretsmanager.{Stack.of(role).region}.amazonaws.com"}
            },
        )
    )


def grant_prefix(
    role: iam.IRole, bucket: s3.IBucket, prefix: str, actions: Sequence[str], *, sid: str, list_sid: str
) -> None:
    """Give ``role`` ``actions`` on the objects under ``prefix`` and ListBucket of that prefix only.

    objects_under() in stacks/nag.py names the IAM5 finding of the resulting wildcard.
    """
    pattern = f"{prefix}*"
    role.add_to_principal_policy(
        iam.PolicyStatement(sid=sid, actions=list(actions), resources=[bucket.arn_for_objects(pattern)])
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid=list_sid,
            actions=["s3:ListBucket"],
            resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [pattern]}},
        )
    )


def grant_sagemaker_logs(role: iam.Role, *job_kinds: str, retention_days: int) -> str:
    """Let a SageMaker role write its jobs' logs, in ``/aws/sagemaker/<kind>`` log groups only,
    e.g. ``grant_sagemaker_logs(role, "ProcessingJobs", retention_days=90)``, and give those
    account-wide groups (SageMaker creates them on first use) the retention, without owning them
    (stacks/log_groups.py); returns the cdk-nag IAM5 finding of those log groups' stream wildcard,
    for the role's acknowledgment."""
    stack = Stack.of(role)
    service_groups = ServiceLogGroups.of(role, days=retention_days)
    for kind in job_kinds:
        service_groups.add(f"SageMaker{kind}", f"/aws/sagemaker/{kind}", account_wide=True)
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="OwnLogs",
            actions=[
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "logs:DescribeLogStreams",
            ],
            resources=[
                stack.format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=f"/aws/sagemaker/{kind}:*",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
                for kind in job_kinds
            ],
        )
    )
    kinds = "|".join(map(re.escape, job_kinds))
    return rf"Resource::arn:[-a-z]+:logs:.*:log-group:/aws/sagemaker/({kinds}):\*"
