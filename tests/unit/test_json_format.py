"""The layout of the hand-edited JSON files (tools/json_format.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config.paths import STATEMACHINES
from tools import json_format
from tools.iam_check.inventory import INVENTORY

LAID_OUT = [*sorted(STATEMACHINES.glob("*.asl.json")), INVENTORY]


@pytest.mark.parametrize("path", LAID_OUT, ids=lambda p: p.name)
def test_the_hand_edited_json_files_are_laid_out(path: Path) -> None:
    assert json_format.main(["--check", str(path)]) == 0, f"run: python -m tools.json_format {path.name}"


def test_a_value_that_fits_is_one_line_and_one_that_does_not_is_spread() -> None:
    value = {"short": {"a": [1, 2], "b": None}, "long": ["x" * 60, "y" * 60], "empty": {}}
    assert json_format.dumps(value) == (
        "{\n"
        '  "short": {"a": [1, 2], "b": null},\n'
        '  "long": [\n'
        f'    "{"x" * 60}",\n'
        f'    "{"y" * 60}"\n'
        "  ],\n"
        '  "empty": {}\n'
        "}\n"
    )


def test_the_layout_changes_whitespace_only() -> None:
    for path in LAID_OUT:
        text = path.read_text(encoding="utf-8")
        assert json.loads(json_format.dumps(json.loads(text))) == json.loads(text)


def test_check_names_a_file_out_of_layout_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"a":   1}\n', encoding="utf-8")
    assert json_format.main(["--check", str(path)]) == 1
    assert "x.json: not laid out" in capsys.readouterr().out
    assert path.read_text(encoding="utf-8") == '{"a":   1}\n'
    assert json_format.main([str(path)]) == 0 and path.read_text(encoding="utf-8") == '{"a": 1}\n'
