"""IAM helpers of the constructs: trusted service principals and the grants several units make.

``service_for_this_account`` for role trust policies (``aws:SourceAccount``), ``grant_prefix``
for a bucket prefix, ``grant_sagemaker_logs`` for SageMaker's account-wide job log groups.
Network-interface grants live in stacks/vpc_access.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.log_groups import ServiceLogGroups

#: The services whose role trust takes ``aws:SourceAccount`` (each documents the key for its
#: cross-service confused-deputy prevention). Lambda's execution role is not among them.
SOURCE_ACCOUNT_SERVICES = frozenset(
    {"sagemaker.amazonaws.com", "glue.amazonaws.com", "states.amazonaws.com", "events.amazonaws.com"}
)


def service_for_this_account(scope: Construct, service: str) -> iam.IPrincipal:
    """``service`` (e.g. ``glue.amazonaws.com``), allowed to assume the role only on behalf of a
    resource of ``scope``'s account (``aws:SourceAccount``), so no other account can pass it."""
    if service not in SOURCE_ACCOUNT_SERVICES:
        raise ValueError(f"{service} is not known to take aws:SourceAccount in a role trust policy")
    return iam.PrincipalWithConditions(
        iam.ServicePrincipal(service), {"StringEquals": {"aws:SourceAccount": Stack.of(scope).account}}
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
