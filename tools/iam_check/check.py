"""Every request of the inventory, resolved for one environment's templates and evaluated.

Resolution turns an inventory request into concrete ones:

- ``{partition}``, ``{region}``, ``{account}``, ``{url_suffix}``: the stacks' environment;
- ``{env:<function>:<VAR>}``: that function's deployed environment;
- ``{arn:<unit>:<path>}``, ``{ref:...}``: the resource at that construct path;
- ``{prop:<unit>:<path>:<A.B>}``: one of its properties; ``{s3-object:...}`` the ARN of a
  property's ``s3://`` URI; ``{ecr-repo:...}`` the repository of an image URI of this account;
- ``{each-arn:<CloudFormation type>}``: one request per resource of that type (every alarm);
- ``*`` (a run-specific part): a sample value.

A request whose principal or resource this environment does not have (no forecast, an imported
VPC, an image of another account) does not apply.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tools.iam_check import evaluator
from tools.iam_check.inventory import Inventory, load_inventory
from tools.iam_check.operations import Request
from tools.iam_check.principals import Policy, Principals, Role
from tools.iam_check.state_machines import derive
from tools.iam_check.templates import Environment, Resource, TemplateError

SAMPLE = "x1"  # what a run-specific part (``*``) of a recorded resource becomes
_PLACEHOLDER = re.compile(r"\{([a-z0-9_-]+)(?::([^}]*))?\}")
_KMS_VIA_SNS = ("kms:GenerateDataKey", "kms:Decrypt")


class NotApplicable(LookupError):
    """The environment lacks the principal or resource an inventory request names."""


@dataclass(frozen=True)
class Concrete:
    """One resolved request and where it came from (``origin``: the inventory entry or derivation)."""

    principal: str  # inventory principal
    action: str
    resource: str
    context: tuple[tuple[str, str], ...]
    origin: str

    @property
    def trust(self) -> bool:
        """A role's assumption, decided by that role's trust policy."""
        return self.action == "sts:AssumeRole"


class Resolver:
    def __init__(self, principals: Principals) -> None:
        self.p = principals
        self.env = principals.env

    def values(self, text: str) -> list[str]:
        """Every value ``text`` resolves to (more than one only for ``{each-arn:...}``)."""
        options: list[list[str]] = []
        pieces: list[str] = []
        last = 0
        for match in _PLACEHOLDER.finditer(text):
            pieces.append(text[last : match.start()])
            options.append(self._placeholder(match.group(1), match.group(2) or ""))
            last = match.end()
        tail = text[last:]
        results = []
        for chosen in itertools.product(*options):
            out = "".join(p + c for p, c in zip(pieces, chosen, strict=True)) + tail
            results.append(out.replace("*", SAMPLE) if out != "*" else out)
        return results

    def _placeholder(self, kind: str, arg: str) -> list[str]:
        env = self.env
        if kind in ("partition", "region", "account", "url_suffix"):
            return [getattr(env, kind)]
        if kind == "env":
            function, variable = arg.split(":")
            try:
                value = self.p.function_environment(function).get(variable)
            except TemplateError as exc:
                raise NotApplicable(str(exc)) from None
            if not value:
                raise NotApplicable(f"{function} has no {variable}")
            return [value]
        if kind in ("arn", "ref"):
            res = self._resource(arg)
            return [env.arn(res) if kind == "arn" else env.ref(res)]
        if kind in ("prop", "s3-object"):
            return [self._property(kind, arg)]
        if kind == "ecr-repo":  # an image URI of this account and region -> its repository's ARN
            uri = self._property("prop", arg)
            registry, _, repository = uri.partition("/")
            if registry.split(".")[0] != env.account or f".{env.region}." not in registry:
                raise NotApplicable(f"{uri} is another account's or region's image")
            name = repository.split("@")[0].rsplit(":", 1)[0]
            return [f"arn:{env.partition}:ecr:{env.region}:{env.account}:repository/{name}"]
        if kind == "each-arn":
            arns = [env.arn(r) for r in env.of_type(arg)]
            if not arns:
                raise NotApplicable(f"no {arg}")
            return arns
        raise ValueError(f"unknown placeholder {{{kind}}}")

    def _resource(self, where: str) -> Resource:
        """The resource at ``<unit>:<path>``; :class:`NotApplicable` where there is none."""
        unit, path = where.split(":", 1)
        found = self.env.find(unit, path)
        if found is None:
            raise NotApplicable(f"no resource at {where}")
        return found

    def _property(self, kind: str, arg: str) -> str:
        """``{prop:<unit>:<path>:<A.B>}``: a property of that resource; ``{s3-object:...}`` the ARN
        of the ``s3://`` URI in it."""
        unit, path, dotted = arg.split(":", 2)
        prop: Any = self._resource(f"{unit}:{path}").properties
        try:
            for part in dotted.split("."):
                prop = prop[int(part)] if isinstance(prop, list) else prop[part]
        except (KeyError, IndexError):
            raise NotApplicable(f"{unit}:{path} has no {dotted}") from None
        if kind == "s3-object":
            return f"arn:{self.env.partition}:s3:::{str(prop).removeprefix('s3://')}"
        return str(prop)


