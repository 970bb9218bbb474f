"""The run's gate, before the model is deployed: DeepAR's own test metrics, recorded (no I/O).

The model's figures are DeepAR's, from the training job's ``FinalMetricDataList`` (which a
``.sync`` task returns): ``test:mean_wQuantileLoss`` (required, ALWAYS: a run without test
metrics fails with :class:`MissingModelMetrics`; DeepAR reports them only when the training job
has a ``test`` channel) and ``test:RMSE`` (optional). The baseline's come from the dataset
result's ``baseline`` object (``mean_wQuantileLoss``, ``RMSE``, ``MASE``; each may be null).

The gate no longer stops a run whose model loses: each series then takes the seasonal-naive
baseline at the write (:mod:`selection`), with ``MAX_LOSS_RATIO`` and ``SELECTION_METRIC``
deciding per series. The run's decision is ``per-series`` (``QUALITY_GATE=enabled``, the
default) or ``disabled`` (every series takes the model); ``loss_ratio``, DeepAR's test loss over
the baseline's, is recorded for the history only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from run_history import DISABLED, PER_SERIES

from forecast_metrics import SELECTION_METRICS, check_selection_metric, finite
from pipeline_rules import ConfigurationError, Environment

GATE_MODES = ("enabled", "disabled")
MODEL_LOSS, MODEL_RMSE = "test:mean_wQuantileLoss", "test:RMSE"


class MissingModelMetrics(ValueError):
    """The training job reported no usable ``test:mean_wQuantileLoss`` (no test channel?)."""


class MissingBaselineMetrics(ValueError):
    """The dataset result has no usable baseline ``mean_wQuantileLoss`` (gate enabled)."""


@dataclass(frozen=True)
class GateSettings:
    """``QUALITY_GATE`` (``enabled``, the default: per-series selection; or ``disabled``: every
    series takes the model), ``MAX_LOSS_RATIO`` (a finite number above 0, default 1.0: a series
    takes the model when its backtest loss is at most this times the baseline's) and
    ``SELECTION_METRIC`` (one of ``forecast_metrics.SELECTION_METRICS``, default the first)."""

    enabled: bool = True
    max_loss_ratio: float = 1.0
    metric: str = SELECTION_METRICS[0]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GateSettings:
        """Raises ``ConfigurationError`` naming the variable; both are checked either way."""
        read = Environment(env)
        mode = read.optional("QUALITY_GATE", "enabled")
        if mode not in GATE_MODES:
            raise ConfigurationError(f"QUALITY_GATE must be one of {', '.join(GATE_MODES)}, got {mode!r}")
        raw = read.optional("MAX_LOSS_RATIO", "1.0")
        try:
            ratio = float(raw)
        except ValueError:
            raise ConfigurationError(f"MAX_LOSS_RATIO {raw!r} is not a number") from None
        if not math.isfinite(ratio) or ratio <= 0:
            raise ConfigurationError(f"MAX_LOSS_RATIO must be a finite number above 0, got {raw!r}")
        metric = read.optional("SELECTION_METRIC", SELECTION_METRICS[0], check_selection_metric)
        return cls(mode == "enabled", ratio, metric)


@dataclass(frozen=True)
class GateResult:
    """The gate's figures and ``decision`` (``per-series`` or ``disabled``)."""

    decision: str
    model_rmse: float | None
    model_loss: float
    baseline_rmse: float | None
    baseline_loss: float | None
    baseline_mase: float | None
    loss_ratio: float | None
    max_loss_ratio: float | None

    def as_dict(self) -> dict[str, Any]:
        """The state's result: ``{"decision", "model", "baseline", "loss_ratio", "max_loss_ratio"}``."""
        return {
            "decision": self.decision,
            "model": {"RMSE": self.model_rmse, "mean_wQuantileLoss": self.model_loss},
            "baseline": {
                "RMSE": self.baseline_rmse,
                "mean_wQuantileLoss": self.baseline_loss,
                "MASE": self.baseline_mase,
            },
            "loss_ratio": self.loss_ratio,
            "max_loss_ratio": self.max_loss_ratio,
        }


def final_metrics(metrics: Any) -> dict[str, Any]:
    """``{MetricName: Value}`` of a ``FinalMetricDataList`` (the last entry of a name wins)."""
    if not isinstance(metrics, list):
        return {}
    return {
        m["MetricName"]: m.get("Value")
        for m in metrics
        if isinstance(m, Mapping) and isinstance(m.get("MetricName"), str)
    }


def model_metrics(metrics: Any) -> tuple[float, float | None]:
    """``(test:mean_wQuantileLoss, test:RMSE or None)``; :class:`MissingModelMetrics` without a
    finite loss, naming the metrics that are there."""
    found = final_metrics(metrics)
    loss = finite(found.get(MODEL_LOSS))
    if loss is None:
        present = ", ".join(sorted(found)) or "none"
        problem = "is missing" if MODEL_LOSS not in found else f"is {found[MODEL_LOSS]!r}, not a number"
        raise MissingModelMetrics(
            f"the training job's final metrics have no usable {MODEL_LOSS} ({MODEL_LOSS} {problem}; "
            f"metrics present: {present}); DeepAR reports test metrics only when the training job "
            "is given a test channel, and a run without them never passes the quality gate"
        )
    return loss, finite(found.get(MODEL_RMSE))


def evaluate(training: Any, baseline: Any, settings: GateSettings) -> GateResult:
    """The gate's record of ``training`` (``{"final_metrics": [...]}``) and the dataset's
    ``baseline``; raises :class:`MissingModelMetrics` always, :class:`MissingBaselineMetrics` when
    enabled."""
    metrics = training.get("final_metrics") if isinstance(training, Mapping) else None
    model_loss, model_rmse = model_metrics(metrics)
    base = baseline if isinstance(baseline, Mapping) else {}
    base_loss = finite(base.get("mean_wQuantileLoss"))
    if base_loss is not None and base_loss < 0:
        base_loss = None
    if settings.enabled and base_loss is None:
        raise MissingBaselineMetrics(
            "the dataset result has no usable baseline mean_wQuantileLoss (dataset.baseline."
            f"mean_wQuantileLoss is {base.get('mean_wQuantileLoss')!r}); generate-dataset scores the "
            "seasonal-naive baseline of every run, so its result is not one it wrote"
        )
    return GateResult(
        decision=PER_SERIES if settings.enabled else DISABLED,
        model_rmse=model_rmse,
        model_loss=model_loss,
        baseline_rmse=finite(base.get("RMSE")),
        baseline_loss=base_loss,
        baseline_mase=finite(base.get("MASE")),
        loss_ratio=model_loss / base_loss if base_loss else None,
        max_loss_ratio=settings.max_loss_ratio if settings.enabled else None,
    )
