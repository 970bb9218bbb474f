"""Typed, frozen per-environment configuration, loaded once from ``cdk.json`` context.

``cdk.json`` holds ``context.environments.<name>``; ``-c env=NAME`` picks one. Every setting is
validated at load: a missing or bad one raises :class:`ConfigError` naming the setting and the
environment, so synth stops before any resource is built. The offline runner reads the same
objects, so prefixes, names and sizes have one source of truth.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CDK_JSON = PROJECT_ROOT / "cdk.json"

_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^(us|eu|ap|sa|ca|me|af|il|mx|cn)(-gov)?-[a-z]+-\d$")
_NAME_PREFIX = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_ENV_NAME = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_BUCKET = re.compile(r"^(?!xn--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_INSTANCE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
ECR_IMAGE_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/(?P<repo>[a-z0-9._/-]+)[:@].+$"
)

#: Longest job-name prefix: ``<prefix>-<batch id, <= 18 digits>-<16 hex>`` stays within 63 characters.
MAX_JOB_NAME_PREFIX = 24


class ConfigError(ValueError):
    """A setting in ``cdk.json`` is missing or invalid; the message names it and the environment."""


def partition_for(region: str) -> str:
    """The ARN partition of ``region``: ``aws-cn`` in China, ``aws-us-gov`` in GovCloud, else ``aws``."""
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws-us-gov" if region.startswith("us-gov-") else "aws"


def domain_for(region: str) -> str:
    """The service domain of ``region``: ``amazonaws.com.cn`` in China, else ``amazonaws.com``."""
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"


@dataclass(frozen=True)
class StandardizeConfig:
    """Settings of the standardize pipeline.

    Defaults: input ``meta-data/*.csv``, output ``prediction-data/<N>/``, one ``ml.t3.medium``
    with a 30 GB volume and a one-hour limit. The volume holds the input plus the output, which
    is about 1.6x the input (doubles print 17 digits): size it at least ``2.6 x`` the largest
    partition, plus a few GB for the image.
    """

    input_prefix: str = "meta-data/"
    input_suffix: str = ".csv"
    output_prefix: str = "prediction-data/"
    job_name_prefix: str = "standardize"
    instance_type: str = "ml.t3.medium"
    instance_count: int = 1
    volume_size_gb: int = 30
    max_runtime_seconds: int = 3600
    image_uri: str | None = None
    exclude_columns: tuple[str, ...] = ()
    include_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class EnvConfig:
    """One deployment environment: where it goes and how its pipelines are sized."""

    name: str
    account: str
    region: str
    alert_email: str | None = None
    bucket_name: str | None = None
    standardize: StandardizeConfig = field(default_factory=StandardizeConfig)

    @property
    def data_bucket_name(self) -> str:
        """The data bucket's name: ``bucketName`` if set, else ``ml-pipelines-<env>-<account>-<region>``."""
        return self.bucket_name or f"ml-pipelines-{self.name}-{self.account}-{self.region}"

    @property
    def partition(self) -> str:
        """``aws`` or ``aws-cn``, derived from the region."""
        return partition_for(self.region)

    @property
    def domain(self) -> str:
        """``amazonaws.com`` or ``amazonaws.com.cn``, derived from the region."""
        return domain_for(self.region)

    def stack_name(self, unit: str) -> str:
        """The CloudFormation stack name of ``unit`` in this environment, e.g. ``MlPipelines-dev-Data``."""
        return f"MlPipelines-{self.name}-{unit}"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class _Reader:
    """Reads one JSON object of settings and reports errors with their full setting path."""

    def __init__(self, env: str, data: Mapping[str, Any], path: str) -> None:
        self.env, self.data, self.path = env, data, path

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"environment '{self.env}': setting '{self.path}{key}' {message}")

    def reject_unknown(self, known: set[str]) -> None:
        unknown = sorted(set(self.data) - known)
        if unknown:
            raise self.fail(unknown[0], f"is not a known setting (known: {', '.join(sorted(known))})")

    def string(self, key: str, default: str | None = None, pattern: re.Pattern[str] | None = None) -> str:
        value = self.data.get(key, default)
        if value is None:
            raise self.fail(key, "is missing")
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"must be a non-empty string, got {value!r}")
        if pattern is not None and not pattern.match(value):
            raise self.fail(key, f"has an invalid value {value!r} (expected {pattern.pattern})")
        return value

    def optional_string(self, key: str, pattern: re.Pattern[str] | None = None) -> str | None:
        if self.data.get(key) is None:
            return None
        return self.string(key, pattern=pattern)

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(key, f"must be an integer from {low} to {high}, got {value!r}")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, f"must be a list of non-empty strings, got {value!r}")
        return tuple(value)

    def prefix(self, key: str, default: str) -> str:
        value = self.string(key, default)
        if not value.endswith("/") or value.startswith("/") or "*" in value:
            raise self.fail(key, f"must be an S3 key prefix ending in '/', got {value!r}")
        return value

    def child(self, key: str) -> _Reader:
        value = self.data.get(key, {})
        if not isinstance(value, Mapping):
            raise self.fail(key, "must be an object")
        return _Reader(self.env, value, f"{self.path}{key}.")


def _standardize(reader: _Reader) -> StandardizeConfig:
    reader.reject_unknown({_camel(f.name) for f in fields(StandardizeConfig)})
    d = StandardizeConfig()
    prefix = reader.string("jobNamePrefix", d.job_name_prefix, _NAME_PREFIX)
    if len(prefix) > MAX_JOB_NAME_PREFIX:
        raise reader.fail("jobNamePrefix", f"must be at most {MAX_JOB_NAME_PREFIX} characters")
    image_uri = reader.optional_string("imageUri", ECR_IMAGE_URI)
    input_prefix = reader.prefix("inputPrefix", d.input_prefix)
    output_prefix = reader.prefix("outputPrefix", d.output_prefix)
    if input_prefix.startswith(output_prefix) or output_prefix.startswith(input_prefix):
        raise reader.fail("outputPrefix", f"must not overlap inputPrefix {input_prefix!r}")
    return StandardizeConfig(
        input_prefix=input_prefix,
        input_suffix=reader.string("inputSuffix", d.input_suffix, re.compile(r"^\.[A-Za-z0-9]+$")),
        output_prefix=output_prefix,
        job_name_prefix=prefix,
        instance_type=reader.string("instanceType", d.instance_type, _INSTANCE),
        instance_count=reader.integer("instanceCount", d.instance_count, 1, 100),
        volume_size_gb=reader.integer("volumeSizeGb", d.volume_size_gb, 1, 16384),
        max_runtime_seconds=reader.integer("maxRuntimeSeconds", d.max_runtime_seconds, 60, 432000),
        image_uri=image_uri,
        exclude_columns=reader.strings("excludeColumns"),
        include_columns=reader.strings("includeColumns"),
    )


def parse_env(name: str, data: Mapping[str, Any]) -> EnvConfig:
    """Validate the raw settings of environment ``name`` and build its :class:`EnvConfig`."""
    if not _ENV_NAME.match(name):
        raise ConfigError(f"environment '{name}': the name must match {_ENV_NAME.pattern}")
    reader = _Reader(name, data, "")
    reader.reject_unknown({"account", "region", "alertEmail", "bucketName", "standardize"})
    return EnvConfig(
        name=name,
        account=reader.string("account", pattern=_ACCOUNT),
        region=reader.string("region", pattern=_REGION),
        alert_email=reader.optional_string("alertEmail", _EMAIL),
        bucket_name=reader.optional_string("bucketName", _BUCKET),
        standardize=_standardize(reader.child("standardize")),
    )


def environments_from_context(context: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The raw ``environments`` object of a CDK context."""
    envs = context.get("environments")
    if not isinstance(envs, Mapping) or not envs:
        raise ConfigError("cdk.json: context 'environments' is missing or empty")
    return dict(envs)


def load_env(name: str | None, context: Mapping[str, Any]) -> EnvConfig:
    """Load environment ``name`` from a CDK context mapping (``cdk.json``'s ``context``)."""
    envs = environments_from_context(context)
    if not name:
        raise ConfigError(f"no environment selected: pass -c env=NAME (one of: {', '.join(sorted(envs))})")
    if name not in envs:
        raise ConfigError(f"environment '{name}' is not in cdk.json (known: {', '.join(sorted(envs))})")
    raw = envs[name]
    if not isinstance(raw, Mapping):
        raise ConfigError(f"environment '{name}': settings must be an object")
    return parse_env(name, raw)


def read_cdk_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """The ``context`` object of ``cdk.json`` (default: the project's own)."""
    context = json.loads(path.read_text(encoding="utf-8")).get("context", {})
    if not isinstance(context, dict):
        raise ConfigError(f"{path.name}: 'context' must be an object")
    return context
