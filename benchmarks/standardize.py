"""Benchmark of the standardize engine (the processing/standardize package) against its goals.

Run ``.venv/bin/python benchmarks/standardize.py`` (``make bench``); ``--quick`` is a smoke run.
Data (generated once into benchmarks/data/, git-ignored): an id, an ISO timestamp and 20 float
columns printed with 6 decimals, 1% missing cells, one column at 1e9 + N(0, 1). Every variant
runs in its own subprocess: wall time, CPU (``getrusage(RUSAGE_CHILDREN)`` before and after) and
peak RSS (``ru_maxrss`` of that child, from ``os.wait4``), measured by a small launcher process
(LAUNCHER_CODE). The machine may be shared, so the
polars variants run ``--repeats`` times, interleaved, every run ``--settle`` seconds (default 15)
after the previous output was deleted, and the best wall and CPU time and the largest peak
count. First it measures how fast the machine writes 1 GiB through the page cache and with
direct I/O: printed as a property of the machine, not a goal. Goals (each one failing makes the
exit status 1):

- wall time <= 2.0x a plain polars ``scan_csv -> sink_csv`` copy of the same file, at every size;
- CPU time 10x lower than the tutorial pandas version (read_csv, (x - mean) / std, to_csv),
  which runs once per ``--pandas-gb`` size (default 1 and 2 GB; minutes each, and about 5x the
  input in memory: a size where 6x the input does not fit the available memory is skipped, with
  a message, and its CPU goal fails);
- peak memory <= 512 MiB at 1 GB, and growing at most 1.1x from the smallest to the largest size;
- accuracy, on a smaller file with offsets up to 1e12: every z within 4 ulp of a two-pass
  reference computed with math.fsum (corrected two-pass: mean from an exact sum, variance
  sum((x - m)**2) - sum(x - m)**2 / n, which removes the n * (mean - m)**2 bias of rounding m).

``--quick`` (20 MB, one run, pandas included) checks accuracy only: at that size start-up time
dominates the performance ratios.

One script of about 500 lines on purpose: ``make bench`` runs it by path, with no package of its
own to import from, and its sections (data, measurement, accuracy, report) read top to bottom as
the benchmark's method.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import mmap
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
PROGRAM = ROOT / "processing" / "standardize"  # the package, run as the container runs it
DATA_DIR = Path(__file__).resolve().parent / "data"
GENERATOR_VERSION = 1

WALL_RATIO_LIMIT = 2.0
WALL_RATIO_STRETCH = 1.6
CPU_FACTOR = 10.0
PEAK_LIMIT_MIB = 512.0
#: pandas peaked at 4.5x the input at 1 GB and 4.9x at 2 GB; 6x leaves room for everything else.
PANDAS_MEMORY_FACTOR = 6.0
PEAK_GROWTH_LIMIT = 1.1
ULP_LIMIT = 4.0

COPY_CODE = "import sys, polars as pl; pl.scan_csv(sys.argv[1]).sink_csv(sys.argv[2])"
PANDAS_CODE = """
import sys
import pandas as pd
df = pd.read_csv(sys.argv[1])
cols = [c for c in df.select_dtypes("number").columns if c != "id"]
df[cols] = (df[cols] - df[cols].mean()) / df[cols].std(ddof=0)
df.to_csv(sys.argv[2], index=False)
"""


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    peak_mib: float


#: (column, max |dz| in ulp, mean error in ulp, std error in ulp) per accuracy column.
Accuracy = list[tuple[str, float, float, float]]


@dataclass
class Row:
    size_gb: float
    variant: str
    runs: list[Run]
    out_bytes: int = 0

    @property
    def wall(self) -> float:
        return min(r.wall for r in self.runs)

    @property
    def cpu(self) -> float:
        return min(r.cpu for r in self.runs)

    @property
    def peak(self) -> float:
        return max(r.peak_mib for r in self.runs)


@dataclass(frozen=True)
class Goal:
    name: str
    measured: float
    limit: float
    unit: str
    ok: bool
    enforced: bool = True

    @property
    def verdict(self) -> str:
        if self.enforced:
            return "PASS" if self.ok else "FAIL"
        return ("ok" if self.ok else "missed") + " (info)"


# --------------------------------------------------------------------------- data


def write_bench_csv(path: Path, size_bytes: int, full_precision: bool = False, seed: int = 42) -> int:
    """The benchmark file: returns its row count. Floats get 6 decimals, or 17 digits."""
    rng = np.random.default_rng(seed)
    start, chunk = 0, max(1000, min(200_000, size_bytes // 2400))
    tmp = path.with_suffix(".partial")
    with open(tmp, "wb") as fh:
        while fh.tell() < size_bytes:
            index = np.arange(start, start + chunk)
            columns: dict[str, object] = {
                "id": index,
                "ts": np.datetime_as_string(np.datetime64("2024-01-01T00:00:00") + index.astype("m8[s]")),
            }
            for j in range(20):
                values = 1e9 + rng.standard_normal(chunk) if j == 0 else rng.normal(10.0 * j, 1.0 + j, chunk)
                values[rng.random(chunk) < 0.01] = np.nan
                columns[f"x{j:02d}"] = values
            frame = pl.DataFrame(columns).with_columns(pl.selectors.float().fill_nan(None))
            frame.write_csv(fh, include_header=start == 0, float_precision=None if full_precision else 6)
            start += chunk
    tmp.replace(path)
    return start


def write_accuracy_csv(path: Path, rows: int, seed: int = 7) -> None:
    """Columns that stress the statistics: large offsets, tiny spreads, constants, integers."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal
    columns = {
        "id": np.arange(rows),
        "offset_1e9": 1e9 + noise(rows),
        "offset_1e12": 1e12 + noise(rows),
        "offset_neg_1e12": -1e12 + 10 * noise(rows),
        "standard": noise(rows),
        "small_mean_wide": 1e-3 + 1e3 * noise(rows),
        "tiny_spread": 5.0 + 1e-9 * noise(rows),
        "lognormal": rng.lognormal(0.0, 2.0, rows),
        "integers": rng.integers(-(10**9), 10**9, rows).astype(np.float64),
        "constant": np.full(rows, 0.1),
    }
    for name, values in columns.items():
        if name != "id":
            values[rng.random(rows) < 0.01] = np.nan
    pl.DataFrame(columns).with_columns(pl.selectors.float().fill_nan(None)).write_csv(path)


