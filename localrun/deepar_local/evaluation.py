"""``evaluate``: the model's score on the test channel, as SageMaker DeepAR reports it.

With a test channel, DeepAR forecasts the last ``prediction_length`` points of each test series
from the points before them and reports, in the training job's ``FinalMetricDataList``:

* ``test:RMSE``: over every present actual of those windows, against the forecast's mean;
* ``test:mean_wQuantileLoss``: the mean over ``test_quantiles`` (SageMaker's default 0.1, 0.2,
  ..., 0.9) of the weighted quantile loss of the forecast's quantiles;
* ``train:final_loss``: the training loss of the model it keeps.

The definitions are generate-dataset's (``lambdas/generate_dataset/forecast_metrics.py``), so the
quality gate compares the model and the seasonal-naive baseline under one definition. A test
series no longer than ``prediction_length`` is skipped, as is a window without a present actual;
with nothing left, there are no test metrics (the gate then fails the run as SageMaker's would).
"""

from __future__ import annotations

import json
import math
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import forecast_metrics as _metrics
from localrun.deepar_local.hyperparameters import hp_text
from localrun.deepar_local.inference import DeepArModelError, transform
from localrun.deepar_local.records import read_json_lines
from localrun.deepar_local.training import METADATA_NAME

#: SageMaker DeepAR's ``test_quantiles`` when the hyperparameter is not given.
DEFAULT_TEST_QUANTILES = ("0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9")
#: The metric names SageMaker DeepAR documents ("Tune a DeepAR model"), as ``evaluate`` gives them.
TEST_RMSE, TEST_LOSS, TRAIN_LOSS = "test:RMSE", "test:mean_wQuantileLoss", "train:final_loss"


def scored_quantiles(hyperparameters: Mapping[str, str]) -> tuple[str, ...]:
    """The ``test_quantiles`` levels as DeepAR's keys (``0.1``), SageMaker's default when unset."""
    raw = hp_text(hyperparameters, "test_quantiles")
    if not raw:
        return DEFAULT_TEST_QUANTILES
    return tuple(repr(float(q)) for q in json.loads(raw))  # map_hyperparameters checked the list


def _metadata(model_tar: Path) -> dict[str, Any]:
    try:
        with tarfile.open(model_tar, "r:gz") as tar:
            member = tar.extractfile(METADATA_NAME)
            if member is None:
                raise KeyError(METADATA_NAME)
            loaded: dict[str, Any] = json.load(member)
            return loaded
    except (OSError, tarfile.TarError, KeyError, ValueError) as exc:
        raise DeepArModelError(
            f"{model_tar}: not a model.tar.gz written by deepar_local.train ({exc})"
        ) from None


def _values(raw: list[Any]) -> list[float | None]:
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in raw]


def evaluate(model_tar: Path, test_path: Path | None, *, seed: int = 0) -> dict[str, float]:
    """``{metric name: value}`` for the model at ``model_tar`` on the test channel at ``test_path``.

    ``train:final_loss`` comes from the model's artifact; ``test:RMSE`` and
    ``test:mean_wQuantileLoss`` need a test channel (``test_path`` not ``None``) with at least one
    scored point (module docstring). Undefined figures are left out, never NaN. ``seed``
    (default 0) makes the forecast's sampling repeatable.
    """
    model_tar = Path(model_tar)
    metadata = _metadata(model_tar)
    found: dict[str, float] = {}
    final_loss = metadata.get("train_final_loss")
    if isinstance(final_loss, int | float) and math.isfinite(final_loss):
        found[TRAIN_LOSS] = float(final_loss)
    if test_path is None:
        return found
    test_path = Path(test_path)
    horizon = int(metadata["estimator"]["prediction_length"])
    quantiles = scored_quantiles(metadata["hyperparameters"])
    records = [r for r in read_json_lines(test_path) if len(r.target) > horizon]
    if not records:
        return found
    accuracy = _metrics.Accuracy(quantiles=quantiles)
    with tempfile.TemporaryDirectory(prefix="deepar-evaluate-") as work_name:
        work = Path(work_name)
        history = work / "history.json"
        with history.open("w", encoding="utf-8") as out:
            for r in records:
                past = [None if math.isnan(v) else v for v in r.target[:-horizon]]
                line: dict[str, Any] = {"start": r.start, "target": past}
                if r.cat is not None:
                    line["cat"] = r.cat
                if r.dynamic_feat is not None:
                    line["dynamic_feat"] = r.dynamic_feat  # already len(target): the window is covered
                out.write(json.dumps(line) + "\n")
        forecast_path = work / "history.json.out"
        config = {
            "num_samples": int(metadata["estimator"]["num_parallel_samples"]),
            "output_types": ["mean", "quantiles"],
            "quantiles": list(quantiles),
        }
        transform(model_tar, history, forecast_path, config, seed=seed)
        forecasts = [json.loads(text) for text in forecast_path.read_text(encoding="utf-8").splitlines()]
    for record, forecast in zip(records, forecasts, strict=True):
        actual = _values(record.target[-horizon:])
        accuracy.add(actual, forecast["mean"], forecast["quantiles"])
    scored = accuracy.metrics()
    for name, key in ((TEST_RMSE, "RMSE"), (TEST_LOSS, "mean_wQuantileLoss")):
        value = scored[key]
        if isinstance(value, int | float):
            found[name] = float(value)
    return found


def final_metric_data_list(metrics: Mapping[str, float], timestamp_ms: int) -> list[dict[str, Any]]:
    """``metrics`` as DescribeTrainingJob's ``FinalMetricDataList`` (``Timestamp`` in epoch
    milliseconds, as Step Functions returns the job's times)."""
    return [
        {"MetricName": name, "Value": value, "Timestamp": timestamp_ms} for name, value in metrics.items()
    ]
