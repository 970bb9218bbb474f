"""Template snapshots: each environment's synthesized templates, committed under ``snapshots/``.

A reviewer then sees every template change in the diff of a pull request.
``tests/infra/test_snapshots.py`` fails when a synth differs from its snapshot, and
``make snapshot`` (``python -m tests.infra.snapshots``) writes them anew. What changes without a
change of ours is masked: asset hashes (64 hex digits, which follow the bundled code and the
CDK's version) and the CDK's version-reporting resource.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from config.paths import ROOT
from tests.infra.conftest import ENVIRONMENTS, Synthesized, synthesize
from tools import json_format

SNAPSHOTS = ROOT / "snapshots"
_HASH = re.compile(r"[0-9a-f]{64}")
MASK = "<asset-hash>"


def masked(template: dict[str, Any]) -> dict[str, Any]:
    """``template`` without what changes on its own: asset hashes and ``CDKMetadata``."""
    text = _HASH.sub(MASK, json.dumps(template))
    out: dict[str, Any] = json.loads(text)
    out.get("Resources", {}).pop("CDKMetadata", None)
    out.get("Conditions", {}).pop("CDKMetadataAvailable", None)
    return out


def snapshot_path(synthesized: Synthesized, unit: str) -> Path:
    """``snapshots/<env>/<stack name>.template.json``."""
    stack = getattr(synthesized.stacks, unit)
    return SNAPSHOTS / synthesized.config.name / f"{stack.stack_name}.template.json"


def rendered(synthesized: Synthesized, unit: str) -> str:
    """The snapshot text of one stack of ``synthesized``."""
    return json_format.dumps(masked(dict(synthesized.template(unit).to_json())))


def write(synthesized: Synthesized) -> list[Path]:
    """Write every snapshot of ``synthesized``'s environment, removing those of stacks it no longer has."""
    folder = SNAPSHOTS / synthesized.config.name
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for unit, _ in synthesized.templates():
        path = snapshot_path(synthesized, unit)
        path.write_text(rendered(synthesized, unit), encoding="utf-8")
        written.append(path)
    for stale in set(folder.glob("*.template.json")) - set(written):
        stale.unlink()
    return written


def main() -> int:
    for stale in {p for p in SNAPSHOTS.glob("*") if p.is_dir()} - {SNAPSHOTS / env for env in ENVIRONMENTS}:
        for path in stale.glob("*.template.json"):
            path.unlink()
        stale.rmdir()
    for env in ENVIRONMENTS:
        for path in write(synthesize(env)):
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
