"""moto's Step Functions interpreter with Lambda and SageMaker tasks bound to local Python code.

``offline_aws(region)`` starts ``mock_aws`` with ``execute_state_machine=True`` and
``lambda.use_docker=False``. For its duration only, it patches these internals of moto 5.2.5
(all under ``moto.stepfunctions.parser.asl``; moto is pinned, and the tests fail if they move):

- ``component.state.exec.state_task.lambda_eval_utils._invoke_lambda_function``: the one call that
  ``lambda:invoke`` and plain function-ARN tasks make to Lambda. A bound function runs
  in-process. An unbound one goes to moto's Lambda, but only if moto has that function: moto's
  Lambda without Docker "succeeds" for any name, while AWS fails with
  ``Lambda.ResourceNotFoundException``.
- ``component.state.exec.state_task.state_task_factory.state_task_service_for``: moto maps
  ``sagemaker`` to a pass-through that cannot do ``.sync``. For ``sagemaker`` it now returns
  ``_SageMakerTask``, which calls the bound handler. Every other service (``sns:publish``
  included) is moto's own.
- ``component.common.retry.retrier_decl.time`` and ``RetrierDecl._eval_body``: ``Retry`` waits go
  to ``OfflineAws.retry_delays`` and are not slept; the number of attempts does not change. (The
  second patch only tells the first which execution is waiting.)
- ``component.state.wait.wait_function.wait_function.WaitFunction._wait_interval``: a ``Wait``
  state is recorded in ``OfflineAws.waits`` and not slept.
- ``parse.intrinsic.intrinsic_parser.IntrinsicParser.parse`` and
  ``parse.intrinsic.preprocessor.Preprocessor._replace_escaped_characters`` (unless
  ``fix_intrinsic_escapes=False``): moto parses an intrinsic call from the raw JSON text, so
  the escapes that AWS requires in its string literals (backslash before ``'``, ``{``, ``}``,
  backslash) break. ``States.StringToJson('\\{...\\}')``, as ``stacks.asl.intrinsic_string``
  writes it, fails with States.Runtime. These patches JSON-decode the call first, and they read the
  four escapes as AWS does.

Time: every skipped wait (``Retry`` or ``Wait``) moves the waiting execution's clock on by its
length, so ``OfflineAws.clock`` gives each execution a simulated time: real seconds since the mock
began plus what the execution skipped, plus the simulated run time of its jobs. Executions that
run at the same time interleave on it as they would on AWS, hours of backoff included, in seconds.

Inside the mock, boto3's default session is one whose botocore model loader is shared by every
``offline_aws``: each mock otherwise re-parses botocore's JSON models (0.1-0.3 s).

Lambda: the task result is ``{"ExecutedVersion": "$LATEST", "Payload": <return value>,
"StatusCode": 200}``. When the function raises, the task fails as a Lambda function error does on
AWS: Error is the exception class name, and Cause is the JSON text ``{"errorMessage",
"errorType", "requestId", "stackTrace"}``. A return value that is not JSON fails with
``Runtime.MarshalError``.

SageMaker: a ``.sync`` task returns the handler's Describe*-like dict. The job's name, ARN, end time
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

Differences from AWS that remain (the tests pin each one, so a moto upgrade that changes one shows):

- ``States.ALL`` also catches ``States.Runtime``; on AWS nothing catches it.
- A Choice rule on a missing field is false, so the Default is taken; AWS fails with States.Runtime.
- ``States.Format`` uses Python's ``str.format``, so a template with literal braces (escaped or
  not) fails with States.Runtime.
- ``StartExecution`` without a name gives ``$$.Execution.Name`` = null (AWS generates a UUID);
  ``OfflineAws.run`` always passes a name.
- ``Retry`` and ``Wait`` waits are skipped (see Time above): nothing in this process runs slower for
  them, and ``$$.State.EnteredTime`` and history timestamps stay real times.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, cast
from unittest import mock

import boto3
import botocore.loaders
import botocore.session
from moto import mock_aws
from moto.core.config import DefaultConfig
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
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
    lambda_eval_utils,
    state_task_factory,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import StateCredentials
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_callback,
    state_task_service_factory,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
    ResourceCondition,
    ResourceRuntimePart,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
    StateTaskService,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.parse.intrinsic import intrinsic_parser
from moto.stepfunctions.parser.asl.parse.intrinsic import preprocessor as intrinsic_preprocessor
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for
from moto.utilities.utils import get_partition

LOG = logging.getLogger(__name__)
#: The longest pause between two polls of a running execution (the first is poll_interval).
MAX_POLL_INTERVAL = 0.1

MOTO_CONFIG: Final[DefaultConfig] = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}

SageMakerKind = Literal["processing", "training", "transform", "model"]
LambdaFunction = Callable[[Any], Any]
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


class SimulatedClock:
    """Each execution's simulated time, in seconds: real time since the clock was made plus what
    the execution skipped (waits, simulated job run times). Thread-safe."""

    def __init__(self) -> None:
        self._origin = time.monotonic()
        self._skipped: dict[str, float] = {}
        self._lock = threading.Lock()

    def now(self, execution_arn: str) -> float:
        """The simulated time of ``execution_arn`` (real time for one that skipped nothing)."""
        with self._lock:
            return time.monotonic() - self._origin + self._skipped.get(execution_arn, 0.0)

    def skip(self, execution_arn: str, seconds: float) -> None:
        """Move the clock of ``execution_arn`` on by ``seconds``."""
        with self._lock:
            self._skipped[execution_arn] = self._skipped.get(execution_arn, 0.0) + seconds


@dataclass(frozen=True)
class SkippedWait:
    """A ``Wait`` state that was not slept: its execution, state name and length in seconds."""

    execution_arn: str
    state: str
    seconds: float


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


@dataclass(frozen=True)
class StateEvent:
    """A state entered or exited; ``seconds`` is the time since it was entered (None on entry)."""

    name: str
    phase: Literal["entered", "exited"]
    timestamp: datetime
    seconds: float | None = None


@dataclass(frozen=True)
class Step:
    """One visit of a state; ``exited``/``seconds`` are None for a state that never exits (Fail)."""

    name: str
    entered: datetime
    exited: datetime | None
    seconds: float | None


@dataclass(frozen=True)
class ExecutionResult:
    """The end of an execution, from DescribeExecution and GetExecutionHistory."""

    execution_arn: str
    status: str  # SUCCEEDED, FAILED, TIMED_OUT or ABORTED
    output: Any  # the parsed output JSON; None unless SUCCEEDED
    error: str | None
    cause: str | None
    path: tuple[str, ...]  # names of the states entered, in order
    steps: tuple[Step, ...]
    events: tuple[dict[str, Any], ...]  # the raw history events

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


class OfflineAws:
    """The handle that ``offline_aws`` yields; create it only through ``offline_aws``."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.partition: str = get_partition(region)
        self.retry_delays: list[float] = []  # every Retry wait that was skipped, in seconds
        self.waits: list[SkippedWait] = []  # every Wait state that was skipped
        self.clock = SimulatedClock()
        self._lambdas: dict[str, LambdaFunction] = {}
        self._sagemaker: dict[str, SageMakerHandler] = {}
        self._sagemaker_create: SageMakerCreate | None = None
        self._clients: dict[str, Any] = {}

    # -- bindings -------------------------------------------------------------------------------

    def bind_lambda(self, function: str, fn: LambdaFunction) -> None:
        """Run ``fn(payload)`` for tasks invoking ``function`` (an ARN or a name; matched by name)."""
        self._lambdas[_function_name(function)] = fn

    def bind_sagemaker(self, kind: SageMakerKind, handler: SageMakerHandler) -> None:
        """Run ``handler(parameters)`` for ``sagemaker:<create action>`` tasks of ``kind``.

        ``parameters`` are the task's resolved Parameters. For a job, return its Describe* dict
        (status ``Failed``/``Stopped`` with a ``FailureReason`` fails the task); for ``model``,
        return ``{"ModelArn": ...}`` or None.
        """
        if kind not in _KINDS:
            raise ValueError(f"unknown SageMaker kind {kind!r}; expected one of {sorted(_KINDS)}")
        self._sagemaker[kind] = handler

    def bind_sagemaker_create(self, create: SageMakerCreate) -> None:
        """Run ``create(kind, parameters, now)`` when a ``.sync`` task creates a job.

        ``now`` is the execution's simulated time (:class:`SimulatedClock`). Raise
        :class:`SageMakerApiError` to reject the Create* call; else return the job's simulated run
        time in seconds, which the execution's clock skips once the bound handler has run the job.
        """
        self._sagemaker_create = create

    # -- AWS helpers ----------------------------------------------------------------------------

    def client(self, service: str) -> Any:
        """A boto3 client of the mocked ``service`` in this region (one per service)."""
        if service not in self._clients:
            self._clients[service] = boto3.client(service, region_name=self.region)
        return self._clients[service]

    def create_state_machine(self, name: str, definition: Mapping[str, Any]) -> str:
        """Create a STANDARD state machine with a placeholder role and return its ARN."""
        role = f"arn:{self.partition}:iam::123456789012:role/offline-states"
        text = json.dumps(definition)
        response = self.client("stepfunctions").create_state_machine(name=name, definition=text, roleArn=role)
        return str(response["stateMachineArn"])

    def run(
        self,
        state_machine_arn: str,
        execution_input: Any = None,
        *,
        name: str | None = None,
        timeout: float = 30.0,
        poll_interval: float = 0.005,
        on_state: Callable[[StateEvent], None] | None = None,
    ) -> ExecutionResult:
        """Start an execution and :meth:`wait` for its end.

        ``execution_input`` is serialized as JSON (None: ``{}``); ``name`` defaults to a UUID.
        """
        sfn = self.client("stepfunctions")
        execution_arn = str(
            sfn.start_execution(
                stateMachineArn=state_machine_arn,
                name=name or str(uuid.uuid4()),
                input=json.dumps({} if execution_input is None else execution_input),
            )["executionArn"]
        )
        return self.wait(execution_arn, timeout=timeout, poll_interval=poll_interval, on_state=on_state)

    def wait(
        self,
        execution_arn: str,
        *,
        timeout: float = 30.0,
        poll_interval: float = 0.005,
        on_state: Callable[[StateEvent], None] | None = None,
    ) -> ExecutionResult:
        """Wait for a started execution to end (default at most 30 s) and return its result.

        Polls every ``poll_interval`` at first, then twice as long each time up to
        ``MAX_POLL_INTERVAL``; ``on_state`` sees every state entry and exit while the execution runs,
        one poll late at most. After ``timeout`` seconds the execution is stopped and TimeoutError
        raised.
        """
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        reported = 0
        entered: dict[str, datetime] = {}
        events: list[dict[str, Any]] | None = None
        delay = poll_interval
        while True:
            description = sfn.describe_execution(executionArn=execution_arn)
            if on_state is not None:
                events = _history(sfn, execution_arn)  # read after the description: complete once it ended
                for event in events[reported:]:
                    state_event = _state_event(event, entered)
                    if state_event is not None:
                        on_state(state_event)
                reported = len(events)
            if description["status"] != "RUNNING":
                break
            if time.monotonic() > deadline:
                sfn.stop_execution(executionArn=execution_arn, error="Timeout", cause="offline run timed out")
                events = _history(sfn, execution_arn)
                path = [e.name for e in _state_events(events) if e.phase == "entered"]
                raise TimeoutError(f"{execution_arn} still running after {timeout}s; path so far {path}")
            time.sleep(delay)
            delay = min(2 * delay, max(poll_interval, MAX_POLL_INTERVAL))
        output = description.get("output")
        if events is None:
            events = _history(sfn, execution_arn)
        state_events = _state_events(events)
        return ExecutionResult(
            execution_arn=execution_arn,
            status=str(description["status"]),
            output=None if output is None else json.loads(output),
            error=description.get("error"),
            cause=description.get("cause"),
            path=tuple(e.name for e in state_events if e.phase == "entered"),
            steps=_steps(state_events),
            events=tuple(events),
        )

    # -- patched moto internals -----------------------------------------------------------------

    def _invoke_lambda(self, parameters: dict[str, Any], region: str, state_credentials: Any) -> Any:
        fn = self._lambdas.get(_function_name(str(parameters.get("FunctionName", ""))))
        if fn is None:
            # moto's Lambda without Docker "succeeds" for any name: fail like AWS for a missing function.
            boto_client_for(region, "lambda", state_credentials).get_function(
                FunctionName=parameters["FunctionName"]
            )
            return _ORIGINAL_INVOKE_LAMBDA(
                parameters=parameters, region=region, state_credentials=state_credentials
            )
        raw = parameters.get("Payload")
        payload = json.loads(raw) if raw else {}
        response: dict[str, Any] = {"ExecutedVersion": "$LATEST", "StatusCode": 200}
        try:
            result = fn(payload)
        except Exception as exc:
            frames = traceback.extract_tb(exc.__traceback__)[1:]  # drop this adapter's frame
            error = _lambda_error(type(exc).__name__, str(exc), traceback.format_list(frames))
            return {**response, "FunctionError": "Unhandled", "Payload": error}
        try:
            response["Payload"] = json.loads(json.dumps(result))
        except (TypeError, ValueError) as exc:
            error = _lambda_error("Runtime.MarshalError", f"Unable to marshal response: {exc}", [])
            return {**response, "FunctionError": "Unhandled", "Payload": error}
        return response

    def _service_for(self, service_name: str) -> StateTaskService:
        if service_name == "sagemaker":
            return _SageMakerTask(self._sagemaker, lambda: self._sagemaker_create, self.clock)
        return state_task_service_factory.state_task_service_for(service_name)

    def _skip_retry(self, seconds: float) -> None:
        self.retry_delays.append(seconds)
        env = getattr(_RETRYING, "env", None)
        if env is not None:
            self.clock.skip(_execution_arn(env), seconds)

    def _skip_wait(self, env: Environment, wait_seconds: int) -> None:
        execution = _execution_arn(env)
        state_data = env.states.context_object.context_object_data.get("State")
        state = str(state_data["Name"]) if state_data else ""
        self.waits.append(SkippedWait(execution, state, float(wait_seconds)))
        self.clock.skip(execution, float(wait_seconds))


