"""The smoke's operator policy (tools/smoke/operator-policy.json) allows every call an offline smoke
run makes, each statement is needed, and nothing outside the smoke's objects is allowed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from localrun.deployed import DeployedClients, deploy
from localrun.runner import Printer, open_session
from tests.localrun.runner_support import fake_deepar
from tools.iam_check import evaluator
from tools.smoke.__main__ import OFFLINE_PACE
from tools.smoke.context import Smoke
from tools.smoke.deployment import read_deployment
from tools.smoke.policy import UnmappedCall, Where, iam_requests, render
from tools.smoke.run import run_smoke

#: Statements an offline run cannot exercise: the workflow needs Glue, the secret a server database.
NOT_OFFLINE = {"ForecastWorkflow", "ForecastDatabaseSecret"}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[evaluator.Request]]:
    """The rendered policy and the IAM requests of one full offline smoke run (forecast on SQLite)."""
    workdir = tmp_path_factory.mktemp("smoke-policy")
    with open_session("dev", workdir=workdir, allow_mariadb=False, printer=Printer(False)) as session:
        fake_deepar(session)
        deploy(session)
        clients = DeployedClients(session)
        report = run_smoke(
            Smoke(clients, session.env, pace=OFFLINE_PACE, say=lambda _: None), forecast=True, skip_etl=True
        )
        assert report.ok, report.failure
        deployment = read_deployment(clients("cloudformation"), session.env, forecast=True)
        account = session.alerts_arn.split(":")[4]
        policy = render(session.env, deployment, account)
        where = Where(session.env.partition, session.env.region, account)
        requests = [
            request(f"r{i}-{j}", account, action, resource, context)
            for i, (service, operation, params) in enumerate(clients.calls)
            for j, (action, resource, context) in enumerate(iam_requests(service, operation, params, where))
        ]
    return policy, requests


def request(
    rid: str,
    account: str,
    action: str,
    resource: str,
    context: Mapping[str, str | Sequence[str]],
    policy: dict[str, Any] | None = None,
) -> evaluator.Request:
    return evaluator.Request(
        id=rid,
        principal=f"arn:aws:iam::{account}:role/smoke-operator",
        action=action,
        resource=resource,
        resource_account=account,
        identity_policies=[policy] if policy else [],
        context=context,
    )


def with_policy(requests: list[evaluator.Request], policy: dict[str, Any]) -> list[evaluator.Request]:
    return [request(r.id, r.resource_account, r.action, r.resource, r.context, policy) for r in requests]


def test_the_policy_allows_every_call_of_a_smoke_run(
    recorded: tuple[dict[str, Any], list[evaluator.Request]],
) -> None:
    policy, requests = recorded
    assert len(requests) > 40
    denied = [
        (r.action, r.resource)
        for r, d in zip(requests, evaluator.evaluate(with_policy(requests, policy)), strict=True)
        if not d.allowed
    ]
    assert denied == []


def test_each_statement_is_needed(recorded: tuple[dict[str, Any], list[evaluator.Request]]) -> None:
    """Without any one statement some call is denied (every variant in one evaluator run)."""
    policy, requests = recorded
    statements = policy["Statement"]
    batch = []
    for index in range(len(statements)):
        without = {**policy, "Statement": statements[:index] + statements[index + 1 :]}
        batch += [
            request(f"{index}:{r.id}", r.resource_account, r.action, r.resource, r.context, without)
            for r in requests
        ]
    denied = {int(d.id.split(":")[0]) for d in evaluator.evaluate(batch) if not d.allowed}
    unused = {s["Sid"] for index, s in enumerate(statements) if index not in denied}
    assert unused == NOT_OFFLINE - {"ForecastDatabaseSecret"}, "a statement no offline call needs"


def test_the_policy_reaches_no_object_or_alarm_beyond_the_smokes(
    recorded: tuple[dict[str, Any], list[evaluator.Request]],
) -> None:
    policy, requests = recorded
    bucket = next(r.resource for r in requests if r.action == "s3:PutObject").split(":::")[1].split("/")[0]
    account = requests[0].resource_account
    outside = [
        ("s3:PutObject", f"arn:aws:s3:::{bucket}/meta-data/partition_1.csv"),
        ("s3:DeleteObjectVersion", f"arn:aws:s3:::{bucket}/prediction-data/1/partition_1.csv"),
        ("s3:DeleteObject", f"arn:aws:s3:::{bucket}/forecast/run-1/data/train.json"),
        ("cloudwatch:SetAlarmState", f"arn:aws:cloudwatch:us-east-1:{account}:alarm:another-app-alarm"),
        ("sqs:DeleteQueue", f"arn:aws:sqs:us-east-1:{account}:ml-pipelines-dev-trigger-failures"),
    ]
    probes = [
        request(f"o{i}", account, action, resource, {}, policy)
        for i, (action, resource) in enumerate(outside)
    ]
    assert [d.allowed for d in evaluator.evaluate(probes)] == [False] * len(outside)


def test_a_call_the_policy_does_not_know_is_an_error() -> None:
    with pytest.raises(UnmappedCall, match="the smoke calls s3:DeleteBucket: map its IAM request"):
        iam_requests("s3", "DeleteBucket", {"Bucket": "b"}, Where("aws", "us-east-1", "123456789012"))


def test_the_policy_of_an_environment_without_forecast_has_no_forecast_statement(tmp_path: Path) -> None:
    with open_session("dev", workdir=tmp_path, forecast=False, printer=Printer(False)) as session:
        deploy(session)
        deployment = read_deployment(session.aws.client("cloudformation"), session.env, forecast=False)
        policy = render(session.env, deployment)
    assert [s["Sid"] for s in policy["Statement"] if s["Sid"].startswith("Forecast")] == []
    assert "${" not in str(policy)
