"""Where the processing program lives in its image and which directories it reads and writes.

Read from the program's own constants (``processing/standardize/contract.py``), parsed, not
imported: the program needs polars, the stacks do not.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from config.paths import PROCESSING

#: The processing program, a package; its container paths are constants of ``contract.py``.
PROCESSING_PROGRAM = PROCESSING / "standardize"
PROCESSING_SCRIPT = PROCESSING_PROGRAM / "contract.py"


@dataclass(frozen=True)
class ContainerContract:
    """Where the processing script lives in its image and which directories it reads and writes."""

    program_path: str
    input_dir: str
    output_dir: str


def _module_constants(path: Path, names: set[str]) -> dict[str, str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if (
                    isinstance(target, ast.Name)
                    and target.id in names
                    and isinstance(node.value, ast.Constant)
                ):
                    found[target.id] = str(node.value.value)
    missing = names - set(found)
    if missing:
        raise ValueError(f"{path.name} does not define {sorted(missing)} as string constants")
    return found


@cache
def container_contract(script: Path = PROCESSING_SCRIPT) -> ContainerContract:
    """The contract read from the processing script's own constants (never copied by hand)."""
    c = _module_constants(script, {"PROGRAM_PATH", "CONTAINER_INPUT_DIR", "CONTAINER_OUTPUT_DIR"})
    return ContainerContract(c["PROGRAM_PATH"], c["CONTAINER_INPUT_DIR"], c["CONTAINER_OUTPUT_DIR"])
