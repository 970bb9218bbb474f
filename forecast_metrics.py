"""Forecast accuracy under SageMaker DeepAR's definitions, and the seasonal-naive baseline.

One definition for every user: generate-dataset makes and scores the baseline with it,
write-forecast scores both candidates of each series with it to choose between them, and the
local DeepAR twin (``localrun.deepar_local``) scores its model on the test channel with it, so
every comparison is like with like. Plain Python (no numpy): both functions ship this file as it
is (``config.paths.FUNCTION_MODULES``).

Definitions (SageMaker Developer Guide, "DeepAR Hyperparameters"/"Tune a DeepAR Model"), over
every point ``(i, t)`` of every series' test window whose actual value is present:

* ``RMSE = sqrt(sum (y - yhat)^2 / n)``, ``yhat`` the point forecast (DeepAR: the mean);
* ``wQuantileLoss[tau] = 2 * sum rho_tau(y - q_tau) / sum |y|`` with the pinball loss
  ``rho_tau(e) = tau * e`` for ``e >= 0`` and ``(tau - 1) * e`` otherwise;
* ``mean_wQuantileLoss``: the mean of ``wQuantileLoss`` over the quantiles (``test_quantiles``);
* ``MASE`` (not a DeepAR metric; reported for the baseline): the window's mean absolute error
  divided by the mean absolute seasonal difference ``|y_t - y_(t-m)|`` of the series' history.
  Overall MASE is the mean of the series' MASE values;
* ``coverage``: the share of present actuals inside the band from the lowest to the highest
  quantile forecast (only when quantile forecasts are given);
* the **selection loss** of one window (:func:`selection_loss`, on one of
  :data:`SELECTION_METRICS`): ``mean_wQuantileLoss`` before its division by ``sum |y|``, or
  ``MAE`` or ``RMSE``; two candidates of one window compare the same either way.

A metric with nothing to average over (no present actual; ``sum |y| = 0``; a history without
seasonal differences, or with all of them 0) is ``None``, never NaN or infinity.

**Season rule** (:func:`season_length`): for a step shorter than a day, a week of steps when the
history holds at least two weeks, else a day of steps when it holds at least two days, else 1;
for a daily step, a week (7) under the same two-season condition, else 1; for a weekly or longer
step, 1 (naive: the last value). A candidate counts only when the step divides it evenly.

**Probabilistic seasonal naive** (:func:`probabilistic_seasonal_naive`): the median (``0.5``)
is the seasonal-naive point forecast; every other quantile ``tau`` adds to it the empirical
``tau``-quantile of the history's seasonal errors ``y[t] - y[t - m]`` (linear interpolation
between order statistics, Hyndman and Fan's type 7, numpy's default), but never crossing the
median: a quantile below 0.5 is at most the point forecast, one above at least (a trending
history has errors of one sign only). With no seasonal error in the history, every quantile is
the point forecast. **Season candidates**
(:func:`season_candidates`): a day and a week of steps for sub-daily data, a week for daily
data, each when the history holds two of it; else 1.

**Seasonal naive** (:func:`seasonal_naive`): step ``h`` (1-based) of the window repeats the value
one whole number of seasons back from it, ``y[T - 1 + h - m * ceil(h / m)]`` (``T``
history points, indices from 0); a missing value there
is replaced by the same phase one season earlier, and so on; with no value of that phase at all,
by the history's last present value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from pipeline_rules import RuleError

Value = float | None

#: The quantiles the pipeline asks DeepAR for and scores (``test_quantiles``, the inference
#: config's), as DeepAR's keys, and the forecast table's p10, p50 and p90: each series' candidates
#: are scored at them.
FORECAST_QUANTILES = ("0.1", "0.5", "0.9")
#: The metrics a series' candidates may be compared on (``forecast.selection.metric``); the first
#: is the default. Each is computed over the written quantiles' forecasts (:func:`selection_loss`).
SELECTION_METRICS = ("mean_wQuantileLoss", "MAE", "RMSE")

#: The CloudWatch metrics write-forecast publishes for each written run (embedded metric format),
#: under one namespace with the dimension ``Environment``; the stack's alarm reads SERIES_ON_MODEL.
METRICS_NAMESPACE = "MLPipelines/Forecast"
METRICS_DIMENSION = "Environment"
SERIES_ON_MODEL, SERIES_ON_BASELINE = "SeriesOnModel", "SeriesOnBaseline"
MODEL_BACKTEST_LOSS, BASELINE_BACKTEST_LOSS = "ModelBacktestLoss", "BaselineBacktestLoss"
_WEEK, _DAY = timedelta(days=7), timedelta(days=1)


def finite(value: object) -> float | None:
    """``value`` as a float if it is a finite number (not a bool), else ``None``: figures go into
    JSON, where NaN and infinity (overflowed sums included) have no place."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _present(value: Value) -> bool:
    return value is not None and not math.isnan(value)


def pinball(error: float, tau: float) -> float:
    """The quantile (pinball) loss of ``error = actual - forecast`` at level ``tau``."""
    return tau * error if error >= 0 else (tau - 1.0) * error


