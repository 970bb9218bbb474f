"""State machine definitions from ``statemachines/*.asl.json`` with ``${Placeholder}`` substitutions."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

from aws_cdk import Token
from aws_cdk import aws_stepfunctions as sfn

from stacks.config import QuotaRetryConfig
from stacks.nag import ignore_cfn_lint
from stacks.paths import STATEMACHINES

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def asl_path(name: str) -> Path:
    """``statemachines/<name>.asl.json``."""
    return STATEMACHINES / f"{name}.asl.json"


def asl_text(name: str) -> str:
    """The raw text of ``statemachines/<name>.asl.json``."""
    return asl_path(name).read_text(encoding="utf-8")


def placeholders(text: str) -> set[str]:
    """The ``${X}`` placeholder names used in an ASL text."""
    return set(PLACEHOLDER.findall(text))


def json_string(value: str) -> str:
    """``value`` escaped for use inside a JSON string literal of the ASL file (no quotes added)."""
    return json.dumps(value)[1:-1]


def intrinsic_string(value: str) -> str:
    """``value`` escaped as a single-quoted intrinsic-function argument inside an ASL string."""
    escaped = re.sub(r"([\\'{}])", r"\\\1", value)
    return json_string(escaped)


def quota_wait_substitutions(quota_retry: QuotaRetryConfig) -> dict[str, str]:
    """``QuotaWaitLows`` and ``QuotaWaitHighs``: the bounds of each quota wait, in seconds, as JSON
    arrays inside a ``States.StringToJson('...')`` literal (one entry per wait the job may make)."""
    windows = quota_retry.windows()
    return {
        "QuotaWaitLows": intrinsic_string(json.dumps([low for low, _ in windows], separators=(",", ":"))),
        "QuotaWaitHighs": intrinsic_string(json.dumps([high for _, high in windows], separators=(",", ":"))),
    }


def check_substitutions(name: str, substitutions: Mapping[str, str]) -> str:
    """The text of ``name``; ``ValueError`` unless each placeholder has a substitution and vice versa."""
    text = asl_text(name)
    used = placeholders(text)
    missing, unused = used - set(substitutions), set(substitutions) - used
    if missing or unused:
        raise ValueError(
            f"{asl_path(name).name}: placeholders without substitution {sorted(missing)}, "
            f"substitutions without placeholder {sorted(unused)}"
        )
    return text


def render(name: str, substitutions: Mapping[str, str]) -> dict[str, object]:
    """The definition with every placeholder replaced by plain strings (for offline runs and checks)."""
    text = PLACEHOLDER.sub(lambda m: substitutions[m.group(1)], check_substitutions(name, substitutions))
    result: dict[str, object] = json.loads(text)
    return result


def state_machine_definition(
    name: str, substitutions: Mapping[str, str]
) -> tuple[sfn.DefinitionBody, dict[str, str]]:
    """The definition of ``name`` and the substitutions CloudFormation must still make.

    Plain values (partition, sizes, names, URIs known at synth) are filled in here, so the
    template holds the real definition and cfn-lint checks it; values that are tokens (ARNs of
    resources created on deploy) are left to ``DefinitionSubstitutions``.
    """
    text = check_substitutions(name, substitutions)
    deferred = {k: v for k, v in substitutions.items() if Token.is_unresolved(v)}
    text = PLACEHOLDER.sub(
        lambda m: m.group(0) if m.group(1) in deferred else substitutions[m.group(1)], text
    )
    return sfn.DefinitionBody.from_string(text), deferred


def note_partition_for_cfn_lint(state_machine: sfn.StateMachine, partition: str) -> None:
    """Tell cfn-lint why a non-``aws`` partition's task ARNs are right.

    cfn-lint's Step Functions schema only accepts task resources of the ``aws`` partition (E3601),
    but in China they must be ``aws-cn`` ones; asl-validator checks the definitions for both.
    """
    if partition == "aws":
        return
    reason = f"Task resources are in the {partition} partition; cfn-lint's ASL schema knows only the aws one"
    ignore_cfn_lint(state_machine, "E3601", reason)
