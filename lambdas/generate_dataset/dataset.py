"""Turn the Glue ETL CSV export of one job run into DeepAR train/test JSON Lines.

Input: every CSV part (``*.csv`` or ``*.csv.gz``; ``_SUCCESS`` markers, ``_temporary/`` and other
files are ignored) under ``s3://<bucket>/<etl prefix>run=<job run id>/``. Each part has a header
row naming the configured timestamp, value and (optional) series columns; other columns are
ignored.

Documented choices:

* **Timestamps** are ISO 8601, with ``T`` or a space, with or without fractional seconds and a UTC
  offset (``Z``, ``+02:00``). Offset-aware values are converted to UTC; naive values are taken
  as UTC. Fractional seconds are dropped.
* **Grid.** Each series is regularized to ``TIME_FREQ`` on a grid anchored at its own first
  (earliest) timestamp. A timestamp that is not on the grid is **floored** to the grid slot that
  contains it. Slots without an observation become the string ``"NaN"`` in ``target``.
* **Duplicates are rejected**: two rows of one series that land in the same grid slot (the same
  timestamp, or two off-grid timestamps floored to one slot) raise :class:`DuplicateTimestamps`
  naming the series, the slot and both raw timestamps. Nothing is silently summed or dropped.
* **Values.** An empty value (or ``NaN``, any case) is a missing observation (``"NaN"``). Any
  other non-numeric or non-finite value raises :class:`InvalidInputData` naming file and line,
  and so does a line that is not UTF-8 text (a ``.csv.gz`` part that is not gzip names the file).
* **Series.** With no series column there is one series whose id is ``""`` (the empty string;
  the same value write-forecast stores in its ``series_id`` key column). With a series column,
  an id is kept exactly as the source holds it, leading and trailing spaces included (``" a"``
  and ``"a"`` are two series, and the forecast is written back under the source's own id); an
  empty (NULL or ``''``) or whitespace-only id is rejected, and so are two ids that differ only
  in trailing spaces, which MySQL's key comparison would merge. Series are ordered by id (plain
  string order), and the train file, test file and manifest list them in that same order.
* **Length.** The model trains on and forecasts the series of at least ``CONTEXT_LENGTH +
  PREDICTION_LENGTH`` points (after regularizing); a shorter series is left out of the train and
  test files and gets the seasonal-naive forecast alone (its manifest entry says ``"model":
  false``), so no series is silently dropped. When no series is that long the run fails with
  :class:`NotEnoughHistory`, naming the longest.
  A series spanning more than ``MAX_POINTS`` grid steps (usually a typo'd timestamp or a wrong
  ``TIME_FREQ``) is rejected with :class:`InvalidInputData`.
* **Baseline** (:mod:`baseline`). Each series' backtest window (its last ``PREDICTION_LENGTH``
  points, which DeepAR's test evaluation scores and the model's backtest forecasts) and its
  future window are forecast with the probabilistic seasonal naive, with the season (a day or a
  week of steps for hourly data) that did better on the backtest window. The baseline file
  (``baseline.json``, one line per series in manifest order) holds both windows' forecasts at
  the written quantiles, for write-forecast's per-series selection; the manifest's
  ``"baseline"`` holds the figures overall and per series (each with its id, season and the
  candidates' losses; see :func:`manifest`); the returned state holds only the overall ones,
  since a Step Functions state is at most 256 KB and a run may hold 1,000 series.

* **Memory.** Parts are read one at a time, each as a stream (S3 body, gunzip, UTF-8 decoding,
  ``csv.reader``), into compact per-series arrays (:class:`SeriesRows`: epoch seconds, value,
  part index and line, 24 bytes a row, about 25 with the arrays' growth), never one object per
  row. Each series is then sorted and regularized on its own (its rows let go as it is done; a
  regular target is 8 bytes a point), the baseline is scored one series at a time, and train and
  test are streamed to S3 one series at a time (:mod:`streams`). Peak growth while the rows are
  held, measured with ``benchmarks/generate_dataset.py``: 0.66 bytes per CSV byte on 39-byte rows
  (1,000 series x 8,760 hours, 324 MiB of CSV: +213 MiB; +255 MiB with the uploads) and 1.10 on
  23-byte rows. Before reading anything, when ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE`` is set (the
  Lambda runtime sets it), the input's size (the listed sizes; a gzip part's from its ISIZE
  trailer, :func:`input_bytes`) is held against it: :func:`memory_needed`, 96 MB + up to 64 MB
  for the uploads + 1.5 x the CSV, must fit, else :class:`InputTooLarge` names the size, the
  memory and the setting to raise, ``forecast.generateDataset.memoryMb``. The check counts bytes,
  so a table of very short rows (under about 18 bytes) or of series with many gaps (8 bytes a
  missing slot) can need more.

Every S3 path and SageMaker name of a run is derived here, once, from the Step Functions
execution name, and passed along in the state; nothing depends on "today".

One module, over 400 lines, on purpose: the timestamp, grid, duplicate, gap and series rules
above act on the same rows, and the Lambda folder ships as a whole.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import math
import zlib
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any, Protocol

from baseline import Baseline, BaselineScorer, parse_quantiles
from streams import upload_chunks

from forecast_metrics import FORECAST_QUANTILES, SELECTION_METRICS, check_selection_metric
from pipeline_rules import (
    DEEPAR_START_FORMAT,
    MAX_FORECAST_NAME_PREFIX,
    ConfigurationError,
    Environment,
    RuleError,
    check_bucket_name,
    check_columns,
    check_execution_name,
    check_identifier,
    check_job_run_id,
    check_key_prefix,
    check_name_prefix,
    check_setting,
    execution_digest,
    freq_step,
)

LOG = logging.getLogger(__name__)

#: The run's folder holding train.json and test.json, the transform job's input.
DATA_FOLDER = "data/"
_CSV_SUFFIXES = (".csv", ".csv.gz")
_MISSING_VALUES = frozenset({"", "nan"})
#: A guard against a typo'd timestamp (year 9999) blowing up one series to millions of empty slots.
MAX_POINTS = 1_000_000
#: Peak memory growth per byte of CSV input while the rows are held, with margin: measured 0.66 on
#: 39-byte rows and 1.10 on 23-byte rows (about 25 bytes a row; module docstring, "Memory").
BYTES_PER_INPUT_BYTE = 1.5
#: Memory the function holds whatever the input: the Lambda runtime, boto3 and these modules.
RUNTIME_MB = 96
#: The streamed uploads' buffers at most (:mod:`streams`: 8 MiB parts, some waiting, some in flight,
#: and copies); they come on top of the rows' peak, as freed heap memory is not handed back.
UPLOAD_MB = 64
#: The setting of the app's config that sizes this function, named in :class:`InputTooLarge`.
MEMORY_SETTING = "forecast.generateDataset.memoryMb"
MAX_LAMBDA_MEMORY_MB = 10240


class DatasetError(ValueError):
    """Base class of the errors below; each subclass name is an error name the state machine sees."""


class InvalidEvent(DatasetError):
    """The event is not a SUCCEEDED Glue Job State Change with a usable job run id / execution name."""


class NoInputData(DatasetError):
    """No CSV part, or no data row, under the job run's prefix."""


