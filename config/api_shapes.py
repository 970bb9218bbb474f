"""Parameters checked against the AWS API models that botocore ships, as the service checks them.

moto accepts SageMaker parameters that SageMaker itself rejects, and botocore's own validator skips
enums, lengths and patterns. :func:`problems` checks all of it against the operation's input shape:
required members, unknown keys, types, enum values, min/max (lengths, counts and values) and
patterns. The config reads its limits from here too (:func:`enum`, :func:`max_length`), so a setting
the API would refuse stops synth, and the SageMaker twin refuses what SageMaker would.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, ServiceModel, Shape, StructureShape


@functools.cache
def service_model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


def shape(service: str, name: str) -> Shape:
    """The named shape of ``service``'s model, e.g. ``shape("sagemaker", "TransformInstanceType")``."""
    return service_model(service).shape_for(name)


def enum(service: str, name: str) -> frozenset[str]:
    """The values of an enum shape."""
    values = shape(service, name).enum
    if not values:
        raise ValueError(f"{service} {name} is not an enum")
    return frozenset(values)


def max_length(service: str, name: str) -> int:
    """A string or list shape's maximum length."""
    return int(shape(service, name).metadata["max"])


#: Java's character classes in the models' patterns, as Python's ``re`` reads them inside ``[...]``
#: (``\p{L}`` is read as ``\w``: letters, and digits and ``_``, which the same classes also allow).
_JAVA_CLASSES = {
    r"\p{Alnum}": "A-Za-z0-9",
    r"\p{L}": r"\w",
    r"\p{N}": "0-9",
    r"\p{Z}": r" \u00a0\u2000-\u200a\u2028\u2029\u202f\u205f\u3000",
}


@functools.cache
def _pattern(java: str) -> re.Pattern[str]:
    """A model's (Java) pattern as a Python one; a UTF-16 surrogate range becomes the code points."""
    text = java.replace(r"\uD800\uDC00-\uDBFF\uDFFF", r"\U00010000-\U0010FFFF")
    for java_class, python in _JAVA_CLASSES.items():
        text = text.replace(java_class, python)
    return re.compile(text, re.DOTALL)


def problems(service: str, operation: str, params: Mapping[str, Any]) -> list[str]:
    """Every way ``params`` break ``operation``'s input shape, each naming the parameter's path."""
    found: list[str] = []
    _check(service_model(service).operation_model(operation).input_shape, params, operation, found)
    return found


def _check(s: Shape, value: Any, path: str, found: list[str]) -> None:
    if isinstance(s, StructureShape):
        _structure(s, value, path, found)
    elif isinstance(s, ListShape | MapShape):
        _collection(s, value, path, found)
    elif s.type_name == "string":
        _string(s, value, path, found)
    else:
        _scalar(s, value, path, found)


def _structure(s: StructureShape, value: Any, path: str, found: list[str]) -> None:
    if not isinstance(value, Mapping):
        found.append(f"{path} must be an object, got {type(value).__name__}")
        return
    found.extend(f"{path}.{name} is required" for name in s.required_members if name not in value)
    for key, item in value.items():
        member = s.members.get(key)
        if member is None:
            found.append(f"{path}.{key} is not a parameter of {s.name}")
        else:
            _check(member, item, f"{path}.{key}", found)


def _collection(s: ListShape | MapShape, value: Any, path: str, found: list[str]) -> None:
    if isinstance(s, ListShape):
        if not isinstance(value, list):
            found.append(f"{path} must be a list, got {type(value).__name__}")
            return
        _bounds(s, len(value), path, "items", found)
        for i, item in enumerate(value):
            _check(s.member, item, f"{path}[{i}]", found)
        return
    if not isinstance(value, Mapping):
        found.append(f"{path} must be an object, got {type(value).__name__}")
        return
    _bounds(s, len(value), path, "entries", found)
    for key, item in value.items():
        _check(s.key, key, f"{path} key {key!r}", found)
        _check(s.value, item, f"{path}.{key}", found)


def _scalar(s: Shape, value: Any, path: str, found: list[str]) -> None:
    kind = s.type_name
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            found.append(f"{path} must be an integer, got {value!r}")
        else:
            _bounds(s, value, path, "", found)
    elif kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            found.append(f"{path} must be a number, got {value!r}")
    elif kind == "boolean" and not isinstance(value, bool):
        found.append(f"{path} must be true or false, got {value!r}")


def _string(s: Shape, value: Any, path: str, found: list[str]) -> None:
    if not isinstance(value, str):
        found.append(f"{path} must be a string, got {value!r}")
        return
    if s.enum and value not in s.enum:
        found.append(f"{path} {value!r} is not one of {s.name}'s {len(s.enum)} values")
    _bounds(s, len(value), path, "characters", found)
    pattern = s.metadata.get("pattern")
    if pattern and not _pattern(pattern).fullmatch(value):
        found.append(f"{path} {value!r} does not match {s.name}'s pattern {pattern}")


def _bounds(s: Shape, size: int, path: str, unit: str, found: list[str]) -> None:
    low, high = s.metadata.get("min"), s.metadata.get("max")
    what = f" {unit}" if unit else ""
    if low is not None and size < low:
        found.append(f"{path} has {size}{what}, below {s.name}'s minimum {low}")
    if high is not None and size > high:
        found.append(f"{path} has {size}{what}, above {s.name}'s maximum {high}")
