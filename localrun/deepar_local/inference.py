"""``transform``: a SageMaker DeepAR batch transform, and its inference configuration."""

from __future__ import annotations

import json
import math
import os
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localrun.deepar_local.records import Features, data_entry, read_json_lines
from localrun.deepar_local.runtime import quiet, seeded
from localrun.deepar_local.training import ARTIFACT_FORMAT, METADATA_NAME, PREDICTOR_DIR

#: What batch transform uses when ``DEEPAR_INFERENCE_CONFIG`` leaves a key out.
DEFAULT_INFERENCE_CONFIG: Mapping[str, Any] = {
    "num_samples": 100,
    "output_types": ["mean", "quantiles"],
    "quantiles": ["0.1", "0.5", "0.9"],
}
INFERENCE_CONFIG_ENV = "DEEPAR_INFERENCE_CONFIG"
OUTPUT_TYPES = ("quantiles", "mean", "samples")


class DeepArInferenceConfigError(ValueError):
    """An invalid inference configuration (``DEEPAR_INFERENCE_CONFIG``)."""


class DeepArModelError(RuntimeError):
    """A model artifact that cannot be used, or a forecast that is not finite."""


@dataclass(frozen=True)
class _InferenceConfig:
    num_samples: int
    output_types: tuple[str, ...]
    quantiles: tuple[tuple[str, float], ...]  # (key as given, level)


