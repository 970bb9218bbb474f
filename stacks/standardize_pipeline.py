"""The standardize pipeline: S3 notification -> trigger -> state machine -> SageMaker Processing."""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from constructs import Construct

from stacks.alerts import Alerts
from stacks.asl import intrinsic_string, json_string, quota_wait_substitutions
from stacks.config import ECR_IMAGE_URI, EnvConfig, QuotaRetryConfig, StandardizeConfig
from stacks.data_bucket import grant_prefix
from stacks.nag import acknowledge, objects_under
from stacks.paths import LAMBDAS, PROCESSING
from stacks.pipeline_state_machine import PipelineStateMachine, grant_sagemaker_logs
from stacks.principals import service_for_this_account
from stacks.python_function import PythonFunction

ASL_NAME = "standardize"
#: The processing program, a package; its container paths are constants of ``contract.py``.
PROCESSING_PROGRAM = PROCESSING / "standardize"
PROCESSING_SCRIPT = PROCESSING_PROGRAM / "contract.py"


@dataclass(frozen=True)
class ContainerContract:
    """Where the processing script lives in its image and which directories it reads and writes."""

    program_path: str
    input_dir: str
    output_dir: str


def _module_constants(path: Path, names: set[str]) -> dict[str, str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if (
                    isinstance(target, ast.Name)
                    and target.id in names
                    and isinstance(node.value, ast.Constant)
                ):
                    found[target.id] = str(node.value.value)
    missing = names - set(found)
    if missing:
        raise ValueError(f"{path.name} does not define {sorted(missing)} as string constants")
    return found


@cache
def container_contract(script: Path = PROCESSING_SCRIPT) -> ContainerContract:
    """The contract read from the processing script's own constants (never copied by hand)."""
    c = _module_constants(script, {"PROGRAM_PATH", "CONTAINER_INPUT_DIR", "CONTAINER_OUTPUT_DIR"})
    return ContainerContract(c["PROGRAM_PATH"], c["CONTAINER_INPUT_DIR"], c["CONTAINER_OUTPUT_DIR"])


def standardize_substitutions(
    cfg: StandardizeConfig,
    *,
    quota_retry: QuotaRetryConfig,
    partition: str,
    bucket_name: str,
    get_batch_id_arn: str,
    processing_role_arn: str,
    image_uri: str,
) -> dict[str, str]:
    """Every ``${X}`` of ``standardize.asl.json``; the stack and the offline runner both use this."""
    contract = container_contract()
    return {
        "Partition": partition,
        "BucketName": bucket_name,
        "GetBatchIdFunctionArn": get_batch_id_arn,
        "ProcessingRoleArn": processing_role_arn,
        "ProcessingImageUri": image_uri,
        "ProgramPath": json_string(contract.program_path),
        "ContainerInputDir": json_string(contract.input_dir),
        "ContainerOutputDir": json_string(contract.output_dir),
        "OutputPrefix": intrinsic_string(cfg.output_prefix),
        "InstanceType": json_string(cfg.instance_type),
        "InstanceCount": str(cfg.instance_count),
        "VolumeSizeGb": str(cfg.volume_size_gb),
        "MaxRuntimeSeconds": str(cfg.max_runtime_seconds),
        "ExcludeColumns": json_string(json.dumps(list(cfg.exclude_columns))),
        "IncludeColumns": json_string(json.dumps(list(cfg.include_columns))),
        **quota_wait_substitutions(quota_retry),
    }


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
        env: EnvConfig,
        bucket: s3.IBucket,
        alerts: Alerts,
    ) -> None:
        super().__init__(scope, construct_id)
        cfg = env.standardize
        stack = Stack.of(self)

        self.get_batch_id = PythonFunction(
            self,
            "GetBatchId",
            source=LAMBDAS / "get_batch_id",
            description="Extracts the batch id N from meta-data/<name>_<N>.csv",
            log_retention_days=env.logs.retention_days,
            environment={"JOB_NAME_PREFIX": cfg.job_name_prefix},
            timeout_seconds=10,
        )

        self.processing_role = self._processing_role(bucket, cfg, env.logs.retention_days)
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
            quota_retry=env.quota_retry,
            partition=stack.partition,
            bucket_name=bucket.bucket_name,
            get_batch_id_arn=self.get_batch_id.function.function_arn,
            processing_role_arn=self.processing_role.role_arn,
            image_uri=image_uri,
        )
        name = f"{env.name} standardize"
        self.state_machine = self.states.create(
            ASL_NAME, substitutions, alerts=alerts, label=name, log_settings=env.logs
        )
        acknowledge(
            state_machine_role,
            findings=rf"Resource::(\*|<.*GetBatchId.*\.Arn>:\*|arn:[-a-z]+:sagemaker:.*:processing-job/"
            rf"{re.escape(cfg.job_name_prefix)}-\*)",
            IAM5="Resource '*' only where AWS requires it: CloudWatch Logs delivery actions "
            "(logs:CreateLogDelivery and friends) and X-Ray PutTraceSegments/PutTelemetryRecords/"
            "GetSamplingRules/GetSamplingTargets have no resource-level permissions. Processing jobs "
            "are scoped to this app's job-name prefix and get-batch-id invocations to its versions ('fn:*').",
        )

        self.dead_letters = alerts.failure_queue(
            self, "TriggerFailures", holds=f"{name}: S3 events that the trigger could not hand over"
        )
        self.trigger = PythonFunction(
            self,
            "Trigger",
            source=LAMBDAS / "trigger",
            description="Starts one standardize execution per uploaded meta-data CSV",
            log_retention_days=env.logs.retention_days,
            environment={"STATE_MACHINE_ARN": self.state_machine.state_machine_arn},
            on_failure=destinations.SqsDestination(self.dead_letters),
            retry_attempts=2,
            max_event_age=Duration.hours(6),
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
            findings=rf"Resource::\*|{objects_under(cfg.input_prefix, cfg.output_prefix)}|{logs}",
            IAM5=f"Objects are only known at run time, so S3 access is scoped to the {cfg.input_prefix} "
            f"(read) and {cfg.output_prefix} (write) prefixes; SageMaker names log streams per job under "
            "the /aws/sagemaker/ProcessingJobs log group; ecr:GetAuthorizationToken supports only "
            "Resource '*'.",
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
