"""Local twin of SageMaker's built-in DeepAR: training and batch transform with GluonTS on the CPU.

``train`` reads DeepAR JSON Lines and writes ``model.tar.gz`` as a SageMaker training job does;
``transform`` reads JSON Lines (one series per line, as batch transform with ``SplitType=Line``
gives them) and writes one SageMaker-format forecast line per input line. No AWS calls: paths in,
files out. torch, lightning, pandas and gluonts are imported inside the functions, so importing
this module is cheap. Install them with ``requirements-demo.txt``.

The model is GluonTS's PyTorch ``DeepAREstimator``, the open-source member of the model family
SageMaker DeepAR comes from (it is not SageMaker's code: forecasts are alike in kind, not equal).

Hyperparameter mapping (SageMaker string -> ``DeepAREstimator`` argument; SageMaker default):

=======================  ======================================  ====================================
SageMaker                ``DeepAREstimator``                     note
=======================  ======================================  ====================================
time_freq (required)     freq                                    ``H``->``h``; M, W, D, min kept:
                                                                 ``1H``->``1h``, ``5min``, ``1D``,
                                                                 ``1W``, ``2M``
prediction_length (req)  prediction_length
context_length (req)     context_length                          lags are added on top, as in
                                                                 SageMaker
epochs (required)        trainer_kwargs["max_epochs"]            one epoch = ``num_batches_per_epoch``
                                                                 batches, not a pass over the data
mini_batch_size (128)    batch_size
learning_rate (1e-3)     lr                                      Adam; gluonts lowers it on plateau
num_cells (40)           hidden_size                             LSTM cells per layer
num_layers (2)           num_layers
dropout_rate (0.1)       dropout_rate                            dropout, where SageMaker uses zoneout
likelihood (student-T)   distr_output                            student-T->StudentTOutput,
                                                                 gaussian->NormalOutput,
                                                                 negative-binomial->
                                                                 NegativeBinomialOutput,
                                                                 beta->BetaOutput,
                                                                 deterministic-L1->LaplaceOutput
                                                                 (approximation: L1 fit, but the
                                                                 forecast keeps a spread)
early_stopping_patience  trainer_kwargs["callbacks"]             Lightning ``EarlyStopping`` on the
(none)                                                           epoch train loss; the best epoch's
                                                                 weights are kept, as in SageMaker
num_eval_samples (100)   num_parallel_samples                    ``transform`` asks for
                                                                 ``num_samples`` of its own
cardinality (auto)       num_feat_static_cat, cardinality        resolved against the data in
                                                                 ``train``: auto, ignore, or a list
embedding_dimension(10)  embedding_dimension                     one size for every ``cat`` feature
num_dynamic_feat (auto)  num_feat_dynamic_real                   resolved in ``train``: auto,
                                                                 ignore, or an integer
test_quantiles           (none)                                  accepted; no test channel here
(none)                   num_batches_per_epoch                   gluonts' default 50
(none)                   weight_decay, patience, scaling, lags   gluonts' defaults (1e-8, LR-plateau
                                                                 patience 10, mean scaling, lags
                                                                 from freq)
=======================  ======================================  ====================================

``map_hyperparameters`` returns JSON-ready values: ``distr_output`` is the class name in
``gluonts.torch.distributions`` and the early-stopping callback is a small dict; ``train``
builds the objects. Keys starting with ``_`` (SageMaker's own) are ignored; other unknown keys
are an error, as in SageMaker.

``demo=True`` caps the work so that training takes about 30 s (under a minute even with other
work on the cores) on 2 CPU cores for ~10 weeks of hourly data with ``prediction_length`` up to
168 and ``context_length`` 672:
``max_epochs <= DEMO_MAX_EPOCHS`` (10), ``num_batches_per_epoch = DEMO_BATCHES_PER_EPOCH`` (20),
``batch_size <= DEMO_MAX_BATCH_SIZE`` (32): at most 200 batches of 32 windows. torch runs on
``TORCH_THREADS`` (1) thread.

Input lines: ``{"start": "YYYY-MM-DD HH:MM:SS", "target": [...], "cat": [...],
"dynamic_feat": [[...], ...]}``; a missing target value is ``"NaN"`` or ``null``. In
``transform``, each ``dynamic_feat`` row also covers the forecast horizon
(``len(target) + prediction_length``), as SageMaker requires. Malformed lines raise
``DeepArInputError`` naming the file and line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import re
import tarfile
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_INFERENCE_CONFIG",
    "DEMO_BATCHES_PER_EPOCH",
    "DEMO_MAX_BATCH_SIZE",
    "DEMO_MAX_EPOCHS",
    "DeepArHyperparameterError",
    "DeepArInferenceConfigError",
    "DeepArInputError",
    "DeepArModelError",
    "inference_config_from_env",
    "map_hyperparameters",
    "sagemaker_freq_to_pandas",
    "train",
    "transform",
]

#: ``demo=True`` caps: epochs, batches per epoch, windows per batch.
DEMO_MAX_EPOCHS = 10
DEMO_BATCHES_PER_EPOCH = 20
DEMO_MAX_BATCH_SIZE = 32
#: torch intra-op threads while training and forecasting. One thread is about as fast as two for
#: this small LSTM on an idle 2-core machine, and many times faster when other processes keep the
#: cores busy (two spinning OpenMP threads then stall each other).
TORCH_THREADS = 1
#: Batches per epoch outside demo mode (gluonts' default; SageMaker has no such setting).
BATCHES_PER_EPOCH = 50
#: Gradient clipping, as gluonts' DeepAR does by default.
GRADIENT_CLIP_VAL = 10.0

#: What batch transform uses when ``DEEPAR_INFERENCE_CONFIG`` leaves a key out.
DEFAULT_INFERENCE_CONFIG: Mapping[str, Any] = {
    "num_samples": 100,
    "output_types": ["mean", "quantiles"],
    "quantiles": ["0.1", "0.5", "0.9"],
}
INFERENCE_CONFIG_ENV = "DEEPAR_INFERENCE_CONFIG"
OUTPUT_TYPES = ("quantiles", "mean", "samples")

MODEL_TAR_NAME = "model.tar.gz"
PREDICTOR_DIR = "predictor"
METADATA_NAME = "hyperparameters.json"
ARTIFACT_FORMAT = "deepar-local/1"

_REQUIRED = ("time_freq", "prediction_length", "context_length", "epochs")
_OPTIONAL_DEFAULTS: Mapping[str, str] = {
    "cardinality": "auto",
    "dropout_rate": "0.1",
    "early_stopping_patience": "",
    "embedding_dimension": "10",
    "learning_rate": "0.001",
    "likelihood": "student-T",
    "mini_batch_size": "128",
    "num_cells": "40",
    "num_dynamic_feat": "auto",
    "num_eval_samples": "100",
    "num_layers": "2",
    "test_quantiles": "",
}
_LIKELIHOODS: Mapping[str, str] = {
    "student-t": "StudentTOutput",
    "gaussian": "NormalOutput",
    "negative-binomial": "NegativeBinomialOutput",
    "beta": "BetaOutput",
    "deterministic-l1": "LaplaceOutput",
}
_FREQ_UNITS: Mapping[str, str] = {"M": "M", "W": "W", "D": "D", "H": "h", "h": "h", "min": "min"}
_FREQ_RE = re.compile(r"^\s*(\d*)\s*(min|M|W|D|H|h)\s*$")

# Loggers that would print Lightning's banner, checkpoint lines and gluonts' notes for every run.
_NOISY_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning", "gluonts")
_NOISY_WARNING_MODULES = r"(torch|lightning|lightning_fabric|pytorch_lightning|gluonts)(\.|$)"


class DeepArInputError(ValueError):
    """A malformed input file or line; ``path`` and ``line`` (1-based, or ``None``) say where."""

    def __init__(self, path: Path | str, line: int | None, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = self.path if line is None else f"{self.path}, line {line}"
        super().__init__(f"{where}: {reason}")


class DeepArHyperparameterError(ValueError):
    """A missing, unknown or invalid SageMaker DeepAR hyperparameter."""


class DeepArInferenceConfigError(ValueError):
    """An invalid inference configuration (``DEEPAR_INFERENCE_CONFIG``)."""


class DeepArModelError(RuntimeError):
    """A model artifact that cannot be used, or a forecast that is not finite."""


# --------------------------------------------------------------------------- hyperparameters


def sagemaker_freq_to_pandas(time_freq: str) -> str:
    """SageMaker's ``time_freq`` (``[N]M|W|D|H|min``) as a pandas period frequency (``1H`` -> ``1h``)."""
    match = _FREQ_RE.match(str(time_freq))
    if not match:
        raise DeepArHyperparameterError(
            f"time_freq {time_freq!r}: expected an optional integer followed by M, W, D, H or min"
        )
    count, unit = match.group(1) or "1", match.group(2)
    if int(count) < 1:
        raise DeepArHyperparameterError(f"time_freq {time_freq!r}: the multiple must be positive")
    return f"{int(count)}{_FREQ_UNITS[unit]}"


