"""SageMaker tasks run bound handlers: ``.sync`` jobs, ``createModel``, and rejected Create* calls.

Patched moto internal: ``moto.stepfunctions.parser.asl.component.state.exec.state_task.
state_task_factory.state_task_service_for``. moto maps ``sagemaker`` to a pass-through that cannot
do ``.sync``; for ``sagemaker`` it now returns :class:`SageMakerTask`, which calls the bound
handler. Every other service (``sns:publish`` included) is moto's own.

A ``.sync`` task returns the handler's Describe*-like dict. The job's name, ARN, end time
(epoch ms) and status (``Completed``) are filled in when missing. A ``Failed`` or ``Stopped`` status
fails the task with Error ``States.TaskFailed``, and the Cause is the Describe* output as JSON. That
is how Step Functions reports a failed ``.sync`` job. moto's Glue, Batch, ECS and nested-execution
``.sync`` code does the same; it was ported from LocalStack, whose tests are recorded against AWS.
This was not checked against a live account. A ``.sync`` handler that raises is a job that failed
with ``FailureReason: "AlgorithmError: <Type>: <message>"``. A crash of the job's own code looks
like that on AWS. It is logged with its traceback and not retried. A request-response task
(``createModel``) whose handler raises fails like a rejected API call: Error
``SageMaker.AmazonSageMakerException``, Cause ``"<Type>: <message> (Service: AmazonSageMaker; Status
Code: 400; Error Code: ValidationException; ...)"``. A task with no bound handler, or a handler
result that breaks the contract, fails with ``States.Runtime``, and the cause says what to fix.

Time bounds: a ``.sync`` job whose simulated run time passes the state's ``TimeoutSeconds`` is
stopped at the bound without running: the execution's clock skips the bound and the task fails
with ``States.Timeout`` (a ``TaskTimedOut`` event), as Step Functions reports a task that timed out.

Rejected Create* calls: ``bind_sagemaker_create`` installs a hook that sees each Create* call of a
``.sync`` task at the execution's simulated time, before the job runs. It rejects the call by
raising :class:`SageMakerApiError`, or returns how long the job runs in simulated seconds (the
execution's clock skips that much once the handler has run the job). A rejection fails the task
as Step Functions reports a rejected SageMaker call: Error ``SageMaker.<Code>Exception`` for the
error codes SageMaker's API declares for Create*Job (``ResourceLimitExceeded``, ``ResourceInUse``,
``ResourceNotFound``), else ``SageMaker.AmazonSageMakerException``; Cause ``"<message> (Service:
AmazonSageMaker; Status Code: 400; Error Code: <Code>; Request ID: <uuid>; Proxy: null)"``. Sources:
the AWS Step Functions Developer Guide's ``createTrainingJob.sync`` example retries
``SageMaker.ResourceLimitExceededException`` apart from ``SageMaker.AmazonSageMakerException``
(connect-sagemaker, "SageMaker Training Job Example"), and moto's own optimized integrations,
ported from LocalStack, name declared errors ``<Service>.<Code>Exception`` (``SNS.``,
``StepFunctions.``). Not checked against a live account either: the state machines also accept the
quota error as ``SageMaker.AmazonSageMakerException`` with the code in the cause.
"""

from __future__ import annotations

import copy
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import StateCredentials
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_callback
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
    ResourceCondition,
    ResourceRuntimePart,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

from localrun.moto_adapter.requests import CallLog
from localrun.moto_adapter.timing import SimulatedClock, execution_arn

LOG = logging.getLogger(__name__)

SageMakerKind = Literal["processing", "training", "transform", "model"]
SageMakerHandler = Callable[[dict[str, Any]], Mapping[str, Any] | None]
#: ``create(kind, parameters, now)``: reject a job's Create* call or return its simulated run time.
SageMakerCreate = Callable[[SageMakerKind, dict[str, Any], float], float]

#: The error codes SageMaker's API declares for Create*Job; Step Functions names them
#: ``SageMaker.<Code>Exception`` and every other code ``SageMaker.AmazonSageMakerException``.
DECLARED_SAGEMAKER_ERRORS: Final[frozenset[str]] = frozenset(
    {"ResourceInUse", "ResourceLimitExceeded", "ResourceNotFound"}
)


