"""Standardize the numeric columns of CSV files to z-scores, streaming, in bounded memory.

SageMaker Processing program of the standardize pipeline (design.md, step 4)::

    python3 /opt/program/standardize.py [--input DIR] [--output DIR]
        [--include COL]... [--exclude COL]... [--round N] [--progress-seconds S]

Files
    Every ``*.csv`` under ``--input`` (default ``/opt/ml/processing/input``), searched
    recursively, gives ``<output>/<relative path>`` and the statistics file
    ``<output>/stats/<relative path without .csv>.json``; ``--output`` defaults to
    ``/opt/ml/processing/output``. No ``.csv`` file at all is an error. Stats file:
    ``{"source", "rows", "ddof": 0, "round", "bytes_in", "bytes_out", "columns": {name:
    {"kind", "count", "mean", "std"}}}``, kind one of numeric, id, timestamp, text,
    excluded; count, mean and std are null except for numeric columns.

Columns
    A column is standardized, z = (x - mean) / std, when it is numeric: every non-missing
    value in the *whole file* parses as a number (checked over every row, never guessed
    from the first rows). A number is decimal or scientific notation with an optional
    sign and leading blanks; ``inf`` and ``nan`` spellings parse too. Missing means an
    empty field or ``NA``; ``NaN`` values count as missing too (like scikit-learn's
    StandardScaler). Pass through unchanged by default: id columns (name ``id`` or ending
    in ``_id``, case-insensitive) and non-numeric columns, including timestamps (a column
    whose non-missing values are all ISO 8601 dates or date-times such as
    ``2024-01-31T12:00:00Z`` is reported as ``timestamp``). Epoch or ``yyyymmdd``
    integers are numbers: pass them through with ``--exclude``. ``--include COL`` forces
    a column to be standardized (an error if it holds a non-number); ``--exclude COL``
    forces it to pass through. Both are repeatable, and a name given must exist in at
    least one input file. Header order is kept.

Values
    Statistics: count, mean and the population std (ddof=0, like StandardScaler), from
    exact sums of d = x - K, with K = 0 or, for a column whose mean is large against its
    spread, the mean of the first rows (then d is exact). The mean is correctly rounded
    and the std within about one ulp: 1e9 + N(0, 1) keeps its std, where a naive sum of
    squares gives 0. A column with std <= 4*eps*|mean| is constant: z = 0 exactly. An
    all-missing column stays empty with count 0 and null mean and std. Missing cells
    stay empty. ``inf``/``-inf`` in a standardized column is an error. z is written with
    the shortest repr that round-trips, or with N decimals under ``--round N``.
    Pass-through fields keep their exact value; quoting is normalised (quoted only when
    needed), records end in LF and a UTF-8 BOM is dropped.

Input rules
    0-byte file: rejected (no header to copy). Header only: header-only output, count 0.
    UTF-8 BOM and CRLF: accepted. Quoted commas and newlines (RFC 4180): accepted.
    Non-UTF-8 bytes, ragged rows (more or fewer fields than the header; blank lines too,
    unless the file has one column), duplicate column names and unbalanced quotes:
    rejected with an ``InputError`` naming the file and the line or column.

Output safety
    Each output is written under a hidden temporary name (``.<name>.<random>.tmp``) in its
    destination directory and renamed when complete, the CSV first and its stats file
    last; a failure removes the temporary files. Exit status: 0 on success, 1 on bad
    input or an internal error, 2 on bad arguments; the message goes to stderr and, best
    effort, to ``/opt/ml/output/message``, which SageMaker shows as the failure reason.
    Progress (rows and MB) is logged every ``--progress-seconds`` (default 10).

Sizing
    Memory stays bounded (about 0.25 GB peak with 2 threads, whatever the file size): two
    streaming passes, statistics first, then the z-scores, each parsing the CSV in 4 MB
    chunks. Disk: z-scores print up to 17 significant digits, so the output is about
    1.6-1.8x the input (1.72x for inputs with 6 decimals); ``--round N`` makes each z about
    N + 3 bytes. The processing volume must hold input + output: size it at 3x the largest
    input (``VolumeSizeInGB``).
"""

from __future__ import annotations

import _csv
import argparse
import contextlib
import csv
import io
import json
import logging
import math
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # numpy's BLAS threads would only spin here
import numpy as np
import polars as pl

# Parse the CSV in 4 MB chunks: polars' default chunks, larger, about double the resident
# memory (0.45 GB instead of 0.25 GB for 1 GB) and are no faster.
os.environ.setdefault("POLARS_CSV_CHUNK_SIZE", str(4 << 20))