_ORIGINAL_INVOKE_LAMBDA: Final = lambda_eval_utils._invoke_lambda_function


@functools.cache
def _shared_loader() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


class _NoSleep:
    """Stands in for the ``time`` module of moto's retrier: records the delay, returns at once."""

    def __init__(self, skip: Callable[[float], None]) -> None:
        self._skip = skip

    def sleep(self, seconds: float) -> None:
        self._skip(seconds)


#: The environment whose Retrier runs in this thread, for ``_NoSleep`` (it gets no environment).
_RETRYING = threading.local()
_ORIGINAL_RETRIER_EVAL: Final = retrier_decl.RetrierDecl._eval_body


def _eval_retrier(retrier: retrier_decl.RetrierDecl, env: Environment) -> None:
    _RETRYING.env = env
    try:
        _ORIGINAL_RETRIER_EVAL(retrier, env)
    finally:
        _RETRYING.env = None


def _execution_arn(env: Environment) -> str:
    return str(env.states.context_object.context_object_data["Execution"]["Id"])


_ORIGINAL_INTRINSIC_PARSE: Final = intrinsic_parser.IntrinsicParser.parse
_ORIGINAL_UNESCAPE: Final = intrinsic_preprocessor.Preprocessor._replace_escaped_characters
_INTRINSIC_ESCAPES: Final = frozenset("'{}\\")


