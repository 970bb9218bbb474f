"""The cdk-nag acknowledgments against the templates: each accepted finding pattern still matches
a finding, so no acceptance outlives the grant it was written for."""

from __future__ import annotations

import re
from functools import cache

import pytest

from stacks.nag import Acceptance, acceptances
from tests.infra.conftest import Synthesized, synthesize
from tests.infra.test_database_rotation import rotating


def alternatives(pattern: str) -> list[str]:
    """The top-level ``|`` alternatives of a regular expression (groups and classes kept whole)."""
    parts, depth, start, in_class, i = [], 0, 0, False, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char in "()":
            depth += 1 if char == "(" else -1
        elif char == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    return [*parts, pattern[start:]]


def test_alternatives_split_at_the_top_level_only() -> None:
    assert alternatives(r"a|b(c|d)|[|]x|\|y") == ["a", "b(c|d)", "[|]x", r"\|y"]
    assert alternatives(".*") == [".*"]


@cache
def variants() -> tuple[Synthesized, ...]:
    """The shipped environments and the settings that add or drop grants."""
    uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/standardize:1.2"
    return (
        synthesize("dev"),
        synthesize("china"),
        rotating(),
        synthesize("dev", {"standardize": {"imageUri": uri}}),
        synthesize("dev", {"logs": {"stateMachineLevel": "ERROR"}}),
    )


def declared(s: Synthesized) -> list[tuple[str, Acceptance]]:
    """``(construct path, acceptance)`` of every acceptance declared in the app."""
    found = []
    for stack in (s.stacks.shared, s.stacks.standardize, s.stacks.forecast):
        if stack is None:
            continue
        for construct in stack.node.find_all():
            for entry in construct.node.metadata:
                if entry.type == "ml-pipelines:nag-acceptance":
                    found.append((construct.node.path, Acceptance(**entry.data)))
    return found


@pytest.mark.slow
def test_every_alternative_of_every_acceptance_still_acknowledges_a_finding() -> None:
    unused: dict[tuple[str, str, str], set[str]] = {}
    for s in variants():
        made = s.stacks.nag_acknowledged
        for path, acceptance in declared(s):
            key = (re.sub(r"^MlPipelines-[a-z0-9-]+?-", "", path), acceptance.rule, acceptance.finding)
            details = [
                re.sub(r"^[^\[]*\[?|\]$", "", finding)
                for where, finding, reason in made
                if reason == acceptance.reason
                and finding.split("[", 1)[0] == acceptance.rule
                and (where == path or where.startswith(f"{path}/"))
            ]
            left = {
                a
                for a in alternatives(acceptance.finding)
                if not any(re.fullmatch(a, d, re.S) for d in details)
            }
            unused[key] = unused.get(key, left) & left
    stale = {key: left for key, left in unused.items() if left}
    assert stale == {}, "acceptances whose patterns match no finding in any variant"


def test_acceptances_are_found_on_their_constructs(dev: Synthesized) -> None:
    """The helper above reads what stacks.nag.acceptances reads."""
    paths = {path for path, _ in declared(dev)}
    for path, _, _ in dev.stacks.nag_acknowledged:
        construct = dev.stacks.shared.node.root.node.find_child(path.split("/")[0])
        for part in path.split("/")[1:]:
            construct = construct.node.find_child(part)
        assert acceptances(construct), path
        assert any(path == p or path.startswith(f"{p}/") for p in paths), path