PROGRAM_PATH = "/opt/program/standardize.py"
CONTAINER_INPUT_DIR = "/opt/ml/processing/input"
CONTAINER_OUTPUT_DIR = "/opt/ml/processing/output"
FAILURE_MESSAGE_PATH = "/opt/ml/output/message"
STATS_DIR = "stats"
NA_TOKEN = "NA"
TIMESTAMP_PATTERN = (
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$"
)

_SAMPLE_ROWS = 10_000
_SAMPLE_BYTES = 8 << 20  # read for the sample when it holds _SAMPLE_ROWS lines
_BLOCK = 1 << 20  # bytes read at a time by the structure check (fits in a core's cache)
_MAX_RECORD = 64 << 20  # a record (or quoted field) longer than this is rejected
_MAX_FAILURE_MESSAGE = 1000
_EPS = 2.0**-52
_SPLIT = 1.5 * 2.0**52  # adding _SPLIT * g rounds to a multiple of g
_QUOTE, _COMMA, _NEWLINE = ord('"'), ord(","), ord("\n")
_NOT_SPECIAL = bytes(sorted(set(range(256)) - {_QUOTE, _COMMA, _NEWLINE}))  # for bytes.translate

log = logging.getLogger("standardize")


class StandardizeError(Exception):
    """Base class of the errors this program reports as a job failure."""


class UsageError(StandardizeError):
    """Bad arguments, e.g. a column both included and excluded."""


class OutputError(StandardizeError):
    """Writing an output failed (e.g. a full volume); the input was already read in full."""


class InputError(StandardizeError):
    """Bad input data; the message names the file and the line or column."""

    def __init__(self, file: str, problem: str, *, line: int | None = None, column: str | None = None):
        where = f"{file}: line {line}" if line is not None else file
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {problem}")
        self.file, self.problem, self.line, self.column = file, problem, line, column


@dataclass(frozen=True)
class Options:
    """Run options: forced columns, --round digits (None: full precision), log interval (s)."""

    include: frozenset[str] = frozenset()
    exclude: frozenset[str] = frozenset()
    round_digits: int | None = None
    progress_seconds: float = 10.0

    def __post_init__(self) -> None:
        both = sorted(self.include & self.exclude)
        if both:
            raise UsageError(f"columns both included and excluded: {', '.join(both)}")
        if self.round_digits is not None and not 0 <= self.round_digits <= 17:
            raise UsageError(f"--round must be between 0 and 17, got {self.round_digits}")


@dataclass(frozen=True)
class ColumnStats:
    """One column: kind is numeric, id, timestamp, text or excluded; stats None unless numeric."""

    name: str
    kind: str
    count: int | None = None
    mean: float | None = None
    std: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "count": self.count, "mean": self.mean, "std": self.std}


@dataclass(frozen=True)
class FileStats:
    """Result of one file: paths, row count, per-column statistics, sizes and seconds."""

    source: str
    output: Path
    stats_path: Path
    rows: int
    columns: tuple[ColumnStats, ...]
    bytes_in: int
    bytes_out: int
    seconds: float
    round_digits: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows": self.rows,
            "ddof": 0,
            "round": self.round_digits,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "columns": {c.name: c.to_json() for c in self.columns},
        }


def is_id_name(name: str) -> bool:
    """True for ``id`` and names ending in ``_id``, case-insensitive."""
    lowered = name.lower()
    return lowered == "id" or lowered.endswith("_id")


# --------------------------------------------------------------------------- file structure


@dataclass
class _Header:
    names: list[str]
    end: int  # byte offset just after the header record
    lines: int  # physical lines the header spans


