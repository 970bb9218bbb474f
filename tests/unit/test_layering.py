"""The packages below the stacks stay below them: ``config`` imports neither ``contracts`` nor
``stacks``, ``contracts`` does not import ``stacks``, and neither loads the CDK."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from config.paths import ROOT


def imported(path: Path) -> set[str]:
    """The top-level package of every module ``path`` imports (anywhere in the file)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("config", {"stacks", "contracts", "localrun", "aws_cdk", "constructs"}),
        ("contracts", {"stacks", "localrun", "aws_cdk", "constructs"}),
    ],
)
def test_a_lower_package_imports_nothing_above_it(package: str, forbidden: set[str]) -> None:
    found = {
        str(path.relative_to(ROOT)): sorted(imported(path) & forbidden)
        for path in sorted((ROOT / package).glob("*.py"))
    }
    assert {path: names for path, names in found.items() if names} == {}
    assert len(found) >= 4, f"{package} has moved"
