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

One script of about 750 lines on purpose: ``make bench`` runs it by path, with no package of its
own to import from, and its sections (data, variants, measurement, accuracy, report) read top to
bottom as the benchmark's method.
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
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
PROGRAM = ROOT / "processing" / "standardize"  # the package, run as the container runs it
DATA_DIR = Path(__file__).resolve().parent / "data"
GENERATOR_VERSION = 1

PEAK_LIMIT_MIB = 512.0
PEAK_GROWTH_LIMIT = 1.1
ULP_LIMIT = 4.0
#: A peer this many times slower than the engine in the first round is not run again.
SLOW_PEER_FACTOR = 2.0

# --------------------------------------------------------------------------- variants
# Each peer is run as ``python -c CODE SRC DST`` and writes what the engine writes: numeric
# columns (a number type, name not ``id`` or ``*_id``, the engine's is_id_name) as z-scores
# with the population std, z = 0 where std <= 4 eps |mean| (the engine's constant column),
# missing cells empty, every other column unchanged, in the header's order.

COPY_CODE = "import sys, polars as pl; pl.scan_csv(sys.argv[1]).sink_csv(sys.argv[2])"

DUCKDB_CODE = """
import sys
import duckdb
src, dst = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
# Numbers are integers or doubles; anything else, ISO timestamps included, stays text.
scan = "read_csv(?, auto_type_candidates = ['BIGINT', 'DOUBLE', 'VARCHAR'])"
columns = [(n, t) for n, t, *_ in con.execute(f"DESCRIBE SELECT * FROM {scan}", [src]).fetchall()]
def q(name):
    return '"' + name.replace('"', '""') + '"'
def is_id(name):
    return name.lower() == "id" or name.lower().endswith("_id")
num = [n for n, t in columns if t in ("BIGINT", "DOUBLE") and not is_id(n)]
means = stds = ()
if num:  # two passes: the mean, then the population std over x - mean
    means = con.execute(f"SELECT {', '.join(f'avg({q(c)})' for c in num)} FROM {scan}", [src]).fetchone()
    sql = ", ".join(f"sqrt(avg(({q(c)} - ?::DOUBLE) ^ 2))" for c in num)
    stds = con.execute(f"SELECT {sql} FROM {scan}", [*means, src]).fetchone()
stats = dict(zip(num, zip(means, stds)))
select, params = [], []
for name, _ in columns:
    mean, std = stats.get(name, (None, None))
    if name not in stats or mean is None:
        select.append(q(name))
    elif std <= 4 * 2.0**-52 * abs(mean):
        select.append(f"CASE WHEN {q(name)} IS NULL THEN NULL ELSE 0.0 END AS {q(name)}")
    else:
        select.append(f"({q(name)} - ?::DOUBLE) / ?::DOUBLE AS {q(name)}")
        params += [mean, std]
target = "'" + dst.replace("'", "''") + "'"
con.execute(f"COPY (SELECT {', '.join(select)} FROM {scan}) TO {target} (FORMAT csv, HEADER)", [*params, src])
"""

PANDAS_CODE = """
import sys
import pandas as pd
# date_format: pyarrow then tries only this strptime format, which no value matches, so ISO
# timestamps stay text and pass through unchanged (by default pyarrow parses them).
df = pd.read_csv(sys.argv[1], engine="pyarrow", dtype_backend="pyarrow", date_format="%%not-a-date")
for c in df.select_dtypes("number").columns:
    if c.lower() == "id" or c.lower().endswith("_id"):
        continue
    x = df[c]
    mean, std = x.mean(), x.std(ddof=0)
    if pd.isna(mean):
        continue
    if std <= 4 * 2.0**-52 * abs(mean):
        df[c] = pd.Series(0.0, index=df.index).where(x.notna())
    else:
        df[c] = (x - mean) / std
df.to_csv(sys.argv[2], index=False)
"""