def _read_header(src: Path, label: str) -> _Header:
    """Parse the first record with the csv module (handles BOM, quotes, CRLF)."""
    data = bytearray()
    end = None
    quotes = scanned = 0
    with open(src, "rb") as fh:
        while end is None:
            chunk = fh.read(1 << 16)
            if not chunk:
                break
            data += chunk
            while (newline := data.find(b"\n", scanned)) >= 0:
                quotes += data.count(b'"', scanned, newline)
                scanned = newline + 1
                if quotes % 2 == 0:  # a newline outside quotes ends the header
                    end = scanned
                    break
            if end is None and len(data) > _MAX_RECORD:
                raise InputError(label, "header row too long or has an unbalanced quote", line=1)
    if not data:
        raise InputError(label, "file is empty (0 bytes); a header row is required")
    if end is None:  # header without a final newline
        if data.count(b'"') % 2:
            raise InputError(label, "unbalanced quote in the header row", line=1)
        end = len(data)
    raw = bytes(data[:end])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(label, f"header is not valid UTF-8 (byte {exc.start})", line=1) from None
    try:
        rows = list(_csv_reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise InputError(label, f"malformed header row: {exc}", line=1) from None
    names = rows[0] if rows else []
    if not names:
        raise InputError(label, "header row is blank", line=1)
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError(label, "duplicate column name in the header", line=1, column=name)
        seen.add(name)
    return _Header(names=names, end=end, lines=max(1, raw.count(b"\n")))


@dataclass
class _Checkpoint:
    offset: int  # byte offset of a record boundary
    record: int  # 0-based data record starting there
    line: int  # 1-based physical line starting there


class _StructureCheck(threading.Thread):
    """Counts records and checks every record has the header's field count.

    Runs beside the polars pass (which releases the GIL). Polars rejects long rows but pads
    short ones, so this byte-level count is what catches short rows and blank lines.
    """

    def __init__(self, src: Path, label: str, header: _Header, size: int, progress_seconds: float):
        super().__init__(name=f"check:{label}", daemon=True)
        self.src, self.label, self.size, self.progress_seconds = src, label, size, progress_seconds
        self.ncols = len(header.names)
        self.rows = 0
        self.checkpoints = [_Checkpoint(header.end, 0, header.lines + 1)]
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._scan()
        except BaseException as exc:  # reported by the caller after join()
            self.error = exc

    def _scan(self) -> None:
        expected = self.ncols - 1
        point = self.checkpoints[0]
        last_log, logged = time.monotonic(), None
        buf = bytearray(_BLOCK)
        mask = np.empty(_BLOCK, dtype=bool)
        filled = 0  # bytes carried over at the start of buf
        with open(self.src, "rb") as fh:
            fh.seek(point.offset)
            while True:
                if filled == len(buf):  # one record fills the buffer: grow it
                    if filled >= _MAX_RECORD:
                        problem = f"record longer than {_MAX_RECORD:,} bytes (or an unbalanced quote)"
                        raise InputError(self.label, problem, line=point.line)
                    bigger = bytearray(2 * len(buf))
                    bigger[:filled] = buf[:filled]
                    buf = bigger
                with memoryview(buf) as view, view[filled:] as free:
                    got = fh.readinto(free)
                eof = not got
                end = filled + got
                cut = end if eof else buf.rfind(b"\n", 0, end) + 1
                if cut == 0:
                    if eof:
                        break
                    filled = end
                    continue
                if buf.find(b'"', 0, cut) < 0:  # memchr: the common, quote-free case
                    if len(mask) < cut:
                        mask = np.empty(len(buf), dtype=bool)
                    piece = np.frombuffer(buf, dtype=np.uint8, count=cut)
                    commas = _count(piece, _COMMA, mask)
                    records = lines = _count(piece, _NEWLINE, mask)
                    del piece
                else:
                    if eof:
                        if buf.count(b'"', 0, cut) % 2:
                            raise InputError(
                                self.label,
                                f"unbalanced quote: a field quoted on or after line {point.line} never ends",
                            )
                    elif not (cut := _last_record_end(buf, cut)):
                        filled = end  # one record longer than the buffer: read on
                        continue
                    # Keep only quotes, commas and newlines; those after an even number of
                    # quotes are outside quoted fields.
                    special = np.frombuffer(buf[:cut].translate(None, _NOT_SPECIAL), dtype=np.uint8)
                    outside = ~np.logical_xor.accumulate(special == _QUOTE)
                    newline = special == _NEWLINE
                    lines = int(np.count_nonzero(newline))
                    records = int(np.count_nonzero(newline & outside))
                    commas = int(np.count_nonzero((special == _COMMA) & outside))
                    del special, outside, newline
                if eof and cut and buf[cut - 1] != _NEWLINE:
                    records += 1  # last record without a final newline
                if commas != expected * records:
                    raise self._fail(point, "ragged rows")
                self.rows += records
                point = _Checkpoint(point.offset + cut, self.rows, point.line + lines)
                self.checkpoints.append(point)
                now = time.monotonic()
                if now - last_log >= self.progress_seconds:
                    last_log, logged = now, point
                    self._log_progress(point)
                if eof:
                    break
                filled = end - cut
                buf[:filled] = buf[cut:end]
        if logged is not None and logged is not point:  # once progress shows, so does the end
            self._log_progress(point)

    def _log_progress(self, point: _Checkpoint) -> None:
        log.info(
            "%s: checked %s rows, %s of %s MB",
            self.label,
            f"{point.record:,}",
            _mb(point.offset),
            _mb(self.size),
        )

    def _fail(self, point: _Checkpoint, problem: str) -> InputError:
        found = _diagnose(self.src, self.label, self.ncols, point, stop_after_bytes=_BLOCK + _MAX_RECORD)
        return found or InputError(self.label, f"{problem} after line {point.line - 1}")

    def line_of(self, record: int) -> int:
        """1-based physical line where 0-based data record `record` starts."""
        point = max((p for p in self.checkpoints if p.record <= record), key=lambda p: p.record)
        with open(self.src, "rb") as fh:
            fh.seek(point.offset)
            text = io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline="")
            reader = _csv_reader(text)
            before = 0
            for _ in range(record - point.record):
                next(reader, None)
                before = reader.line_num
        return point.line + before


