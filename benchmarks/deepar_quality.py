"""The local DeepAR twin's forecast quality on the last week of real and demo hourly series.

For each dataset, the series without its last ``prediction_length`` (168) hours is the train
channel and the whole series the test channel, as generate-dataset writes them. Each setting
trains the twin (``demo=True``, the pipeline's hyperparameters) and forecasts the held-out week
(``localrun.backtest``), and the table gives, against seasonal naive (the same hours of the week
before): the training time, the p50 MAE ratio, how many held-out hours the p10-p90 band covers,
the p50's mean error (bias) and the step from the last actual to the first p50 (jump), and the
test ``mean_wQuantileLoss`` of the model (``deepar_local.evaluate``) and of the baseline.

Datasets: ``demo`` (``localrun.demo_data.hourly_series``, ten weeks) and ``seattle-temps``
(vega_datasets' hourly Seattle temperatures of 2010, NOAA data shipped with the package,
8,759 hours). Settings: ``before`` (gluonts' defaults for the lags and the windows, 20 batches an
epoch: the twin before the fixes), ``shipped`` (the twin as it is), ``bad-fit`` (learning rate
1e-6 and one epoch: the model the quality gate must stop). Goals, checked by the exit status:
``shipped`` beats naive (MAE ratio <= 1), covers 70-90% and trains in <= 90 s; ``bad-fit`` loses
more than 1.5x naive's mean_wQuantileLoss. ``--sweep`` adds training settings to the table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import forecast_metrics as _metrics  # noqa: E402
from config import DeepArConfig  # noqa: E402
from localrun import deepar_local  # noqa: E402
from localrun.backtest import run_backtest  # noqa: E402
from localrun.deepar_local import hyperparameters as hp_module  # noqa: E402
from localrun.deepar_local import training as training_module  # noqa: E402
from localrun.demo_data import hourly_series, packaged_hourly_series  # noqa: E402

STEP = timedelta(hours=1)
MAX_TRAIN_SECONDS = 90.0
COVERAGE_GOAL = (0.70, 0.90)
BAD_FIT_LOSS_RATIO = 1.5

Series = tuple[datetime, list[float | None]]


def demo() -> Series:
    points = hourly_series()
    return points[0][0], [value for _, value in points]


def seattle_temps() -> Series:
    points = packaged_hourly_series("seattle-temps")
    return points[0][0], [value for _, value in points]


DATASETS: Mapping[str, Callable[[], Series]] = {"demo": demo, "seattle-temps": seattle_temps}


def _gluonts_lags(freq: str) -> list[int]:
    from gluonts.time_feature import get_lags_for_frequency

    return list(get_lags_for_frequency(freq_str=freq))


@dataclass(frozen=True)
class Setting:
    """A training setting: hyperparameter overrides and patches of the twin's module constants."""

    name: str
    hyperparameters: Mapping[str, str] = field(default_factory=dict)
    batches_per_epoch: int | None = None
    before: bool = False  # gluonts' default lags and windows (min_past 0)

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            if self.batches_per_epoch is not None:
                stack.enter_context(
                    mock.patch.object(hp_module, "DEMO_BATCHES_PER_EPOCH", self.batches_per_epoch)
                )
            if self.before:
                stack.enter_context(mock.patch.object(training_module, "lags_for", _gluonts_lags))
                stack.enter_context(mock.patch.object(training_module, "training_min_past", lambda *_: 0))
            yield


BEFORE = Setting("before", batches_per_epoch=20, before=True)
SHIPPED = Setting("shipped")
BAD_FIT = Setting("bad-fit", {"learning_rate": "1e-06", "epochs": "1"})
SWEEP = (
    Setting("20 batches/epoch", batches_per_epoch=20),
    Setting("70 batches/epoch", batches_per_epoch=70),
    Setting("learning rate 3e-3", {"learning_rate": "0.003"}),
    Setting("context 168", {"context_length": "168"}),
)


@dataclass(frozen=True)
class Row:
    dataset: str
    setting: str
    seconds: float
    mae_ratio: float
    coverage: float
    bias: float
    jump: float
    model_loss: float
    naive_loss: float


def _write(path: Path, start: datetime, values: list[float | None]) -> Path:
    target = ["NaN" if v is None else v for v in values]
    path.write_text(json.dumps({"start": start.strftime("%Y-%m-%d %H:%M:%S"), "target": target}) + "\n")
    return path


