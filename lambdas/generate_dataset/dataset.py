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
  other non-numeric or non-finite value raises :class:`InvalidInputData` naming file and line.
* **Series.** With no series column there is one series whose id is ``""`` (the empty string;
  the same value write-forecast stores in its ``series_id`` key column). With a series column,
  an id is kept exactly as the source holds it, leading and trailing spaces included (``" a"``
  and ``"a"`` are two series, and the forecast is written back under the source's own id); an
  empty (NULL or ``''``) or whitespace-only id is rejected, and so are two ids that differ only
  in trailing spaces, which MySQL's key comparison would merge. Series are ordered by id (plain
  string order), and the train file, test file and manifest list them in that same order.
* **Length.** Every series (after regularizing) needs at least ``CONTEXT_LENGTH +
  PREDICTION_LENGTH`` points, else :class:`NotEnoughHistory`; no series is silently dropped.
  A series spanning more than ``MAX_POINTS`` grid steps (usually a typo'd timestamp or a wrong
  ``TIME_FREQ``) is rejected with :class:`InvalidInputData`.
* **Baseline** (:mod:`baseline`). Each series' test window (its last ``PREDICTION_LENGTH``
  points, which DeepAR's test evaluation scores) is forecast with seasonal naive from the points
  before it, with the season ``season_length(step, len(history))``: for hourly data 168 with at
  least two weeks of history, else 24 with at least two days, else 1 (daily: 7 or 1; weekly: 1).
  A missing history value falls back to the same phase one season earlier, then to the history's
  last present value; missing actuals in the window are not scored; a history with no present
  value gives no baseline (``null`` figures, 0 points). The point forecast stands for every
  quantile of ``TEST_QUANTILES``. The manifest's ``"baseline"`` holds the figures overall and per
  series (each with its id and season; see :func:`manifest`); the returned state holds only the
  overall ones, since a Step Functions state is at most 256 KB and a run may hold 1,000 series.

Every S3 path and SageMaker name of a run is derived here, once, from the Step Functions
execution name, and passed along in the state; nothing depends on "today".

One module, over 400 lines, on purpose: the timestamp, grid, duplicate, gap and series rules
above act on the same rows in one pass, and the Lambda folder ships as a whole.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from baseline import Baseline, parse_quantiles, score_baseline
from forecast_metrics import DEFAULT_QUANTILES

