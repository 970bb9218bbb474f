"""cdk-nag wiring: the AwsSolutions pack on every synth, and acknowledgments with written reasons.

cdk-nag 3 reports some rules per finding (``AwsSolutions-IAM5[Resource::<arn>]``) and only accepts
an acknowledgment of that exact id. Findings often embed generated logical ids, so constructs
declare what they accept as a rule plus a regular expression over the finding, with a reason;
:func:`add_nag` runs the pack once before synth and turns every matching finding into an exact
CDK acknowledgment on the construct that raised it. Anything unmatched still fails the synth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aws_cdk import Acknowledgment, App, CfnResource, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

PACK = "AwsSolutions"
_METADATA = "ml-pipelines:nag-acceptance"
_FINDING = re.compile(r"^(?P<rule>[A-Za-z]+-[A-Za-z0-9]+)(\[(?P<finding>.*)\])?$", re.S)


@dataclass(frozen=True)
class Acceptance:
    """A finding accepted on a construct and its children, and why."""

    rule: str
    finding: str
    reason: str


def acknowledge(scope: IConstruct, *, findings: str = ".*", **reasons: str) -> None:
    """Accept findings on ``scope`` and its children: ``acknowledge(x, IAM5="why ...")``.

    Keyword names are AwsSolutions rule ids without the pack prefix; each needs a reason.
    ``findings`` is a regular expression that the finding detail (e.g. ``Resource::*``) must
    match in full; the default accepts every finding of the rule.
    """
    for rule, reason in reasons.items():
        if not reason.strip():
            raise ValueError(f"acknowledging {PACK}-{rule} needs a reason")
        scope.node.add_metadata(_METADATA, {"rule": f"{PACK}-{rule}", "finding": findings, "reason": reason})


def objects_under(*prefixes: str) -> str:
    """The IAM5 finding of a wildcard over the objects under any of ``prefixes`` of a bucket."""
    if not prefixes or not all(prefixes):
        raise ValueError(f"objects_under needs non-empty prefixes, got {prefixes!r}")
    return r"Resource::arn:[-a-z]+:s3:::[^/]+/(" + "|".join(map(re.escape, prefixes)) + r")\*"


def ignore_cfn_lint(construct: IConstruct, check: str, reason: str) -> CfnResource:
    """Tell cfn-lint to skip ``check`` on ``construct``'s CloudFormation resource, and why."""
    resource = construct.node.default_child
    assert isinstance(resource, CfnResource), construct.node.path
    resource.add_metadata(
        "cfn-lint", {"config": {"ignore_checks": [check], "ignore_reasons": {check: reason}}}
    )
    return resource


def acceptances(construct: IConstruct) -> list[Acceptance]:
    """The acceptances declared on ``construct`` and its ancestors."""
    found: list[Acceptance] = []
    current: IConstruct | None = construct
    while current is not None:
        for entry in current.node.metadata:
            if entry.type == _METADATA:
                found.append(Acceptance(entry.data["rule"], entry.data["finding"], entry.data["reason"]))
        current = current.node.scope
    return found


def _find(app: App, path: str) -> IConstruct:
    node: IConstruct = app
    for part in path.split("/"):
        node = node.node.find_child(part)
    return node


def apply_acceptances(app: App) -> list[tuple[str, str, str]]:
    """Acknowledge every current finding that a declared acceptance covers.

    Returns ``(construct path, finding id, reason)`` for each acknowledgment made.
    """
    report = AwsSolutionsChecks().validate_scope(app)
    made: list[tuple[str, str, str]] = []
    for violation in report.violations:
        match = _FINDING.match(violation.rule_name)
        if not match:
            continue
        for resource in violation.violating_resources:
            path = resource.construct_path
            if path is None:
                continue
            construct = _find(app, path)
            for acc in acceptances(construct):
                detail = match["finding"] or ""
                if acc.rule == match["rule"] and re.fullmatch(acc.finding, detail, re.S):
                    Validations.of(construct).acknowledge(
                        Acknowledgment(id=violation.rule_name, reason=acc.reason)
                    )
                    made.append((path, violation.rule_name, acc.reason))
                    break
    return made


def add_nag(app: App) -> list[tuple[str, str, str]]:
    """Acknowledge the declared acceptances, then run the AwsSolutions pack on every synth.

    Call after every stack is built. Unacknowledged findings fail ``app.synth()``.
    """
    made = apply_acceptances(app)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return made
