"""Column classification and the two statistics passes over the file (pass 1 may reclassify)."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from .model import InputError, Options, is_id_name, log
from .statistics import _Column, _finish, _grid, _pick_shift, _rms, _scale_for, _stats_exprs
from .structure import _Header, _last_record_end, _StructureCheck

NA_TOKEN = "NA"
TIMESTAMP_PATTERN = (
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$"
)

_SAMPLE_ROWS = 10_000
_SAMPLE_BYTES = 8 << 20  # read for the sample when it holds _SAMPLE_ROWS lines


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
