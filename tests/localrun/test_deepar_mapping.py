"""The DeepAR twin's pure parts: SageMaker's hyperparameters and inference config mapped onto
GluonTS, malformed input named by file and line, and the training windows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from config import DeepArConfig
from contracts.deepar import INFERENCE_CONFIG
from localrun import deepar_local as dl
from tests.localrun.deepar_support import (
    BASE_HP,
    needs_gluonts,
    write_lines,
)

# --------------------------------------------------------------------------- mapping (pure)


@pytest.mark.parametrize(
    ("sagemaker", "pandas"),
    [("1H", "1h"), ("H", "1h"), ("2H", "2h"), ("5min", "5min"), ("min", "1min"), ("1D", "1D"),
     ("1W", "1W"), ("M", "1M"), ("3M", "3M"), ("1h", "1h")],
)  # fmt: skip
def test_freq_maps_to_pandas(sagemaker: str, pandas: str) -> None:
    import pandas as pd

    assert dl.sagemaker_freq_to_pandas(sagemaker) == pandas
    pd.Period("2024-01-01 00:00:00", freq=pandas)  # pandas accepts it as a period frequency


@pytest.mark.parametrize("bad", ["", "1X", "0H", "5m", "H1", "1.5H", "hourly"])
def test_bad_freq_is_rejected(bad: str) -> None:
    with pytest.raises(dl.DeepArHyperparameterError, match="time_freq"):
        dl.sagemaker_freq_to_pandas(bad)


def test_project_defaults_map_onto_the_estimator() -> None:
    mapped = dl.map_hyperparameters(DeepArConfig().hyperparameters(), demo=False)
    assert mapped == {
        "freq": "1h",
        "prediction_length": 168,
        "context_length": 672,
        "num_layers": 2,
        "hidden_size": 40,
        "lr": 0.001,
        "dropout_rate": 0.1,
        "batch_size": 256,
        "num_batches_per_epoch": dl.BATCHES_PER_EPOCH,
        "num_parallel_samples": 100,
        "distr_output": "StudentTOutput",
        "trainer_kwargs": {
            "max_epochs": 400,
            "gradient_clip_val": dl.GRADIENT_CLIP_VAL,
            "callbacks": [
                {"callback": "EarlyStopping", "monitor": "train_loss", "patience": 40, "mode": "min"}
            ],
        },
    }
    json.dumps(mapped)  # JSON-ready: it goes into the model artifact


def test_demo_caps_epochs_batches_and_batch_size() -> None:
    mapped = dl.map_hyperparameters(DeepArConfig().hyperparameters(), demo=True)
    assert mapped["trainer_kwargs"]["max_epochs"] == dl.DEMO_MAX_EPOCHS
    assert mapped["num_batches_per_epoch"] == dl.DEMO_BATCHES_PER_EPOCH
    assert mapped["batch_size"] == dl.DEMO_MAX_BATCH_SIZE
    # Caps never raise a smaller setting.
    small = dl.map_hyperparameters({**BASE_HP, "epochs": "2", "mini_batch_size": "8"}, demo=True)
    assert (small["trainer_kwargs"]["max_epochs"], small["batch_size"]) == (2, 8)


def test_sagemaker_defaults_fill_optional_hyperparameters() -> None:
    mapped = dl.map_hyperparameters(BASE_HP, demo=False)
    assert mapped["batch_size"] == 128
    assert (mapped["hidden_size"], mapped["num_layers"], mapped["lr"]) == (40, 2, 0.001)
    assert mapped["distr_output"] == "StudentTOutput"
    assert "callbacks" not in mapped["trainer_kwargs"]  # no early_stopping_patience: no early stopping


@pytest.mark.parametrize(
    ("likelihood", "output"),
    [("student-T", "StudentTOutput"), ("student-t", "StudentTOutput"), ("gaussian", "NormalOutput"),
     ("negative-binomial", "NegativeBinomialOutput"), ("beta", "BetaOutput"),
     ("deterministic-L1", "LaplaceOutput")],
)  # fmt: skip
def test_likelihoods(likelihood: str, output: str) -> None:
    assert dl.map_hyperparameters({**BASE_HP, "likelihood": likelihood}, demo=False)["distr_output"] == output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"likelihood": "poisson"}, "likelihood"),
        ({"epochs": "0"}, "epochs"),
        ({"epochs": "ten"}, "epochs"),
        ({"num_cells": "-1"}, "num_cells"),
        ({"learning_rate": "fast"}, "learning_rate"),
        ({"dropout_rate": "1.5"}, "dropout_rate"),
        ({"early_stopping_patience": "soon"}, "early_stopping_patience"),
        ({"test_quantiles": "[0.1, 2]"}, "test_quantiles"),
        ({"embedding_dimension": "0"}, "embedding_dimension"),
        ({"num_hidden": "40"}, "unknown hyperparameter"),
        ({"context_length": ""}, "missing required hyperparameter"),
    ],
)
def test_bad_hyperparameters_are_named(change: dict[str, str], message: str) -> None:
    with pytest.raises(dl.DeepArHyperparameterError, match=message):
        dl.map_hyperparameters({**BASE_HP, **change}, demo=False)


def test_missing_required_hyperparameter() -> None:
    hp = {k: v for k, v in BASE_HP.items() if k != "time_freq"}
    with pytest.raises(dl.DeepArHyperparameterError, match="time_freq"):
        dl.map_hyperparameters(hp, demo=True)


def test_sagemaker_internal_keys_are_ignored() -> None:
    mapped = dl.map_hyperparameters({**BASE_HP, "_tuning_objective_metric": "test:RMSE"}, demo=False)
    assert mapped["prediction_length"] == 24


# --------------------------------------------------------------------------- inference config (pure)


def test_inference_config_from_env() -> None:
    env = {"DEEPAR_INFERENCE_CONFIG": json.dumps(INFERENCE_CONFIG)}
    assert dl.inference_config_from_env(env) == INFERENCE_CONFIG
    assert dl.inference_config_from_env({}) == {}
    with pytest.raises(dl.DeepArInferenceConfigError, match="DEEPAR_INFERENCE_CONFIG"):
        dl.inference_config_from_env({"DEEPAR_INFERENCE_CONFIG": "{not json"})


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"num_samples": 0}, "num_samples"),
        ({"output_types": ["median"]}, "output_types"),
        ({"output_types": []}, "output_types"),
        ({"quantiles": ["0.5", "1.5"]}, "quantiles"),
        ({"quantiles": ["p50"]}, "quantiles"),
    ],
)
def test_bad_inference_config(config: dict[str, Any], message: str, tmp_path: Path) -> None:
    # The config is checked before the model is opened, so no model is needed.
    with pytest.raises(dl.DeepArInferenceConfigError, match=message):
        dl.transform(tmp_path / "none.tar.gz", tmp_path / "in.json", tmp_path / "out.json", config)


# --------------------------------------------------------------------------- malformed input


GOOD = json.dumps({"start": "2024-01-01 00:00:00", "target": [1.0] * 60})


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('{"start": "2024-01-01 00:00:00", "target": [1, 2', "not valid JSON"),
        ('[1, 2, 3]', "expected a JSON object"),
        ('{"target": [1, 2]}', '"start"'),
        ('{"start": "2024-01-01 00:00:00"}', '"target" is missing'),
        ('{"start": "2024-01-01 00:00:00", "target": []}', '"target" is empty'),
        ('{"start": "2024-01-01 00:00:00", "target": [1, "abc"]}', r'"target"\[1\]'),
        ('{"start": "2024-01-01 00:00:00", "target": [1, true]}', r'"target"\[1\]'),
        ('{"start": "2024-01-01 00:00:00", "target": [1, 2], "cat": [-1]}', '"cat"'),
        ('{"start": "2024-01-01 00:00:00", "target": [1, 2], "dynamic_feat": [[1, "NaN"]]}', "dynamic_feat"),
        ('{"start": "yesterday-ish", "target": [1, 2]}', "not a timestamp"),
        ("", "empty line"),
    ],
)  # fmt: skip
def test_malformed_training_line_names_file_and_line(bad: str, message: str, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "train.json", [GOOD, bad, GOOD])
    with pytest.raises(dl.DeepArInputError, match=message) as info:
        dl.train(BASE_HP, path, tmp_path / "model")
    assert info.value.line == 2
    assert str(info.value).startswith(f"{path}, line 2: ")
    assert not (tmp_path / "model" / "model.tar.gz").exists()


def test_training_needs_consistent_cat(tmp_path: Path) -> None:
    with_cat = json.dumps({"start": "2024-01-01 00:00:00", "target": [1.0] * 60, "cat": [1]})
    path = write_lines(tmp_path / "train.json", [with_cat, GOOD])
    with pytest.raises(dl.DeepArInputError, match=r'line 2: every series must have 1 "cat"'):
        dl.train(BASE_HP, path, tmp_path / "model")


def test_training_needs_a_series_longer_than_the_horizon(tmp_path: Path) -> None:
    short = json.dumps({"start": "2024-01-01 00:00:00", "target": [1.0] * 24})
    path = write_lines(tmp_path / "train.json", [short])
    with pytest.raises(dl.DeepArInputError, match="nothing to train on"):
        dl.train(BASE_HP, path, tmp_path / "model")


def test_malformed_transform_line(tmp_path: Path) -> None:
    # Input lines are read before the model is opened.
    path = write_lines(tmp_path / "test.json", [GOOD, GOOD, '{"start": 5, "target": [1]}'])
    with pytest.raises(dl.DeepArInputError, match=r"test\.json, line 3: \"start\""):
        dl.transform(tmp_path / "model.tar.gz", path, tmp_path / "out" / "test.json.out", {})
    assert not (tmp_path / "out" / "test.json.out").exists()


# --------------------------------------------------------------------------- training windows (pure)


@needs_gluonts
def test_hourly_lags_stop_at_a_week_and_daily_lags_are_gluonts() -> None:
    from gluonts.time_feature import get_lags_for_frequency

    from localrun.deepar_local.training import lags_for

    hourly = lags_for("1h")
    assert max(hourly) == 168 and {1, 24, 167, 168} <= set(hourly)
    assert hourly == [lag for lag in get_lags_for_frequency("1h") if lag <= 168]
    assert max(lags_for("30min")) == 336  # a week of half hours
    assert lags_for("1D") == get_lags_for_frequency("1D")  # daily and longer: gluonts' set, a year included


@pytest.mark.parametrize(
    ("lengths", "expected"),
    [([1680, 900], 839), ([863], 839), ([862], 838), ([200, 100], 176), ([24], 0)],
)
def test_training_windows_need_the_whole_past_when_the_longest_series_has_it(
    lengths: list[int], expected: int
) -> None:
    from localrun.deepar_local.training import training_min_past

    # context 672 + largest lag 168 - 1: the past of one window; a horizon of 24 after it.
    assert training_min_past(839, lengths, 24) == expected
