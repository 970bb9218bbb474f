"""Reading the ``forecast`` object of an environment: network, database, rotation, DeepAR, the
selection (``qualityGate``) and generate-dataset's size, each checked as it is read."""

from __future__ import annotations

import ssl
from dataclasses import fields
from pathlib import Path

import pipeline_rules
from config.model import (
    DATABASE_TLS_MODES,
    DatabaseConfig,
    DeepArConfig,
    ForecastConfig,
    GenerateDatasetConfig,
    NetworkConfig,
    QualityGateConfig,
    RotationConfig,
)
from config.paths import ROOT
from config.setting_reader import (
    AZ_PATTERN,
    CIDR_PATTERN,
    CRON_PATTERN,
    GLUE_WORKER_PATTERN,
    HOST_PATTERN,
    LIKELIHOOD_PATTERN,
    SECRET_ARN_PATTERN,
    SECURITY_GROUP_PATTERN,
    SUBNET_PATTERN,
    TRAINING_INSTANCE_TYPES,
    TRANSFORM_INSTANCE_TYPES,
    VPC_PATTERN,
    SettingReader,
    camel_case,
    forecast_name_prefix_rule,
)
from forecast_metrics import check_selection_metric
from pipeline_rules import RuleError


def _network(reader: SettingReader) -> NetworkConfig:
    reader.reject_unknown({camel_case(f.name) for f in fields(NetworkConfig)})
    vpc_id = reader.optional_string("vpcId", VPC_PATTERN)
    subnets = reader.strings("privateSubnetIds", SUBNET_PATTERN)
    azs = reader.strings("availabilityZones", AZ_PATTERN)
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
        database_security_group_id=reader.optional_string("databaseSecurityGroupId", SECURITY_GROUP_PATTERN),
        vpc_cidr=reader.string("vpcCidr", NetworkConfig.vpc_cidr, CIDR_PATTERN),
    )


def _database(reader: SettingReader) -> DatabaseConfig:
    reader.reject_unknown({camel_case(f.name) for f in fields(DatabaseConfig)})
    config = DatabaseConfig(
        host=reader.string("host", pattern=HOST_PATTERN),
        port=reader.ranged(DatabaseConfig, "port"),
        database=reader.string("database", rule=_identifier),
        source_table=reader.string("sourceTable", rule=_identifier),
        timestamp_column=reader.string("timestampColumn", rule=_identifier),
        value_column=reader.string("valueColumn", rule=_identifier),
        series_column=reader.optional_string("seriesColumn", rule=_identifier),
        forecast_table=reader.string(
            "forecastTable", DatabaseConfig.forecast_table, rule=pipeline_rules.check_forecast_table
        ),
        secret_arn=reader.optional_string("secretArn", SECRET_ARN_PATTERN),
        tls=reader.string("tls", DatabaseConfig.tls),
        ca_bundle=reader.optional_string("caBundle"),
        rotation=_rotation(reader.child("rotation")),
        max_connections=reader.ranged(DatabaseConfig, "max_connections"),
    )
    _check_tls(reader, config)
    try:  # the Glue job's and generate-dataset's rule: distinct columns (case-insensitively)
        pipeline_rules.check_columns(config.timestamp_column, config.value_column, config.series_column)
    except RuleError as exc:
        raise reader.fail("valueColumn", f"(or timestampColumn/seriesColumn) is invalid: it {exc}") from None
    return config


def _identifier(name: str) -> object:
    return pipeline_rules.check_identifier(name)


def _check_tls(reader: SettingReader, config: DatabaseConfig) -> None:
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


def _rotation(reader: SettingReader) -> RotationConfig:
    reader.reject_unknown({camel_case(f.name) for f in fields(RotationConfig)})
    return RotationConfig(
        enabled=reader.boolean("enabled", RotationConfig.enabled),
        schedule_days=reader.ranged(RotationConfig, "schedule_days"),
    )


def _check_rotation(reader: SettingReader, cfg: ForecastConfig) -> None:
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


