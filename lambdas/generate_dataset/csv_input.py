"""Reading a run's Glue CSV parts: one part at a time, each as a stream, into compact per-series
arrays; and the memory check that comes before (see :mod:`dataset`'s "Memory")."""

from __future__ import annotations

import csv
import gzip
import io
import logging
import math
import zlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO

from dataset_config import Config, InputTooLarge, InvalidInputData, MissingColumn, NoInputData, S3Client
from run_paths import RunPaths

LOG = logging.getLogger(__name__)

_CSV_SUFFIXES = (".csv", ".csv.gz")
_MISSING_VALUES = frozenset({"", "nan"})
#: A guard against a typo'd timestamp (year 9999) blowing up one series to millions of empty slots.
MAX_POINTS = 1_000_000
#: Peak memory growth per byte of CSV input while the rows are held (about 25 bytes a row), with
#: margin over what benchmarks/generate_dataset.py measures on 23- and 39-byte rows.
BYTES_PER_INPUT_BYTE = 1.5
#: Memory the function holds whatever the input: the Lambda runtime, boto3 and these modules.
RUNTIME_MB = 96
#: The streamed uploads' buffers at most (:mod:`streams`: 8 MiB parts, some waiting, some in flight,
#: and copies); they come on top of the rows' peak, as freed heap memory is not handed back.
UPLOAD_MB = 64
#: The setting of the app's config that sizes this function, named in :class:`InputTooLarge`.
MEMORY_SETTING = "forecast.generateDataset.memoryMb"
MAX_LAMBDA_MEMORY_MB = 10240


# --------------------------------------------------------------------------- reading CSV


@dataclass(frozen=True, slots=True)
class Observation:
    """One data row as :func:`read_observations` yields it (``value`` ``None``: missing)."""

    series_id: str
    timestamp: datetime
    value: float | None
    source: str
    line: int


_EPOCH = datetime(1970, 1, 1)
SECOND = timedelta(seconds=1)
#: Distinct raw timestamps whose parse one part remembers (the table's hours repeat per series).
_TIMESTAMP_CACHE = 100_000


def parse_timestamp(raw: str) -> datetime:
    """An ISO 8601 timestamp as a naive UTC datetime without fractional seconds.

    Raises ``ValueError`` for anything else.
    """
    text = raw.strip()
    if not text:
        raise ValueError("empty timestamp")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed.replace(microsecond=0)


def epoch_seconds(moment: datetime) -> int:
    """Whole seconds from 1970-01-01 to the naive UTC ``moment`` (negative before)."""
    return (moment - _EPOCH) // SECOND


def from_epoch(seconds: int) -> datetime:
    """The naive UTC datetime ``seconds`` after 1970-01-01 (:func:`epoch_seconds` inverted)."""
    return _EPOCH + timedelta(seconds=seconds)


def parse_value(raw: str) -> float | None:
    """A finite float, or ``None`` (missing) for an empty cell or ``NaN``; ``ValueError`` otherwise."""
    text = raw.strip()
    if text.lower() in _MISSING_VALUES:
        return None
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"non-finite value {text!r}")
    return value


#: One data row: series id, epoch seconds (UTC, whole), value (NaN: missing) and line number.
Row = tuple[str, int, float, int]


def _columns(header: list[str], source: str, wanted: Sequence[str]) -> list[int]:
    """The index of each ``wanted`` column in ``header`` (names stripped), else :class:`MissingColumn`."""
    names = [name.strip() for name in header]
    for column in wanted:
        if column not in names:
            raise MissingColumn(f"column {column!r} is not in the header of {source} (header: {names})")
    return [names.index(column) for column in wanted]


def _seconds(raw: str, where: str, column: str) -> int:
    try:
        return epoch_seconds(parse_timestamp(raw))
    except ValueError:
        raise InvalidInputData(f"{where}: {column} {raw!r} is not an ISO 8601 timestamp") from None


def _unusual_value(raw: str, where: str, column: str) -> float:
    """``raw``, which ``float`` rejects or reads as NaN or infinite, by :func:`parse_value`'s rule."""
    try:
        value = parse_value(raw)
    except ValueError:
        raise InvalidInputData(f"{where}: {column} {raw!r} is not a finite number") from None
    return math.nan if value is None else value


