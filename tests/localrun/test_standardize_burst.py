"""A burst of uploads past the SageMaker quota completes: 24 partitions at once, 4 processing jobs at a time.

The uploads go through the deployed trigger, state machine, get-batch-id function and processing
script; the twin holds each job's instance for 300 simulated seconds and rejects Create* calls past
the quota as SageMaker does. The state machine's quota waits are skipped on each execution's
simulated clock, so the backoff takes seconds. Without the quota wait in the ASL every rejected
execution fails, and this test with it. ``benchmarks/standardize_burst.py`` runs 200.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from localrun.demo_data import partition_csv
from localrun.runner import Printer, open_session
from localrun.sagemaker_local import JobQuota, peak_instances

BURST = 24
QUOTA = JobQuota(instances=4, job_seconds=300.0)

pytestmark = pytest.mark.slow


def test_a_burst_past_the_quota_completes_with_none_lost(tmp_path: Path) -> None:
    started = time.monotonic()
    with open_session(
        "dev", workdir=tmp_path, forecast=False, printer=Printer(False), quota=QUOTA
    ) as session:
        body = partition_csv(rows=20).encode()
        runs = session.standardize_burst([(f"meta-data/partition_{n}.csv", body) for n in range(BURST)])
        wall = time.monotonic() - started

        statuses = Counter(run.result.status for run in runs)
        failed = [(r.details["key"], r.result.error, r.result.cause) for r in runs if not r.result.succeeded]
        assert len(runs) == BURST and statuses == {"SUCCEEDED": BURST}, failed[:3]
        expected = {f"prediction-data/{n}/partition_{n}.csv" for n in range(BURST)}
        expected |= {f"prediction-data/{n}/stats/partition_{n}.json" for n in range(BURST)}
        assert set(session.list_keys("prediction-data/")) == expected, "every partition's output, once"

        sagemaker, aws = session.sagemaker, session.aws
        assert len(sagemaker.bookings) == BURST and {b.kind for b in sagemaker.bookings} == {"processing"}
        assert peak_instances(sagemaker.bookings) == QUOTA.instances, "the quota was reached, never passed"
        last_end = max(b.end for b in sagemaker.bookings)
        assert last_end >= BURST / QUOTA.instances * QUOTA.job_seconds, "4 at a time: 6 rounds of 300 s"
        assert len(sagemaker.rejections) >= BURST - QUOTA.instances

        # Each rejection is one TaskFailed in its execution's history, followed by one quota wait.
        waits_of: dict[str, list[float]] = defaultdict(list)
        for wait in aws.waits:
            assert wait.state == "StandardizeQuotaWait"
            waits_of[wait.execution_arn].append(wait.seconds)
        windows = session.env.quota_retry.windows()
        for run in runs:
            failures = [e["taskFailedEventDetails"] for e in run.result.events if e["type"] == "TaskFailed"]
            assert {f["error"] for f in failures} <= {"SageMaker.ResourceLimitExceededException"}
            waits = waits_of[run.result.execution_arn]
            assert len(waits) == len(failures) < len(windows), run.details["key"]
            assert all(low <= w <= high for w, (low, high) in zip(waits, windows, strict=False)), waits
            assert run.result.output["processing"]["ProcessingJobStatus"] == "Completed"
        assert sum(len(w) for w in waits_of.values()) == len(sagemaker.rejections) == len(aws.waits)
        assert aws.retry_delays == [], "only the quota wait saw the quota error"

        seconds = [w.seconds for w in aws.waits]
        longest = max(sum(w) for w in waits_of.values())
        assert longest > QUOTA.job_seconds and wall < longest, "simulated waiting, none of it slept"
        print(
            f"\nburst: {len(runs)} executions, {statuses['SUCCEEDED']} SUCCEEDED, "
            f"{len(sagemaker.rejections)} quota rejections, {len(seconds)} quota waits recorded "
            f"(min {min(seconds):.0f} s, max {max(seconds):.0f} s, total {sum(seconds):.0f} simulated s; "
            f"longest one execution waited {longest:.0f} s, at most {max(len(w) for w in waits_of.values())} "
            f"waits), last job done at simulated {last_end:.0f} s, wall time {wall:.1f} s"
        )