def season_length(step: timedelta, history: int) -> int:
    """The seasonal-naive period in steps for ``history`` points of step ``step`` (module docstring)."""
    candidates = (_WEEK, _DAY) if step < _DAY else (_WEEK,) if step == _DAY else ()
    for period in candidates:
        if period % step:
            continue
        season = period // step
        if season > 1 and history >= 2 * season:
            return season
    return 1


def season_candidates(step: timedelta, history: int) -> tuple[int, ...]:
    """The seasons a series of ``history`` points of ``step`` may take (module docstring), longest first."""
    periods = (_WEEK, _DAY) if step < _DAY else (_WEEK,) if step == _DAY else ()
    found = tuple(
        period // step for period in periods if not period % step and history >= 2 * (period // step) > 2
    )
    return found or (1,)


def seasonal_errors(history: Sequence[Value], season: int) -> list[float]:
    """``y[t] - y[t - season]`` over the history's present pairs."""
    return [
        history[t] - history[t - season]  # type: ignore[operator]
        for t in range(season, len(history))
        if _present(history[t]) and _present(history[t - season])
    ]


def empirical_quantile(ordered: Sequence[float], level: float) -> float:
    """The ``level`` quantile of the sorted, non-empty ``ordered`` (type 7: linear interpolation)."""
    if not ordered:
        raise ValueError("no values to take a quantile of")
    position = (len(ordered) - 1) * level
    low = math.floor(position)
    if position == low:
        return ordered[low]
    return ordered[low] + (ordered[low + 1] - ordered[low]) * (position - low)


def probabilistic_seasonal_naive(
    history: Sequence[Value], horizon: int, season: int, quantiles: Sequence[str] = FORECAST_QUANTILES
) -> tuple[list[Value], dict[str, list[Value]]]:
    """``(point, {q: forecast})`` for the ``horizon`` steps after ``history`` (module docstring)."""
    point = seasonal_naive(history, horizon, season)
    errors = sorted(seasonal_errors(history, season))
    bands: dict[str, list[Value]] = {}
    for q in quantiles:
        level = float(q)
        shift = empirical_quantile(errors, level) if errors and level != 0.5 else 0.0
        shift = 0.0 if math.isnan(shift) else shift  # overflowed errors (inf - inf): no band
        # a quantile never crosses the median: a trend makes every error of one sign
        shift = min(shift, 0.0) if level < 0.5 else max(shift, 0.0)
        bands[q] = [None if p is None else p + shift for p in point]
    return point, bands


def seasonal_error_mean(history: Sequence[Value], season: int) -> float:
    """The mean seasonal error of the history (0.0 with none): added to the point forecast it gives
    the mean of the probabilistic baseline's distribution, written as the ``mean`` column."""
    errors = seasonal_errors(history, season)
    mean = sum(errors) / len(errors) if errors else 0.0
    return mean if math.isfinite(mean) else 0.0


def seasonal_naive(history: Sequence[Value], horizon: int, season: int) -> list[Value]:
    """The seasonal-naive forecast of the ``horizon`` steps after ``history`` (module docstring).

    Only an all-missing history gives ``None`` values.
    """
    if season < 1 or horizon < 0:
        raise ValueError(f"season must be >= 1 and horizon >= 0, got {season} and {horizon}")
    last = next((v for v in reversed(history) if _present(v)), None)
    size = len(history)
    forecast: list[Value] = []
    for h in range(1, horizon + 1):
        index = size - 1 + h - season * math.ceil(h / season)
        while index >= 0 and not _present(history[index]):
            index -= season
        forecast.append(history[index] if index >= 0 else last)
    return forecast


def seasonal_scale(history: Sequence[Value], season: int) -> float | None:
    """MASE's denominator: the mean ``|y_t - y_(t-m)|`` over the history's present pairs."""
    diffs = [
        abs(history[t] - history[t - season])  # type: ignore[operator]
        for t in range(season, len(history))
        if _present(history[t]) and _present(history[t - season])
    ]
    if not diffs:
        return None
    scale = sum(diffs) / len(diffs)
    return scale if scale > 0 else None


