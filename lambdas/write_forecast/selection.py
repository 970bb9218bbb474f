"""Per-series selection: each series is written from the model or from the seasonal-naive baseline,
whichever forecast its backtest window better (no I/O).

Both candidates forecast the same backtest window, the series' last ``PREDICTION_LENGTH`` points:
the model from the train lines (the transform's ``train.json.out``), the baseline from the same
history (generate-dataset's baseline file). Each is scored at the written quantiles
(:data:`forecast_metrics.FORECAST_QUANTILES`) on the window's present actuals, under DeepAR's
definitions (:class:`forecast_metrics.Accuracy`), and compared on the selection metric
(``SELECTION_METRIC``, default ``mean_wQuantileLoss``; :func:`forecast_metrics.selection_loss`).

**The rule**, per series (:func:`choose`):

* a series too short for the model (generate-dataset left it out of the model's files): the
  baseline (``too-short``), or nothing when its history has no value at all (``no-forecast``);
* selection disabled (``QUALITY_GATE=disabled``): the model;
* the baseline has no forecast (the series' history had no present value, or a value overflowed):
  the model (``no-baseline``);
* the window has no present actual, so neither can be scored: the baseline (``unscored``);
* else the model when its loss is at most ``MAX_LOSS_RATIO`` times the baseline's (a tie at
  ratio 1 goes to the model), otherwise the baseline.

So on the primary metric, the forecast written for each scored series is, by construction, no
worse on its backtest window than ``MAX_LOSS_RATIO`` x the baseline's (at the default 1, no worse).
The run's figures (:class:`Selection`) are one :class:`Accuracy` per candidate over every scored
series, and one over what was written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from forecast_metrics import FORECAST_QUANTILES, SELECTION_METRICS, Accuracy, Value, finite, selection_loss

MODEL, BASELINE = "model", "seasonal-naive"
SOURCES = (MODEL, BASELINE)
#: Why a series took its source: the comparison, or why there was none.
MODEL_WON, BASELINE_WON, UNSCORED, NO_BASELINE, DISABLED, TOO_SHORT, NO_FORECAST = (
    "model-won",
    "baseline-won",
    "unscored",
    "no-baseline",
    "disabled",
    "too-short",
    "no-forecast",
)


@dataclass(frozen=True)
class BaselineLine:
    """One series' line of the baseline file (module :mod:`baseline` of generate-dataset)."""

    season: int | None
    actual: list[Value]
    backtest: dict[str, list[float]] | None
    future: dict[str, list[float]] | None
    scale: float | None = None


@dataclass(frozen=True)
class Choice:
    """One series' source (``None``: no forecast at all), why, and both candidates' losses
    (``None``: not scored)."""

    source: str | None
    reason: str
    season: int | None
    model_loss: float | None
    baseline_loss: float | None


def finite_numbers(values: Any, what: str, expected: int) -> list[float]:
    """``values`` as floats: a list of ``expected`` finite numbers, else ``ValueError`` naming
    ``what`` and the first problem."""
    if not isinstance(values, list):
        raise ValueError(f"{what} is not a list")
    if len(values) != expected:
        raise ValueError(f"{what} has {len(values)} values, expected PREDICTION_LENGTH = {expected}")
    out = []
    for j, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ValueError(f"{what}[{j}] = {v!r} is not a finite number")
        out.append(float(v))
    return out


def _band(doc: Any, what: str, length: int, keys: Sequence[str]) -> dict[str, list[float]] | None:
    """The forecasts of ``keys``; ``None`` for a JSON ``null`` or a band with a null value (the
    baseline writes ``null`` where a value overflowed): that series has no baseline."""
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise ValueError(f"{what} is not an object")
    for key in keys:
        values = doc.get(key)
        if isinstance(values, list) and len(values) == length and any(v is None for v in values):
            return None
    return {key: finite_numbers(doc.get(key), f"{what}[{key!r}]", length) for key in keys}


def parse_baseline_line(line: str, prediction_length: int) -> BaselineLine:
    """One line of the baseline file; ``ValueError`` describing the first problem."""
    doc = json.loads(line)
    if not isinstance(doc, dict):
        raise ValueError("line is not a JSON object")
    season = doc.get("season")
    if season is not None and (isinstance(season, bool) or not isinstance(season, int) or season < 1):
        raise ValueError(f"'season' {season!r} is not a positive integer")
    actual = doc.get("actual")
    if not isinstance(actual, list) or len(actual) != prediction_length:
        raise ValueError(f"'actual' is not a list of PREDICTION_LENGTH = {prediction_length} values")
    if not all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in actual):
        raise ValueError("'actual' holds a value that is neither a number nor null")
    scale = doc.get("scale")
    return BaselineLine(
        season=season,
        actual=[None if v is None else float(v) for v in actual],
        backtest=_band(doc.get("backtest"), "'backtest'", prediction_length, FORECAST_QUANTILES),
        future=_band(doc.get("future"), "'future'", prediction_length, (*FORECAST_QUANTILES, "mean")),
        scale=float(scale) if isinstance(scale, int | float) and not isinstance(scale, bool) else None,
    )


