"""The SageMaker built-in DeepAR image, per region.

Registry accounts from sagemaker-python-sdk ``image_uri_config/forecasting-deepar.json``
(version 1). China regions use the ``amazonaws.com.cn`` domain. A region not listed here is an
error at synth time, never a guess.
"""

from __future__ import annotations

from config import ConfigError, domain_for
from forecast_metrics import FORECAST_QUANTILES

REPOSITORY = "forecasting-deepar"
TAG = "1"
REGISTRY_ACCOUNTS: dict[str, str] = {
    "af-south-1": "455444449433",
    "ap-east-1": "286214385809",
    "ap-northeast-1": "633353088612",
    "ap-northeast-2": "204372634319",
    "ap-northeast-3": "364406365360",
    "ap-south-1": "991648021394",
    "ap-southeast-1": "475088953585",
    "ap-southeast-2": "514117268639",
    "ca-central-1": "469771592824",
    "cn-north-1": "390948362332",
    "cn-northwest-1": "387376663083",
    "eu-central-1": "495149712605",
    "eu-north-1": "669576153137",
    "eu-south-1": "257386234256",
    "eu-west-1": "224300973850",
    "eu-west-2": "644912444149",
    "eu-west-3": "749696950732",
    "me-south-1": "249704162688",
    "sa-east-1": "855470959533",
    "us-east-1": "522234722520",
    "us-east-2": "566113047672",
    "us-gov-west-1": "226302683700",
    "us-west-1": "632365934929",
    "us-west-2": "156387875391",
}

#: Asked of the model through CreateModel; write-forecast reads these keys ("0.1", "0.5", "0.9", mean).
INFERENCE_CONFIG = {
    "num_samples": 100,
    "output_types": ["mean", "quantiles"],
    "quantiles": list(FORECAST_QUANTILES),
}


def deepar_image_uri(region: str) -> str:
    """``<account>.dkr.ecr.<region>.<domain>/forecasting-deepar:1`` for ``region``."""
    account = REGISTRY_ACCOUNTS.get(region)
    if account is None:
        raise ConfigError(
            f"region '{region}': no DeepAR image registry is known for it "
            f"(known: {', '.join(sorted(REGISTRY_ACCOUNTS))})"
        )
    return f"{account}.dkr.ecr.{region}.{domain_for(region)}/{REPOSITORY}:{TAG}"
