"""The held-out check of a forecast run: the model's and the baseline's forecasts of each series'
backtest window (its last ``prediction_length`` points), next to the actual values.

:func:`read_backtest` takes them from what the pipeline wrote: the transform's ``train.json.out``
(the model, from each series without those points) and generate-dataset's baseline file (the
probabilistic seasonal naive, with its season), as write-forecast chose between them.
:func:`run_backtest` makes the model's with the local DeepAR twin instead (the benchmarks), with
the seasonal-naive point forecast. The figures are the ones the quality targets name: p50 MAE
against seasonal naive's, and how many present actual values the model's p10-p90 band covers.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import forecast_metrics as _metrics

_INFERENCE = {"num_samples": 100, "output_types": ["quantiles", "mean"], "quantiles": ["0.1", "0.5", "0.9"]}


@dataclass(frozen=True)
class SeriesBacktest:
    """One series: its history before the window, the window's actuals and the forecasts of it."""

    series_id: str
    start: datetime
    history: list[float | None]
    actual: list[float | None]
    p10: list[float]
    p50: list[float]
    p90: list[float]
    naive: list[float | None]
    naive_p10: list[float | None] | None = None
    naive_p90: list[float | None] | None = None
    season: int | None = None

    def times(self, step: timedelta, offset: int = 0) -> list[datetime]:
        """The times of the window (``offset`` 0) or of the history (``offset=-len(history)``)."""
        first = len(self.history) + offset
        count = len(self.actual) if offset == 0 else -offset
        return [self.start + (first + i) * step for i in range(count)]


@dataclass(frozen=True)
class Backtest:
    """Every series' window and the overall figures (``None`` when undefined)."""

    series: list[SeriesBacktest]
    mae: float | None
    naive_mae: float | None
    coverage: float | None

    @property
    def mae_ratio(self) -> float | None:
        """p50 MAE over seasonal naive's (below 1: the model beats the baseline)."""
        if self.mae is None or not self.naive_mae:
            return None
        return self.mae / self.naive_mae


def _values(raw: list[Any]) -> list[float | None]:
    return [None if v == "NaN" or v is None else float(v) for v in raw]


def run_backtest(
    model_tar: Path, train_path: Path, test_path: Path, series_ids: list[str], step: timedelta
) -> Backtest:
    """Forecast each test window with the model at ``model_tar`` (see the module docstring)."""
    from localrun import deepar_local

    tests = [json.loads(line) for line in test_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    with tempfile.TemporaryDirectory(prefix="backtest-") as work:
        out = Path(work) / "backtest.out"
        deepar_local.transform(model_tar, train_path, out, _INFERENCE)
        forecasts = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    return _assemble(series_ids, tests, forecasts, None, step)


def read_backtest(
    series_ids: list[str], test_text: str, backtest_text: str, baseline_text: str, step: timedelta
) -> Backtest:
    """The run's own backtest: the whole series (``test.json``), the model's forecasts of each
    backtest window (``train.json.out``) and the baseline's (the baseline file's lines)."""

    def lines(text: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    return _assemble(series_ids, lines(test_text), lines(backtest_text), lines(baseline_text), step)


def _assemble(
    series_ids: list[str],
    tests: list[dict[str, Any]],
    forecasts: list[dict[str, Any]],
    baselines: list[dict[str, Any]] | None,
    step: timedelta,
) -> Backtest:
    if not (len(tests) == len(forecasts) == len(series_ids)) or len(baselines or tests) != len(tests):
        raise ValueError(
            f"{len(series_ids)} series, {len(tests)} test lines and {len(forecasts)} forecasts do not match"
        )
    series, abs_error, naive_error, points, covered = [], 0.0, 0.0, 0, 0
    for i, (series_id, test, forecast) in enumerate(zip(series_ids, tests, forecasts, strict=True)):
        target = _values(test["target"])
        horizon = len(forecast["mean"])
        history, actual = target[:-horizon], target[-horizon:]
        quantiles = forecast["quantiles"]
        p10, p50, p90 = (list(map(float, quantiles[q])) for q in ("0.1", "0.5", "0.9"))
        band: dict[str, list[float | None]] = {}
        season = None
        if baselines is None:
            naive = _metrics.seasonal_naive(history, horizon, _metrics.season_length(step, len(history)))
        else:
            line = baselines[i]
            season = line.get("season")
            band = line.get("backtest") or {}
            naive = list(band.get("0.5") or [None] * horizon)
        for y, low, mid, high, base in zip(actual, p10, p50, p90, naive, strict=True):
            if y is None or base is None:
                continue
            points += 1
            abs_error += abs(y - mid)
            naive_error += abs(y - base)
            covered += low <= y <= high
        start = datetime.fromisoformat(test["start"])
        series.append(
            SeriesBacktest(
                series_id,
                start,
                history,
                actual,
                p10,
                p50,
                p90,
                naive,
                band.get("0.1"),
                band.get("0.9"),
                season,
            )
        )
    return Backtest(
        series,
        abs_error / points if points else None,
        naive_error / points if points else None,
        covered / points if points else None,
    )
