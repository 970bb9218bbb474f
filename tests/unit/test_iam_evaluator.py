"""The IAM evaluator against hand-made policies whose AWS outcome is known, allowed and denied alike.

Every case runs in one batch (one ``node`` process); each test looks up its own decision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from tests.ci import missing
from tools.iam_check import evaluator
from tools.iam_check.evaluator import Decision, EvaluatorUnavailable, Outcome, Request, evaluate

ACCOUNT = "111111111111"
OTHER = "222222222222"
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/worker"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"
ALARM = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:high-error-rate"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:forecast"
DATASET = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:dataset/forecast"
CN_ROLE = f"arn:aws-cn:iam::{ACCOUNT}:role/worker"
CN_TOPIC = f"arn:aws-cn:sns:cn-north-1:{ACCOUNT}:alerts"
CN_KEY = f"arn:aws-cn:kms:cn-north-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
CN_MACHINE = f"arn:aws-cn:states:cn-north-1:{ACCOUNT}:stateMachine:forecast"
TLS = {"aws:SecureTransport": "true"}


def policy(*statements: Mapping[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: str | list[str], resource: str, sid: str | None = None) -> dict[str, Any]:
    return {**({"Sid": sid} if sid else {}), "Effect": "Allow", "Action": action, "Resource": resource}


def grant(
    principal: Mapping[str, Any] | str, action: str | list[str], resource: str = "*", **extra: Any
) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": resource, **extra}


def trust(principal: Mapping[str, Any], sid: str = "Trust", **extra: Any) -> dict[str, Any]:
    return policy(
        {"Sid": sid, "Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole", **extra}
    )


# A topic created with enforce_ssl=True: its policy holds only the SSL-only Deny.
SSL_ONLY = {
    "Sid": "AllowPublishThroughSSLOnly",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "sns:Publish",
    "Resource": TOPIC,
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
ALARM_GRANT = {
    "Sid": "AlarmsPublish",
    **grant({"Service": "cloudwatch.amazonaws.com"}, "sns:Publish", TOPIC),
    "Condition": {"ArnLike": {"aws:SourceArn": ALARM}, "StringEquals": {"aws:SourceAccount": ACCOUNT}},
}
TOPIC_POLICY = policy(SSL_ONLY, ALARM_GRANT)
PUBLISH = policy(allow("sns:Publish", TOPIC, "Publish"))
ALARM_CONTEXT = {**TLS, "aws:SourceArn": ALARM, "aws:SourceAccount": ACCOUNT}
KEY_ADMIN_ONLY = policy(grant({"AWS": f"arn:aws:iam::{ACCOUNT}:role/admin"}, "kms:*"))
KEY_DELEGATED = policy({"Sid": "EnableIAM", **grant({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "kms:*")})
USE_KEY = policy(allow(["kms:Decrypt", "kms:GenerateDataKey*"], KEY, "UseKey"))
STATES_TRUST = trust(
    {"Service": "states.amazonaws.com"},
    Condition={"StringEquals": {"aws:SourceAccount": ACCOUNT}, "ArnLike": {"aws:SourceArn": MACHINE}},
)
STATES_CONTEXT = {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": MACHINE}


@dataclass(frozen=True)
class Case:
    request: Request
    expected: Outcome
    explain: str = ""  # a substring of Decision.explain


def case(
    id: str,
    expected: Outcome,
    explain: str = "",
    *,
    principal: str = ROLE,
    action: str = "sns:Publish",
    resource: str = TOPIC,
    account: str = ACCOUNT,
    identity: Sequence[Mapping[str, Any]] = (),
    resource_policy: Mapping[str, Any] | None = None,
    context: Mapping[str, str | Sequence[str]] | None = None,
    trust: bool = False,
) -> Case:
    request = Request(
        id=id,
        principal=principal,
        action=action,
        resource=resource,
        resource_account=account,
        identity_policies=identity,
        resource_policy=resource_policy,
        context=TLS if context is None else context,
        trust=trust,
    )
    return Case(request, expected, explain)


CASES = [
    # (a) a service principal is allowed by the resource policy alone, conditions included.
    case("a-alarm-publishes", "Allowed", 'statement "AlarmsPublish"',
         principal="cloudwatch.amazonaws.com", resource_policy=TOPIC_POLICY, context=ALARM_CONTEXT),
    case("a-other-alarm", "ImplicitlyDenied", "no statement allows sns:Publish",
         principal="cloudwatch.amazonaws.com", resource_policy=TOPIC_POLICY,
         context={**ALARM_CONTEXT, "aws:SourceArn": ALARM + "-other"}),
    case("a-ssl-only-topic", "ImplicitlyDenied", "no statement allows sns:Publish",
         principal="cloudwatch.amazonaws.com", resource_policy=policy(SSL_ONLY), context=ALARM_CONTEXT),
    # (b) same account: either side suffices; a grant to the account root delegates to IAM.
    case("b-identity-only", "Allowed", 'identityPolicies[0] statement "Publish"',
         identity=[PUBLISH], resource_policy=TOPIC_POLICY),
    case("b-resource-names-role", "Allowed", "resourcePolicy statement #1",
         resource_policy=policy(grant({"AWS": ROLE}, "sns:Publish", TOPIC))),
    case("b-resource-names-root-only", "ImplicitlyDenied", "no identity statement allows sns:Publish",
         resource_policy=policy(grant({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "sns:Publish", TOPIC))),
    case("b-cross-account-identity-only", "ImplicitlyDenied", "allows sns:Publish, but no resourcePolicy",
         principal=f"arn:aws:iam::{OTHER}:role/worker", identity=[PUBLISH], resource_policy=TOPIC_POLICY),
    case("b-nothing", "ImplicitlyDenied", "no statement allows sns:Publish", resource_policy=TOPIC_POLICY),
    # (c) KMS: the key policy must let IAM decide (account root), and then IAM must allow.
    case("c-delegated-and-identity", "Allowed", '"EnableIAM" (delegates to the account)',
         action="kms:Decrypt", resource=KEY, identity=[USE_KEY], resource_policy=KEY_DELEGATED),
    case("c-generate-data-key-pattern", "Allowed", 'identityPolicies[0] statement "UseKey"',
         action="kms:GenerateDataKey", resource=KEY, identity=[USE_KEY], resource_policy=KEY_DELEGATED),
    case("c-delegated-no-identity", "ImplicitlyDenied", "no identity statement allows kms:Decrypt",
         action="kms:Decrypt", resource=KEY, resource_policy=KEY_DELEGATED),
    case("c-identity-without-delegation", "ImplicitlyDenied", "allows kms:Decrypt, but no resourcePolicy",
         action="kms:Decrypt", resource=KEY, identity=[USE_KEY], resource_policy=KEY_ADMIN_ONLY),
    case("c-key-policy-names-role", "Allowed", "resourcePolicy statement #1",
         action="kms:Decrypt", resource=KEY, resource_policy=policy(grant({"AWS": ROLE}, "kms:Decrypt"))),
    # (d) role trust policies, with the confused-deputy conditions.
    case("d-states-assumes", "Allowed", 'trust policy statement "Trust"',
         principal="states.amazonaws.com", action="sts:AssumeRole", resource=ROLE,
         resource_policy=STATES_TRUST, context=STATES_CONTEXT, trust=True),
    case("d-other-source-account", "ImplicitlyDenied", "no statement allows sts:AssumeRole",
         principal="states.amazonaws.com", action="sts:AssumeRole", resource=ROLE,
         resource_policy=STATES_TRUST, context={**STATES_CONTEXT, "aws:SourceAccount": OTHER}, trust=True),
    case("d-no-source-context", "ImplicitlyDenied", "no statement allows sts:AssumeRole",
         principal="states.amazonaws.com", action="sts:AssumeRole", resource=ROLE,
         resource_policy=STATES_TRUST, context={}, trust=True),
    case("d-other-service", "ImplicitlyDenied", "no statement allows sts:AssumeRole",
         principal="lambda.amazonaws.com", action="sts:AssumeRole", resource=ROLE,
         resource_policy=STATES_TRUST, context=STATES_CONTEXT, trust=True),
    case("d-same-account-role-not-trusted", "ImplicitlyDenied", "but no trust policy statement",
         principal=f"arn:aws:iam::{ACCOUNT}:role/caller", action="sts:AssumeRole", resource=ROLE,
         identity=[policy(allow("sts:AssumeRole", ROLE))], resource_policy=STATES_TRUST, trust=True),
    case("d-account-trusted-and-identity", "Allowed", '"Account" (delegates to the account)',
         principal=f"arn:aws:iam::{ACCOUNT}:role/caller", action="sts:AssumeRole", resource=ROLE,
         identity=[policy(allow("sts:AssumeRole", ROLE))], trust=True,
         resource_policy=trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, sid="Account")),
    # (e) aws-cn: the same rules on arn:aws-cn ARNs; service principals keep their global names.
    case("e-cn-states-assumes", "Allowed", 'trust policy statement "Trust"',
         principal="states.amazonaws.com", action="sts:AssumeRole", resource=CN_ROLE, trust=True,
         resource_policy=trust({"Service": "states.amazonaws.com"},
                               Condition={"ArnLike": {"aws:SourceArn": CN_MACHINE}}),
         context={"aws:SourceArn": CN_MACHINE}),
    case("e-cn-other-machine", "ImplicitlyDenied", "no statement allows sts:AssumeRole",
         principal="states.amazonaws.com", action="sts:AssumeRole", resource=CN_ROLE, trust=True,
         resource_policy=trust({"Service": "states.amazonaws.com"},
                               Condition={"ArnLike": {"aws:SourceArn": CN_MACHINE}}),
         context={"aws:SourceArn": CN_MACHINE + "-other"}),
    case("e-cn-dot-cn-service-principal", "Allowed", "trust policy statement",
         principal="states.amazonaws.com.cn", action="sts:AssumeRole", resource=CN_ROLE, trust=True,
         resource_policy=trust({"Service": "states.amazonaws.com.cn"})),
    case("e-cn-dot-cn-is-not-the-global-name", "ImplicitlyDenied", "no statement allows sts:AssumeRole",
         principal="states.amazonaws.com.cn", action="sts:AssumeRole", resource=CN_ROLE, trust=True,
         resource_policy=trust({"Service": "states.amazonaws.com"})),
    case("e-cn-kms-delegated", "Allowed", "(delegates to the account)",
         principal=CN_ROLE, action="kms:Decrypt", resource=CN_KEY,
         identity=[policy(allow("kms:Decrypt", CN_KEY))],
         resource_policy=policy(grant({"AWS": f"arn:aws-cn:iam::{ACCOUNT}:root"}, "kms:*"))),
    case("e-cn-kms-not-delegated", "ImplicitlyDenied", "allows kms:Decrypt, but no resourcePolicy",
         principal=CN_ROLE, action="kms:Decrypt", resource=CN_KEY,
         identity=[policy(allow("kms:Decrypt", CN_KEY))],
         resource_policy=policy(grant({"AWS": f"arn:aws-cn:iam::{ACCOUNT}:role/admin"}, "kms:*"))),
    case("e-cn-identity-publish", "Allowed", "identityPolicies[0]", principal=CN_ROLE, resource=CN_TOPIC,
         identity=[policy(allow("sns:Publish", f"arn:aws-cn:sns:*:{ACCOUNT}:*"))]),
    case("e-cn-policy-with-aws-arns", "Error", "partition aws", principal=CN_ROLE, resource=CN_TOPIC,
         identity=[PUBLISH]),
    # (f) the SSL-only Deny wins over every Allow when the call is plain HTTP.
    case("f-https", "Allowed", 'identityPolicies[0] statement "Publish"',
         identity=[PUBLISH], resource_policy=TOPIC_POLICY),
    case("f-http", "ExplicitlyDenied", 'Deny by resourcePolicy statement "AllowPublishThroughSSLOnly"',
         identity=[PUBLISH], resource_policy=policy(SSL_ONLY, grant({"AWS": ROLE}, "sns:Publish", TOPIC)),
         context={"aws:SecureTransport": "false"}),
    case("f-http-alarm", "ExplicitlyDenied", '"AllowPublishThroughSSLOnly"',
         principal="cloudwatch.amazonaws.com", resource_policy=TOPIC_POLICY,
         context={**ALARM_CONTEXT, "aws:SecureTransport": "false"}),
    case("f-identity-deny", "ExplicitlyDenied", 'identityPolicies[1] statement "NoHttp"',
         identity=[PUBLISH, policy({"Sid": "NoHttp", "Effect": "Deny", "Action": "*", "Resource": "*",
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}}})],
         context={"aws:SecureTransport": "false"}),
    # "*" as the resource: only Resource "*" grants an action whose resource types are all optional.
    case("star-put-metric-data", "Allowed", 'identityPolicies[0] statement "Metrics"',
         action="cloudwatch:PutMetricData", resource="*", context={**TLS, "cloudwatch:namespace": "Forecast"},
         identity=[policy({**allow("cloudwatch:PutMetricData", "*", "Metrics"),
                           "Condition": {"StringEquals": {"cloudwatch:namespace": "Forecast"}}})]),
    case("star-put-metric-data-dataset-only", "ImplicitlyDenied", "no statement allows",
         action="cloudwatch:PutMetricData", resource="*",
         identity=[policy(allow("cloudwatch:PutMetricData", DATASET))]),
    case("star-list-topics", "Allowed", "identityPolicies[0] statement #1",
         action="sns:ListTopics", resource="*", identity=[policy(allow("sns:List*", "*"))]),
    # (g) mistakes are errors, never a quiet deny.
    case("g-star-for-a-resource-action", "Error", "needs a resource (log-group)",
         action="logs:CreateLogGroup", resource="*", identity=[policy(allow("logs:*", "*"))]),
    case("g-resource-for-a-star-only-action", "Error", 'takes only resource "*"',
         action="sns:ListTopics", identity=[policy(allow("sns:ListTopics", "*"))]),
    case("g-unknown-action", "Error", "unknown action sns:Publsh", action="sns:Publsh", identity=[PUBLISH]),
    case("g-unknown-service", "Error", "unknown service", action="snz:Publish", identity=[PUBLISH]),
    case("g-malformed-arn", "Error", "takes no resource like",
         resource=f"arn:aws:sns:{REGION}:alerts", identity=[PUBLISH]),
    case("g-wrong-resource-type", "Error", "takes no resource like", resource=KEY, identity=[PUBLISH]),
    case("g-misspelt-policy-action", "Error", 'unknown action "sns:Publsh"',
         identity=[PUBLISH, policy({"Effect": "Deny", "Action": "sns:Publsh", "Resource": "*"})]),
    case("g-pattern-matching-nothing", "Error", "matches no action",
         identity=[policy(allow("sns:Pub*x", TOPIC))]),
    case("g-invalid-policy", "Error", "Effect",
         identity=[policy({"Effect": "Allw", "Action": "sns:Publish", "Resource": "*"})]),
    case("g-context-key-of-another-service", "Error", "do not apply to sns:Publish: s3:prefix",
         identity=[PUBLISH], context={**TLS, "s3:prefix": "x"}),
    case("g-wildcard-resource", "Error", "has a wildcard",
         resource=f"arn:aws:sns:{REGION}:{ACCOUNT}:*", identity=[PUBLISH]),
    case("g-not-a-principal", "Error", "neither an ARN nor a service principal",
         principal="worker", identity=[PUBLISH]),
    case("g-account-mismatch", "Error", "is not resourceAccount", account=OTHER, identity=[PUBLISH]),
    case("g-service-with-identity-policy", "Error", "no identity policies",
         principal="cloudwatch.amazonaws.com", identity=[PUBLISH], resource_policy=TOPIC_POLICY,
         context=ALARM_CONTEXT),
    case("g-trust-without-role", "Error", "not a role ARN",
         principal="states.amazonaws.com", action="sts:AssumeRole", resource=TOPIC,
         resource_policy=STATES_TRUST, trust=True),
]  # fmt: skip


@pytest.fixture(scope="module")
def decisions() -> dict[str, Decision]:
    try:
        return {d.id: d for d in evaluate([c.request for c in CASES])}
    except EvaluatorUnavailable as exc:
        missing("the IAM evaluator", str(exc))


@pytest.mark.parametrize("case", CASES, ids=[c.request.id for c in CASES])
def test_the_evaluator_decides_as_aws_does(decisions: dict[str, Decision], case: Case) -> None:
    decision = decisions[case.request.id]
    assert decision.decision == case.expected, decision
    assert case.explain in decision.explain
    assert bool(decision.errors) == (case.expected == "Error")


def test_decisions_keep_the_order_of_the_requests(decisions: dict[str, Decision]) -> None:
    assert list(decisions) == [c.request.id for c in CASES]


def test_an_empty_batch_starts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    assert evaluate([]) == []


def test_ids_must_be_unique() -> None:
    request = CASES[0].request
    with pytest.raises(ValueError, match="unique"):
        evaluate([request, request])


def test_without_node_it_says_to_run_make_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(EvaluatorUnavailable, match="run make setup"):
        evaluate([CASES[0].request])


def test_without_the_package_it_says_to_run_make_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evaluator, "_PACKAGE", evaluator.ROOT / "node_modules" / "@cloud-copilot" / "absent")
    with pytest.raises(EvaluatorUnavailable, match="run make setup"):
        evaluate([CASES[0].request])


def test_a_vpc_endpoint_policy_limits_what_passes_through_it() -> None:
    """Through an endpoint, both the identity policy and the endpoint's policy must allow."""
    get = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/*"}
    identity = {"Version": "2012-10-17", "Statement": [get]}
    endpoint = {"Version": "2012-10-17", "Statement": [{**get, "Principal": "*"}]}
    other = {
        "Version": "2012-10-17",
        "Statement": [{**get, "Principal": "*", "Resource": "arn:aws:s3:::other/*"}],
    }
    context = {"aws:SecureTransport": "true"}
    requests = [
        Request(
            name,
            ROLE,
            "s3:GetObject",
            "arn:aws:s3:::data/key",
            ACCOUNT,
            [identity],
            None,
            context,
            False,
            policies,
        )
        for name, policies in (("none", ()), ("admits", (endpoint,)), ("elsewhere", (other,)))
    ]
    decisions = {d.id: d.decision for d in evaluate(requests)}
    assert decisions == {"none": "Allowed", "admits": "Allowed", "elsewhere": "ImplicitlyDenied"}
