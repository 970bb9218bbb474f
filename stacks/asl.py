"""State machine definitions from ``statemachines/*.asl.json`` with ``${Placeholder}`` substitutions."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

from aws_cdk import aws_stepfunctions as sfn

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


def check_substitutions(name: str, substitutions: Mapping[str, str]) -> None:
    """Raise ``ValueError`` unless every placeholder of ``name`` has a substitution and vice versa."""
    used = placeholders(asl_text(name))
    missing, unused = used - set(substitutions), set(substitutions) - used
    if missing or unused:
        raise ValueError(
            f"{asl_path(name).name}: placeholders without substitution {sorted(missing)}, "
            f"substitutions without placeholder {sorted(unused)}"
        )


def render(name: str, substitutions: Mapping[str, str]) -> dict[str, object]:
    """The definition with every placeholder replaced by plain strings (for offline runs and checks)."""
    check_substitutions(name, substitutions)
    text = PLACEHOLDER.sub(lambda m: substitutions[m.group(1)], asl_text(name))
    result: dict[str, object] = json.loads(text)
    return result


def definition_body(name: str, substitutions: Mapping[str, str]) -> sfn.DefinitionBody:
    """A ``DefinitionBody.from_string`` for ``name`` after checking the substitutions are exact."""
    check_substitutions(name, substitutions)
    return sfn.DefinitionBody.from_string(asl_text(name))
