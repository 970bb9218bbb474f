"""Start one standardize execution per S3 record, idempotently.

The execution name is derived from the object key and the S3 sequencer, so a duplicate delivery
of the same record maps to the same name and cannot start a second run; Step Functions answers
``ExecutionAlreadyExists`` (or returns the running execution), which counts as success.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pipeline_rules import EXECUTION_NAME_CHARACTERS, EXECUTION_NAME_LENGTH, Environment, log_context

LOG = logging.getLogger(__name__)

_DIGEST_CHARS = 24
_UNSAFE = re.compile(f"[^{EXECUTION_NAME_CHARACTERS}]+")


class InvalidS3Event(ValueError):
    """The event is not an S3 notification with ``Records[].s3``."""


@dataclass(frozen=True)
class Settings:
    """The function's environment: ``STATE_MACHINE_ARN`` (required), the standardize state machine."""

    state_machine_arn: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Raises ``ConfigurationError`` naming the variable."""
        return cls(state_machine_arn=Environment(env).required("STATE_MACHINE_ARN"))


class StepFunctionsClient(Protocol):
    def start_execution(self, *, stateMachineArn: str, name: str, input: str) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Started:
    """What happened to one record: the execution name and whether it was already running or done."""

    key: str
    name: str
    duplicate: bool


def execution_input(record: Mapping[str, Any]) -> dict[str, Any]:
    """The state machine input for one S3 record: its ``s3`` object with the key URL-decoded.

    Shape: ``{"bucket": {"name"}, "object": {"key", "size", "eTag", "sequencer"}}``.
    """
    try:
        s3 = record["s3"]
        bucket = s3["bucket"]["name"]
        obj = s3["object"]
        raw_key = obj["key"]
    except (KeyError, TypeError) as exc:
        raise InvalidS3Event(f"S3 record is missing field {exc}: {json.dumps(record)[:500]}") from exc
    return {
        "bucket": {"name": bucket},
        "object": {
            "key": urllib.parse.unquote_plus(raw_key),
            "size": obj.get("size", 0),
            "eTag": obj.get("eTag", ""),
            "sequencer": obj.get("sequencer", ""),
        },
    }


def execution_name(key: str, sequencer: str) -> str:
    """A deterministic, valid execution name (at most 80 characters) for ``key`` at ``sequencer``.

    Readable part: the file name with unsafe characters replaced by ``-``; unique part: the first
    24 hex digits of SHA-256 over key and sequencer.
    """
    digest = hashlib.sha256(f"{key}\n{sequencer}".encode()).hexdigest()[:_DIGEST_CHARS]
    stem = _UNSAFE.sub("-", key.rsplit("/", 1)[-1]).strip("-") or "object"
    stem = stem[: EXECUTION_NAME_LENGTH - _DIGEST_CHARS - 1]
    return f"{stem}-{digest}"


def record_key(record: object) -> str | None:
    """The URL-decoded object key of an S3 record, or None when it has none (for logs)."""
    try:
        key = record["s3"]["object"]["key"]  # type: ignore[index]
    except (KeyError, TypeError):
        return None
    return urllib.parse.unquote_plus(key) if isinstance(key, str) else None


def single_key(event: object) -> str | None:
    """The object key of an event's only record (S3 sends one per event), else None (for logs)."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    return record_key(records[0]) if isinstance(records, list) and len(records) == 1 else None


def records_of(event: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The ``Records`` of an S3 notification event (an empty list for the ``s3:TestEvent``)."""
    if event.get("Event") == "s3:TestEvent":
        return []
    records = event.get("Records")
    if not isinstance(records, list):
        raise InvalidS3Event("event has no 'Records' list; is this an S3 notification?")
    return records


def start_all(
    client: StepFunctionsClient, state_machine_arn: str, records: Iterable[Mapping[str, Any]]
) -> list[Started]:
    """Start one execution per record; duplicates count as success.

    Every record is tried; if any fails, the first error is raised after the others were started,
    so an async retry (or the on-failure queue) sees it and the started ones stay idempotent.
    Each record's log lines carry its ``s3_key`` and ``execution_name``; a failure is logged with them.
    """
    started: list[Started] = []
    errors: list[Exception] = []
    for record in records:
        try:
            with log_context(s3_key=record_key(record)):
                started.append(start_one(client, state_machine_arn, record))
        except Exception as exc:  # log_context logged it, with the record's key
            errors.append(exc)
    if errors:
        raise errors[0]
    return started


def start_one(client: StepFunctionsClient, state_machine_arn: str, record: Mapping[str, Any]) -> Started:
    """Start the execution of one record (see :func:`start_all`)."""
    payload = execution_input(record)
    key, sequencer = payload["object"]["key"], payload["object"]["sequencer"]
    name = execution_name(key, sequencer)
    with log_context(execution_name=name):
        return Started(key, name, _start(client, state_machine_arn, name, payload))


def _start(client: StepFunctionsClient, arn: str, name: str, payload: Mapping[str, Any]) -> bool:
    try:
        client.start_execution(stateMachineArn=arn, name=name, input=json.dumps(payload))
    except Exception as exc:
        if _error_code(exc) == "ExecutionAlreadyExists":
            LOG.info("execution %s already exists: duplicate delivery, nothing to do", name)
            return True
        raise
    LOG.info("started execution %s for s3://%s/%s", name, payload["bucket"]["name"], payload["object"]["key"])
    return False


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
