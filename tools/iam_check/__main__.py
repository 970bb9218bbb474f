"""``python -m tools.iam_check cdk.out/dev [...]``: evaluate every inventoried request against one
environment's synthesized templates (a folder per environment, as ``make synth`` writes them).

Prints the principals and requests it checked, every denied request with the statement or the
missing Allow that decided, and the app's Allow statements that no request needs (with their written
reason, if they have one). Exits 1 on any denied request or any unused statement without a reason.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tools.iam_check.check import concrete_requests, describe, evaluate, statement_usage
from tools.iam_check.inventory import load_inventory
from tools.iam_check.principals import Principals
from tools.iam_check.templates import Environment


def check(folder: Path) -> bool:
    started = time.perf_counter()
    inventory = load_inventory()
    principals = Principals(Environment(folder))
    requests, skipped = concrete_requests(principals, inventory)
    results = evaluate(principals, requests)
    denied = [r for r in results if not r.decision.allowed]
    usage = statement_usage(principals, requests)
    unused = [s for s, needing in usage.items() if not needing]
    unexplained = [s for s in unused if str(s) not in inventory.unused]
    who = {r.principal for r in requests}
    print(
        f"{folder}: {len(who)} principals, {len(requests)} requests: {len(results) - len(denied)} allowed, "
        f"{len(denied)} denied; {len(skipped)} inventory entries do not apply here; "
        f"{len(usage)} Allow statements, {len(unused)} unused ({len(unexplained)} without a reason); "
        f"{time.perf_counter() - started:.1f} s"
    )
    for result in denied:
        print(f"  DENIED {describe(result)}")
    for statement in unused:
        reason = inventory.unused.get(str(statement))
        print(f"  unused {statement}: {reason}" if reason else f"  UNUSED {statement} (no request needs it)")
    return not denied and not unexplained


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.iam_check", description=__doc__)
    parser.add_argument("folders", nargs="+", type=Path, help="a folder of one environment's templates")
    args = parser.parse_args(argv)
    ok = [check(folder) for folder in args.folders]
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
