"""Under CI nothing may be missing: a test without its server or tool fails instead of skipping."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def on_ci() -> bool:
    """Whether ``CI`` is set to true, 1 or yes (providers differ; ``.ci/run`` sets true)."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def missing(what: str, message: str) -> NoReturn:
    """Skip the test for lack of ``what``; fail it on CI, where nothing may be missing."""
    if on_ci():
        pytest.fail(f"CI is set but {what}: {message}", pytrace=False)
    pytest.skip(f"{what}: {message}")
