"""The Python-version gate of ``make lint`` (tools/version_gate.py) and the runtime constants."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from config.paths import FUNCTION_MODULES, SHARED_RULES
from stacks.runtimes import GLUE, GLUE_BY_REGION, GLUE_FALLBACK, LAMBDA_PYTHON, glue_runtime
from tools import version_gate
from tools.version_gate import Target

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "deployable.py"
    path.write_text(source)
    return path


def test_a_311_stdlib_name_fails_a_310_target(tmp_path: Path) -> None:
    path = write(tmp_path, "from datetime import UTC, datetime\n\nNOW = datetime.now(UTC)\n")
    problems = version_gate.check(Target("glue 4.0", "3.10", (path,)))
    assert any("'datetime.UTC' member requires !2, 3.11" in p for p in problems), problems
    assert version_gate.check(Target("glue 5.0", "3.11", (path,))) == []


def test_the_command_line_fails_for_a_310_target(tmp_path: Path) -> None:
    path = write(tmp_path, "import tomllib\n")
    command = [sys.executable, "-m", "tools.version_gate", "--python", "3.10", str(path)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "'tomllib' module requires !2, 3.11" in result.stdout


def test_the_shared_module_is_held_to_the_oldest_runtime_that_imports_it(tmp_path: Path) -> None:
    """A 3.12 feature in pipeline_rules.py passes the Lambda's 3.14 but fails Glue's 3.11."""
    shared = tmp_path / SHARED_RULES.name
    shared.write_text(SHARED_RULES.read_text() + "\nfrom itertools import batched\n")
    (tmp_path / "processing").mkdir()
    (tmp_path / "processing" / "glue_etl.py").write_text("import pipeline_rules\n")
    (tmp_path / "processing" / "Dockerfile").write_text("FROM python:3.11-slim\n")
    (tmp_path / "lambdas" / "fn").mkdir(parents=True)
    (tmp_path / "lambdas" / "fn" / "handler.py").write_text("import pipeline_rules\n")
    targets = {t.name: t for t in version_gate.project_targets(tmp_path)}
    assert version_gate.check(targets["Lambda fn"]) == []
    problems = version_gate.check(targets[f"Glue {GLUE.version} script"])
    assert any("'itertools.batched' member requires !2, 3.12" in p for p in problems), problems


def test_newer_syntax_fails_even_where_vermin_cannot_parse_it(tmp_path: Path) -> None:
    path = write(tmp_path, "type Pair = tuple[int, int]\n")  # 3.12 syntax
    problems = version_gate.check(Target("t", "3.11", (path,)))
    assert problems and "not Python 3.11 syntax" in problems[0]
    match = write(tmp_path, "match 1:\n    case 1:\n        pass\n")  # 3.10 syntax
    assert version_gate.check(Target("t", "3.9", (match,)))


def test_a_comment_cannot_switch_the_gate_off(tmp_path: Path) -> None:
    path = write(tmp_path, "from datetime import UTC  # novermin\n")
    assert version_gate.check(Target("t", "3.10", (path,)))


def test_targets_come_from_the_stacks_constants() -> None:
    from aws_cdk import aws_glue

    from stacks.python_function import RUNTIME

    targets = {t.name: t for t in version_gate.project_targets()}
    assert targets["Glue 5.1 script"].python == GLUE.python == "3.11"
    assert targets["Glue 5.1 script"].files == (ROOT / "processing" / "glue_etl.py", SHARED_RULES)
    lambdas = [t for name, t in targets.items() if name.startswith("Lambda ")]
    assert {p.parent.name for t in lambdas for p in t.files if p.parent != ROOT} == {
        p.name for p in (ROOT / "lambdas").iterdir() if p.is_dir() and any(p.glob("*.py"))
    }
    # The shared module ships in every bundle and with the Glue job: checked against both Pythons.
    assert all(SHARED_RULES in t.files for t in lambdas) and SHARED_RULES.parent == ROOT
    # So do the root modules a function ships (forecast_metrics.py): checked with its runtime's Python.
    for folder, modules in FUNCTION_MODULES.items():
        assert set(modules) <= set(targets[f"Lambda {folder}"].files), folder
    assert {t.python for t in lambdas} == {LAMBDA_PYTHON} and RUNTIME.name == f"python{LAMBDA_PYTHON}"
    dockerfile = (ROOT / "processing" / "Dockerfile").read_text()
    assert f"FROM python:{targets['processing image'].python}." in dockerfile
    assert getattr(aws_glue.GlueVersion, GLUE.cdk_name).value == "V5_1"


def test_glue_falls_back_to_5_0_only_where_aws_lists_no_5_1() -> None:
    """GovCloud's Glue page lists 5.0 as its newest version; China's Glue guide lists 5.1."""
    from aws_cdk import aws_glue

    assert (GLUE.version, GLUE.spark) == ("5.1", "3.5.6")
    assert (GLUE_FALLBACK.version, GLUE_FALLBACK.spark, GLUE_FALLBACK.cdk_name) == ("5.0", "3.5.4", "V5_0")
    assert dict(GLUE_BY_REGION) == {"us-gov-east-1": GLUE_FALLBACK, "us-gov-west-1": GLUE_FALLBACK}
    for region in ("us-east-1", "eu-west-1", "cn-north-1", "cn-northwest-1"):
        assert glue_runtime(region) == GLUE, region
    assert glue_runtime("us-gov-west-1") == glue_runtime("us-gov-east-1") == GLUE_FALLBACK
    # One gate target and one local engine cover every version deployed: the same Python and Java.
    for runtime in GLUE_BY_REGION.values():
        assert (runtime.python, runtime.java) == (GLUE.python, GLUE.java), runtime
        assert getattr(aws_glue.GlueVersion, runtime.cdk_name).value == runtime.cdk_name


@pytest.mark.slow
@pytest.mark.parametrize(("region", "version"), [("us-gov-west-1", "5.0"), ("cn-northwest-1", "5.1")])
def test_the_etl_job_deploys_the_regions_glue_version(region: str, version: str) -> None:
    from aws_cdk.assertions import Template

    from tests.infra.conftest import synthesize

    synthesized = synthesize("dev", {"region": region})
    assert synthesized.stacks.forecast is not None
    jobs = Template.from_stack(synthesized.stacks.forecast).find_resources("AWS::Glue::Job")
    assert [job["Properties"]["GlueVersion"] for job in jobs.values()] == [version]


def test_a_newer_interpreter_than_the_oldest_target_fails() -> None:
    targets = [Target("Lambda", "3.14", ()), Target("Glue", "3.11", ())]
    problem = version_gate.interpreter_problem(targets, running=(3, 12))
    assert problem and "newer than Glue's 3.11" in problem
    assert version_gate.interpreter_problem(targets, running=(3, 11)) is None


def test_the_project_passes_and_this_python_is_not_newer_than_its_oldest_target() -> None:
    assert version_gate.main([]) == 0


def test_the_pins_and_the_makefile_follow_the_glue_runtime() -> None:
    requirements = (ROOT / "requirements-dev.txt").read_text()
    assert re.search(rf"^pyspark=={re.escape(GLUE.spark)}$", requirements, re.MULTILINE)
    result = subprocess.run(
        ["make", "-n", "system-packages"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert f"openjdk-{GLUE.java}-jre-headless" in result.stdout
    assert f'version "{GLUE.java}' in result.stdout


@pytest.mark.parametrize(
    "line", ["FROM python:3.11.13-slim-bookworm", "FROM public.ecr.aws/docker/library/python:3.11"]
)
def test_dockerfile_python(tmp_path: Path, line: str) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(f"# image\n{line}\nRUN true\n")
    assert version_gate.dockerfile_python(path) == "3.11"