class MissingColumn(DatasetError):
    """A configured column is not in a CSV part's header."""


class InvalidInputData(DatasetError):
    """A row has an unparsable timestamp, a non-numeric value or an empty series id."""


class DuplicateTimestamps(DatasetError):
    """Two rows of one series fall into the same grid slot."""


class NotEnoughHistory(DatasetError):
    """A series has fewer than ``CONTEXT_LENGTH + PREDICTION_LENGTH`` points after regularizing."""


class InputTooLarge(DatasetError):
    """The run's CSV needs more memory than the function has (checked before reading)."""


class S3Client(Protocol):
    """The calls generate-dataset makes: a boto3 S3 client, or a stand-in with the same methods."""

    def get_paginator(self, operation_name: str) -> Any: ...

    def get_object(self, *, Bucket: str, Key: str, **kwargs: Any) -> Mapping[str, Any]: ...

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> Any: ...

    def upload_fileobj(self, Fileobj: Any, Bucket: str, Key: str, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class Config:
    """The function's settings (its environment variables), validated."""

    bucket: str
    etl_prefix: str
    work_prefix: str
    timestamp_column: str
    value_column: str
    series_column: str | None
    freq: str
    step: timedelta
    prediction_length: int
    context_length: int
    name_prefix: str
    test_quantiles: tuple[str, ...] = FORECAST_QUANTILES
    selection_metric: str = SELECTION_METRICS[0]
    memory_mb: int | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        """Read and validate ``BUCKET_NAME``, ``ETL_PREFIX``, ``WORK_PREFIX``, ``TIMESTAMP_COLUMN``,
        ``VALUE_COLUMN``, ``SERIES_COLUMN`` (empty: single series), ``TIME_FREQ`` (default ``1H``),
        ``PREDICTION_LENGTH`` (default 168), ``CONTEXT_LENGTH`` (default 672), ``NAME_PREFIX`` and
        ``TEST_QUANTILES`` (a JSON list of levels in (0, 1), default ``["0.1", "0.5", "0.9"]``; see
        :func:`baseline.parse_quantiles`) and ``SELECTION_METRIC`` (the metric the baseline's season
        is chosen on, one of ``forecast_metrics.SELECTION_METRICS``); a missing or bad one raises
        :class:`ConfigurationError` naming it. ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE`` (MB), which the
        Lambda runtime sets, is the memory :func:`check_input_size` holds the input against; unset
        (tests), there is no check.
        """
        read = Environment(env)
        timestamp_column = read.required("TIMESTAMP_COLUMN", check_identifier)
        value_column = read.required("VALUE_COLUMN", check_identifier)
        series_column = read.optional("SERIES_COLUMN", rule=check_identifier) or None
        try:
            check_columns(timestamp_column, value_column, series_column)
        except RuleError as exc:
            raise ConfigurationError(f"TIMESTAMP_COLUMN, VALUE_COLUMN and SERIES_COLUMN: {exc}") from None
        freq = read.optional("TIME_FREQ", "1H", freq_step)
        raw_quantiles = read.optional("TEST_QUANTILES")
        quantiles = check_setting("TEST_QUANTILES", raw_quantiles, parse_quantiles) if raw_quantiles else None
        return cls(
            bucket=read.required("BUCKET_NAME", check_bucket_name),
            etl_prefix=read.required("ETL_PREFIX", check_key_prefix),
            work_prefix=read.required("WORK_PREFIX", check_key_prefix),
            timestamp_column=timestamp_column,
            value_column=value_column,
            series_column=series_column,
            freq=freq,
            step=freq_step(freq),
            prediction_length=read.positive_int("PREDICTION_LENGTH", 168),
            context_length=read.positive_int("CONTEXT_LENGTH", 672),
            name_prefix=read.required("NAME_PREFIX", _name_prefix),
            test_quantiles=quantiles or FORECAST_QUANTILES,
            selection_metric=read.optional("SELECTION_METRIC", SELECTION_METRICS[0], check_selection_metric),
            memory_mb=read.positive_int("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", 0) or None,
        )


def _name_prefix(prefix: str) -> str:
    return check_name_prefix(prefix, MAX_FORECAST_NAME_PREFIX)


# --------------------------------------------------------------------------- event and run paths


def job_run_id_from_event(glue_event: Mapping[str, Any]) -> str:
    """The ``jobRunId`` of a Glue Job State Change event whose state is SUCCEEDED."""
    detail = glue_event.get("detail") if isinstance(glue_event, Mapping) else None
    if not isinstance(detail, Mapping):
        raise InvalidEvent("event has no 'detail' object; is this a Glue Job State Change event?")
    state = detail.get("state")
    if state is not None and state != "SUCCEEDED":
        raise InvalidEvent(f"Glue job {detail.get('jobName')!r} run state is {state!r}, not SUCCEEDED")
    run_id = detail.get("jobRunId")
    try:
        return check_job_run_id(run_id)
    except RuleError as exc:
        raise InvalidEvent(f"event detail.jobRunId {run_id!r} is missing or {exc}") from None


def job_run_and_execution(payload: object) -> tuple[str, str]:
    """The Glue job run id and the execution name of the task payload
    ``{"event": <Glue Job State Change>, "execution_name"}``; else :class:`InvalidEvent`."""
    if not isinstance(payload, Mapping) or "event" not in payload or "execution_name" not in payload:
        raise InvalidEvent("expected {'event': <Glue Job State Change event>, 'execution_name': <name>}")
    return job_run_id_from_event(payload["event"]), payload["execution_name"]


def validate_run_key(execution_name: str) -> str:
    """The run key: the execution name itself, checked to be a Step Functions execution name."""
    try:
        return check_execution_name(execution_name)
    except RuleError as exc:
        raise InvalidEvent(f"execution_name {execution_name!r} {exc}") from None


def job_names(name_prefix: str, execution_name: str) -> dict[str, str]:
    """Deterministic training job, model and transform job names for one execution.

    ``<prefix>-train-<h>``, ``<prefix>-model-<h>``, ``<prefix>-transform-<h>`` where ``h`` is the
    first 16 hex digits of SHA-256 of the execution name.
    """
    check_setting("NAME_PREFIX", name_prefix, _name_prefix)
    digest = execution_digest(execution_name)
    return {  # the prefix's length limit keeps every name within SageMaker's rules
        "training_job_name": f"{name_prefix}-train-{digest}",
        "model_name": f"{name_prefix}-model-{digest}",
        "transform_job_name": f"{name_prefix}-transform-{digest}",
    }


@dataclass(frozen=True)
class RunPaths:
    """Every S3 location of one run. Keys are bucket-relative; ``*_uri`` are ``s3://`` URIs."""

    bucket: str
    input_prefix: str
    run_prefix: str

    @property
    def train_key(self) -> str:
        return f"{self.run_prefix}{DATA_FOLDER}train.json"

    @property
    def test_key(self) -> str:
        return f"{self.run_prefix}{DATA_FOLDER}test.json"

    @property
    def series_key(self) -> str:
        return f"{self.run_prefix}series.json"

    @property
    def baseline_key(self) -> str:
        return f"{self.run_prefix}baseline.json"

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def uris(self) -> dict[str, str]:
        """The run's URIs. The train and test channels are S3 prefixes that match one object each;
        the transform's input is their folder, so ONE job forecasts both files, and names each
        output after its input (``<output path><input>.out``): the train lines' forecast is the
        backtest window's, the test (whole) lines' the future's."""
        transform = self.uri(f"{self.run_prefix}transform/")
        return {
            "input_uri": self.uri(self.input_prefix),
            "train_uri": self.uri(self.train_key),
            "test_uri": self.uri(self.test_key),
            "series_uri": self.uri(self.series_key),
            "baseline_uri": self.uri(self.baseline_key),
            "model_output_uri": self.uri(f"{self.run_prefix}model/"),
            "transform_input_uri": self.uri(f"{self.run_prefix}{DATA_FOLDER}"),
            "transform_output_uri": transform,
            "backtest_uri": f"{transform}train.json.out",
            "forecast_uri": f"{transform}test.json.out",
        }


def run_paths(config: Config, job_run_id: str, execution_name: str) -> RunPaths:
    """The run's input prefix (from the Glue job run id) and work prefix (from the execution name)."""
    return RunPaths(
        bucket=config.bucket,
        input_prefix=f"{config.etl_prefix}run={job_run_id}/",
        run_prefix=f"{config.work_prefix}{validate_run_key(execution_name)}/",
    )


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
_SECOND = timedelta(seconds=1)
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
    return (moment - _EPOCH) // _SECOND


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


# --------------------------------------------------------------------------- regularizing


@dataclass(frozen=True)
class Series:
    """One regular series: ``target[i]`` is the value at ``start + i * step`` (NaN: missing)."""

    series_id: str
    start: datetime
    target: array[float]


def _describe(series_id: str) -> str:
    return f"series {series_id!r}" if series_id else "the series"


def _at(seconds: int) -> str:
    return from_epoch(seconds).strftime(DEEPAR_START_FORMAT)


def regularize(series_id: str, rows: SeriesRows, step: timedelta, sources: Sequence[str]) -> Series:
    """One series on the grid ``start + k * step`` anchored at its earliest timestamp.

    Off-grid timestamps are floored to their slot; two rows in one slot raise
    :class:`DuplicateTimestamps` (the earlier of the two by time, then part, then line, first);
    empty slots are NaN. ``sources`` name the parts by index.
    """
    count = len(rows)
    if not count:
        raise NoInputData(f"{_describe(series_id)} has no rows")
    seconds, values = rows.seconds, rows.values
    step_s = step // _SECOND
    first = seconds[0]
    if seconds == array("q", range(first, first + count * step_s, step_s)):
        return Series(series_id, from_epoch(first), values)  # in order, one row per slot: as read
    # Rows were appended by part, then line, so a stable sort by time orders ties by (part, line).
    order: Sequence[int] = sorted(range(count), key=seconds.__getitem__)
    start, last = seconds[order[0]], order[-1]
    length = (seconds[last] - start) // step_s + 1
    target = array("d", [math.nan]) * length if length <= MAX_POINTS else None
    previous_slot, previous = -1, order[0]
    for k in order:
        slot = (seconds[k] - start) // step_s
        if slot == previous_slot:

            def where(i: int) -> str:
                return f"{_at(seconds[i])} ({sources[rows.parts[i]]} line {rows.lines[i]})"

            raise DuplicateTimestamps(
                f"{_describe(series_id)} has more than one row for {_at(start + slot * step_s)}: "
                f"{where(previous)} and {where(k)}"
            )
        if target is not None:
            target[slot] = values[k]
        previous_slot, previous = slot, k
    if target is None:
        raise InvalidInputData(
            f"{_describe(series_id)} spans {length} {step} steps from {_at(start)} to "
            f"{_at(seconds[last])} ({sources[rows.parts[last]]} line {rows.lines[last]}); at most "
            f"{MAX_POINTS} are supported: check TIME_FREQ and the timestamps"
        )
    return Series(series_id, from_epoch(start), target)


def build_series(data: Input, step: timedelta) -> list[Series]:
    """Regularize each series of ``data``, ordered by series id. Consumes ``data.series``: each
    series' rows are let go as soon as it is regularized."""
    padded: dict[str, str] = {}
    ids = sorted(data.series)
    for series_id in ids:
        other = padded.setdefault(series_id.rstrip(" "), series_id)
        if other != series_id:  # MySQL's PAD SPACE collations compare 'a' and 'a ' as equal
            raise InvalidInputData(
                f"series ids {other!r} and {series_id!r} differ only in trailing spaces, which the "
                "forecast table's key (MySQL compares with trailing spaces ignored) cannot tell apart"
            )
    return [regularize(series_id, data.series.pop(series_id), step, data.sources) for series_id in ids]


def modelled(series: Sequence[Series], context_length: int, prediction_length: int) -> list[bool]:
    """Which series the model trains on and forecasts: those of at least ``CONTEXT_LENGTH +
    PREDICTION_LENGTH`` points. The others get the baseline's forecast alone (each is logged).
    Raises :class:`NotEnoughHistory`, naming the longest series, when none is long enough."""
    need = context_length + prediction_length
    flags = [len(s.target) >= need for s in series]
    if not any(flags):
        longest = max(series, key=lambda s: len(s.target))
        scope = "" if len(series) == 1 else "no series is long enough for the model: the longest, "
        raise NotEnoughHistory(
            f"{scope}{_describe(longest.series_id)}{',' if scope else ''} has {len(longest.target)} points "
            "after regularizing; "
            f"CONTEXT_LENGTH + PREDICTION_LENGTH = {context_length} + {prediction_length} = {need} needed"
        )
    for s, long_enough in zip(series, flags, strict=True):
        if not long_enough:
            LOG.warning(
                "%s has %d points, under the %d the model needs: it gets the seasonal-naive forecast",
                _describe(s.series_id),
                len(s.target),
                need,
            )
    return flags


# --------------------------------------------------------------------------- writing


def deepar_line(start: datetime, target: Sequence[float | None]) -> str:
    """One DeepAR JSON line; missing values (``None`` or NaN) are the string ``"NaN"``."""
    values = ["NaN" if v is None or v != v else v for v in target]
    return json.dumps({"start": start.strftime(DEEPAR_START_FORMAT), "target": values}, separators=(",", ":"))


def jsonl_chunks(series: Iterable[Series], drop_last: int = 0) -> Iterator[bytes]:
    """DeepAR JSON Lines for ``series``, each without its last ``drop_last`` points: one
    newline-terminated line per series, made when it is asked for."""
    for s in series:
        target = s.target[: len(s.target) - drop_last] if drop_last else s.target
        yield (deepar_line(s.start, target) + "\n").encode()


def manifest(
    series: Sequence[Series], flags: Sequence[bool], config: Config, run_id: str, scores: Baseline
) -> dict[str, Any]:
    """The series manifest: ``series[i]`` (``{"id", "start", "length", "model"}``) is line ``i`` of
    the baseline file; the series with ``"model"`` true are, in the same order, the lines of the
    train and test files and of both transform outputs. ``"baseline"`` is ``{"overall": <the
    state's figures>, "series": [{"id", "season", "seasons", <figures>}, ...]}``, the second list
    in the same order (:class:`baseline.Baseline`)."""
    return {
        "run_id": run_id,
        "freq": config.freq,
        "prediction_length": config.prediction_length,
        "series_column": config.series_column,
        "series": [
            {
                "id": s.series_id,
                "start": s.start.strftime(DEEPAR_START_FORMAT),
                "length": len(s.target),
                "model": flag,
            }
            for s, flag in zip(series, flags, strict=True)
        ],
        "baseline": {
            "overall": scores.overall,
            "series": [
                {"id": s.series_id, **figures} for s, figures in zip(series, scores.series, strict=True)
            ],
        },
    }


def baseline_chunks(
    series: Iterable[Series], flags: Iterable[bool], scorer: BaselineScorer
) -> Iterator[bytes]:
    """The baseline file (:mod:`baseline`): one JSON line per series, scored when it is asked for;
    the overall figures count only the series the model sees (``flags``)."""
    for s, flag in zip(series, flags, strict=True):
        _, line = scorer.add(s.target, overall=flag)
        yield (json.dumps(line, separators=(",", ":"), allow_nan=False) + "\n").encode()


def generate_dataset(s3: S3Client, config: Config, job_run_id: str, execution_name: str) -> dict[str, Any]:
    """Read the run's CSV, write train, test, the baseline file and the manifest, and return the
    run's paths, names and overall baseline figures (``"baseline"``, :class:`baseline.Baseline`
    ``overall``).

    Nothing is written unless every series passes every check. Train, test and the baseline file
    are streamed to S3 one series at a time (:mod:`streams`); the manifest comes last.
    """
    paths = run_paths(config, job_run_id, execution_name)
    names = job_names(config.name_prefix, execution_name)
    series = build_series(read_input(s3, config, paths), config.step)
    flags = modelled(series, config.context_length, config.prediction_length)
    model_series = [s for s, flag in zip(series, flags, strict=True) if flag]
    for key, drop_last in ((paths.train_key, config.prediction_length), (paths.test_key, 0)):
        chunks = jsonl_chunks(model_series, drop_last)
        upload_chunks(s3, paths.bucket, key, chunks, "application/jsonlines")
    scorer = BaselineScorer(
        config.prediction_length, config.step, config.test_quantiles, config.selection_metric
    )
    lines = baseline_chunks(series, flags, scorer)
    upload_chunks(s3, paths.bucket, paths.baseline_key, lines, "application/jsonlines")
    scores = scorer.result()
    document = manifest(series, flags, config, execution_name, scores)
    body = json.dumps(document, indent=1, allow_nan=False).encode()
    s3.put_object(Bucket=paths.bucket, Key=paths.series_key, Body=body, ContentType="application/json")
    points = max(len(s.target) for s in series)
    LOG.info("wrote %d series (longest %d points) to %s", len(series), points, paths.uri(paths.run_prefix))
    return {
        "run_id": execution_name,
        "run_prefix": paths.run_prefix,
        **paths.uris(),
        **names,
        "series_count": len(series),
        "model_series_count": len(model_series),
        "points": points,
        "baseline": scores.overall,
    }