def read_rows(
    lines: Iterable[str],
    source: str,
    timestamp_column: str,
    value_column: str,
    series_column: str | None,
) -> Iterator[Row]:
    """The data rows of one CSV text (header row first), checked by the module docstring's rules;
    ``source`` names it in errors. An empty text (no header) yields nothing. Line numbers are
    1-based, the header is line 1."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        return
    wanted = [timestamp_column, value_column] + ([series_column] if series_column else [])
    ts_i, value_i, *series_column_index = _columns(header, source, wanted)
    series_i = series_column_index[0] if series_column_index else None
    width = max(ts_i, value_i, *series_column_index) + 1  # at least 2: the columns are distinct
    stamps: dict[str, int] = {}  # the parse of each raw timestamp: a table's hours repeat per series
    series_id, checked_id = "", None
    for row in reader:
        line = reader.line_num
        if len(row) < width:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            raise InvalidInputData(f"{source} line {line}: expected at least {width} fields, got {len(row)}")
        raw_ts = row[ts_i]
        seconds = stamps.get(raw_ts)
        if seconds is None:
            seconds = _seconds(raw_ts, f"{source} line {line}", timestamp_column)
            if len(stamps) >= _TIMESTAMP_CACHE:
                stamps.clear()
            stamps[raw_ts] = seconds
        try:  # the common case, a finite number; anything else is parse_value's to decide
            value = float(row[value_i])
        except ValueError:
            value = math.inf
        if value - value != 0.0:  # NaN or infinite
            value = _unusual_value(row[value_i], f"{source} line {line}", value_column)
        if series_i is not None:
            series_id = row[series_i]  # as it is: leading and trailing spaces are part of the id
            if series_id != checked_id:
                if not series_id.strip():
                    problem = "is empty" if not series_id else f"is only whitespace ({series_id!r})"
                    raise InvalidInputData(f"{source} line {line}: {series_column} {problem}")
                checked_id = series_id
        yield series_id, seconds, value, line


def read_observations(
    lines: Iterable[str],
    source: str,
    timestamp_column: str,
    value_column: str,
    series_column: str | None,
) -> Iterator[Observation]:
    """:func:`read_rows` as :class:`Observation` objects (one per row: for small texts only)."""
    for series_id, seconds, value, line in read_rows(
        lines, source, timestamp_column, value_column, series_column
    ):
        yield Observation(series_id, from_epoch(seconds), None if math.isnan(value) else value, source, line)


@dataclass(frozen=True)
class CsvPart:
    """One CSV part: its key and its listed size in bytes (compressed, for ``.csv.gz``)."""

    key: str
    size: int

    @property
    def gzipped(self) -> bool:
        return self.key.endswith(".gz")


def list_csv_parts(s3: S3Client, bucket: str, prefix: str) -> list[CsvPart]:
    """The CSV parts under ``prefix``, sorted by key; hidden files and folders (``_*``, ``.*``) skipped."""
    parts: list[CsvPart] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            relative = key[len(prefix) :]
            if any(part.startswith(("_", ".")) for part in relative.split("/")):
                continue
            if key.endswith(_CSV_SUFFIXES):
                parts.append(CsvPart(key, int(obj.get("Size", 0))))
    return sorted(parts, key=lambda part: part.key)


class SeriesRows:
    """The rows of one series as read, in arrival order, in compact arrays (24 bytes a row):
    epoch ``seconds`` (``q``), ``values`` (``d``, NaN: missing), and where each row came from,
    the index of its part (``parts``, ``I``) and its line (``lines``, ``I``)."""

    __slots__ = ("lines", "parts", "seconds", "values")

    def __init__(self) -> None:
        self.seconds = array("q")
        self.values = array("d")
        self.parts = array("I")
        self.lines = array("I")

    def __len__(self) -> int:
        return len(self.seconds)

    def add(self, seconds: int, value: float, part: int, line: int) -> None:
        self.seconds.append(seconds)
        self.values.append(value)
        self.parts.append(part)
        self.lines.append(line)


@dataclass
class Input:
    """Every data row of a run, by series id; ``sources[i]`` is the URI of part ``i``."""

    sources: list[str] = field(default_factory=list)
    series: dict[str, SeriesRows] = field(default_factory=dict)
    rows: int = 0

    def add_part(self, source: str, rows: Iterable[Row]) -> None:
        """Append the rows of the next part (``source``, its URI)."""
        part = len(self.sources)
        self.sources.append(source)
        store, last_id, current = self.series, None, SeriesRows()
        add_seconds, add_value = current.seconds.append, current.values.append
        add_part, add_line = current.parts.append, current.lines.append
        count = 0
        for series_id, seconds, value, line in rows:
            if series_id != last_id:  # rows of a series usually come together: look it up once
                found = store.get(series_id)
                if found is None:
                    found = store[series_id] = SeriesRows()
                current = found
                add_seconds, add_value = current.seconds.append, current.values.append
                add_part, add_line = current.parts.append, current.lines.append
                last_id = series_id
            add_seconds(seconds)
            add_value(value)
            add_part(part)
            add_line(line)
            count += 1
        self.rows += count


def open_part(body: IO[bytes], gzipped: bool) -> io.TextIOWrapper:
    """The text of one CSV part's body as a stream (gunzipped if ``gzipped``; UTF-8, optional BOM)."""
    raw = gzip.GzipFile(fileobj=body, mode="rb") if gzipped else body
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def _read_part(data: Input, text: io.TextIOWrapper, source: str, config: Config) -> None:
    rows = read_rows(text, source, config.timestamp_column, config.value_column, config.series_column)
    try:
        data.add_part(source, rows)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise InvalidInputData(f"{source}: is not gzip-compressed CSV, or is cut short ({exc})") from None


