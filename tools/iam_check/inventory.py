"""The request inventory: every AWS request the deployed principals make, as data in the repository.

``inventory.json`` beside this file has two lists:

- ``recorded``: what the offline runs' handlers and state machines asked of AWS, turned into IAM
  requests by :mod:`tools.iam_check.operations`. The test suite fails when a run makes a request
  that is not here (``tests/conftest.py``), so the list cannot go stale. Record new ones with
  ``IAM_INVENTORY_RECORD=FILE make test`` (or any pytest run), then
  ``python -m tools.iam_check.inventory --merge FILE``.
- ``aws``: requests that AWS services make on the app's behalf (an alarm publishing, EventBridge
  assuming its role, Glue reading its script...), written by hand, each with ``source``: the AWS
  document that says the service makes it.
- ``unused``: Allow statements of the app's policies that no request here needs, each with the
  reason it stays; ``python -m tools.iam_check`` fails on any other unused statement.

State machines' own requests are not listed: :mod:`tools.iam_check.state_machines` derives them
from the deployed ASL, with the job names recorded here.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tools import json_format
from tools.iam_check.operations import Request

INVENTORY = Path(__file__).resolve().parent / "inventory.json"


@dataclass(frozen=True)
class Inventory:
    recorded: frozenset[Request]
    aws: tuple[Request, ...]
    #: ``"<holder>: <statement>"`` of an Allow that no inventoried request needs -> why it stays.
    unused: Mapping[str, str] = field(default_factory=dict)


def read(path: Path = INVENTORY) -> Inventory:
    data = json.loads(path.read_text(encoding="utf-8"))
    aws = tuple(Request.from_json(entry) for entry in data["aws"])
    unsourced = [r for r in aws if not r.source]
    if unsourced:
        raise ValueError(f"{path.name}: requests AWS makes need a source document: {unsourced}")
    recorded = frozenset(Request.from_json(entry) for entry in data["recorded"])
    return Inventory(recorded, aws, dict(data.get("unused", {})))


@functools.cache
def load_inventory() -> Inventory:
    """The repository's inventory (read once per process)."""
    return read()


def write(inventory: Inventory, path: Path = INVENTORY) -> None:
    data = {
        "recorded": [r.as_json() for r in sorted(inventory.recorded)],
        "aws": [r.as_json() for r in inventory.aws],
        "unused": dict(inventory.unused),
    }
    path.write_text(json_format.dumps(data), encoding="utf-8")


def merge(lines: Iterable[str], path: Path = INVENTORY) -> int:
    """Add the recorded requests of JSON ``lines`` to the inventory at ``path``; returns how many were new."""
    inventory = read(path)
    new = {Request.from_json(json.loads(line)) for line in lines if line.strip()} - inventory.recorded
    write(Inventory(inventory.recorded | new, inventory.aws, inventory.unused), path)
    return len(new)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.iam_check.inventory", description=__doc__)
    parser.add_argument(
        "--merge", type=Path, required=True, help="JSON lines that IAM_INVENTORY_RECORD wrote"
    )
    args = parser.parse_args(argv)
    added = merge(args.merge.read_text(encoding="utf-8").splitlines())
    print(f"{added} new request(s) added to {INVENTORY.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
