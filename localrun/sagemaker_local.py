"""Local twins of the SageMaker jobs the state machines run: processing, DeepAR training, model, transform.

Each takes the task's Create* parameters, as the ASL builds them, and returns a Describe*-like
result for ``localrun.moto_adapter``. Inputs come from the mocked S3 and outputs go back to it,
through a local work directory laid out like the job's container.

- Processing runs the processing script of ``processing/`` in a subprocess, with the container's
  ``/opt/ml/processing/...`` paths mapped to the work directory. A non-zero exit is a ``Failed``
  job whose ``FailureReason`` is the script's last stderr lines.
- Training and transform run GluonTS DeepAR through ``localrun.deepar_local`` (``demo`` caps
  the epochs). The model artifact goes to ``<S3OutputPath><job>/output/model.tar.gz`` and the
  transform output to ``<S3OutputPath><input file>.out``, as SageMaker writes them. A training
  job's result has SageMaker's ``FinalMetricDataList``: ``train:final_loss`` and, with a
  ``test`` channel, ``test:RMSE`` and ``test:mean_wQuantileLoss`` (``deepar_local.evaluate``).

Every Create* call's parameters are checked against botocore's SageMaker model first, and one
that SageMaker would refuse is rejected with ``ValidationException``, naming each parameter.

With a :class:`JobQuota`, :meth:`LocalSageMaker.create` (bound with ``bind_sagemaker_create``)
enforces SageMaker's account quota on concurrent jobs in simulated time: each job holds its
instances for ``job_seconds`` from its Create* call, and a call that would take more instances of
its kind than the quota at any moment of that span is rejected with ``ResourceLimitExceeded``,
worded as SageMaker words it. Bookings are checked over the whole span, not only at its start,
because executions reach their Create* calls in real-time order, not in simulated-time order.
Jobs themselves run at most ``workers`` at a time on this machine, whatever the quota.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.api_shapes import problems
from config.paths import PROCESSING
from contracts.container import container_contract
from localrun.moto_adapter import SageMakerApiError, SageMakerKind
from localrun.s3files import download_prefix, split_uri, upload_directory

_FAILURE_LINES = 5


@dataclass
class JobRecord:
    """One local job, for the runner's summary."""

    kind: str
    name: str
    status: str
    seconds: float
    detail: str = ""


@dataclass(frozen=True)
class JobQuota:
    """SageMaker's quota on concurrent jobs, per kind (processing, training, transform): at most
    ``instances`` instances in use at once, each job holding its ``InstanceCount`` for
    ``job_seconds`` of simulated time (default 300 s, a short job with its instance start-up)."""

    instances: int
    job_seconds: float = 300.0

    def __post_init__(self) -> None:
        if self.instances < 1 or self.job_seconds <= 0:
            raise ValueError(f"a quota needs instances >= 1 and job_seconds > 0, got {self}")


@dataclass(frozen=True)
class Booking:
    """A job admitted under the quota: it uses ``instances`` from ``start`` to ``end`` (simulated s)."""

    kind: str
    name: str
    instances: int
    start: float
    end: float


@dataclass(frozen=True)
class Rejection:
    """A Create* call refused with ResourceLimitExceeded at simulated time ``at``."""

    kind: str
    name: str
    at: float


#: Where each kind's Create* request names its instances.
_RESOURCES = {
    "processing": ("ProcessingResources", "ClusterConfig"),
    "training": ("ResourceConfig",),
    "transform": ("TransformResources",),
}


def _in_use(bookings: list[Booking], at: float) -> int:
    return sum(b.instances for b in bookings if b.start <= at < b.end)


def peak_instances(bookings: list[Booking]) -> int:
    """The most instances in use at any simulated moment (a job ending at t frees them before t)."""
    changes = sorted([(b.start, b.instances) for b in bookings] + [(b.end, -b.instances) for b in bookings])
    peak = in_use = 0
    for _, change in changes:
        in_use += change
        peak = max(peak, in_use)
    return peak


#: The Create* operation of each kind of job.
_OPERATIONS = {
    "processing": "CreateProcessingJob",
    "training": "CreateTrainingJob",
    "transform": "CreateTransformJob",
    "model": "CreateModel",
}


def check_parameters(operation: str, params: Mapping[str, Any]) -> None:
    """Refuse, as SageMaker does, parameters that break ``operation``'s input shape in botocore's
    SageMaker model (enums, lengths and patterns included; moto checks none of them)."""
    found = problems("sagemaker", operation, params)
    if found:
        raise SageMakerApiError(
            "ValidationException", f"{len(found)} validation error(s) detected: " + "; ".join(found)
        )


