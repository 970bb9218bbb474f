"""Benchmark of the standardize engine (the processing/standardize package) against its peers.

Run ``.venv/bin/python benchmarks/standardize.py`` (``make bench``); ``--quick`` is a smoke run.
Data (generated once into benchmarks/data/, git-ignored): an id, an ISO timestamp and 20 float
columns printed with 6 decimals, 1% missing cells, one column at 1e9 + N(0, 1). On the same file,
in the same run, each variant runs in its own subprocess and writes the engine's output (every
numeric column as z = (x - mean) / population std, z = 0 where std <= 4 eps |mean|, missing cells
empty, ids and text columns, timestamps included, passed through):

- **standardize**: the engine, ``python processing/standardize --input DIR --output DIR``;
- **duckdb**: SQL, two passes over ``read_csv`` (``avg(x)``, then ``sqrt(avg((x - mean) ^ 2))``)
  and a third that ``COPY ... TO`` writes the z-scores;
- **pandas pyarrow**: ``read_csv(engine="pyarrow", dtype_backend="pyarrow")``, z, ``to_csv``;
- **polars eager**: ``read_csv``, z, ``write_csv``, all in memory;
- **polars copy**: ``scan_csv -> sink_csv``, no z at all: a yardstick, reported as information.

Each run gives wall time, CPU (``getrusage(RUSAGE_CHILDREN)`` before and after) and peak RSS
(``ru_maxrss`` of that child, from ``os.wait4``), measured by a small launcher process (see
LAUNCHER_CODE); the first run of each variant also gives its
worst error against a two-pass reference computed with math.fsum (corrected two-pass: mean from
an exact sum, variance sum((x - m)**2) - sum(x - m)**2 / n, which removes the n * (mean - m)**2
bias of rounding m), in ulp of the reference z (``np.spacing``; a missing, NaN or infinite z
where the reference has a value counts as inf) and as the largest |dz|. Every variant also runs
once on a smaller file with offsets up to 1e12, constants and tiny spreads. The machine may be
shared, so the variants run ``--repeats`` times, interleaved, each run ``--settle`` seconds
(default 15) after the previous output was deleted, and the best wall and CPU time and the
largest peak count; a peer slower than SLOW_PEER_FACTOR x the engine in the first round runs
once (repeats could not close that gap). A peer whose memory (its ``memory_factor`` x the
input) does not fit MemAvailable is skipped, with a message.

Goals, only those the engine controls (each one missed makes the exit status 1):

- wall time below every peer's, at every size;
- peak memory <= 512 MiB at 1 GB, and growing at most 1.1x from the smallest to the largest size;
- accuracy: every z within 4 ulp of the reference, on the accuracy file and every benchmark file.

Reported as information: the peers' accuracy, and the engine's wall time over the polars copy's,
beside a probe of how fast the machine writes 1 GiB through the page cache and with direct I/O.
``--quick`` (20 MB, one run, no settling) enforces only the accuracy goal: at that size start-up
time dominates the timings.

The method reads in four modules: ``standardize_variants.py`` (the variants and the records of
results), ``standardize_runs.py`` (the data and the measurement), ``standardize_accuracy.py`` and
this one (the goals, the report and the command line).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import polars as pl

if str(Path(__file__).resolve().parents[1]) not in sys.path:  # run by path, as make bench does
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.standardize_accuracy import (
    accuracy,
    make_reference,
    worst,
    z_errors,
)
from benchmarks.standardize_runs import (
    WriteSpeed,
    dataset,
    engine_rows,
    memory_shortfall,
    run_variant,
    warm,
    write_speed,
)
from benchmarks.standardize_variants import (
    COPY,
    DATA_DIR,
    ENGINE,
    PEAK_GROWTH_LIMIT,
    PEAK_LIMIT_MIB,
    PEERS,
    SLOW_PEER_FACTOR,
    ULP_LIMIT,
    VARIANTS,
    Z_VARIANTS,
    Accuracy,
    Goal,
    Row,
)


def bench_size(size_gb: float, repeats: int, work: Path, full_precision: bool, settle: float) -> list[Row]:
    """Every variant on one file, interleaved, each run `settle` seconds after the last output went."""
    src, nrows = dataset(size_gb, full_precision)
    print(f"fsum reference of {src.name} ...", flush=True)
    ref = make_reference(src)
    warm(src)
    work.mkdir(parents=True, exist_ok=True)
    rows = {v.name: Row(size_gb, v.name) for v in VARIANTS}
    for v in VARIANTS:
        rows[v.name].skipped = memory_shortfall(v, src)
        if rows[v.name].skipped:
            print(f"{v.name} on {src.name} skipped: {rows[v.name].skipped}", flush=True)
    once: set[str] = set()
    for round_ in range(repeats):
        for v in VARIANTS:
            row = rows[v.name]
            if row.skipped or (round_ and v.name in once):
                continue
            time.sleep(settle)
            run, dst = run_variant(v, src, work)
            row.runs.append(run)
            row.out_bytes = dst.stat().st_size
            if v is ENGINE and engine_rows(dst) != nrows:
                sys.exit(f"standardize wrote {engine_rows(dst)} rows, expected {nrows}")
            if round_ == 0 and v in Z_VARIANTS:
                row.ulp, row.dz = worst(z_errors(ref, dst, v.name))
            shutil.rmtree(work / "out")
        engine_wall = rows[ENGINE.name].wall
        once |= {p.name for p in PEERS if rows[p.name].wall > SLOW_PEER_FACTOR * engine_wall}
    return list(rows.values())


# --------------------------------------------------------------------------- report


def goals(rows: list[Row], acc: Accuracy, quick: bool) -> list[Goal]:
    """The goals the engine controls; a peer that could not run is reported, not held against it."""
    result = []
    sizes = sorted({r.size_gb for r in rows})
    by = {(r.size_gb, r.variant): r for r in rows}
    for size in sizes:
        engine = by[size, ENGINE.name]
        for peer in (r for r in rows if r.size_gb == size and r.peer):
            name = f"wall below {peer.variant} at {size:g} GB"
            if not peer.runs:
                result.append(Goal(f"{name} ({peer.skipped})", math.nan, 1.0, "x", False, False))
                continue
            ratio = engine.wall / peer.wall
            result.append(Goal(name, ratio, 1.0, "x", ratio < 1.0, not quick))
        name = f"accuracy: every z within {ULP_LIMIT:g} ulp at {size:g} GB"
        result.append(Goal(name, engine.ulp, ULP_LIMIT, "ulp", engine.ulp <= ULP_LIMIT))
    if 1.0 in sizes:
        peak = by[1.0, ENGINE.name].peak
        name = f"peak memory <= {PEAK_LIMIT_MIB:g} MiB at 1 GB"
        result.append(Goal(name, peak, PEAK_LIMIT_MIB, "MiB", peak <= PEAK_LIMIT_MIB, not quick))
    if len(sizes) > 1:
        growth = by[sizes[-1], ENGINE.name].peak / by[sizes[0], ENGINE.name].peak
        name = f"peak memory growth {sizes[0]:g} -> {sizes[-1]:g} GB <= {PEAK_GROWTH_LIMIT}x"
        result.append(Goal(name, growth, PEAK_GROWTH_LIMIT, "x", growth <= PEAK_GROWTH_LIMIT, not quick))
    worst_ulp = worst(acc.errors[ENGINE.name])[0]
    name = f"accuracy: every z within {ULP_LIMIT:g} ulp on the accuracy file"
    result.append(Goal(name, worst_ulp, ULP_LIMIT, "ulp", worst_ulp <= ULP_LIMIT))
    return result


def _num(value: float, spec: str) -> str:
    return "-" if math.isnan(value) else format(value, spec)


def _ulp(value: float) -> str:
    """An error in ulp: 2 decimals, or 2 significant digits from 1000 up."""
    return _num(value, ".2f" if not value >= 1000 or math.isinf(value) else ".1e")


def print_table(rows: list[Row], inputs: dict[float, tuple[int, int]], speed: WriteSpeed) -> None:
    """The measurements, and per size the engine's wall over the copy's beside the write probe."""
    by = {(r.size_gb, r.variant): r for r in rows}
    header = (
        f"{'input':<19} {'variant':<15} {'runs':>4} {'wall s':>7} {'CPU s':>7} {'peak MiB':>8} "
        f"{'wall/engine':>11} {'worst ulp':>9} {'max |dz|':>8} {'out/in':>6}"
    )
    print(header)
    print("-" * len(header))
    for size, (in_bytes, nrows) in sorted(inputs.items()):
        label = f"{in_bytes / 1e9:.2f} GB, {nrows / 1e6:.1f}M rows"
        engine = by[size, ENGINE.name]
        for row in (r for r in rows if r.size_gb == size):
            if row.skipped:
                print(f"{label:<19} {row.variant:<15} skipped: {row.skipped}")
            else:
                print(
                    f"{label:<19} {row.variant:<15} {len(row.runs):>4} {row.wall:>7.2f} {row.cpu:>7.2f} "
                    f"{row.peak:>8.0f} {row.wall / engine.wall:>11.2f} {_ulp(row.ulp):>9} "
                    f"{_num(row.dz, '.1e'):>8} {row.out_bytes / in_bytes:>6.2f}"
                )
            label = ""
    direct = f"{speed.direct:.2f} GB/s" if speed.direct is not None else "not supported here"
    probe = f"writing {speed.mib} MiB: {speed.buffered:.2f} GB/s into the page cache, direct I/O {direct}"
    for size in sorted(inputs):
        ratio = by[size, ENGINE.name].wall / by[size, COPY.name].wall
        print(f"engine wall / polars copy at {size:g} GB: {ratio:.2f}x (information); {probe}")
    print(f"a peer over {SLOW_PEER_FACTOR:g}x the engine's wall in the first round runs once")


def print_accuracy(acc: Accuracy) -> None:
    """Worst z error in ulp per column and variant, the engine's mean and std errors beside."""
    names = [v.name for v in Z_VARIANTS]
    print(f"accuracy file, {acc.rows:,} rows: worst z error in ulp of the fsum reference")
    print(f"{'column':<16} {'mean ulp':>8} {'std ulp':>8} " + " ".join(f"{n:>14}" for n in names))
    for column, (mean_ulp, std_ulp) in acc.engine_stats.items():
        cells = " ".join(f"{_ulp(acc.errors[n][column][0]):>14}" for n in names)
        print(f"{column:<16} {mean_ulp:>8.2f} {std_ulp:>8.2f} {cells}")
    print(f"{'max |dz|':<16} {'':>8} {'':>8} " + " ".join(f"{worst(acc.errors[n])[1]:>14.1e}" for n in names))
    print("(mean ulp and std ulp: the engine's statistics file against the reference)")


