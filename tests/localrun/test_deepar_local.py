"""The local DeepAR twin: hyperparameter mapping, input checks, and a tiny train + transform run."""

from __future__ import annotations

import json
import math
import tarfile
from pathlib import Path
from typing import Any

import pytest

from contracts.deepar import INFERENCE_CONFIG
from localrun import deepar_local as dl
from tests.localrun.deepar_support import (
    needs_gluonts,
    write_lines,
)

# --------------------------------------------------------------------------- train + transform (slow)

PREDICTION_LENGTH = 24
TINY_HP = {
    "time_freq": "1H",
    "prediction_length": str(PREDICTION_LENGTH),
    "context_length": "48",
    "epochs": "2",
    "mini_batch_size": "16",
    "learning_rate": "0.005",
    "early_stopping_patience": "5",
    "num_cells": "16",
    "num_layers": "1",
    "likelihood": "student-T",
}


def _hourly(n: int, level: float, phase: int = 0) -> list[Any]:
    values: list[Any] = [
        round(level + 5 * math.sin(2 * math.pi * (t + phase) / 24) + 0.5 * math.cos(t * 1.7), 3)
        for t in range(n)
    ]
    values[10] = "NaN"  # a missing value, as the generate-dataset Lambda writes it
    values[11] = None  # null is a missing value too
    return values


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("deepar")
    full = [_hourly(360, 20.0), _hourly(300, 40.0, phase=5)]
    train_lines = [
        json.dumps({"start": "2024-03-01 00:00:00", "target": s[:-PREDICTION_LENGTH]}) for s in full
    ]
    test_lines = [json.dumps({"start": "2024-03-01 00:00:00", "target": s}) for s in full]
    # A third, short series (shorter than context + lags) with missing values at its end.
    test_lines.append(json.dumps({"start": "2024-03-10 05:00:00", "target": [30.0] * 40 + ["NaN", "NaN"]}))
    return {
        "root": root,
        "train": write_lines(root / "train.json", train_lines),
        "test": write_lines(root / "test.json", test_lines),
    }


@pytest.fixture(scope="module")
def model_tar(tiny_data: dict[str, Path]) -> Path:
    return dl.train(TINY_HP, tiny_data["train"], tiny_data["root"] / "model", demo=True, seed=7)


