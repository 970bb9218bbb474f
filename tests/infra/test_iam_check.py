"""The deployed policies, evaluated against every inventoried request (tools/iam_check), in every
environment and variant; and deleting a needed statement from a template is caught."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from config import read_cdk_context
from config.paths import ROOT
from tests.infra.conftest import Synthesized, synthesize
from tests.infra.test_database_rotation import forecast_with_rotation
from tools.iam_check.check import check_folder, concrete_requests, describe, statement_usage
from tools.iam_check.inventory import load_inventory
from tools.iam_check.principals import Principals
from tools.iam_check.templates import Environment

FIXTURE_CA = "tests/fixtures/database-ca.pem"


def _dev_forecast(**database: object) -> dict[str, object]:
    forecast = copy.deepcopy(read_cdk_context()["environments"]["dev"]["forecast"])
    forecast["database"].update(database)
    return forecast


VARIANTS = {
    "dev": lambda: synthesize("dev"),
    "china": lambda: synthesize("china"),
    "rotation, imported VPC": lambda: synthesize("dev", {"forecast": forecast_with_rotation()}),
    "given image URI": lambda: synthesize(
        "dev",
        {"standardize": {"imageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/standardize:1.2"}},
    ),
    "CA bundle": lambda: synthesize("dev", {"forecast": _dev_forecast(caBundle=FIXTURE_CA)}),
    "no forecast": lambda: synthesize("dev", {"forecast": None}),
    "logs KMS key": lambda: synthesize("dev", {"logs": {"kmsKey": True}}),
}


@cache
def variant(name: str) -> Synthesized:
    return VARIANTS[name]()


@pytest.mark.parametrize(
    "name",
    # dev in make check's inner loop; each variant synthesizes and evaluates again (4 s or more)
    [pytest.param(name, marks=() if name == "dev" else pytest.mark.slow) for name in sorted(VARIANTS)],
)
def test_every_request_is_allowed_and_every_statement_is_needed_or_explained(name: str) -> None:
    s = variant(name)
    results, _ = check_folder(s.outdir)
    assert len(results) > 50
    denied = [describe(r) for r in results if not r.decision.allowed]
    assert denied == []
    principals = Principals(Environment(s.outdir))
    requests, _ = concrete_requests(principals, load_inventory())
    usage = statement_usage(principals, requests)
    unexplained = [
        str(st) for st, needing in usage.items() if not needing and str(st) not in load_inventory().unused
    ]
    assert unexplained == []


def test_every_alarm_of_the_app_may_publish_to_the_alerts_topic() -> None:
    """The defect this check was built for: without the topic's CloudWatch statement no alarm notifies
    (eleven alarms, the forecast's "the model won no series" among them)."""
    s = variant("dev")
    results, _ = check_folder(s.outdir)
    alarms = [r for r in results if r.request.principal == "service:cloudwatch.amazonaws.com"]
    sources = {dict(r.request.context)["aws:SourceArn"] for r in alarms if r.request.action == "sns:Publish"}
    assert len(sources) == 11 and all(r.decision.allowed for r in alarms)


def _delete_statement(folder: Path, target: Path, stack: str, logical_id: str, match: str) -> None:
    """Copy ``folder`` to ``target``, less the statement of ``logical_id`` whose JSON holds ``match``."""
    shutil.copytree(folder, target)
    (template_file,) = target.glob(f"*-{stack}.template.json")
    template = json.loads(template_file.read_text())
    props = template["Resources"][logical_id]["Properties"]
    document = props.get("PolicyDocument") or props.get("KeyPolicy")
    before = len(document["Statement"])
    document["Statement"] = [s for s in document["Statement"] if match not in json.dumps(s)]
    assert len(document["Statement"]) == before - 1, f"{match!r} must name one statement of {logical_id}"
    template_file.write_text(json.dumps(template))


def _logical_id(folder: Path, stack: str, resource_type: str, path_part: str) -> str:
    (template_file,) = folder.glob(f"*-{stack}.template.json")
    found = [
        lid
        for lid, r in json.loads(template_file.read_text())["Resources"].items()
        if r["Type"] == resource_type and path_part in r.get("Metadata", {}).get("aws:cdk:path", "")
    ]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(
    ("stack", "resource_type", "path_part", "match", "denied_action"),
    [
        ("Shared", "AWS::SNS::TopicPolicy", "Alerts/Topic", "AlarmsOfThisAccount", "sns:Publish"),
        ("Shared", "AWS::KMS::Key", "Alerts/Key", "cloudwatch.amazonaws.com", "kms:GenerateDataKey"),
        ("Standardize", "AWS::IAM::Policy", "Trigger/Role", "states:StartExecution", "states:StartExecution"),
        ("Forecast", "AWS::IAM::Policy", "WriteForecast/Role", "TellMissingForecast", "s3:ListBucket"),
        ("Forecast", "AWS::IAM::Policy", "Forecast/States/Role", "SyncEventsRules", "events:PutRule"),
        ("Forecast", "AWS::IAM::Policy", "Forecast/States/Role", "PassSageMakerRole", "iam:PassRole"),
        ("Forecast", "AWS::EC2::VPCEndpoint", "Network/Vpc/S3", "AppBuckets", "s3:GetObject"),
    ],
)
def test_deleting_a_needed_statement_from_the_template_is_caught(
    tmp_path: Path, stack: str, resource_type: str, path_part: str, match: str, denied_action: str
) -> None:
    folder = variant("dev").outdir
    mutated = tmp_path / "mutated"
    _delete_statement(folder, mutated, stack, _logical_id(folder, stack, resource_type, path_part), match)
    results, _ = check_folder(mutated)
    denied = {r.request.action for r in results if not r.decision.allowed}
    assert denied_action in denied


def test_every_needed_statement_is_caught_when_it_is_missing() -> None:
    """The mutation check over all the app's Allow statements: each is needed by a request (its
    deletion denies one) or stays for a written reason."""
    s = variant("dev")
    principals = Principals(Environment(s.outdir))
    requests, _ = concrete_requests(principals, load_inventory())
    usage = statement_usage(principals, requests)
    needed = [st for st, needing in usage.items() if needing]
    assert len(needed) > 50
    assert {str(st) for st, needing in usage.items() if not needing} <= set(load_inventory().unused)


def test_the_command_exits_1_and_names_the_request_and_the_missing_allow(tmp_path: Path) -> None:
    folder = variant("dev").outdir
    run = [sys.executable, "-m", "tools.iam_check"]
    ok = subprocess.run([*run, str(folder)], capture_output=True, text=True, cwd=ROOT, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert " 0 denied;" in ok.stdout and "without a reason" in ok.stdout
    mutated = tmp_path / "mutated"
    key = _logical_id(folder, "Shared", "AWS::SNS::TopicPolicy", "Alerts/Topic")
    _delete_statement(folder, mutated, "Shared", key, "AlarmsOfThisAccount")
    bad = subprocess.run([*run, str(mutated)], capture_output=True, text=True, cwd=ROOT, check=False)
    assert bad.returncode == 1
    denied = [line for line in bad.stdout.splitlines() if line.startswith("  DENIED ")]
    assert len(denied) == 11  # every alarm of the app
    assert all(
        "service:cloudwatch.amazonaws.com sns:Publish arn:aws:sns:us-east-1:111111111111:" in d
        for d in denied
    )
    assert all("no statement allows sns:Publish" in d for d in denied)
