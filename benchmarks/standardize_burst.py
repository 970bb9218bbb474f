"""A burst of 200 standardize uploads past a SageMaker quota of 4 processing jobs, offline.

The uploads go through the deployed trigger, state machine, get-batch-id function and processing
script on the offline runner; the SageMaker twin holds each job's instance for 300 simulated
seconds and rejects Create* calls past the quota as SageMaker does, and the state machine waits
(on each execution's simulated clock) and creates the job again. Prints the outcome, the
rejections and waits, and the wall time; exits 1 unless every upload succeeded with its output,
and the quota was reached and never passed. ``tests/localrun/test_standardize_burst.py`` checks
the same on 24 uploads.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from localrun.demo_data import partition_csv  # noqa: E402
from localrun.runner import Printer, open_session  # noqa: E402
from localrun.sagemaker_local import JobQuota, peak_instances  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--instances", type=int, default=4)
    args = parser.parse_args(argv)
    quota = JobQuota(instances=args.instances, job_seconds=300.0)
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="burst-") as work,
        open_session(
            "dev", workdir=Path(work), forecast=False, printer=Printer(False), quota=quota
        ) as session,
    ):
        body = partition_csv(rows=20).encode()
        runs = session.standardize_burst(
            [(f"meta-data/partition_{n}.csv", body) for n in range(args.uploads)]
        )
        wall = time.monotonic() - started
        statuses = Counter(run.result.status for run in runs)
        outputs = len(session.list_keys("prediction-data/"))
        bookings, rejections = session.sagemaker.bookings, session.sagemaker.rejections
        peak = peak_instances(bookings)
        waits = [w.seconds for w in session.aws.waits]
    print(
        f"{len(runs)} uploads, {dict(statuses)}; {outputs} output objects; peak {peak} of "
        f"{args.instances} instances; {len(rejections)} quota rejections, {len(waits)} waits "
        f"({sum(waits):.0f} simulated s in all); wall time {wall:.1f} s"
    )
    ok = statuses == {"SUCCEEDED": args.uploads} and outputs == 2 * args.uploads and peak == args.instances
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
