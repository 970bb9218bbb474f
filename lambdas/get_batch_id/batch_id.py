"""Extract the batch id N from ``<prefix>/<name>_<N>.csv`` and name the processing job for it."""

from __future__ import annotations

import hashlib
import posixpath
import re

#: Batch ids are non-negative integers of at most 18 digits (they fit a signed 64-bit column).
MAX_BATCH_ID_DIGITS = 18
_JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


class InvalidPartitionName(ValueError):
    """The key's file name does not end in ``_<non-negative integer>.<ext>``."""


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
    digest = hashlib.sha256(execution_name.encode()).hexdigest()[:16]
    name = f"{prefix}-{batch}-{digest}"
    if not _JOB_NAME.fullmatch(name):
        raise ValueError(f"job name {name!r} is not a valid SageMaker job name (prefix {prefix!r})")
    return name
