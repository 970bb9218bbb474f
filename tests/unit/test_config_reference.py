"""docs/configuration.md's tables are generated from config/reference.py and the settings'
dataclasses: stale, or missing a setting, is a failure."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from config.model import EnvConfig, ForecastConfig
from config.reader import camel_case
from config.reference import (
    DOCUMENT,
    ENVIRONMENT_ROWS,
    FORECAST_ROWS,
    Row,
    default_of,
    render_document,
    render_table,
)


def test_the_document_is_the_generated_one() -> None:
    text = DOCUMENT.read_text(encoding="utf-8")
    assert render_document(text) == text, "run: python -m config.reference"


def setting_paths(cls: type, prefix: str = "") -> set[str]:
    """Every setting below ``cls``: its fields, and those of its sections, in cdk.json's spelling."""
    paths: set[str] = set()
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            paths |= setting_paths(hint, f"{prefix}{camel_case(field.name)}.")
        else:
            paths.add(prefix + camel_case(field.name))
    return paths


def documented(rows: tuple[Row, ...]) -> set[str]:
    found = set()
    for row in rows:
        first = row.keys[0]
        section = first.rsplit(".", 1)[0] + "." if "." in first else ""
        found |= {first, *(section + key.lstrip(".") for key in row.keys[1:])}
    return found


@pytest.mark.parametrize(
    ("rows", "root", "outside"),
    [(ENVIRONMENT_ROWS, EnvConfig, {"name"}), (FORECAST_ROWS, ForecastConfig, set())],
)
def test_every_setting_is_documented_once(rows: tuple[Row, ...], root: type, outside: set[str]) -> None:
    settings = {p for p in setting_paths(root) if not p.startswith("forecast.")} - outside
    keys = documented(rows)
    assert settings - keys == set(), "settings without a row"
    assert keys - settings - {"forecast"} == set(), "rows of settings that do not exist"


def test_defaults_come_from_the_dataclasses() -> None:
    assert default_of(ForecastConfig, "database.port") == "`3306`"
    assert default_of(ForecastConfig, "database.host") == "required"
    assert default_of(EnvConfig, "logs.kmsKey") == "`false`"
    assert default_of(EnvConfig, "alertEmail") == "none"
    table = render_table((Row(("quotaRetry.firstWaitSeconds", ".backoffRate"), "m"),), EnvConfig)
    assert table.splitlines()[-1] == "| `quotaRetry.firstWaitSeconds`, `.backoffRate` | `60`, `2.0` | m |"
    with pytest.raises(KeyError, match=r"no setting 'quotaRetry\.jitter'"):
        default_of(EnvConfig, "quotaRetry.jitter")