def _csv_reader(text: Iterable[str], strict: bool = False) -> _csv.Reader:
    """csv.reader that takes fields up to _MAX_RECORD (the module's default stops at 128 KiB)."""
    csv.field_size_limit(_MAX_RECORD)  # process-wide, and only ever raised
    return csv.reader(text, strict=strict)


def _last_record_end(buf: bytes | bytearray, cut: int) -> int:
    """Offset after the last newline outside quotes in buf[:cut] (which ends with one), or 0."""
    newline = cut - 1
    odd = buf.count(b'"', 0, newline) % 2
    while odd:  # that newline is inside a quoted field: step back one line
        previous = buf.rfind(b"\n", 0, newline)
        if previous < 0:
            return 0
        odd ^= buf.count(b'"', previous, newline) % 2
        newline = previous
    return newline + 1


def _count(data: np.ndarray, byte: int, out: np.ndarray) -> int:
    """Occurrences of byte in data, using out (at least as long) as scratch space."""
    return int(np.count_nonzero(np.equal(data, byte, out=out[: len(data)])))


def _diagnose(
    src: Path, label: str, ncols: int, start: _Checkpoint, stop_after_bytes: int | None = None
) -> InputError | None:
    """Find the first bad byte or ragged record from `start` with the csv module (slow path)."""
    limit = None if stop_after_bytes is None else start.offset + stop_after_bytes
    with open(src, "rb") as fh:  # UTF-8 first: the csv pass below needs text
        fh.seek(start.offset)
        line, offset, carry = start.line, start.offset, b""
        while limit is None or offset < limit:
            block = fh.read(_BLOCK)
            data = carry + block
            if not data:
                break
            cut = len(data) if not block else data.rfind(b"\n") + 1
            if cut == 0:
                carry = data
                continue
            try:
                data[:cut].decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = line + data.count(b"\n", 0, exc.start)
                return InputError(label, f"invalid UTF-8 byte 0x{data[exc.start]:02x}", line=bad)
            line += data.count(b"\n", 0, cut)
            offset += cut
            carry = data[cut:]
            if not block:
                break
    with open(src, "rb") as fh:
        fh.seek(start.offset)
        text = io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline="")
        reader = _csv_reader(text, strict=True)
        first = 0
        while limit is None or fh.tell() < limit:
            try:
                row = next(reader)
            except StopIteration:
                return None
            except csv.Error as exc:
                return InputError(label, f"malformed CSV ({exc})", line=start.line + reader.line_num - 1)
            if len(row) != ncols and not (ncols == 1 and not row):
                what = "blank line" if not row else f"{len(row)} field{'' if len(row) == 1 else 's'}"
                return InputError(label, f"{what}; the header has {ncols} fields", line=start.line + first)
            first = reader.line_num
    return None


# --------------------------------------------------------------------------- statistics


@dataclass
class _Column:
    index: int
    name: str
    kind: str  # "numeric" (candidate until pass 1 ends), "id", "excluded", "text", "timestamp"
    forced: bool = False
    shift: float = 0.0
    scale: float = 1.0
    g1: float = 1.0
    g2: float = 1.0
    has_nan: bool = False
    count: int = 0
    mean: float | None = None
    std: float | None = None
    done: bool = False
    refines: int = 0

    @property
    def numeric(self) -> bool:
        return self.kind == "numeric"


def _pow2(exponent: float) -> float:
    return 2.0 ** max(-1000, min(960, math.ceil(exponent)))


