"""``train``: a SageMaker DeepAR training job, run by GluonTS's ``DeepAREstimator`` on the CPU."""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from localrun.deepar_local.hyperparameters import DeepArHyperparameterError, hp_int, map_hyperparameters
from localrun.deepar_local.records import (
    DeepArInputError,
    Features,
    data_entry,
    read_json_lines,
    resolve_features,
)
from localrun.deepar_local.runtime import quiet, seeded, versions

#: The model artifact: ``model.tar.gz`` holding ``predictor/`` and ``hyperparameters.json``.
MODEL_TAR_NAME = "model.tar.gz"
PREDICTOR_DIR = "predictor"
METADATA_NAME = "hyperparameters.json"
ARTIFACT_FORMAT = "deepar-local/1"


#: The longest lag the twin feeds the model, for steps shorter than a day: one week.
MAX_LAG = timedelta(days=7)


def lags_for(freq: str) -> list[int]:
    """The lags (in steps) of ``freq``: gluonts' set for the frequency, cut at ``MAX_LAG`` for steps
    shorter than a day (hourly: 1-7 h, the same hour 1-7 days back, and their neighbours).

    gluonts' hourly set reaches 721 steps (a month), so every training window would need
    ``context_length`` + 720 points of past: on ten weeks of history, most windows would start
    before the series and be padded with zeros, which pulls the forecasts down.
    """
    import pandas as pd
    from gluonts.time_feature import get_lags_for_frequency

    lags = get_lags_for_frequency(freq_str=freq)
    step = pd.tseries.frequencies.to_offset(freq)
    try:
        step_length = pd.Timedelta(step)
    except ValueError:  # months and weeks have no fixed length in pandas' offsets
        return lags
    if step_length >= timedelta(days=1):
        return lags
    limit = MAX_LAG // step_length
    return [lag for lag in lags if lag <= limit]


def training_min_past(past_length: int, lengths: Sequence[int], horizon: int) -> int:
    """How many points of past every training window needs: the model's whole past
    (``context_length`` + the largest lag - 1) when the longest series holds it before a
    ``horizon`` of future, else as much as that series has (its windows are then padded).

    gluonts' default, 0, lets windows start before the series, padded with zeros.
    """
    return max(0, min(past_length, max(lengths) - horizon))


def _build_estimator(
    mapped: Mapping[str, Any],
    features: Features,
    embedding_dimension: int,
    root: Path,
    lengths: Sequence[int],
) -> Any:
    import gluonts.torch.distributions as distributions
    from gluonts.torch.model.deepar import DeepAREstimator
    from gluonts.transform import ExpectedNumInstanceSampler
    from lightning.pytorch.callbacks import EarlyStopping

    kwargs = dict(mapped)
    lags = lags_for(str(mapped["freq"]))
    horizon = int(mapped["prediction_length"])
    past_length = int(mapped["context_length"]) + max(lags) - 1  # gluonts' DeepAR: lags are 1-based
    kwargs["lags_seq"] = lags
    kwargs["train_sampler"] = ExpectedNumInstanceSampler(
        num_instances=1.0, min_past=training_min_past(past_length, lengths, horizon), min_future=horizon
    )
    kwargs["distr_output"] = getattr(distributions, str(mapped["distr_output"]))()
    trainer_kwargs = dict(mapped["trainer_kwargs"])
    callbacks = []
    for spec in trainer_kwargs.pop("callbacks", []):
        args = {k: v for k, v in spec.items() if k != "callback"}
        if spec["callback"] != "EarlyStopping":
            raise DeepArHyperparameterError(f"unknown callback {spec['callback']!r}")
        callbacks.append(EarlyStopping(**args))
    kwargs["trainer_kwargs"] = {
        **trainer_kwargs,
        "callbacks": callbacks,
        "accelerator": "cpu",
        "devices": 1,
        "default_root_dir": str(root),
        "logger": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }
    if features.cardinality:
        kwargs["num_feat_static_cat"] = len(features.cardinality)
        kwargs["cardinality"] = features.cardinality
        kwargs["embedding_dimension"] = [embedding_dimension] * len(features.cardinality)
    kwargs["num_feat_dynamic_real"] = features.num_dynamic
    return DeepAREstimator(**kwargs)


def _final_loss(trainer: Any) -> float | None:
    """The training loss of the epoch whose weights are kept (the checkpoint's best), if finite."""
    import math

    score = getattr(trainer.checkpoint_callback, "best_model_score", None)
    if score is None:
        score = trainer.callback_metrics.get("train_loss")
    value = None if score is None else float(score)
    return value if value is not None and math.isfinite(value) else None


def train(
    hyperparameters: Mapping[str, str],
    train_path: Path,
    model_dir: Path,
    *,
    demo: bool = False,
    seed: int = 0,
) -> Path:
    """Train DeepAR on the JSON Lines at ``train_path``; write and return ``model_dir/model.tar.gz``.

    The tarball holds ``predictor/`` (the serialized gluonts predictor) and ``hyperparameters.json``
    (the SageMaker hyperparameters, the mapped estimator arguments, the resolved features and
    ``train_final_loss``: the kept epoch's training loss, SageMaker's ``train:final_loss``).
    Training windows use the lags of :func:`lags_for` and need the past of :func:`training_min_past`.
    ``demo`` (default False) applies the ``DEMO_*`` caps; ``seed`` (default 0) makes a run
    repeatable on one machine, with the global random state restored afterwards.
    """
    train_path, model_dir = Path(train_path), Path(model_dir)
    mapped = map_hyperparameters(hyperparameters, demo=demo)
    records = read_json_lines(train_path)
    if not records:
        raise DeepArInputError(train_path, None, "no time series (the file is empty)")
    features = resolve_features(hyperparameters, records, train_path)
    freq, horizon = mapped["freq"], mapped["prediction_length"]
    entries = [data_entry(train_path, r, freq, features, horizon=0) for r in records]
    if not any(len(r.target) > horizon for r in records):
        raise DeepArInputError(
            train_path,
            None,
            f"every series is at most prediction_length ({horizon}) points long: nothing to train on",
        )

    model_dir.mkdir(parents=True, exist_ok=True)
    tar_path = model_dir / MODEL_TAR_NAME
    with tempfile.TemporaryDirectory(prefix="deepar-train-") as work_name:
        work = Path(work_name)
        with quiet(), seeded(seed):
            estimator = _build_estimator(
                mapped,
                features,
                hp_int(hyperparameters, "embedding_dimension"),
                work / "lightning",
                [len(r.target) for r in records],
            )
            # The transformed series are built once and kept; each epoch samples windows from them.
            output = estimator.train_model(entries, cache_data=True)
        predictor = output.predictor
        predictor_dir = work / PREDICTOR_DIR
        predictor_dir.mkdir()
        predictor.serialize(predictor_dir)
        metadata = {
            "format": ARTIFACT_FORMAT,
            "hyperparameters": {k: str(v) for k, v in hyperparameters.items()},
            "estimator": mapped,
            "features": features.as_json(),
            "demo": demo,
            "seed": seed,
            "train_final_loss": _final_loss(output.trainer),
            "versions": versions(),
        }
        (work / METADATA_NAME).write_text(
            json.dumps(metadata, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        partial = model_dir / (MODEL_TAR_NAME + ".partial")
        try:
            with tarfile.open(partial, "w:gz") as tar:
                tar.add(work / METADATA_NAME, arcname=METADATA_NAME)
                tar.add(predictor_dir, arcname=PREDICTOR_DIR)
            os.replace(partial, tar_path)
        finally:
            partial.unlink(missing_ok=True)
    return tar_path
