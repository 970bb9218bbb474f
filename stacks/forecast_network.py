"""The network of the forecast pipeline's database clients: a VPC, subnets and security groups."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Annotations, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from config import NetworkConfig
from stacks.iam_grants import service_for_this_account
from stacks.log_groups import retention


def import_vpc(scope: Construct, cfg: NetworkConfig) -> tuple[ec2.IVpc, list[ec2.ISubnet]]:
    """The configured VPC (``vpcId``) and its private subnets, imported by attributes (no lookup)."""
    assert cfg.vpc_id, "import_vpc needs network.vpcId"
    vpc = ec2.Vpc.from_vpc_attributes(
        scope,
        "Vpc",
        vpc_id=cfg.vpc_id,
        availability_zones=list(cfg.availability_zones),
        private_subnet_ids=list(cfg.private_subnet_ids),
    )
    Annotations.of(scope).acknowledge_warning(
        "@aws-cdk/aws-ec2:noSubnetRouteTableId",
        "Imported subnets: nothing here reads or changes their route tables",
    )
    subnets = [
        ec2.Subnet.from_subnet_attributes(scope, f"Subnet{i}", subnet_id=subnet, availability_zone=az)
        for i, (subnet, az) in enumerate(zip(cfg.private_subnet_ids, cfg.availability_zones, strict=True))
    ]
    return vpc, subnets


class ForecastNetwork(Construct):
    """Imports the configured VPC by attributes, or creates a small private one with endpoints.

    ``database_clients`` is the security group the database accepts; ``glue`` is the group Glue
    requires on a JDBC connection (all TCP from itself). A created VPC's flow logs (rejected
    traffic) are kept ``log_retention_days``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cfg: NetworkConfig,
        log_retention_days: int,
        database_port: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.s3_endpoint: ec2.GatewayVpcEndpoint | None = None
        if cfg.vpc_id:
            self.vpc, self.subnets = import_vpc(self, cfg)
        else:
            vpc = ec2.Vpc(
                self,
                "Vpc",
                ip_addresses=ec2.IpAddresses.cidr(cfg.vpc_cidr),
                max_azs=2,
                nat_gateways=0,
                subnet_configuration=[
                    ec2.SubnetConfiguration(
                        name="private", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                    )
                ],
                restrict_default_security_group=True,
            )
            self.s3_endpoint = vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
            vpc.add_flow_log(
                "FlowLogs",
                destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                    logs.LogGroup(
                        self,
                        "FlowLogGroup",
                        retention=retention(log_retention_days),
                        removal_policy=RemovalPolicy.DESTROY,
                    ),
                    iam.Role(
                        self,
                        "FlowLogsRole",
                        assumed_by=service_for_this_account(self, "vpc-flow-logs.amazonaws.com"),
                        description="VPC flow logs: deliver the VPC's rejected traffic to its log group",
                    ),
                ),
                traffic_type=ec2.FlowLogTrafficType.REJECT,
            )
            endpoints = ec2.SecurityGroup(
                self,
                "Endpoints",
                vpc=vpc,
                description="Interface endpoints: HTTPS from the VPC",
                allow_all_outbound=False,
            )
            endpoints.add_ingress_rule(ec2.Peer.ipv4(cfg.vpc_cidr), ec2.Port.tcp(443), "HTTPS from the VPC")
            for name, service in (
                ("SecretsManager", ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER),
                ("Glue", ec2.InterfaceVpcEndpointAwsService.GLUE),
            ):
                vpc.add_interface_endpoint(
                    name, service=service, private_dns_enabled=True, security_groups=[endpoints], open=False
                )
            self.vpc = vpc
            self.subnets = list(vpc.isolated_subnets)
        self.imported = bool(cfg.vpc_id)
        if cfg.database_security_group_id:
            self.database_clients: ec2.ISecurityGroup = ec2.SecurityGroup.from_security_group_id(
                self, "DatabaseClients", cfg.database_security_group_id, mutable=False
            )
        else:
            clients = ec2.SecurityGroup(
                self,
                "DatabaseClients",
                vpc=self.vpc,
                description="Forecast database clients: the MySQL server must accept this group",
                allow_all_outbound=False,
            )
            client_egress(clients, database_port)
            self.database_clients = clients
        self.glue = ec2.SecurityGroup(
            self,
            "GlueConnection",
            vpc=self.vpc,
            description="Glue JDBC connection: all TCP from itself, as Glue requires",
            allow_all_outbound=False,
        )
        self.glue.add_ingress_rule(self.glue, ec2.Port.all_tcp(), "Glue workers reach each other")
        self.glue.add_egress_rule(self.glue, ec2.Port.all_tcp(), "Glue workers reach each other")
        client_egress(self.glue, database_port)

    def admit_s3(self, bucket_names: Sequence[str]) -> None:
        """Limit a created VPC's S3 gateway endpoint to ``bucket_names`` (the data bucket, the CDK
        assets bucket with the Glue script, module and CA) and to Glue's own ``aws-glue-*`` buckets,
        for this account's principals; an imported VPC's endpoints stay as the user made them."""
        if self.s3_endpoint is None:
            return
        account = Stack.of(self).account
        buckets = [f"arn:{Stack.of(self).partition}:s3:::{name}" for name in (*bucket_names, "aws-glue-*")]
        self.s3_endpoint.add_to_policy(
            iam.PolicyStatement(
                sid="AppBuckets",
                principals=[iam.StarPrincipal()],  # an endpoint policy's form: "Principal": "*"
                actions=[
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListBucket",
                    "s3:GetBucketLocation",
                ],
                resources=[*buckets, *(f"{arn}/*" for arn in buckets)],
                conditions={"StringEquals": {"aws:PrincipalAccount": account}},
            )
        )


def client_egress(group: ec2.SecurityGroup, database_port: int) -> None:
    """A database client's egress: the database port, and HTTPS to the VPC's endpoints. The VPC
    the app creates has no NAT or internet gateway, so HTTPS leaves only through its endpoints
    (the S3 gateway's addresses are a regional prefix list, known only by a lookup)."""
    group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(database_port), "the MySQL server")
    group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to the VPC endpoints and S3")
