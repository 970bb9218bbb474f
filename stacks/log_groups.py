"""Log retention, from the environment's ``logs.retentionDays``, for every log group the app writes to.

* Groups a stack owns (each function's, each state machine's, the flow logs', the Glue job's) are
  ``logs.LogGroup`` resources with that retention, deleted with the stack.
* Groups an AWS service creates on first use (SageMaker's account-wide ``/aws/sagemaker/<kind>``,
  the Glue crawler's) are never stack resources: :class:`ServiceLogGroups` has CDK's
  ``LogRetention`` custom resource create each one if it is missing and set its retention,
  idempotently. An account-wide group is kept when the stack is deleted, because another app of
  the account and region may write to it; an app-specific one goes with the stack.
* CDK's own handler functions (bucket notifications, custom resource providers, the log retention
  function) would write to ``/aws/lambda/<name>``, created on first use without a retention:
  :func:`route_handler_logs` gives each one a stack-owned group instead.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from aws_cdk import ArnFormat, CfnResource, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from config import LOG_RETENTION_DAYS
from stacks.nag import acknowledge

#: ``logs.RetentionDays`` of each retention CloudWatch Logs accepts.
_RETENTION: Mapping[int, str] = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    120: "FOUR_MONTHS",
    150: "FIVE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS",
    731: "TWO_YEARS",
    1096: "THREE_YEARS",
    1827: "FIVE_YEARS",
    2192: "SIX_YEARS",
    2557: "SEVEN_YEARS",
    2922: "EIGHT_YEARS",
    3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}
assert tuple(_RETENTION) == LOG_RETENTION_DAYS, "one RetentionDays per retention CloudWatch Logs accepts"

#: The construct id CDK gives the singleton function behind every ``LogRetention`` of a stack.
LOG_RETENTION_FUNCTION = "LogRetentionaae0aa3c5b4d4f87b02d85b201efdd8a"
#: The id of the stack-owned log group :func:`route_handler_logs` adds next to a handler function.
HANDLER_LOGS = "HandlerLogs"


def retention(days: int) -> logs.RetentionDays:
    """The ``logs.RetentionDays`` of ``days`` (one of :data:`config.LOG_RETENTION_DAYS`)."""
    return getattr(logs.RetentionDays, _RETENTION[days])


def log_group_arns(scope: Construct, name: str) -> list[str]:
    """The ARNs IAM matches for log group ``name``: the group itself and its streams (``:*``)."""
    arn = Stack.of(scope).format_arn(
        service="logs", resource="log-group", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
    )
    return [arn, f"{arn}:*"]


class ServiceLogGroups(Construct):
    """The retention of a stack's log groups that AWS services create on first use.

    One per stack (:meth:`of`); :meth:`add` sets the retention of one group. CDK's log retention
    function runs with a role of this construct that may create, and set the retention of, exactly
    these groups (and delete the app's own ones): CDK's ``LogRetention`` gets that role as an
    immutable reference, so the ``logs:PutRetentionPolicy`` on ``'*'`` it would add is dropped.
    The function logs to a stack-owned group; its handler still creates an empty
    ``/aws/lambda/<its name>`` on every Create and gives it one day.
    """

    def __init__(self, scope: Construct, construct_id: str, *, days: int) -> None:
        super().__init__(scope, construct_id)
        self.days = days
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="CDK log retention function: creates this stack's service log groups, sets retention",
        )
        self._provider_role = iam.Role.from_role_arn(self, "ProviderRole", self.role.role_arn, mutable=False)
        acknowledge(
            self.role,
            findings=r"Resource::arn:[-a-z]+:logs:[^:]+:[^:]+:log-group:.+:\*",
            IAM5="It may create, set the retention of and (the app's own groups only) delete the named "
            "log groups only; CloudWatch Logs' IAM ARN of a log group ends in ':*' (its streams).",
        )

    @classmethod
    def of(cls, scope: Construct, *, days: int) -> ServiceLogGroups:
        """The stack's instance, created on first use."""
        stack = Stack.of(scope)
        found = stack.node.try_find_child("ServiceLogGroups")
        if found is None:
            return cls(stack, "ServiceLogGroups", days=days)
        assert isinstance(found, cls) and found.days == days, found
        return found

    def add(self, construct_id: str, log_group_name: str, *, account_wide: bool) -> logs.LogRetention:
        """Create ``log_group_name`` if missing and give it the retention; an ``account_wide``
        group is kept when the stack is deleted, another is deleted with it."""
        made = logs.LogRetention(
            self,
            construct_id,
            log_group_name=log_group_name,
            retention=retention(self.days),
            role=self._provider_role,
            removal_policy=RemovalPolicy.RETAIN if account_wide else RemovalPolicy.DESTROY,
        )
        actions = ["logs:CreateLogGroup", "logs:PutRetentionPolicy"]
        if not account_wide:
            actions.append("logs:DeleteLogGroup")
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=actions, resources=log_group_arns(self, log_group_name))
        )
        self._own_function()
        return made

    def _own_function(self) -> None:
        stack = Stack.of(self)
        provider = stack.node.find_child(LOG_RETENTION_FUNCTION)
        if provider.node.try_find_child(HANDLER_LOGS) is not None:
            return
        function = provider.node.default_child
        assert isinstance(function, CfnResource), provider.node.path
        name = f"{stack.stack_name}-log-retention"
        function.add_property_override("FunctionName", name)
        group = _handler_log_group(function, self.days)
        group.grant_write(self.role)
        # CDK's handler creates /aws/lambda/<its name> (empty: it logs to the group above) and
        # gives it one day, on every Create.
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:PutRetentionPolicy"],
                resources=log_group_arns(self, f"/aws/lambda/{name}"),
            )
        )
        # CDK makes the function wait for the role it is given; the immutable reference has no
        # policy to wait for, so the function waits for this role and its policy.
        function.node.add_dependency(self.role)


