"""Fixtures of the standardize processing program's tests (the processing/standardize package)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .helpers import Job


@pytest.fixture
def job(tmp_path: Path) -> Job:
    return Job(tmp_path)


@pytest.fixture(scope="session")
def make_job(tmp_path_factory: pytest.TempPathFactory) -> Callable[[], Job]:
    """For hypothesis tests, which cannot use function-scoped fixtures per example."""
    return lambda: Job(tmp_path_factory.mktemp("job"))