def _parse_intrinsic_value(src: str) -> Any:
    """moto gets the intrinsic call as raw JSON text; give it the JSON-decoded value AWS parses."""
    with suppress(ValueError):
        src = json.loads(f'"{src}"')
    return _ORIGINAL_INTRINSIC_PARSE(src)


def _unescape_intrinsic(match: re.Match[str]) -> str:
    """Escaped ``'``, ``{``, ``}`` and backslash stand for themselves, as on AWS; the rest as moto does."""
    char = match.group(1)
    return char if char in _INTRINSIC_ESCAPES else str(_ORIGINAL_UNESCAPE(match))


@contextmanager
def offline_aws(region: str = "us-east-1", *, fix_intrinsic_escapes: bool = True) -> Iterator[OfflineAws]:
    """Mock AWS in ``region`` (default us-east-1) with local Lambda/SageMaker bindings; undone on exit.

    ``fix_intrinsic_escapes`` (default True) makes moto read escapes in intrinsic-function string
    literals as AWS does; False leaves moto's own behaviour (see the module docstring).
    """
    aws = OfflineAws(region)
    with ExitStack() as stack:
        stack.enter_context(mock_aws(config=MOTO_CONFIG))
        # A default session whose botocore models are parsed once per process, not once per mock.
        session = botocore.session.Session()
        session.register_component("data_loader", _shared_loader())
        stack.enter_context(
            mock.patch.object(boto3, "DEFAULT_SESSION", boto3.Session(botocore_session=session))
        )
        stack.enter_context(
            mock.patch.object(lambda_eval_utils, "_invoke_lambda_function", aws._invoke_lambda)
        )
        stack.enter_context(mock.patch.object(state_task_factory, "state_task_service_for", aws._service_for))
        stack.enter_context(mock.patch.object(retrier_decl, "time", _NoSleep(aws._skip_retry)))
        stack.enter_context(mock.patch.object(retrier_decl.RetrierDecl, "_eval_body", _eval_retrier))
        stack.enter_context(
            mock.patch.object(
                WaitFunction, "_wait_interval", lambda _, env, wait_seconds: aws._skip_wait(env, wait_seconds)
            )
        )
        if fix_intrinsic_escapes:
            parser, unescaper = intrinsic_parser.IntrinsicParser, intrinsic_preprocessor.Preprocessor
            stack.enter_context(mock.patch.object(parser, "parse", staticmethod(_parse_intrinsic_value)))
            stack.enter_context(
                mock.patch.object(unescaper, "_replace_escaped_characters", staticmethod(_unescape_intrinsic))
            )
        yield aws


