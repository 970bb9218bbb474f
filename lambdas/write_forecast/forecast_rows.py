"""Parse the run's forecasts and turn the selected ones into forecast rows (no I/O, no database).

The transform writes one JSON line per line of its input file, in the same order:
``{"quantiles": {"0.1": [...], "0.5": [...], "0.9": [...]}, "mean": [...]}``; the test file's
output is each series' future window, the train file's its backtest window. Line ``i`` of each,
and of generate-dataset's baseline file (:mod:`selection`), is ``series[i]`` of the series
manifest: ``{"series": [{"id", "start", "length"}, ...], "freq", "prediction_length", ...}``;
the single-series id is ``""``.

:func:`selected_rows` chooses each series' source (:func:`selection.choose`) and writes the
future window of that source: the model's, or the baseline's (its ``mean`` is the p50 plus the
history's mean seasonal error). Point ``k`` (0-based) of series ``s`` is at
``s.start + (s.length + k) * step``: the first step after the last observed slot.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from selection import MODEL, Selection, choose, finite_numbers, parse_baseline_line

from forecast_metrics import FORECAST_QUANTILES
from pipeline_rules import DEEPAR_START_FORMAT, ConfigurationError, RuleError, check_setting, freq_step

#: ``series_id`` column width; longer ids are rejected instead of truncated.
MAX_SERIES_ID_LENGTH = 255


class MalformedForecast(ValueError):
    """The transform output (or the series manifest) does not have the expected shape."""


@dataclass(frozen=True)
class SeriesInfo:
    """One series of the manifest; ``model``: whether the model's files hold a line for it."""

    series_id: str
    start: datetime
    length: int
    model: bool = True


@dataclass(frozen=True)
class Manifest:
    series: list[SeriesInfo]
    freq: str | None = None
    prediction_length: int | None = None


@dataclass(frozen=True)
class SeriesForecast:
    p10: list[float]
    p50: list[float]
    p90: list[float]
    mean: list[float]

    def quantiles(self) -> dict[str, list[float]]:
        """``{q: forecast}`` at the written quantiles."""
        return dict(zip(FORECAST_QUANTILES, (self.p10, self.p50, self.p90), strict=True))


@dataclass(frozen=True)
class ForecastRow:
    """One forecast point, ready for any :class:`ForecastRepository`. Times are naive UTC."""

    series_id: str
    forecast_time: datetime
    p10: float
    p50: float
    p90: float
    mean: float
    run_id: str
    source: str = MODEL
    season: int | None = None


def parse_manifest(text: str, source: str) -> Manifest:
    """The series manifest at ``source`` (named in errors)."""
    try:
        doc = json.loads(text)
        entries = doc["series"]
        if not isinstance(entries, list) or not entries:
            raise ValueError("'series' must be a non-empty list")
        series = []
        for i, entry in enumerate(entries):
            series_id, start, length = entry["id"], entry["start"], entry["length"]
            if series_id is None:
                series_id = ""
            if not isinstance(series_id, str) or len(series_id) > MAX_SERIES_ID_LENGTH:
                raise ValueError(f"series[{i}].id must be a string of at most {MAX_SERIES_ID_LENGTH} chars")
            if not isinstance(length, int) or isinstance(length, bool) or length < 1:
                raise ValueError(f"series[{i}].length must be a positive integer")
            model = entry.get("model", True)
            if not isinstance(model, bool):
                raise ValueError(f"series[{i}].model must be true or false")
            series.append(SeriesInfo(series_id, datetime.strptime(start, DEEPAR_START_FORMAT), length, model))
        freq = doc.get("freq")
        prediction_length = doc.get("prediction_length")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MalformedForecast(
            f"series manifest {source} is malformed: {type(exc).__name__}: {exc}"
        ) from None
    return Manifest(series, freq, prediction_length)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a finite number")


def parse_forecast_line(line: str, prediction_length: int) -> SeriesForecast:
    """One DeepAR output line; ``ValueError`` describing the first problem."""
    doc = json.loads(line, parse_constant=_reject_constant)
    if not isinstance(doc, dict):
        raise ValueError("line is not a JSON object")
    quantiles = doc.get("quantiles")
    if not isinstance(quantiles, dict):
        raise ValueError("'quantiles' object is missing")
    for key in FORECAST_QUANTILES:
        if key not in quantiles:
            raise ValueError(f"quantile {key!r} is missing (DEEPAR_INFERENCE_CONFIG must ask for it)")
    if "mean" not in doc:
        raise ValueError("'mean' is missing")
    p10, p50, p90 = (
        finite_numbers(quantiles[k], f"quantiles[{k!r}]", prediction_length) for k in FORECAST_QUANTILES
    )
    return SeriesForecast(p10, p50, p90, finite_numbers(doc["mean"], "mean", prediction_length))