def _text(hp: Mapping[str, Any], key: str) -> str:
    value = hp.get(key, _OPTIONAL_DEFAULTS.get(key, ""))
    return "" if value is None else str(value).strip()


def _int(hp: Mapping[str, Any], key: str, *, minimum: int = 1) -> int:
    raw = _text(hp, key)
    try:
        value = int(raw)
    except ValueError:
        raise DeepArHyperparameterError(f"{key}={raw!r}: expected an integer") from None
    if value < minimum:
        raise DeepArHyperparameterError(f"{key}={raw!r}: must be >= {minimum}")
    return value


def _float(hp: Mapping[str, Any], key: str, *, low: float, high: float) -> float:
    raw = _text(hp, key)
    try:
        value = float(raw)
    except ValueError:
        raise DeepArHyperparameterError(f"{key}={raw!r}: expected a number") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise DeepArHyperparameterError(f"{key}={raw!r}: must be in [{low}, {high}]")
    return value


def map_hyperparameters(hp: Mapping[str, str], *, demo: bool) -> dict[str, Any]:
    """SageMaker DeepAR hyperparameters -> ``DeepAREstimator`` keyword arguments (JSON-ready).

    Defaults are SageMaker's (see the module docstring). ``distr_output`` is a class name from
    ``gluonts.torch.distributions``; ``trainer_kwargs["callbacks"]`` holds dicts, e.g.
    ``{"callback": "EarlyStopping", "monitor": "train_loss", "patience": 40, "mode": "min"}``.
    ``cardinality``, ``num_dynamic_feat`` and ``embedding_dimension`` depend on the data, so
    ``train`` resolves them. ``demo=True`` applies the ``DEMO_*`` caps.
    """
    unknown = sorted(
        k for k in hp if not k.startswith("_") and k not in _REQUIRED and k not in _OPTIONAL_DEFAULTS
    )
    if unknown:
        known = ", ".join(sorted((*_REQUIRED, *_OPTIONAL_DEFAULTS)))
        raise DeepArHyperparameterError(f"unknown hyperparameter(s) {', '.join(unknown)}; known: {known}")
    missing = [k for k in _REQUIRED if not _text(hp, k)]
    if missing:
        raise DeepArHyperparameterError(f"missing required hyperparameter(s): {', '.join(missing)}")

    likelihood = _text(hp, "likelihood")
    distr = _LIKELIHOODS.get(likelihood.lower())
    if distr is None:
        raise DeepArHyperparameterError(
            f"likelihood={likelihood!r}: expected one of student-T, gaussian, negative-binomial, beta, "
            "deterministic-L1"
        )
    epochs = _int(hp, "epochs")
    batch_size = _int(hp, "mini_batch_size")
    batches_per_epoch = BATCHES_PER_EPOCH
    if demo:
        epochs = min(epochs, DEMO_MAX_EPOCHS)
        batch_size = min(batch_size, DEMO_MAX_BATCH_SIZE)
        batches_per_epoch = DEMO_BATCHES_PER_EPOCH

    trainer_kwargs: dict[str, Any] = {"max_epochs": epochs, "gradient_clip_val": GRADIENT_CLIP_VAL}
    if _text(hp, "early_stopping_patience"):
        patience = _int(hp, "early_stopping_patience", minimum=0)
        trainer_kwargs["callbacks"] = [
            {"callback": "EarlyStopping", "monitor": "train_loss", "patience": patience, "mode": "min"}
        ]
    _check_test_quantiles(_text(hp, "test_quantiles"))
    _int(hp, "embedding_dimension")  # validated here, used by ``train`` once the data is known

    return {
        "freq": sagemaker_freq_to_pandas(_text(hp, "time_freq")),
        "prediction_length": _int(hp, "prediction_length"),
        "context_length": _int(hp, "context_length"),
        "num_layers": _int(hp, "num_layers"),
        "hidden_size": _int(hp, "num_cells"),
        "lr": _float(hp, "learning_rate", low=1e-6, high=1e6),
        "dropout_rate": _float(hp, "dropout_rate", low=0.0, high=1.0 - 1e-9),
        "batch_size": batch_size,
        "num_batches_per_epoch": batches_per_epoch,
        "num_parallel_samples": _int(hp, "num_eval_samples"),
        "distr_output": distr,
        "trainer_kwargs": trainer_kwargs,
    }


