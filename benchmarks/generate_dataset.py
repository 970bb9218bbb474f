"""Memory and time of generate-dataset on wide inputs: N series x H hourly points.

Run ``.venv/bin/python benchmarks/generate_dataset.py [--series 300 1000] [--hours 8760]
[--short-rows] [--memory-mb MB]``; figures and their reading are in benchmarks/README.md.

For each size it writes Glue-style CSV parts (``ts,value,series_id``, 8 parts) once under
``benchmarks/data/`` (git-ignored), then runs the Lambda's ``generate_dataset`` in a fresh
interpreter against a folder-backed S3 stand-in (so only the function's own memory counts) and
prints the wall time and the peak RSS growth over the interpreter after its imports, to hold
against the function's memory (``forecast.generateDataset.memoryMb``, default 1024 MB).
"""

from __future__ import annotations

import argparse
import io
import json
import os
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
MEMORY_VAR = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"


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


def write_parts(series: int, hours: int, short: bool = False) -> Path:
    """``DATA/gd_<series>x<hours>[_short]/etl/sales/run=<RUN>/part-*.csv``, written once.

    Rows are ``2023-01-01 00:00:00,12.50,sensor-0001`` (39 bytes), or with ``short``
    ``2023-01-01T00:00,7,1`` (about 23 bytes: the most rows per byte a realistic table gives).
    """
    root = DATA / f"gd_{series}x{hours}{'_short' if short else ''}"
    run = root / "etl" / "sales" / f"run={RUN}"
    if (run / "_SUCCESS").exists():
        return root
    run.mkdir(parents=True, exist_ok=True)
    start = datetime(2023, 1, 1)
    form = "%Y-%m-%dT%H:%M" if short else "%Y-%m-%d %H:%M:%S"
    stamps = [(start + timedelta(hours=h)).strftime(form) for h in range(hours)]
    per_part = -(-series // PARTS)
    for part in range(PARTS):
        with open(run / f"part-{part:05d}.csv", "w", encoding="utf-8") as out:
            out.write("ts,value,series_id\n")
            for s in range(part * per_part, min(series, (part + 1) * per_part)):
                if short:
                    out.writelines(f"{ts},{h % 10},{s}\n" for h, ts in enumerate(stamps))
                else:
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
    config = dataset.Config.from_env({**env, **{k: v for k, v in os.environ.items() if k == MEMORY_VAR}})
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
    parser.add_argument("--short-rows", action="store_true", help="about 23-byte rows instead of 39")
    parser.add_argument(
        "--memory-mb",
        type=int,
        help="run with AWS_LAMBDA_FUNCTION_MEMORY_SIZE set, so the InputTooLarge check runs (default: unset)",
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    env = dict(os.environ)
    if args.memory_mb:
        env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(args.memory_mb)
    rows = "short rows" if args.short_rows else "39-byte rows"
    print(f"generate-dataset, {args.hours} hourly points per series, {PARTS} CSV parts, {rows}")
    print(
        f"{'series':>7} {'rows':>11} {'CSV MiB':>8} {'seconds':>8} {'peak RSS +MiB':>14} {'+MiB/CSV MiB':>13}"
    )
    for series in args.series:
        root = write_parts(series, args.hours, args.short_rows)
        size = sum(p.stat().st_size for p in root.rglob("*.csv")) / 2**20
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(root)],
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
        if done.returncode != 0:
            print(
                f"{series:>7} {series * args.hours:>11,} {size:8.0f}   failed: {done.stderr.strip()[-300:]}"
            )
            continue
        m = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{series:>7} {series * args.hours:>11,} {size:8.0f} {m['seconds']:8.1f} {m['rss_mib']:14.0f} "
            f"{m['rss_mib'] / size:13.2f}"
        )


if __name__ == "__main__":
    main()
