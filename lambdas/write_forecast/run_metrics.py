"""A written run's CloudWatch metrics, as one embedded-metric-format (EMF) log line (no I/O).

Lambda sends what the function prints to its log group, and CloudWatch Logs extracts the metrics
of a line that is an EMF document, so publishing needs no client, no permission beyond the log
group's, and no dependency. Namespace :data:`forecast_metrics.METRICS_NAMESPACE`, dimension
``Environment`` (``METRICS_ENVIRONMENT``; the stack sets the environment's name), one value each:

* ``SeriesOnModel`` and ``SeriesOnBaseline`` (Count): how many series took each source; the
  stack alarms when ``SeriesOnModel`` is below 1 (the model won no series);
* ``ModelBacktestLoss`` and ``BaselineBacktestLoss`` (None): both candidates' overall backtest loss
  on the selection metric; a loss that is undefined (nothing scored) is left out.

The document also carries the run id and the metric's name, which CloudWatch keeps in the log only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from selection import BASELINE, MODEL

from forecast_metrics import (
    BASELINE_BACKTEST_LOSS,
    METRICS_DIMENSION,
    METRICS_NAMESPACE,
    MODEL_BACKTEST_LOSS,
    SERIES_ON_BASELINE,
    SERIES_ON_MODEL,
)

DEFAULT_ENVIRONMENT = "default"


def emf_document(
    figures: Mapping[str, Any], environment: str, run_id: str, timestamp_ms: int
) -> dict[str, Any]:
    """The EMF document of a run's :meth:`selection.Selection.figures`."""
    values: dict[str, tuple[float, str]] = {
        SERIES_ON_MODEL: (figures["series"][MODEL], "Count"),
        SERIES_ON_BASELINE: (figures["series"][BASELINE], "Count"),
    }
    for name, candidate in ((MODEL_BACKTEST_LOSS, MODEL), (BASELINE_BACKTEST_LOSS, "baseline")):
        loss = figures[candidate]["loss"]
        if loss is not None:
            values[name] = (loss, "None")
    return {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": METRICS_NAMESPACE,
                    "Dimensions": [[METRICS_DIMENSION]],
                    "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in values.items()],
                }
            ],
        },
        METRICS_DIMENSION: environment,
        **{name: value for name, (value, _) in values.items()},
        "run_id": run_id,
        "selection_metric": figures["metric"],
    }
