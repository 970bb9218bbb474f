"""The ASL files ``statemachines/*.asl.json`` and their ``${Placeholder}`` substitutions, without the CDK."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from config import QuotaRetryConfig
from config.paths import STATEMACHINES

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


def states(definition: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(name, state)`` of every state of ``definition``, those in Parallel branches and Map
    iterators included."""
    for name, state in definition["States"].items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from states(branch)
        inner = state.get("ItemProcessor") or state.get("Iterator")
        if inner:
            yield from states(inner)


def render(name: str, substitutions: Mapping[str, str]) -> dict[str, object]:
    """The definition with every placeholder replaced by plain strings (for offline runs and checks)."""
    text = PLACEHOLDER.sub(lambda m: substitutions[m.group(1)], check_substitutions(name, substitutions))
    result: dict[str, object] = json.loads(text)
    return result
