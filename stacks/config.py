"""Typed, frozen per-environment configuration, loaded once from ``cdk.json`` context.

``cdk.json`` holds ``context.environments.<name>``; ``-c env=NAME`` picks one. Every setting is
validated at load: a missing or bad one raises :class:`ConfigError` naming the setting and the
environment, so synth stops before any resource is built. The offline runner reads the same
objects, so prefixes, names and sizes have one source of truth. The rules the Lambdas and the
Glue job check too (frequencies, bucket names, key prefixes, identifiers, name prefixes and their
lengths) are ``pipeline_rules``'.

One file, over 400 lines, on purpose: each setting's type, default and check sit together, so a
reviewer of a setting reads one place; the sections follow cdk.json's (standardize, network,
database, deepar, forecast, logs, quota retry).
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pipeline_rules
from contracts import api_shapes
from forecast_metrics import FORECAST_QUANTILES, SELECTION_METRICS, check_selection_metric
from pipeline_rules import RuleError
from stacks.paths import ROOT

CDK_JSON = ROOT / "cdk.json"

_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^(us|eu|ap|sa|ca|me|af|il|mx|cn)(-gov)?-[a-z]+-\d$")
_ENV_NAME = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_VPC = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SG = re.compile(r"^sg-[0-9a-f]{8,17}$")
_AZ = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$")
_CIDR = re.compile(r"^\d{1,3}(\.\d{1,3}){3}/(1[6-9]|2[0-8])$")
_SECRET_ARN = re.compile(
    r"^arn:aws(-cn|-us-gov)?:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$"
)
_CRON = re.compile(r"^cron\(\S+( \S+){5}\)$")
_LIKELIHOOD = re.compile(r"^(gaussian|beta|negative-binomial|student-T|deterministic-L1)$")
_GLUE_WORKER = re.compile(r"^(G\.(025|1|2|4|8)X|Z\.2X)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: The instance types each SageMaker API takes (its enum in botocore's SageMaker model).
_PROCESSING_INSTANCES = ("CreateProcessingJob", "ProcessingInstanceType")
_TRAINING_INSTANCES = ("CreateTrainingJob", "TrainingInstanceType")
_TRANSFORM_INSTANCES = ("CreateTransformJob", "TransformInstanceType")
ECR_IMAGE_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/(?P<repo>[a-z0-9._/-]+)[:@].+$"
)

#: The rules of ``pipeline_rules`` that settings are read with (:meth:`_Reader.string`'s ``rule``).
Rule = Callable[[str], object]


def _job_name_prefix(prefix: str) -> object:
    return pipeline_rules.check_name_prefix(prefix, pipeline_rules.MAX_JOB_NAME_PREFIX)


def _forecast_name_prefix(prefix: str) -> object:
    return pipeline_rules.check_name_prefix(prefix, pipeline_rules.MAX_FORECAST_NAME_PREFIX)


class ConfigError(ValueError):
    """A setting in ``cdk.json`` is missing or invalid; the message names it and the environment."""


def partition_for(region: str) -> str:
    """The ARN partition of ``region``: ``aws-cn`` in China, ``aws-us-gov`` in GovCloud, else ``aws``."""
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws-us-gov" if region.startswith("us-gov-") else "aws"


#: Regions whose CloudWatch Logs does not encrypt with KMS keys ("Getting Started with Amazon Web
#: Services in China", CloudWatch Logs: not supported in the Ningxia Region).
LOGS_WITHOUT_KMS = frozenset({"cn-northwest-1"})


def domain_for(region: str) -> str:
    """The service domain of ``region``: ``amazonaws.com.cn`` in China, else ``amazonaws.com``."""
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"


@dataclass(frozen=True)
class StandardizeConfig:
    """Settings of the standardize pipeline.

    Defaults: input ``meta-data/*.csv``, output ``prediction-data/<N>/``, one ``ml.t3.medium``
    with a 30 GB volume and a one-hour limit. The volume holds the input plus the output, which
    is about 1.6-1.8x the input (doubles print 17 digits): size it at 3x the largest partition.
    ``instance_count`` must be 1: the one input file is sent to every instance (FullyReplicated),
    so more instances would each redo the whole file and write the same keys.
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
    #: The trigger function's reserved concurrency: a burst of uploads waits in Lambda's
    #: asynchronous queue (and then the failure queue) instead of taking the account's concurrency.
    #: None reserves nothing (an account may reserve only what leaves 100 unreserved).
    trigger_concurrency: int | None = 10


@dataclass(frozen=True)
class NetworkConfig:
    """Where the forecast's database clients run.

    With ``vpc_id`` the VPC is imported by attributes (no lookup): its private subnets and their
    AZs must be given, and it must already reach S3 and Secrets Manager (endpoints or NAT).
    Without it the app creates a small VPC (``vpc_cidr``, default 10.42.0.0/16) with isolated
    private subnets in the region's first two AZs, an S3
    gateway endpoint and interface endpoints for Secrets Manager and Glue. Database clients
    (the Glue connection and write-forecast) carry ``database_security_group_id``, a group the
    database accepts; without it the app creates one, which the database must then allow.
    """

    vpc_id: str | None = None
    private_subnet_ids: tuple[str, ...] = ()
    availability_zones: tuple[str, ...] = ()
    database_security_group_id: str | None = None
    vpc_cidr: str = "10.42.0.0/16"


#: ``database.tls`` values: ``required`` (default) verifies the server; ``disabled`` opts out.
DATABASE_TLS_MODES = ("required", "disabled")
#: The longest interval, in days, a Secrets Manager rotation schedule accepts (AutomaticallyAfterDays).
MAX_ROTATION_DAYS = 1000


@dataclass(frozen=True)
class RotationConfig:
    """Secrets Manager's hosted MySQL single-user rotation of the secret the app creates.

    Off by default; when ``enabled``, the password is rotated every ``schedule_days`` (default 30,
    1 to 1000) by a rotation function in the configured (imported) VPC.
    """

    enabled: bool = False
    schedule_days: int = 30


@dataclass(frozen=True)
class DatabaseConfig:
    """The MySQL source and forecast tables, and the secret with ``username``, ``password``,
    ``host``, ``port`` and ``dbname`` (RDS layout). Without ``secret_arn`` the app creates an
    empty secret (a generated placeholder password) for the user to fill in.

    ``tls`` ``required`` (default): the Glue connection and write-forecast use TLS and verify
    the server's certificate, against ``ca_bundle`` (a PEM file in the repository, a path
    relative to its root) or, without it, the Lambda runtime's and Glue's default trust stores.
    ``disabled`` is an explicit plaintext opt-out; synth warns about it.

    ``rotation`` can have Secrets Manager rotate the secret the app creates (default off).
    """

    host: str
    database: str
    source_table: str
    timestamp_column: str
    value_column: str
    port: int = 3306
    series_column: str | None = None
    forecast_table: str = "forecast"
    secret_arn: str | None = None
    tls: str = "required"
    ca_bundle: str | None = None
    rotation: RotationConfig = field(default_factory=RotationConfig)
    #: write-forecast's reserved concurrency, so the app holds at most this many MySQL connections
    #: (the quality gate and the write are the same function); None reserves nothing.
    max_connections: int | None = 2

    @property
    def ca_bundle_path(self) -> Path | None:
        """The absolute path of :attr:`ca_bundle`, or None."""
        return ROOT / self.ca_bundle if self.ca_bundle else None


#: The forecast's quantiles: what batch transform is asked for (write-forecast stores them as p10,
#: p50, p90) and what the test channel and the seasonal-naive baseline are scored at.


@dataclass(frozen=True)
class DeepArConfig:
    """DeepAR hyperparameters (the original tutorial's defaults) and SageMaker sizing.

    ``time_freq`` 1H, ``prediction_length`` 168, ``context_length`` 672, ``epochs`` 400,
    ``mini_batch_size`` 256, ``learning_rate`` 1e-3, ``early_stopping_patience`` 40; training on
    one ``ml.c5.2xlarge`` (at most ``training_max_runtime_seconds``, a day), batch transform on one
    ``ml.c5.xlarge`` (stopped after ``transform_max_runtime_seconds``, two hours).
    """

    time_freq: str = "1H"
    prediction_length: int = 168
    context_length: int = 672
    epochs: int = 400
    mini_batch_size: int = 256
    learning_rate: float = 1e-3
    early_stopping_patience: int = 40
    num_cells: int = 40
    num_layers: int = 2
    likelihood: str = "student-T"
    training_instance_type: str = "ml.c5.2xlarge"
    training_instance_count: int = 1
    training_volume_size_gb: int = 30
    training_max_runtime_seconds: int = 86400
    transform_instance_type: str = "ml.c5.xlarge"
    transform_instance_count: int = 1
    #: Batch transform jobs have no runtime limit of their own: the Transform task stops the job
    #: after this (plus contracts.timeouts.JOB_MARGIN_SECONDS).
    transform_max_runtime_seconds: int = 7200

    def hyperparameters(self) -> dict[str, str]:
        """The ``HyperParameters`` of the training job (SageMaker wants strings)."""
        return {
            "time_freq": self.time_freq,
            "prediction_length": str(self.prediction_length),
            "context_length": str(self.context_length),
            "epochs": str(self.epochs),
            "mini_batch_size": str(self.mini_batch_size),
            "learning_rate": repr(self.learning_rate),
            "early_stopping_patience": str(self.early_stopping_patience),
            "num_cells": str(self.num_cells),
            "num_layers": str(self.num_layers),
            "likelihood": self.likelihood,
            "test_quantiles": json.dumps([float(q) for q in FORECAST_QUANTILES]),
        }


@dataclass(frozen=True)
class QualityGateConfig:
    """Per-series selection at the forecast write: each series is written from the model when its
    backtest loss on ``metric`` (default ``mean_wQuantileLoss``; ``forecast_metrics.SELECTION_METRICS``)
    is at most ``max_loss_ratio`` (default 1.0) times the probabilistic seasonal-naive baseline's,
    else from the baseline. A model that loses does not fail the run; an alarm fires when it wins
    no series. ``enabled`` (default true) false writes every series from the model.
    """

    enabled: bool = True
    max_loss_ratio: float = 1.0
    metric: str = SELECTION_METRICS[0]


#: Lambda's limits on a function's memory (MB) and timeout (seconds).
LAMBDA_MEMORY_MB = (128, 10240)
LAMBDA_TIMEOUT_SECONDS = (1, 900)


@dataclass(frozen=True)
class GenerateDatasetConfig:
    """The generate-dataset Lambda's size: ``memoryMb`` (default 1024, 128 to 10240) and
    ``timeoutSeconds`` (default 300, 1 to 900).

    The function holds about 25 bytes a CSV row, and fails early with ``InputTooLarge`` when 96 MB
    + up to 64 MB for its uploads + 1.5 x the CSV exceeds ``memoryMb``: 1024 MB admits about 1,770
    series x 8,760 hours of 39-byte rows. Raise both together: time grows with the input, and the
    CPU share with the memory only up to 1769 MB (the work is one thread). The sizes and times are
    in docs/limits.md, the measurements in benchmarks/README.md (``generate_dataset.py``).
    """

    memory_mb: int = 1024
    timeout_seconds: int = 300


@dataclass(frozen=True)
class ForecastConfig:
    """The forecast pipeline: Glue ETL on a UTC cron schedule, DeepAR, forecast back to MySQL.

    ``schedule`` is a Glue cron expression in UTC; the default ``cron(0 18 * * ? *)`` is 02:00 at
    UTC+8, the original's local time (local hour H at UTC+X is UTC hour H-X, modulo 24, possibly
    on the previous day). The ETL writes ``<etl_prefix><table>/run=<JOB_RUN_ID>/``; each run's
    datasets, model and forecast go under ``<work_prefix><execution name>/``.
    """

    database: DatabaseConfig
    network: NetworkConfig = field(default_factory=NetworkConfig)
    deepar: DeepArConfig = field(default_factory=DeepArConfig)
    quality_gate: QualityGateConfig = field(default_factory=QualityGateConfig)
    generate_dataset: GenerateDatasetConfig = field(default_factory=GenerateDatasetConfig)
    schedule: str = "cron(0 18 * * ? *)"
    etl_prefix: str = "etl/"
    work_prefix: str = "forecast/"
    name_prefix: str = "forecast"
    glue_worker_type: str = "G.1X"
    glue_workers: int = 2

    @property
    def etl_table_prefix(self) -> str:
        """Where the Glue job writes: ``<etl_prefix><source table>/``."""
        return f"{self.etl_prefix}{self.database.source_table}/"


#: Step Functions log levels, most verbose first.
STATE_MACHINE_LOG_LEVELS = ("ALL", "ERROR", "FATAL", "OFF")
#: The retention periods, in days, that CloudWatch Logs accepts (PutRetentionPolicy).
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip


@dataclass(frozen=True)
class LogsConfig:
    """What the state machines log: ``stateMachineLevel`` (default ``ALL``, or ``ERROR``,
    ``FATAL``, ``OFF``) and ``includeExecutionData`` (default true: inputs and outputs, which
    hold S3 keys and job names, no data values); and ``retentionDays`` (default 90), how long
    every log group the app writes to keeps its events, one of :data:`LOG_RETENTION_DAYS`."""

    state_machine_level: str = "ALL"
    include_execution_data: bool = True
    retention_days: int = 90
    #: Encrypt the app's own log groups with a key of each stack (default off: CloudWatch Logs
    #: already encrypts at rest; a key adds who-may-read control at a key's cost, and KMS log
    #: encryption is not offered in cn-northwest-1).
    kms_key: bool = False


#: The most quota waits one job may make: each adds about 11 events to its execution's history,
#: which holds at most 25,000, and the forecast's two jobs may each use all of them.
MAX_QUOTA_ATTEMPTS = 500
#: The longest a Standard workflow execution may run: one year.
MAX_EXECUTION_SECONDS = 31_536_000


@dataclass(frozen=True)
class QuotaRetryConfig:
    """How a SageMaker job waits out the account's quota (``ResourceLimitExceeded``) and tries again.

    Applies to the processing job (standardize) and the training and transform jobs (forecast).
    Wait ``k`` (from 0) is a whole number of seconds drawn at random from ``[ceil(b/2), b]`` with
    ``b = min(first_wait_seconds * backoff_rate**k, max_wait_seconds)``: a burst of rejected jobs
    spreads out, and no wait is shorter than half its step. The job stops waiting, and fails as
    any other error fails it, after as many waits as fit in ``max_total_wait_seconds`` at their
    longest. Defaults: 60 s first, rate 2, at most 900 s (15 min) each, at most 43200 s (12 h) in
    all, which is 51 waits and about 9 h of waiting on average.
    """

    first_wait_seconds: int = 60
    backoff_rate: float = 2.0
    max_wait_seconds: int = 900
    max_total_wait_seconds: int = 43200

    def windows(self) -> tuple[tuple[int, int], ...]:
        """``(shortest, longest)`` seconds of each wait in turn; the longest add up to at most the total."""
        windows: list[tuple[int, int]] = []
        step, total = float(self.first_wait_seconds), 0
        while len(windows) <= MAX_QUOTA_ATTEMPTS:
            high = min(round(step), self.max_wait_seconds)
            if total + high > self.max_total_wait_seconds:
                break
            windows.append(((high + 1) // 2, high))
            total += high
            step = min(step * self.backoff_rate, float(self.max_wait_seconds))
        return tuple(windows)


@dataclass(frozen=True)
class EnvConfig:
    """One deployment environment: where it goes and how its pipelines are sized."""

    name: str
    account: str
    region: str
    alert_email: str | None = None
    bucket_name: str | None = None
    standardize: StandardizeConfig = field(default_factory=StandardizeConfig)
    forecast: ForecastConfig | None = None
    logs: LogsConfig = field(default_factory=LogsConfig)
    quota_retry: QuotaRetryConfig = field(default_factory=QuotaRetryConfig)

    @property
    def data_bucket_name(self) -> str:
        """The data bucket's name: ``bucketName`` if set, else ``ml-pipelines-<env>-<account>-<region>``."""
        return self.bucket_name or f"{pipeline_rules.resource_prefix(self.name)}-{self.account}-{self.region}"

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


def _camel_case(name: str) -> str:
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

    def child(self, key: str) -> _Reader:
        value = self.data.get(key, {})
        if not isinstance(value, Mapping):
            raise self.fail(key, "must be an object")
        return _Reader(self.env, value, f"{self.path}{key}.")


def _one_processing_instance(reader: _Reader) -> int:
    """``standardize.instanceCount``: 1, the only meaningful value (see :class:`StandardizeConfig`)."""
    count = reader.integer("instanceCount", StandardizeConfig.instance_count, 1, 100)
    if count != 1:
        raise reader.fail(
            "instanceCount",
            f"must be 1, got {count}: the job's input is one CSV file, sent to every instance "
            "(FullyReplicated), so each further instance would standardize the whole file again and "
            "write the same output keys; use a larger instanceType for a larger partition",
        )
    return count


def _standardize(reader: _Reader) -> StandardizeConfig:
    reader.reject_unknown({_camel_case(f.name) for f in fields(StandardizeConfig)})
    d = StandardizeConfig()
    prefix = reader.string("jobNamePrefix", d.job_name_prefix, rule=_job_name_prefix)
    image_uri = reader.optional_string("imageUri", ECR_IMAGE_URI)
    return StandardizeConfig(  # _check_prefixes keeps the prefixes apart
        input_prefix=reader.prefix("inputPrefix", d.input_prefix),
        input_suffix=reader.string("inputSuffix", d.input_suffix, re.compile(r"^\.[A-Za-z0-9]+$")),
        output_prefix=reader.prefix("outputPrefix", d.output_prefix),
        job_name_prefix=prefix,
        instance_type=reader.api_enum("instanceType", d.instance_type, _PROCESSING_INSTANCES),
        instance_count=_one_processing_instance(reader),
        volume_size_gb=reader.integer("volumeSizeGb", d.volume_size_gb, 1, 16384),
        max_runtime_seconds=reader.integer("maxRuntimeSeconds", d.max_runtime_seconds, 60, 432000),
        image_uri=image_uri,
        exclude_columns=reader.environment_list("excludeColumns"),
        include_columns=reader.environment_list("includeColumns"),
        trigger_concurrency=reader.optional_integer("triggerConcurrency", d.trigger_concurrency, 1, 1000),
    )


def _network(reader: _Reader) -> NetworkConfig:
    reader.reject_unknown({_camel_case(f.name) for f in fields(NetworkConfig)})
    vpc_id = reader.optional_string("vpcId", _VPC)
    subnets = reader.strings("privateSubnetIds", _SUBNET)
    azs = reader.strings("availabilityZones", _AZ)
    if vpc_id:
        if not subnets:
            raise reader.fail(
                "privateSubnetIds", "is needed when vpcId is set (the VPC is imported, not looked up)"
            )
        if len(azs) != len(subnets):
            raise reader.fail("availabilityZones", "must list one AZ per private subnet, in the same order")
    elif subnets or azs:
        raise reader.fail(
            "vpcId", "is missing: privateSubnetIds and availabilityZones only apply to an imported VPC"
        )
    return NetworkConfig(
        vpc_id=vpc_id,
        private_subnet_ids=subnets,
        availability_zones=azs,
        database_security_group_id=reader.optional_string("databaseSecurityGroupId", _SG),
        vpc_cidr=reader.string("vpcCidr", NetworkConfig.vpc_cidr, _CIDR),
    )


def _database(reader: _Reader) -> DatabaseConfig:
    reader.reject_unknown({_camel_case(f.name) for f in fields(DatabaseConfig)})
    config = DatabaseConfig(
        host=reader.string("host", pattern=_HOST),
        port=reader.integer("port", 3306, 1, 65535),
        database=reader.string("database", rule=_identifier),
        source_table=reader.string("sourceTable", rule=_identifier),
        timestamp_column=reader.string("timestampColumn", rule=_identifier),
        value_column=reader.string("valueColumn", rule=_identifier),
        series_column=reader.optional_string("seriesColumn", rule=_identifier),
        forecast_table=reader.string(
            "forecastTable", DatabaseConfig.forecast_table, rule=pipeline_rules.check_forecast_table
        ),
        secret_arn=reader.optional_string("secretArn", _SECRET_ARN),
        tls=reader.string("tls", DatabaseConfig.tls),
        ca_bundle=reader.optional_string("caBundle"),
        rotation=_rotation(reader.child("rotation")),
        max_connections=reader.optional_integer("maxConnections", DatabaseConfig.max_connections, 1, 100),
    )
    _check_tls(reader, config)
    try:  # the Glue job's and generate-dataset's rule: distinct columns (case-insensitively)
        pipeline_rules.check_columns(config.timestamp_column, config.value_column, config.series_column)
    except RuleError as exc:
        raise reader.fail("valueColumn", f"(or timestampColumn/seriesColumn) is invalid: it {exc}") from None
    return config


def _identifier(name: str) -> object:
    return pipeline_rules.check_identifier(name)


def _check_tls(reader: _Reader, config: DatabaseConfig) -> None:
    """``tls`` is a known mode; ``caBundle`` is a PEM CA bundle in the repository, only with TLS."""
    if config.tls not in DATABASE_TLS_MODES:
        raise reader.fail("tls", f"must be one of {', '.join(DATABASE_TLS_MODES)}, got {config.tls!r}")
    path = config.ca_bundle_path
    if path is None:
        return
    if config.tls == "disabled":
        raise reader.fail("caBundle", "is set but tls is 'disabled'; remove one of them")
    if Path(config.ca_bundle or "").is_absolute() or not path.resolve().is_relative_to(ROOT.resolve()):
        raise reader.fail(
            "caBundle", f"{config.ca_bundle!r} must be a path inside the repository, relative to its root"
        )
    if not path.is_file():
        raise reader.fail("caBundle", f"{config.ca_bundle!r} is not a file")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cafile=str(path))
    except (ssl.SSLError, OSError, UnicodeDecodeError) as exc:
        raise reader.fail(
            "caBundle", f"{config.ca_bundle!r} is not a PEM bundle of CA certificates: {exc}"
        ) from None
    if not context.get_ca_certs():
        raise reader.fail("caBundle", f"{config.ca_bundle!r} holds no CA certificate")


def _rotation(reader: _Reader) -> RotationConfig:
    reader.reject_unknown({_camel_case(f.name) for f in fields(RotationConfig)})
    return RotationConfig(
        enabled=reader.boolean("enabled", RotationConfig.enabled),
        schedule_days=reader.integer("scheduleDays", RotationConfig.schedule_days, 1, MAX_ROTATION_DAYS),
    )


def _check_rotation(reader: _Reader, cfg: ForecastConfig) -> None:
    """Rotation needs the secret the app creates and a VPC the shared stack can import."""
    if not cfg.database.rotation.enabled:
        return
    rotation = reader.child("database").child("rotation")
    if cfg.database.secret_arn:
        raise rotation.fail(
            "enabled",
            "applies to the secret the app creates, and forecast.database.secretArn names your own: "
            "rotate that one where it is managed",
        )
    if not cfg.network.vpc_id:
        raise rotation.fail(
            "enabled",
            "needs forecast.network.vpcId: the rotation function runs in the database's VPC, and the "
            "shared stack that holds the secret can only import one (a VPC the app creates lives in "
            "the forecast stack, which depends on the shared one)",
        )


def _deepar(reader: _Reader) -> DeepArConfig:
    reader.reject_unknown({_camel_case(f.name) for f in fields(DeepArConfig)})
    d = DeepArConfig()
    return DeepArConfig(
        time_freq=reader.string("timeFreq", d.time_freq, rule=pipeline_rules.freq_step),
        prediction_length=reader.integer("predictionLength", d.prediction_length, 1, 100_000),
        context_length=reader.integer("contextLength", d.context_length, 1, 100_000),
        epochs=reader.integer("epochs", d.epochs, 1, 100_000),
        mini_batch_size=reader.integer("miniBatchSize", d.mini_batch_size, 1, 100_000),
        learning_rate=reader.number("learningRate", d.learning_rate, 1e-6, 1.0),
        early_stopping_patience=reader.integer(
            "earlyStoppingPatience", d.early_stopping_patience, 1, 100_000
        ),
        num_cells=reader.integer("numCells", d.num_cells, 1, 200),
        num_layers=reader.integer("numLayers", d.num_layers, 1, 8),
        likelihood=reader.string("likelihood", d.likelihood, _LIKELIHOOD),
        training_instance_type=reader.api_enum(
            "trainingInstanceType", d.training_instance_type, _TRAINING_INSTANCES
        ),
        training_instance_count=reader.integer("trainingInstanceCount", d.training_instance_count, 1, 100),
        training_volume_size_gb=reader.integer("trainingVolumeSizeGb", d.training_volume_size_gb, 1, 16384),
        training_max_runtime_seconds=reader.integer(
            "trainingMaxRuntimeSeconds", d.training_max_runtime_seconds, 60, 2_419_200
        ),
        transform_instance_type=reader.api_enum(
            "transformInstanceType", d.transform_instance_type, _TRANSFORM_INSTANCES
        ),
        transform_instance_count=reader.integer("transformInstanceCount", d.transform_instance_count, 1, 100),
        transform_max_runtime_seconds=reader.integer(
            "transformMaxRuntimeSeconds", d.transform_max_runtime_seconds, 60, 2_419_200
        ),
    )


def _quality_gate(reader: _Reader) -> QualityGateConfig:
    reader.reject_unknown({_camel_case(f.name) for f in fields(QualityGateConfig)})
    d = QualityGateConfig()
    return QualityGateConfig(
        enabled=reader.boolean("enabled", d.enabled),
        max_loss_ratio=reader.number("maxLossRatio", d.max_loss_ratio, 0.01, 100.0),
        metric=reader.string("metric", d.metric, rule=check_selection_metric),
    )


def _generate_dataset(reader: _Reader) -> GenerateDatasetConfig:
    reader.reject_unknown({_camel_case(f.name) for f in fields(GenerateDatasetConfig)})
    d = GenerateDatasetConfig()
    return GenerateDatasetConfig(
        memory_mb=reader.integer("memoryMb", d.memory_mb, *LAMBDA_MEMORY_MB),
        timeout_seconds=reader.integer("timeoutSeconds", d.timeout_seconds, *LAMBDA_TIMEOUT_SECONDS),
    )


def _forecast(reader: _Reader) -> ForecastConfig:
    reader.reject_unknown({_camel_case(f.name) for f in fields(ForecastConfig)})
    if not reader.present("database"):
        raise reader.fail(
            "database", "is missing (host, database, sourceTable, timestampColumn, valueColumn)"
        )
    prefix = reader.string("namePrefix", ForecastConfig.name_prefix, rule=_forecast_name_prefix)
    config = ForecastConfig(
        database=_database(reader.child("database")),
        network=_network(reader.child("network")),
        deepar=_deepar(reader.child("deepar")),
        quality_gate=_quality_gate(reader.child("qualityGate")),
        generate_dataset=_generate_dataset(reader.child("generateDataset")),
        schedule=reader.string("schedule", ForecastConfig.schedule, _CRON),
        etl_prefix=reader.prefix("etlPrefix", ForecastConfig.etl_prefix),
        work_prefix=reader.prefix("workPrefix", ForecastConfig.work_prefix),
        name_prefix=prefix,
        glue_worker_type=reader.string("glueWorkerType", ForecastConfig.glue_worker_type, _GLUE_WORKER),
        glue_workers=reader.integer("glueWorkers", ForecastConfig.glue_workers, 2, 299),
    )
    _check_rotation(reader, config)
    return config


def _logs(reader: _Reader) -> LogsConfig:
    reader.reject_unknown({_camel_case(f.name) for f in fields(LogsConfig)})
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


def _quota_retry(reader: _Reader) -> QuotaRetryConfig:
    reader.reject_unknown({_camel_case(f.name) for f in fields(QuotaRetryConfig)})
    d = QuotaRetryConfig()
    first = reader.integer("firstWaitSeconds", d.first_wait_seconds, 1, 3600)
    config = QuotaRetryConfig(
        first_wait_seconds=first,
        backoff_rate=reader.number("backoffRate", d.backoff_rate, 1.0, 10.0),
        max_wait_seconds=reader.integer("maxWaitSeconds", d.max_wait_seconds, first, 86400),
        max_total_wait_seconds=reader.integer(
            "maxTotalWaitSeconds", d.max_total_wait_seconds, first, MAX_EXECUTION_SECONDS
        ),
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
    if not _ENV_NAME.fullmatch(name):
        raise ConfigError(f"environment '{name}': the name must match {_ENV_NAME.pattern}")
    reader = _Reader(name, data, "")
    reader.reject_unknown(
        {"account", "region", "alertEmail", "bucketName", "standardize", "forecast", "logs", "quotaRetry"}
    )
    env = EnvConfig(
        name=name,
        account=reader.string("account", pattern=_ACCOUNT),
        region=reader.string("region", pattern=_REGION),
        alert_email=reader.optional_string("alertEmail", _EMAIL),
        bucket_name=reader.optional_string("bucketName", rule=pipeline_rules.check_bucket_name),
        standardize=_standardize(reader.child("standardize")),
        forecast=_forecast(reader.child("forecast")) if reader.present("forecast") else None,
        logs=_logs(reader.child("logs")),
        quota_retry=_quota_retry(reader.child("quotaRetry")),
    )
    _check_prefixes(reader, env)
    if env.logs.kms_key and env.region in LOGS_WITHOUT_KMS:
        raise reader.child("logs").fail(
            "kmsKey", f"is not available in {env.region}: CloudWatch Logs offers no KMS encryption there"
        )
    return env


def _check_prefixes(reader: _Reader, env: EnvConfig) -> None:
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
