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
  ``csv.reader``), into compact per-series arrays (:class:`csv_input.SeriesRows`: epoch seconds, value, part
  index and line, 24 bytes a row, about 25 with the arrays' growth), never one object per row. Each
  series is then sorted and regularized on its own (its rows let go as it is done; a regular target
  is 8 bytes a point), the baseline is scored one series at a time, and train and test are streamed
  to S3 one series at a time (:mod:`streams`); the peak growth per CSV byte is measured by
  ``benchmarks/generate_dataset.py`` (benchmarks/README.md). Before reading anything, when
  ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE`` is set (the Lambda runtime sets it), the input's size (the
  listed sizes; a gzip part's from its ISIZE trailer, :func:`csv_input.input_bytes`) is held against it:
  :func:`csv_input.memory_needed`, 96 MB + up to 64 MB for the uploads + 1.5 x the CSV, must fit, else
  :class:`InputTooLarge` names the size, the memory and the setting to raise,
  ``forecast.generateDataset.memoryMb``. The check counts bytes, so a table of very short rows
  (under about 18 bytes) or of series with many gaps (8 bytes a missing slot) can need more.

Every S3 path and SageMaker name of a run is derived here, once, from the Step Functions
execution name, and passed along in the state; nothing depends on "today".

The modules: :mod:`dataset_config` (settings, errors), :mod:`run_paths` (names and paths),
:mod:`csv_input` (reading and the memory check) and this one (regularizing and writing).
"""

from __future__ import annotations

import json
import logging
import math
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from baseline import Baseline, BaselineScorer
from csv_input import MAX_POINTS, SECOND, Input, SeriesRows, from_epoch, read_input
from dataset_config import (
    Config,
    DuplicateTimestamps,
    InvalidInputData,
    NoInputData,
    NotEnoughHistory,
    S3Client,
)
from run_paths import job_names, run_paths
from streams import upload_chunks

from pipeline_rules import (
    DEEPAR_START_FORMAT,
)

LOG = logging.getLogger(__name__)


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
    step_s = step // SECOND
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
