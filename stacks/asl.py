"""State machine definitions for the stacks: the ASL text with CDK tokens left to CloudFormation."""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import Token
from aws_cdk import aws_stepfunctions as sfn

from config import QuotaRetryConfig
from contracts.asl import PLACEHOLDER, check_substitutions
from contracts.timeouts import with_timeouts
from stacks.nag import ignore_cfn_lint


def state_machine_definition(
    name: str,
    substitutions: Mapping[str, str],
    *,
    task_timeouts: Mapping[str, int],
    quota_retry: QuotaRetryConfig,
) -> tuple[sfn.DefinitionBody, dict[str, str]]:
    """The definition of ``name``, bounded in time (contracts/timeouts.py), and the substitutions
    CloudFormation must still make.

    Plain values (partition, sizes, names, URIs known at synth) are filled in here, so the
    template holds the real definition and cfn-lint checks it; values that are tokens (ARNs of
    resources created on deploy) are left to ``DefinitionSubstitutions``.
    """
    text = check_substitutions(name, substitutions)
    deferred = {k: v for k, v in substitutions.items() if Token.is_unresolved(v)}
    text = PLACEHOLDER.sub(
        lambda m: m.group(0) if m.group(1) in deferred else substitutions[m.group(1)], text
    )
    bounded = with_timeouts(json.loads(text), task_timeouts, quota_retry)
    return sfn.DefinitionBody.from_string(json.dumps(bounded, indent=2)), deferred


def note_partition_for_cfn_lint(state_machine: sfn.StateMachine, partition: str) -> None:
    """Tell cfn-lint why a non-``aws`` partition's task ARNs are right.

    cfn-lint's Step Functions schema only accepts task resources of the ``aws`` partition (E3601),
    but in China they must be ``aws-cn`` ones; asl-validator checks the definitions for both.
    """
    if partition == "aws":
        return
    reason = f"Task resources are in the {partition} partition; cfn-lint's ASL schema knows only the aws one"
    ignore_cfn_lint(state_machine, "E3601", reason)
