"""The runner's command line: help, the user's own CSV, and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from config.paths import ROOT
from localrun.__main__ import main


def test_help_explains_the_commands() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "localrun", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0
    for word in ("demo", "standardize", "forecast", "--source-csv", "moto", "MYSQL_URL"):
        assert word in proc.stdout


def test_standardize_a_users_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "readings_42.csv"
    data.write_text("id,x,y\n1,1.0,a\n2,3.0,b\n")
    assert main(["standardize", str(data), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "SUCCEEDED" in out
    body = (tmp_path / "out" / "standardize" / "42" / "readings_42.csv").read_text()
    assert body.splitlines() == ["id,x,y", "1,-1.0,a", "2,1.0,b"]
    [run] = json.loads((tmp_path / "out" / "executions.json").read_text())
    assert run["path"][-1] == "Done"


def test_standardize_a_bad_name_exits_non_zero_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "readings.csv"
    data.write_text("x\n1\n")
    assert main(["standardize", str(data), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    assert "InvalidFileName" in capsys.readouterr().out


def test_a_failed_execution_prints_its_error_and_cause_once(tmp_path: Path) -> None:
    """In a process of its own, as a user runs it: moto's log of the failure goes to moto.log, and
    the cause is get-batch-id's message, not the Lambda runtime's error JSON."""
    data = tmp_path / "readings_x.csv"
    data.write_text("x\n1\n")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "localrun", "standardize", str(data), "--out", str(out), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    [run] = json.loads((out / "executions.json").read_text())
    assert run["error"] == "InvalidPartitionName"
    assert run["cause"].startswith("key meta-data/readings_x.csv: ")
    for raw in ("errorMessage", "stackTrace", "Traceback"):
        assert raw not in run["cause"]
    printed = " ".join((proc.stdout + proc.stderr).split())  # the summary wraps the cause
    assert printed.count(" ".join(f"{run['error']}: {run['cause']}".split())) == 1, printed
    assert printed.count(" ".join(run["cause"].split())) == 1, "the cause is printed once"
    assert "FailureEventException" not in printed
    assert "FailureEventException" in (out / "moto.log").read_text()
    assert "moto's own log:" in proc.stdout


def test_the_summary_prints_the_whole_cause(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A failed job's cause leads with SageMaker's reason (here the processing script's own error,
    which names the file and line), and is printed whole."""
    data = tmp_path / "ragged_5.csv"
    data.write_text("a,b\n1,2,3\n")
    assert main(["standardize", str(data), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    out = capsys.readouterr().out
    [run] = json.loads((tmp_path / "out" / "executions.json").read_text())
    assert run["error"] == "ProcessingFailed" and '"FailureReason":' not in run["cause"]
    assert run["cause"].startswith("processing of key meta-data/ragged_5.csv failed: AlgorithmError:")
    assert "InputError: ragged_5.csv: line 2: 3 fields" in run["cause"]
    assert len(run["cause"]) > 160
    assert "".join(run["cause"].split()) in "".join(out.split()), "wrapped, not cut"
    assert all(len(line) <= 96 for line in out.splitlines() if line.startswith(" " * 33))


def test_forecast_names_a_missing_column(tmp_path: Path) -> None:
    data = tmp_path / "sales.csv"
    data.write_text("when,amount\n2026-01-01 00:00:00,1\n")
    with pytest.raises(SystemExit, match=r"no column 'ts'.*--timestamp-column"):
        main(["forecast", "--source-csv", str(data), "--out", str(tmp_path / "out"), "--sqlite", "--quiet"])
