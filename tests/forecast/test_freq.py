"""TIME_FREQ parsing: one definition (``pipeline_rules.freq_step``), and the config,
generate-dataset and write-forecast all read the setting with it."""

from __future__ import annotations

import copy
from datetime import timedelta

import dataset
import forecast_writer
import pytest

from config import ConfigError, parse_env, read_cdk_context
from pipeline_rules import ConfigurationError, RuleError, freq_step

GOOD = [
    ("1H", timedelta(hours=1)),
    ("H", timedelta(hours=1)),
    ("6H", timedelta(hours=6)),
    ("15min", timedelta(minutes=15)),
    ("min", timedelta(minutes=1)),
    ("1D", timedelta(days=1)),
    ("W", timedelta(weeks=1)),
    ("999999H", timedelta(hours=999999)),
]
BAD = ["1M", "M", "0H", "01H", "1h", "H1", "1.5H", "1 H", " 1H", "1H\n", "1Y", "-1H", "15T", "1000000H", ""]
DATASET_ENV = {
    "BUCKET_NAME": "bucket",
    "ETL_PREFIX": "etl/sales/",
    "WORK_PREFIX": "forecast/",
    "TIMESTAMP_COLUMN": "ts",
    "VALUE_COLUMN": "sales",
    "NAME_PREFIX": "forecast",
}


def config_with_freq(freq: str) -> object:
    raw = copy.deepcopy(read_cdk_context()["environments"]["dev"])
    raw["forecast"].setdefault("deepar", {})["timeFreq"] = freq
    return parse_env("dev", raw)


@pytest.mark.parametrize(("freq", "step"), GOOD)
def test_each_reader_takes_the_same_steps(freq: str, step: timedelta) -> None:
    assert freq_step(freq) == step
    assert dataset.Config.from_env({**DATASET_ENV, "TIME_FREQ": freq}).step == step
    settings = forecast_writer.ForecastSettings.from_env({"FORECAST_TABLE": "f", "TIME_FREQ": freq})
    assert freq_step(settings.freq) == step
    assert config_with_freq(freq).forecast.deepar.time_freq == freq  # type: ignore[attr-defined]


@pytest.mark.parametrize("freq", BAD)
def test_bad_freq_is_rejected_by_the_rule_and_the_config(freq: str) -> None:
    with pytest.raises(RuleError, match=r"^is not supported; use <n>min, <n>H, <n>D or <n>W"):
        freq_step(freq)
    with pytest.raises(ConfigError, match=r"'forecast\.deepar\.timeFreq'"):
        config_with_freq(freq)


@pytest.mark.parametrize("freq", [f for f in BAD if f.strip() not in ("", "1H")])
def test_bad_freq_is_a_configuration_error_naming_the_variable(freq: str) -> None:
    pattern = r"^TIME_FREQ '.*' is not supported; use <n>min, <n>H"
    with pytest.raises(ConfigurationError, match=pattern):
        dataset.Config.from_env({**DATASET_ENV, "TIME_FREQ": freq})
    with pytest.raises(ConfigurationError, match=pattern):
        forecast_writer.ForecastSettings.from_env({"FORECAST_TABLE": "f", "TIME_FREQ": freq})


@pytest.mark.parametrize("freq", ["", " ", " 1H", "1H\n"])
def test_lambda_settings_are_read_stripped_and_default_to_1h(freq: str) -> None:
    assert dataset.Config.from_env({**DATASET_ENV, "TIME_FREQ": freq}).freq == "1H"
    assert forecast_writer.ForecastSettings.from_env({"FORECAST_TABLE": "f", "TIME_FREQ": freq}).freq == "1H"
