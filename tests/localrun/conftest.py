"""Fixtures of the offline runner's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from localrun.moto_adapter import OfflineAws, offline_aws
from localrun.runner import OfflineSession, Printer, open_session


@pytest.fixture
def aws() -> Iterator[OfflineAws]:
    """A fresh ``offline_aws()`` mock (us-east-1) for one test."""
    with offline_aws() as handle:
        yield handle


@pytest.fixture
def session(tmp_path: Path) -> Iterator[OfflineSession]:
    """An offline session of dev on SQLite, quiet."""
    with open_session("dev", workdir=tmp_path, allow_mariadb=False, printer=Printer(False)) as s:
        yield s