def _lines(text: str) -> list[str]:
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def parse_forecasts(
    text: str, source: str, series_count: int, prediction_length: int, parse: Any = None
) -> list[Any]:
    """All lines of the transform output (or, with ``parse``, of another per-series file) at
    ``source``; exactly ``series_count`` lines expected.

    Raises :class:`MalformedForecast` naming the file and (1-based) line.
    """
    forecasts = []
    for number, line in enumerate(_lines(text), start=1):
        try:
            forecasts.append((parse or parse_forecast_line)(line, prediction_length))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            raise MalformedForecast(f"{source} line {number}: {exc}") from None
    if len(forecasts) < series_count:
        raise MalformedForecast(
            f"{source} line {len(forecasts) + 1}: missing; the output has {len(forecasts)} line(s) "
            f"but the manifest lists {series_count} series"
        )
    if len(forecasts) > series_count:
        raise MalformedForecast(
            f"{source} line {series_count + 1}: unexpected; the output has {len(forecasts)} lines "
            f"but the manifest lists {series_count} series"
        )
    return forecasts


def _step_of(freq: str) -> timedelta | None:
    try:
        return freq_step(freq)
    except RuleError:
        return None


def check_manifest(manifest: Manifest, freq: str, prediction_length: int, source: str) -> None:
    """The run must have been built with this function's ``TIME_FREQ`` and ``PREDICTION_LENGTH``."""
    step = check_setting("TIME_FREQ", freq, freq_step)
    if manifest.freq is not None and _step_of(manifest.freq) != step:
        raise ConfigurationError(f"TIME_FREQ is {freq!r} but {source} was built with {manifest.freq!r}")
    if manifest.prediction_length is not None and manifest.prediction_length != prediction_length:
        raise ConfigurationError(
            f"PREDICTION_LENGTH is {prediction_length} but {source} was built with "
            f"{manifest.prediction_length}"
        )


def build_rows(
    series: Sequence[SeriesInfo],
    forecasts: Sequence[SeriesForecast],
    step: timedelta,
    run_id: str,
) -> list[ForecastRow]:
    """Forecast rows for every series and point, in manifest order."""
    if len(series) != len(forecasts):
        raise MalformedForecast(f"{len(forecasts)} forecasts for {len(series)} series")
    rows = []
    for info, forecast in zip(series, forecasts, strict=True):
        first = info.start + info.length * step
        for k, (p10, p50, p90, mean) in enumerate(
            zip(forecast.p10, forecast.p50, forecast.p90, forecast.mean, strict=True)
        ):
            rows.append(ForecastRow(info.series_id, first + k * step, p10, p50, p90, mean, run_id))
    return rows


def forecast_rows(
    manifest_text: str,
    manifest_source: str,
    forecast_text: str,
    forecast_source: str,
    *,
    freq: str,
    prediction_length: int,
    run_id: str,
) -> list[ForecastRow]:
    """Manifest + transform output -> rows, every series from the model. Everything is validated
    before any row is returned."""
    step = check_setting("TIME_FREQ", freq, freq_step)
    manifest = parse_manifest(manifest_text, manifest_source)
    check_manifest(manifest, freq, prediction_length, manifest_source)
    forecasts = parse_forecasts(forecast_text, forecast_source, len(manifest.series), prediction_length)
    return build_rows(manifest.series, forecasts, step, run_id)


@dataclass(frozen=True)
class RunFiles:
    """The texts of a run's four per-series files, each with the URI its errors name."""

    manifest: tuple[str, str]
    future: tuple[str, str]
    backtest: tuple[str, str]
    baseline: tuple[str, str]


def selected_rows(
    files: RunFiles,
    *,
    freq: str,
    prediction_length: int,
    run_id: str,
    metric: str,
    max_loss_ratio: float,
    enabled: bool = True,
) -> tuple[list[ForecastRow], Selection]:
    """Every series' rows from its selected source (:mod:`selection`), and the run's
    :class:`selection.Selection`. The transform's outputs hold a line for each series of the
    manifest with ``"model": true``, in order; the baseline file one for every series. All four
    files are validated whole before any row is returned."""
    step = check_setting("TIME_FREQ", freq, freq_step)
    manifest = parse_manifest(*files.manifest)
    check_manifest(manifest, freq, prediction_length, files.manifest[1])
    count = sum(1 for info in manifest.series if info.model)
    future = iter(parse_forecasts(*files.future, count, prediction_length))
    backtest = iter(parse_forecasts(*files.backtest, count, prediction_length))
    baselines = parse_forecasts(*files.baseline, len(manifest.series), prediction_length, parse_baseline_line)
    selection = Selection(metric=metric)
    rows: list[ForecastRow] = []
    for info, baseline in zip(manifest.series, baselines, strict=True):
        model_future, model_backtest = (next(future), next(backtest)) if info.model else (None, None)
        choice, model_score, baseline_score = choose(
            model_backtest.quantiles() if model_backtest is not None else None,
            baseline,
            metric=metric,
            max_loss_ratio=max_loss_ratio,
            enabled=enabled,
        )
        selection.add(choice, model_score, baseline_score, baseline.scale)
        if choice.source is None:
            continue  # nothing to write: no model line, and no value to repeat
        if choice.source == MODEL:
            assert model_future is not None  # choose() takes the model only when it has a forecast
            chosen, season = model_future, None
        else:
            assert baseline.future is not None  # choose() takes the baseline only when it has one
            band = baseline.future
            chosen, season = (
                SeriesForecast(band["0.1"], band["0.5"], band["0.9"], band["mean"]),
                baseline.season,
            )
        rows.extend(
            ForecastRow(**{**vars(row), "source": choice.source, "season": season})
            for row in build_rows([info], [chosen], step, run_id)
        )
    return rows, selection
