"""Memory and time of generate-dataset on wide inputs: N series x H hourly points.

Run ``.venv/bin/python benchmarks/generate_dataset.py [--series 300 1000] [--hours 8760]``.

For each size it writes Glue-style CSV parts (``ts,value,series_id``, 8 parts) once under
``benchmarks/data/`` (git-ignored), then runs the Lambda's ``generate_dataset`` in a fresh
interpreter against a folder-backed S3 stand-in (so only the function's own memory counts) and
prints the wall time and the peak RSS growth over the interpreter after its imports, against the
function's 1024 MB.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
PARTS = 8
RUN = "jr_bench"


class FolderS3:
    """The S3 calls generate-dataset makes, on a folder (``<root>/<key>``); writes keep sizes only.

    ``upload_fileobj`` reads its stream in 8 MiB parts, one at a time (s3transfer holds up to 4 more
    in flight, which the function's memory budget counts apart).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.written: dict[str, int] = {}

    def get_paginator(self, operation_name: str) -> Any:
        assert operation_name == "list_objects_v2"
        root = self.root

        class Paginator:
            def paginate(self, *, Bucket: str, Prefix: str) -> Iterator[Mapping[str, Any]]:
                keys = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
                yield {
                    "Contents": [
                        {"Key": k, "Size": (root / k).stat().st_size} for k in keys if k.startswith(Prefix)
                    ]
                }

        return Paginator()

    def get_object(self, *, Bucket: str, Key: str, Range: str | None = None) -> Mapping[str, Any]:
        path = self.root / Key
        if Range:  # only the suffix form the function uses: bytes=-N
            tail = int(Range.removeprefix("bytes=-"))
            return {"Body": io.BytesIO(path.read_bytes()[-tail:])}
        return {"Body": open(path, "rb")}  # read and closed by the caller

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> Any:
        self.written[Key] = len(Body)

    def upload_fileobj(self, Fileobj: Any, Bucket: str, Key: str, **_: Any) -> None:
        size = 0
        while part := Fileobj.read(8 * 2**20):
            size += len(part)
        self.written[Key] = size


def write_parts(series: int, hours: int) -> Path:
    """``DATA/gd_<series>x<hours>/etl/sales/run=<RUN>/part-*.csv``, written once."""
    root = DATA / f"gd_{series}x{hours}"
    run = root / "etl" / "sales" / f"run={RUN}"
    if (run / "_SUCCESS").exists():
        return root
    run.mkdir(parents=True, exist_ok=True)
    start = datetime(2023, 1, 1)
    stamps = [(start + timedelta(hours=h)).strftime("%Y-%m-%d %H:%M:%S") for h in range(hours)]
    per_part = -(-series // PARTS)
    for part in range(PARTS):
        with open(run / f"part-{part:05d}.csv", "w", encoding="utf-8") as out:
            out.write("ts,value,series_id\n")
            for s in range(part * per_part, min(series, (part + 1) * per_part)):
                sid = f"sensor-{s:04d}"
                out.writelines(f"{ts},{(s + h % 24) * 0.5:.2f},{sid}\n" for h, ts in enumerate(stamps))
    (run / "_SUCCESS").write_text("")
    return root


def child(root: Path) -> None:
    """In a fresh interpreter: import, note the RSS peak, run the function, print a JSON line."""
    sys.path[:0] = [str(ROOT / "lambdas" / "generate_dataset"), str(ROOT)]
    import dataset  # the Lambda's module, as its handler imports it

    env = {
        "BUCKET_NAME": "bench-bucket", "ETL_PREFIX": "etl/sales/", "WORK_PREFIX": "forecast/",
        "TIMESTAMP_COLUMN": "ts", "VALUE_COLUMN": "value", "SERIES_COLUMN": "series_id",
        "TIME_FREQ": "1H", "PREDICTION_LENGTH": "168", "CONTEXT_LENGTH": "672", "NAME_PREFIX": "forecast",
    }  # fmt: skip
    config = dataset.Config.from_env(env)
    s3 = FolderS3(root)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    result = dataset.generate_dataset(s3, config, RUN, "bench-run")
    seconds = time.perf_counter() - start
    growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(json.dumps({"seconds": seconds, "rss_mib": growth, "series": result["series_count"]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--series", type=int, nargs="+", default=[300, 1000], help="sizes (default: 300 1000)"
    )
    parser.add_argument("--hours", type=int, default=8760, help="points per series (default: %(default)s)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    print(f"generate-dataset, {args.hours} hourly points per series, {PARTS} CSV parts")
    print(f"{'series':>7} {'rows':>11} {'CSV MiB':>8} {'seconds':>8} {'peak RSS +MiB':>14}")
    for series in args.series:
        root = write_parts(series, args.hours)
        size = sum(p.stat().st_size for p in root.rglob("*.csv")) / 2**20
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(root)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            print(
                f"{series:>7} {series * args.hours:>11,} {size:8.0f}   failed: {done.stderr.strip()[-300:]}"
            )
            continue
        m = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{series:>7} {series * args.hours:>11,} {size:8.0f} {m['seconds']:8.1f} {m['rss_mib']:14.0f}")


if __name__ == "__main__":
    main()
