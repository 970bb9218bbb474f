"""The stateful, shared stack of an environment: the data bucket and the alerts topic."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.alerts import Alerts
from stacks.config import EnvConfig
from stacks.data_bucket import DataBucket


class SharedStack(Stack):
    """Holds what a pipeline redeploy must never destroy (the bucket is also retained on delete)."""

    def __init__(self, scope: Construct, construct_id: str, *, env_config: EnvConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.data = DataBucket(self, "Data", bucket_name=env_config.data_bucket_name)
        self.alerts = Alerts(self, "Alerts", email=env_config.alert_email)
        CfnOutput(self, "DataBucketName", value=self.data.bucket.bucket_name)
        CfnOutput(self, "AlertsTopicArn", value=self.alerts.topic.topic_arn)
