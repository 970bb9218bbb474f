"""Standardize the numeric columns of CSV files to z-scores, streaming, in bounded memory.

SageMaker Processing program of the standardize pipeline (design.md, step 4)::

    python3 /opt/program/standardize [--input DIR] [--output DIR]
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

import os

# Parse the CSV in 4 MB chunks: polars' default chunks, larger, about double the resident
# memory (0.45 GB instead of 0.25 GB for 1 GB) and are no faster.
os.environ.setdefault("POLARS_CSV_CHUNK_SIZE", str(4 << 20))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # numpy's BLAS threads would only spin here

from .cli import env_columns, main, run, write_failure_message
from .contract import (
    CONTAINER_INPUT_DIR,
    CONTAINER_OUTPUT_DIR,
    FAILURE_MESSAGE_PATH,
    PROGRAM_PATH,
    STATS_DIR,
)
from .model import (
    ColumnStats,
    FileStats,
    InputError,
    Options,
    OutputError,
    StandardizeError,
    UsageError,
    is_id_name,
)
from .output import standardize_file

__all__ = [
    "CONTAINER_INPUT_DIR",
    "CONTAINER_OUTPUT_DIR",
    "FAILURE_MESSAGE_PATH",
    "PROGRAM_PATH",
    "STATS_DIR",
    "ColumnStats",
    "FileStats",
    "InputError",
    "Options",
    "OutputError",
    "StandardizeError",
    "UsageError",
    "env_columns",
    "is_id_name",
    "main",
    "run",
    "standardize_file",
    "write_failure_message",
]
