"""The forecast pipeline: Glue SUCCEEDED event -> state machine -> DeepAR -> forecast in MySQL."""

from __future__ import annotations

import re
from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from config import ForecastConfig, LogsConfig, QuotaRetryConfig
from config.paths import LAMBDAS
from contracts.database_tls import LAMBDA_CA_FILE, tls_required
from contracts.environments import generate_dataset_environment, write_forecast_environment
from contracts.events import (
    CRAWL_FAILED,
    FAILED,
    SUCCEEDED,
    glue_crawler_state_pattern,
    glue_job_state_pattern,
)
from contracts.names import crawler_name, secret_reader_role_name
from contracts.substitutions import forecast_substitutions
from contracts.timeouts import WRITE_FORECAST_TIMEOUT_SECONDS, forecast_task_timeouts
from forecast_metrics import METRICS_DIMENSION, METRICS_NAMESPACE, SERIES_ON_MODEL
from stacks.alerts import Alerts
from stacks.forecast_network import ForecastNetwork
from stacks.iam_grants import grant_prefix, grant_sagemaker_logs, grant_secret_read, service_for_this_account
from stacks.nag import acknowledge, objects_under
from stacks.pipeline_state_machine import PipelineStateMachine
from stacks.python_function import PythonFunction

ASL_NAME = "forecast"


def _ca_file(cfg: ForecastConfig) -> dict[str, Path]:
    """The configured CA bundle, shipped as :data:`LAMBDA_CA_FILE`; none without TLS or a bundle."""
    path = cfg.database.ca_bundle_path
    return {LAMBDA_CA_FILE: path} if path and tls_required(cfg.database) else {}