def print_report(
    rows: list[Row],
    inputs: dict[float, tuple[int, int]],
    acc: Accuracy,
    result: list[Goal],
    speed: WriteSpeed,
) -> None:
    cores = len(os.sched_getaffinity(0))
    print()
    print(
        f"standardize benchmark: {cores} cores, load average {os.getloadavg()[0]:.1f}, "
        f"Python {platform.python_version()}, polars {pl.__version__}; "
        "best wall and CPU of the runs, largest peak, errors of the first run"
    )
    print_table(rows, inputs, speed)
    print()
    print_accuracy(acc)
    print()
    width = max(len(g.name) for g in result)
    for g in result:
        print(
            f"{g.name:<{width}}  {_num(g.measured, '>9.2f'):>9} {g.unit:<3} (limit {g.limit:g})  {g.verdict}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--size-gb", type=float, nargs="+", default=[1.0, 2.0], help="input sizes (default: 1 2)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="runs of each variant (default: 5)")
    parser.add_argument(
        "--accuracy-rows", type=int, default=200_000, help="rows of the accuracy file (default: 200000)"
    )
    parser.add_argument(
        "--full-precision",
        action="store_true",
        help="write the floats with 17 significant digits instead of 6 decimals (output ~1.0x input)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=None,
        help="seconds to wait before every run, after the last output is deleted, so that every run "
        "starts with the same free memory (see benchmarks/README.md; default: 15, 0 with --quick)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 20 MB, 1 repeat, accuracy goal only")
    parser.add_argument("--work", type=Path, default=DATA_DIR / "work", help="scratch directory")
    args = parser.parse_args(argv)
    if args.quick:
        args.size_gb, args.repeats, args.accuracy_rows = [0.02], 1, 20_000
    if args.settle is None:
        args.settle = 0.0 if args.quick else 15.0
    rows: list[Row] = []
    inputs: dict[float, tuple[int, int]] = {}
    try:
        speed = write_speed(args.work, args.settle, 64 if args.quick else 1024)
        for size in sorted(args.size_gb):
            print(f"measuring {size:g} GB ...", flush=True)
            rows += bench_size(size, args.repeats, args.work, args.full_precision, args.settle)
            src, nrows = dataset(size, args.full_precision)
            inputs[size] = (src.stat().st_size, nrows)
        acc = accuracy(args.accuracy_rows, args.work)
    finally:
        shutil.rmtree(args.work, ignore_errors=True)
    result = goals(rows, acc, args.quick)
    print_report(rows, inputs, acc, result, speed)
    return 0 if all(g.ok for g in result if g.enforced) else 1


if __name__ == "__main__":
    sys.exit(main())
