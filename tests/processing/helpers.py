"""Shared helpers of the standardize tests: the module under test and a job directory."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from config.paths import PROCESSING, ROOT
from processing import standardize as sz
from processing.standardize import classify, cli, output, structure

__all__ = ["PROCESSING", "ROOT", "Job", "classify", "cli", "output", "run_cli", "structure", "sz"]


def run_cli(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python processing/standardize ARGS`` (the package, as the container runs it) in a fresh
    process, with ``env`` added to ours."""
    return subprocess.run(
        [sys.executable, str(PROCESSING / "standardize"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})},
        timeout=120,
        check=False,
    )


class Job:
    """One input directory, one output directory, and helpers to run and read them."""

    def __init__(self, root: Path):
        self.input = root / "input"
        self.output = root / "output"
        self.input.mkdir()

    def write(self, name: str, data: bytes | str) -> Path:
        path = self.input / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    def run(self, **options: Any) -> list[sz.FileStats]:
        return sz.run(self.input, self.output, sz.Options(**options))

    def rows(self, name: str = "f.csv") -> list[list[str]]:
        text = (self.output / name).read_bytes().decode("utf-8")
        return [row or [""] for row in csv.reader(io.StringIO(text, newline=""))]

    def columns(self, name: str = "f.csv") -> dict[str, list[str]]:
        header, *body = self.rows(name)
        return {h: [r[i] for r in body] for i, h in enumerate(header)}

    def stats(self, name: str = "f") -> dict[str, Any]:
        return json.loads((self.output / sz.STATS_DIR / f"{name}.json").read_text(encoding="utf-8"))

    def files(self) -> list[str]:
        if not self.output.exists():
            return []
        return sorted(p.relative_to(self.output).as_posix() for p in self.output.rglob("*") if p.is_file())
