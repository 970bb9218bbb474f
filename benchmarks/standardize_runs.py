"""The standardize benchmark's inputs (CSVs written once and reused) and how a variant is run and
measured: in its own subprocess, through a launcher that reports wall time, CPU and peak RSS."""

from __future__ import annotations

import contextlib
import mmap
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks.standardize_variants import (
    DATA_DIR,
    GENERATOR_VERSION,
    PROGRAM,
    Run,
    Variant,
)

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
