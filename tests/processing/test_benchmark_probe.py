"""The benchmark's machine probe: how fast a file is written through the page cache and directly."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from benchmarks.standardize import WriteSpeed, write_speed


def test_write_speed_smoke_measures_both_ways_and_leaves_nothing(tmp_path: Path) -> None:
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


def test_write_speed_removes_the_file_when_direct_io_is_refused_on_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some file systems create the file, then refuse O_DIRECT: the probe must not leave it."""
    real_open = os.open

    def refusing_open(path: Path, flags: int, mode: int = 0o777) -> int:
        if flags & os.O_DIRECT:
            os.close(real_open(path, flags & ~os.O_DIRECT, mode))
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", refusing_open)
    speed = write_speed(tmp_path, settle=0, mib=8)
    assert speed.buffered > 0 and speed.direct is None
    assert list(tmp_path.iterdir()) == []
