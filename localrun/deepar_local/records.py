"""DeepAR JSON Lines in: parsed and checked records, and the features they resolve.

Input lines: ``{"start": "YYYY-MM-DD HH:MM:SS", "target": [...], "cat": [...],
"dynamic_feat": [[...], ...]}``; a missing target value is ``"NaN"`` or ``null``. In
``transform``, each ``dynamic_feat`` row also covers the forecast horizon
(``len(target) + prediction_length``), as SageMaker requires. Malformed lines raise
``DeepArInputError`` naming the file and line.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localrun.deepar_local.hyperparameters import DeepArHyperparameterError, hp_text


class DeepArInputError(ValueError):
    """A malformed input file or line; ``path`` and ``line`` (1-based, or ``None``) say where."""

    def __init__(self, path: Path | str, line: int | None, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = self.path if line is None else f"{self.path}, line {line}"
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class Record:
    """One checked input line (``line`` is 1-based)."""

    line: int
    start: str
    target: list[float]  # NaN: missing
    cat: list[int] | None
    dynamic_feat: list[list[float]] | None


def _number(value: Any, *, allow_missing: bool) -> float | None:
    """A float, NaN for a missing value, or ``None`` if ``value`` is not acceptable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
        if math.isnan(number):
            return number if allow_missing else None
        return number if math.isfinite(number) else None
    if allow_missing and (value is None or (isinstance(value, str) and value.strip().lower() == "nan")):
        return math.nan
    return None


class _BadLine(Exception):
    """Why one input line is unacceptable; ``_parse_line`` adds the file and line."""


def _parse_line(path: Path, line: int, text: str) -> Record:
    try:
        obj = _json_object(text)
        return Record(line, _start(obj), _target(obj), _cat(obj), _dynamic_feat(obj))
    except _BadLine as exc:
        raise DeepArInputError(path, line, str(exc)) from None


