"""``train``: a SageMaker DeepAR training job, run by GluonTS's ``DeepAREstimator`` on the CPU."""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
from collections.abc import Mapping
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


def _build_estimator(
    mapped: Mapping[str, Any], features: Features, embedding_dimension: int, root: Path
) -> Any:
    import gluonts.torch.distributions as distributions
    from gluonts.torch.model.deepar import DeepAREstimator
    from lightning.pytorch.callbacks import EarlyStopping

    kwargs = dict(mapped)
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
    (the SageMaker hyperparameters, the mapped estimator arguments, the resolved features).
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
                mapped, features, hp_int(hyperparameters, "embedding_dimension"), work / "lightning"
            )
            predictor = estimator.train(entries)
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
