"""Copy between S3 prefixes (of the mocked S3) and local directories, as SageMaker does."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse


def split_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``(bucket, key)``."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"{uri!r} is not an s3:// URI")
    return parsed.netloc, parsed.path.lstrip("/")


def download_prefix(s3: Any, uri: str, directory: Path) -> list[Path]:
    """Every object whose key starts with the URI's key, below ``directory``.

    As SageMaker's ``S3Prefix`` inputs: the local path is the key relative to the prefix's last
    ``/``, so ``s3://b/meta-data/p_1.csv`` lands at ``<directory>/p_1.csv``.
    """
    bucket, prefix = split_uri(uri)
    base = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
    files = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            target = directory / obj["Key"][len(base) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, obj["Key"], str(target))
            files.append(target)
    return files


def upload_directory(s3: Any, directory: Path, uri: str) -> list[str]:
    """Every file below ``directory`` to ``uri`` + its relative path; returns the keys."""
    bucket, prefix = split_uri(uri)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    keys = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        key = prefix + path.relative_to(directory).as_posix()
        s3.upload_file(str(path), bucket, key)
        keys.append(key)
    return keys