def dataset(size_gb: float, full_precision: bool) -> tuple[Path, int]:
    """Cached benchmark file of about size_gb GB and its row count."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    shape = "full" if full_precision else "6dp"
    path = DATA_DIR / f"bench_{size_gb:g}gb_{shape}_v{GENERATOR_VERSION}.csv"
    rows_file = path.with_suffix(".rows")
    if not (path.exists() and rows_file.exists()):
        print(f"generating {path.name} ...", flush=True)
        rows_file.write_text(str(write_bench_csv(path, int(size_gb * 1e9), full_precision)))
    return path, int(rows_file.read_text())


def warm(path: Path) -> None:
    """Read the file once so that every variant starts from the page cache."""
    with open(path, "rb", buffering=0) as fh:
        while fh.read(64 << 20):
            pass


# --------------------------------------------------------------------------- measurement


#: Runs argv[2:] and writes "status wall cpu maxrss_kib" to argv[1]. A child's ru_maxrss counts
#: the memory of the process that spawned it (its hiwater is recorded at exec, even with vfork),
#: so the commands are started from this small interpreter, never from the benchmark's own,
#: which may grow (it generates the data and checks the accuracy).
LAUNCHER_CODE = """
import os, resource, sys, time
before = resource.getrusage(resource.RUSAGE_CHILDREN)
start = time.perf_counter()
_, status, usage = os.wait4(os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ), 0)
wall = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
with open(sys.argv[1], "w") as fh:
    fh.write(f"{os.waitstatus_to_exitcode(status)} {wall!r} {cpu!r} {usage.ru_maxrss}")
