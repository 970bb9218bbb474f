"""The data bucket and the bucket that receives its server access logs."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct


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


class DataBucket(Construct):
    """Private, encrypted, versioned, SSL-only bucket with access logs; both buckets are retained.

    Lifecycle defaults: noncurrent versions expire after 30 days (the newest 3 kept), incomplete
    multipart uploads are aborted after 7 days, and access logs expire after 365 days.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, bucket_name: str, noncurrent_days: int = 30
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=False,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(365)),
                s3.LifecycleRule(
                    id="abort-multipart", abort_incomplete_multipart_upload_after=Duration.days(7)
                ),
            ],
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=bucket_name,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="data-bucket/",
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-noncurrent-versions",
                    noncurrent_version_expiration=Duration.days(noncurrent_days),
                    noncurrent_versions_to_retain=3,
                    expired_object_delete_marker=True,
                ),
                s3.LifecycleRule(
                    id="abort-multipart", abort_incomplete_multipart_upload_after=Duration.days(7)
                ),
            ],
        )
