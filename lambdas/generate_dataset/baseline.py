"""The seasonal-naive baseline of each series' test window, scored under DeepAR's definitions.

The test window of a series is its last ``PREDICTION_LENGTH`` points, the points DeepAR's test
evaluation scores; the history is every point before it (the train series). Each window is
forecast with :func:`forecast_metrics.seasonal_naive` from its history, with the season
``forecast_metrics.season_length(step, len(history))`` (168 for hourly data with at least two
weeks of history, else 24 with at least two days, else 1; see that module). A missing history
value is replaced by the same phase one season earlier, else by the last present value. The
point forecast stands for every quantile, and the figures are DeepAR's (RMSE, wQuantileLoss at
``TEST_QUANTILES``, mean_wQuantileLoss) plus MAE and MASE, over the window's present actuals.

A series whose history has no present value at all has no baseline: its figures are ``None``
with ``points`` 0, and it adds nothing to the overall figures. Overall figures come from one
:class:`forecast_metrics.Accuracy` over every scored series; overall MASE is the mean of the
series' defined MASE values. Every figure is a finite float or ``None`` (JSON ``null``).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from forecast_metrics import DEFAULT_QUANTILES, Accuracy, Value, mase, season_length, seasonal_naive

from pipeline_rules import RuleError

LOG = logging.getLogger(__name__)

METHOD = "seasonal_naive"
_EXAMPLE = '["0.1", "0.5", "0.9"]'


def parse_quantiles(raw: str) -> tuple[str, ...]:
    """``TEST_QUANTILES``: a non-empty JSON list of distinct levels in (0, 1), as numbers or numeric
    strings, in the order given. Each becomes DeepAR's string key, the shortest decimal that reads
    back as the level (``0.1``, ``"0.10"`` -> ``"0.1"``). Raises ``RuleError`` saying what is wrong."""
    try:
        items = json.loads(raw)
    except ValueError:
        raise RuleError(f"is not JSON; expected a list of levels in (0, 1), e.g. {_EXAMPLE}") from None
    if not isinstance(items, list) or not items:
        raise RuleError(f"must be a non-empty JSON list of levels in (0, 1), e.g. {_EXAMPLE}")
    keys: list[str] = []
    for i, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise RuleError(f"item {i} ({item!r}) is not a number or a numeric string")
        try:
            level = float(item)
        except ValueError:
            raise RuleError(f"item {i} ({item!r}) is not a number") from None
        if not 0.0 < level < 1.0:
            raise RuleError(f"item {i} ({item!r}) is not a level in (0, 1)")
        key = repr(level)
        if key in keys:
            raise RuleError(f"item {i} ({item!r}) repeats the level {key}")
        keys.append(key)
    return tuple(keys)


def _finite(value: object) -> float | None:
    """``value`` as a float if it is a finite number, else ``None`` (overflowed sums included)."""
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _figures(accuracy: Accuracy) -> dict[str, Any]:
    metrics = accuracy.metrics()
    losses: dict[str, object] = metrics["wQuantileLoss"]  # type: ignore[assignment]
    return {
        "RMSE": _finite(metrics["RMSE"]),
        "MAE": _finite(metrics["MAE"]),
        "wQuantileLoss": {q: _finite(loss) for q, loss in losses.items()},
        "mean_wQuantileLoss": _finite(metrics["mean_wQuantileLoss"]),
    }


@dataclass(frozen=True)
class Baseline:
    """The baseline of one run: ``series[i]`` for the ``i``-th series, and the ``overall`` figures.

    ``series[i]``: ``{"season", "RMSE", "MAE", "wQuantileLoss": {q: loss}, "mean_wQuantileLoss",
    "MASE", "points"}``. ``overall``: ``{"method", "quantiles", "season" (``None`` when the series'
    seasons differ), "RMSE", "MAE", "wQuantileLoss", "mean_wQuantileLoss", "MASE", "points"}``.
    """

    series: tuple[dict[str, Any], ...]
    overall: dict[str, Any]


class BaselineScorer:
    """Scores one target at a time (:meth:`add`), so a caller need not hold every series at once;
    :meth:`result` gives the :class:`Baseline` of the targets added so far, in order.

    A target is any sequence of floats (``None`` or NaN: missing), e.g. an ``array('d')``; it must
    be longer than ``prediction_length``. ``quantiles`` default to ``DEFAULT_QUANTILES``.
    """

    def __init__(
        self, prediction_length: int, step: timedelta, quantiles: Sequence[str] = DEFAULT_QUANTILES
    ) -> None:
        if prediction_length < 1:
            raise ValueError(f"prediction_length must be at least 1, got {prediction_length}")
        self.prediction_length, self.step = prediction_length, step
        self._total = Accuracy(quantiles=tuple(quantiles))
        self._series: list[dict[str, Any]] = []
        self._mases: list[float] = []

    def add(self, target: Sequence[Value]) -> dict[str, Any]:
        """Score the next target's last ``prediction_length`` points; returns its figures."""
        i, horizon = len(self._series), self.prediction_length
        if len(target) <= horizon:
            raise ValueError(f"target {i} has {len(target)} points, not more than {horizon}")
        history, window = target[:-horizon], target[-horizon:]
        season = season_length(self.step, len(history))
        forecast = seasonal_naive(history, horizon, season)
        accuracy = Accuracy(quantiles=self._total.quantiles)
        score: float | None = None
        if any(value is None for value in forecast):  # only an all-missing history gives None
            LOG.warning("series %d: no present value in its %d history points; no baseline", i, len(history))
        else:
            accuracy.add(window, forecast)
            self._total.add(window, forecast)
            score = _finite(mase(window, forecast, history, season))
            if score is not None:
                self._mases.append(score)
        figures = {"season": season, **_figures(accuracy), "MASE": score, "points": accuracy.points}
        self._series.append(figures)
        return figures

    def result(self) -> Baseline:
        """The per-series figures so far and the overall ones (see :class:`Baseline`)."""
        total, mases = self._total, self._mases
        seasons = {entry["season"] for entry in self._series}
        overall = {
            "method": METHOD,
            "quantiles": list(total.quantiles),
            "season": seasons.pop() if len(seasons) == 1 else None,
            **_figures(total),
            "MASE": _finite(sum(mases) / len(mases)) if mases else None,
            "points": total.points,
        }
        return Baseline(tuple(self._series), overall)


def score_baseline(
    targets: Iterable[Sequence[Value]],
    prediction_length: int,
    step: timedelta,
    quantiles: Sequence[str] = DEFAULT_QUANTILES,
) -> Baseline:
    """The seasonal-naive baseline of every target's last ``prediction_length`` points (module
    docstring) at ``quantiles`` (default ``DEFAULT_QUANTILES``); each target must be longer than
    ``prediction_length``. Targets are scored one at a time (:class:`BaselineScorer`)."""
    scorer = BaselineScorer(prediction_length, step, quantiles)
    for target in targets:
        scorer.add(target)
    return scorer.result()