def _check_test_quantiles(raw: str) -> None:
    if not raw:
        return
    try:
        values = json.loads(raw)
        ok = isinstance(values, list) and all(0 < float(v) < 1 for v in values)
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise DeepArHyperparameterError(f"test_quantiles={raw!r}: expected a JSON list of numbers in (0, 1)")


# --------------------------------------------------------------------------- input files


@dataclass(frozen=True)
class _Record:
    line: int
    start: str
    target: list[float]  # NaN: missing
    cat: list[int] | None
    dynamic_feat: list[list[float]] | None


def _number(value: Any, *, allow_missing: bool) -> float | None:
    """A float, NaN for a missing value, or ``None`` if ``value`` is not acceptable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
        if math.isnan(number):
            return number if allow_missing else None
        return number if math.isfinite(number) else None
    if allow_missing and (value is None or (isinstance(value, str) and value.strip().lower() == "nan")):
        return math.nan
    return None


def _parse_line(path: Path, line: int, text: str) -> _Record:
    def fail(reason: str) -> DeepArInputError:
        return DeepArInputError(path, line, reason)

    if not text.strip():
        raise fail("empty line (each line must be one JSON object)")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise fail(f"expected a JSON object, got {type(obj).__name__}")

    start = obj.get("start")
    if not isinstance(start, str) or not start.strip():
        raise fail('"start" is missing or not a string ("YYYY-MM-DD HH:MM:SS")')

    raw_target = obj.get("target")
    if not isinstance(raw_target, list):
        raise fail('"target" is missing or not a list')
    if not raw_target:
        raise fail('"target" is empty')
    target: list[float] = []
    for i, value in enumerate(raw_target):
        number = _number(value, allow_missing=True)
        if number is None:
            raise fail(f'"target"[{i}] = {value!r}: expected a finite number, "NaN" or null')
        target.append(number)

    cat: list[int] | None = None
    if "cat" in obj and obj["cat"] is not None:
        raw_cat = obj["cat"]
        raw_cat = [raw_cat] if isinstance(raw_cat, int) and not isinstance(raw_cat, bool) else raw_cat
        if not isinstance(raw_cat, list) or not all(
            isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in raw_cat
        ):
            raise fail(f'"cat" = {obj["cat"]!r}: expected a list of non-negative integers')
        cat = list(raw_cat)

    dynamic_feat: list[list[float]] | None = None
    if "dynamic_feat" in obj and obj["dynamic_feat"] is not None:
        raw_dyn = obj["dynamic_feat"]
        if not isinstance(raw_dyn, list) or not all(isinstance(row, list) for row in raw_dyn):
            raise fail('"dynamic_feat" must be a list of lists of numbers')
        dynamic_feat = []
        for r, row in enumerate(raw_dyn):
            values = [_number(v, allow_missing=False) for v in row]
            bad = next((i for i, v in enumerate(values) if v is None), None)
            if bad is not None:
                raise fail(f'"dynamic_feat"[{r}][{bad}] = {row[bad]!r}: expected a finite number')
            dynamic_feat.append([v for v in values if v is not None])
    return _Record(line, start.strip(), target, cat, dynamic_feat)


def _read_json_lines(path: Path) -> list[_Record]:
    records: list[_Record] = []
    with path.open("rb") as fh:
        for line, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise DeepArInputError(path, line, "not UTF-8 text") from None
            records.append(_parse_line(path, line, text))
    return records


def _period(path: Path, record: _Record, freq: str) -> Any:
    import pandas as pd

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pd.Period(record.start, freq=freq)
    except (ValueError, TypeError) as exc:
        raise DeepArInputError(
            path, record.line, f'"start" = {record.start!r} is not a timestamp ({exc})'
        ) from None


@dataclass(frozen=True)
class _Features:
    cardinality: list[int]  # empty: no cat features used
    num_dynamic: int  # 0: no dynamic features used

    def as_json(self) -> dict[str, Any]:
        return {"cardinality": self.cardinality, "num_feat_dynamic_real": self.num_dynamic}


def _resolve_features(hp: Mapping[str, str], records: Sequence[_Record], path: Path) -> _Features:
    """Apply ``cardinality`` and ``num_dynamic_feat`` (auto / ignore / explicit) to the training data."""
    card_raw = _text(hp, "cardinality")
    cardinality: list[int] = []
    if card_raw.lower() != "ignore":
        with_cat = [r for r in records if r.cat]
        if with_cat:
            width = len(with_cat[0].cat or [])
            for r in records:
                if len(r.cat or []) != width:
                    raise DeepArInputError(
                        path,
                        r.line,
                        f'every series must have {width} "cat" value(s), this one has {len(r.cat or [])}',
                    )
            cardinality = [max((r.cat or [])[i] for r in records) + 1 for i in range(width)]
        if card_raw.lower() not in ("", "auto"):
            try:
                given = json.loads(card_raw)
                valid = isinstance(given, list) and all(
                    isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in given
                )
            except ValueError:
                valid = False
            if not valid:
                raise DeepArHyperparameterError(
                    f"cardinality={card_raw!r}: expected auto, ignore or a JSON list of positive integers"
                )
            if len(given) != len(cardinality) or any(
                seen > cap for seen, cap in zip(cardinality, given, strict=False)
            ):
                raise DeepArInputError(
                    path,
                    None,
                    f'"cat" values need cardinality {cardinality}, but the hyperparameter says {given}',
                )
            cardinality = list(given)

    dyn_raw = _text(hp, "num_dynamic_feat")
    num_dynamic = 0
    if dyn_raw.lower() != "ignore":
        counts = {len(r.dynamic_feat or []) for r in records}
        if len(counts) > 1:
            first = records[0]
            odd = next(r for r in records if len(r.dynamic_feat or []) != len(first.dynamic_feat or []))
            raise DeepArInputError(
                path, odd.line, 'every series must have the same number of "dynamic_feat" rows'
            )
        num_dynamic = counts.pop() if counts else 0
        if dyn_raw.lower() not in ("", "auto"):
            try:
                given_dyn = int(dyn_raw)
            except ValueError:
                raise DeepArHyperparameterError(
                    f"num_dynamic_feat={dyn_raw!r}: expected auto, ignore or an integer"
                ) from None
            if given_dyn != num_dynamic:
                raise DeepArInputError(
                    path,
                    None,
                    f"the data has {num_dynamic} dynamic feature(s), num_dynamic_feat says {given_dyn}",
                )
    return _Features(cardinality, num_dynamic)


def _entry(path: Path, record: _Record, freq: str, features: _Features, *, horizon: int) -> dict[str, Any]:
    """A gluonts data entry; ``horizon`` is how far ``dynamic_feat`` must reach past the target."""
    import numpy as np

    entry: dict[str, Any] = {
        "start": _period(path, record, freq),
        "target": np.asarray(record.target, dtype=np.float32),
    }
    if features.cardinality:
        cat = record.cat or []
        if len(cat) != len(features.cardinality):
            raise DeepArInputError(
                path, record.line, f'expected {len(features.cardinality)} "cat" value(s), got {len(cat)}'
            )
        for i, (value, cap) in enumerate(zip(cat, features.cardinality, strict=True)):
            if value >= cap:
                raise DeepArInputError(
                    path, record.line, f'"cat"[{i}] = {value} is not below the cardinality {cap}'
                )
        entry["feat_static_cat"] = np.asarray(cat, dtype=np.int64)
    if features.num_dynamic:
        rows = record.dynamic_feat or []
        want = len(record.target) + horizon
        if len(rows) != features.num_dynamic or any(len(row) != want for row in rows):
            raise DeepArInputError(
                path,
                record.line,
                f'expected {features.num_dynamic} "dynamic_feat" row(s) of length {want} '
                f"(target length {len(record.target)} + {horizon})",
            )
        entry["feat_dynamic_real"] = np.asarray(rows, dtype=np.float32)
    return entry


# --------------------------------------------------------------------------- runtime helpers


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence Lightning's banners and the libraries' usage/deprecation warnings for the duration.

    Only ``UserWarning``, ``DeprecationWarning`` and ``FutureWarning`` raised from torch, Lightning
    or gluonts code are hidden (e.g. "no val_dataloader", pandas' frequency deprecations, "install
    orjson"); anything else, such as a ``RuntimeWarning``, still shows.
    """
    with warnings.catch_warnings():
        for category in (UserWarning, DeprecationWarning, FutureWarning):
            warnings.filterwarnings("ignore", category=category, module=_NOISY_WARNING_MODULES)
        # Lightning sets its loggers' levels when first imported: import it before overriding them.
        import lightning.pytorch  # noqa: F401

        saved = {name: logging.getLogger(name).level for name in _NOISY_LOGGERS}
        try:
            for name in _NOISY_LOGGERS:
                logging.getLogger(name).setLevel(logging.WARNING)
            yield
        finally:
            for name, level in saved.items():
                logging.getLogger(name).setLevel(level)


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed Python, NumPy and torch and use ``TORCH_THREADS``; restore all of it afterwards."""
    import numpy as np
    import torch

    py_state, np_state, threads = random.getstate(), np.random.get_state(), torch.get_num_threads()
    torch.set_num_threads(TORCH_THREADS)
    try:
        with torch.random.fork_rng(devices=[]):
            random.seed(seed)
            np.random.seed(seed)
            torch.manual_seed(seed)
            yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.set_num_threads(threads)


def _build_estimator(
    mapped: Mapping[str, Any], features: _Features, embedding_dimension: int, root: Path
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


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str] = {}
    for name in ("gluonts", "torch", "lightning", "pandas", "numpy"):
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


# --------------------------------------------------------------------------- train


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
    records = _read_json_lines(train_path)
    if not records:
        raise DeepArInputError(train_path, None, "no time series (the file is empty)")
    features = _resolve_features(hyperparameters, records, train_path)
    freq, horizon = mapped["freq"], mapped["prediction_length"]
    entries = [_entry(train_path, r, freq, features, horizon=0) for r in records]
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
        with _quiet(), _seeded(seed):
            estimator = _build_estimator(
                mapped, features, _int(hyperparameters, "embedding_dimension"), work / "lightning"
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
            "versions": _versions(),
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


# --------------------------------------------------------------------------- transform


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
    with _quiet():
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
    with _quiet():
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
    records = _read_json_lines(input_path)
    with tempfile.TemporaryDirectory(prefix="deepar-transform-") as work_name:
        predictor, metadata = _load_model(model_tar, Path(work_name))
        estimator, feats = metadata["estimator"], metadata["features"]
        features = _Features(list(feats["cardinality"]), int(feats["num_feat_dynamic_real"]))
        horizon = int(estimator["prediction_length"])
        entries = [_entry(input_path, r, estimator["freq"], features, horizon=horizon) for r in records]

        output_path.parent.mkdir(parents=True, exist_ok=True)
        partial = output_path.with_name(output_path.name + ".partial")
        count = 0
        try:
            with _quiet(), _seeded(seed), partial.open("w", encoding="utf-8") as out:
                forecasts = predictor.predict(entries, num_samples=config.num_samples)
                for record, forecast in zip(records, forecasts, strict=True):
                    where = f"{input_path}, line {record.line}"
                    out.write(_forecast_line(forecast.samples, config, where) + "\n")
                    count += 1
            os.replace(partial, output_path)
        finally:
            partial.unlink(missing_ok=True)
    return count
