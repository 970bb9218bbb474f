"""Every S3 path and SageMaker name of a run, derived once from the Step Functions execution name
and the Glue job run id, and passed along in the state; nothing depends on "today"."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dataset_config import Config, InvalidEvent, name_prefix_rule

from pipeline_rules import (
    RuleError,
    check_execution_name,
    check_job_run_id,
    check_setting,
    execution_digest,
)

#: The run's folder holding train.json and test.json, the transform job's input.
DATA_FOLDER = "data/"


# --------------------------------------------------------------------------- event and run paths


def job_run_id_from_event(glue_event: Mapping[str, Any]) -> str:
    """The ``jobRunId`` of a Glue Job State Change event whose state is SUCCEEDED."""
    detail = glue_event.get("detail") if isinstance(glue_event, Mapping) else None
    if not isinstance(detail, Mapping):
        raise InvalidEvent("event has no 'detail' object; is this a Glue Job State Change event?")
    state = detail.get("state")
    if state is not None and state != "SUCCEEDED":
        raise InvalidEvent(f"Glue job {detail.get('jobName')!r} run state is {state!r}, not SUCCEEDED")
    run_id = detail.get("jobRunId")
    try:
        return check_job_run_id(run_id)
    except RuleError as exc:
        raise InvalidEvent(f"event detail.jobRunId {run_id!r} is missing or {exc}") from None


def job_run_and_execution(payload: object) -> tuple[str, str]:
    """The Glue job run id and the execution name of the task payload
    ``{"event": <Glue Job State Change>, "execution_name"}``; else :class:`InvalidEvent`."""
    if not isinstance(payload, Mapping) or "event" not in payload or "execution_name" not in payload:
        raise InvalidEvent("expected {'event': <Glue Job State Change event>, 'execution_name': <name>}")
    return job_run_id_from_event(payload["event"]), payload["execution_name"]


def validate_run_key(execution_name: str) -> str:
    """The run key: the execution name itself, checked to be a Step Functions execution name."""
    try:
        return check_execution_name(execution_name)
    except RuleError as exc:
        raise InvalidEvent(f"execution_name {execution_name!r} {exc}") from None


def job_names(name_prefix: str, execution_name: str) -> dict[str, str]:
    """Deterministic training job, model and transform job names for one execution.

    ``<prefix>-train-<h>``, ``<prefix>-model-<h>``, ``<prefix>-transform-<h>`` where ``h`` is the
    first 16 hex digits of SHA-256 of the execution name.
    """
    check_setting("NAME_PREFIX", name_prefix, name_prefix_rule)
    digest = execution_digest(execution_name)
    return {  # the prefix's length limit keeps every name within SageMaker's rules
        "training_job_name": f"{name_prefix}-train-{digest}",
        "model_name": f"{name_prefix}-model-{digest}",
        "transform_job_name": f"{name_prefix}-transform-{digest}",
    }


@dataclass(frozen=True)
class RunPaths:
    """Every S3 location of one run. Keys are bucket-relative; ``*_uri`` are ``s3://`` URIs."""

    bucket: str
    input_prefix: str
    run_prefix: str

    @property
    def train_key(self) -> str:
        return f"{self.run_prefix}{DATA_FOLDER}train.json"

    @property
    def test_key(self) -> str:
        return f"{self.run_prefix}{DATA_FOLDER}test.json"

    @property
    def series_key(self) -> str:
        return f"{self.run_prefix}series.json"

    @property
    def baseline_key(self) -> str:
        return f"{self.run_prefix}baseline.json"

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def uris(self) -> dict[str, str]:
        """The run's URIs. The train and test channels are S3 prefixes that match one object each;
        the transform's input is their folder, so ONE job forecasts both files, and names each
        output after its input (``<output path><input>.out``): the train lines' forecast is the
        backtest window's, the test (whole) lines' the future's."""
        transform = self.uri(f"{self.run_prefix}transform/")
        return {
            "input_uri": self.uri(self.input_prefix),
            "train_uri": self.uri(self.train_key),
            "test_uri": self.uri(self.test_key),
            "series_uri": self.uri(self.series_key),
            "baseline_uri": self.uri(self.baseline_key),
            "model_output_uri": self.uri(f"{self.run_prefix}model/"),
            "transform_input_uri": self.uri(f"{self.run_prefix}{DATA_FOLDER}"),
            "transform_output_uri": transform,
            "backtest_uri": f"{transform}train.json.out",
            "forecast_uri": f"{transform}test.json.out",
        }


def run_paths(config: Config, job_run_id: str, execution_name: str) -> RunPaths:
    """The run's input prefix (from the Glue job run id) and work prefix (from the execution name)."""
    return RunPaths(
        bucket=config.bucket,
        input_prefix=f"{config.etl_prefix}run={job_run_id}/",
        run_prefix=f"{config.work_prefix}{validate_run_key(execution_name)}/",
    )
