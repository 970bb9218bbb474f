"""IAM for the network interfaces that a service (Glue, Lambda) manages in this app's VPC.

What EC2 authorizes, per its service authorization reference:

* ``CreateNetworkInterface`` is checked on the new interface (``network-interface/*``, whose only
  condition keys are tags and ``ec2:Region``: it has no VPC yet), on the subnet (``ec2:Vpc``,
  ``ec2:SubnetID``) and on each security group (``ec2:Vpc``). So the subnets and groups are named,
  in the VPC, and only the new interface's ARN is a wildcard.
* ``DeleteNetworkInterface``, ``AssignPrivateIpAddresses`` and ``UnassignPrivateIpAddresses`` are
  checked on the interface, which carries ``ec2:Subnet`` and ``ec2:Vpc``: only interfaces in these
  subnets.
* ``DescribeNetworkInterfaces``, ``DescribeSubnets`` and the other ``Describe*`` list actions take
  no resource: ``Resource: '*'``. ``DescribeVpcAttribute`` takes the VPC.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam

#: The cdk-nag IAM5 finding of the new interface's ARN, ``network-interface/*``.
NEW_INTERFACE_FINDING = r"Resource::arn:[-a-z]+:ec2:[^:]+:[^:]+:network-interface/\*"


def grant_network_interfaces(
    role: iam.IRole,
    *,
    vpc: ec2.IVpc,
    subnets: Sequence[ec2.ISubnet],
    security_groups: Sequence[ec2.ISecurityGroup],
    on_interfaces: Sequence[str],
    describe: Sequence[str],
    describe_vpc_attribute: bool = False,
) -> None:
    """Let ``role`` create network interfaces in ``subnets`` with ``security_groups`` (of ``vpc``),
    run ``on_interfaces`` (e.g. ``ec2:DeleteNetworkInterface``) on interfaces in those subnets
    only, and the ``describe`` list actions, which EC2 authorizes on ``'*'`` only."""
    stack = Stack.of(role)

    def arn(resource: str, name: str) -> str:
        return stack.format_arn(service="ec2", resource=resource, resource_name=name)

    subnet_arns = [arn("subnet", subnet.subnet_id) for subnet in subnets]
    vpc_arn = arn("vpc", vpc.vpc_id)
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="CreateNetworkInterfaces",
            actions=["ec2:CreateNetworkInterface"],
            resources=[arn("network-interface", "*")],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="InOwnSubnetsWithOwnGroups",
            actions=["ec2:CreateNetworkInterface"],
            resources=subnet_arns
            + [arn("security-group", group.security_group_id) for group in security_groups],
            conditions={"ArnEquals": {"ec2:Vpc": vpc_arn}},
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="OwnSubnetsNetworkInterfaces",
            actions=list(on_interfaces),
            resources=[arn("network-interface", "*")],
            conditions={"ArnEquals": {"ec2:Subnet": subnet_arns}},
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(sid="DescribeNetwork", actions=list(describe), resources=["*"])
    )
    if describe_vpc_attribute:
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DescribeOwnVpc", actions=["ec2:DescribeVpcAttribute"], resources=[vpc_arn]
            )
        )
