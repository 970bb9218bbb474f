"""Every Task's Parameters, as deployed, validate against botocore's model of the API they call:
required members, unknown keys, types, enums, min/max and patterns (contracts/api_shapes.py).

The definitions are the synthesized ones with every ARN resolved (tools/iam_check's renderer).
A field that JSONPath or an intrinsic fills at run time gets a sample value of its shape: the
number a ``States.StringToJson`` literal holds, the string a ``States.Format`` makes of its
template, or the first of a few plain samples that the member's own pattern and length admit.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from botocore.model import ListShape, Shape, StructureShape

from config.api_shapes import _pattern, problems, service_model
from tests.infra.conftest import Synthesized
from tools.iam_check.principals import Principals
from tools.iam_check.templates import Environment

#: Task integration -> (botocore service, operation).
OPERATIONS = {
    "sagemaker:createProcessingJob": ("sagemaker", "CreateProcessingJob"),
    "sagemaker:createTrainingJob": ("sagemaker", "CreateTrainingJob"),
    "sagemaker:createModel": ("sagemaker", "CreateModel"),
    "sagemaker:createTransformJob": ("sagemaker", "CreateTransformJob"),
    "sns:publish": ("sns", "Publish"),
    "lambda:invoke": ("lambda", "Invoke"),
}
SAMPLES = ("sample-1", "s3://bucket/prefix/sample-1/", "arn:aws:iam::123456789012:role/sample", "1")


def sample(shape: Shape, expression: str) -> Any:
    """A value of ``shape`` for a field that ``expression`` fills at run time."""
    literal = re.fullmatch(r"States\.StringToJson\('(.*)'\)", expression)
    if literal:
        return json.loads(literal.group(1))
    template = re.fullmatch(r"States\.Format\('(.*?)'(?:, .*)?\)", expression)
    if template:
        return template.group(1).replace("{}", "sample-1")
    if shape.type_name in ("integer", "long"):
        return 1
    if isinstance(shape, StructureShape | ListShape) or shape.type_name in ("blob", "map"):
        return {} if not isinstance(shape, ListShape) else []
    pattern = shape.metadata.get("pattern")
    low, high = shape.metadata.get("min", 0), shape.metadata.get("max", 10**6)
    for candidate in SAMPLES:
        if low <= len(candidate) <= high and (not pattern or _pattern(pattern).fullmatch(candidate)):
            return candidate
    raise AssertionError(f"no sample fits {shape.name} for {expression}")


def filled(shape: Shape, params: Any) -> Any:
    """``params`` with every ``Key.$`` replaced by ``Key`` and a sample of its member's shape."""
    if isinstance(params, dict) and isinstance(shape, StructureShape):
        out = {}
        for key, value in params.items():
            if key.endswith(".$"):
                member = shape.members.get(key[:-2])
                out[key[:-2]] = value if member is None else sample(member, value)
            else:
                member = shape.members.get(key)
                out[key] = value if member is None else filled(member, value)
        return out
    if isinstance(params, list) and isinstance(shape, ListShape):
        return [filled(shape.member, item) for item in params]
    return params


def tasks(s: Synthesized) -> list[tuple[str, str, str, dict[str, Any]]]:
    principals = Principals(Environment(s.outdir))
    found = []
    for res in principals.env.of_type("AWS::StepFunctions::StateMachine"):
        definition = json.loads(principals.state_machine(res.stack.lower()).definition)
        for name, state in definition["States"].items():
            if state["Type"] == "Task":
                integration = state["Resource"].split(":::", 1)[1].removesuffix(".sync")
                found.append((res.stack, name, integration, state.get("Parameters", {})))
    return found


def test_every_task_calls_an_api_with_parameters_it_accepts(synthesized: Synthesized) -> None:
    checked = 0
    for unit, name, integration, params in tasks(synthesized):
        service, operation = OPERATIONS[integration]
        shape = service_model(service).operation_model(operation).input_shape
        assert problems(service, operation, filled(shape, params)) == [], f"{unit} {name}"
        checked += 1
    assert checked == (
        9 if synthesized.stacks.forecast is not None else 2
    )  # 2 + 6 tasks and the shared alert


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda p: p["TransformResources"].update(InstanceType="ml.t3.medium"), "TransformInstanceType"),
        (lambda p: p.update(BatchStrategy="Everything"), "BatchStrategy"),
        (lambda p: p.pop("TransformOutput"), "TransformOutput is required"),
        (lambda p: p.update(Extra=1), "Extra is not a parameter"),
    ],
)
def test_a_parameter_the_api_refuses_is_caught(dev: Synthesized, change: Any, expected: str) -> None:
    (params,) = [p for _, name, _, p in tasks(dev) if name == "Transform"]
    shape = service_model("sagemaker").operation_model("CreateTransformJob").input_shape
    broken = filled(shape, json.loads(json.dumps(params)))
    change(broken)
    assert any(expected in problem for problem in problems("sagemaker", "CreateTransformJob", broken))
