"""The program's errors, options and results."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def _mb(n: int) -> str:
    """``n`` bytes in whole MB, with thousands separators."""
    return f"{n / 1e6:,.0f}"


def is_id_name(name: str) -> bool:
    """True for ``id`` and names ending in ``_id``, case-insensitive."""
    lowered = name.lower()
    return lowered == "id" or lowered.endswith("_id")
