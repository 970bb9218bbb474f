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

from localrun.backtest import Backtest, run_backtest
from localrun.deepar_local import DeepArModelError
from localrun.runner import OfflineSession, SourceLabel
from localrun.s3files import download_prefix
from pipeline_rules import execution_digest, freq_step


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
    """The held-out check (:mod:`localrun.backtest`) of the last forecast run, if it trained a model."""
    runs = [r for r in session.runs if r.pipeline == "forecast"]
    cfg = session.env.forecast
    if not runs or cfg is None:
        return None
    execution = runs[-1].result.execution_arn.rsplit(":", 1)[-1]
    job = f"{cfg.name_prefix}-train-{execution_digest(execution)}"
    job_dir = session.sagemaker.workdir / "training" / job
    model, train, test = (
        job_dir / "model" / "model.tar.gz",
        job_dir / "input" / "train" / "train.json",
        job_dir / "input" / "test" / "test.json",
    )
    if not (model.is_file() and train.is_file() and test.is_file()):
        return None  # the run stopped before training, or the model is a stand-in
    manifest_key = f"{cfg.work_prefix}{execution}/series.json"
    manifest = json.loads(session.s3.get_object(Bucket=session.bucket, Key=manifest_key)["Body"].read())
    ids = [s["id"] for s in manifest["series"]]
    try:
        return run_backtest(model, train, test, ids, freq_step(cfg.deepar.time_freq))
    except DeepArModelError:
        return None  # not a model the twin wrote (a test's stand-in)


def _series_title(source: str, series_id: str) -> str:
    return f"{source}: series {series_id!r}" if series_id else source


def plot_forecast(
    session: OfflineSession, rows: list[dict[str, Any]], backtest: Backtest | None, path: Path
) -> Path | None:
    """One panel per series (the first :data:`PLOTTED_SERIES`), titled with the user's file and the
    series id: recent history, the held-out test window (actual against the model's p50 and
    p10-p90 band, and seasonal naive), and the forecast past the data. Axes use the user's columns."""
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
            ax.plot(times, window.naive, color="#2ca02c", linewidth=0.9, linestyle="--",
                    label="held out: seasonal naive")  # fmt: skip
            ax.axvline(times[0], color="#999999", linewidth=0.8, linestyle=":")
        points = sorted((_time(r["forecast_time"]), r) for r in rows if r["series_id"] == series_id)
        if points:
            future = [t for t, _ in points]
            ax.fill_between(future, [r["p10"] for _, r in points], [r["p90"] for _, r in points],
                            alpha=0.25, color="#ff7f0e", label="forecast p10-p90")  # fmt: skip
            p50 = [r["p50"] for _, r in points]
            ax.plot(future, p50, color="#ff7f0e", linewidth=1.2, label="forecast p50")
        ax.set_title(_series_title(label.name, series_id))
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


def quality_lines(quality: dict[str, Any] | None, backtest: Backtest | None, horizon: int) -> list[str]:
    """The model's and the baseline's metrics, the gate's decision, and the held-out figures."""
    lines = []
    if quality:
        model, baseline = quality.get("model") or {}, quality.get("baseline") or {}
        lines.append(
            f"  model:    test:mean_wQuantileLoss {_figure(model.get('mean_wQuantileLoss'))}, "
            f"test:RMSE {_figure(model.get('RMSE'))}"
        )
        lines.append(
            f"  baseline: mean_wQuantileLoss {_figure(baseline.get('mean_wQuantileLoss'))}, "
            f"RMSE {_figure(baseline.get('RMSE'))}, MASE {_figure(baseline.get('MASE'))} (seasonal naive)"
        )
        decision, ratio = quality.get("decision"), quality.get("loss_ratio")
        limit = quality.get("max_loss_ratio")
        if decision == "disabled":
            lines.append(f"  gate:     disabled (loss ratio {_figure(ratio, 3)}, not checked)")
        else:
            sign = "<=" if decision == "passed" else ">"
            lines.append(f"  gate:     {decision}: loss ratio {_figure(ratio, 3)} {sign} {_figure(limit, 3)}")
    if backtest is not None:
        coverage = "n/a" if backtest.coverage is None else f"{backtest.coverage:.0%}"
        lines.append(
            f"  held out (last {horizon} points): p50 MAE {_figure(backtest.mae)} against seasonal naive's "
            f"{_figure(backtest.naive_mae)} (ratio {_figure(backtest.mae_ratio, 3)}); "
            f"the p10-p90 band covers {coverage}"
        )
    return lines


def session_quality(session: OfflineSession, run: Any) -> dict[str, Any] | None:
    """The run's gate figures from the runs table (``<forecast table>_runs``), for a run whose
    execution has no output (a rejected model); None when the run was not recorded."""
    if session.database is None or session.env.forecast is None:
        return None
    run_id = run.result.execution_arn.rsplit(":", 1)[-1]
    records = session.database.read_runs(session.env.forecast.database.forecast_table)
    record = next((r for r in records if r["run_id"] == run_id), None)
    if record is None:
        return None
    return {
        "decision": record["gate_decision"],
        "model": {"RMSE": record["model_rmse"], "mean_wQuantileLoss": record["model_mean_wquantileloss"]},
        "baseline": {
            "RMSE": record["baseline_rmse"],
            "mean_wQuantileLoss": record["baseline_mean_wquantileloss"],
            "MASE": record["baseline_mase"],
        },
        "loss_ratio": record["loss_ratio"],
        "max_loss_ratio": record["max_loss_ratio"],
    }


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
        output = forecasts[-1].result.output if forecasts[-1].result.succeeded else None
        quality = (output or {}).get("quality") or session_quality(session, forecasts[-1])
        lines = quality_lines(quality, backtest, session.env.forecast.deepar.prediction_length)
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