def concrete_requests(principals: Principals, inventory: Inventory) -> tuple[list[Concrete], list[str]]:
    """The environment's requests, and the inventory entries that do not apply to it (with why)."""
    resolver = Resolver(principals)
    out: list[Concrete] = []
    skipped: list[str] = []
    jobs: dict[tuple[str, str], str] = {}
    for request in sorted(inventory.recorded):
        if request.principal.startswith("state_machine:"):
            kind = re.findall(r"\}:([a-z-]+)/", request.resource)[0]
            jobs[request.principal.removeprefix("state_machine:"), kind] = request.resource
            continue
        out.extend(_resolve(resolver, request, skipped))
    for request in inventory.aws:
        out.extend(_resolve(resolver, request, skipped))
    for res in principals.env.of_type("AWS::StepFunctions::StateMachine"):
        name = res.stack.lower()
        machine = principals.state_machine(name)
        env = principals.env
        for action, resource, context in derive(
            machine.definition, partition=env.partition, region=env.region, account=env.account
        ):
            if resource.startswith("{job:"):
                kind = resource[5:-1]
                if (name, kind) not in jobs:
                    raise KeyError(f"no recorded {kind} name of the {name} state machine in the inventory")
                resource = jobs[name, kind]
            template = Request(f"state_machine:{name}", action, resource, tuple(sorted(context.items())))
            out.extend(_resolve(resolver, template, skipped, origin=f"derived from the {name} ASL"))
    return _with_kms(principals, out), skipped


def _resolve(
    resolver: Resolver, request: Request, skipped: list[str], origin: str = ""
) -> Iterator[Concrete]:
    label = origin or ("inventory (aws): " + request.source if request.source else "inventory (recorded)")
    try:
        if request.principal.startswith("service:"):
            (principal,) = resolver.values(request.principal)
            request = replace(request, principal=principal)
        else:
            resolver.p.role(request.principal)
        resources = resolver.values(request.resource)
        contexts = [resolver.values(value) for _, value in request.context]
    except (NotApplicable, TemplateError) as exc:
        skipped.append(f"{request.principal} {request.action} {request.resource}: {exc}")
        return
    keys = [key for key, _ in request.context]
    for resource in resources:
        for values in itertools.product(*contexts):
            yield Concrete(
                request.principal,
                request.action,
                resource,
                tuple(zip(keys, values, strict=True)),
                label,
            )


def _with_kms(principals: Principals, requests: list[Concrete]) -> list[Concrete]:
    """Add the KMS requests that using an encrypted topic or secret implies: SNS asks KMS for the
    data key as the publisher (Amazon SNS Developer Guide, "Key management"); Secrets Manager
    decrypts a secret as the reader, with ``kms:ViaService`` (Secrets Manager User Guide, "Secret
    encryption and decryption")."""
    env = principals.env
    topics = {
        env.ref(r): str(r.properties["KmsMasterKeyId"])
        for r in env.of_type("AWS::SNS::Topic")
        if r.properties.get("KmsMasterKeyId")
    }
    secrets = {
        env.ref(r): str(r.properties["KmsKeyId"])
        for r in env.of_type("AWS::SecretsManager::Secret")
        if r.properties.get("KmsKeyId")
    }
    via = ("kms:ViaService", f"secretsmanager.{env.region}.amazonaws.com")
    out = list(requests)
    for request in requests:
        if request.action == "sns:Publish" and request.resource in topics:
            out.extend(
                replace(
                    request, action=a, resource=topics[request.resource], origin=request.origin + "; the key"
                )
                for a in _KMS_VIA_SNS
            )
        if request.action == "secretsmanager:GetSecretValue" and request.resource in secrets:
            out.append(
                replace(
                    request,
                    action="kms:Decrypt",
                    resource=secrets[request.resource],
                    context=(*request.context, via),
                    origin=request.origin + "; the secret's key",
                )
            )
    return out


@dataclass(frozen=True)
class Result:
    request: Concrete
    decision: evaluator.Decision


def _merged(policies: Iterable[tuple[str, Policy]]) -> Policy | None:
    statements = [s for _, policy in policies for s in _statements(policy)]
    return {"Version": "2012-10-17", "Statement": statements} if statements else None


def _statements(policy: Policy) -> list[Mapping[str, Any]]:
    found = policy["Statement"]
    return list(found) if isinstance(found, list) else [found]


def to_evaluator(principals: Principals, request: Concrete, rid: str) -> evaluator.Request:
    env = principals.env
    role: Role | None = None
    if request.principal.startswith("service:"):
        principal = request.principal.removeprefix("service:")
    else:
        role = principals.role(request.principal)
        principal = role.arn
    # What AWS puts in every request's context: TLS, and for a role's session the role's ARN and
    # account; KMS adds the caller's account.
    context = {"aws:SecureTransport": "true", **dict(request.context)}
    if role is not None:
        context.setdefault("aws:PrincipalArn", role.arn)
        context.setdefault("aws:PrincipalAccount", env.account)
    if request.action.startswith("kms:") and role is not None:
        context.setdefault("kms:CallerAccount", env.account)
    if request.trust:
        target = principals.by_arn[request.resource]
        return evaluator.Request(
            rid, principal, request.action, request.resource, env.account,
            resource_policy=target.trust, context=context, trust=True,
        )  # fmt: skip
    through_vpc = role is not None and role.key in principals.in_vpc and request.action.startswith("s3:")
    return evaluator.Request(
        rid,
        principal,
        request.action,
        request.resource,
        env.account,
        identity_policies=[policy for _, policy in role.policies] if role else [],
        resource_policy=_merged(principals.resource_policy(request.resource)),
        context=context,
        endpoint_policies=[policy for _, policy in principals.s3_endpoints] if through_vpc else [],
    )


