"""What the offline runner leaves behind: artifacts under the output directory, and a summary.

The summary prints each failed execution's error and cause once, in full; moto's own log, which
would repeat them with its internals, goes to ``moto.log`` in the output directory.
"""

from __future__ import annotations

import csv
import json
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

from localrun.backtest import Backtest, read_backtest
from localrun.runner import OfflineSession, SourceLabel
from localrun.s3files import download_prefix, split_uri
from pipeline_rules import freq_step


def write_artifacts(session: OfflineSession, out: Path, backtest: Backtest | None = None) -> dict[str, Path]:
    """Standardized CSVs and stats, forecast rows, the plot (with ``backtest``'s held-out window,
    default none), and every execution's path."""
    artifacts: dict[str, Path] = {}
    target = out / "standardize"
    if download_prefix(session.s3, f"s3://{session.bucket}/{session.env.standardize.output_prefix}", target):
        artifacts["standardized CSV and stats"] = target
    forecast_runs = [r for r in session.runs if r.pipeline == "forecast"]
    if forecast_runs and session.database is not None and session.env.forecast is not None:
        rows = session.database.read_forecast(session.env.forecast.database.forecast_table)
        if rows or backtest is not None:
            (out / "forecast").mkdir(parents=True, exist_ok=True)
            if rows:
                rows_path = out / "forecast" / "forecast_rows.csv"
                with rows_path.open("w", newline="", encoding="utf-8") as handle:
                    writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
                    writer.writeheader()
                    writer.writerows(rows)
                artifacts["forecast rows"] = rows_path
            plot = plot_forecast(session, rows, backtest, out / "forecast" / "forecast.png")
            if plot is not None:
                artifacts["forecast plot"] = plot
    moto_log = out / "moto.log"
    if session.aws.moto_log:
        moto_log.write_text("\n".join(session.aws.moto_log) + "\n", encoding="utf-8")
        artifacts["moto's own log"] = moto_log
    else:
        moto_log.unlink(missing_ok=True)  # an earlier run's
    paths = out / "executions.json"
    paths.write_text(json.dumps([_execution(r) for r in session.runs], indent=2, default=str) + "\n")
    artifacts["execution paths"] = paths
    return artifacts


def _execution(run: Any) -> dict[str, Any]:
    result = run.result
    return {
        "pipeline": run.pipeline,
        "execution": result.execution_arn.rsplit(":", 1)[-1],
        "status": result.status,
        "path": list(result.path),
        "steps": [{"state": s.name, "seconds": s.seconds} for s in result.steps],
        "error": result.error,
        "cause": result.cause,
        "seconds": round(run.seconds, 3),
        **run.details,
    }


#: How many series the plot shows (the first ones in the manifest's order), and how much history.
PLOTTED_SERIES = 4
PLOTTED_HISTORY_WEEKS = 3


def forecast_backtest(session: OfflineSession) -> Backtest | None:
    """The held-out check (:mod:`localrun.backtest`) of the last forecast run that wrote its
    forecast: the pipeline's own backtest files (the transform's and the baseline's)."""
    runs = [r for r in session.runs if r.pipeline == "forecast" and r.result.succeeded]
    cfg = session.env.forecast
    if not runs or cfg is None:
        return None
    dataset = (runs[-1].result.output or {}).get("dataset") or {}

    def text(key: str) -> str:
        bucket, name = split_uri(dataset[key])
        return str(session.s3.get_object(Bucket=bucket, Key=name)["Body"].read().decode())

    manifest = json.loads(text("series_uri"))
    ids = [s["id"] for s in manifest["series"]]
    return read_backtest(
        ids, text("test_uri"), text("backtest_uri"), text("baseline_uri"), freq_step(cfg.deepar.time_freq)
    )


def _series_title(source: str, series_id: str, written: str | None) -> str:
    title = f"{source}: series {series_id!r}" if series_id else source
    return f"{title}; written from {written}" if written else title


