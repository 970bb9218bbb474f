"""Reading ``cdk.json``: ``context.environments.<name>`` into an :class:`config.model.EnvConfig`.

``-c env=NAME`` picks one. Every setting is validated at load: a missing or bad one raises
:class:`config.model.ConfigError` naming the setting and the environment, so synth stops before
any resource is built. The offline runner reads the same objects, so prefixes, names and sizes
have one source of truth. The rules the Lambdas and the Glue job check too (frequencies, bucket
names, key prefixes, identifiers, name prefixes and their lengths) are ``pipeline_rules``'.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import pipeline_rules
from config.forecast_reader import read_forecast
from config.model import (
    LOG_RETENTION_DAYS,
    LOGS_WITHOUT_KMS,
    MAX_QUOTA_ATTEMPTS,
    STATE_MACHINE_LOG_LEVELS,
    ConfigError,
    EnvConfig,
    LogsConfig,
    QuotaRetryConfig,
    StandardizeConfig,
)
from config.paths import ROOT
from config.setting_reader import (
    ACCOUNT_PATTERN,
    ECR_IMAGE_URI,
    EMAIL_PATTERN,
    ENV_NAME_PATTERN,
    PROCESSING_INSTANCE_TYPES,
    REGION_PATTERN,
    SettingReader,
    camel_case,
    job_name_prefix_rule,
)

#: The project's cdk.json, whose context holds the environments.
CDK_JSON = ROOT / "cdk.json"


def _one_processing_instance(reader: SettingReader) -> int:
    """``standardize.instanceCount``: 1, the only meaningful value (see :class:`StandardizeConfig`)."""
    count = reader.ranged(StandardizeConfig, "instance_count")
    if count != 1:
        raise reader.fail(
            "instanceCount",
            f"must be 1, got {count}: the job's input is one CSV file, sent to every instance "
            "(FullyReplicated), so each further instance would standardize the whole file again and "
            "write the same output keys; use a larger instanceType for a larger partition",
        )
    return count


def _standardize(reader: SettingReader) -> StandardizeConfig:
    reader.reject_unknown({camel_case(f.name) for f in fields(StandardizeConfig)})
    d = StandardizeConfig()
    prefix = reader.string("jobNamePrefix", d.job_name_prefix, rule=job_name_prefix_rule)
    image_uri = reader.optional_string("imageUri", ECR_IMAGE_URI)
    return StandardizeConfig(  # _check_prefixes keeps the prefixes apart
        input_prefix=reader.prefix("inputPrefix", d.input_prefix),
        input_suffix=reader.string("inputSuffix", d.input_suffix, re.compile(r"^\.[A-Za-z0-9]+$")),
        output_prefix=reader.prefix("outputPrefix", d.output_prefix),
        job_name_prefix=prefix,
        instance_type=reader.api_enum("instanceType", d.instance_type, PROCESSING_INSTANCE_TYPES),
        instance_count=_one_processing_instance(reader),
        volume_size_gb=reader.ranged(StandardizeConfig, "volume_size_gb"),
        max_runtime_seconds=reader.ranged(StandardizeConfig, "max_runtime_seconds"),
        image_uri=image_uri,
        exclude_columns=reader.environment_list("excludeColumns"),
        include_columns=reader.environment_list("includeColumns"),
        trigger_concurrency=reader.ranged(StandardizeConfig, "trigger_concurrency"),
    )


def _logs(reader: SettingReader) -> LogsConfig:
    reader.reject_unknown({camel_case(f.name) for f in fields(LogsConfig)})
    level = reader.string("stateMachineLevel", LogsConfig.state_machine_level)
    if level not in STATE_MACHINE_LOG_LEVELS:
        raise reader.fail(
            "stateMachineLevel", f"must be one of {', '.join(STATE_MACHINE_LOG_LEVELS)}, got {level!r}"
        )
    days = reader.data.get("retentionDays", LogsConfig.retention_days)
    if isinstance(days, bool) or not isinstance(days, int) or days not in LOG_RETENTION_DAYS:
        raise reader.fail(
            "retentionDays",
            f"must be a retention CloudWatch Logs accepts ({', '.join(map(str, LOG_RETENTION_DAYS))}), "
            f"got {days!r}",
        )
    return LogsConfig(
        level,
        reader.boolean("includeExecutionData", LogsConfig.include_execution_data),
        days,
        reader.boolean("kmsKey", LogsConfig.kms_key),
    )


def _quota_retry(reader: SettingReader) -> QuotaRetryConfig:
    reader.reject_unknown({camel_case(f.name) for f in fields(QuotaRetryConfig)})
    first = reader.ranged(QuotaRetryConfig, "first_wait_seconds")
    config = QuotaRetryConfig(
        first_wait_seconds=first,
        backoff_rate=reader.ranged(QuotaRetryConfig, "backoff_rate"),
        max_wait_seconds=reader.ranged(QuotaRetryConfig, "max_wait_seconds", low=first),
        max_total_wait_seconds=reader.ranged(QuotaRetryConfig, "max_total_wait_seconds", low=first),
    )
    waits = len(config.windows())
    if waits > MAX_QUOTA_ATTEMPTS:
        raise reader.fail(
            "maxTotalWaitSeconds",
            f"allows more than {MAX_QUOTA_ATTEMPTS} waits of at most {config.max_wait_seconds} s "
            "(each adds about 11 events to the execution history, which holds 25,000): "
            "lower it or raise maxWaitSeconds",
        )
    return config


def parse_env(name: str, data: Mapping[str, Any]) -> EnvConfig:
    """Validate the raw settings of environment ``name`` and build its :class:`EnvConfig`."""
    if not ENV_NAME_PATTERN.fullmatch(name):
        raise ConfigError(f"environment '{name}': the name must match {ENV_NAME_PATTERN.pattern}")
    reader = SettingReader(name, data, "")
    reader.reject_unknown(
        {"account", "region", "alertEmail", "bucketName", "standardize", "forecast", "logs", "quotaRetry"}
    )
    env = EnvConfig(
        name=name,
        account=reader.string("account", pattern=ACCOUNT_PATTERN),
        region=reader.string("region", pattern=REGION_PATTERN),
        alert_email=reader.optional_string("alertEmail", EMAIL_PATTERN),
        bucket_name=reader.optional_string("bucketName", rule=pipeline_rules.check_bucket_name),
        standardize=_standardize(reader.child("standardize")),
        forecast=read_forecast(reader.child("forecast")) if reader.present("forecast") else None,
        logs=_logs(reader.child("logs")),
        quota_retry=_quota_retry(reader.child("quotaRetry")),
    )
    _check_prefixes(reader, env)
    if env.logs.kms_key and env.region in LOGS_WITHOUT_KMS:
        raise reader.child("logs").fail(
            "kmsKey", f"is not available in {env.region}: CloudWatch Logs offers no KMS encryption there"
        )
    return env


def _check_prefixes(reader: SettingReader, env: EnvConfig) -> None:
    """No two pipelines may share (or nest) an S3 prefix: their IAM scopes would overlap."""
    named = {"standardize.inputPrefix": env.standardize.input_prefix}
    named["standardize.outputPrefix"] = env.standardize.output_prefix
    if env.forecast:
        named["forecast.etlPrefix"] = env.forecast.etl_prefix
        named["forecast.workPrefix"] = env.forecast.work_prefix
    items = list(named.items())
    for i, (key, value) in enumerate(items):
        for other_key, other in items[i + 1 :]:
            if value.startswith(other) or other.startswith(value):
                raise reader.fail(key, f"{value!r} overlaps '{other_key}' {other!r}")


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
