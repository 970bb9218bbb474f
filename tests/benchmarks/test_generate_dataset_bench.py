"""The generate-dataset benchmark runs end to end on a small input (it measures; this only runs it)."""

from __future__ import annotations

import subprocess
import sys

from config.paths import ROOT


def test_the_benchmark_reports_each_size() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "generate_dataset.py"), "--series", "3", "--hours", "900"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (row,) = [line.split() for line in done.stdout.splitlines() if line.strip().startswith("3 ")]
    assert row[1] == "2,700" and "failed" not in done.stdout, done.stdout
