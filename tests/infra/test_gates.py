"""Gates on the real tools: `cdk synth` (with cdk-nag), cfn-lint and asl-validator.

These run the CLIs exactly as a user or CI would, on every shipped environment.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from config import load_env, read_cdk_context
from config.paths import FUNCTION_MODULES, LAMBDAS, ROOT, SHARED_RULES, STATEMACHINES
from contracts.asl import PLACEHOLDER
from stacks.bundling import PLATFORMS
from stacks.python_function import ARCHITECTURE

ENVIRONMENTS = sorted(read_cdk_context()["environments"])
CDK = ROOT / "node_modules" / ".bin" / "cdk"
ASL_VALIDATOR = ROOT / "node_modules" / ".bin" / "asl-validator"
CFN_LINT = Path(sys.executable).with_name("cfn-lint")

pytestmark = pytest.mark.slow


def require(tool: Path) -> None:
    if not tool.exists():
        pytest.fail(f"{tool.name} is not installed: run `make setup`")


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def cli_synth(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The CLI's cloud assembly for one environment, with cdk-nag and the CFN validator on."""
    require(CDK)
    env = request.param
    out = tmp_path_factory.mktemp(f"cdk-{env}")
    proc = subprocess.run(
        [
            str(CDK),
            "synth",
            "--no-notices",
            "--no-version-reporting",
            "--no-lookups",
            "--quiet",
            "-c",
            f"env={env}",
            "-o",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"cdk synth -c env={env} failed:\n{proc.stdout}\n{proc.stderr}"
    assert "AwsSolutions-" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return env, out


def test_cli_synth_writes_every_stack(cli_synth: tuple[str, Path]) -> None:
    env, out = cli_synth
    config = load_env(env, read_cdk_context())
    templates = sorted(p.name for p in out.glob("*.template.json"))
    units = ("Shared", "Standardize") + (("Forecast",) if config.forecast else ())
    assert templates == sorted(f"{config.stack_name(u)}.template.json" for u in units)
    report = out / "validation-report.json"
    assert report.exists(), "cdk-nag wrote no validation report: the validation plugin did not run"
    data = json.loads(report.read_text())
    assert all(r.get("conclusion") != "failure" for r in data.get("pluginReports", [])), data


def test_lambda_assets_hold_their_sources_and_pinned_packages(cli_synth: tuple[str, Path]) -> None:
    """Each function ships its folder's modules and the shared rules module (the repository's
    bytes); a folder with requirements.txt also gets exactly those pinned packages, installed for
    the function's architecture."""
    env, out = cli_synth
    functions = {}
    for template in out.glob("*.template.json"):
        for resource in json.loads(template.read_text())["Resources"].values():
            meta = resource.get("Metadata", {})
            path = meta.get("aws:cdk:path", "")
            if resource["Type"] == "AWS::Lambda::Function" and path.endswith("/Function/Resource"):
                folder = path.split("/")[-3]  # .../<Name>/Function/Resource: a PythonFunction
                functions[folder] = (out / meta["aws:asset:path"], resource["Properties"])
    sources = {p.name: p for p in LAMBDAS.iterdir() if (p / "handler.py").exists()}
    names = {"".join(w.title() for w in name.split("_")): name for name in sources}
    expected = {"GetBatchId", "Trigger"}
    if load_env(env, read_cdk_context()).forecast:
        expected |= {"GenerateDataset", "WriteForecast"}  # WriteForecast bundles requirements.txt
    assert set(functions) == expected and expected <= set(names), sorted(functions)
    machine = PLATFORMS[ARCHITECTURE.name].split("_", 1)[1]  # e.g. aarch64
    for folder, (asset, props) in functions.items():
        source = sources[names[folder]]
        shared = (SHARED_RULES, *FUNCTION_MODULES.get(source.name, ()))
        modules = {p.name for p in source.glob("*.py")} | {p.name for p in shared}
        shipped = {p.name for p in asset.iterdir()}
        assert props["Architectures"] == [ARCHITECTURE.name], folder
        for module in shared:
            assert (asset / module.name).read_bytes() == module.read_bytes(), folder
        requirements = source / "requirements.txt"
        if not requirements.exists():
            assert shipped == modules, f"{folder}: ships {sorted(shipped)}"
            continue
        assert modules <= shipped, f"{folder}: sources missing from {sorted(shipped)}"
        dist_infos = {p.name.lower(): p for p in asset.glob("*.dist-info")}
        pinned = requirements.read_text().split()
        assert len(dist_infos) == len(pinned), f"{folder}: {sorted(dist_infos)} for {pinned}"
        for line in pinned:
            package, version = line.split("==")
            dist_info = dist_infos.get(f"{package.lower()}-{version}.dist-info")
            assert dist_info is not None, f"{folder}: {line} not bundled, found {sorted(dist_infos)}"
            tags = (dist_info / "WHEEL").read_text()
            assert machine in tags or "-none-any" in tags, f"{folder}: {line} is for another platform"


def test_the_glue_job_gets_the_shared_module_and_its_script_imports_it(cli_synth: tuple[str, Path]) -> None:
    """``--extra-py-files`` is an archive of exactly the repository's pipeline_rules.py, and the
    deployed script imports it from that archive alone, on a bare interpreter (as Glue puts the
    archive on the script's path; pyspark and awsglue are imported by main() only)."""
    env, out = cli_synth
    if not load_env(env, read_cdk_context()).forecast:
        pytest.skip(f"{env} has no forecast")
    (template,) = out.glob("*-Forecast.template.json")
    (job,) = (
        r["Properties"]
        for r in json.loads(template.read_text())["Resources"].values()
        if r["Type"] == "AWS::Glue::Job"
    )

    def asset(url: object) -> Path:
        name = json.dumps(url).rsplit("/", 1)[1].rstrip('"]}')
        path = out / f"asset.{name}"
        assert path.is_file(), f"{name} is not an asset of the cloud assembly"
        return path

    script, archive = (
        asset(job["Command"]["ScriptLocation"]),
        asset(job["DefaultArguments"]["--extra-py-files"]),
    )
    assert archive.suffix == ".zip"
    with zipfile.ZipFile(archive) as bundle:
        assert bundle.namelist() == [SHARED_RULES.name]
        assert bundle.read(SHARED_RULES.name) == SHARED_RULES.read_bytes()
    probe = (
        "import importlib.util, sys; sys.path.insert(0, sys.argv[1]); "
        "spec = importlib.util.spec_from_file_location('glue_script', sys.argv[2]); "
        "script = importlib.util.module_from_spec(spec); sys.modules['glue_script'] = script; "
        "spec.loader.exec_module(script); import pipeline_rules; "
        "print(pipeline_rules.__file__); print(script.output_path('a.b-c', 'etl/', 'sales', 'jr_1'))"
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, str(archive), str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=out,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [str(archive / SHARED_RULES.name), "s3://a.b-c/etl/sales/run=jr_1/"]


def test_cfn_lint_finds_no_errors_or_warnings(cli_synth: tuple[str, Path]) -> None:
    env, out = cli_synth
    region = load_env(env, read_cdk_context()).region
    templates = [str(p) for p in sorted(out.glob("*.template.json"))]
    require(CFN_LINT)
    proc = subprocess.run(
        [str(CFN_LINT), "--format", "parseable", "--regions", region, "--", *templates],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,  # cfn-lint reads .cfnlintrc.yaml from the working directory
    )
    assert proc.returncode == 0 and not proc.stdout.strip(), f"cfn-lint ({env}):\n{proc.stdout}{proc.stderr}"


def test_missing_environment_stops_synth_with_a_clear_message(tmp_path: Path) -> None:
    require(CDK)
    proc = subprocess.run(
        [str(CDK), "synth", "--no-notices", "--quiet", "-c", "env=nowhere", "-o", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "environment 'nowhere' is not in cdk.json" in proc.stdout + proc.stderr


@pytest.mark.parametrize("partition", ["aws", "aws-cn"])
@pytest.mark.parametrize("asl", sorted(p.name for p in STATEMACHINES.glob("*.asl.json")))
def test_asl_validator_passes(asl: str, partition: str, tmp_path: Path) -> None:
    """asl-validator 4.0's CLI ignores --no-arn-check, so ${Partition} is filled in per partition
    and every other placeholder stays as it is in the file."""
    require(ASL_VALIDATOR)
    text = (STATEMACHINES / asl).read_text()
    json.loads(text)  # the file itself is JSON, placeholders included
    assert PLACEHOLDER.search(text), f"{asl} has no placeholders: is it really a template?"
    rendered = tmp_path / asl
    rendered.write_text(text.replace("${Partition}", partition))
    proc = subprocess.run(
        [str(ASL_VALIDATOR), "--json-path", str(rendered)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"asl-validator {asl} ({partition}):\n{proc.stdout}{proc.stderr}"
    assert "is valid" in proc.stdout


def test_asl_validator_rejects_a_broken_definition(tmp_path: Path) -> None:
    """The gate can fail: a dangling Next is caught."""
    require(ASL_VALIDATOR)
    broken = tmp_path / "broken.asl.json"
    broken.write_text(json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}))
    proc = subprocess.run([str(ASL_VALIDATOR), "--json-path", str(broken)], capture_output=True, text=True)
    assert proc.returncode != 0