class _SageMakerTask(state_task_service_callback.StateTaskServiceCallback):
    """``arn:<partition>:states:::sagemaker:<action>[.sync]`` run by a bound handler."""

    def __init__(
        self,
        handlers: Mapping[str, SageMakerHandler],
        create: Callable[[], SageMakerCreate | None],
        clock: SimulatedClock,
    ) -> None:
        super().__init__(
            supported_integration_patterns=cast("set[ResourceCondition]", {ResourceCondition.Sync})
        )
        self._handlers = handlers
        self._create = create  # read at each call: bind_sagemaker_create may come after parsing
        self._clock = clock
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
        if self.resource.condition == ResourceCondition.Sync:
            create = self._create()
            if create is not None:
                execution = _execution_arn(env)
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
        handler = self._handler(kind)
        try:
            result = dict(handler(copy.deepcopy(normalised_parameters)) or {})
        except Exception as exc:
            LOG.warning("SageMaker %s handler raised", kind.action, exc_info=True)
            result = {status_key: "Failed", "FailureReason": f"AlgorithmError: {type(exc).__name__}: {exc}"}
        execution = _execution_arn(env)
        self._clock.skip(execution, self._run_seconds.pop(execution, 0.0))
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


def _function_name(function: str) -> str:
    """``name`` of a Lambda ARN, partial ARN (``account:function:name``) or ``name[:qualifier]``."""
    if ":function:" in function:
        function = function.split(":function:", 1)[1]
    return function.split(":", 1)[0]


