"""The held-out check of an offline forecast run: the model's forecast of each series' test window.

DeepAR scores a model on the last ``prediction_length`` points of each test series. The runner
shows the same window to the user: the trained model forecasts it from the train file (each
series without those points), next to the actual values and the seasonal-naive baseline. The
figures are the ones the quality targets name: p50 MAE against seasonal naive's, and how many
present actual values the p10-p90 band covers.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from localrun.lambdas import load

_metrics = load("generate_dataset", "forecast_metrics")
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
    if not (len(tests) == len(forecasts) == len(series_ids)):
        raise ValueError(
            f"{len(series_ids)} series, {len(tests)} test lines and {len(forecasts)} forecasts do not match"
        )
    series, abs_error, naive_error, points, covered = [], 0.0, 0.0, 0, 0
    for series_id, test, forecast in zip(series_ids, tests, forecasts, strict=True):
        target = _values(test["target"])
        horizon = len(forecast["mean"])
        history, actual = target[:-horizon], target[-horizon:]
        quantiles = forecast["quantiles"]
        p10, p50, p90 = (list(map(float, quantiles[q])) for q in ("0.1", "0.5", "0.9"))
        naive = _metrics.seasonal_naive(history, horizon, _metrics.season_length(step, len(history)))
        for y, low, mid, high, base in zip(actual, p10, p50, p90, naive, strict=True):
            if y is None or base is None:
                continue
            points += 1
            abs_error += abs(y - mid)
            naive_error += abs(y - base)
            covered += low <= y <= high
        start = datetime.fromisoformat(test["start"])
        series.append(SeriesBacktest(series_id, start, history, actual, p10, p50, p90, naive))
    return Backtest(
        series,
        abs_error / points if points else None,
        naive_error / points if points else None,
        covered / points if points else None,
    )
