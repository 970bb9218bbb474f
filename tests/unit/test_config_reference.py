"""docs/configuration.md's tables are generated from config/reference.py and the settings'
dataclasses: stale, or missing a setting, is a failure."""

from __future__ import annotations

import copy
import dataclasses
import re
import typing

import pytest

from config.model import ConfigError, EnvConfig, ForecastConfig, setting_range
from config.reader import camel_case, load_env, read_cdk_context
from config.reference import (
    DOCUMENT,
    ENVIRONMENT_ROWS,
    FORECAST_ROWS,
    Row,
    default_of,
    range_of,
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
    assert (
        table.splitlines()[-1]
        == "| `quotaRetry.firstWaitSeconds`, `.backoffRate` | `60`, `2.0` | 1 to 3600, 1 to 10 | m |"
    )
    with pytest.raises(KeyError, match=r"no setting 'quotaRetry\.jitter'"):
        default_of(EnvConfig, "quotaRetry.jitter")


def ranged_settings(cls: type, prefix: str = "") -> dict[str, tuple[float, float]]:
    """Every setting below ``cls`` that has a range, with it, in cdk.json's spelling."""
    found: dict[str, tuple[float, float]] = {}
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        section = next((a for a in typing.get_args(hint) or (hint,) if dataclasses.is_dataclass(a)), None)
        if isinstance(section, type):
            found |= ranged_settings(section, f"{prefix}{camel_case(field.name)}.")
        elif (bounds := setting_range(cls, field.name)) is not None:
            found[prefix + camel_case(field.name)] = bounds
    return found


RANGED = ranged_settings(EnvConfig)


def test_the_numeric_settings_have_ranges() -> None:
    assert len(RANGED) == 28 and "forecast.deepar.epochs" in RANGED and "standardize.volumeSizeGb" in RANGED


@pytest.mark.parametrize("path", sorted(RANGED))
def test_the_reader_enforces_the_range_the_reference_prints(path: str) -> None:
    """One declaration: the reader refuses a value just past either end of the printed range."""
    low, high = RANGED[path]
    section, key = path.rsplit(".", 1) if "." in path else ("", path)
    root = EnvConfig if section.split(".")[0] != "forecast" else ForecastConfig
    printed_path = path if root is EnvConfig else path.removeprefix("forecast.")
    assert range_of(root, printed_path) in DOCUMENT.read_text(encoding="utf-8")
    for bad, bound in ((high + 1, f"to {high}, got"), (low - 1, "must be")):
        context = copy.deepcopy(read_cdk_context())
        target = context["environments"]["dev"]
        for part in section.split(".") if section else []:
            target = target.setdefault(part, {})
        target[key] = bad
        with pytest.raises(ConfigError, match=re.escape(f"setting '{path}' ") + ".*" + re.escape(bound)):
            load_env("dev", context)
