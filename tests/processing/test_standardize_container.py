"""The image and the command line the state machine uses agree with the program."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import PROCESSING, ROOT, cli, run_cli, sz


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (PROCESSING / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]  # type: ignore[misc]


def test_dockerfile_copies_the_program_to_program_path() -> None:
    copies = [args.split() for op, args in dockerfile_instructions() if op == "COPY"]
    assert ["standardize/", f"{sz.PROGRAM_PATH}/"] in copies  # the whole package, every module
    assert (PROCESSING / "standardize" / "__main__.py").is_file()


def test_dockerfile_entrypoint_runs_program_path() -> None:
    (entrypoint,) = [args for op, args in dockerfile_instructions() if op == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["python3", sz.PROGRAM_PATH]


def test_dockerfile_base_image_is_a_pinned_slim_python() -> None:
    (base,) = [args for op, args in dockerfile_instructions() if op == "FROM"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", base), base


def test_dockerfile_installs_exactly_the_pinned_requirements() -> None:
    runs = " ".join(args for op, args in dockerfile_instructions() if op == "RUN")
    assert "-r /opt/program/requirements.txt" in runs
    pins = [
        line.strip()
        for line in (PROCESSING / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", pin) for pin in pins), pins
    assert "polars==2.1.0" in pins


def test_dockerignore_keeps_other_processing_files_out() -> None:
    patterns = [
        line.strip()
        for line in (PROCESSING / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    for needed in ("!Dockerfile", "!requirements.txt", "!standardize/"):
        assert needed in patterns


def test_container_paths_are_sagemakers_defaults() -> None:
    # The state machine reads these constants (tests/infra/test_asl.py checks the ASL against them).
    assert sz.PROGRAM_PATH == "/opt/program/standardize"
    assert (sz.CONTAINER_INPUT_DIR, sz.CONTAINER_OUTPUT_DIR) == (
        "/opt/ml/processing/input",
        "/opt/ml/processing/output",
    )


def test_the_parser_takes_the_container_arguments_and_dash_led_names() -> None:
    # The ASL passes exactly these (tests/infra/test_asl.py); STANDARDIZE_* variables add columns.
    arguments = ["--input", sz.CONTAINER_INPUT_DIR, "--output", sz.CONTAINER_OUTPUT_DIR]
    args = cli._parser().parse_args(arguments)
    assert (args.input, args.output, args.exclude, args.include, args.round_digits) == (
        sz.CONTAINER_INPUT_DIR,
        sz.CONTAINER_OUTPUT_DIR,
        [],
        [],
        None,
    )
    args = cli._parser().parse_args(
        [*arguments, "--exclude=-odd name", "--exclude", "ts", "--include=user_id", "--round", "6"]
    )
    assert (args.exclude, args.include, args.round_digits) == (["-odd name", "ts"], ["user_id"], 6)


def test_import_does_no_work() -> None:
    code = (
        "import logging, sys, threading; sys.path.insert(0, sys.argv[1]);"
        "import processing.standardize as s;"
        "assert not logging.getLogger().handlers;"
        "assert threading.active_count() == 1;"
        "print(s.PROGRAM_PATH, s.CONTAINER_INPUT_DIR, s.CONTAINER_OUTPUT_DIR)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == [sz.PROGRAM_PATH, sz.CONTAINER_INPUT_DIR, sz.CONTAINER_OUTPUT_DIR]
    assert done.stderr == ""


def test_configured_columns_arrive_through_the_environment(tmp_path: Path) -> None:
    """The state machine passes config's excludeColumns/includeColumns as JSON lists."""
    work = tmp_path
    (work / "in").mkdir()
    (work / "in" / "p_1.csv").write_text("id,code,x\n1,10,1.0\n2,20,3.0\n")
    env = {"STANDARDIZE_EXCLUDE": json.dumps(["code"]), "STANDARDIZE_INCLUDE": json.dumps(["id"])}
    proc = run_cli("--input", str(work / "in"), "--output", str(work / "out"), cwd=work, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (work / "out" / "p_1.csv").read_text().splitlines() == ["id,code,x", "-1.0,10,-1.0", "1.0,20,1.0"]


def test_a_configured_column_in_no_file_names_the_environment_setting(tmp_path: Path) -> None:
    """A user who set excludeColumns in cdk.json must not be sent looking for a flag."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "p_1.csv").write_text("id,x\n1,1.0\n")
    env = {"STANDARDIZE_EXCLUDE": json.dumps(["zz"])}
    proc = run_cli("--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), cwd=tmp_path, env=env)
    assert proc.returncode == 2
    assert "STANDARDIZE_INCLUDE/STANDARDIZE_EXCLUDE columns not in any input file: zz" in proc.stderr


def test_env_columns_parses_a_json_list() -> None:
    assert sz.env_columns("X", {"X": ""}) == frozenset()
    with pytest.raises(sz.UsageError, match="X must be a JSON list"):
        sz.env_columns("X", {"X": "code"})
