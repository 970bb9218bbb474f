"""Each Lambda's environment, for the stacks and the offline runner alike."""

from __future__ import annotations

import json

from config import ForecastConfig, StandardizeConfig
from contracts.database_tls import lambda_tls_environment
from forecast_metrics import FORECAST_QUANTILES


def trigger_environment(state_machine_arn: str) -> dict[str, str]:
    """The trigger's environment: the standardize state machine to start."""
    return {"STATE_MACHINE_ARN": state_machine_arn}


def get_batch_id_environment(cfg: StandardizeConfig) -> dict[str, str]:
    """get-batch-id's environment: the job-name prefix it builds processing job names from."""
    return {"JOB_NAME_PREFIX": cfg.job_name_prefix}


def generate_dataset_environment(cfg: ForecastConfig, bucket_name: str) -> dict[str, str]:
    """The generate-dataset Lambda's environment; the offline runner uses the same."""
    db, deepar = cfg.database, cfg.deepar
    return {
        "BUCKET_NAME": bucket_name,
        "ETL_PREFIX": cfg.etl_table_prefix,
        "WORK_PREFIX": cfg.work_prefix,
        "TIMESTAMP_COLUMN": db.timestamp_column,
        "VALUE_COLUMN": db.value_column,
        "SERIES_COLUMN": db.series_column or "",
        "TIME_FREQ": deepar.time_freq,
        "PREDICTION_LENGTH": str(deepar.prediction_length),
        "CONTEXT_LENGTH": str(deepar.context_length),
        "NAME_PREFIX": cfg.name_prefix,
        "TEST_QUANTILES": json.dumps(list(FORECAST_QUANTILES)),
        "SELECTION_METRIC": cfg.quality_gate.metric,
    }


def write_forecast_environment(cfg: ForecastConfig, secret_id: str, env_name: str) -> dict[str, str]:
    """The write-forecast Lambda's environment; the offline runner uses the same. ``env_name`` is
    its metrics' ``Environment`` dimension, which the stack's alarm reads."""
    return {
        "SECRET_ID": secret_id,
        "FORECAST_TABLE": cfg.database.forecast_table,
        "TIME_FREQ": cfg.deepar.time_freq,
        "PREDICTION_LENGTH": str(cfg.deepar.prediction_length),
        "QUALITY_GATE": "enabled" if cfg.quality_gate.enabled else "disabled",
        "MAX_LOSS_RATIO": repr(cfg.quality_gate.max_loss_ratio),
        "SELECTION_METRIC": cfg.quality_gate.metric,
        "METRICS_ENVIRONMENT": env_name,
        **lambda_tls_environment(cfg.database),
    }