def _pick_shift(mean: float, spread: float) -> float:
    """K: the mean when it is large (x - K is then exact), else 0 (d = x, exact)."""
    return mean if abs(mean) >= 2 * spread else 0.0


def _rms(values: np.ndarray) -> float:
    """Root mean square, scaled by the largest value so that it cannot underflow."""
    top = float(np.max(np.abs(values))) if len(values) else 0.0
    if not 0 < top < math.inf:
        return 0.0
    return top * math.sqrt(float(np.mean(np.square(values / top))))


def _scale_for(spread: float) -> float:
    """1.0 for ordinary magnitudes, else the power of two that brings `spread` near 1."""
    if not math.isfinite(spread) or spread <= 0 or 2.0**-100 <= spread <= 2.0**100:
        return 1.0
    return 2.0 ** max(-1000, min(1000, round(-math.log2(spread))))


def _grid(n: float, sum_sq: float) -> tuple[float, float]:
    """Grids (g1, g2) on which the high parts of sum(d) and sum(d*d) add up exactly.

    Valid for n values whose sum of squares is at most sum_sq: every partial sum then
    stays below 2**52 grid steps (checked after the pass, see _finish).
    """
    sum_sq = min(max(sum_sq, 2.0**-1000), 2.0**1000) if math.isfinite(sum_sq) else 2.0**1000
    return _pow2(0.5 * math.log2(max(n, 1.0) * sum_sq) - 50), _pow2(math.log2(sum_sq) - 50)


def _stats_exprs(col: _Column) -> list[pl.Expr]:
    """Shifted, split sums: d = (x - K) * scale = h + l, h on grid g1 summed exactly; same for d*d."""
    x = pl.col(col.name)
    if col.has_nan:
        x = x.fill_nan(None)
    d = x - col.shift if col.shift else x
    if col.scale != 1.0:
        d = d * col.scale  # a power of two: exact, keeps d*d a normal double
    c1, c2 = _SPLIT * col.g1, _SPLIT * col.g2
    h1 = (d + c1) - c1
    q = d * d
    h2 = (q + c2) - c2
    i = col.index
    exprs = [
        x.count().alias(f"{i}:n"),
        h1.sum().alias(f"{i}:h1"),
        (d - h1).sum().alias(f"{i}:l1"),
        h2.sum().alias(f"{i}:h2"),
        (q - h2).sum().alias(f"{i}:l2"),
    ]
    if col.has_nan:
        exprs.append(pl.col(col.name).is_infinite().sum().alias(f"{i}:inf"))
    return exprs


def _finish(col: _Column, row: dict[str, Any], label: str, locate: _Locator) -> None:
    """Turn one pass's sums into mean/std, or schedule another pass (NaN, grid, shift)."""
    i = col.index
    n = int(row[f"{i}:n"])
    parts = [float(row[f"{i}:{k}"] or 0.0) for k in ("h1", "l1", "h2", "l2")]
    if row.get(f"{i}:inf"):
        raise InputError(
            label, "infinite value in a numeric column", line=locate(col, "inf"), column=col.name
        )
    if not all(map(math.isfinite, parts)):
        if col.has_nan:
            raise InputError(label, "values too large to standardize (|x| > ~1e150)", column=col.name)
        col.has_nan = True  # NaN or inf: next pass drops NaN and counts inf
        return
    col.count = n
    if n == 0:
        col.done = True
        return
    h1, l1, h2, l2 = parts
    approx_sq = h2 + l2
    # Exact high sums need every partial sum (<= sum |h|) to stay below 2**53 * g.
    exact = math.sqrt(n * approx_sq) * 1.01 + n * col.g1 <= 2.0**52 * col.g1 and (
        approx_sq * 1.01 + n * col.g2 <= 2.0**52 * col.g2
    )
    s1 = Fraction(h1) + Fraction(l1)
    s2 = Fraction(h2) + Fraction(l2)
    scale = Fraction(col.scale)
    mean = Fraction(col.shift) + s1 / (n * scale)
    var = max((s2 - s1 * s1 / n) / n, Fraction(0))  # of d, in scaled units
    col.mean = float(mean)
    col.std = math.sqrt(float(var)) / col.scale
    # Another pass when: the grids were too fine, K was far from the mean (cancellation),
    # or d*d left the normal range (scale), including squares that underflowed to 0.
    spread = col.std or abs(col.mean - col.shift)
    scaled = spread * col.scale
    rescale = spread > 0 and not 2.0**-200 <= scaled <= 2.0**200
    far = abs(col.mean - col.shift) > 2 * col.std
    if (not exact or far or rescale) and col.refines < 3:
        col.refines += 1
        col.shift = _pick_shift(col.mean, col.std)
        if rescale:
            col.scale = _scale_for(spread)
        terms = [col.std * col.scale, (col.mean - col.shift) * col.scale, col.mean * col.scale * _EPS]
        col.g1, col.g2 = _grid(n, 4 * n * math.fsum(t * t for t in terms))
        return
    if col.std <= 4 * _EPS * abs(col.mean):
        col.std = 0.0
    col.done = True


