"""Per-series selection on real and demo hourly series, checked on a week the run never saw.

Each dataset loses its last ``prediction_length`` (168) hours, the held-out week; the offline
pipeline (the deployed state machine, Lambdas and the local DeepAR twin, on SQLite) runs on the
rest. The table gives, per dataset: the twin's training time; both candidates' backtest figures
as write-forecast recorded them (loss on the selection metric, the p50's MAE); the source each
series was written from; and, on the held-out week, the p50 MAE of the written forecast, of the
model's (the transform's future forecast) and of the baseline's (the baseline file's future),
each over seasonal naive's (a week back from the data, the standard benchmark), and the share of
held-out hours inside the written p10-p90 band.

Datasets: ``demo`` (``localrun.demo_data.hourly_series``, ten weeks), ``seattle-temps`` and
``sf-temps`` (vega_datasets' hourly temperatures of 2010, NOAA data shipped with the package:
``localrun.demo_data.packaged_hourly_series``), each alone, then ``all three`` in one run with a
series column. Goal, checked by the exit status: on every dataset the written forecast's backtest
loss is at most the baseline's (the selection's guarantee). The held-out week is reported, not
gated: one backtest window is one sample, and the week after it can go the other way.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import forecast_metrics  # noqa: E402
from config import load_env, read_cdk_context  # noqa: E402
from localrun.demo_data import PACKAGED_HOURLY, hourly_series, packaged_hourly_series  # noqa: E402
from localrun.runner import Printer, open_session  # noqa: E402
from localrun.s3files import split_uri  # noqa: E402

HORIZON = 168
STEP = timedelta(hours=1)
WEEK = 168

Points = list[tuple[datetime, float | None]]


@dataclass(frozen=True)
class Row:
    dataset: str
    training_seconds: float
    model_loss: float | None
    baseline_loss: float | None
    written_loss: float | None
    model_mae: float | None
    baseline_mae: float | None
    sources: dict[str, int]
    held_out_written: float | None
    held_out_model: float | None
    held_out_baseline: float | None
    coverage: float | None


def datasets() -> dict[str, dict[str, Points]]:
    """Each dataset's series by id (one per dataset, and all three together)."""
    single = {"demo": hourly_series(), **{name: packaged_hourly_series(name) for name in PACKAGED_HOURLY}}
    return {**{name: {"": points} for name, points in single.items()}, "all three": dict(single)}


def _mae(actual: list[float | None], forecast: list[float | None]) -> float | None:
    pairs = [(y, f) for y, f in zip(actual, forecast, strict=True) if y is not None and f is not None]
    return sum(abs(y - f) for y, f in pairs) / len(pairs) if pairs else None


def run(name: str, series: dict[str, Points], workdir: Path) -> Row:
    env = load_env("dev", read_cdk_context())
    assert env.forecast is not None
    column = "series" if len(series) > 1 else None
    database = replace(env.forecast.database, series_column=column)
    env = replace(env, forecast=replace(env.forecast, database=database))
    table = database.forecast_table
    rows: list[tuple[Any, ...]] = []
    for series_id, points in series.items():
        rows += [(t, v, series_id) if column else (t, v) for t, v in points[:-HORIZON]]
    with open_session(
        "dev", workdir=workdir, allow_mariadb=False, printer=Printer(False), config=env
    ) as session:
        session.load_source(rows)
        result = session.forecast()
        assert result is not None and result.result.succeeded, result and result.result.cause
        assert session.database is not None
        [record] = session.database.read_runs(table)
        written = session.database.read_forecast(table)
        dataset = result.result.output["dataset"]
        bucket, key = split_uri(dataset["forecast_uri"])
        future = [
            json.loads(line)
            for line in session.s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()
        ]
        manifest_bucket, manifest_key = split_uri(dataset["series_uri"])
        manifest = json.loads(session.s3.get_object(Bucket=manifest_bucket, Key=manifest_key)["Body"].read())
        baseline_bucket, baseline_key = split_uri(dataset["baseline_uri"])
        body = session.s3.get_object(Bucket=baseline_bucket, Key=baseline_key)["Body"].read()
        baselines = [json.loads(line) for line in body.splitlines()]
        training = sum(j.seconds for j in session.sagemaker.jobs if j.kind == "training")
    actual_all: list[float | None] = []
    written_all: list[float | None] = []
    model_all: list[float | None] = []
    baseline_all: list[float | None] = []
    naive_all: list[float | None] = []
    covered = scored = 0
    for info, model, baseline in zip(manifest["series"], future, baselines, strict=True):
        values = [v for _, v in series[info["id"] if column else ""]]
        history, actual = values[:-HORIZON], values[-HORIZON:]
        mine = sorted(
            (r for r in written if r["series_id"] == info["id"]), key=lambda r: str(r["forecast_time"])
        )
        actual_all += actual
        written_all += [r["p50"] for r in mine]
        model_all += model["quantiles"]["0.5"]
        baseline_all += (baseline["future"] or {}).get("0.5") or [None] * HORIZON
        naive_all += forecast_metrics.seasonal_naive(history, HORIZON, WEEK)
        for y, r in zip(actual, mine, strict=True):
            if y is not None:
                scored += 1
                covered += r["p10"] <= y <= r["p90"]
    naive = _mae(actual_all, naive_all)
    written_mae, model_mae = _mae(actual_all, written_all), _mae(actual_all, model_all)
    baseline_mae = _mae(actual_all, baseline_all)
    return Row(
        dataset=name,
        training_seconds=training,
        model_loss=record["model_backtest_loss"],
        baseline_loss=record["baseline_backtest_loss"],
        written_loss=record["written_backtest_loss"],
        model_mae=record["model_backtest_mae"],
        baseline_mae=record["baseline_backtest_mae"],
        sources={"model": record["series_model"], "seasonal-naive": record["series_baseline"]},
        held_out_written=written_mae / naive if written_mae is not None and naive else None,
        held_out_model=model_mae / naive if model_mae is not None and naive else None,
        held_out_baseline=baseline_mae / naive if baseline_mae is not None and naive else None,
        coverage=covered / scored if scored else None,
    )


def _f(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="dataset names to run (default: all)")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="selection-") as work:
        for name, series in datasets().items():
            if args.only and name not in args.only:
                continue
            results.append(run(name, series, Path(work) / name.replace(" ", "-")))
            row = results[-1]
            losses = (
                f"model {_f(row.model_loss)} baseline {_f(row.baseline_loss)} written {_f(row.written_loss)}"
            )
            held_out = (
                f"written {_f(row.held_out_written, 3)}, model {_f(row.held_out_model, 3)}, "
                f"baseline {_f(row.held_out_baseline, 3)}"
            )
            print(
                f"{row.dataset:<14} train {row.training_seconds:6.1f} s | backtest loss {losses} | MAE model "
                f"{_f(row.model_mae)} baseline {_f(row.baseline_mae)} | series {row.sources} | held-out MAE "
                f"/ naive: {held_out}; written band covers {_f(row.coverage, 2)}",
                flush=True,
            )
    failed = [
        r.dataset
        for r in results
        if r.written_loss is None or r.baseline_loss is None or r.written_loss > r.baseline_loss
    ]
    if failed:
        print(f"goal missed on: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
