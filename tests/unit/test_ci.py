"""The one rule for missing servers and tools: skip locally, fail on CI."""

from __future__ import annotations

import pytest

from tests.ci import missing, on_ci


@pytest.mark.parametrize(
    ("value", "strict"),
    [("true", True), ("TRUE", True), (" true\n", True), ("1", True), ("yes", True),
     ("", False), ("false", False), ("0", False)],
)  # fmt: skip
def test_ci_is_recognised_however_the_provider_spells_it(
    monkeypatch: pytest.MonkeyPatch, value: str, strict: bool
) -> None:
    monkeypatch.setenv("CI", value)
    assert on_ci() is strict


def test_a_missing_server_fails_on_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI is set but a server: none running"):
        missing("a server", "none running")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="a server: none running"):
        missing("a server", "none running")
