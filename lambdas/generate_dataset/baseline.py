"""The probabilistic seasonal-naive baseline of each series, for its backtest and its future window.

The backtest window of a series is its last ``PREDICTION_LENGTH`` points, the points DeepAR's
test evaluation scores and the model's backtest forecasts; the history is every point before it
(the train series). The future window is the ``PREDICTION_LENGTH`` points after the data.

* **The forecast** (:func:`forecast_metrics.probabilistic_seasonal_naive`): the p50 is the
  seasonal-naive point forecast; every other quantile adds the empirical quantile of the
  history's seasonal errors; the ``mean`` adds their mean. For the backtest window it is made
  from the history alone, for the future window from the whole series.
* **The season**: each candidate of :func:`forecast_metrics.season_candidates` (for hourly data
  168 and 24, each when the history holds two of it) forecasts the backtest window, scored with
  the selection metric (:func:`forecast_metrics.selection_loss`, default ``mean_wQuantileLoss``)
  at the written quantiles; the series takes the candidate with the lowest loss (a tie: the
  longer season), and its line records every candidate's loss. A window without a present
  actual scores no candidate and takes the first (the longest).
* **The figures** of the chosen season on the backtest window are DeepAR's (RMSE, MAE,
  wQuantileLoss at ``TEST_QUANTILES``, mean_wQuantileLoss), with MASE and band coverage, over
  the window's present actuals; the overall figures come from one :class:`Accuracy` over every
  scored series, and overall MASE is the mean of the series' defined MASE values.

A series whose history has no present value at all has no baseline: its figures are ``None``
with ``points`` 0, its line's forecasts are ``null``, and it adds nothing to the overall
figures. A series of at most ``PREDICTION_LENGTH`` points has no backtest window: its line's
``backtest`` is ``null``, its actuals all ``null``, and its future comes from every point with the
longest season its length admits. Every figure is a finite float or ``None`` (JSON ``null``).

Each series gives one line of the baseline file (:meth:`BaselineScorer.add`), which
write-forecast reads beside the model's forecasts: ``{"season", "losses": {season: loss},
"actual": [...], "scale", "backtest": {q: [...]}, "future": {q: [...], "mean": [...]}}`` at the
written quantiles (:data:`forecast_metrics.FORECAST_QUANTILES`), a missing actual as ``null``; ``scale`` is
the history's MASE denominator (:func:`forecast_metrics.seasonal_scale`), so write-forecast can give
both candidates' MASE.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from forecast_metrics import (
    FORECAST_QUANTILES,
    SELECTION_METRICS,
    Accuracy,
    Value,
    finite,
    mase,
    probabilistic_seasonal_naive,
    season_candidates,
    seasonal_error_mean,
    seasonal_scale,
    selection_loss,
)
from pipeline_rules import RuleError

LOG = logging.getLogger(__name__)

METHOD = "seasonal_naive"
#: The source a series' written forecast records when the baseline was chosen for it.
SOURCE = "seasonal-naive"
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


def figures_of(accuracy: Accuracy) -> dict[str, Any]:
    """``{"RMSE", "MAE", "wQuantileLoss": {q: loss}, "mean_wQuantileLoss", "coverage"}`` of
    ``accuracy``, each a finite float or ``None``."""
    metrics = accuracy.metrics()
    losses: dict[str, object] = metrics["wQuantileLoss"]  # type: ignore[assignment]
    return {
        "RMSE": finite(metrics["RMSE"]),
        "MAE": finite(metrics["MAE"]),
        "wQuantileLoss": {q: finite(loss) for q, loss in losses.items()},
        "mean_wQuantileLoss": finite(metrics["mean_wQuantileLoss"]),
        "coverage": finite(metrics["coverage"]),
    }


def _values(values: Sequence[Value]) -> list[float | None]:
    """``values`` for JSON: a missing (``None`` or NaN) or non-finite value is ``None``."""
    return [finite(v) for v in values]


@dataclass(frozen=True)
class Baseline:
    """The baseline of one run: ``series[i]`` for the ``i``-th series, and the ``overall`` figures.

    ``series[i]``: ``{"season", "seasons": {season: loss}, "RMSE", "MAE", "wQuantileLoss": {q:
    loss}, "mean_wQuantileLoss", "coverage", "MASE", "points"}``. ``overall``: ``{"method",
    "quantiles", "metric", "season" (``None`` when the series' seasons differ), "RMSE", "MAE",
    "wQuantileLoss", "mean_wQuantileLoss", "coverage", "MASE", "points"}``.
    """

    series: tuple[dict[str, Any], ...]
    overall: dict[str, Any]


class BaselineScorer:
    """Scores one target at a time (:meth:`add`), so a caller need not hold every series at once;
    :meth:`result` gives the :class:`Baseline` of the targets added so far, in order.

    A target is any sequence of floats (``None`` or NaN: missing), e.g. an ``array('d')``.
    ``quantiles`` (default ``FORECAST_QUANTILES``) are the figures' (DeepAR's ``test_quantiles``);
    ``metric`` (:data:`forecast_metrics.SELECTION_METRICS`) chooses the season.
    """

    def __init__(
        self,
        prediction_length: int,
        step: timedelta,
        quantiles: Sequence[str] = FORECAST_QUANTILES,
        metric: str = SELECTION_METRICS[0],
    ) -> None:
        if prediction_length < 1:
            raise ValueError(f"prediction_length must be at least 1, got {prediction_length}")
        if metric not in SELECTION_METRICS:
            raise ValueError(f"metric must be one of {', '.join(SELECTION_METRICS)}, got {metric!r}")
        self.prediction_length, self.step, self.metric = prediction_length, step, metric
        self._total = Accuracy(quantiles=tuple(quantiles))
        self._bands = tuple(dict.fromkeys((*FORECAST_QUANTILES, *quantiles)))
        self._series: list[dict[str, Any]] = []
        self._mases: list[float] = []

    def _choose(
        self, history: Sequence[Value], window: Sequence[Value]
    ) -> tuple[int, dict[str, float | None]]:
        """The season with the lowest backtest loss, and every candidate's (``None``: unscored)."""
        losses: dict[str, float | None] = {}
        for season in season_candidates(self.step, len(history)):
            point, bands = probabilistic_seasonal_naive(history, len(window), season, FORECAST_QUANTILES)
            scored = Accuracy(quantiles=FORECAST_QUANTILES)
            scored.add(window, point, bands)
            losses[str(season)] = selection_loss(scored, self.metric)
        found = [(loss, -int(season)) for season, loss in losses.items() if loss is not None]
        season = -min(found)[1] if found else int(next(iter(losses)))
        return season, {key: finite(loss) for key, loss in losses.items()}

    def add(self, target: Sequence[Value], *, overall: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
        """Score the next target's last ``prediction_length`` points; returns its figures and its
        line of the baseline file (module docstring). ``overall`` false leaves the target out of
        the overall figures (a series the model does not see). A target of at most
        ``prediction_length`` points has no backtest window: its line forecasts the future only."""
        i, horizon = len(self._series), self.prediction_length
        short = len(target) <= horizon
        history, window = (target, []) if short else (target[:-horizon], target[-horizon:])
        line: dict[str, Any] = {"season": None, "losses": {}, "actual": _values(window) or [None] * horizon}
        accuracy = Accuracy(quantiles=self._total.quantiles)
        nothing = {"season": None, "seasons": {}, **figures_of(accuracy), "MASE": None, "points": 0}
        if not any(v is not None and v == v for v in history):  # only an all-missing history
            LOG.warning("series %d: no present value in its %d history points; no baseline", i, len(history))
            line.update(backtest=None, future=None)
            self._series.append(nothing)
            return nothing, line
        losses: dict[str, float | None] = {}
        score: float | None = None
        if short:
            season = season_candidates(self.step, len(target))[0]
            line["backtest"] = None
        else:
            season, losses = self._choose(history, window)
            point, bands = probabilistic_seasonal_naive(history, horizon, season, self._bands)
            accuracy.add(window, point, bands)
            if overall:
                self._total.add(window, point, bands)
            score = finite(mase(window, point, history, season))
            if score is not None and overall:
                self._mases.append(score)
            line.update(
                scale=finite(seasonal_scale(history, season)),
                backtest={q: _values(bands[q]) for q in FORECAST_QUANTILES},
            )
        future, future_bands = probabilistic_seasonal_naive(target, horizon, season, FORECAST_QUANTILES)
        shift = seasonal_error_mean(target, season)
        line.update(
            season=season,
            losses=losses,
            future={
                **{q: _values(future_bands[q]) for q in FORECAST_QUANTILES},
                "mean": _values([None if p is None else p + shift for p in future]),
            },
        )
        figures = {
            "season": season,
            "seasons": losses,
            **figures_of(accuracy),
            "MASE": score,
            "points": accuracy.points,
        }
        self._series.append(figures)
        return figures, line

    def result(self) -> Baseline:
        """The per-series figures so far and the overall ones (see :class:`Baseline`)."""
        total, mases = self._total, self._mases
        seasons = {entry["season"] for entry in self._series if entry["season"] is not None}
        overall = {
            "method": METHOD,
            "quantiles": list(total.quantiles),
            "metric": self.metric,
            "season": seasons.pop() if len(seasons) == 1 else None,
            **figures_of(total),
            "MASE": finite(sum(mases) / len(mases)) if mases else None,
            "points": total.points,
        }
        return Baseline(tuple(self._series), overall)


def score_baseline(
    targets: Iterable[Sequence[Value]],
    prediction_length: int,
    step: timedelta,
    quantiles: Sequence[str] = FORECAST_QUANTILES,
    metric: str = SELECTION_METRICS[0],
) -> Baseline:
    """The baseline of every target's last ``prediction_length`` points (module docstring) at
    ``quantiles`` (default ``FORECAST_QUANTILES``). Targets are scored one at a time
    (:class:`BaselineScorer`)."""
    scorer = BaselineScorer(prediction_length, step, quantiles, metric)
    for target in targets:
        scorer.add(target)
    return scorer.result()