def _deepar(reader: SettingReader) -> DeepArConfig:
    reader.reject_unknown({camel_case(f.name) for f in fields(DeepArConfig)})
    d = DeepArConfig()
    return DeepArConfig(
        time_freq=reader.string("timeFreq", d.time_freq, rule=pipeline_rules.freq_step),
        prediction_length=reader.ranged(DeepArConfig, "prediction_length"),
        context_length=reader.ranged(DeepArConfig, "context_length"),
        epochs=reader.ranged(DeepArConfig, "epochs"),
        mini_batch_size=reader.ranged(DeepArConfig, "mini_batch_size"),
        learning_rate=reader.ranged(DeepArConfig, "learning_rate"),
        early_stopping_patience=reader.ranged(DeepArConfig, "early_stopping_patience"),
        num_cells=reader.ranged(DeepArConfig, "num_cells"),
        num_layers=reader.ranged(DeepArConfig, "num_layers"),
        likelihood=reader.string("likelihood", d.likelihood, LIKELIHOOD_PATTERN),
        training_instance_type=reader.api_enum(
            "trainingInstanceType", d.training_instance_type, TRAINING_INSTANCE_TYPES
        ),
        training_instance_count=reader.ranged(DeepArConfig, "training_instance_count"),
        training_volume_size_gb=reader.ranged(DeepArConfig, "training_volume_size_gb"),
        training_max_runtime_seconds=reader.ranged(DeepArConfig, "training_max_runtime_seconds"),
        transform_instance_type=reader.api_enum(
            "transformInstanceType", d.transform_instance_type, TRANSFORM_INSTANCE_TYPES
        ),
        transform_instance_count=reader.ranged(DeepArConfig, "transform_instance_count"),
        transform_max_runtime_seconds=reader.ranged(DeepArConfig, "transform_max_runtime_seconds"),
    )


def _quality_gate(reader: SettingReader) -> QualityGateConfig:
    reader.reject_unknown({camel_case(f.name) for f in fields(QualityGateConfig)})
    d = QualityGateConfig()
    return QualityGateConfig(
        enabled=reader.boolean("enabled", d.enabled),
        max_loss_ratio=reader.ranged(QualityGateConfig, "max_loss_ratio"),
        metric=reader.string("metric", d.metric, rule=check_selection_metric),
    )


def _generate_dataset(reader: SettingReader) -> GenerateDatasetConfig:
    reader.reject_unknown({camel_case(f.name) for f in fields(GenerateDatasetConfig)})
    return GenerateDatasetConfig(
        memory_mb=reader.ranged(GenerateDatasetConfig, "memory_mb"),
        timeout_seconds=reader.ranged(GenerateDatasetConfig, "timeout_seconds"),
    )


def read_forecast(reader: SettingReader) -> ForecastConfig:
    reader.reject_unknown({camel_case(f.name) for f in fields(ForecastConfig)})
    if not reader.present("database"):
        raise reader.fail(
            "database", "is missing (host, database, sourceTable, timestampColumn, valueColumn)"
        )
    prefix = reader.string("namePrefix", ForecastConfig.name_prefix, rule=forecast_name_prefix_rule)
    config = ForecastConfig(
        database=_database(reader.child("database")),
        network=_network(reader.child("network")),
        deepar=_deepar(reader.child("deepar")),
        quality_gate=_quality_gate(reader.child("qualityGate")),
        generate_dataset=_generate_dataset(reader.child("generateDataset")),
        schedule=reader.string("schedule", ForecastConfig.schedule, CRON_PATTERN),
        etl_prefix=reader.prefix("etlPrefix", ForecastConfig.etl_prefix),
        work_prefix=reader.prefix("workPrefix", ForecastConfig.work_prefix),
        name_prefix=prefix,
        glue_worker_type=reader.string(
            "glueWorkerType", ForecastConfig.glue_worker_type, GLUE_WORKER_PATTERN
        ),
        glue_workers=reader.ranged(ForecastConfig, "glue_workers"),
    )
    _check_rotation(reader, config)
    return config
