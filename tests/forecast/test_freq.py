"""TIME_FREQ parsing: generate-dataset and write-forecast each bundle their own ``parse_freq``
(a Lambda ships only its folder), so one table runs against both copies to keep them equal."""

from __future__ import annotations

from datetime import timedelta
from types import ModuleType

import dataset
import forecast_rows
import pytest

COPIES = pytest.mark.parametrize(
    "module", [dataset, forecast_rows], ids=["generate_dataset", "write_forecast"]
)


@COPIES
@pytest.mark.parametrize(
    ("freq", "step"),
    [
        ("1H", timedelta(hours=1)),
        ("H", timedelta(hours=1)),
        ("6H", timedelta(hours=6)),
        ("15min", timedelta(minutes=15)),
        ("min", timedelta(minutes=1)),
        ("1D", timedelta(days=1)),
        ("W", timedelta(weeks=1)),
        ("999999H", timedelta(hours=999999)),
    ],
)
def test_parse_freq(module: ModuleType, freq: str, step: timedelta) -> None:
    assert module.parse_freq(freq) == step


@COPIES
@pytest.mark.parametrize(
    "freq",
    ["1M", "M", "0H", "01H", "1h", "H1", "1.5H", "1 H", " 1H", "1H\n", "1Y", "-1H", "15T", "1000000H", ""],
)
def test_bad_freq_is_a_clear_configuration_error(module: ModuleType, freq: str) -> None:
    with pytest.raises(module.ConfigurationError, match=r"^TIME_FREQ .* not supported; use <n>min, <n>H"):
        module.parse_freq(freq)
