"""Recorded AWS calls as IAM requests, in the inventory's environment-free form.

A call of an offline run (``localrun.moto_adapter.requests``) becomes one request per IAM action it
needs, following each service's authorization reference: ``HeadObject`` is ``s3:GetObject``;
multipart parts and their completion are ``s3:PutObject``; ``ListObjectsV2`` is ``s3:ListBucket``
on the bucket with ``s3:prefix``. The resource is written with placeholders, so the one inventory
serves every environment: ``{partition}``, ``{region}``, ``{account}``, and
``{env:<function>:<VARIABLE>}`` for a resource name that a function's environment gives (the data
bucket, a prefix, the secret, the state machine). Run-specific parts (tokens with a digit, such as
execution names, run ids and batch ids, and UUIDs and long hex strings, which may have no digit)
become ``*``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from localrun.moto_adapter.requests import RecordedCall
from tools.iam_check.state_machines import SAGEMAKER_TASKS

#: The environment variables that hold a resource's name (and nothing else does).
RESOURCE_VARIABLES = frozenset(
    {
        "BUCKET_NAME",
        "ETL_PREFIX",
        "WORK_PREFIX",
        "NAME_PREFIX",
        "JOB_NAME_PREFIX",
        "SECRET_ID",
        "STATE_MACHINE_ARN",
    }
)
#: The state machines the offline runner creates under the names of their ASL files; test-only
#: machines of the adapter's own tests are not deployed principals.
DEPLOYED_STATE_MACHINES = frozenset({"standardize", "forecast"})
#: The function that names each state machine's SageMaker jobs.
JOB_NAMER = {"standardize": "get_batch_id", "forecast": "generate_dataset"}


class UnmappedOperation(LookupError):
    """A recorded call whose IAM action(s) this module does not know yet."""


@dataclass(frozen=True, order=True)
class Request:
    """An inventory request: ``principal`` (``function:<folder>``, ``state_machine:<asl>`` or
    ``service:<service principal>``), IAM ``action``, ``resource`` pattern, context keys, and
    for requests that AWS makes on the app's behalf, the AWS document that says so."""

    principal: str
    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()
    source: str = field(default="", compare=False)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"principal": self.principal, "action": self.action, "resource": self.resource}
        if self.context:
            out["context"] = dict(self.context)
        if self.source:
            out["source"] = self.source
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Request:
        return cls(
            data["principal"],
            data["action"],
            data["resource"],
            tuple(sorted(data.get("context", {}).items())),
            data.get("source", ""),
        )


_Mapper = Callable[[Mapping[str, Any]], list[tuple[str, str, dict[str, str]]]]


def _object(action: str) -> _Mapper:
    return lambda p: [(action, f"arn:{{partition}}:s3:::{p['Bucket']}/{p['Key']}", {})]


