"""The standardize pipeline: S3 notification -> trigger -> state machine -> SageMaker Processing."""

from __future__ import annotations

import re

from aws_cdk import Duration, Stack
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from constructs import Construct

from config import ECR_IMAGE_URI, LogsConfig, QuotaRetryConfig, StandardizeConfig
from config.paths import LAMBDAS, PROCESSING
from contracts.environments import get_batch_id_environment, trigger_environment
from contracts.substitutions import standardize_substitutions
from contracts.timeouts import GET_BATCH_ID_TIMEOUT_SECONDS, standardize_task_timeouts
from stacks.alerts import Alerts
from stacks.iam_grants import grant_prefix, grant_sagemaker_logs, service_for_this_account
from stacks.nag import acknowledge, objects_under
from stacks.pipeline_state_machine import PipelineStateMachine
from stacks.python_function import PythonFunction

ASL_NAME = "standardize"
#: The processing program, a package; its container paths are constants of ``contract.py``.


def ecr_repository_arn(image_uri: str, partition: str) -> str:
    """The ECR repository ARN of an image URI such as ``<acct>.dkr.ecr.<region>.<domain>/<repo>:<tag>``."""
    match = ECR_IMAGE_URI.fullmatch(image_uri)
    if not match:
        raise ValueError(f"{image_uri!r} is not an ECR image URI")
    return f"arn:{partition}:ecr:{match['region']}:{match['account']}:repository/{match['repo']}"


class StandardizePipeline(Construct):
    """Trigger Lambda, get-batch-id Lambda, state machine, processing role and their alarms.

    ``bucket`` must be owned by another stack; the notification is added to it from here.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cfg: StandardizeConfig,
        env_name: str,
        logs: LogsConfig,
        quota_retry: QuotaRetryConfig,
        bucket: s3.IBucket,
        alerts: Alerts,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        self.get_batch_id = PythonFunction(
            self,
            "GetBatchId",
            source=LAMBDAS / "get_batch_id",
            description="Extracts the batch id N from meta-data/<name>_<N>.csv",
            log_retention_days=logs.retention_days,
            environment=get_batch_id_environment(cfg),
            timeout_seconds=GET_BATCH_ID_TIMEOUT_SECONDS,
        )

        self.processing_role = self._processing_role(bucket, cfg, logs.retention_days)
        image_uri = self._image_uri(cfg)

        self.states = PipelineStateMachine(
            self,
            "States",
            role_description="Standardize state machine: get-batch-id, its processing jobs, and nothing else",
        )
        state_machine_role = self.states.role
        self.get_batch_id.function.grant_invoke(state_machine_role)
        self.states.allow_sagemaker(
            kinds=["processing-job"], name_prefix=cfg.job_name_prefix, passed_role=self.processing_role
        )
        substitutions = standardize_substitutions(
            cfg,
            quota_retry=quota_retry,
            partition=stack.partition,
            bucket_name=bucket.bucket_name,
            get_batch_id_arn=self.get_batch_id.function.function_arn,
            processing_role_arn=self.processing_role.role_arn,
            image_uri=image_uri,
        )
        name = f"{env_name} standardize"
        self.state_machine = self.states.create(
            ASL_NAME,
            substitutions,
            alerts=alerts,
            label=name,
            log_settings=logs,
            task_timeouts=standardize_task_timeouts(cfg),
            quota_retry=quota_retry,
        )

        self.dead_letters = alerts.failure_queue(
            self, "TriggerFailures", holds=f"{name}: S3 events that the trigger could not hand over"
        )
        self.trigger = PythonFunction(
            self,
            "Trigger",
            source=LAMBDAS / "trigger",
            description="Starts one standardize execution per uploaded meta-data CSV",
            log_retention_days=logs.retention_days,
            environment=trigger_environment(self.state_machine.state_machine_arn),
            on_failure=destinations.SqsDestination(self.dead_letters),
            retry_attempts=2,
            max_event_age=Duration.hours(6),
            # A burst past this waits in Lambda's asynchronous queue (throttled events are retried
            # for max_event_age), then goes to the failure queue: nothing is lost.
            reserved_concurrent_executions=cfg.trigger_concurrency,
        )
        self.state_machine.grant_start_execution(self.trigger.function)
        bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.LambdaDestination(self.trigger.function),
            s3.NotificationKeyFilter(prefix=cfg.input_prefix, suffix=cfg.input_suffix),
        )

        alerts.alarm_on(
            self, "TriggerErrors", self.trigger.function.metric_errors(), f"{name}: trigger errors"
        )

        # cdk-nag: each finding family this construct accepts, with its reason.
        acknowledge(
            state_machine_role,
            findings=r"Resource::\*",
            IAM5="CloudWatch Logs delivery (logs:CreateLogDelivery and friends) and X-Ray "
            "PutTraceSegments/PutTelemetryRecords/GetSamplingRules/GetSamplingTargets have no "
            "resource-level permissions, so AWS requires Resource '*' for them.",
        )
        acknowledge(
            state_machine_role,
            findings=r"Resource::<.*GetBatchId.*\.Arn>:\*",
            IAM5="Invocations are of get-batch-id only, any of its versions (':*').",
        )
        acknowledge(
            state_machine_role,
            findings=rf"Resource::arn:[-a-z]+:sagemaker:.*:processing-job/{re.escape(cfg.job_name_prefix)}-\*",
            IAM5="Processing jobs are named at run time, under this app's job-name prefix only.",
        )

    def _processing_role(self, bucket: s3.IBucket, cfg: StandardizeConfig, retention_days: int) -> iam.Role:
        role = iam.Role(
            self,
            "ProcessingRole",
            assumed_by=service_for_this_account(self, "sagemaker.amazonaws.com"),
            description="Standardize processing jobs: read meta-data/, write prediction-data/, own logs",
        )
        grant_prefix(
            role, bucket, cfg.input_prefix, ["s3:GetObject"], sid="ReadPartitions", list_sid="ListPartitions"
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteResults",
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[bucket.arn_for_objects(f"{cfg.output_prefix}*")],
            )
        )
        logs = grant_sagemaker_logs(role, "ProcessingJobs", retention_days=retention_days)
        acknowledge(
            role,
            findings=objects_under(cfg.input_prefix, cfg.output_prefix),
            IAM5=f"Objects are only known at run time, so S3 access is scoped to the {cfg.input_prefix} "
            f"(read) and {cfg.output_prefix} (write) prefixes.",
        )
        acknowledge(
            role, findings=logs, IAM5="SageMaker names log streams per job in /aws/sagemaker/ProcessingJobs."
        )
        acknowledge(
            role, findings=r"Resource::\*", IAM5="ecr:GetAuthorizationToken supports only Resource '*'."
        )
        return role

    def _image_uri(self, cfg: StandardizeConfig) -> str:
        if cfg.image_uri:
            repo_arn = ecr_repository_arn(cfg.image_uri, Stack.of(self).partition)
            self.processing_role.add_to_policy(
                iam.PolicyStatement(
                    sid="PullImage",
                    actions=[
                        "ecr:BatchCheckLayerAvailability",
                        "ecr:GetDownloadUrlForLayer",
                        "ecr:BatchGetImage",
                    ],
                    resources=[repo_arn],
                )
            )
            self.processing_role.add_to_policy(
                iam.PolicyStatement(sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"])
            )
            return cfg.image_uri
        asset = ecr_assets.DockerImageAsset(
            self,
            "ProcessingImage",
            directory=str(PROCESSING),
            platform=ecr_assets.Platform.LINUX_AMD64,
        )
        asset.repository.grant_pull(self.processing_role)
        return asset.image_uri
