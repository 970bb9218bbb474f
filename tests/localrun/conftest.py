"""Fixtures of the offline runner's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from localrun.moto_adapter import OfflineAws, offline_aws


@pytest.fixture
def aws() -> Iterator[OfflineAws]:
    """A fresh ``offline_aws()`` mock (us-east-1) for one test."""
    with offline_aws() as handle:
        yield handle