def _written(rows: list[dict[str, Any]], series_id: str) -> str | None:
    """Where the series' forecast came from: the model, or seasonal naive with its season."""
    found = next((r for r in rows if r["series_id"] == series_id), None)
    if found is None or not found.get("source"):
        return None
    if found["source"] == "model":
        return "the model (it won the backtest)"
    return f"seasonal naive, season {found.get('season')} (it won the backtest)"


def plot_forecast(
    session: OfflineSession, rows: list[dict[str, Any]], backtest: Backtest | None, path: Path
) -> Path | None:
    """One panel per series (the first :data:`PLOTTED_SERIES`), titled with the user's file, the
    series id and the source its forecast was written from: recent history, the backtest window
    (actual against the model's p50 and p10-p90 band, and the baseline's), and the forecast past
    the data. Axes use the user's columns."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    assert session.env.forecast is not None
    cfg = session.env.forecast
    label = session.source or SourceLabel(
        cfg.database.source_table, cfg.database.timestamp_column, cfg.database.value_column
    )
    step = freq_step(cfg.deepar.time_freq)
    ids = sorted({r["series_id"] for r in rows})
    if backtest is not None:
        ids = [s.series_id for s in backtest.series]
    ids = ids[:PLOTTED_SERIES]
    windows = {s.series_id: s for s in backtest.series} if backtest is not None else {}
    fig, axes = plt.subplots(len(ids), 1, figsize=(12, 4.2 * len(ids)), dpi=110, squeeze=False)
    for ax, series_id in zip(axes[:, 0], ids, strict=True):
        window = windows.get(series_id)
        if window is not None:
            keep = min(len(window.history), int(timedelta(weeks=PLOTTED_HISTORY_WEEKS) / step))
            ax.plot(window.times(step, -keep), window.history[-keep:], color="#444444", linewidth=0.8,
                    label="history")  # fmt: skip
            times = window.times(step)
            ax.plot(times, window.actual, color="black", linewidth=1.1, label="held out: actual")
            ax.fill_between(times, window.p10, window.p90, alpha=0.25, color="#1f77b4",
                            label="held out: model p10-p90")  # fmt: skip
            ax.plot(times, window.p50, color="#1f77b4", linewidth=1.2, label="held out: model p50")
            if window.naive_p10 is not None and window.naive_p90 is not None:
                ax.fill_between(times, window.naive_p10, window.naive_p90, alpha=0.18, color="#2ca02c",
                                label="held out: seasonal naive p10-p90")  # fmt: skip
            ax.plot(times, window.naive, color="#2ca02c", linewidth=0.9, linestyle="--",
                    label="held out: seasonal naive p50")  # fmt: skip
            ax.axvline(times[0], color="#999999", linewidth=0.8, linestyle=":")
        points = sorted((_time(r["forecast_time"]), r) for r in rows if r["series_id"] == series_id)
        if points:
            future = [t for t, _ in points]
            ax.fill_between(future, [r["p10"] for _, r in points], [r["p90"] for _, r in points],
                            alpha=0.25, color="#ff7f0e", label="written forecast p10-p90")  # fmt: skip
            p50 = [r["p50"] for _, r in points]
            ax.plot(future, p50, color="#ff7f0e", linewidth=1.2, label="written forecast p50")
        ax.set_title(_series_title(label.name, series_id, _written(rows, series_id)))
        ax.set_xlabel(f"{label.timestamp_column} (UTC)")
        ax.set_ylabel(label.value_column)
        ax.legend(loc="upper left", fontsize="small")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _wrapped(text: str, *, indent: int, width: int = 96) -> str:
    """``text`` in indented lines of at most ``width`` (default 96) columns."""
    pad = " " * indent
    return textwrap.fill(text, width, initial_indent=pad, subsequent_indent=pad, break_on_hyphens=False)


def _time(value: Any) -> Any:
    from datetime import datetime

    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _figure(value: Any, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}"


def quality_lines(record: dict[str, Any] | None, backtest: Backtest | None, horizon: int) -> list[str]:
    """The run's figures from its runs-table ``record``: both candidates on each series' backtest
    window (and DeepAR's own test metrics), what was written and from which source, then the
    held-out figures of ``backtest``."""
    lines = []
    if record:
        metric = record.get("selection_metric") or "mean_wQuantileLoss"
        deepar = (
            f"DeepAR's test:mean_wQuantileLoss {_figure(record.get('model_mean_wquantileloss'))}, "
            f"test:RMSE {_figure(record.get('model_rmse'))}"
        )
        naive = (
            f"seasonal naive; mean_wQuantileLoss {_figure(record.get('baseline_mean_wquantileloss'))}, "
            f"MASE {_figure(record.get('baseline_mase'))}"
        )
        if record.get("series_model") is None:  # not written: no backtest selection
            lines.append(f"  model:    {deepar}")
            lines.append(f"  baseline: {naive}")
        else:
            lines.append(f"  backtest of each series' last {horizon} points, on {metric}:")
            lines.append(
                f"  model:    loss {_figure(record.get('model_backtest_loss'))}, "
                f"MAE {_figure(record.get('model_backtest_mae'))} ({deepar})"
            )
            lines.append(
                f"  baseline: loss {_figure(record.get('baseline_backtest_loss'))}, "
                f"MAE {_figure(record.get('baseline_backtest_mae'))} ({naive})"
            )
            ratio = _figure(record.get("max_loss_ratio"), 3)
            rule = f"the model where its loss <= {ratio} x the baseline's"
            if record.get("gate_decision") == "disabled":
                rule = "selection disabled"
            counts = f"on the model {record['series_model']}, on the seasonal-naive baseline"
            lines.append(
                f"  written:  loss {_figure(record.get('written_backtest_loss'))}; series {counts} "
                f"{record.get('series_baseline')} ({rule})"
            )
    if backtest is not None:
        coverage = "n/a" if backtest.coverage is None else f"{backtest.coverage:.0%}"
        lines.append(
            f"  held out (last {horizon} points): p50 MAE {_figure(backtest.mae)} against seasonal naive's "
            f"{_figure(backtest.naive_mae)} (ratio {_figure(backtest.mae_ratio, 3)}); "
            f"the p10-p90 band covers {coverage}"
        )
    return lines


def run_record(session: OfflineSession, run: Any) -> dict[str, Any] | None:
    """The run's record in the runs table (``<forecast table>_runs``); None when it was not recorded."""
    if session.database is None or session.env.forecast is None:
        return None
    run_id = run.result.execution_arn.rsplit(":", 1)[-1]
    records = session.database.read_runs(session.env.forecast.database.forecast_table)
    return next((r for r in records if r["run_id"] == run_id), None)


def print_summary(
    session: OfflineSession, artifacts: dict[str, Path], seconds: float, backtest: Backtest | None = None
) -> None:
    """A closing table of the runs, the forecast's quality (with ``backtest``, default none), the
    local jobs, and where the artifacts are."""
    print()
    print(f"{'pipeline':<12} {'status':<10} {'seconds':>8}  path / error")
    print("-" * 96)
    for run in session.runs:
        result = run.result
        tail = " > ".join(result.path)
        print(f"{run.pipeline:<12} {result.status:<10} {run.seconds:>8.1f}  {tail}")
        if result.error:
            print(_wrapped(f"{result.error}: {result.cause or ''}", indent=33))
    forecasts = [r for r in session.runs if r.pipeline == "forecast"]
    if forecasts and session.env.forecast is not None:
        record = run_record(session, forecasts[-1])
        lines = quality_lines(record, backtest, session.env.forecast.deepar.prediction_length)
        if lines:
            print()
            print("forecast quality:")
            print("\n".join(lines))
    if session.sagemaker.jobs:
        print()
        print(f"{'local job':<12} {'status':<10} {'seconds':>8}  name")
        for job in session.sagemaker.jobs:
            print(f"{job.kind:<12} {job.status:<10} {job.seconds:>8.1f}  {job.name}")
    alerts = session.alerts()
    if alerts:
        print()
        print("alerts published:")
        for message in alerts:
            print(f"  {message[:150]}")
    print()
    if session.database is not None:
        print(f"database: {session.database.label}")
    for label, path in artifacts.items():
        print(f"{label + ':':<28} {path}")
    print(f"total: {seconds:.1f} s")
