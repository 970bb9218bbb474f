"""Evaluate IAM requests the way AWS does, many in one ``node`` process.

The evaluator is the npm package ``@cloud-copilot/iam-simulate`` (AGPL-3.0, a development-only
devDependency that is never bundled into a deployed asset), driven by ``simulate.mjs`` next to this
file. Each :class:`Request` names a principal, an action and one resource, with the identity policies
of the principal and the resource's policy (a bucket or topic policy, a KMS key policy, or with
``trust=True`` a role's trust policy). No SCPs, RCPs, permission boundaries or session policies.

What the evaluator follows, as AWS does:

* a service principal (``cloudwatch.amazonaws.com``) is allowed only by the resource policy;
* same account: an identity Allow suffices when the resource policy is silent, and a resource
  policy naming the principal's ARN suffices alone; naming the account (``:root``) delegates to
  the identity policies; cross account needs both sides;
* KMS keys and role trust policies do not trust identity policies unless the key or trust policy
  names the account (``arn:aws:iam::ACCT:root``), and then an identity Allow is needed too;
* an explicit Deny anywhere wins.

``resource`` is one ARN, or ``"*"`` when the call names no resource (then, as in AWS, only
statements with ``Resource: "*"`` grant it). Condition keys are evaluated as given: a key missing
from ``context`` is absent (AWS always sets ``aws:SecureTransport``, so pass it). ``simulate.mjs``
turns into an ``Error`` decision what the package would pass silently: misspelt actions in a
policy, context keys that do not apply to the action, ARNs of another partition, wildcard
resources, and principals that are neither ARNs nor service principals.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).resolve().with_name("simulate.mjs")
_PACKAGE = ROOT / "node_modules" / "@cloud-copilot" / "iam-simulate"
_TIMEOUT_SECONDS = 600

Outcome = Literal["Allowed", "ImplicitlyDenied", "ExplicitlyDenied", "Error"]
PolicyDocument = Mapping[str, Any]


class EvaluatorUnavailable(RuntimeError):
    """``node`` or ``@cloud-copilot/iam-simulate`` is missing: ``make setup`` installs them."""


@dataclass(frozen=True)
class Request:
    """One API call: ``principal`` calls ``action`` on ``resource``, owned by ``resource_account``."""

    id: str
    principal: str  # an IAM ARN, or a service principal such as "states.amazonaws.com"
    action: str  # "service:Action"
    resource: str  # one ARN, or "*" for an action that only takes "*"
    resource_account: str
    identity_policies: Sequence[PolicyDocument] = ()
    resource_policy: PolicyDocument | None = None
    context: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    trust: bool = False  # resource_policy is the trust policy of the role `resource`
    endpoint_policies: Sequence[PolicyDocument] = ()  # the VPC endpoints the request goes through

    def as_json(self) -> dict[str, Any]:
        """The request as ``simulate.mjs`` reads it."""
        return {
            "id": self.id,
            "principal": self.principal,
            "action": self.action,
            "resource": self.resource,
            "resourceAccount": self.resource_account,
            "context": {k: v if isinstance(v, str) else list(v) for k, v in self.context.items()},
            "identityPolicies": list(self.identity_policies),
            "resourcePolicy": self.resource_policy,
            "trust": self.trust,
            "vpcEndpointPolicies": list(self.endpoint_policies),
        }


@dataclass(frozen=True)
class Decision:
    """The outcome of one :class:`Request`; ``explain`` names the statement that decided."""

    id: str
    decision: Outcome
    explain: str
    errors: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.decision == "Allowed"


def _check_available() -> str:
    node = shutil.which("node")
    if node is None:
        raise EvaluatorUnavailable("node is not on PATH: run make setup (and install Node.js)")
    if not (_PACKAGE / "package.json").is_file():
        raise EvaluatorUnavailable(f"{_PACKAGE.relative_to(ROOT)} is missing: run make setup")
    return node


def evaluate(requests: Sequence[Request]) -> list[Decision]:
    """Evaluate ``requests`` in one ``node`` process; the decisions come back in the same order."""
    if not requests:
        return []
    ids = [r.id for r in requests]
    if len(set(ids)) != len(ids):
        raise ValueError("request ids must be unique")
    node = _check_available()
    try:
        completed = subprocess.run(
            [node, str(SCRIPT)],
            input=json.dumps([r.as_json() for r in requests]),
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{SCRIPT.name} took more than {_TIMEOUT_SECONDS} s") from exc
    if completed.returncode != 0:
        stderr = completed.stderr.strip()
        if "ERR_MODULE_NOT_FOUND" in stderr:
            raise EvaluatorUnavailable(f"{SCRIPT.name} cannot load its packages: run make setup\n{stderr}")
        raise RuntimeError(f"{SCRIPT.name} failed ({completed.returncode}):\n{stderr}")
    raw = cast(list[dict[str, Any]], json.loads(completed.stdout))
    decisions = [
        Decision(
            id=item["id"],
            decision=item["decision"],
            explain=item["explain"],
            errors=tuple(item.get("errors", ())),
        )
        for item in raw
    ]
    if [d.id for d in decisions] != ids:
        raise RuntimeError(f"{SCRIPT.name} answered other requests than it was asked")
    return decisions
