"""A pipeline's state machine: ASL file, own role, logs, X-Ray, SageMaker grants and alarms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from config import LogsConfig, QuotaRetryConfig
from stacks.alerts import Alerts
from stacks.asl import note_partition_for_cfn_lint, state_machine_definition
from stacks.iam_grants import service_for_this_account
from stacks.log_groups import retention
from stacks.nag import acknowledge

#: What a ``.sync`` task needs on each kind of SageMaker resource; the key is the ARN resource type.
#: ``ListTags`` is in Step Functions' documented policies for the SageMaker integrations
#: (Developer Guide, "IAM policies for calling Amazon SageMaker AI"), scoped here to the job.
SAGEMAKER_ACTIONS: Mapping[str, tuple[str, ...]] = {
    "processing-job": (
        "CreateProcessingJob",
        "DescribeProcessingJob",
        "StopProcessingJob",
        "AddTags",
        "ListTags",
    ),
    "training-job": ("CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob", "AddTags", "ListTags"),
    "model": ("CreateModel", "AddTags"),
    "transform-job": (
        "CreateTransformJob",
        "DescribeTransformJob",
        "StopTransformJob",
        "AddTags",
        "ListTags",
    ),
}
#: The managed EventBridge rule through which ``.sync`` learns that a job of that kind finished.
SYNC_RULES: Mapping[str, str] = {
    "processing-job": "StepFunctionsGetEventsForSageMakerProcessingJobsRule",
    "training-job": "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
    "transform-job": "StepFunctionsGetEventsForSageMakerTransformJobsRule",
}


class PipelineStateMachine(Construct):
    """``role`` first (grant to it), then :meth:`create` the STANDARD state machine.

    The state machine logs to its own log group (retention, level and execution data from the
    environment's ``logs`` settings; by default everything, for 90 days), traces with X-Ray,
    and raises alarms on failed, timed-out and aborted executions.
    """

    def __init__(self, scope: Construct, construct_id: str, *, role_description: str) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=service_for_this_account(self, "states.amazonaws.com"),
            description=role_description,
        )

    def allow_sagemaker(self, *, kinds: Sequence[str], name_prefix: str, passed_role: iam.IRole) -> None:
        """Create/describe/stop/tag SageMaker ``kinds`` named ``<name_prefix>-*``, pass ``passed_role``
        to SageMaker only, and use the ``.sync`` rules of those kinds."""
        stack = Stack.of(self)
        for kind in kinds:
            self.role.add_to_policy(
                iam.PolicyStatement(
                    actions=[f"sagemaker:{action}" for action in SAGEMAKER_ACTIONS[kind]],
                    resources=[
                        stack.format_arn(service="sagemaker", resource=kind, resource_name=f"{name_prefix}-*")
                    ],
                )
            )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="PassSageMakerRole",
                actions=["iam:PassRole"],
                resources=[passed_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        rules = [SYNC_RULES[kind] for kind in kinds if kind in SYNC_RULES]
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="SyncEventsRules",
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[
                    stack.format_arn(service="events", resource="rule", resource_name=r) for r in rules
                ],
            )
        )

    def create(
        self,
        asl_name: str,
        substitutions: Mapping[str, str],
        *,
        alerts: Alerts,
        label: str,
        log_settings: LogsConfig,
        task_timeouts: Mapping[str, int],
        quota_retry: QuotaRetryConfig,
    ) -> sfn.StateMachine:
        """The state machine of ``statemachines/<asl_name>.asl.json``, with its alarms; it logs as
        the environment's ``log_settings`` say, and each Task and the execution are bounded in time
        (``task_timeouts`` and the quota waits, see contracts/timeouts.py)."""
        stack = Stack.of(self)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=retention(log_settings.retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        definition, deferred = state_machine_definition(
            asl_name, substitutions, task_timeouts=task_timeouts, quota_retry=quota_retry
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=definition,
            definition_substitutions=deferred,
            role=self.role,
            state_machine_type=sfn.StateMachineType.STANDARD,
            logs=sfn.LogOptions(
                destination=self.log_group,
                level=getattr(sfn.LogLevel, log_settings.state_machine_level),
                include_execution_data=log_settings.include_execution_data,
            ),
            tracing_enabled=True,
        )
        note_partition_for_cfn_lint(self.state_machine, stack.partition)
        if log_settings.state_machine_level != "ALL":
            acknowledge(
                self.state_machine,
                SF1=f"The environment's logs.stateMachineLevel is {log_settings.state_machine_level}: "
                "an explicit choice in cdk.json; failed executions still raise alarms.",
            )
        sm = self.state_machine
        alerts.alarm_on(self, "ExecutionsFailed", sm.metric_failed(), f"{label}: executions failed")
        alerts.alarm_on(self, "ExecutionsTimedOut", sm.metric_timed_out(), f"{label}: executions timed out")
        alerts.alarm_on(self, "ExecutionsAborted", sm.metric_aborted(), f"{label}: executions aborted")
        return sm