class _Locator:
    """Finds the line of the first offending value of a column (error path only)."""

    def __init__(self, scan: _Scan, check: _StructureCheck):
        self.scan, self.check = scan, check

    def __call__(self, col: _Column, what: str) -> int | None:
        x = pl.col(col.name)
        if what == "inf":
            bad = x.is_infinite()
            frame = self.scan.frame({**self.scan.schema, col.name: pl.Float64})
        else:  # non-numeric value
            bad = _non_number(x)
            frame = self.scan.frame({**self.scan.schema, col.name: pl.String})
        try:
            hit = frame.with_row_index("__row").filter(bad).select("__row").head(1).collect()
        except pl.exceptions.PolarsError:
            return None
        return self.line_of(int(hit.item())) if hit.height else None

    def line_of(self, record: int) -> int:
        """1-based line where 0-based data record `record` starts (waits for the check)."""
        self.check.join()
        return self.check.line_of(record)


@dataclass
class _Scan:
    src: Path
    schema: dict[str, Any]
    passes: int = 0

    def frame(self, schema: dict[str, Any] | None = None) -> pl.LazyFrame:
        """The CSV with `schema` (default: the current one); NA is missing in numeric columns."""
        schema = schema or self.schema
        na = {name: NA_TOKEN for name, dtype in schema.items() if dtype == pl.Float64}
        return pl.scan_csv(
            self.src,
            schema=schema,
            null_values=na or None,
            truncate_ragged_lines=False,
            raise_if_empty=False,
        )


def _present(x: pl.Expr) -> pl.Expr:
    """True where a text value is not missing (empty or NA)."""
    return x.is_not_null() & (x != NA_TOKEN)


def _as_number(x: pl.Expr) -> pl.Expr:
    """A text value as a number (leading blanks allowed), null when it is not one."""
    return x.str.strip_chars_start(" \t").cast(pl.Float64, strict=False)


def _non_number(x: pl.Expr) -> pl.Expr:
    """True where a text value is present but not a number."""
    return _present(x) & _as_number(x).is_null()


def _read_sample(src: Path) -> pl.DataFrame | None:
    """The first _SAMPLE_ROWS rows as text, or None when they do not parse.

    Reads the first _SAMPLE_BYTES once: a smaller file is parsed from them whole; a larger one
    from its head cut after a newline outside quotes when that holds enough rows (polars would
    otherwise index the whole file first), else from the file.
    """
    with open(src, "rb") as fh:
        head = fh.read(_SAMPLE_BYTES)
    sources: list[Path | io.BytesIO] = []
    if len(head) < _SAMPLE_BYTES:  # the whole file
        sources.append(io.BytesIO(head))
    else:
        newline = head.rfind(b"\n") + 1
        cut = _last_record_end(head, newline) if newline else 0
        if cut:
            sources.append(io.BytesIO(head[:cut]))
        sources.append(src)
    for source in sources:
        try:
            sample = pl.read_csv(source, infer_schema=False, n_rows=_SAMPLE_ROWS, raise_if_empty=False)
        except pl.exceptions.PolarsError:
            continue  # the full passes report the problem with its line
        if source is sources[-1] or sample.height == _SAMPLE_ROWS:  # quoted newlines: fewer rows
            return sample
    return None


def _mark_text(col: _Column, label: str, locate: _Locator, record: int | None = None) -> None:
    """A candidate column holds a non-number: it passes through, unless --include forced it.

    `record` is the first offending data record when known; otherwise the file is searched.
    """
    if col.forced:
        line = locate.line_of(record) if record is not None else locate(col, "text")
        raise InputError(label, "--include column has a non-numeric value", line=line, column=col.name)
    col.kind = "text"