def _lambda_error(error_type: str, message: str, stack: list[str]) -> dict[str, Any]:
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": str(uuid.uuid4()),
        "stackTrace": stack,
    }


def _history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
    return [event for page in pages for event in page["events"]]


def _state_event(event: Mapping[str, Any], entered: dict[str, datetime]) -> StateEvent | None:
    """The StateEvent of a history event (None for other events); ``entered`` tracks entry times."""
    kind = str(event["type"])
    if kind.endswith("StateEntered"):
        name = event["stateEnteredEventDetails"]["name"]
        entered[name] = event["timestamp"]
        return StateEvent(name, "entered", event["timestamp"])
    if kind.endswith("StateExited"):
        name = event["stateExitedEventDetails"]["name"]
        start = entered.pop(name, None)
        seconds = None if start is None else (event["timestamp"] - start).total_seconds()
        return StateEvent(name, "exited", event["timestamp"], seconds)
    return None


def _state_events(events: list[dict[str, Any]]) -> list[StateEvent]:
    entered: dict[str, datetime] = {}
    return [e for e in (_state_event(event, entered) for event in events) if e is not None]


def _steps(state_events: list[StateEvent]) -> tuple[Step, ...]:
    steps: list[Step] = []
    open_steps: dict[str, int] = {}
    for event in state_events:
        if event.phase == "entered":
            open_steps[event.name] = len(steps)
            steps.append(Step(event.name, event.timestamp, None, None))
        elif (index := open_steps.pop(event.name, None)) is not None:
            steps[index] = Step(event.name, steps[index].entered, event.timestamp, event.seconds)
    return tuple(steps)