def _naive_loss(values: list[float | None], horizon: int) -> float:
    history, actual = values[:-horizon], values[-horizon:]
    naive = _metrics.seasonal_naive(history, horizon, _metrics.season_length(STEP, len(history)))
    accuracy = _metrics.Accuracy()
    accuracy.add(actual, naive)
    loss = accuracy.metrics()["mean_wQuantileLoss"]
    assert isinstance(loss, float), f"no baseline loss: {loss!r}"
    return loss


def measure(dataset: str, series: Series, setting: Setting, seed: int = 0) -> Row:
    """Train with ``setting`` and ``seed`` (default 0) on ``series`` without its last week and
    score that week."""
    start, values = series
    config = DeepArConfig()
    horizon = config.prediction_length
    hyperparameters = {**config.hyperparameters(), **setting.hyperparameters}
    with tempfile.TemporaryDirectory(prefix="deepar-quality-") as work_name:
        work = Path(work_name)
        train = _write(work / "train.json", start, values[:-horizon])
        test = _write(work / "test.json", start, values)
        with setting.applied():
            began = time.perf_counter()
            tar = deepar_local.train(hyperparameters, train, work / "model", demo=True, seed=seed)
            seconds = time.perf_counter() - began
        backtest = run_backtest(tar, train, test, [dataset], STEP)
        model_loss = deepar_local.evaluate(tar, test)["test:mean_wQuantileLoss"]
    one = backtest.series[0]
    pairs = [(y, p) for y, p in zip(one.actual, one.p50, strict=True) if y is not None]
    last = next(v for v in reversed(one.history) if v is not None)
    return Row(
        dataset,
        setting.name,
        seconds,
        float(backtest.mae_ratio or 0.0),
        float(backtest.coverage or 0.0),
        sum(p - y for y, p in pairs) / len(pairs),
        one.p50[0] - last,
        model_loss,
        _naive_loss(values, horizon),
    )


def goals(rows: list[Row]) -> list[str]:
    """The goals each ``shipped`` and ``bad-fit`` row misses (module docstring)."""
    missed = []
    for row in rows:
        where = f"{row.dataset}, {row.setting}"
        if row.setting == SHIPPED.name:
            if row.mae_ratio > 1.0:
                missed.append(f"{where}: p50 MAE {row.mae_ratio:.2f}x seasonal naive's (goal <= 1)")
            low, high = COVERAGE_GOAL
            if not low <= row.coverage <= high:
                missed.append(f"{where}: the p10-p90 band covers {row.coverage:.0%} (goal 70-90%)")
            if row.seconds > MAX_TRAIN_SECONDS:
                missed.append(f"{where}: training took {row.seconds:.0f} s (goal <= 90 s)")
        if row.setting == BAD_FIT.name and row.model_loss <= BAD_FIT_LOSS_RATIO * row.naive_loss:
            missed.append(
                f"{where}: mean_wQuantileLoss {row.model_loss:.3f} is within 1.5x naive's "
                f"{row.naive_loss:.3f}: the gate's test case would pass"
            )
    return missed


def table(rows: list[Row]) -> str:
    lines = [
        "| dataset | setting | train s | p50 MAE / naive | p10-p90 coverage | bias | jump "
        "| wQL model (naive) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r.dataset} | {r.setting} | {r.seconds:.1f} | {r.mae_ratio:.2f} | {r.coverage:.0%} "
            f"| {r.bias:+.2f} | {r.jump:+.2f} | {r.model_loss:.3f} ({r.naive_loss:.3f}) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=sorted(DATASETS), default=list(DATASETS))
    parser.add_argument("--sweep", action="store_true", help="also train the SWEEP settings")
    args = parser.parse_args(argv)
    settings: list[Setting] = [BEFORE, SHIPPED, BAD_FIT, *(SWEEP if args.sweep else ())]
    rows: list[Row] = []
    for name in args.datasets:
        series = DATASETS[name]()
        for setting in settings:
            rows.append(measure(name, series, setting))
            print(f"{name}, {setting.name}: {rows[-1]}", flush=True)
    print(table(rows))
    missed = goals(rows)
    for line in missed:
        print(f"goal missed: {line}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