"""


def measure(cmd: Sequence[str], log: Path) -> Run:
    """Run cmd (cmd[0] an absolute path) through LAUNCHER_CODE: its wall, CPU and peak RSS.

    CPU from ``getrusage(RUSAGE_CHILDREN)`` before and after, peak from ``os.wait4``; stderr goes
    to log, and a failure stops the benchmark with its tail.
    """
    result = log.with_suffix(".run")
    with open(log, "wb") as err:
        launcher = [sys.executable, "-S", "-c", LAUNCHER_CODE, str(result), *cmd]
        subprocess.run(launcher, stdout=subprocess.DEVNULL, stderr=err, check=True)
    code, wall, cpu, maxrss = result.read_text().split()
    result.unlink()
    if int(code) != 0:
        sys.exit(f"{log.stem} failed with {code}:\n{log.read_text(errors='replace')[-3000:]}")
    return Run(wall=float(wall), cpu=float(cpu), peak_mib=int(maxrss) / 1024)


@dataclass(frozen=True)
class WriteSpeed:
    """GB/s of writing `mib` MiB into the page cache, and with direct I/O (None: not supported)."""

    mib: int
    buffered: float
    direct: float | None


def write_speed(work: Path, settle: float, mib: int = 1024) -> WriteSpeed:
    """How fast this machine writes a file, each way started `settle` s after the last deletion.

    A probe of the machine, not of the engine: where the page cache is much slower than direct
    I/O, freed memory is expensive to write into again (see benchmarks/README.md).
    """
    block = mmap.mmap(-1, 8 << 20)  # page-aligned (as O_DIRECT needs) and zeroed
    work.mkdir(parents=True, exist_ok=True)
    target = work / "write_probe.bin"

    def timed(flags: int) -> float:
        time.sleep(settle)
        try:  # the file may exist even when opening it fails (O_DIRECT refused after O_CREAT)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | flags, 0o644)
            try:
                start = time.perf_counter()
                for _ in range(mib * (1 << 20) // len(block)):
                    os.write(fd, block)
                return mib * (1 << 20) / 1e9 / (time.perf_counter() - start)
            finally:
                os.close(fd)
        finally:
            target.unlink(missing_ok=True)

    with block:
        buffered = timed(0)
        direct = None
        with contextlib.suppress(AttributeError, OSError):  # no O_DIRECT here, or not on this file system
            direct = timed(os.O_DIRECT)
    return WriteSpeed(mib, buffered, direct)


def pandas_fits(src: Path) -> bool:
    """Whether pandas on src (PANDAS_MEMORY_FACTOR x its size) fits MemAvailable; says so if not."""
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        return True
    fields = dict(line.split(":", 1) for line in meminfo.read_text().splitlines() if ":" in line)
    available = int(fields["MemAvailable"].split()[0]) * 1024
    needed = PANDAS_MEMORY_FACTOR * src.stat().st_size
    if needed > available:
        gb = f"needs ~{needed / 1e9:.1f} GB, {available / 1e9:.1f} GB available"
        print(f"pandas on {src.name} skipped: {gb}; its CPU goal counts as failed", flush=True)
    return needed <= available


def bench_size(
    size_gb: float, repeats: int, pandas: bool, work: Path, full_precision: bool, settle: float
) -> tuple[list[Row], int, int]:
    """Copy and standardize, interleaved, each started `settle` seconds after the last output went."""
    src, rows = dataset(size_gb, full_precision)
    warm(src)
    work.mkdir(parents=True, exist_ok=True)
    inp, out = work / "input", work / "output"
    shutil.rmtree(inp, ignore_errors=True)
    inp.mkdir()
    (inp / "part_1.csv").symlink_to(src)
    copy_out = work / "copy.csv"
    copy = Row(size_gb, "polars copy", [])
    ours = Row(size_gb, "standardize", [])
    for _ in range(repeats):
        time.sleep(settle)
        cmd = [sys.executable, "-c", COPY_CODE, str(src), str(copy_out)]
        copy.runs.append(measure(cmd, work / "copy.log"))
        copy.out_bytes = copy_out.stat().st_size
        copy_out.unlink()
        shutil.rmtree(out, ignore_errors=True)
        time.sleep(settle)
        cmd = [sys.executable, str(PROGRAM), "--input", str(inp), "--output", str(out)]
        ours.runs.append(measure(cmd, work / "standardize.log"))
        ours.out_bytes = (out / "part_1.csv").stat().st_size
        counted = int(pl.read_json(out / "stats" / "part_1.json")["rows"][0])
        if counted != rows:
            sys.exit(f"standardize wrote {counted} rows, expected {rows}")
        shutil.rmtree(out)
    result = [copy, ours]
    if pandas and pandas_fits(src):
        pandas_out = work / "pandas.csv"
        cmd = [sys.executable, "-c", PANDAS_CODE, str(src), str(pandas_out)]
        print(f"pandas at {size_gb:g} GB (one run, a few minutes) ...", flush=True)
        time.sleep(settle)
        result.append(Row(size_gb, "pandas (1 run)", [measure(cmd, work / "pandas.log")]))
        result[-1].out_bytes = pandas_out.stat().st_size
        pandas_out.unlink()
    return result, src.stat().st_size, rows


# --------------------------------------------------------------------------- accuracy


def reference(values: np.ndarray) -> tuple[float, float]:
    """Corrected two-pass mean and population std with math.fsum (see the module docstring)."""
    xs = values.tolist()
    n = len(xs)
    total = math.fsum(xs)
    residual = math.fsum([*xs, -total])  # exact sum = total + residual (up to one rounding)
    mean = float((Fraction(total) + Fraction(residual)) / n)
    d = values - mean
    var = (math.fsum((d * d).tolist()) - math.fsum(d.tolist()) ** 2 / n) / n
    std = math.sqrt(max(var, 0.0))
    return mean, 0.0 if std <= 4 * 2.0**-52 * abs(mean) else std


def ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    return np.abs(got - want) / np.spacing(np.abs(want))


def accuracy(rows: int, work: Path) -> Accuracy:
    """(column, worst z error in ulp, mean error in ulp, std error in ulp) per numeric column."""
    work.mkdir(parents=True, exist_ok=True)
    inp, out = work / "acc_input", work / "acc_output"
    shutil.rmtree(inp, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    inp.mkdir()
    write_accuracy_csv(inp / "accuracy.csv", rows)
    cmd = [sys.executable, str(PROGRAM), "--input", str(inp), "--output", str(out)]
    measure(cmd, work / "accuracy.log")
    source = pl.read_csv(inp / "accuracy.csv", infer_schema_length=None)
    result = pl.read_csv(out / "accuracy.csv", infer_schema_length=None)
    stats = pl.read_json(out / "stats" / "accuracy.json")["columns"][0]
    report = []
    for name in source.columns[1:]:
        mask = source[name].is_not_null().to_numpy()
        x = source[name].to_numpy()[mask]
        z = result[name].cast(pl.Float64).to_numpy()[mask]
        mean, std = reference(x)
        want = np.zeros_like(x) if std == 0 else (x - mean) / std
        got_mean, got_std = stats[name]["mean"], stats[name]["std"]
        report.append(
            (
                name,
                float(np.max(ulps(z, want))),
                abs(got_mean - mean) / math.ulp(mean),
                abs(got_std - std) / math.ulp(std) if std else (0.0 if got_std == 0 else math.inf),
            )
        )
    shutil.rmtree(inp)
    shutil.rmtree(out)
    return report


# --------------------------------------------------------------------------- report


def by_variant(rows: list[Row]) -> dict[tuple[float, str], Row]:
    """Rows by (size, variant name without its "(1 run)" note)."""
    return {(r.size_gb, r.variant.split(" (")[0]): r for r in rows}


def goals(rows: list[Row], acc: Accuracy, quick: bool, pandas_sizes: Sequence[float]) -> list[Goal]:
    """The goals of the issue; a CPU goal at a --pandas-gb size that pandas skipped fails."""
    result = []
    sizes = sorted({r.size_gb for r in rows})
    by = by_variant(rows)
    for size in sizes:
        ratio = by[size, "standardize"].wall / by[size, "polars copy"].wall
        name = f"wall <= {WALL_RATIO_LIMIT}x polars copy at {size:g} GB"
        result.append(Goal(name, ratio, WALL_RATIO_LIMIT, "x", ratio <= WALL_RATIO_LIMIT, not quick))
        name = f"stretch: wall <= {WALL_RATIO_STRETCH}x polars copy at {size:g} GB"
        result.append(Goal(name, ratio, WALL_RATIO_STRETCH, "x", ratio <= WALL_RATIO_STRETCH, False))
        name = f"CPU >= {CPU_FACTOR:g}x lower than pandas at {size:g} GB"
        if (size, "pandas") in by:
            factor = by[size, "pandas"].cpu / by[size, "standardize"].cpu
            result.append(Goal(name, factor, CPU_FACTOR, "x", factor >= CPU_FACTOR, not quick))
        elif size in pandas_sizes:
            result.append(Goal(f"{name} (not measured)", math.nan, CPU_FACTOR, "x", False, not quick))
    if 1.0 in sizes:
        peak = by[1.0, "standardize"].peak
        name = f"peak memory <= {PEAK_LIMIT_MIB:g} MiB at 1 GB"
        result.append(Goal(name, peak, PEAK_LIMIT_MIB, "MiB", peak <= PEAK_LIMIT_MIB, not quick))
    if len(sizes) > 1:
        growth = by[sizes[-1], "standardize"].peak / by[sizes[0], "standardize"].peak
        name = f"peak memory growth {sizes[0]:g} -> {sizes[-1]:g} GB <= {PEAK_GROWTH_LIMIT}x"
        result.append(Goal(name, growth, PEAK_GROWTH_LIMIT, "x", growth <= PEAK_GROWTH_LIMIT, not quick))
    worst = max(a[1] for a in acc)
    name = f"accuracy: every z within {ULP_LIMIT:g} ulp of the fsum reference"
    result.append(Goal(name, worst, ULP_LIMIT, "ulp", worst <= ULP_LIMIT))
    return result


def print_report(
    rows: list[Row],
    inputs: dict[float, tuple[int, int]],
    acc: Accuracy,
    result: list[Goal],
    speed: WriteSpeed,
) -> None:
    by = by_variant(rows)
    cores = len(os.sched_getaffinity(0))
    print()
    print(
        f"standardize benchmark: {cores} cores, load average {os.getloadavg()[0]:.1f}, "
        f"Python {platform.python_version()}, polars {pl.__version__}; "
        "best wall and CPU of the runs, largest peak"
    )
    header = (
        f"{'input':<22} {'variant':<16} {'runs':>4} {'wall s':>8} {'CPU s':>8} {'peak MiB':>9} "
        f"{'wall/copy':>9} {'CPU/pandas':>10} {'out/in':>7}"
    )
    direct = f"{speed.direct:.2f} GB/s" if speed.direct is not None else "not supported here"
    print(f"writing {speed.mib} MiB: {speed.buffered:.2f} GB/s into the page cache, direct I/O {direct}")
    print(header)
    print("-" * len(header))
    for size, (in_bytes, nrows) in sorted(inputs.items()):
        label = f"{in_bytes / 1e9:.2f} GB, {nrows / 1e6:.1f}M rows"
        for row in (r for r in rows if r.size_gb == size):
            copy = by[size, "polars copy"]
            pandas = by.get((size, "pandas"))
            cpu_ratio = f"{row.cpu / pandas.cpu:.3f}" if pandas else "-"
            print(
                f"{label:<22} {row.variant:<16} {len(row.runs):>4} {row.wall:>8.2f} {row.cpu:>8.2f} "
                f"{row.peak:>9.0f} {row.wall / copy.wall:>9.2f} {cpu_ratio:>10} "
                f"{row.out_bytes / in_bytes:>7.2f}"
            )
            label = ""
    print()
    print(f"{'accuracy column':<18} {'max |dz| ulp':>12} {'mean ulp':>9} {'std ulp':>8}")
    for name, z_ulp, mean_ulp, std_ulp in acc:
        print(f"{name:<18} {z_ulp:>12.2f} {mean_ulp:>9.2f} {std_ulp:>8.2f}")
    print()
    width = max(len(g.name) for g in result)
    for g in result:
        print(f"{g.name:<{width}}  {g.measured:>9.2f} {g.unit:<3} (limit {g.limit:g})  {g.verdict}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--size-gb", type=float, nargs="+", default=[1.0, 2.0], help="input sizes (default: 1 2)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="runs of each polars variant (default: 5)")
    parser.add_argument(
        "--pandas-gb",
        type=float,
        nargs="*",
        default=[1.0, 2.0],
        help="sizes at which pandas runs once, none for no pandas (default: 1 2)",
    )
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
        args.size_gb, args.repeats, args.pandas_gb, args.accuracy_rows = [0.02], 1, [0.02], 20_000
    if args.settle is None:
        args.settle = 0.0 if args.quick else 15.0
    rows: list[Row] = []
    inputs: dict[float, tuple[int, int]] = {}
    try:
        speed = write_speed(args.work, args.settle, 64 if args.quick else 1024)
        for size in sorted(args.size_gb):
            print(f"measuring {size:g} GB ...", flush=True)
            pandas = size in args.pandas_gb
            found, in_bytes, nrows = bench_size(
                size, args.repeats, pandas, args.work, args.full_precision, args.settle
            )
            rows += found
            inputs[size] = (in_bytes, nrows)
        acc = accuracy(args.accuracy_rows, args.work)
    finally:
        shutil.rmtree(args.work, ignore_errors=True)
    result = goals(rows, acc, args.quick, args.pandas_gb)
    print_report(rows, inputs, acc, result, speed)
    return 0 if all(g.ok for g in result if g.enforced) else 1


if __name__ == "__main__":
    sys.exit(main())