def _scored(actual: Sequence[Value], quantiles: Mapping[str, Sequence[float]]) -> Accuracy:
    accuracy = Accuracy(quantiles=FORECAST_QUANTILES)
    accuracy.add(actual, quantiles["0.5"], {q: quantiles[q] for q in FORECAST_QUANTILES})
    return accuracy


def choose(
    model: Mapping[str, Sequence[float]] | None,
    baseline: BaselineLine,
    *,
    metric: str = SELECTION_METRICS[0],
    max_loss_ratio: float = 1.0,
    enabled: bool = True,
) -> tuple[Choice, Accuracy | None, Accuracy | None]:
    """One series' :class:`Choice` (module docstring), with the model's and the baseline's scores of
    its backtest window (``None`` when not scored). ``model`` maps each written quantile to the
    model's backtest forecast; ``None``: the model has none (a series too short for it)."""
    if model is None:
        if baseline.future is None:
            return Choice(None, NO_FORECAST, None, None, None), None, None
        return Choice(BASELINE, TOO_SHORT, baseline.season, None, None), None, None
    if baseline.backtest is None or baseline.future is None:
        return Choice(MODEL, NO_BASELINE if enabled else DISABLED, None, None, None), None, None
    if not any(v is not None for v in baseline.actual):
        source = BASELINE if enabled else MODEL
        return Choice(source, UNSCORED if enabled else DISABLED, baseline.season, None, None), None, None
    model_score, baseline_score = _scored(baseline.actual, model), _scored(baseline.actual, baseline.backtest)
    model_loss, baseline_loss = selection_loss(model_score, metric), selection_loss(baseline_score, metric)
    assert model_loss is not None and baseline_loss is not None  # a present actual was scored
    if not enabled:
        choice = Choice(MODEL, DISABLED, baseline.season, model_loss, baseline_loss)
    elif model_loss <= max_loss_ratio * baseline_loss:
        choice = Choice(MODEL, MODEL_WON, baseline.season, model_loss, baseline_loss)
    else:
        choice = Choice(BASELINE, BASELINE_WON, baseline.season, model_loss, baseline_loss)
    return choice, model_score, baseline_score


@dataclass
class Selection:
    """The choices of one run, in series order, and the backtest figures of the model, the baseline
    and what was written, each over every scored series (:meth:`add`, then :meth:`figures`)."""

    metric: str = SELECTION_METRICS[0]
    choices: list[Choice] = field(default_factory=list)
    model: Accuracy = field(default_factory=lambda: Accuracy(quantiles=FORECAST_QUANTILES))
    baseline: Accuracy = field(default_factory=lambda: Accuracy(quantiles=FORECAST_QUANTILES))
    written: Accuracy = field(default_factory=lambda: Accuracy(quantiles=FORECAST_QUANTILES))
    mases: dict[str, list[float]] = field(default_factory=lambda: {MODEL: [], BASELINE: [], "written": []})

    def add(
        self, choice: Choice, model: Accuracy | None, baseline: Accuracy | None, scale: float | None
    ) -> None:
        """Record one series' choice and scores (``scale``: its MASE denominator, if known)."""
        self.choices.append(choice)
        if model is None or baseline is None:
            return
        self.model.merge(model)
        self.baseline.merge(baseline)
        self.written.merge(model if choice.source == MODEL else baseline)
        if scale:
            for name, score in ((MODEL, model), (BASELINE, baseline)):
                self.mases[name].append(score.absolute_error / score.points / scale)
            self.mases["written"].append(self.mases[MODEL if choice.source == MODEL else BASELINE][-1])

    def count(self, source: str) -> int:
        """How many series took ``source``."""
        return sum(1 for choice in self.choices if choice.source == source)

    def figures(self) -> dict[str, Any]:
        """``{"metric", "series": {source: count}, "reasons": {reason: count}, "model", "baseline",
        "written"}``; each of the last three is ``{"loss" (on the metric), "wQuantileLoss": {q:
        loss}, "mean_wQuantileLoss", "MAE", "MASE" (the mean of the series'), "coverage",
        "points"}``, every figure a finite float or ``None``."""
        reasons: dict[str, int] = {}
        for choice in self.choices:
            reasons[choice.reason] = reasons.get(choice.reason, 0) + 1

        def of(name: str, accuracy: Accuracy) -> dict[str, Any]:
            metrics = accuracy.metrics()
            losses: dict[str, object] = metrics["wQuantileLoss"]  # type: ignore[assignment]
            mases = self.mases[name]
            loss = metrics.get(self.metric)
            return {
                "loss": finite(loss),
                "wQuantileLoss": {q: finite(v) for q, v in losses.items()},
                "mean_wQuantileLoss": finite(metrics["mean_wQuantileLoss"]),
                "MAE": finite(metrics["MAE"]),
                "MASE": finite(sum(mases) / len(mases)) if mases else None,
                "coverage": finite(metrics["coverage"]),
                "points": accuracy.points,
            }

        return {
            "metric": self.metric,
            "series": {source: self.count(source) for source in SOURCES},
            "reasons": reasons,
            "model": of(MODEL, self.model),
            "baseline": of(BASELINE, self.baseline),
            "written": of("written", self.written),
        }
