"""Bounded concurrency where a burst costs money or connections: the trigger and write-forecast
carry reserved concurrency from config, and a burst's events are kept, not dropped."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from config import ConfigError, load_env, read_cdk_context
from tests.infra.conftest import Synthesized, synthesize


def function(s: Synthesized, unit: str, description: str) -> dict[str, Any]:
    found = [
        r["Properties"]
        for r in s.template(unit).find_resources("AWS::Lambda::Function").values()
        if description in r["Properties"].get("Description", "")
    ]
    assert len(found) == 1, description
    return found[0]


def test_the_trigger_and_write_forecast_have_reserved_concurrency(synthesized: Synthesized) -> None:
    trigger = function(synthesized, "standardize", "Starts one standardize execution")
    assert trigger["ReservedConcurrentExecutions"] == 10
    writer = function(synthesized, "forecast", "DeepAR's or seasonal naive's")
    assert writer["ReservedConcurrentExecutions"] == 2
    (config,) = synthesized.template("standardize").find_resources("AWS::Lambda::EventInvokeConfig").values()
    # throttled events wait in Lambda's queue for up to 6 hours, then go to the failure queue
    assert config["Properties"]["MaximumEventAgeInSeconds"] == 6 * 3600
    assert "OnFailure" in config["Properties"]["DestinationConfig"]


def test_the_limits_are_settings_and_null_reserves_nothing() -> None:
    raw = copy.deepcopy(read_cdk_context()["environments"]["dev"])
    raw.setdefault("standardize", {})["triggerConcurrency"] = None
    raw["forecast"]["database"]["maxConnections"] = 5
    s = synthesize("dev", {"standardize": raw["standardize"], "forecast": raw["forecast"]})
    assert "ReservedConcurrentExecutions" not in function(
        s, "standardize", "Starts one standardize execution"
    )
    assert function(s, "forecast", "DeepAR's or seasonal naive's")["ReservedConcurrentExecutions"] == 5


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        (
            ("standardize", "triggerConcurrency"),
            0,
            "'standardize.triggerConcurrency' must be an integer from 1",
        ),
        (("standardize", "triggerConcurrency"), "10", "'standardize.triggerConcurrency' must be an integer"),
        (
            ("forecast", "database", "maxConnections"),
            101,
            "'forecast.database.maxConnections' must be an integer",
        ),
    ],
)
def test_a_bad_limit_names_the_setting(path: tuple[str, ...], value: object, problem: str) -> None:
    context = read_cdk_context()
    target = context["environments"]["dev"]
    for key in path[:-1]:
        target = target.setdefault(key, {})  # cdk.json states only what differs from the defaults
    target[path[-1]] = value
    with pytest.raises(ConfigError, match=re.escape(problem)):
        load_env("dev", context)