class ForecastPipeline(Construct):
    """Lambdas, SageMaker role, state machine, EventBridge rules and alarms of the forecast."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cfg: ForecastConfig,
        env_name: str,
        region: str,
        logs: LogsConfig,
        quota_retry: QuotaRetryConfig,
        bucket: s3.IBucket,
        secret: secretsmanager.ISecret,
        network: ForecastNetwork,
        alerts: Alerts,
        etl_job_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        work = f"{cfg.work_prefix}*"

        self.generate_dataset = PythonFunction(
            self,
            "GenerateDataset",
            source=LAMBDAS / "generate_dataset",
            description="Turns the ETL run's CSV into DeepAR train and test JSON Lines",
            log_retention_days=logs.retention_days,
            environment=generate_dataset_environment(cfg, bucket.bucket_name),
            memory_size=cfg.generate_dataset.memory_mb,  # InputTooLarge is held against it
            timeout_seconds=cfg.generate_dataset.timeout_seconds,
        )
        grant_prefix(
            self.generate_dataset.role,
            bucket,
            cfg.etl_table_prefix,
            ["s3:GetObject"],
            sid="ReadEtlOutput",
            list_sid="ListEtlOutput",
        )
        self.generate_dataset.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteDatasets",
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],  # a failed managed upload is aborted
                resources=[bucket.arn_for_objects(work)],
            )
        )

        self.write_forecast = PythonFunction(
            self,
            "WriteForecast",
            source=LAMBDAS / "write_forecast",
            description="Writes each series' forecast, DeepAR's or seasonal naive's, to MySQL",
            log_retention_days=logs.retention_days,
            environment=write_forecast_environment(cfg, secret.secret_arn, env_name),
            extra_files=_ca_file(cfg),
            memory_size=512,
            timeout_seconds=WRITE_FORECAST_TIMEOUT_SECONDS,
            role_name=secret_reader_role_name(env_name, "write-forecast"),  # the secret's key names it
            # One MySQL connection an invocation: the gate and the write hold at most this many; a
            # throttled task is retried by the state machine (Lambda.TooManyRequestsException).
            reserved_concurrent_executions=cfg.database.max_connections,
            vpc=network.vpc,
            subnets=network.subnets,
            security_groups=[network.database_clients],
        )
        grant_secret_read(self.write_forecast.role, secret)
        self.write_forecast.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadForecast", actions=["s3:GetObject"], resources=[bucket.arn_for_objects(work)]
            )
        )
        # Without s3:ListBucket, S3 answers a missing key with AccessDenied, not NoSuchKey, and
        # MalformedForecast could never name the missing file (S3 API Reference, GetObject). S3's
        # check carries no s3:prefix; a listing that names a prefix stays in the work prefix.
        self.write_forecast.role.add_to_policy(
            iam.PolicyStatement(
                sid="TellMissingForecast",
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLikeIfExists": {"s3:prefix": [work]}},
            )
        )

        self.sagemaker_role = iam.Role(
            self,
            "SageMakerRole",
            assumed_by=service_for_this_account(self, "sagemaker.amazonaws.com"),
            description="Forecast DeepAR training, model and transform: the forecast work prefix only",
        )
        grant_prefix(
            self.sagemaker_role,
            bucket,
            cfg.work_prefix,
            ["s3:GetObject", "s3:PutObject"],
            sid="RunFiles",
            list_sid="ListRunFiles",
        )
        log_findings = grant_sagemaker_logs(
            self.sagemaker_role, "TrainingJobs", "TransformJobs", retention_days=logs.retention_days
        )

        self.states = PipelineStateMachine(
            self,
            "States",
            role_description="Forecast state machine: its two functions, its SageMaker jobs, alerts",
        )
        role = self.states.role
        self.generate_dataset.function.grant_invoke(role)
        self.write_forecast.function.grant_invoke(role)
        prefix = cfg.name_prefix
        self.states.allow_sagemaker(
            kinds=["training-job", "model", "transform-job"],
            name_prefix=prefix,
            passed_role=self.sagemaker_role,
        )
        alerts.topic.grant_publish(role)
        substitutions = forecast_substitutions(
            cfg.deepar,
            quota_retry=quota_retry,
            region=region,
            partition=stack.partition,
            generate_dataset_arn=self.generate_dataset.function.function_arn,
            write_forecast_arn=self.write_forecast.function.function_arn,
            sagemaker_role_arn=self.sagemaker_role.role_arn,
            alerts_topic_arn=alerts.topic.topic_arn,
        )
        name = f"{env_name} forecast"
        self.state_machine = self.states.create(
            ASL_NAME,
            substitutions,
            alerts=alerts,
            label=name,
            log_settings=logs,
            task_timeouts=forecast_task_timeouts(cfg),
            quota_retry=quota_retry,
        )

        # write-forecast publishes SeriesOnModel for every written run (embedded metric format);
        # a run in which the model won no series is written from the baseline, and alerts.
        self.model_won_no_series = alerts.alarm_on(
            self,
            "ModelWonNoSeries",
            cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=SERIES_ON_MODEL,
                dimensions_map={METRICS_DIMENSION: env_name},
            ),
            f"{name}: the model won no series; every series was written from the seasonal-naive baseline",
            statistic="Minimum",
            period_minutes=60,
            below_one=True,
        )

        self.dead_letters = alerts.failure_queue(
            self, "StartFailures", holds=f"{name}: Glue success events that could not start the forecast"
        )
        self.success_pattern = glue_job_state_pattern(etl_job_name, SUCCEEDED)
        self.failure_pattern = glue_job_state_pattern(etl_job_name, FAILED)
        events.Rule(
            self,
            "OnEtlSucceeded",
            description=f"Starts the forecast when {etl_job_name} succeeds",
            event_pattern=_pattern(self.success_pattern),
            targets=[
                targets.SfnStateMachine(
                    self.state_machine,
                    role=iam.Role(
                        self,
                        "StartRole",
                        assumed_by=service_for_this_account(self, "events.amazonaws.com"),
                        description="EventBridge: starts the forecast state machine on Glue job success",
                    ),
                    input=events.RuleTargetInput.from_event_path("$"),
                    dead_letter_queue=self.dead_letters,
                    retry_attempts=5,
                    max_event_age=Duration.hours(6),
                )
            ],
        )
        self.alert_dead_letters = alerts.failure_queue(
            self, "AlertFailures", holds=f"{name}: Glue job and crawler failure events that could not alert"
        )

        # EventBridge publishes through this role, not as its service principal: a KMS key policy
        # cannot condition the events principal (no aws:SourceAccount there), a trust policy can.
        self.alert_role = iam.Role(
            self,
            "AlertRole",
            assumed_by=service_for_this_account(self, "events.amazonaws.com"),
            description="EventBridge: publishes Glue job and crawler failures to the alerts topic",
        )

        def alert(construct_id: str, description: str, pattern: dict[str, object]) -> None:
            target = targets.SnsTopic(
                alerts.topic,
                role=self.alert_role,
                dead_letter_queue=self.alert_dead_letters,
                retry_attempts=5,
                max_event_age=Duration.hours(6),
            )
            events.Rule(
                self, construct_id, description=description, event_pattern=_pattern(pattern), targets=[target]
            )

        alert(
            "OnEtlFailed", f"Alerts when {etl_job_name} fails, times out or is stopped", self.failure_pattern
        )
        self.crawl_failure_pattern = glue_crawler_state_pattern(crawler_name(env_name), CRAWL_FAILED)
        alert(
            "OnCrawlFailed",
            f"Alerts when the crawler {crawler_name(env_name)} fails (the day's job then does not run)",
            self.crawl_failure_pattern,
        )

        # cdk-nag: each finding family this construct accepts, with its reason.
        acknowledge(
            self.write_forecast.role,
            findings=objects_under(cfg.work_prefix),
            IAM5="It reads the run's files under the forecast work prefix only.",
        )
        acknowledge(
            self.generate_dataset.role,
            findings=objects_under(cfg.etl_table_prefix, cfg.work_prefix),
            IAM5="Run files are only known at run time: it reads the ETL prefix of its source table and "
            "writes the forecast work prefix, nothing else of the bucket.",
        )
        acknowledge(
            self.sagemaker_role,
            findings=f"{objects_under(cfg.work_prefix)}|{log_findings}",
            IAM5="Run files are only known at run time, so access is scoped to the forecast work prefix; "
            "SageMaker names log streams per job under its own log groups.",
        )
        acknowledge(
            role,
            findings=r"Resource::\*",
            IAM5="CloudWatch Logs delivery (logs:CreateLogDelivery and friends) and X-Ray actions have no "
            "resource-level permissions, so AWS requires Resource '*' for them.",
        )
        acknowledge(
            role,
            findings=r"Resource::<.*(GenerateDataset|WriteForecast).*\.Arn>:\*",
            IAM5="Invocations are of the pipeline's two functions only, any of their versions (':*').",
        )
        acknowledge(
            role,
            findings=r"Resource::arn:[-a-z]+:sagemaker:.*:(training-job|model|transform-job)/"
            + re.escape(prefix)
            + r"-\*",
            IAM5="Jobs and models are named at run time, under this pipeline's name prefix only.",
        )
        acknowledge(
            role,
            findings=r"Action::kms:GenerateDataKey\*",
            IAM5="Publishing to the encrypted alerts topic needs kms:GenerateDataKey* on its key only, "
            "which CDK grants with sns:Publish.",
        )
        acknowledge(
            self.alert_role,
            findings=r"Action::kms:GenerateDataKey\*",
            IAM5="Publishing to the encrypted alerts topic needs kms:GenerateDataKey* on its key (and only "
            "that key), which CDK grants with sns:Publish on the topic.",
        )


def _pattern(data: dict[str, object]) -> events.EventPattern:
    return events.EventPattern(
        source=data["source"],  # type: ignore[arg-type]
        detail_type=data["detail-type"],  # type: ignore[arg-type]
        detail=data["detail"],  # type: ignore[arg-type]
    )
