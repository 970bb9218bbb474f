"""Every environment's templates match their committed snapshots (tests/infra/snapshots.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import Synthesized
from tests.infra.snapshots import MASK, SNAPSHOTS, masked, rendered, snapshot_path


def first_difference(old: Any, new: Any, path: str = "") -> str | None:
    """The JSON path of the first place ``old`` and ``new`` differ, or None."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            if key not in old or key not in new:
                return f"{path}/{key} ({'added' if key not in old else 'removed'})"
            found = first_difference(old[key], new[key], f"{path}/{key}")
            if found:
                return found
        return None
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            found = first_difference(a, b, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if old == new else (path or "/")


def test_each_template_matches_its_snapshot(synthesized: Synthesized) -> None:
    for unit, _ in synthesized.templates():
        path = snapshot_path(synthesized, unit)
        assert path.is_file(), f"{path.name} has no snapshot: run make snapshot and commit snapshots/"
        text = rendered(synthesized, unit)
        if text != path.read_text(encoding="utf-8"):
            where = first_difference(json.loads(path.read_text(encoding="utf-8")), json.loads(text))
            pytest.fail(
                f"{synthesized.config.name}'s {path.name} differs from its snapshot at {where}: "
                "review the change, then run make snapshot and commit snapshots/"
            )


def test_every_snapshot_has_its_stack(synthesized: Synthesized) -> None:
    expected = {snapshot_path(synthesized, unit) for unit, _ in synthesized.templates()}
    assert set((SNAPSHOTS / synthesized.config.name).glob("*.template.json")) == expected


def test_the_mask_hides_asset_hashes_and_version_reporting_only() -> None:
    digest = "a" * 64
    template = {
        "Resources": {
            "Fn": {"Properties": {"Code": {"S3Key": f"{digest}.zip"}, "MemorySize": 512}},
            "CDKMetadata": {"Type": "AWS::CDK::Metadata"},
        },
        "Conditions": {"CDKMetadataAvailable": {}, "Other": {}},
    }
    assert masked(template) == {
        "Resources": {"Fn": {"Properties": {"Code": {"S3Key": f"{MASK}.zip"}, "MemorySize": 512}}},
        "Conditions": {"Other": {}},
    }


def test_a_changed_setting_is_a_difference_the_snapshot_catches(synthesized: Synthesized) -> None:
    """The comparison is real: a template with one value changed is not its snapshot."""
    unit = "shared"
    snapshot = json.loads(snapshot_path(synthesized, unit).read_text(encoding="utf-8"))
    changed = json.loads(rendered(synthesized, unit))
    name, resource = next(iter(changed["Resources"].items()))
    resource["Type"] = resource["Type"] + "X"
    assert first_difference(snapshot, changed) == f"/Resources/{name}/Type"