@dataclass
class Accuracy:
    """Sums that RMSE and the weighted quantile losses are built from, over one or more series.

    ``quantiles`` are DeepAR's string keys (default ``FORECAST_QUANTILES``). :meth:`add` one series
    at a time; :meth:`metrics` gives the figures so far.
    """

    quantiles: Sequence[str] = FORECAST_QUANTILES
    points: int = 0
    squared_error: float = 0.0
    absolute_error: float = 0.0
    absolute_actual: float = 0.0
    quantile_loss: dict[str, float] = field(default_factory=dict)
    banded: int = 0  # points scored against a band (quantile forecasts given)
    covered: int = 0  # of those, inside the band from the lowest to the highest quantile

    def __post_init__(self) -> None:
        levels = [float(q) for q in self.quantiles]
        if not levels or not all(0.0 < level < 1.0 for level in levels):
            raise ValueError(f"quantiles must be a non-empty list of levels in (0, 1), got {self.quantiles}")
        self.quantile_loss = {q: 0.0 for q in self.quantiles}

    def add(
        self,
        actual: Sequence[Value],
        point: Sequence[Value],
        quantiles: Mapping[str, Sequence[Value]] | None = None,
    ) -> None:
        """Score one series' window: ``point`` forecasts, and ``quantiles[q]`` (default: ``point``
        stands for every quantile). Steps whose actual is missing are skipped."""
        for series in (point, *((quantiles or {}).values())):
            if len(series) != len(actual):
                raise ValueError(f"a forecast has {len(series)} steps, the window {len(actual)}")
        for t, y in enumerate(actual):
            if not _present(y):
                continue
            assert y is not None
            yhat = point[t]
            if not _present(yhat):
                raise ValueError(f"step {t}: the point forecast is missing where the actual is {y}")
            assert yhat is not None
            self.points += 1
            error = y - yhat
            self.squared_error += error * error  # ``** 2`` raises OverflowError past ~1.3e154
            self.absolute_error += abs(error)
            self.absolute_actual += abs(y)
            for q in self.quantiles:
                forecast = (quantiles or {}).get(q, point)[t]
                if not _present(forecast):
                    raise ValueError(f"step {t}: the {q} quantile forecast is missing")
                self.quantile_loss[q] += pinball(y - forecast, float(q))  # type: ignore[operator]
            if quantiles:
                levels = sorted(quantiles, key=float)
                low, high = quantiles[levels[0]][t], quantiles[levels[-1]][t]
                self.banded += 1
                self.covered += int(low <= y <= high)  # type: ignore[operator]

    def merge(self, other: Accuracy) -> None:
        """Add ``other``'s sums (the same quantiles) to these: the figures of both windows at once."""
        if tuple(other.quantiles) != tuple(self.quantiles):
            raise ValueError(f"cannot merge quantiles {other.quantiles} into {self.quantiles}")
        self.points += other.points
        self.squared_error += other.squared_error
        self.absolute_error += other.absolute_error
        self.absolute_actual += other.absolute_actual
        self.banded += other.banded
        self.covered += other.covered
        for q, loss in other.quantile_loss.items():
            self.quantile_loss[q] += loss

    def metrics(self) -> dict[str, object]:
        """``{"RMSE", "MAE", "wQuantileLoss": {q: loss}, "mean_wQuantileLoss", "coverage", "points"}``."""
        rmse = math.sqrt(self.squared_error / self.points) if self.points else None
        mae = self.absolute_error / self.points if self.points else None
        weighted: dict[str, float | None] = {
            q: (2.0 * loss / self.absolute_actual if self.absolute_actual > 0 else None)
            for q, loss in self.quantile_loss.items()
        }
        values = [v for v in weighted.values() if v is not None]
        mean = sum(values) / len(values) if values and len(values) == len(weighted) else None
        return {
            "RMSE": rmse,
            "MAE": mae,
            "wQuantileLoss": weighted,
            "mean_wQuantileLoss": mean,
            "coverage": self.covered / self.banded if self.banded else None,
            "points": self.points,
        }


def check_selection_metric(name: str) -> str:
    """``name`` if it is one of :data:`SELECTION_METRICS`, else ``RuleError`` listing them."""
    if name not in SELECTION_METRICS:
        raise RuleError(f"is not one of {', '.join(SELECTION_METRICS)}")
    return name


def selection_loss(accuracy: Accuracy, metric: str) -> float | None:
    """One window's loss under ``metric`` (:data:`SELECTION_METRICS`), for comparing two candidates
    scored on the same window; ``None`` when no actual was scored.

    ``mean_wQuantileLoss`` is taken before its division by ``sum |y|``: the mean pinball loss over
    the quantiles. Both candidates share that divisor, so the comparison (and a ratio between them)
    is the same as on ``mean_wQuantileLoss`` itself, and it stays defined when every actual is 0.
    """
    if metric not in SELECTION_METRICS:
        raise ValueError(f"metric must be one of {', '.join(SELECTION_METRICS)}, got {metric!r}")
    if not accuracy.points:
        return None
    if metric == "MAE":
        return accuracy.absolute_error / accuracy.points
    if metric == "RMSE":
        return math.sqrt(accuracy.squared_error / accuracy.points)
    return 2.0 * sum(accuracy.quantile_loss.values()) / len(accuracy.quantile_loss)


def mase(
    actual: Sequence[Value], point: Sequence[Value], history: Sequence[Value], season: int
) -> float | None:
    """The window's MAE over the history's seasonal scale (:func:`seasonal_scale`); ``None`` if undefined."""
    scale = seasonal_scale(history, season)
    errors = [
        abs(y - yhat)  # type: ignore[operator]
        for y, yhat in zip(actual, point, strict=True)
        if _present(y) and _present(yhat)
    ]
    if scale is None or not errors:
        return None
    return sum(errors) / len(errors) / scale
