"""Local twin of SageMaker's built-in DeepAR: training and batch transform with GluonTS on the CPU.

``train`` reads DeepAR JSON Lines and writes ``model.tar.gz`` as a SageMaker training job does;
``transform`` reads JSON Lines (one series per line, as batch transform with ``SplitType=Line``
gives them) and writes one SageMaker-format forecast line per input line. No AWS calls: paths in,
files out. torch, lightning, pandas and gluonts are imported inside the functions, so importing
this package is cheap. Install them with ``requirements-demo.txt``.

The model is GluonTS's PyTorch ``DeepAREstimator``, the open-source member of the model family
SageMaker DeepAR comes from (it is not SageMaker's code: forecasts are alike in kind, not equal).

Modules:

- ``hyperparameters``: how SageMaker's hyperparameters map onto ``DeepAREstimator`` (the table
  of every setting and its SageMaker default), and the ``demo=True`` caps;
- ``records``: the input JSON Lines, checked line by line, and the ``cat``/``dynamic_feat``
  features they resolve;
- ``training``: ``train`` and the model artifact it writes;
- ``inference``: ``transform`` and its inference configuration (``DEEPAR_INFERENCE_CONFIG``);
- ``evaluation``: ``evaluate``, the test channel's ``test:RMSE`` and ``test:mean_wQuantileLoss``
  and the model's ``train:final_loss``, the ``FinalMetricDataList`` SageMaker reports;
- ``runtime``: quiet libraries, seeded random state, ``TORCH_THREADS`` (1) torch thread.
"""

from __future__ import annotations

from localrun.deepar_local.evaluation import evaluate, final_metric_data_list
from localrun.deepar_local.hyperparameters import (
    BATCHES_PER_EPOCH,
    DEMO_BATCHES_PER_EPOCH,
    DEMO_MAX_BATCH_SIZE,
    DEMO_MAX_EPOCHS,
    GRADIENT_CLIP_VAL,
    DeepArHyperparameterError,
    map_hyperparameters,
    sagemaker_freq_to_pandas,
)
from localrun.deepar_local.inference import (
    DEFAULT_INFERENCE_CONFIG,
    DeepArInferenceConfigError,
    DeepArModelError,
    inference_config_from_env,
    transform,
)
from localrun.deepar_local.records import DeepArInputError
from localrun.deepar_local.training import train

__all__ = [
    "BATCHES_PER_EPOCH",
    "DEFAULT_INFERENCE_CONFIG",
    "DEMO_BATCHES_PER_EPOCH",
    "DEMO_MAX_BATCH_SIZE",
    "DEMO_MAX_EPOCHS",
    "GRADIENT_CLIP_VAL",
    "DeepArHyperparameterError",
    "DeepArInferenceConfigError",
    "DeepArInputError",
    "DeepArModelError",
    "evaluate",
    "final_metric_data_list",
    "inference_config_from_env",
    "map_hyperparameters",
    "sagemaker_freq_to_pandas",
    "train",
    "transform",
]
