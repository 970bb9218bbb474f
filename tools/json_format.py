"""The layout of the JSON files people read and edit: the state machines and the IAM inventory.

A value goes on one line when it fits in :data:`WIDTH` columns, key and indent included, and is
spread over lines otherwise, each member on its own line at two more spaces. Short conditions and
retry lists then read as one line each, and a state still reads as a block. The content is
exactly ``json.dumps``'s: only the whitespace differs.

``python -m tools.json_format FILE...`` rewrites the files in this layout; with ``--check`` it
changes nothing and exits 1 naming each file that is not in it (the tests run that check).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

WIDTH = 110
INDENT = 2


def _one_line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _layout(value: Any, prefix: str, depth: int, suffix: str) -> list[str]:
    """The lines of ``value`` at ``depth``, after ``prefix`` (its key) and before ``suffix`` (a comma)."""
    pad = " " * (INDENT * depth)
    line = f"{pad}{prefix}{_one_line(value)}{suffix}"
    if not isinstance(value, (dict, list)) or not value or len(line) <= WIDTH:
        return [line]
    opening, closing = ("{", "}") if isinstance(value, dict) else ("[", "]")
    items = list(value.items()) if isinstance(value, dict) else [(None, v) for v in value]
    lines = [f"{pad}{prefix}{opening}"]
    for index, (key, member) in enumerate(items):
        comma = "," if index < len(items) - 1 else ""
        key_prefix = "" if key is None else f"{_one_line(key)}: "
        lines.extend(_layout(member, key_prefix, depth + 1, comma))
    lines.append(f"{pad}{closing}{suffix}")
    return lines


def dumps(value: Any) -> str:
    """``value`` as JSON text in this layout, with a final newline."""
    return "\n".join(_layout(value, "", 0, "")) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.json_format", description=__doc__)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a file is not laid out"
    )
    args = parser.parse_args(argv)
    stale = []
    for path in args.files:
        text = path.read_text(encoding="utf-8")
        try:
            laid_out = dumps(json.loads(text))
        except json.JSONDecodeError as err:
            print(f"{path}: not JSON: {err}", file=sys.stderr)
            return 2
        if laid_out == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(laid_out, encoding="utf-8")
    for path in stale:
        print(
            f"{path}: not laid out (python -m tools.json_format {path})"
            if args.check
            else f"{path}: rewritten"
        )
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    raise SystemExit(main())