def _json_object(text: str) -> dict[str, Any]:
    if not text.strip():
        raise _BadLine("empty line (each line must be one JSON object)")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _BadLine(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise _BadLine(f"expected a JSON object, got {type(obj).__name__}")
    return obj


def _start(obj: Mapping[str, Any]) -> str:
    start = obj.get("start")
    if not isinstance(start, str) or not start.strip():
        raise _BadLine('"start" is missing or not a string ("YYYY-MM-DD HH:MM:SS")')
    return start.strip()


def _target(obj: Mapping[str, Any]) -> list[float]:
    raw_target = obj.get("target")
    if not isinstance(raw_target, list):
        raise _BadLine('"target" is missing or not a list')
    if not raw_target:
        raise _BadLine('"target" is empty')
    target: list[float] = []
    for i, value in enumerate(raw_target):
        number = _number(value, allow_missing=True)
        if number is None:
            raise _BadLine(f'"target"[{i}] = {value!r}: expected a finite number, "NaN" or null')
        target.append(number)
    return target


def _cat(obj: Mapping[str, Any]) -> list[int] | None:
    if obj.get("cat") is None:
        return None
    raw_cat = obj["cat"]
    raw_cat = [raw_cat] if isinstance(raw_cat, int) and not isinstance(raw_cat, bool) else raw_cat
    if not isinstance(raw_cat, list) or not all(
        isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in raw_cat
    ):
        raise _BadLine(f'"cat" = {obj["cat"]!r}: expected a list of non-negative integers')
    return list(raw_cat)


def _dynamic_feat(obj: Mapping[str, Any]) -> list[list[float]] | None:
    if obj.get("dynamic_feat") is None:
        return None
    raw_dyn = obj["dynamic_feat"]
    if not isinstance(raw_dyn, list) or not all(isinstance(row, list) for row in raw_dyn):
        raise _BadLine('"dynamic_feat" must be a list of lists of numbers')
    dynamic_feat = []
    for r, row in enumerate(raw_dyn):
        values = [_number(v, allow_missing=False) for v in row]
        bad = next((i for i, v in enumerate(values) if v is None), None)
        if bad is not None:
            raise _BadLine(f'"dynamic_feat"[{r}][{bad}] = {row[bad]!r}: expected a finite number')
        dynamic_feat.append([v for v in values if v is not None])
    return dynamic_feat


def read_json_lines(path: Path) -> list[Record]:
    records: list[Record] = []
    with path.open("rb") as fh:
        for line, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise DeepArInputError(path, line, "not UTF-8 text") from None
            records.append(_parse_line(path, line, text))
    return records


def _period(path: Path, record: Record, freq: str) -> Any:
    import pandas as pd

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pd.Period(record.start, freq=freq)
    except (ValueError, TypeError) as exc:
        raise DeepArInputError(
            path, record.line, f'"start" = {record.start!r} is not a timestamp ({exc})'
        ) from None


@dataclass(frozen=True)
class Features:
    """The static categorical and dynamic real features a model uses, resolved in ``train``."""

    cardinality: list[int]  # empty: no cat features used
    num_dynamic: int  # 0: no dynamic features used

    def as_json(self) -> dict[str, Any]:
        return {"cardinality": self.cardinality, "num_feat_dynamic_real": self.num_dynamic}


def resolve_features(hp: Mapping[str, str], records: Sequence[Record], path: Path) -> Features:
    """Apply ``cardinality`` and ``num_dynamic_feat`` (auto / ignore / explicit) to the training data."""
    return Features(_cardinality(hp, records, path), _num_dynamic(hp, records, path))


def _cardinality(hp: Mapping[str, str], records: Sequence[Record], path: Path) -> list[int]:
    card_raw = hp_text(hp, "cardinality")
    if card_raw.lower() == "ignore":
        return []
    seen = _seen_cardinality(records, path)
    if card_raw.lower() in ("", "auto"):
        return seen
    try:
        given = json.loads(card_raw)
        valid = isinstance(given, list) and all(
            isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in given
        )
    except ValueError:
        valid = False
    if not valid:
        raise DeepArHyperparameterError(
            f"cardinality={card_raw!r}: expected auto, ignore or a JSON list of positive integers"
        )
    if len(given) != len(seen) or any(found > cap for found, cap in zip(seen, given, strict=False)):
        raise DeepArInputError(
            path, None, f'"cat" values need cardinality {seen}, but the hyperparameter says {given}'
        )
    return list(given)


def _seen_cardinality(records: Sequence[Record], path: Path) -> list[int]:
    """One more than the largest ``cat`` value in each position; every series must have as many."""
    with_cat = [r for r in records if r.cat]
    if not with_cat:
        return []
    width = len(with_cat[0].cat or [])
    for r in records:
        if len(r.cat or []) != width:
            raise DeepArInputError(
                path,
                r.line,
                f'every series must have {width} "cat" value(s), this one has {len(r.cat or [])}',
            )
    return [max((r.cat or [])[i] for r in records) + 1 for i in range(width)]


def _num_dynamic(hp: Mapping[str, str], records: Sequence[Record], path: Path) -> int:
    dyn_raw = hp_text(hp, "num_dynamic_feat")
    if dyn_raw.lower() == "ignore":
        return 0
    counts = {len(r.dynamic_feat or []) for r in records}
    if len(counts) > 1:
        first = records[0]
        odd = next(r for r in records if len(r.dynamic_feat or []) != len(first.dynamic_feat or []))
        raise DeepArInputError(
            path, odd.line, 'every series must have the same number of "dynamic_feat" rows'
        )
    num_dynamic = counts.pop() if counts else 0
    if dyn_raw.lower() in ("", "auto"):
        return num_dynamic
    try:
        given_dyn = int(dyn_raw)
    except ValueError:
        raise DeepArHyperparameterError(
            f"num_dynamic_feat={dyn_raw!r}: expected auto, ignore or an integer"
        ) from None
    if given_dyn != num_dynamic:
        raise DeepArInputError(
            path, None, f"the data has {num_dynamic} dynamic feature(s), num_dynamic_feat says {given_dyn}"
        )
    return num_dynamic


def data_entry(path: Path, record: Record, freq: str, features: Features, *, horizon: int) -> dict[str, Any]:
    """A gluonts data entry; ``horizon`` is how far ``dynamic_feat`` must reach past the target."""
    import numpy as np

    entry: dict[str, Any] = {
        "start": _period(path, record, freq),
        "target": np.asarray(record.target, dtype=np.float32),
    }
    if features.cardinality:
        cat = record.cat or []
        if len(cat) != len(features.cardinality):
            raise DeepArInputError(
                path, record.line, f'expected {len(features.cardinality)} "cat" value(s), got {len(cat)}'
            )
        for i, (value, cap) in enumerate(zip(cat, features.cardinality, strict=True)):
            if value >= cap:
                raise DeepArInputError(
                    path, record.line, f'"cat"[{i}] = {value} is not below the cardinality {cap}'
                )
        entry["feat_static_cat"] = np.asarray(cat, dtype=np.int64)
    if features.num_dynamic:
        rows = record.dynamic_feat or []
        want = len(record.target) + horizon
        if len(rows) != features.num_dynamic or any(len(row) != want for row in rows):
            raise DeepArInputError(
                path,
                record.line,
                f'expected {features.num_dynamic} "dynamic_feat" row(s) of length {want} '
                f"(target length {len(record.target)} + {horizon})",
            )
        entry["feat_dynamic_real"] = np.asarray(rows, dtype=np.float32)
    return entry
