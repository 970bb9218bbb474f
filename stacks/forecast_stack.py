"""The forecast pipeline of one environment: network, Glue ETL, and the DeepAR state machine."""

from __future__ import annotations

from typing import Any

from aws_cdk import Annotations, CfnOutput, Fn, Stack
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from config import ForecastConfig, LogsConfig, QuotaRetryConfig, domain_for
from contracts.database_tls import TLS_DISABLED, tls_disabled_warning, tls_required
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
        cfg: ForecastConfig,
        env_name: str,
        bucket_name: str,
        logs: LogsConfig,
        quota_retry: QuotaRetryConfig,
        shared: SharedStack,
        secret: secretsmanager.ISecret,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self._azs = list(cfg.network.availability_zones) or [Fn.select(i, Fn.get_azs()) for i in range(2)]
        self.add_stack_dependency(
            shared, "the data bucket, alerts topic and database secret live in the shared stack"
        )
        if not tls_required(cfg.database):
            Annotations.of(self).add_warning_v2(TLS_DISABLED, tls_disabled_warning(cfg.database))
        bucket = s3.Bucket.from_bucket_name(self, "DataBucket", bucket_name)
        self.network = ForecastNetwork(
            self,
            "Network",
            cfg=cfg.network,
            log_retention_days=logs.retention_days,
            database_port=cfg.database.port,
        )
        self.etl = GlueEtl(
            self,
            "Etl",
            cfg=cfg,
            env_name=env_name,
            logs_principal=f"logs.{self.region}.{domain_for(self.region)}",
            log_retention_days=logs.retention_days,
            bucket=bucket,
            secret=secret,
            network=self.network,
        )
        self.pipeline = ForecastPipeline(
            self,
            "Forecast",
            cfg=cfg,
            env_name=env_name,
            region=self.region,
            logs=logs,
            quota_retry=quota_retry,
            bucket=bucket,
            secret=secret,
            network=self.network,
            alerts=shared.alerts,
            etl_job_name=self.etl.job_name,
        )
        self.network.admit_s3([bucket_name, self.etl.assets_bucket_name])
        CfnOutput(self, "StateMachineArn", value=self.pipeline.state_machine.state_machine_arn)
        CfnOutput(self, "EtlJobName", value=self.etl.job_name)
        CfnOutput(self, "EtlWorkflowName", value=self.etl.workflow.ref)

    @property
    def availability_zones(self) -> list[str]:
        """An imported VPC's configured AZs, else the region's first two (``Fn::GetAZs``): no lookup."""
        return self._azs
