"""The benchmark's machine probe: how fast a file is written through the page cache and directly."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.standardize import WriteSpeed, write_speed


def test_write_speed_measures_both_ways_and_leaves_nothing(tmp_path: Path) -> None:
    speed = write_speed(tmp_path, settle=0, mib=16)
    assert isinstance(speed, WriteSpeed) and speed.mib == 16
    assert speed.buffered > 0
    assert speed.direct is None or speed.direct > 0
    assert list(tmp_path.iterdir()) == []


def test_write_speed_reports_a_file_system_without_direct_io(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr("os.O_DIRECT", raising=False)
    speed = write_speed(tmp_path, settle=0, mib=8)
    assert speed.buffered > 0 and speed.direct is None
    assert list(tmp_path.iterdir()) == []
