"""Service principals for role trust policies, limited to this account's requests."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

#: The services whose role trust takes ``aws:SourceAccount`` (each documents the key for its
#: cross-service confused-deputy prevention). Lambda's execution role is not among them.
SOURCE_ACCOUNT_SERVICES = frozenset(
    {"sagemaker.amazonaws.com", "glue.amazonaws.com", "states.amazonaws.com", "events.amazonaws.com"}
)


def service_for_this_account(scope: Construct, service: str) -> iam.IPrincipal:
    """``service`` (e.g. ``glue.amazonaws.com``), allowed to assume the role only on behalf of a
    resource of ``scope``'s account (``aws:SourceAccount``), so no other account can pass it."""
    if service not in SOURCE_ACCOUNT_SERVICES:
        raise ValueError(f"{service} is not known to take aws:SourceAccount in a role trust policy")
    return iam.PrincipalWithConditions(
        iam.ServicePrincipal(service), {"StringEquals": {"aws:SourceAccount": Stack.of(scope).account}}
    )
