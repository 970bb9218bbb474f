"""Start-up time of the offline runner: ``import localrun.runner`` against the same import plus
the two stack modules it took its substitutions and environments from before the CDK-free
``contracts`` package (they load ``aws_cdk`` and start jsii's Node process), interleaved.

Run ``.venv/bin/python benchmarks/runner_startup.py [--repeats N]`` (``make bench`` runs it too).
Each sample is a fresh interpreter; the table gives the median and best wall time of each, and
the ratio of the medians, measured in this one command because the machine may be shared.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "runner": "import localrun.runner",
    "runner + stack modules (before)": (
        "import localrun.runner, stacks.standardize_pipeline, stacks.forecast_pipeline"
    ),
}


def sample(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="samples of each (default: %(default)s)")
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.repeats):
        for name, code in VARIANTS.items():
            times[name].append(sample(code))
    print(f"runner start-up, {args.repeats} samples each, interleaved")
    print(f"{'variant':32} {'median s':>9} {'best s':>8}")
    for name, values in times.items():
        print(f"{name:32} {statistics.median(values):9.2f} {min(values):8.2f}")
    ratio = statistics.median(times["runner + stack modules (before)"]) / statistics.median(times["runner"])
    print(f"before/after (medians): {ratio:.2f}x")


if __name__ == "__main__":
    main()