from pipeline_rules import (
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

#: DeepAR ``start`` format.
START_FORMAT = "%Y-%m-%d %H:%M:%S"
_CSV_SUFFIXES = (".csv", ".csv.gz")
_MISSING_VALUES = frozenset({"", "nan"})
#: A guard against a typo'd timestamp (year 9999) blowing up one series to millions of empty slots.
MAX_POINTS = 1_000_000


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


class S3Client(Protocol):
    def get_paginator(self, operation_name: str) -> Any: ...

    def get_object(self, *, Bucket: str, Key: str) -> Mapping[str, Any]: ...

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> Any: ...


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
    test_quantiles: tuple[str, ...] = DEFAULT_QUANTILES

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        """Read and validate ``BUCKET_NAME``, ``ETL_PREFIX``, ``WORK_PREFIX``, ``TIMESTAMP_COLUMN``,
        ``VALUE_COLUMN``, ``SERIES_COLUMN`` (empty: single series), ``TIME_FREQ`` (default ``1H``),
        ``PREDICTION_LENGTH`` (default 168), ``CONTEXT_LENGTH`` (default 672), ``NAME_PREFIX`` and
        ``TEST_QUANTILES`` (a JSON list of levels in (0, 1), default ``["0.1", "0.5", "0.9"]``; see
        :func:`baseline.parse_quantiles`); a missing or bad one raises :class:`ConfigurationError`
        naming it.
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
            test_quantiles=quantiles or DEFAULT_QUANTILES,
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


def run_of(payload: object) -> tuple[str, str]:
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
        return f"{self.run_prefix}train/train.json"

    @property
    def test_key(self) -> str:
        return f"{self.run_prefix}test/test.json"

    @property
    def series_key(self) -> str:
        return f"{self.run_prefix}series.json"

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def uris(self) -> dict[str, str]:
        transform = self.uri(f"{self.run_prefix}transform/")
        return {
            "input_uri": self.uri(self.input_prefix),
            "train_uri": self.uri(f"{self.run_prefix}train/"),
            "test_uri": self.uri(f"{self.run_prefix}test/"),
            "series_uri": self.uri(self.series_key),
            "model_output_uri": self.uri(f"{self.run_prefix}model/"),
            "transform_output_uri": transform,
            # Batch transform names its output after the input object: <output path><input>.out
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
    series_id: str
    timestamp: datetime
    value: float | None
    source: str
    line: int


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


def parse_value(raw: str) -> float | None:
    """A finite float, or ``None`` (missing) for an empty cell or ``NaN``; ``ValueError`` otherwise."""
    text = raw.strip()
    if text.lower() in _MISSING_VALUES:
        return None
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"non-finite value {text!r}")
    return value


def read_observations(
    lines: Iterable[str],
    source: str,
    timestamp_column: str,
    value_column: str,
    series_column: str | None,
) -> Iterator[Observation]:
    """The observations of one CSV text (header row first). ``source`` names it in errors.

    An empty text (no header) yields nothing. Line numbers are 1-based, the header is line 1.
    """
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        return
    names = [name.strip() for name in header]
    wanted = [timestamp_column, value_column] + ([series_column] if series_column else [])
    index: dict[str, int] = {}
    for column in wanted:
        if column not in names:
            raise MissingColumn(f"column {column!r} is not in the header of {source} (header: {names})")
        index[column] = names.index(column)
    ts_i, value_i = index[timestamp_column], index[value_column]
    series_i = index[series_column] if series_column else None
    width = max(index.values()) + 1
    for row in reader:
        line = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) < width:
            raise InvalidInputData(f"{source} line {line}: expected at least {width} fields, got {len(row)}")
        try:
            timestamp = parse_timestamp(row[ts_i])
        except ValueError:
            raise InvalidInputData(
                f"{source} line {line}: {timestamp_column} {row[ts_i]!r} is not an ISO 8601 timestamp"
            ) from None
        try:
            value = parse_value(row[value_i])
        except ValueError:
            raise InvalidInputData(
                f"{source} line {line}: {value_column} {row[value_i]!r} is not a finite number"
            ) from None
        series_id = ""
        if series_i is not None:
            series_id = row[series_i]  # as it is: leading and trailing spaces are part of the id
            if not series_id.strip():
                problem = "is empty" if not series_id else f"is only whitespace ({series_id!r})"
                raise InvalidInputData(f"{source} line {line}: {series_column} {problem}")
        yield Observation(series_id, timestamp, value, source, line)


def list_csv_parts(s3: S3Client, bucket: str, prefix: str) -> list[str]:
    """Keys of the CSV parts under ``prefix``, sorted; hidden files and folders (``_*``, ``.*``) skipped."""
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            relative = key[len(prefix) :]
            if any(part.startswith(("_", ".")) for part in relative.split("/")):
                continue
            if key.endswith(_CSV_SUFFIXES):
                keys.append(key)
    return sorted(keys)


def decode_part(data: bytes, gzipped: bool) -> io.StringIO:
    """The text of one CSV part (gunzipped if ``gzipped``; UTF-8, optional BOM) for ``csv.reader``."""
    if gzipped:
        data = gzip.decompress(data)
    return io.StringIO(data.decode("utf-8-sig"), newline="")


def read_input(s3: S3Client, config: Config, paths: RunPaths) -> list[Observation]:
    """All observations of all CSV parts of the run. Raises :class:`NoInputData` if there are none."""
    input_uri = paths.uri(paths.input_prefix)
    keys = list_csv_parts(s3, paths.bucket, paths.input_prefix)
    if not keys:
        raise NoInputData(f"no CSV part under {input_uri}")
    observations: list[Observation] = []
    for key in keys:
        data = s3.get_object(Bucket=paths.bucket, Key=key)["Body"].read()
        lines = decode_part(data, key.endswith(".gz"))
        observations.extend(
            read_observations(
                lines, paths.uri(key), config.timestamp_column, config.value_column, config.series_column
            )
        )
    if not observations:
        raise NoInputData(f"the {len(keys)} CSV part(s) under {input_uri} have no data rows")
    LOG.info("read %d rows from %d CSV part(s) under %s", len(observations), len(keys), input_uri)
    return observations


# --------------------------------------------------------------------------- regularizing


@dataclass(frozen=True)
class Series:
    """One regular series: ``target[i]`` is the value at ``start + i * step`` (``None``: missing)."""

    series_id: str
    start: datetime
    target: list[float | None]


def _describe(series_id: str) -> str:
    return f"series {series_id!r}" if series_id else "the series"


def regularize(series_id: str, observations: Iterable[Observation], step: timedelta) -> Series:
    """One series on the grid ``start + k * step`` anchored at its earliest timestamp.

    Off-grid timestamps are floored to their slot; two observations in one slot raise
    :class:`DuplicateTimestamps`; empty slots are ``None``.
    """
    ordered = sorted(observations, key=lambda o: (o.timestamp, o.source, o.line))
    if not ordered:
        raise NoInputData(f"{_describe(series_id)} has no rows")
    start = ordered[0].timestamp
    slots: dict[int, Observation] = {}
    for obs in ordered:
        slot = (obs.timestamp - start) // step
        previous = slots.get(slot)
        if previous is not None:
            at = start + slot * step
            raise DuplicateTimestamps(
                f"{_describe(series_id)} has more than one row for {at:{START_FORMAT}}: "
                f"{previous.timestamp:{START_FORMAT}} ({previous.source} line {previous.line}) and "
                f"{obs.timestamp:{START_FORMAT}} ({obs.source} line {obs.line})"
            )
        slots[slot] = obs
    length = max(slots) + 1
    if length > MAX_POINTS:
        last = ordered[-1]
        raise InvalidInputData(
            f"{_describe(series_id)} spans {length} {step} steps from {start:{START_FORMAT}} to "
            f"{last.timestamp:{START_FORMAT}} ({last.source} line {last.line}); at most {MAX_POINTS} "
            "are supported: check TIME_FREQ and the timestamps"
        )
    target: list[float | None] = [None] * length
    for slot, obs in slots.items():
        target[slot] = obs.value
    return Series(series_id, start, target)


def build_series(observations: Iterable[Observation], step: timedelta) -> list[Series]:
    """Group by series id and regularize each; ordered by series id."""
    groups: dict[str, list[Observation]] = {}
    for obs in observations:
        groups.setdefault(obs.series_id, []).append(obs)
    padded: dict[str, str] = {}
    for series_id in sorted(groups):
        other = padded.setdefault(series_id.rstrip(" "), series_id)
        if other != series_id:  # MySQL's PAD SPACE collations compare 'a' and 'a ' as equal
            raise InvalidInputData(
                f"series ids {other!r} and {series_id!r} differ only in trailing spaces, which the "
                "forecast table's key (MySQL compares with trailing spaces ignored) cannot tell apart"
            )
    return [regularize(series_id, groups[series_id], step) for series_id in sorted(groups)]


def check_history(series: Iterable[Series], context_length: int, prediction_length: int) -> None:
    """Raise :class:`NotEnoughHistory` for the first series shorter than context + prediction."""
    need = context_length + prediction_length
    for s in series:
        if len(s.target) < need:
            raise NotEnoughHistory(
                f"{_describe(s.series_id)} has {len(s.target)} points after regularizing; "
                f"CONTEXT_LENGTH + PREDICTION_LENGTH = {context_length} + {prediction_length} = {need} needed"
            )


# --------------------------------------------------------------------------- writing


def deepar_line(start: datetime, target: list[float | None]) -> str:
    """One DeepAR JSON line; missing values are the string ``"NaN"``."""
    values = ["NaN" if v is None else v for v in target]
    return json.dumps({"start": start.strftime(START_FORMAT), "target": values}, separators=(",", ":"))


def jsonl(series: Iterable[Series], drop_last: int = 0) -> bytes:
    """DeepAR JSON Lines for ``series``, each without its last ``drop_last`` points."""
    lines = []
    for s in series:
        target = s.target[: len(s.target) - drop_last] if drop_last else s.target
        lines.append(deepar_line(s.start, target))
    return ("\n".join(lines) + "\n").encode()


def manifest(series: Sequence[Series], config: Config, run_id: str, scores: Baseline) -> dict[str, Any]:
    """The series manifest: line ``i`` of the test file (and of the forecast) is ``series[i]``
    (``{"id", "start", "length"}``). ``"baseline"`` is ``{"overall": <the state's figures>,
    "series": [{"id", "season", <figures>}, ...]}``, the second list in the same order
    (:class:`baseline.Baseline`)."""
    return {
        "run_id": run_id,
        "freq": config.freq,
        "prediction_length": config.prediction_length,
        "series_column": config.series_column,
        "series": [
            {"id": s.series_id, "start": s.start.strftime(START_FORMAT), "length": len(s.target)}
            for s in series
        ],
        "baseline": {
            "overall": scores.overall,
            "series": [
                {"id": s.series_id, **figures} for s, figures in zip(series, scores.series, strict=True)
            ],
        },
    }


def generate_dataset(s3: S3Client, config: Config, job_run_id: str, execution_name: str) -> dict[str, Any]:
    """Read the run's CSV, write train, test and manifest, and return the run's paths, names and
    overall baseline figures (``"baseline"``, :class:`baseline.Baseline` ``overall``)."""
    paths = run_paths(config, job_run_id, execution_name)
    names = job_names(config.name_prefix, execution_name)
    series = build_series(read_input(s3, config, paths), config.step)
    check_history(series, config.context_length, config.prediction_length)
    scores = score_baseline(
        [s.target for s in series], config.prediction_length, config.step, config.test_quantiles
    )
    writes = [
        (paths.train_key, jsonl(series, drop_last=config.prediction_length), "application/jsonlines"),
        (paths.test_key, jsonl(series), "application/jsonlines"),
        (
            paths.series_key,
            json.dumps(manifest(series, config, execution_name, scores), indent=1, allow_nan=False).encode(),
            "application/json",
        ),
    ]
    for key, body, content_type in writes:
        s3.put_object(Bucket=paths.bucket, Key=key, Body=body, ContentType=content_type)
    points = max(len(s.target) for s in series)
    LOG.info("wrote %d series (longest %d points) to %s", len(series), points, paths.uri(paths.run_prefix))
    return {
        "run_id": execution_name,
        "run_prefix": paths.run_prefix,
        **paths.uris(),
        **names,
        "series_count": len(series),
        "points": points,
        "baseline": scores.overall,
    }
