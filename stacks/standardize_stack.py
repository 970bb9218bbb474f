"""The standardize pipeline of one environment, wired to the shared bucket and alerts topic."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_s3 as s3
from constructs import Construct

from config import LogsConfig, QuotaRetryConfig, StandardizeConfig
from stacks.nag import acknowledge
from stacks.shared_stack import SharedStack
from stacks.standardize_pipeline import StandardizePipeline

#: The construct id CDK gives the singleton handler of bucket notifications.
NOTIFICATIONS_HANDLER = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"


class StandardizeStack(Stack):
    """Imports the shared bucket by its configured name, so its notification lives here without a cycle."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cfg: StandardizeConfig,
        env_name: str,
        bucket_name: str,
        logs: LogsConfig,
        quota_retry: QuotaRetryConfig,
        shared: SharedStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        bucket = s3.Bucket.from_bucket_name(self, "DataBucket", bucket_name)
        self.add_stack_dependency(shared, "the data bucket and the alerts topic live in the shared stack")
        self.pipeline = StandardizePipeline(
            self,
            "Standardize",
            cfg=cfg,
            env_name=env_name,
            logs=logs,
            quota_retry=quota_retry,
            bucket=bucket,
            alerts=shared.alerts,
        )
        handler = self.node.try_find_child(NOTIFICATIONS_HANDLER)
        if handler is not None:
            acknowledge(
                handler,
                findings=r"Policy::.*/AWSLambdaBasicExecutionRole",
                IAM4="CDK's bucket-notifications custom resource uses AWSLambdaBasicExecutionRole for its "
                "own logs; it runs only during deployments.",
            )
        CfnOutput(self, "StateMachineArn", value=self.pipeline.state_machine.state_machine_arn)
        CfnOutput(self, "TriggerFailureQueueUrl", value=self.pipeline.dead_letters.queue_url)