@dataclass
class LocalSageMaker:
    """The jobs of one offline session, working below ``workdir`` against the mocked S3 ``s3``.

    ``quota`` (default none) limits concurrent jobs as described in the module docstring;
    ``workers`` (default the CPU count) is how many jobs run at once on this machine.
    """

    s3: Any
    workdir: Path
    python: str = sys.executable
    quota: JobQuota | None = None
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: list[JobRecord] = field(default_factory=list)
    bookings: list[Booking] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._slots = threading.BoundedSemaphore(self.workers)
        self._quota_lock = threading.Lock()

    # -- the quota -------------------------------------------------------------------------------

    def create(self, kind: SageMakerKind, params: Mapping[str, Any], now: float) -> float:
        """Admit or reject the Create* call of a ``kind`` job at simulated time ``now``.

        Returns the job's simulated run time (``quota.job_seconds``; 0 without a quota). Raises
        :class:`SageMakerApiError` ``ValidationException`` when the parameters break the API's
        model (:func:`check_parameters`), and ``ResourceLimitExceeded`` when the job's instances
        would take its kind past ``quota.instances`` at any moment from ``now`` to the end of its run.
        """
        check_parameters(_OPERATIONS[kind], params)
        if self.quota is None:
            return 0.0
        resources: Mapping[str, Any] = params
        for key in _RESOURCES[kind]:
            resources = resources[key]
        count, instance_type = int(resources["InstanceCount"]), str(resources["InstanceType"])
        name = str(params[f"{kind.capitalize()}JobName"])
        end = now + self.quota.job_seconds
        with self._quota_lock:
            overlapping = [b for b in self.bookings if b.kind == kind and b.start < end and b.end > now]
            moments = [now] + [b.start for b in overlapping if b.start > now]
            peak = max(_in_use(overlapping, at) for at in moments)
            if peak + count > self.quota.instances:
                self.rejections.append(Rejection(kind, name, now))
                raise SageMakerApiError(
                    "ResourceLimitExceeded",
                    f"The account-level service limit '{instance_type} for {kind} job usage' is "
                    f"{self.quota.instances} Instances, with current utilization of "
                    f"{_in_use(overlapping, now)} Instances and a request delta of {count} Instances. "
                    "Please use AWS Service Quotas to request an increase for this quota. If AWS "
                    "Service Quotas is not available, contact AWS support to request an increase "
                    "for this quota.",
                )
            self.bookings.append(Booking(kind, name, count, now, end))
        return self.quota.job_seconds

    # -- running jobs ----------------------------------------------------------------------------

    def _timed(self, kind: str, name: str, run: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
        """Run one job in its own directory and record it; ``run`` returns its ``Status`` and details.

        Returns the describe fields: ``<Kind>JobName``, ``<Kind>JobStatus`` and the details.
        """
        job_dir = self.workdir / kind / name
        job_dir.mkdir(parents=True, exist_ok=True)
        with self._slots:
            start = time.monotonic()
            try:
                result = run(job_dir)
            except Exception as exc:  # the job's own code failed: a Failed job, as on SageMaker
                traceback.print_exc()
                result = {
                    "Status": "Failed",
                    "FailureReason": f"AlgorithmError: {type(exc).__name__}: {exc}",
                }
        status = str(result.pop("Status"))
        self.jobs.append(
            JobRecord(kind, name, status, time.monotonic() - start, result.get("FailureReason", ""))
        )
        noun = kind.capitalize()
        return {f"{noun}JobName": name, f"{noun}JobStatus": status, **result}

    # -- processing ------------------------------------------------------------------------------

    def processing(self, params: Mapping[str, Any]) -> dict[str, Any]:
        name = params["ProcessingJobName"]
        return self._timed("processing", name, lambda job_dir: self._process(params, job_dir))

    def _process(self, params: Mapping[str, Any], job_dir: Path) -> dict[str, Any]:
        contract = container_contract()
        local: dict[str, Path] = {}

        def mapped(path: str) -> str:
            for container_path, local_path in local.items():
                if path == container_path or path.startswith(container_path + "/"):
                    return str(local_path) + path[len(container_path) :]
            return path

        for item in params.get("ProcessingInputs", []):
            target = job_dir / "input" / item["InputName"]
            local[item["S3Input"]["LocalPath"]] = target
            target.mkdir(parents=True, exist_ok=True)
            download_prefix(self.s3, item["S3Input"]["S3Uri"], target)
        outputs = params.get("ProcessingOutputConfig", {}).get("Outputs", [])
        for item in outputs:
            target = job_dir / "output" / item["OutputName"]
            target.mkdir(parents=True, exist_ok=True)
            local[item["S3Output"]["LocalPath"]] = target
        app = params["AppSpecification"]
        entrypoint = [
            self.python if part.startswith("python") else part for part in app["ContainerEntrypoint"]
        ]
        entrypoint = [str(PROCESSING / Path(p).name) if p == contract.program_path else p for p in entrypoint]
        # ``python3 <package dir>`` runs its __main__.py, here as in the container
        command = entrypoint + [mapped(arg) for arg in app.get("ContainerArguments", [])]
        env = {**os.environ, **params.get("Environment", {})}
        proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        (job_dir / "stdout.log").write_text(proc.stdout)
        (job_dir / "stderr.log").write_text(proc.stderr)
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-_FAILURE_LINES:])
            return {
                "Status": "Failed",
                "FailureReason": f"AlgorithmError: exit code {proc.returncode}: {tail}",
            }
        for item in outputs:
            upload_directory(self.s3, local[item["S3Output"]["LocalPath"]], item["S3Output"]["S3Uri"])
        return {"Status": "Completed"}

    # -- DeepAR ----------------------------------------------------------------------------------

    def training(self, params: Mapping[str, Any]) -> dict[str, Any]:
        name = params["TrainingJobName"]
        output = params["OutputDataConfig"]["S3OutputPath"].rstrip("/") + f"/{name}/output/"
        result = self._timed("training", name, lambda job_dir: self._train(params, job_dir, output))
        if result["TrainingJobStatus"] == "Completed":
            result["ModelArtifacts"] = {"S3ModelArtifacts": output + "model.tar.gz"}
        return result

    def _train(self, params: Mapping[str, Any], job_dir: Path, output: str) -> dict[str, Any]:
        from localrun import deepar_local

        channels = {}
        for channel in params["InputDataConfig"]:
            target = job_dir / "input" / channel["ChannelName"]
            download_prefix(self.s3, channel["DataSource"]["S3DataSource"]["S3Uri"], target)
            channels[channel["ChannelName"]] = target
        train_files = sorted(channels["train"].rglob("*.json"))
        if len(train_files) != 1:
            return {
                "Status": "Failed",
                "FailureReason": f"ClientError: expected one train file, found {len(train_files)}",
            }
        test_files = sorted(channels["test"].rglob("*.json")) if "test" in channels else []
        if len(test_files) > 1:
            return {
                "Status": "Failed",
                "FailureReason": f"ClientError: expected one test file, found {len(test_files)}",
            }
        tar = deepar_local.train(params["HyperParameters"], train_files[0], job_dir / "model", demo=True)
        metrics = deepar_local.evaluate(tar, test_files[0] if test_files else None)
        upload_directory(self.s3, job_dir / "model", output)
        return {
            "Status": "Completed",
            "FinalMetricDataList": deepar_local.final_metric_data_list(metrics, int(time.time() * 1000)),
        }

    def model(self, params: Mapping[str, Any]) -> dict[str, Any]:
        check_parameters("CreateModel", params)
        container = params["PrimaryContainer"]
        self.models[params["ModelName"]] = {
            "ModelDataUrl": container["ModelDataUrl"],
            "Environment": dict(container.get("Environment", {})),
        }
        return {}  # the adapter answers with the model's ARN in this partition and region

    def transform(self, params: Mapping[str, Any]) -> dict[str, Any]:
        name = params["TransformJobName"]
        return self._timed("transform", name, lambda job_dir: self._transform(params, job_dir))

    def _transform(self, params: Mapping[str, Any], job_dir: Path) -> dict[str, Any]:
        from localrun import deepar_local

        model = self.models.get(params["ModelName"])
        if model is None:
            return {"Status": "Failed", "FailureReason": f"ClientError: no model {params['ModelName']}"}
        bucket, key = split_uri(model["ModelDataUrl"])
        tar = job_dir / "model.tar.gz"
        self.s3.download_file(bucket, key, str(tar))
        inputs = download_prefix(
            self.s3, params["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"], job_dir / "input"
        )
        config = deepar_local.inference_config_from_env(model["Environment"])
        out = job_dir / "output"
        for path in inputs:
            deepar_local.transform(tar, path, out / (path.name + ".out"), config)
        upload_directory(self.s3, out, params["TransformOutput"]["S3OutputPath"])
        return {"Status": "Completed"}
