"""The app's configuration, CDK-free and below everything that uses it: the typed settings of an
environment (:mod:`config.model`), read and checked from ``cdk.json`` (:mod:`config.reader`,
:mod:`config.forecast_reader`, :mod:`config.setting_reader`), the project's paths
(:mod:`config.paths`) and the AWS API models the settings are checked against
(:mod:`config.api_shapes`). The stacks, ``contracts/``, the offline runner and the tests import
it; it imports none of them.
"""

from config.model import (
    DATABASE_TLS_MODES,
    LAMBDA_MEMORY_MB,
    LAMBDA_TIMEOUT_SECONDS,
    LOG_RETENTION_DAYS,
    LOGS_WITHOUT_KMS,
    MAX_EXECUTION_SECONDS,
    MAX_QUOTA_ATTEMPTS,
    MAX_ROTATION_DAYS,
    STATE_MACHINE_LOG_LEVELS,
    ConfigError,
    DatabaseConfig,
    DeepArConfig,
    EnvConfig,
    ForecastConfig,
    GenerateDatasetConfig,
    LogsConfig,
    NetworkConfig,
    QualityGateConfig,
    QuotaRetryConfig,
    RotationConfig,
    StandardizeConfig,
    domain_for,
    partition_for,
)
from config.reader import (
    CDK_JSON,
    environments_from_context,
    load_env,
    parse_env,
    read_cdk_context,
)
from config.setting_reader import ECR_IMAGE_URI

__all__ = [
    "CDK_JSON",
    "DATABASE_TLS_MODES",
    "ECR_IMAGE_URI",
    "LAMBDA_MEMORY_MB",
    "LAMBDA_TIMEOUT_SECONDS",
    "LOGS_WITHOUT_KMS",
    "LOG_RETENTION_DAYS",
    "MAX_EXECUTION_SECONDS",
    "MAX_QUOTA_ATTEMPTS",
    "MAX_ROTATION_DAYS",
    "STATE_MACHINE_LOG_LEVELS",
    "ConfigError",
    "DatabaseConfig",
    "DeepArConfig",
    "EnvConfig",
    "ForecastConfig",
    "GenerateDatasetConfig",
    "LogsConfig",
    "NetworkConfig",
    "QualityGateConfig",
    "QuotaRetryConfig",
    "RotationConfig",
    "StandardizeConfig",
    "domain_for",
    "environments_from_context",
    "load_env",
    "parse_env",
    "partition_for",
    "read_cdk_context",
]
