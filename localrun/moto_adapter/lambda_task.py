"""Lambda tasks run bound Python functions in-process.

Patched moto internal: ``moto.stepfunctions.parser.asl.component.state.exec.state_task.
lambda_eval_utils._invoke_lambda_function``, the one call that ``lambda:invoke`` and plain
function-ARN tasks make to Lambda. A bound function runs in-process. An unbound one goes to
moto's Lambda, but only if moto has that function: moto's Lambda without Docker "succeeds" for
any name, while AWS fails with ``Lambda.ResourceNotFoundException``.

The task result is ``{"ExecutedVersion": "$LATEST", "Payload": <return value>, "StatusCode":
200}``. When the function raises, the task fails as a Lambda function error does on AWS: Error is
the exception class name, and Cause is the JSON text ``{"errorMessage", "errorType",
"requestId", "stackTrace"}``. A return value that is not JSON fails with ``Runtime.MarshalError``.
"""

from __future__ import annotations

import json
import traceback
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final

from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

LambdaFunction = Callable[[Any], Any]

_ORIGINAL_INVOKE_LAMBDA: Final = lambda_eval_utils._invoke_lambda_function


def invoke_lambda(
    functions: Mapping[str, LambdaFunction], parameters: dict[str, Any], region: str, state_credentials: Any
) -> Any:
    """moto's ``_invoke_lambda_function`` with ``functions`` (by function name) bound to Python code."""
    fn = functions.get(function_name(str(parameters.get("FunctionName", ""))))
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


def function_name(function: str) -> str:
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
