"""``offline_aws``: the mock with every patch installed, and the ``OfflineAws`` handle it yields.

moto's own log goes to ``OfflineAws.moto_log``, not to the terminal (see ``moto_log``). Inside the
mock, boto3's default session is one whose botocore model loader is shared by every
``offline_aws``: each mock otherwise re-parses botocore's JSON models (0.1-0.3 s).
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any, Final
from unittest import mock

import boto3
import botocore.loaders
import botocore.session
from moto import mock_aws
from moto.core.config import DefaultConfig
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
    lambda_eval_utils,
    state_task_factory,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_factory
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
    StateTaskService,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.parse.intrinsic import intrinsic_parser
from moto.stepfunctions.parser.asl.parse.intrinsic import preprocessor as intrinsic_preprocessor
from moto.utilities.utils import get_partition

from localrun.moto_adapter.history import ExecutionResult, StateEvent, wait_for_execution
from localrun.moto_adapter.intrinsics import parse_intrinsic_value, unescape_intrinsic
from localrun.moto_adapter.lambda_task import LambdaFunction, function_name, invoke_lambda
from localrun.moto_adapter.moto_log import kept_moto_log
from localrun.moto_adapter.requests import CallLog, record_clients
from localrun.moto_adapter.sagemaker_task import (
    SAGEMAKER_KINDS,
    SageMakerCreate,
    SageMakerHandler,
    SageMakerKind,
    SageMakerTask,
)
from localrun.moto_adapter.timing import (
    NoSleep,
    SimulatedClock,
    SkippedWait,
    eval_retrier,
    execution_arn,
    retrying_execution,
    state_name,
)

MOTO_CONFIG: Final[DefaultConfig] = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}


class OfflineAws:
    """The handle that ``offline_aws`` yields; create it only through ``offline_aws``."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.partition: str = get_partition(region)
        self.retry_delays: list[float] = []  # every Retry wait that was skipped, in seconds
        self.waits: list[SkippedWait] = []  # every Wait state that was skipped
        self.moto_log: list[str] = []  # what moto logged, one formatted record per item
        self.clock = SimulatedClock()
        self._lambdas: dict[str, LambdaFunction] = {}
        self._sagemaker: dict[str, SageMakerHandler] = {}
        self._sagemaker_create: SageMakerCreate | None = None
        self._clients: dict[str, Any] = {}
        self.calls = CallLog()  # what each deployed principal asked of AWS (see ``requests``)

    # -- bindings -------------------------------------------------------------------------------

    def bind_lambda(self, function: str, fn: LambdaFunction) -> None:
        """Run ``fn(payload)`` for tasks invoking ``function`` (an ARN or a name; matched by name)."""
        self._lambdas[function_name(function)] = fn

    def bind_sagemaker(self, kind: SageMakerKind, handler: SageMakerHandler) -> None:
        """Run ``handler(parameters)`` for ``sagemaker:<create action>`` tasks of ``kind``.

        ``parameters`` are the task's resolved Parameters. For a job, return its Describe* dict
        (status ``Failed``/``Stopped`` with a ``FailureReason`` fails the task); for ``model``,
        return ``{"ModelArn": ...}`` or None.
        """
        if kind not in SAGEMAKER_KINDS:
            raise ValueError(f"unknown SageMaker kind {kind!r}; expected one of {list(SAGEMAKER_KINDS)}")
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
        return wait_for_execution(
            self.client("stepfunctions"),
            execution_arn,
            timeout=timeout,
            poll_interval=poll_interval,
            on_state=on_state,
        )

    # -- patched moto internals -----------------------------------------------------------------

    def _invoke_lambda(self, parameters: dict[str, Any], region: str, state_credentials: Any) -> Any:
        return invoke_lambda(self._lambdas, parameters, region, state_credentials)

    def _service_for(self, service_name: str) -> StateTaskService:
        if service_name == "sagemaker":
            return SageMakerTask(self._sagemaker, lambda: self._sagemaker_create, self.clock, self.calls)
        return state_task_service_factory.state_task_service_for(service_name)

    def _skip_retry(self, seconds: float) -> None:
        self.retry_delays.append(seconds)
        execution = retrying_execution()
        if execution is not None:
            self.clock.skip(execution, seconds)

    def _skip_wait(self, env: Environment, wait_seconds: int) -> None:
        execution = execution_arn(env)
        self.waits.append(SkippedWait(execution, state_name(env), float(wait_seconds)))
        self.clock.skip(execution, float(wait_seconds))


@functools.cache
def _shared_loader() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


@contextmanager
def offline_aws(region: str = "us-east-1", *, fix_intrinsic_escapes: bool = True) -> Iterator[OfflineAws]:
    """Mock AWS in ``region`` (default us-east-1) with local Lambda/SageMaker bindings; undone on exit.

    ``fix_intrinsic_escapes`` (default True) makes moto read escapes in intrinsic-function string
    literals as AWS does; False leaves moto's own behaviour (see :mod:`localrun.moto_adapter.intrinsics`).
    """
    aws = OfflineAws(region)
    with ExitStack() as stack:
        stack.enter_context(kept_moto_log(aws.moto_log))
        stack.enter_context(mock_aws(config=MOTO_CONFIG))
        # A default session whose botocore models are parsed once per process, not once per mock.
        session = botocore.session.Session()
        session.register_component("data_loader", _shared_loader())
        record_clients(session, aws.calls)
        stack.enter_context(
            mock.patch.object(boto3, "DEFAULT_SESSION", boto3.Session(botocore_session=session))
        )
        stack.enter_context(
            mock.patch.object(lambda_eval_utils, "_invoke_lambda_function", aws._invoke_lambda)
        )
        stack.enter_context(mock.patch.object(state_task_factory, "state_task_service_for", aws._service_for))
        stack.enter_context(mock.patch.object(retrier_decl, "time", NoSleep(aws._skip_retry)))
        stack.enter_context(mock.patch.object(retrier_decl.RetrierDecl, "_eval_body", eval_retrier))
        stack.enter_context(
            mock.patch.object(
                WaitFunction, "_wait_interval", lambda _, env, wait_seconds: aws._skip_wait(env, wait_seconds)
            )
        )
        if fix_intrinsic_escapes:
            parser, unescaper = intrinsic_parser.IntrinsicParser, intrinsic_preprocessor.Preprocessor
            stack.enter_context(mock.patch.object(parser, "parse", staticmethod(parse_intrinsic_value)))
            stack.enter_context(
                mock.patch.object(unescaper, "_replace_escaped_characters", staticmethod(unescape_intrinsic))
            )
        yield aws