def _classify(
    columns: list[_Column], sample: pl.DataFrame | None, size: int, label: str, locate: _Locator
) -> None:
    """Guess kinds from the first rows (verified over the whole file later) and pick K, g."""
    n_max = size // max(len(columns), 1) + 1  # each record has ncols - 1 commas and a newline
    for col in columns:
        if col.kind != "numeric":
            continue
        if sample is None:
            col.g1, col.g2 = _grid(n_max, n_max * 1e6)
            continue
        x = pl.col(col.name)
        parsed = sample.select(_as_number(x)).to_series()
        bad = sample.select(_present(x)).to_series() & parsed.is_null()
        if bad.any():
            _mark_text(col, label, locate, record=int(bad.arg_true()[0]))
            continue
        values = parsed.filter(parsed.is_finite()).to_numpy()
        spread = mean = 0.0
        with np.errstate(all="ignore"):  # a guess: overflow only makes it coarser
            if len(values):
                mean = float(np.sum(values / len(values)))
                spread = _rms(values - mean)
            col.shift = _pick_shift(mean, spread)
            spread = _rms(values - col.shift) or 1.0
        col.scale = _scale_for(spread)
        col.g1, col.g2 = _grid(n_max, n_max * 16 * (spread * col.scale) * (spread * col.scale))


def _full_classify(columns: list[_Column], scan: _Scan, label: str, locate: _Locator) -> None:
    """Read every value as text: which candidate columns hold a non-number anywhere."""
    exprs: list[pl.Expr] = []
    for col in columns:
        if col.numeric:
            exprs.append(_non_number(pl.col(col.name)).sum().alias(f"{col.index}:bad"))
    if not exprs:
        return
    scan.passes += 1
    row = (
        scan.frame({name: pl.String for name in scan.schema})
        .select(exprs)
        .collect(engine="streaming")
        .row(0, named=True)
    )
    for col in columns:
        if col.numeric and row[f"{col.index}:bad"]:
            _mark_text(col, label, locate)


def _stats_pass(columns: list[_Column], scan: _Scan, label: str, locate: _Locator, first: bool) -> int:
    """One streaming pass: sums of pending numeric columns, timestamp counts; returns rows."""
    exprs: list[pl.Expr] = [pl.len().alias("__rows")]
    for col in columns:
        if col.numeric and not col.done:
            exprs += _stats_exprs(col)
        elif first and col.kind == "text":
            x = pl.col(col.name)
            exprs.append(_present(x).sum().alias(f"{col.index}:nm"))
            exprs.append(x.str.contains(TIMESTAMP_PATTERN).sum().alias(f"{col.index}:ts"))
    scan.passes += 1
    row = scan.frame().select(exprs).collect(engine="streaming").row(0, named=True)
    for col in columns:
        if col.numeric and not col.done:
            _finish(col, row, label, locate)
        elif first and col.kind == "text":
            nonmissing = int(row[f"{col.index}:nm"])
            if nonmissing and int(row[f"{col.index}:ts"]) == nonmissing:
                col.kind = "timestamp"
    return int(row["__rows"])


def _schema(columns: list[_Column]) -> dict[str, Any]:
    return {c.name: (pl.Float64 if c.numeric else pl.String) for c in columns}


def _compute_stats(
    src: Path, label: str, header: _Header, size: int, options: Options, check: _StructureCheck
) -> tuple[_Scan, list[_Column], int]:
    started, cpu_started = time.monotonic(), time.process_time()
    columns = []
    for i, name in enumerate(header.names):
        if name in options.exclude:
            kind = "excluded"
        elif is_id_name(name) and name not in options.include:
            kind = "id"
        else:
            kind = "numeric"
        columns.append(_Column(index=i, name=name, kind=kind, forced=name in options.include))
    scan = _Scan(src, _schema(columns))
    locate = _Locator(scan, check)
    _classify(columns, _read_sample(src), size, label, locate)
    scan.schema = _schema(columns)
    try:
        rows = _stats_pass(columns, scan, label, locate, first=True)
    except pl.exceptions.PolarsError:
        # A value the first rows did not predict (or a broken file): classify every value.
        _full_classify(columns, scan, label, locate)
        scan.schema = _schema(columns)
        rows = _stats_pass(columns, scan, label, locate, first=True)
    for _ in range(5):  # NaN columns and re-shifts: at most 4 more passes per column
        if all(c.done for c in columns if c.numeric):
            break
        rows = _stats_pass(columns, scan, label, locate, first=False)
    log.info(
        "%s: statistics of %d numeric columns in %.1f s, %.1f s CPU (%d passes)",
        label,
        sum(c.numeric for c in columns),
        time.monotonic() - started,
        time.process_time() - cpu_started,
        scan.passes,
    )
    return scan, columns, rows


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


def _mb(n: int) -> str:
    return f"{n / 1e6:,.0f}"


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


