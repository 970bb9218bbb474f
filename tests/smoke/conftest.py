"""An offline deployment of dev (localrun.deployed) and a smoke run's context against it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from localrun.deployed import DeployedClients, deploy
from localrun.runner import OfflineSession, Printer, open_session
from tools.smoke.__main__ import OFFLINE_PACE
from tools.smoke.context import Smoke


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[OfflineSession]:
    """dev's standardize side, deployed offline (no database: no forecast stack)."""
    with open_session("dev", workdir=tmp_path, forecast=False, printer=Printer(False)) as session:
        deploy(session)
        yield session


@pytest.fixture
def smoke(deployed: OfflineSession) -> Smoke:
    lines: list[str] = []
    return Smoke(DeployedClients(deployed), deployed.env, pace=OFFLINE_PACE, say=lines.append)
