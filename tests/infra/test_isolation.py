"""SageMaker jobs run isolated: the processing job, the training job and the model (so the batch
transform) have no network; SageMaker itself moves their S3 data with the execution role."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.conftest import Synthesized


def task_parameters(s: Synthesized, unit: str, state: str) -> dict[str, Any]:
    for resource in s.template(unit).find_resources("AWS::StepFunctions::StateMachine").values():
        definition = json.loads(resource["Properties"]["DefinitionString"])
        if state in definition["States"]:
            return dict(definition["States"][state]["Parameters"])
    raise AssertionError(f"no {state} in {unit}")


def test_every_sagemaker_job_and_model_is_network_isolated(synthesized: Synthesized) -> None:
    processing = task_parameters(synthesized, "standardize", "Standardize")
    assert processing["NetworkConfig"] == {"EnableNetworkIsolation": True}
    assert "VpcConfig" not in processing["NetworkConfig"]
    if synthesized.stacks.forecast is None:
        return
    training = task_parameters(synthesized, "forecast", "Train")
    model = task_parameters(synthesized, "forecast", "CreateModel")
    assert training["EnableNetworkIsolation"] is True and "VpcConfig" not in training
    assert model["EnableNetworkIsolation"] is True and "VpcConfig" not in model
    # the data bucket is SSE-S3, so no job needs a KMS key for its volume or output
    (bucket,) = [
        r
        for r in synthesized.template("shared").find_resources("AWS::S3::Bucket").values()
        if r["Properties"].get("BucketName") == synthesized.config.data_bucket_name
    ]
    encryption = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption == [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    assert "KmsKeyId" not in json.dumps(training) and "KmsKeyId" not in json.dumps(processing)
