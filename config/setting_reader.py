"""The machinery that reads one environment's settings: :class:`SettingReader`, which checks each
value and names the full setting path in its errors, and the patterns and rules the sections use."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields
from typing import Any

import pipeline_rules
from config import api_shapes
from config.model import ConfigError, setting_range
from pipeline_rules import RuleError

ACCOUNT_PATTERN = re.compile(r"^\d{12}$")
REGION_PATTERN = re.compile(r"^(us|eu|ap|sa|ca|me|af|il|mx|cn)(-gov)?-[a-z]+-\d$")
ENV_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
HOST_PATTERN = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
VPC_PATTERN = re.compile(r"^vpc-[0-9a-f]{8,17}$")
SUBNET_PATTERN = re.compile(r"^subnet-[0-9a-f]{8,17}$")
SECURITY_GROUP_PATTERN = re.compile(r"^sg-[0-9a-f]{8,17}$")
AZ_PATTERN = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$")
CIDR_PATTERN = re.compile(r"^\d{1,3}(\.\d{1,3}){3}/(1[6-9]|2[0-8])$")
SECRET_ARN_PATTERN = re.compile(
    r"^arn:aws(-cn|-us-gov)?:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$"
)
CRON_PATTERN = re.compile(r"^cron\(\S+( \S+){5}\)$")
LIKELIHOOD_PATTERN = re.compile(r"^(gaussian|beta|negative-binomial|student-T|deterministic-L1)$")
GLUE_WORKER_PATTERN = re.compile(r"^(G\.(025|1|2|4|8)X|Z\.2X)$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: The instance types each SageMaker API takes (its enum in botocore's SageMaker model).
PROCESSING_INSTANCE_TYPES = ("CreateProcessingJob", "ProcessingInstanceType")
TRAINING_INSTANCE_TYPES = ("CreateTrainingJob", "TrainingInstanceType")
TRANSFORM_INSTANCE_TYPES = ("CreateTransformJob", "TransformInstanceType")
ECR_IMAGE_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/(?P<repo>[a-z0-9._/-]+)[:@].+$"
)

#: The rules of ``pipeline_rules`` that settings are read with (:meth:`SettingReader.string`'s ``rule``).
Rule = Callable[[str], object]


def job_name_prefix_rule(prefix: str) -> object:
    return pipeline_rules.check_name_prefix(prefix, pipeline_rules.MAX_JOB_NAME_PREFIX)


def forecast_name_prefix_rule(prefix: str) -> object:
    return pipeline_rules.check_name_prefix(prefix, pipeline_rules.MAX_FORECAST_NAME_PREFIX)


def camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class SettingReader:
    """Reads one JSON object of settings and reports errors with their full setting path."""

    def __init__(self, env_name: str, data: Mapping[str, Any], path: str) -> None:
        self.env_name, self.data, self.path = env_name, data, path

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"environment '{self.env_name}': setting '{self.path}{key}' {message}")

    def reject_unknown(self, known: set[str]) -> None:
        unknown = sorted(set(self.data) - known)
        if unknown:
            raise self.fail(unknown[0], f"is not a known setting (known: {', '.join(sorted(known))})")

    def string(
        self,
        key: str,
        default: str | None = None,
        pattern: re.Pattern[str] | None = None,
        rule: Rule | None = None,
    ) -> str:
        """The setting, checked against ``pattern`` or a ``pipeline_rules`` ``rule``."""
        value = self.data.get(key, default)
        if value is None:
            raise self.fail(key, "is missing")
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"must be a non-empty string, got {value!r}")
        if pattern is not None and not pattern.fullmatch(value):
            raise self.fail(key, f"has an invalid value {value!r} (expected {pattern.pattern})")
        if rule is not None:
            try:
                rule(value)
            except RuleError as exc:
                raise self.fail(key, f"has an invalid value {value!r}, which {exc}") from None
        return value

    def optional_string(
        self, key: str, pattern: re.Pattern[str] | None = None, rule: Rule | None = None
    ) -> str | None:
        if self.data.get(key) is None:
            return None
        return self.string(key, pattern=pattern, rule=rule)

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(key, f"must be an integer from {low} to {high}, got {value!r}")
        return value

    def ranged(self, cls: type, name: str, *, low: float | None = None) -> Any:
        """``cls``'s numeric field ``name``, under its camel-case key, with the field's default and
        within its range (:func:`config.model.ranged`); ``low`` raises the floor where it depends on
        another setting. A field typed ``... | None`` is off with ``null``."""
        field = {f.name: f for f in fields(cls)}[name]
        found = setting_range(cls, name)
        if found is None:
            raise TypeError(f"{cls.__name__}.{name} has no range (declare it with config.model.ranged)")
        floor, high = found
        floor = floor if low is None else low
        key, kind, default = camel_case(name), str(field.type), field.default
        if default is MISSING:
            raise TypeError(f"{cls.__name__}.{name} has no default (declare it with config.model.ranged)")
        if kind.startswith("float"):
            return self.number(key, default, floor, high)
        if kind.endswith("| None"):
            return self.optional_integer(key, default, int(floor), int(high))
        return self.integer(key, default, int(floor), int(high))

    def api_enum(self, key: str, default: str, api: tuple[str, str]) -> str:
        """A value of an API's enum (``(operation, shape)`` in botocore's SageMaker model)."""
        value = self.string(key, default)
        operation, shape = api
        allowed = api_shapes.enum("sagemaker", shape)
        if value not in allowed:
            examples = ", ".join(sorted(allowed)[:3])
            raise self.fail(
                key,
                f"has an invalid value {value!r}, which {operation} does not take: its {shape} is one "
                f"of {len(allowed)} values in botocore's SageMaker model (e.g. {examples})",
            )
        return value

    def environment_list(self, key: str) -> tuple[str, ...]:
        """A list that reaches a processing job as one environment value (JSON text), which
        SageMaker caps (ProcessingEnvironmentValue's maximum length)."""
        value = self.strings(key)
        limit = api_shapes.max_length("sagemaker", "ProcessingEnvironmentValue")
        size = len(json.dumps(list(value)))
        if size > limit:
            raise self.fail(
                key,
                f"is {size} characters as the processing job's environment value (JSON), above "
                f"SageMaker's {limit} (ProcessingEnvironmentValue): name fewer columns",
            )
        return value

    def optional_integer(self, key: str, default: int | None, low: int, high: int) -> int | None:
        """An integer setting that ``null`` turns off."""
        if key in self.data and self.data[key] is None:
            return None
        if key not in self.data and default is None:
            return None
        return self.integer(key, default if default is not None else low, low, high)

    def strings(self, key: str, pattern: re.Pattern[str] | None = None) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, f"must be a list of non-empty strings, got {value!r}")
        if pattern is not None:
            bad = [v for v in value if not pattern.fullmatch(v)]
            if bad:
                raise self.fail(key, f"has an invalid value {bad[0]!r} (expected {pattern.pattern})")
        return tuple(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {value!r}")
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise self.fail(key, f"must be a number from {low} to {high}, got {value!r}")
        return float(value)

    def present(self, key: str) -> bool:
        return key in self.data

    def prefix(self, key: str, default: str) -> str:
        """An S3 key prefix (:func:`pipeline_rules.check_key_prefix`: none of the characters the
        state machines' intrinsic strings would read as syntax)."""
        return self.string(key, default, rule=pipeline_rules.check_key_prefix)

    def child(self, key: str) -> SettingReader:
        value = self.data.get(key, {})
        if not isinstance(value, Mapping):
            raise self.fail(key, "must be an object")
        return SettingReader(self.env_name, value, f"{self.path}{key}.")