def _list(p: Mapping[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    return [("s3:ListBucket", f"arn:{{partition}}:s3:::{p['Bucket']}", {"s3:prefix": p.get("Prefix", "")})]


def _create(kind: str, noun: str) -> _Mapper:
    """``sagemaker:Create<noun>`` on the ``kind`` resource its ``<noun>Name`` names."""
    return lambda p: [
        (
            f"sagemaker:Create{noun}",
            f"arn:{{partition}}:sagemaker:{{region}}:{{account}}:{kind}/{p[noun + 'Name']}",
            {},
        )
    ]


#: (botocore service, operation) -> the IAM requests of one call.
OPERATIONS: Mapping[tuple[str, str], _Mapper] = {
    ("s3", "GetObject"): _object("s3:GetObject"),
    ("s3", "HeadObject"): _object("s3:GetObject"),
    ("s3", "PutObject"): _object("s3:PutObject"),
    ("s3", "CreateMultipartUpload"): _object("s3:PutObject"),
    ("s3", "UploadPart"): _object("s3:PutObject"),
    ("s3", "CompleteMultipartUpload"): _object("s3:PutObject"),
    ("s3", "AbortMultipartUpload"): _object("s3:AbortMultipartUpload"),
    ("s3", "DeleteObject"): _object("s3:DeleteObject"),
    ("s3", "ListObjectsV2"): _list,
    ("s3", "ListObjects"): _list,
    ("stepfunctions", "StartExecution"): lambda p: [("states:StartExecution", p["stateMachineArn"], {})],
    ("secretsmanager", "GetSecretValue"): lambda p: [("secretsmanager:GetSecretValue", p["SecretId"], {})],
    ("sns", "Publish"): lambda p: [("sns:Publish", p["TopicArn"], {})],
    **{
        ("sagemaker", f"Create{noun}"): _create(kind, noun)
        for kind, noun, _, _ in SAGEMAKER_TASKS.values()  # the state machines' SageMaker tasks
    },
}


#: A UUID, a token of 8 or more hex digits, or any token with a digit: a run's id, not a name.
_RUN_TOKEN = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|(?<![A-Za-z0-9])[0-9a-fA-F]{8,}(?![A-Za-z0-9])"
    r"|[A-Za-z0-9]*[0-9][A-Za-z0-9]*"
)
_STARS = re.compile(r"\*(?:[-_.]\*)+")
_ARN_HEAD = re.compile(r"^arn:[-a-z]+:([a-z0-9-]+):[a-z0-9-]*:(\d{12})?:")


def generalize(text: str) -> str:
    """Run-specific tokens (with a digit) of the literal parts of ``text`` become ``*``; an ARN's
    five leading fields stay as they are."""
    head = ""
    if text.startswith("arn:"):
        fields = text.split(":", 5)
        head, text = ":".join(fields[:5]) + ":", fields[5] if len(fields) > 5 else ""
    parts = re.split(r"(\{[^}]*\})", text)
    out = []
    for part in parts:
        if part.startswith("{") and part.endswith("}"):
            out.append(part)
        else:
            out.append(_STARS.sub("*", _RUN_TOKEN.sub("*", part)))
    return head + "".join(out)


def placeholders(environments: Mapping[str, Mapping[str, str]]) -> list[tuple[str, str]]:
    """``(value, placeholder)`` for each resource variable of each function, longest value first."""
    pairs = [
        (value, f"{{env:{principal.removeprefix('function:')}:{name}}}")
        for principal, env in environments.items()
        for name, value in env.items()
        if name in RESOURCE_VARIABLES and value
    ]
    return sorted(pairs, key=lambda pair: (-len(pair[0]), pair[1]))


def _normalizer(pairs: list[tuple[str, str]]) -> Callable[[str], str]:
    """Replaces each environment value by its placeholder (one pass, longest value first, so no
    placeholder is rewritten), then a concrete ARN's head, then the run-specific tokens."""
    by_value = dict(reversed(pairs))
    values = re.compile("|".join(re.escape(value) for value, _ in pairs)) if pairs else None

    def normalize(text: str) -> str:
        if values is not None:
            text = values.sub(lambda m: by_value[m.group()], text)
        return _normalize_arn(text)

    return normalize


def _normalize_arn(text: str) -> str:
    head = _ARN_HEAD.match(text)
    if head:  # a concrete ARN's partition, region and account
        service = head.group(1)
        rest = text[head.end() :]
        region = "" if service in ("s3", "iam") else "{region}"
        account = "{account}" if head.group(2) else ""
        text = f"arn:{{partition}}:{service}:{region}:{account}:{rest}"
    return generalize(text)


def requests_of(calls: Iterable[RecordedCall], environments: Mapping[str, Mapping[str, str]]) -> set[Request]:
    """The inventory requests of ``calls`` of deployed principals; ``environments`` are the functions'
    environments in that run. Raises :class:`UnmappedOperation` for a call with no known action."""
    normalize = _normalizer(placeholders(environments))
    found: set[Request] = set()
    for call in calls:
        principal = call.principal
        if principal.startswith("state_machine:"):
            name = principal.removeprefix("state_machine:")
            if name not in DEPLOYED_STATE_MACHINES or f"function:{JOB_NAMER[name]}" not in environments:
                continue  # a test's machine, or job names from a stand-in of the function that names them
        mapper = OPERATIONS.get((call.service, call.operation))
        if mapper is None:
            raise UnmappedOperation(
                f"{principal} called {call.service}.{call.operation}, which tools/iam_check/operations.py "
                "does not map to IAM actions yet: add it, with the service's authorization reference"
            )
        for action, resource, context in mapper(call.params):
            found.add(
                Request(
                    principal,
                    action,
                    normalize(resource),
                    tuple(sorted((k, normalize(v)) for k, v in context.items())),
                )
            )
    return found