class SageMakerApiError(Exception):
    """SageMaker rejects a Create* call with error ``code`` (e.g. ``ResourceLimitExceeded``) and ``message``.

    ``error_name`` is how Step Functions reports it (see the module docstring); pass it to model
    another reporting, e.g. ``SageMaker.AmazonSageMakerException`` with the code only in the cause.
    """

    def __init__(self, code: str, message: str, *, error_name: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.request_id = code, message, str(uuid.uuid4())
        declared = code in DECLARED_SAGEMAKER_ERRORS
        self.error_name = error_name or (
            f"SageMaker.{code}Exception" if declared else "SageMaker.AmazonSageMakerException"
        )

    @property
    def cause(self) -> str:
        """The task failure's cause, as the Java SDK behind Step Functions words a rejected call."""
        return (
            f"{self.message} (Service: AmazonSageMaker; Status Code: 400; Error Code: {self.code}; "
            f"Request ID: {self.request_id}; Proxy: null)"
        )


@dataclass(frozen=True)
class _Kind:
    action: str  # the API action in the task Resource
    noun: str  # "ProcessingJob": ProcessingJobName, ProcessingJobArn, ProcessingJobStatus
    arn_type: str
    end_time: str | None  # the Describe* end-time field; None for a model


_KINDS: Final[dict[str, _Kind]] = {
    "processing": _Kind("createProcessingJob", "ProcessingJob", "processing-job", "ProcessingEndTime"),
    "training": _Kind("createTrainingJob", "TrainingJob", "training-job", "TrainingEndTime"),
    "transform": _Kind("createTransformJob", "TransformJob", "transform-job", "TransformEndTime"),
    "model": _Kind("createModel", "Model", "model", None),
}
_KIND_OF_ACTION: Final[dict[str, str]] = {k.action.lower(): name for name, k in _KINDS.items()}
_FAILED_STATUSES: Final[frozenset[str]] = frozenset({"Failed", "Stopped"})
#: The kinds ``OfflineAws.bind_sagemaker`` accepts.
SAGEMAKER_KINDS: Final[tuple[str, ...]] = tuple(sorted(_KINDS))


class SageMakerTask(state_task_service_callback.StateTaskServiceCallback):
    """``arn:<partition>:states:::sagemaker:<action>[.sync]`` run by a bound handler."""

    def __init__(
        self,
        handlers: Mapping[str, SageMakerHandler],
        create: Callable[[], SageMakerCreate | None],
        clock: SimulatedClock,
        calls: CallLog | None = None,
    ) -> None:
        super().__init__(
            supported_integration_patterns=cast("set[ResourceCondition]", {ResourceCondition.Sync})
        )
        self._handlers = handlers
        self._create = create  # read at each call: bind_sagemaker_create may come after parsing
        self._clock = clock
        self._calls = calls  # each Create* call is recorded as the state machine's request
        self._run_seconds: dict[str, float] = {}  # execution ARN -> simulated run time of its job

    def _validate_service_integration_is_supported(self) -> None:
        kind = _KIND_OF_ACTION.get(self.resource.api_action.lower())
        condition = self.resource.condition
        if (
            kind is None
            or condition not in (None, ResourceCondition.Sync)
            or (kind == "model" and condition is not None)
        ):
            raise ValueError(f"offline SageMaker supports no task {self.resource.resource_arn}")

    def _eval_service_task(
        self,
        env: Environment,
        resource_runtime_part: ResourceRuntimePart,
        normalised_parameters: dict[str, Any],
        state_credentials: StateCredentials,
    ) -> None:
        kind = _KINDS[_KIND_OF_ACTION[self.resource.api_action.lower()]]
        name = str(normalised_parameters.get(f"{kind.noun}Name", ""))
        arn = self._arn(kind, name, resource_runtime_part)
        if self._calls is not None:
            state_machine = execution_arn(env).split(":")[-2]
            operation = kind.action[0].upper() + kind.action[1:]
            self._calls.add(f"state_machine:{state_machine}", "sagemaker", operation, normalised_parameters)
        if self.resource.condition == ResourceCondition.Sync:
            create = self._create()
            if create is not None:
                execution = execution_arn(env)
                kind_name = cast(SageMakerKind, _KIND_OF_ACTION[kind.action.lower()])
                try:
                    seconds = create(
                        kind_name, copy.deepcopy(normalised_parameters), self._clock.now(execution)
                    )
                except SageMakerApiError as exc:
                    raise self._failure(env, exc.error_name, exc.cause) from exc
                self._run_seconds[execution] = float(seconds)
            env.stack.append({f"{kind.noun}Arn": arn})  # the Create* response; the job runs in the sync step
            return
        handler = self._handler(kind)
        try:
            result = dict(handler(copy.deepcopy(normalised_parameters)) or {})
        except Exception as exc:
            LOG.warning("SageMaker %s handler raised", kind.action, exc_info=True)
            raise self._failure(
                env,
                "SageMaker.AmazonSageMakerException",
                f"{type(exc).__name__}: {exc} (Service: AmazonSageMaker; Status Code: 400; "
                f"Error Code: ValidationException; Request ID: {uuid.uuid4()}; Proxy: null)",
            ) from exc
        env.stack.append({f"{kind.noun}Arn": result.get(f"{kind.noun}Arn", arn)})

    def _eval_integration_pattern(
        self,
        env: Environment,
        resource_runtime_part: ResourceRuntimePart,
        normalised_parameters: dict[str, Any],
        state_credentials: StateCredentials,
    ) -> None:
        created: dict[str, Any] = env.stack.pop()
        kind = _KINDS[_KIND_OF_ACTION[self.resource.api_action.lower()]]
        name = str(normalised_parameters.get(f"{kind.noun}Name", ""))
        status_key = f"{kind.noun}Status"
        now_ms = int(time.time() * 1000)
        execution = execution_arn(env)
        run_seconds = self._run_seconds.pop(execution, 0.0)
        bound = self._timeout_seconds()
        if bound is not None and run_seconds > bound:  # Step Functions stops the job at the bound
            self._clock.skip(execution, float(bound))
            raise FailureEventException(self._get_timed_out_failure_event(env))
        handler = self._handler(kind)
        try:
            result = dict(handler(copy.deepcopy(normalised_parameters)) or {})
        except Exception as exc:
            LOG.warning("SageMaker %s handler raised", kind.action, exc_info=True)
            result = {status_key: "Failed", "FailureReason": f"AlgorithmError: {type(exc).__name__}: {exc}"}
        self._clock.skip(execution, run_seconds)
        describe = {
            f"{kind.noun}Name": name,
            f"{kind.noun}Arn": created[f"{kind.noun}Arn"],
            status_key: "Completed",
            **result,
        }
        status = describe[status_key]
        if kind.end_time is not None:
            describe.setdefault(kind.end_time, now_ms)
        if status in _FAILED_STATUSES:
            raise self._failure(
                env,
                StatesErrorNameType.StatesTaskFailed.to_name(),
                json.dumps(describe, separators=(",", ":")),
            )
        if status != "Completed":
            raise ValueError(
                f"offline SageMaker {kind.action} handler returned {status_key}={status!r}; "
                f"a finished job is Completed, Failed or Stopped"
            )
        if kind.noun == "TrainingJob" and not describe.get("ModelArtifacts", {}).get("S3ModelArtifacts"):
            raise ValueError(
                "offline SageMaker createTrainingJob handler returned no ModelArtifacts.S3ModelArtifacts"
            )
        env.stack.append(describe)

    def _timeout_seconds(self) -> int | None:
        """The state's ``TimeoutSeconds``, if it sets one (moto's default stands for none)."""
        timeout = self.timeout
        if isinstance(timeout, TimeoutSeconds) and not timeout.is_default_value():
            return int(timeout.timeout_seconds)
        return None

    def _handler(self, kind: _Kind) -> SageMakerHandler:
        name = _KIND_OF_ACTION[kind.action.lower()]
        handler = self._handlers.get(name)
        if handler is None:
            raise ValueError(
                f"no offline handler for {self.resource.resource_arn}; call bind_sagemaker({name!r}, ...)"
            )
        return handler

    def _arn(self, kind: _Kind, name: str, runtime: ResourceRuntimePart) -> str:
        partition = self.resource.partition or "aws"
        return f"arn:{partition}:sagemaker:{runtime.region}:{runtime.account}:{kind.arn_type}/{name.lower()}"

    def _failure(self, env: Environment, error: str, cause: str) -> FailureEventException:
        error_name = (
            StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed)
            if error == StatesErrorNameType.StatesTaskFailed.to_name()
            else CustomErrorName(error)
        )
        return FailureEventException(
            FailureEvent(
                env=env,
                error_name=error_name,
                event_type=HistoryEventType.TaskFailed,
                event_details=cast(
                    EventDetails,
                    {
                        "taskFailedEventDetails": TaskFailedEventDetails(
                            error=error,
                            cause=cause,
                            resource=self._get_sfn_resource(),
                            resourceType=self._get_sfn_resource_type(),
                        )
                    },
                ),
            )
        )