POLARS_CODE = """
import sys
import polars as pl
df = pl.read_csv(sys.argv[1])
def is_id(name):
    return name.lower() == "id" or name.lower().endswith("_id")
num = [c for c, t in df.schema.items() if t.is_numeric() and not is_id(c)]
x = [pl.col(c).cast(pl.Float64) for c in num]
means = [e.mean().alias(f"m{i}") for i, e in enumerate(x)]
stats = df.select(means + [e.std(ddof=0).alias(f"s{i}") for i, e in enumerate(x)])
exprs = []
for i, (c, e) in enumerate(zip(num, x)):
    mean, std = stats[f"m{i}"][0], stats[f"s{i}"][0]
    if mean is None:
        continue
    if std <= 4 * 2.0**-52 * abs(mean):
        exprs.append(pl.when(e.is_null()).then(None).otherwise(pl.lit(0.0)).alias(c))
    else:
        exprs.append(((e - mean) / std).alias(c))
df.with_columns(exprs).write_csv(sys.argv[2])
"""


@dataclass(frozen=True)
class Variant:
    """A program of the benchmark: ``python -c code SRC DST``, or the engine when code is None.

    memory_factor: input multiples it holds in memory (0: bounded, never skipped).
    """

    name: str
    code: str | None
    peer: bool = True
    memory_factor: float = 0.0


ENGINE = Variant("standardize", None, peer=False)
PEERS = (
    Variant("duckdb", DUCKDB_CODE),
    # Peaks measured here: pandas 5.5x the input at 100 MB, polars eager 1.6x at 1 GB.
    Variant("pandas pyarrow", PANDAS_CODE, memory_factor=7.0),
    Variant("polars eager", POLARS_CODE, memory_factor=2.5),
)
COPY = Variant("polars copy", COPY_CODE, peer=False)
VARIANTS = (ENGINE, *PEERS, COPY)
Z_VARIANTS = (ENGINE, *PEERS)


def is_id_name(name: str) -> bool:
    """The engine's id rule: ``id`` or a name ending in ``_id``, case-insensitive."""
    return name.lower() == "id" or name.lower().endswith("_id")


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    peak_mib: float


#: column -> (worst z error in ulp, worst |dz|)
Errors = dict[str, tuple[float, float]]


@dataclass
class Row:
    """One variant at one size: its runs, output size and first run's worst errors (NaN: none)."""

    size_gb: float
    variant: str
    runs: list[Run] = field(default_factory=list)
    out_bytes: int = 0
    ulp: float = math.nan
    dz: float = math.nan
    skipped: str = ""

    @property
    def peer(self) -> bool:
        return self.variant in {p.name for p in PEERS}

    @property
    def wall(self) -> float:
        return min((r.wall for r in self.runs), default=math.nan)

    @property
    def cpu(self) -> float:
        return min((r.cpu for r in self.runs), default=math.nan)

    @property
    def peak(self) -> float:
        return max((r.peak_mib for r in self.runs), default=math.nan)


@dataclass(frozen=True)
class Accuracy:
    """The accuracy file's errors per variant, and the engine's mean and std errors in ulp."""

    rows: int
    errors: dict[str, Errors]
    engine_stats: dict[str, tuple[float, float]]


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
        if math.isnan(self.measured):
            return "not measured" + ("" if self.enforced else " (info)")
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
#: which holds the reference z-scores (about 1.3 GB at 2 GB).
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


def command(variant: Variant, src: Path, work: Path) -> tuple[list[str], Path]:
    """The variant's command on src, and the CSV it writes, under ``work/out`` (made empty)."""
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    if variant.code is not None:
        out.mkdir(parents=True)
        dst = out / f"{variant.name.replace(' ', '_')}.csv"
        return [sys.executable, "-c", variant.code, str(src), str(dst)], dst
    inp = work / "input"
    shutil.rmtree(inp, ignore_errors=True)
    inp.mkdir(parents=True)
    (inp / src.name).symlink_to(src.resolve())
    return [sys.executable, str(PROGRAM), "--input", str(inp), "--output", str(out)], out / src.name


def run_variant(variant: Variant, src: Path, work: Path) -> tuple[Run, Path]:
    """Run the variant on src: its measurement and its output (delete ``work/out`` after use)."""
    cmd, dst = command(variant, src, work)
    return measure(cmd, work / f"{variant.name.replace(' ', '_')}.log"), dst


def engine_rows(dst: Path) -> int:
    """Rows the engine reports in the stats file next to its output dst."""
    return int(pl.read_json(dst.parent / "stats" / f"{dst.stem}.json")["rows"][0])


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


