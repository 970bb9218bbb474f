"""SageMaker DeepAR's hyperparameters mapped onto GluonTS's ``DeepAREstimator``, and the demo caps.

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
test_quantiles           (0.1 ... 0.9)                           the levels ``evaluate`` scores the
                                                                 test channel at
(none)                   num_batches_per_epoch                   gluonts' default 50
(none)                   lags_seq, train_sampler                 ``training.lags_for`` (gluonts' lags
                                                                 for freq, at most a week for steps
                                                                 under a day) and windows with a
                                                                 full past (``training_min_past``)
(none)                   weight_decay, patience, scaling         gluonts' defaults (1e-8, LR-plateau
                                                                 patience 10, mean scaling)
=======================  ======================================  ====================================

``map_hyperparameters`` returns JSON-ready values: ``distr_output`` is the class name in
``gluonts.torch.distributions`` and the early-stopping callback is a small dict;
:func:`~localrun.deepar_local.training.train` builds the objects. Keys starting with ``_``
(SageMaker's own) are ignored; other unknown keys are an error, as in SageMaker.

``demo=True`` caps the work so that training takes about a minute on 2 CPU cores for ~10 weeks
of hourly data with ``prediction_length`` 168 and ``context_length`` 672:
``max_epochs <= DEMO_MAX_EPOCHS`` (10), ``num_batches_per_epoch = DEMO_BATCHES_PER_EPOCH`` (50),
``batch_size <= DEMO_MAX_BATCH_SIZE`` (32): at most 500 batches of 32 windows. Fewer batches
(20 an epoch) left the demo's forecast below the seasonal-naive baseline's accuracy; see
``benchmarks/deepar_quality.py`` and its table in ``benchmarks/README.md``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

#: ``demo=True`` caps: epochs, batches per epoch, windows per batch.
DEMO_MAX_EPOCHS = 10
DEMO_BATCHES_PER_EPOCH = 50
DEMO_MAX_BATCH_SIZE = 32
#: Batches per epoch outside demo mode (gluonts' default; SageMaker has no such setting).
BATCHES_PER_EPOCH = 50
#: Gradient clipping, as gluonts' DeepAR does by default.
GRADIENT_CLIP_VAL = 10.0

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


class DeepArHyperparameterError(ValueError):
    """A missing, unknown or invalid SageMaker DeepAR hyperparameter."""


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


def hp_text(hp: Mapping[str, Any], key: str) -> str:
    """Hyperparameter ``key`` as stripped text, SageMaker's default when absent ("" if it has none)."""
    value = hp.get(key, _OPTIONAL_DEFAULTS.get(key, ""))
    return "" if value is None else str(value).strip()


def hp_int(hp: Mapping[str, Any], key: str, *, minimum: int = 1) -> int:
    """Hyperparameter ``key`` as an integer of at least ``minimum`` (default 1)."""
    raw = hp_text(hp, key)
    try:
        value = int(raw)
    except ValueError:
        raise DeepArHyperparameterError(f"{key}={raw!r}: expected an integer") from None
    if value < minimum:
        raise DeepArHyperparameterError(f"{key}={raw!r}: must be >= {minimum}")
    return value


def _float(hp: Mapping[str, Any], key: str, *, low: float, high: float) -> float:
    raw = hp_text(hp, key)
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
    missing = [k for k in _REQUIRED if not hp_text(hp, k)]
    if missing:
        raise DeepArHyperparameterError(f"missing required hyperparameter(s): {', '.join(missing)}")

    likelihood = hp_text(hp, "likelihood")
    distr = _LIKELIHOODS.get(likelihood.lower())
    if distr is None:
        raise DeepArHyperparameterError(
            f"likelihood={likelihood!r}: expected one of student-T, gaussian, negative-binomial, beta, "
            "deterministic-L1"
        )
    epochs = hp_int(hp, "epochs")
    batch_size = hp_int(hp, "mini_batch_size")
    batches_per_epoch = BATCHES_PER_EPOCH
    if demo:
        epochs = min(epochs, DEMO_MAX_EPOCHS)
        batch_size = min(batch_size, DEMO_MAX_BATCH_SIZE)
        batches_per_epoch = DEMO_BATCHES_PER_EPOCH

    trainer_kwargs: dict[str, Any] = {"max_epochs": epochs, "gradient_clip_val": GRADIENT_CLIP_VAL}
    if hp_text(hp, "early_stopping_patience"):
        patience = hp_int(hp, "early_stopping_patience", minimum=0)
        trainer_kwargs["callbacks"] = [
            {"callback": "EarlyStopping", "monitor": "train_loss", "patience": patience, "mode": "min"}
        ]
    _check_test_quantiles(hp_text(hp, "test_quantiles"))
    hp_int(hp, "embedding_dimension")  # validated here, used by ``train`` once the data is known

    return {
        "freq": sagemaker_freq_to_pandas(hp_text(hp, "time_freq")),
        "prediction_length": hp_int(hp, "prediction_length"),
        "context_length": hp_int(hp, "context_length"),
        "num_layers": hp_int(hp, "num_layers"),
        "hidden_size": hp_int(hp, "num_cells"),
        "lr": _float(hp, "learning_rate", low=1e-6, high=1e6),
        "dropout_rate": _float(hp, "dropout_rate", low=0.0, high=1.0 - 1e-9),
        "batch_size": batch_size,
        "num_batches_per_epoch": batches_per_epoch,
        "num_parallel_samples": hp_int(hp, "num_eval_samples"),
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