def evaluate(principals: Principals, requests: list[Concrete]) -> list[Result]:
    batch = [to_evaluator(principals, r, f"r{i}") for i, r in enumerate(requests)]
    return [Result(r, d) for r, d in zip(requests, evaluator.evaluate(batch), strict=True)]


def check_folder(folder: Path, inventory: Inventory | None = None) -> tuple[list[Result], list[str]]:
    principals = Principals(Environment(folder))
    requests, skipped = concrete_requests(principals, inventory or load_inventory())
    return evaluate(principals, requests), skipped


def describe(result: Result) -> str:
    r = result.request
    context = f" {json.dumps(dict(r.context))}" if r.context else ""
    decision = result.decision
    return f"{r.principal} {r.action} {r.resource}{context}: {decision.decision}: {decision.explain}"


@dataclass(frozen=True)
class Statement:
    """An Allow statement of the app's own policies: who holds it, which, and what it allows."""

    holder: str  # a role's key, or the resource or endpoint whose policy it is
    label: str  # its Sid, else its actions (for a role's, after its policy's name)

    def __str__(self) -> str:
        return f"{self.holder}: {self.label}"


#: Roles that CDK makes for its own helper functions (their policies are CDK's, not the app's).
CDK_HELPER_ROLES = ("BucketNotificationsHandler", "Custom::", "LogRetention")


def _label(statement: Mapping[str, Any]) -> str:
    """A statement's Sid, else its actions (CDK writes statements without one; their order moves)."""
    if "Sid" in statement:
        return str(statement["Sid"])
    actions = statement.get("Action", [])
    return ",".join(actions) if isinstance(actions, list) else str(actions)


def _without(policy: Policy, index: int) -> Policy:
    kept = [s for i, s in enumerate(_statements(policy)) if i != index]
    return {**policy, "Statement": kept}


def statement_usage(principals: Principals, requests: list[Concrete]) -> dict[Statement, list[Concrete]]:
    """For each Allow statement of the app's policies, the requests that are denied without it: the
    mutation check (deleting a needed statement must be caught) and least privilege read the other
    way (a statement that no request needs is unused). Each statement is taken out of the policy
    set that holds it (a role's identity policies, a resource's policies, the S3 endpoint's) and
    the requests that set decides are evaluated again, all in one batch."""
    base = [to_evaluator(principals, r, f"r{i}") for i, r in enumerate(requests)]
    role_of = [
        None if r.principal.startswith("service:") else principals.role(r.principal).key for r in requests
    ]
    holder_of = [principals.policy_holder(r.resource) for r in requests]
    sets: list[tuple[str, list[tuple[str, Policy]], list[int], Callable[[list[Policy]], dict[str, Any]]]] = []
    for role in principals.roles.values():
        if not any(helper in role.key for helper in CDK_HELPER_ROLES):
            mine = [i for i, r in enumerate(requests) if not r.trust and role_of[i] == role.key]
            sets.append((role.key, role.policies, mine, lambda ps: {"identity_policies": ps}))
    for arn, holders in principals.resource_policies.items():
        mine = [i for i, r in enumerate(requests) if not r.trust and holder_of[i] == arn]
        sets.append(("", holders, mine, lambda ps: {"resource_policy": _merged(("", p) for p in ps)}))
    through_vpc = [i for i, request in enumerate(base) if request.endpoint_policies]
    sets.append(("", principals.s3_endpoints, through_vpc, lambda ps: {"endpoint_policies": ps}))
    usage: dict[Statement, list[Concrete]] = {}
    batch: list[evaluator.Request] = []
    owners: list[tuple[Statement, Concrete]] = []
    for role_key, policies, mine, rebuild in sets:
        for p_index, (holder, policy) in enumerate(policies):
            for s_index, statement in enumerate(_statements(policy)):
                if statement.get("Effect") != "Allow":
                    continue
                label = (
                    Statement(role_key, f"{holder.split('/')[-1]} {_label(statement)}")
                    if role_key
                    else Statement(holder, _label(statement))
                )
                usage.setdefault(label, [])
                mutated = [p if j != p_index else _without(p, s_index) for j, (_, p) in enumerate(policies)]
                for i in mine:
                    batch.append(replace(base[i], id=f"m{len(batch)}", **rebuild(mutated)))
                    owners.append((label, requests[i]))
    for (label, request), decision in zip(owners, evaluator.evaluate(batch), strict=True):
        if not decision.allowed:
            usage[label].append(request)
    return usage
