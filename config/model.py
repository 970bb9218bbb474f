"""The typed, frozen settings of an environment: one dataclass per section of ``cdk.json``'s
environment (standardize, network, database, deepar, forecast, logs, quota retry), each field with
its default (and a number's range, :func:`ranged`), and the constants their checks use.
:mod:`config.reader` builds them from ``cdk.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pipeline_rules
from config.paths import ROOT
from forecast_metrics import FORECAST_QUANTILES, SELECTION_METRICS

#: The ``metadata`` key of a numeric setting's closed range.
RANGE = "range"


def ranged(default: Any, low: float, high: float) -> Any:
    """A numeric field's default and the closed range ``[low, high]`` a setting must lie in: the
    reader checks the range, and the configuration reference prints it, from this one place."""
    return field(default=default, metadata={RANGE: (low, high)})


def setting_range(cls: type, name: str) -> tuple[float, float] | None:
    """The range of ``cls``'s field ``name``, or None for a field without one."""
    found = {f.name: f for f in fields(cls)}[name].metadata.get(RANGE)
    return None if found is None else (found[0], found[1])


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
    instance_count: int = ranged(1, 1, 100)
    volume_size_gb: int = ranged(30, 1, 16384)
    max_runtime_seconds: int = ranged(3600, 60, 432000)
    image_uri: str | None = None
    exclude_columns: tuple[str, ...] = ()
    include_columns: tuple[str, ...] = ()
    #: The trigger function's reserved concurrency: a burst of uploads waits in Lambda's
    #: asynchronous queue (and then the failure queue) instead of taking the account's concurrency.
    #: None reserves nothing (an account may reserve only what leaves 100 unreserved).
    trigger_concurrency: int | None = ranged(10, 1, 1000)


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
    schedule_days: int = ranged(30, 1, MAX_ROTATION_DAYS)


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
    port: int = ranged(3306, 1, 65535)
    series_column: str | None = None
    forecast_table: str = "forecast"
    secret_arn: str | None = None
    tls: str = "required"
    ca_bundle: str | None = None
    rotation: RotationConfig = field(default_factory=RotationConfig)
    #: write-forecast's reserved concurrency, so the app holds at most this many MySQL connections
    #: (the quality gate and the write are the same function); None reserves nothing.
    max_connections: int | None = ranged(2, 1, 100)

    @property
    def ca_bundle_path(self) -> Path | None:
        """The absolute path of :attr:`ca_bundle`, or None."""
        return ROOT / self.ca_bundle if self.ca_bundle else None


@dataclass(frozen=True)
class DeepArConfig:
    """DeepAR hyperparameters (the original tutorial's defaults) and SageMaker sizing.

    ``time_freq`` 1H, ``prediction_length`` 168, ``context_length`` 672, ``epochs`` 400,
    ``mini_batch_size`` 256, ``learning_rate`` 1e-3, ``early_stopping_patience`` 40; training on
    one ``ml.c5.2xlarge`` (at most ``training_max_runtime_seconds``, a day), batch transform on one
    ``ml.c5.xlarge`` (stopped after ``transform_max_runtime_seconds``, two hours).
    """

    time_freq: str = "1H"
    prediction_length: int = ranged(168, 1, 100_000)
    context_length: int = ranged(672, 1, 100_000)
    epochs: int = ranged(400, 1, 100_000)
    mini_batch_size: int = ranged(256, 1, 100_000)
    learning_rate: float = ranged(1e-3, 1e-6, 1.0)
    early_stopping_patience: int = ranged(40, 1, 100_000)
    num_cells: int = ranged(40, 1, 200)
    num_layers: int = ranged(2, 1, 8)
    likelihood: str = "student-T"
    training_instance_type: str = "ml.c5.2xlarge"
    training_instance_count: int = ranged(1, 1, 100)
    training_volume_size_gb: int = ranged(30, 1, 16384)
    training_max_runtime_seconds: int = ranged(86400, 60, 2_419_200)
    transform_instance_type: str = "ml.c5.xlarge"
    transform_instance_count: int = ranged(1, 1, 100)
    #: Batch transform jobs have no runtime limit of their own: the Transform task stops the job
    #: after this (plus contracts.timeouts.JOB_MARGIN_SECONDS).
    transform_max_runtime_seconds: int = ranged(7200, 60, 2_419_200)

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
    max_loss_ratio: float = ranged(1.0, 0.01, 100.0)
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

    memory_mb: int = ranged(1024, *LAMBDA_MEMORY_MB)
    timeout_seconds: int = ranged(300, *LAMBDA_TIMEOUT_SECONDS)


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
    glue_workers: int = ranged(2, 2, 299)

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

    first_wait_seconds: int = ranged(60, 1, 3600)
    backoff_rate: float = ranged(2.0, 1.0, 10.0)
    max_wait_seconds: int = ranged(900, 1, 86400)
    max_total_wait_seconds: int = ranged(43200, 1, MAX_EXECUTION_SECONDS)

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
