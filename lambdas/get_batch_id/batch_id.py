"""Extract the batch id N from ``<prefix>/<name>_<N>.csv`` and name the processing job for it."""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline_rules import (
    MAX_BATCH_ID_DIGITS,
    MAX_JOB_NAME_PREFIX,
    Environment,
    RuleError,
    check_name_prefix,
    check_sagemaker_name,
    execution_digest,
)

LOG = logging.getLogger(__name__)


class InvalidPartitionName(ValueError):
    """The key's file name does not end in ``_<non-negative integer>.<ext>``."""


@dataclass(frozen=True)
class Settings:
    """The function's environment: ``JOB_NAME_PREFIX`` (required), the processing job-name prefix
    from config, at most :data:`pipeline_rules.MAX_JOB_NAME_PREFIX` characters."""

    job_name_prefix: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Raises ``ConfigurationError`` naming the variable."""
        prefix = Environment(env).required("JOB_NAME_PREFIX", _job_name_prefix)
        return cls(job_name_prefix=prefix)


def _job_name_prefix(prefix: str) -> str:
    return check_name_prefix(prefix, MAX_JOB_NAME_PREFIX)


def batch_id(key: str) -> int:
    """The batch id of ``key``: the last ``_``-separated token of the file name's stem.

    ``meta-data/partition_2333.csv`` gives 2333. Raises :class:`InvalidPartitionName` naming
    the key when that token is not a non-negative integer of at most 18 ASCII digits.
    """
    name = posixpath.basename(key)
    stem, dot, _ext = name.rpartition(".")
    if not dot:
        stem = name
    head, sep, token = stem.rpartition("_")
    if not sep or not head:
        raise InvalidPartitionName(f"key {key!r}: file name must look like <name>_<N>.csv")
    if not (token.isascii() and token.isdigit()) or len(token) > MAX_BATCH_ID_DIGITS:
        raise InvalidPartitionName(
            f"key {key!r}: batch id {token!r} is not a non-negative integer of at most "
            f"{MAX_BATCH_ID_DIGITS} digits"
        )
    return int(token)


def processing_job_name(prefix: str, batch: int, execution_name: str) -> str:
    """A SageMaker job name (<= 63 chars) unique per execution: ``<prefix>-<N>-<16 hex>``."""
    name = f"{prefix}-{batch}-{execution_digest(execution_name)}"
    try:
        return check_sagemaker_name(name)
    except RuleError as exc:
        raise ValueError(f"job name {name!r} (prefix {prefix!r}) {exc}") from None


def batch_job(settings: Settings, key: str, execution_name: str) -> dict[str, Any]:
    """``{"batch_id", "job_name"}`` of the partition ``key`` in execution ``execution_name``."""
    batch = batch_id(key)
    name = processing_job_name(settings.job_name_prefix, batch, execution_name)
    LOG.info("%s: batch id %d, processing job %s", key, batch, name)
    return {"batch_id": batch, "job_name": name}
