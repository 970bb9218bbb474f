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

LOG = logging.getLogger(__name__)

#: Step Functions allows 80 characters from ``[0-9A-Za-z_-]`` in execution names (ASCII subset).
MAX_EXECUTION_NAME = 80
_DIGEST_CHARS = 24
_UNSAFE = re.compile(r"[^0-9A-Za-z_-]+")


class InvalidS3Event(ValueError):
    """The event is not an S3 notification with ``Records[].s3``."""


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
    stem = stem[: MAX_EXECUTION_NAME - _DIGEST_CHARS - 1]
    return f"{stem}-{digest}"


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
    """
    started: list[Started] = []
    errors: list[Exception] = []
    for record in records:
        try:
            payload = execution_input(record)
            key, sequencer = payload["object"]["key"], payload["object"]["sequencer"]
            name = execution_name(key, sequencer)
            started.append(Started(key, name, _start(client, state_machine_arn, name, payload)))
        except Exception as exc:
            LOG.exception("could not start an execution for record %s", json.dumps(record)[:500])
            errors.append(exc)
    if errors:
        raise errors[0]
    return started


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