def inference_config_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The JSON in ``DEEPAR_INFERENCE_CONFIG`` (``environ`` defaults to ``os.environ``); ``{}`` if unset."""
    raw = (os.environ if environ is None else environ).get(INFERENCE_CONFIG_ENV, "").strip()
    if not raw:
        return {}
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DeepArInferenceConfigError(f"{INFERENCE_CONFIG_ENV} is not valid JSON: {exc.msg}") from None
    if not isinstance(config, dict):
        raise DeepArInferenceConfigError(f"{INFERENCE_CONFIG_ENV} must be a JSON object")
    return config


def _inference_config(config: Mapping[str, Any]) -> _InferenceConfig:
    merged = {**DEFAULT_INFERENCE_CONFIG, **config}
    num_samples = merged["num_samples"]
    if isinstance(num_samples, str) and num_samples.strip().isdigit():
        num_samples = int(num_samples)
    if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples < 1:
        raise DeepArInferenceConfigError(
            f"num_samples={merged['num_samples']!r}: expected a positive integer"
        )
    types = merged["output_types"]
    if (
        not isinstance(types, list)
        or not types
        or not all(isinstance(t, str) and t in OUTPUT_TYPES for t in types)
    ):
        raise DeepArInferenceConfigError(
            f"output_types={types!r}: expected a non-empty list of {', '.join(OUTPUT_TYPES)}"
        )
    quantiles: list[tuple[str, float]] = []
    if "quantiles" in types:
        raw_q = merged["quantiles"]
        if not isinstance(raw_q, list) or not raw_q:
            raise DeepArInferenceConfigError(
                f"quantiles={raw_q!r}: expected a non-empty list such as ['0.1', '0.9']"
            )
        for q in raw_q:
            try:
                level = float(q) if not isinstance(q, bool) else math.nan
            except (TypeError, ValueError):
                level = math.nan
            if not 0.0 < level < 1.0:
                raise DeepArInferenceConfigError(f"quantiles: {q!r} is not a number in (0, 1)")
            quantiles.append((str(q), level))
    ordered = tuple(t for t in OUTPUT_TYPES if t in types)
    return _InferenceConfig(num_samples, ordered, tuple(quantiles))


def _load_model(model_tar: Path, into: Path) -> tuple[Any, dict[str, Any]]:
    with quiet():
        from gluonts.torch.model.predictor import PyTorchPredictor

    try:
        with tarfile.open(model_tar, "r:gz") as tar:
            tar.extractall(into, filter="data")
        metadata = json.loads((into / METADATA_NAME).read_text(encoding="utf-8"))
    except (OSError, tarfile.TarError, ValueError) as exc:
        raise DeepArModelError(
            f"{model_tar}: not a model.tar.gz written by deepar_local.train ({exc})"
        ) from None
    if metadata.get("format") != ARTIFACT_FORMAT:
        raise DeepArModelError(f"{model_tar}: unknown artifact format {metadata.get('format')!r}")
    with quiet():
        predictor = PyTorchPredictor.deserialize(into / PREDICTOR_DIR, device="cpu")
    return predictor, metadata


def _compact(values: Any) -> list[float]:
    """Floats rounded to 8 significant digits (float32 precision), as plain Python floats."""
    return [float(f"{v:.8g}") for v in values.tolist()]


def _forecast_line(samples: Any, config: _InferenceConfig, where: str) -> str:
    import numpy as np

    samples = np.asarray(samples, dtype=np.float64)
    if not np.isfinite(samples).all():
        # Keep the finite samples of each step; a step with none is an error, never NaN in the output.
        samples = np.where(np.isfinite(samples), samples, np.nan)
        if np.isnan(samples).all(axis=0).any():
            raise DeepArModelError(f"{where}: the model produced no finite sample for some forecast steps")
        quantile, mean = np.nanquantile, np.nanmean
    else:
        quantile, mean = np.quantile, np.mean
    out: dict[str, Any] = {}
    for kind in config.output_types:
        if kind == "quantiles":
            out["quantiles"] = {
                key: _compact(quantile(samples, level, axis=0)) for key, level in config.quantiles
            }
        elif kind == "mean":
            out["mean"] = _compact(mean(samples, axis=0))
        else:
            filled = np.where(np.isnan(samples), np.nanmedian(samples, axis=0), samples)
            out["samples"] = [_compact(row) for row in filled]
    return json.dumps(out, separators=(",", ":"), allow_nan=False)


def transform(
    model_tar: Path,
    input_path: Path,
    output_path: Path,
    inference_config: Mapping[str, Any],
    *,
    seed: int = 0,
) -> int:
    """Forecast ``prediction_length`` steps past the end of each input series; return the line count.

    Writes one line per input line, in order, in SageMaker DeepAR's batch transform format:
    ``{"quantiles": {"0.1": [...], ...}, "mean": [...], "samples": [[...], ...]}``, keys as chosen
    by ``inference_config["output_types"]``. ``inference_config`` keys default to
    ``DEFAULT_INFERENCE_CONFIG`` (100 samples, mean and quantiles 0.1/0.5/0.9). ``seed``
    (default 0) makes the sampling repeatable. The output file appears only when complete.
    """
    model_tar, input_path, output_path = Path(model_tar), Path(input_path), Path(output_path)
    config = _inference_config(inference_config)
    records = read_json_lines(input_path)
    with tempfile.TemporaryDirectory(prefix="deepar-transform-") as work_name:
        predictor, metadata = _load_model(model_tar, Path(work_name))
        estimator, feats = metadata["estimator"], metadata["features"]
        features = Features(list(feats["cardinality"]), int(feats["num_feat_dynamic_real"]))
        horizon = int(estimator["prediction_length"])
        entries = [data_entry(input_path, r, estimator["freq"], features, horizon=horizon) for r in records]

        output_path.parent.mkdir(parents=True, exist_ok=True)
        partial = output_path.with_name(output_path.name + ".partial")
        count = 0
        try:
            with quiet(), seeded(seed), partial.open("w", encoding="utf-8") as out:
                forecasts = predictor.predict(entries, num_samples=config.num_samples)
                for record, forecast in zip(records, forecasts, strict=True):
                    where = f"{input_path}, line {record.line}"
                    out.write(_forecast_line(forecast.samples, config, where) + "\n")
                    count += 1
            os.replace(partial, output_path)
        finally:
            partial.unlink(missing_ok=True)
    return count
