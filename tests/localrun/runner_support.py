"""What the offline runner's end-to-end modules share: the check that a failed Lambda task's cause
holds the function's message only (their ``session`` fixture is in conftest.py)."""

from __future__ import annotations


def assert_message_only(text: str | None) -> None:
    """A failed Lambda task's cause or alert holds the function's errorMessage, not the runtime's
    error JSON with its stack trace (and this machine's paths)."""
    assert text is not None
    for raw in ("errorMessage", "errorType", "stackTrace", "Traceback", ".py"):
        assert raw not in text, f"{raw!r} in {text!r}"