def undecodable_line(stream: IO[bytes] | io.BufferedIOBase) -> int:
    """The number (1-based) of the first line of ``stream`` that is not UTF-8 (the first may start
    with a BOM), or 0 if all are. Only for the error message: the reader decodes blocks, not lines."""

    def lines() -> Iterator[bytes]:  # UTF-8 never has a 0x0A byte inside a character
        rest = b""
        while block := stream.read(2**16):
            *whole, rest = (rest + block).split(b"\n")
            yield from whole
        yield rest

    for number, line in enumerate(lines(), start=1):
        try:
            line.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            return number
    return 0


def input_bytes(s3: S3Client, bucket: str, part: CsvPart) -> int:
    """The CSV bytes of ``part``: its listed size, or for gzip its ISIZE trailer (the last 4 bytes,
    one ranged GET: the uncompressed size modulo 2**32, taken as the smallest such size at least
    the compressed one; of the last member only, if a part is several gzip members)."""
    if not part.gzipped or part.size < 18:  # a gzip member is at least 18 bytes; reading will tell
        return part.size
    tail = s3.get_object(Bucket=bucket, Key=part.key, Range="bytes=-4")["Body"].read()[-4:]
    isize = int.from_bytes(tail, "little")
    wraps = max(0, -(-(part.size - isize) // 2**32))
    return isize + wraps * 2**32


def memory_needed(total: int) -> int:
    """MB of memory ``total`` CSV bytes need: ``RUNTIME_MB`` + the uploads' buffers (``UPLOAD_MB``,
    or the input's size if smaller: a body is about the input's size or less) +
    ``BYTES_PER_INPUT_BYTE`` x the input."""
    mib = total / 2**20
    return RUNTIME_MB + min(UPLOAD_MB, math.ceil(mib)) + math.ceil(BYTES_PER_INPUT_BYTE * mib)


def check_input_size(total: int, count: int, memory_mb: int | None, input_uri: str) -> None:
    """Raise :class:`InputTooLarge` when ``total`` CSV bytes in ``count`` parts need more memory
    (:func:`memory_needed`) than ``memory_mb`` (``None``: no check)."""
    if memory_mb is None:
        return
    need = memory_needed(total)
    if need <= memory_mb:
        return
    advice = f"raise the setting {MEMORY_SETTING} to at least {need}"
    if need > MAX_LAMBDA_MEMORY_MB:
        advice = f"that is more than Lambda's {MAX_LAMBDA_MEMORY_MB} MB: export fewer series or hours per run"
    raise InputTooLarge(
        f"the input under {input_uri} is {total / 2**20:,.0f} MiB of CSV in {count} part(s) (gzip parts "
        f"counted uncompressed), which needs about {need} MB of memory ({RUNTIME_MB} MB for the runtime, "
        f"up to {UPLOAD_MB} MB for the uploads, {BYTES_PER_INPUT_BYTE} x the input); the function has "
        f"{memory_mb} MB (AWS_LAMBDA_FUNCTION_MEMORY_SIZE): {advice}"
    )


def read_input(s3: S3Client, config: Config, paths: RunPaths) -> Input:
    """All rows of all CSV parts of the run, read one part at a time as a stream. Raises
    :class:`NoInputData` if there are none, :class:`InputTooLarge` before reading if the
    function's memory (``config.memory_mb``) cannot hold them."""
    input_uri = paths.uri(paths.input_prefix)
    parts = list_csv_parts(s3, paths.bucket, paths.input_prefix)
    if not parts:
        raise NoInputData(f"no CSV part under {input_uri}")
    if config.memory_mb is not None:
        total = sum(input_bytes(s3, paths.bucket, part) for part in parts)
        check_input_size(total, len(parts), config.memory_mb, input_uri)
    data = Input()
    for part in parts:
        source = paths.uri(part.key)
        body = s3.get_object(Bucket=paths.bucket, Key=part.key)["Body"]
        try:
            _read_part(data, open_part(body, part.gzipped), source, config)
        except UnicodeDecodeError as exc:
            again = s3.get_object(Bucket=paths.bucket, Key=part.key)["Body"]
            try:
                line = undecodable_line(gzip.GzipFile(fileobj=again, mode="rb") if part.gzipped else again)
            finally:
                again.close()
            raise InvalidInputData(f"{source} line {line}: is not UTF-8 text ({exc.reason})") from None
        finally:
            body.close()
    if not data.rows:
        raise NoInputData(f"the {len(parts)} CSV part(s) under {input_uri} have no data rows")
    LOG.info(
        "read %d rows of %d series from %d CSV part(s) under %s",
        data.rows,
        len(data.series),
        len(parts),
        input_uri,
    )
    return data
