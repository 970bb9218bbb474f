"""A Python Lambda function with its own log group, a least-privilege role and X-Ray tracing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from config.paths import FUNCTION_MODULES, SHARED_RULES
from stacks.bundling import bundled_code
from stacks.log_groups import retention
from stacks.nag import acknowledge
from stacks.runtimes import lambda_runtime_member
from stacks.vpc_access import NEW_INTERFACE_FINDING, grant_network_interfaces

#: :data:`stacks.runtimes.LAMBDA_PYTHON`, the newest Python runtime (cdk-nag's AwsSolutions-L1).
RUNTIME: lambda_.Runtime = getattr(lambda_.Runtime, lambda_runtime_member())
ARCHITECTURE = lambda_.Architecture.ARM_64


class PythonFunction(Construct):
    """``lambdas/<folder>/handler.py`` as a function; its role may only write its own log group,
    kept ``log_retention_days``.

    Every function ships its folder, the shared rules module (:data:`config.paths.SHARED_RULES`),
    the root modules :data:`config.paths.FUNCTION_MODULES` lists for its folder, and
    ``extra_files`` (name in the bundle -> file), bundled at synth (stacks/bundling.py); a folder
    with a ``requirements.txt`` also ships those pinned packages, installed for the function's
    platform. It logs in Lambda's JSON format at level INFO.
    With ``vpc``, the function runs in ``subnets`` with ``security_groups``, and its role manages
    network interfaces there only (stacks/vpc_access.py), in place of the AWS managed
    AWSLambdaVPCAccessExecutionRole's ``'*'``.
    Defaults: 256 MB, 30 s timeout, arm64, active tracing, not in a VPC.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        source: Path,
        description: str,
        log_retention_days: int,
        environment: Mapping[str, str] | None = None,
        extra_files: Mapping[str, Path] | None = None,
        memory_size: int = 256,
        timeout_seconds: int = 30,
        vpc: ec2.IVpc | None = None,
        subnets: Sequence[ec2.ISubnet] = (),
        security_groups: Sequence[ec2.ISecurityGroup] = (),
        role_name: str | None = None,
        **function_props: object,
    ) -> None:
        super().__init__(scope, construct_id)
        if vpc is not None and not (subnets and security_groups):
            raise ValueError(f"{source.name}: a function in a VPC needs its subnets and security groups")
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=retention(log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Runs {source.name}: writes its own log group, plus grants made by its stack",
            role_name=role_name,
        )
        self.log_group.grant_write(self.role)
        findings = r"Resource::\*"
        reason = (
            "X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level permissions, "
            "so AWS requires Resource '*'; logs are granted on this function's own log group only."
        )
        if vpc is not None:
            grant_network_interfaces(
                self.role,
                vpc=vpc,
                subnets=subnets,
                security_groups=security_groups,
                on_interfaces=[
                    "ec2:DeleteNetworkInterface",
                    "ec2:AssignPrivateIpAddresses",
                    "ec2:UnassignPrivateIpAddresses",
                ],
                describe=["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"],
            )
            function_props.update(
                vpc=vpc,
                vpc_subnets=ec2.SubnetSelection(subnets=list(subnets)),
                security_groups=list(security_groups),
            )
            findings += "|" + NEW_INTERFACE_FINDING
            reason = (
                "X-Ray's PutTraceSegments and PutTelemetryRecords and EC2's DescribeNetworkInterfaces and "
                "DescribeSubnets support no resource-level permissions, so AWS requires Resource '*'; a "
                "new network interface has no ARN yet (network-interface/*), but it is created only in "
                "this function's subnets with its security groups, and interfaces are deleted or "
                "re-addressed only in those subnets; logs are granted on this function's own log group only."
            )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler="handler.handler",
            code=_code(source, extra_files or {}),
            description=description,
            environment=dict(environment or {}),
            memory_size=memory_size,
            timeout=Duration.seconds(timeout_seconds),
            role=self.role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            tracing=lambda_.Tracing.ACTIVE,
            **function_props,  # type: ignore[arg-type]
        )
        acknowledge(self.role, findings=findings, IAM5=reason)


def _code(source: Path, extra_files: Mapping[str, Path]) -> lambda_.Code:
    shared = {path.name: path for path in (SHARED_RULES, *FUNCTION_MODULES.get(source.name, ()))}
    return bundled_code(source, RUNTIME, ARCHITECTURE, {**shared, **extra_files})
