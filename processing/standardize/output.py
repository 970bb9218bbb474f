"""z-scores of one file, written atomically (temporary name, then rename) with progress logs."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from .classify import _compute_stats, _Scan
from .model import ColumnStats, FileStats, InputError, Options, OutputError, _mb, log
from .statistics import _Column
from .structure import _diagnose, _read_header, _StructureCheck

# --------------------------------------------------------------------------- output


def _z_exprs(columns: list[_Column]) -> list[pl.Expr]:
    exprs = []
    for col in columns:
        x = pl.col(col.name)
        if not col.numeric:
            exprs.append(x)
            continue
        if col.has_nan:
            x = x.fill_nan(None)
        if col.mean is None or col.std is None:  # no values (NaN already dropped above)
            exprs.append(x)  # a literal would give one row
        elif col.std == 0.0:
            exprs.append(pl.when(x.is_null()).then(None).otherwise(pl.lit(0.0)).alias(col.name))
        else:
            exprs.append(((x - col.mean) / col.std).alias(col.name))
    return exprs


def _temp_path(dst: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    os.fchmod(fd, 0o644)  # mkstemp's 0600 would survive the rename
    os.close(fd)
    return Path(name)


@contextlib.contextmanager
def _progress(label: str, path: Path, rows: int, bytes_per_row: float, every: float) -> Iterator[None]:
    """Log the growth of `path` every `every` seconds while the block runs."""
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(every):
            with contextlib.suppress(OSError):
                written = path.stat().st_size
                done = min(rows, int(written / bytes_per_row)) if bytes_per_row > 0 else 0
                log.info("%s: wrote %s MB (~%s of %s rows)", label, _mb(written), f"{done:,}", f"{rows:,}")

    thread = threading.Thread(target=watch, name=f"progress:{label}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _output_row_bytes(scan: _Scan, exprs: list[pl.Expr], options: Options) -> float:
    head = scan.frame().head(1000).select(exprs).collect()
    if head.height == 0:
        return 0.0
    text = head.write_csv(include_header=False, float_precision=options.round_digits)
    return len(text.encode()) / head.height


def standardize_file(
    src: Path, dst: Path, stats_path: Path, options: Options | None = None, *, label: str | None = None
) -> FileStats:
    """Standardize one CSV file into dst and write its statistics JSON to stats_path.

    Raises InputError for bad input; on any failure no file appears at dst or stats_path.
    `label` names the file in messages and in the stats (default: src's file name).
    """
    options = options or Options()
    src, dst, stats_path = Path(src), Path(dst), Path(stats_path)
    label = label or src.name
    started = time.monotonic()
    size = src.stat().st_size
    header = _read_header(src, label)
    log.info("%s: %s MB, %d columns", label, _mb(size), len(header.names))
    check = _StructureCheck(src, label, header, size, options.progress_seconds)
    check.start()
    try:
        scan, columns, rows = _compute_stats(src, label, header, size, options, check)
    except pl.exceptions.PolarsError as exc:
        check.join()
        if isinstance(check.error, InputError):
            raise check.error from None
        found = _diagnose(src, label, len(header.names), check.checkpoints[0])
        raise (found or InputError(label, f"cannot read CSV: {_first_line(exc)}")) from None
    check.join()
    if check.error is not None:
        raise check.error
    if rows != check.rows:
        raise InputError(label, f"parsed {rows:,} rows but found {check.rows:,} records; check the quoting")
    exprs = _z_exprs(columns)
    dst.parent.mkdir(parents=True, exist_ok=True)
    stats_path.parent.mkdir(parents=True, exist_ok=True)
    temps: list[Path] = []
    try:
        tmp_csv = _temp_path(dst)
        written, cpu_written = time.monotonic(), time.process_time()
        temps.append(tmp_csv)
        try:
            per_row = _output_row_bytes(scan, exprs, options)
            with _progress(label, tmp_csv, rows, per_row, options.progress_seconds):
                scan.frame().select(exprs).sink_csv(
                    tmp_csv, float_precision=options.round_digits, null_value="", check_extension=False
                )
        except (pl.exceptions.PolarsError, OSError) as exc:  # pass 1 read this file in full already
            raise OutputError(f"{label}: writing {dst.name} failed: {_first_line(exc)}") from None
        result = FileStats(
            source=label,
            output=dst,
            stats_path=stats_path,
            rows=rows,
            columns=tuple(ColumnStats(c.name, c.kind, *_numbers(c)) for c in columns),
            bytes_in=size,
            bytes_out=tmp_csv.stat().st_size,
            seconds=time.monotonic() - started,
            round_digits=options.round_digits,
        )
        tmp_json = _temp_path(stats_path)
        temps.append(tmp_json)
        tmp_json.write_text(json.dumps(result.to_json(), indent=2, allow_nan=False) + "\n", encoding="utf-8")
        write_seconds, write_cpu = time.monotonic() - written, time.process_time() - cpu_written
        os.replace(tmp_csv, dst)
        os.replace(tmp_json, stats_path)
    finally:
        for tmp in temps:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    log.info(
        "%s: %s rows, %d standardized columns, %s MB out, %.1f s (writing %.1f s, %.1f s CPU)",
        label,
        f"{rows:,}",
        sum(c.numeric for c in columns),
        _mb(result.bytes_out),
        result.seconds,
        write_seconds,
        write_cpu,
    )
    return result


def _numbers(col: _Column) -> tuple[int | None, float | None, float | None]:
    return (col.count, col.mean, col.std) if col.numeric else (None, None, None)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
