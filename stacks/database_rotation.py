"""Secrets Manager's hosted MySQL single-user rotation of the database secret the app creates."""

from __future__ import annotations

import string

from aws_cdk import CfnOutput, Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from config import NetworkConfig, RotationConfig
from contracts.names import rotation_function_name
from stacks.forecast_network import client_egress, import_vpc
from stacks.log_groups import retention


class DatabaseRotation(Construct):
    """Rotates ``secret`` every ``forecast.database.rotation.scheduleDays`` days.

    Secrets Manager deploys its MySQL single-user rotation function into the configured VPC
    (``forecast.network``, imported by attributes) and its private subnets, with the configured
    ``databaseSecurityGroupId`` (the group the database already accepts), or else with a group of
    its own (output ``DatabaseRotationSecurityGroupId``), which the database must then accept.
    The function changes the password of the secret's ``username`` as that user, so the secret
    must hold working credentials first: the first rotation waits for the schedule instead of
    running at deployment. Rotated passwords are letters and digits, as the generated one is.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        rotation: RotationConfig,
        network: NetworkConfig,
        env_name: str,
        log_retention_days: int,
        secret: secretsmanager.ISecret,
        database_port: int,
    ) -> None:
        super().__init__(scope, construct_id)
        vpc, subnets = import_vpc(self, network)
        if network.database_security_group_id:
            group = ec2.SecurityGroup.from_security_group_id(
                self, "DatabaseClients", network.database_security_group_id, mutable=False
            )
        else:
            group = ec2.SecurityGroup(
                self,
                "SecurityGroup",
                vpc=vpc,
                description="Database secret rotation function: the MySQL server must accept this group",
                allow_all_outbound=False,
            )
            client_egress(group, database_port)  # the database, and Secrets Manager over HTTPS
            CfnOutput(scope, "DatabaseRotationSecurityGroupId", value=group.security_group_id)
        self.function_name = rotation_function_name(env_name)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/lambda/{self.function_name}",
            retention=retention(log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.schedule = secretsmanager.RotationSchedule(
            self,
            "Schedule",
            secret=secret,
            hosted_rotation=secretsmanager.HostedRotation.mysql_single_user(
                function_name=self.function_name,
                vpc=vpc,
                vpc_subnets=ec2.SubnetSelection(subnets=subnets),
                security_groups=[group],
                exclude_characters=string.punctuation,
            ),
            automatically_after=Duration.days(rotation.schedule_days),
            rotate_immediately_on_update=False,
        )
        self.schedule.node.add_dependency(self.log_group)