def _read_output(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@needs_gluonts
@pytest.mark.slow
def test_model_artifact(model_tar: Path) -> None:
    assert model_tar.name == "model.tar.gz"
    with tarfile.open(model_tar) as tar:
        names = tar.getnames()
        metadata = json.load(tar.extractfile("hyperparameters.json"))  # type: ignore[arg-type]
    assert any(name.startswith("predictor/") for name in names)
    assert metadata["hyperparameters"] == TINY_HP
    assert metadata["estimator"]["freq"] == "1h"
    assert metadata["estimator"]["trainer_kwargs"]["max_epochs"] == 2
    assert metadata["demo"] is True and metadata["seed"] == 7


@needs_gluonts
@pytest.mark.slow
def test_transform_writes_sagemaker_format(model_tar: Path, tiny_data: dict[str, Path]) -> None:
    out = tiny_data["root"] / "out" / "test.json.out"
    count = dl.transform(model_tar, tiny_data["test"], out, INFERENCE_CONFIG)
    lines = _read_output(out)
    assert count == len(lines) == 3
    for line in lines:
        assert list(line) == ["quantiles", "mean"]
        assert list(line["quantiles"]) == ["0.1", "0.5", "0.9"]
        p10, p50, p90, mean = (
            line["quantiles"]["0.1"],
            line["quantiles"]["0.5"],
            line["quantiles"]["0.9"],
            line["mean"],
        )
        for values in (p10, p50, p90, mean):
            assert len(values) == PREDICTION_LENGTH
            assert all(isinstance(v, float) and math.isfinite(v) for v in values)
        assert all(a <= b <= c for a, b, c in zip(p10, p50, p90, strict=True))
    # The forecasts follow each series' level (20 and 40): the model learned something.
    assert 10 < sum(lines[0]["mean"]) / PREDICTION_LENGTH < 30
    assert 30 < sum(lines[1]["mean"]) / PREDICTION_LENGTH < 50

    # Same model, same seed: the same output.
    again = tiny_data["root"] / "out" / "again.out"
    dl.transform(model_tar, tiny_data["test"], again, INFERENCE_CONFIG)
    assert again.read_text() == out.read_text()


@needs_gluonts
@pytest.mark.slow
def test_transform_output_types_and_defaults(model_tar: Path, tiny_data: dict[str, Path]) -> None:
    out = tiny_data["root"] / "out" / "samples.out"
    dl.transform(model_tar, tiny_data["test"], out, {"num_samples": 7, "output_types": ["samples", "mean"]})
    for line in _read_output(out):
        assert list(line) == ["mean", "samples"]
        assert len(line["samples"]) == 7
        assert all(len(path) == PREDICTION_LENGTH for path in line["samples"])

    out = tiny_data["root"] / "out" / "default.out"
    dl.transform(model_tar, tiny_data["test"], out, {"output_types": ["quantiles"], "quantiles": ["0.25"]})
    assert [list(line["quantiles"]) for line in _read_output(out)] == [["0.25"]] * 3


@needs_gluonts
@pytest.mark.slow
def test_training_is_repeatable_with_a_seed(model_tar: Path, tiny_data: dict[str, Path]) -> None:
    again = dl.train(TINY_HP, tiny_data["train"], tiny_data["root"] / "model-again", demo=True, seed=7)
    first, second = tiny_data["root"] / "out" / "first.out", tiny_data["root"] / "out" / "second.out"
    dl.transform(model_tar, tiny_data["test"], first, INFERENCE_CONFIG)
    dl.transform(again, tiny_data["test"], second, INFERENCE_CONFIG)
    assert first.read_text() == second.read_text()


@needs_gluonts
@pytest.mark.slow
def test_cat_and_dynamic_features(tmp_path: Path) -> None:
    n, horizon = 200, PREDICTION_LENGTH
    lines = [
        json.dumps(
            {
                "start": "2024-03-01 00:00:00",
                "target": _hourly(n, 10.0 * (k + 1)),
                "cat": [k],
                "dynamic_feat": [[float(t % 24 == 12) for t in range(n)]],
            }
        )
        for k in range(2)
    ]
    hp = {**TINY_HP, "epochs": "1"}
    tar = dl.train(hp, write_lines(tmp_path / "train.json", lines), tmp_path / "model", demo=True)
    with tarfile.open(tar) as tar_file:
        metadata = json.load(tar_file.extractfile("hyperparameters.json"))  # type: ignore[arg-type]
    assert metadata["features"] == {"cardinality": [2], "num_feat_dynamic_real": 1}

    ok = {
        "start": "2024-03-01 00:00:00",
        "target": [10.0] * n,
        "cat": [1],
        "dynamic_feat": [[0.0] * (n + horizon)],
    }
    short_feat = {**ok, "dynamic_feat": [[0.0] * n]}  # must also cover the forecast horizon
    unknown_cat = {**ok, "cat": [5]}
    out = tmp_path / "out.json"
    assert dl.transform(tar, write_lines(tmp_path / "ok.json", [json.dumps(ok)]), out, {}) == 1
    assert len(_read_output(out)[0]["mean"]) == horizon
    for name, bad, message in (("short", short_feat, "dynamic_feat"), ("cat", unknown_cat, "cardinality")):
        path = write_lines(tmp_path / f"{name}.json", [json.dumps(ok), json.dumps(bad)])
        with pytest.raises(dl.DeepArInputError, match=f"line 2: .*{message}"):
            dl.transform(tar, path, tmp_path / f"{name}.out", {})


@needs_gluonts
@pytest.mark.slow
def test_not_a_model_artifact(tmp_path: Path, tiny_data: dict[str, Path]) -> None:
    bogus = tmp_path / "model.tar.gz"
    with tarfile.open(bogus, "w:gz") as tar:
        tar.add(tiny_data["test"], arcname="something.json")
    with pytest.raises(dl.DeepArModelError, match=r"not a model\.tar\.gz"):
        dl.transform(bogus, tiny_data["test"], tmp_path / "out.json", {})


# --------------------------------------------------------------------------- test channel (slow)

#: The metrics SageMaker DeepAR documents for a training job ("Tune a DeepAR model", metrics
#: computed by the algorithm), which the quality gate reads from FinalMetricDataList.
SAGEMAKER_DEEPAR_METRICS = {"test:RMSE", "test:mean_wQuantileLoss", "train:final_loss"}


@needs_gluonts
@pytest.mark.slow
def test_the_test_channel_is_scored_under_sagemakers_names(
    model_tar: Path, tiny_data: dict[str, Path]
) -> None:
    metrics = dl.evaluate(model_tar, tiny_data["test"])
    assert set(metrics) == SAGEMAKER_DEEPAR_METRICS
    assert all(math.isfinite(v) and v > 0 for v in metrics.values())
    listed = dl.final_metric_data_list(metrics, 1_700_000_000_000)
    assert [m["MetricName"] for m in listed] == list(metrics)
    assert all(set(m) == {"MetricName", "Value", "Timestamp"} for m in listed)
    assert dl.evaluate(model_tar, tiny_data["test"]) == metrics, "seeded: the same figures again"


@needs_gluonts
@pytest.mark.slow
def test_the_score_is_the_forecast_of_each_last_window_from_the_points_before_it(
    model_tar: Path, tiny_data: dict[str, Path]
) -> None:
    import forecast_metrics as metrics

    tests = [json.loads(line) for line in tiny_data["test"].read_text().splitlines()]
    history = write_lines(
        tiny_data["root"] / "history.json",
        [json.dumps({**t, "target": t["target"][:-PREDICTION_LENGTH]}) for t in tests],
    )
    out = tiny_data["root"] / "out" / "history.out"
    levels = [f"0.{k}" for k in range(1, 10)]  # TINY_HP has no test_quantiles: SageMaker's default
    dl.transform(model_tar, history, out, {"output_types": ["mean", "quantiles"], "quantiles": levels})
    accuracy = metrics.Accuracy(quantiles=tuple(levels))
    for t, forecast in zip(tests, _read_output(out), strict=True):
        actual = [None if v in ("NaN", None) else float(v) for v in t["target"][-PREDICTION_LENGTH:]]
        accuracy.add(actual, forecast["mean"], forecast["quantiles"])
    expected = accuracy.metrics()
    scored = dl.evaluate(model_tar, tiny_data["test"])
    assert scored["test:RMSE"] == pytest.approx(expected["RMSE"], rel=1e-12)
    assert scored["test:mean_wQuantileLoss"] == pytest.approx(expected["mean_wQuantileLoss"], rel=1e-12)


@needs_gluonts
@pytest.mark.slow
def test_without_a_scorable_test_channel_only_the_training_loss_is_reported(
    model_tar: Path, tmp_path: Path
) -> None:
    assert set(dl.evaluate(model_tar, None)) == {"train:final_loss"}
    short = write_lines(
        tmp_path / "short.json",
        [json.dumps({"start": "2024-03-01 00:00:00", "target": [1.0] * PREDICTION_LENGTH})],
    )
    assert set(dl.evaluate(model_tar, short)) == {"train:final_loss"}, "no point past the history"
    missing = write_lines(
        tmp_path / "missing.json",
        [json.dumps({"start": "2024-03-01 00:00:00", "target": [1.0] * 100 + ["NaN"] * PREDICTION_LENGTH})],
    )
    assert set(dl.evaluate(model_tar, missing)) == {"train:final_loss"}, "no present actual"


@needs_gluonts
@pytest.mark.slow
def test_one_transform_job_forecasts_both_windows_each_in_line_order(
    model_tar: Path, tiny_data: dict[str, Path], tmp_path: Path
) -> None:
    """The pipeline's Transform step on the twin: one job over the run's data/ folder writes
    train.json.out (each series' backtest window, from its train line) and test.json.out (its
    future, from the whole line), each line the forecast of the same line of its input."""
    import boto3
    from moto import mock_aws

    from localrun.sagemaker_local import LocalSageMaker

    full = [_hourly(360, 20.0), _hourly(300, 400.0, phase=5), _hourly(330, 40.0, phase=2)]
    train = "".join(
        json.dumps({"start": "2024-03-01 00:00:00", "target": s[:-PREDICTION_LENGTH]}) + "\n" for s in full
    )
    test = "".join(json.dumps({"start": "2024-03-01 00:00:00", "target": s}) + "\n" for s in full)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="run-data")
        s3.upload_file(str(model_tar), "run-data", "run/model.tar.gz")
        s3.put_object(Bucket="run-data", Key="run/data/train.json", Body=train.encode())
        s3.put_object(Bucket="run-data", Key="run/data/test.json", Body=test.encode())
        twin = LocalSageMaker(s3, tmp_path)
        env = {"DEEPAR_INFERENCE_CONFIG": json.dumps(INFERENCE_CONFIG)}
        twin.model(
            {
                "ModelName": "m",
                "ExecutionRoleArn": "arn:aws:iam::123456789012:role/sagemaker",
                "PrimaryContainer": {
                    "Image": "deepar",
                    "ModelDataUrl": "s3://run-data/run/model.tar.gz",
                    "Environment": env,
                },
            }
        )
        result = twin.transform(
            {
                "TransformJobName": "t",
                "ModelName": "m",
                "TransformInput": {
                    "DataSource": {
                        "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://run-data/run/data/"}
                    },
                    "ContentType": "application/jsonlines",
                    "SplitType": "Line",
                },
                "TransformOutput": {"S3OutputPath": "s3://run-data/run/transform/", "AssembleWith": "Line"},
                "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.c5.xlarge"},
            }
        )
        assert result["TransformJobStatus"] == "Completed", result
        keys = sorted(
            o["Key"] for o in s3.list_objects_v2(Bucket="run-data", Prefix="run/transform/")["Contents"]
        )
        assert keys == ["run/transform/test.json.out", "run/transform/train.json.out"]
        outputs = {
            name: [
                json.loads(line)
                for line in s3.get_object(Bucket="run-data", Key=f"run/transform/{name}")["Body"]
                .read()
                .splitlines()
            ]
            for name in ("train.json.out", "test.json.out")
        }
    for name, lines in outputs.items():
        assert len(lines) == len(full), name
        levels = [sum(line["quantiles"]["0.5"]) / PREDICTION_LENGTH for line in lines]
        # series levels 20, 400, 40: each line follows its own input line, not a neighbour's
        assert levels[0] < levels[2] < levels[1], (name, levels)