def _handler_log_group(function: CfnResource, days: int) -> logs.LogGroup:
    """A stack-owned log group for ``function``, which it logs to from now on (``LoggingConfig``)."""
    parent = function.node.scope
    assert isinstance(parent, Construct), function.node.path
    group = logs.LogGroup(
        parent, HANDLER_LOGS, retention=retention(days), removal_policy=RemovalPolicy.DESTROY
    )
    function.add_property_override("LoggingConfig.LogGroup", group.log_group_name)
    return group


def route_handler_logs(stack: Stack, days: int) -> list[str]:
    """Give every Lambda function of ``stack`` that logs to its default ``/aws/lambda/<name>`` group
    (CDK's own handlers; the app's functions have their own group) a stack-owned group with the
    retention; returns the construct paths of the functions it routed. Call after the stack is built."""
    routed = []
    for node in stack.node.find_all():
        if not isinstance(node, CfnResource) or node.cfn_resource_type != "AWS::Lambda::Function":
            continue
        if isinstance(node, lambda_.CfnFunction) and node.logging_config is not None:
            continue
        parent = node.node.scope
        if parent is None or parent.node.try_find_child(HANDLER_LOGS) is not None:
            continue
        _handler_log_group(node, days)
        routed.append(node.node.path)
    return routed


def encrypt_log_groups(stack: Stack, logs_principal: str) -> kms.Key | None:
    """Encrypt every log group ``stack`` owns, that has no key yet, with a key of the stack.

    The key lets CloudWatch Logs (``logs_principal``, ``logs.<region>.<domain>``) use it only for
    this stack's groups: ``kms:EncryptionContext:aws:logs:arn`` must be a group whose name starts
    with the stack's (CloudFormation's generated names), or a group the stack names. A group whose
    name is only known on deploy would be refused by the key, so it is an error here.
    """
    groups = [c for c in stack.node.find_all() if isinstance(c, logs.CfnLogGroup) and not c.kms_key_id]
    if not groups:
        return None
    arn = functools.partial(
        stack.format_arn, service="logs", resource="log-group", arn_format=ArnFormat.COLON_RESOURCE_NAME
    )
    names = [f"{stack.stack_name}-*"]
    for group in groups:
        name = stack.resolve(group.log_group_name)  # None: CloudFormation names it <stack>-...
        if isinstance(name, str):
            names.append(name)
        elif name is not None:
            raise ValueError(f"{group.node.path}: a log group named on deploy cannot be keyed by name")
    key = kms.Key(
        stack, "LogsKey", enable_key_rotation=True, description=f"Encrypts {stack.stack_name}'s log groups"
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchLogsOfThisStack",
            principals=[iam.ServicePrincipal(logs_principal)],
            actions=[
                "kms:Encrypt*",
                "kms:Decrypt*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            resources=["*"],
            conditions={
                "ArnLike": {"kms:EncryptionContext:aws:logs:arn": [arn(resource_name=n) for n in names]}
            },
        )
    )
    for group in groups:
        group.kms_key_id = key.key_arn
        group.node.add_dependency(key)
    return key