# --------------------------------------------------------------------------- driver


def _input_files(input_dir: Path) -> list[Path]:
    return sorted(p for p in input_dir.rglob("*") if p.suffix.lower() == ".csv" and p.is_file())


def run(input_dir: Path | str, output_dir: Path | str, options: Options | None = None) -> list[FileStats]:
    """Standardize every .csv under input_dir into output_dir (see the module docstring)."""
    options = options or Options()
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    if not input_dir.is_dir():
        raise UsageError(f"input directory not found: {input_dir}")
    if input_dir.resolve() == output_dir.resolve():
        raise UsageError("input and output directories must differ")
    files = _input_files(input_dir)
    if not files:
        raise InputError(str(input_dir), "no .csv file found")
    named = options.include | options.exclude
    if named:
        seen: set[str] = set()
        for src in files:
            if src.stat().st_size:
                with contextlib.suppress(InputError):
                    seen.update(_read_header(src, src.name).names)
        unknown = sorted(named - seen)
        if unknown:
            sources = "--include/--exclude or STANDARDIZE_INCLUDE/STANDARDIZE_EXCLUDE"
            raise UsageError(f"{sources} columns not in any input file: {', '.join(unknown)}")
    results = []
    for src in files:
        rel = src.relative_to(input_dir)
        stats_path = output_dir / STATS_DIR / rel.parent / (rel.name[: -len(rel.suffix)] + ".json")
        results.append(standardize_file(src, output_dir / rel, stats_path, options, label=rel.as_posix()))
    log.info("done: %d file(s), %s rows", len(results), f"{sum(r.rows for r in results):,}")
    return results


def _parser() -> argparse.ArgumentParser:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(
        prog="standardize.py",
        description=doc.split("\n\n")[0],
        epilog="\n\n".join(doc.split("\n\n")[3:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--input", default=CONTAINER_INPUT_DIR, help="input directory (default: %(default)s)")
    parser.add_argument(
        "--output", default=CONTAINER_OUTPUT_DIR, help="output directory (default: %(default)s)"
    )
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="COL",
        help="standardize this column even if it looks like an id (repeatable)",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="COL",
        help="pass this column through unchanged (repeatable)",
    )
    parser.add_argument(
        "--round",
        type=int,
        default=None,
        metavar="N",
        dest="round_digits",
        help="write z-scores with N decimals (default: full precision)",
    )
    parser.add_argument(
        "--progress-seconds",
        type=float,
        default=10.0,
        metavar="S",
        help="log progress every S seconds (default: %(default)s)",
    )
    return parser


def env_columns(name: str, environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """Column names from environment variable ``name``, a JSON list (default: none).

    The state machine passes the configured ``includeColumns``/``excludeColumns`` this way
    (``STANDARDIZE_INCLUDE``, ``STANDARDIZE_EXCLUDE``); they add to ``--include``/``--exclude``.
    """
    raw = (os.environ if environ is None else environ).get(name, "").strip()
    if not raw:
        return frozenset()
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise UsageError(f"{name} must be a JSON list of column names: {exc}") from None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise UsageError(f"{name} must be a JSON list of non-empty column names, got {raw[:200]!r}")
    return frozenset(value)


def write_failure_message(message: str, path: str | None = None) -> None:
    """Best effort: write message where SageMaker reads the failure reason (default path above)."""
    target = Path(path or FAILURE_MESSAGE_PATH)
    if target.parent.is_dir() and os.access(target.parent, os.W_OK):
        with contextlib.suppress(OSError):
            target.write_text(message[:_MAX_FAILURE_MESSAGE], encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status (0 ok, 1 bad input or crash, 2 bad usage)."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    try:
        options = Options(
            include=frozenset(args.include) | env_columns("STANDARDIZE_INCLUDE"),
            exclude=frozenset(args.exclude) | env_columns("STANDARDIZE_EXCLUDE"),
            round_digits=args.round_digits,
            progress_seconds=args.progress_seconds,
        )
        run(args.input, args.output, options)
    except StandardizeError as exc:
        message = f"{type(exc).__name__}: {exc}"
        log.error("%s", message)
        write_failure_message(message)
        return 2 if isinstance(exc, UsageError) else 1
    except Exception as exc:
        log.exception("internal error")
        write_failure_message(f"internal error: {type(exc).__name__}: {_first_line(exc)}")
        return 1
    finally:
        if in_main and previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def _on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the cleanup of temporary files


if __name__ == "__main__":
    sys.exit(main())
