"""What the offline runner leaves behind: artifacts under the output directory, and a summary.

The summary prints each failed execution's error and cause once, in full; moto's own log, which
would repeat them with its internals, goes to ``moto.log`` in the output directory.
"""

from __future__ import annotations

import csv
import json
import textwrap
from pathlib import Path
from typing import Any

from localrun.runner import OfflineSession
from localrun.s3files import download_prefix


def write_artifacts(session: OfflineSession, out: Path) -> dict[str, Path]:
    """Standardized CSVs and stats, forecast rows and plot, and every execution's path."""
    artifacts: dict[str, Path] = {}
    target = out / "standardize"
    if download_prefix(session.s3, f"s3://{session.bucket}/{session.env.standardize.output_prefix}", target):
        artifacts["standardized CSV and stats"] = target
    forecast_runs = [r for r in session.runs if r.pipeline == "forecast"]
    if forecast_runs and session.database is not None and session.env.forecast is not None:
        rows = session.database.read_forecast(session.env.forecast.database.forecast_table)
        if rows:
            (out / "forecast").mkdir(parents=True, exist_ok=True)
            rows_path = out / "forecast" / "forecast_rows.csv"
            with rows_path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
            artifacts["forecast rows"] = rows_path
            plot = plot_forecast(session, rows, out / "forecast" / "forecast.png")
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


def plot_forecast(session: OfflineSession, rows: list[dict[str, Any]], path: Path) -> Path | None:
    """History (the last four weeks of the source) and the forecast: p10-p90 band and p50 line."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    assert session.env.forecast is not None and session.database is not None
    db = session.env.forecast.database
    source = session.database.read_source(db.source_table, [db.timestamp_column, db.value_column])
    history = sorted((_time(r[db.timestamp_column]), r[db.value_column]) for r in source)[-28 * 24 :]
    fig, ax = plt.subplots(figsize=(12, 4.5), dpi=110)
    ax.plot([t for t, _ in history], [v for _, v in history], color="#444444", linewidth=0.8, label="history")
    for series in sorted({r["series_id"] for r in rows}):
        points = sorted((_time(r["forecast_time"]), r) for r in rows if r["series_id"] == series)
        times = [t for t, _ in points]
        ax.fill_between(times, [r["p10"] for _, r in points], [r["p90"] for _, r in points], alpha=0.25,
                        color="#1f77b4", label="p10-p90")  # fmt: skip
        ax.plot(times, [r["p50"] for _, r in points], color="#1f77b4", linewidth=1.2, label="p50")
    ax.set_title(f"{db.source_table}: DeepAR forecast ({session.env.name}, offline)")
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel(db.value_column)
    ax.legend(loc="upper left")
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


def print_summary(session: OfflineSession, artifacts: dict[str, Path], seconds: float) -> None:
    """A closing table of the runs, the local jobs, and where the artifacts are."""
    print()
    print(f"{'pipeline':<12} {'status':<10} {'seconds':>8}  path / error")
    print("-" * 96)
    for run in session.runs:
        result = run.result
        tail = " > ".join(result.path)
        print(f"{run.pipeline:<12} {result.status:<10} {run.seconds:>8.1f}  {tail}")
        if result.error:
            print(_wrapped(f"{result.error}: {result.cause or ''}", indent=33))
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
