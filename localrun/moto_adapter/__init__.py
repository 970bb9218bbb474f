"""moto's Step Functions interpreter with Lambda and SageMaker tasks bound to local Python code.

``offline_aws(region)`` starts ``mock_aws`` with ``execute_state_machine=True`` and
``lambda.use_docker=False``. For its duration only, it patches internals of moto 5.2.5 (all under
``moto.stepfunctions.parser.asl``; moto is pinned, and the tests fail if they move). This package
is the only code that touches them; each module says which it patches and how the result differs
from plain moto:

- ``lambda_task``: Lambda tasks run bound Python functions in-process, and fail as Lambda
  function errors do on AWS;
- ``sagemaker_task``: ``sagemaker:create*`` tasks (``.sync`` jobs and ``createModel``) run bound
  handlers, a hook may reject their Create* calls, and failures are reported as Step Functions
  reports them;
- ``timing``: ``Retry`` and ``Wait`` waits are recorded, not slept, and each execution has a
  simulated clock;
- ``intrinsics``: escapes in intrinsic-function string literals are read as AWS reads them;
- ``offline``: ``offline_aws`` itself, which installs the patches, and the ``OfflineAws`` handle;
- ``history``: waiting for an execution and reading its path (public API only);
- ``moto_log``: moto's own log, kept in ``OfflineAws.moto_log`` instead of reaching the terminal;
- ``requests``: every AWS call a deployed principal makes (a function's handler, a state machine's
  SageMaker task), recorded in ``OfflineAws.calls`` for the permission check (tools/iam_check).

Differences from AWS that remain (the tests pin each one, so a moto upgrade that changes one shows):

- ``States.ALL`` also catches ``States.Runtime``; on AWS nothing catches it.
- A Choice rule on a missing field is false, so the Default is taken; AWS fails with States.Runtime.
- ``States.Format`` uses Python's ``str.format``, so a template with literal braces (escaped or
  not) fails with States.Runtime.
- ``StartExecution`` without a name gives ``$$.Execution.Name`` = null (AWS generates a UUID);
  ``OfflineAws.run`` always passes a name.
- ``Retry`` and ``Wait`` waits are skipped (see ``timing``): nothing in this process runs slower
  for them, and ``$$.State.EnteredTime`` and history timestamps stay real times.
"""

from __future__ import annotations

from localrun.moto_adapter.history import MAX_POLL_INTERVAL, ExecutionResult, StateEvent, Step
from localrun.moto_adapter.lambda_task import LambdaFunction
from localrun.moto_adapter.offline import MOTO_CONFIG, OfflineAws, offline_aws
from localrun.moto_adapter.sagemaker_task import (
    DECLARED_SAGEMAKER_ERRORS,
    SageMakerApiError,
    SageMakerCreate,
    SageMakerHandler,
    SageMakerKind,
)
from localrun.moto_adapter.timing import SimulatedClock, SkippedWait

__all__ = [
    "DECLARED_SAGEMAKER_ERRORS",
    "MAX_POLL_INTERVAL",
    "MOTO_CONFIG",
    "ExecutionResult",
    "LambdaFunction",
    "OfflineAws",
    "SageMakerApiError",
    "SageMakerCreate",
    "SageMakerHandler",
    "SageMakerKind",
    "SimulatedClock",
    "SkippedWait",
    "StateEvent",
    "Step",
    "offline_aws",
]