def memory_shortfall(variant: Variant, src: Path) -> str:
    """Why the variant does not fit MemAvailable on src (memory_factor x its size), or ""."""
    meminfo = Path("/proc/meminfo")
    if not variant.memory_factor or not meminfo.exists():
        return ""
    fields = dict(line.split(":", 1) for line in meminfo.read_text().splitlines() if ":" in line)
    available = int(fields["MemAvailable"].split()[0]) * 1024
    needed = variant.memory_factor * src.stat().st_size
    if needed <= available:
        return ""
    return f"needs ~{needed / 1e9:.1f} GB, {available / 1e9:.1f} GB available"


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


def ulp_errors(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """|got - want| in ulp of want (``np.spacing``), per value.

    0 where both are missing (NaN); inf where only one is, or where got is infinite.
    """
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        err = np.abs(got - want) / np.spacing(np.abs(want))
    return _mark_missing(err, got, want)


def abs_errors(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """|got - want| per value, with ulp_errors' rules for missing and infinite values."""
    with np.errstate(invalid="ignore"):
        return _mark_missing(np.abs(got - want), got, want)


def _mark_missing(err: np.ndarray, got: np.ndarray, want: np.ndarray) -> np.ndarray:
    gone, absent = np.isnan(got), np.isnan(want)
    err[gone != absent] = np.inf
    err[gone & absent] = 0.0
    err[np.isinf(got)] = np.inf
    return err


@dataclass(frozen=True)
class Reference:
    """A file's header and rows, and per numeric column its fsum mean, std and z (NaN: missing)."""

    header: tuple[str, ...]
    rows: int
    stats: dict[str, tuple[float, float]]
    z: dict[str, np.ndarray]


def make_reference(src: Path) -> Reference:
    """The fsum reference of every numeric column of src (numbers, not ids; as the engine decides)."""
    frame = pl.read_csv(src, infer_schema_length=10_000)
    numeric = [c for c, t in frame.schema.items() if t.is_numeric() and not is_id_name(c)]
    stats, zs = {}, {}
    for name in numeric:
        x = frame[name].cast(pl.Float64).to_numpy()
        present = ~np.isnan(x)
        mean, std = reference(x[present])
        z = np.full_like(x, np.nan)
        z[present] = 0.0 if std == 0 else (x[present] - mean) / std
        stats[name], zs[name] = (mean, std), z
    return Reference(tuple(frame.columns), frame.height, stats, zs)


def z_errors(ref: Reference, out: Path, variant: str) -> Errors:
    """(worst ulp, worst |dz|) per numeric column of out against ref; exits when its shape differs."""
    frame = pl.read_csv(out, infer_schema_length=0, schema_overrides={c: pl.Float64 for c in ref.z})
    if tuple(frame.columns) != ref.header or frame.height != ref.rows:
        sys.exit(f"{variant} wrote {frame.columns} x {frame.height} rows, expected {ref.header} x {ref.rows}")
    result = {}
    for name, want in ref.z.items():
        got = frame[name].to_numpy()
        result[name] = (
            float(np.max(ulp_errors(got, want), initial=0.0)),
            float(np.max(abs_errors(got, want), initial=0.0)),
        )
    return result


def worst(errors: Errors) -> tuple[float, float]:
    """The worst ulp and the worst |dz| over the columns."""
    return max((e[0] for e in errors.values()), default=0.0), max(
        (e[1] for e in errors.values()), default=0.0
    )


def accuracy(rows: int, work: Path) -> Accuracy:
    """Every z-variant once on the accuracy file; the engine's mean and std from its stats file."""
    work.mkdir(parents=True, exist_ok=True)
    src = work / "accuracy.csv"
    write_accuracy_csv(src, rows)
    ref = make_reference(src)
    errors: dict[str, Errors] = {}
    engine_stats: dict[str, tuple[float, float]] = {}
    for v in Z_VARIANTS:
        _, dst = run_variant(v, src, work)
        errors[v.name] = z_errors(ref, dst, v.name)
        if v is ENGINE:
            stats = pl.read_json(dst.parent / "stats" / f"{dst.stem}.json")["columns"][0]
            for name, (mean, std) in ref.stats.items():
                got_mean, got_std = stats[name]["mean"], stats[name]["std"]
                std_ulp = abs(got_std - std) / math.ulp(std) if std else (0.0 if got_std == 0 else math.inf)
                engine_stats[name] = (abs(got_mean - mean) / math.ulp(mean), std_ulp)
        shutil.rmtree(work / "out")
    src.unlink()
    return Accuracy(rows, errors, engine_stats)


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
