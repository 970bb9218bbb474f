"""The forecast pipeline of one environment: network, Glue ETL, and the DeepAR state machine."""

from __future__ import annotations

from typing import Any

from aws_cdk import Annotations, CfnOutput, Fn, Stack
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.config import EnvConfig
from stacks.database_tls import TLS_DISABLED, tls_disabled_warning, tls_required
from stacks.forecast_etl import GlueEtl
from stacks.forecast_network import ForecastNetwork
from stacks.forecast_pipeline import ForecastPipeline
from stacks.shared_stack import SharedStack


class ForecastStack(Stack):
    """Composes the forecast units and imports the shared bucket by its configured name."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_config: EnvConfig,
        shared: SharedStack,
        **kwargs: Any,
    ) -> None:
        assert env_config.forecast is not None
        network = env_config.forecast.network
        super().__init__(scope, construct_id, **kwargs)
        self._azs = list(network.availability_zones) or [Fn.select(i, Fn.get_azs()) for i in range(2)]
        assert shared.database_secret is not None
        self.add_stack_dependency(
            shared, "the data bucket, alerts topic and database secret live in the shared stack"
        )
        database = env_config.forecast.database
        if not tls_required(database):
            Annotations.of(self).add_warning_v2(TLS_DISABLED, tls_disabled_warning(database))
        bucket = s3.Bucket.from_bucket_name(self, "DataBucket", env_config.data_bucket_name)
        self.network = ForecastNetwork(
            self,
            "Network",
            cfg=env_config.forecast.network,
            log_retention_days=env_config.logs.retention_days,
        )
        self.etl = GlueEtl(
            self, "Etl", env=env_config, bucket=bucket, secret=shared.database_secret, network=self.network
        )
        self.pipeline = ForecastPipeline(
            self,
            "Forecast",
            env=env_config,
            bucket=bucket,
            secret=shared.database_secret,
            network=self.network,
            alerts=shared.alerts,
            etl_job_name=self.etl.job_name,
        )
        CfnOutput(self, "StateMachineArn", value=self.pipeline.state_machine.state_machine_arn)
        CfnOutput(self, "EtlJobName", value=self.etl.job_name)
        CfnOutput(self, "EtlWorkflowName", value=self.etl.workflow.ref)

    @property
    def availability_zones(self) -> list[str]:
        """An imported VPC's configured AZs, else the region's first two (``Fn::GetAZs``): no lookup."""
        return self._azs
