"""Every ``${X}`` of the two ASL files, for the stacks and the offline runner alike."""

from __future__ import annotations

import json

from config import DeepArConfig, QuotaRetryConfig, StandardizeConfig
from contracts.asl import intrinsic_string, json_string, quota_wait_substitutions
from contracts.container import container_contract
from contracts.deepar import INFERENCE_CONFIG, deepar_image_uri


def standardize_substitutions(
    cfg: StandardizeConfig,
    *,
    quota_retry: QuotaRetryConfig,
    partition: str,
    bucket_name: str,
    get_batch_id_arn: str,
    processing_role_arn: str,
    image_uri: str,
) -> dict[str, str]:
    """Every ``${X}`` of ``standardize.asl.json``; the stack and the offline runner both use this."""
    contract = container_contract()
    return {
        "Partition": partition,
        "BucketName": bucket_name,
        "GetBatchIdFunctionArn": get_batch_id_arn,
        "ProcessingRoleArn": processing_role_arn,
        "ProcessingImageUri": image_uri,
        "ProgramPath": json_string(contract.program_path),
        "ContainerInputDir": json_string(contract.input_dir),
        "ContainerOutputDir": json_string(contract.output_dir),
        "OutputPrefix": intrinsic_string(cfg.output_prefix),
        "InstanceType": json_string(cfg.instance_type),
        "InstanceCount": str(cfg.instance_count),
        "VolumeSizeGb": str(cfg.volume_size_gb),
        "MaxRuntimeSeconds": str(cfg.max_runtime_seconds),
        "ExcludeColumns": json_string(json.dumps(list(cfg.exclude_columns))),
        "IncludeColumns": json_string(json.dumps(list(cfg.include_columns))),
        **quota_wait_substitutions(quota_retry),
    }


def forecast_substitutions(
    deepar: DeepArConfig,
    *,
    quota_retry: QuotaRetryConfig,
    region: str,
    partition: str,
    generate_dataset_arn: str,
    write_forecast_arn: str,
    sagemaker_role_arn: str,
    alerts_topic_arn: str,
) -> dict[str, str]:
    """Every ``${X}`` of ``forecast.asl.json``; the stack and the offline runner both use this."""
    return {
        "Partition": partition,
        "GenerateDatasetFunctionArn": generate_dataset_arn,
        "WriteForecastFunctionArn": write_forecast_arn,
        "SageMakerRoleArn": sagemaker_role_arn,
        "AlertsTopicArn": alerts_topic_arn,
        "DeepArImageUri": deepar_image_uri(region),
        **{_pascal_case(key): json_string(value) for key, value in deepar.hyperparameters().items()},
        "InferenceConfig": json_string(json.dumps(INFERENCE_CONFIG)),
        "TrainingInstanceType": json_string(deepar.training_instance_type),
        "TrainingInstanceCount": str(deepar.training_instance_count),
        "TrainingVolumeSizeGb": str(deepar.training_volume_size_gb),
        "TrainingMaxRuntimeSeconds": str(deepar.training_max_runtime_seconds),
        "TransformInstanceType": json_string(deepar.transform_instance_type),
        "TransformInstanceCount": str(deepar.transform_instance_count),
        **quota_wait_substitutions(quota_retry),
    }


def _pascal_case(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))
