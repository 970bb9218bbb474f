"""Bad input, bad arguments, the CLI contract and atomic output."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from .helpers import Job, classify, cli, output, run_cli, structure, sz


def fails(job: Job, match: str, **options: object) -> sz.InputError:
    with pytest.raises(sz.InputError, match=match) as info:
        job.run(**options)
    assert job.files() == [] or all(not f.endswith(".tmp") for f in job.files())
    return info.value


BAD_INPUT = {
    "empty file": (b"", r"f\.csv: file is empty \(0 bytes\)"),
    "blank header": (b"\n1,2\n", r"f\.csv: line 1: header row is blank"),
    "duplicate names": (b"a,b,a\n1,2,3\n", r"f\.csv: line 1, column 'a': duplicate column name"),
    "short row": (b"a,b,c\n1,2,3\n4,5\n6,7,8\n", r"f\.csv: line 3: 2 fields; the header has 3"),
    "long row": (b"a,b,c\n1,2,3\n4,5,6,7\n", r"f\.csv: line 3: 4 fields; the header has 3"),
    "blank line": (b"a,b\n1,2\n\n3,4\n", r"f\.csv: line 3: blank line; the header has 2"),
    "trailing blank line": (b"a,b\n1,2\n3,4\n\n", r"f\.csv: line 4: blank line"),
    "ragged after quoted newline": (b'a,b\n"x\ny",1\n2\n', r"f\.csv: line 4: 1 field;"),
    "crlf short row": (b"a,b\r\n1,2\r\n3\r\n", r"f\.csv: line 3: 1 field;"),
    "bad utf-8 in text": (b"a,t\n1,ok\n2,b\xffd\n", r"f\.csv: line 3: invalid UTF-8 byte 0xff"),
    "bad utf-8 in number": (b"a,x\n1,2\n2,3\xe9\n", r"f\.csv: line 3: invalid UTF-8 byte 0xe9"),
    "bad utf-8 in header": (b"a,\xffb\n1,2\n", r"f\.csv: line 1: header is not valid UTF-8"),
    "latin-1 file": ("id,name\n1,café\n".encode("latin-1"), r"f\.csv: line 2: invalid UTF-8 byte 0xe9"),
    "unbalanced quote": (b'a,b\n1,"x\n2,3\n', r"f\.csv: unbalanced quote"),
    "inf": (b"id,x\n1,2\n2,inf\n3,4\n", r"f\.csv: line 3, column 'x': infinite value"),
    "-inf": (b"x\n1\n-inf\n", r"f\.csv: line 3, column 'x': infinite value"),
    "overflowing number": (b"x\n1\n1e999\n", r"f\.csv: line 3, column 'x': infinite value"),
}


@pytest.mark.parametrize("data, match", BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_is_rejected_with_file_and_line(job: Job, data: bytes, match: str) -> None:
    job.write("f.csv", data)
    fails(job, match)
    assert job.files() == []


def test_inf_in_a_pass_through_column_is_kept(job: Job) -> None:
    job.write("f.csv", "x,y\ninf,1\n-inf,2\n")
    job.run(exclude=frozenset({"x"}))
    assert job.columns()["x"] == ["inf", "-inf"]


def test_ragged_row_late_in_a_big_file_names_its_line(job: Job, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(structure, "_BLOCK", 4096)  # many blocks without a big file
    body = "".join(f'{i},"q,{i}\n"\n' for i in range(5000))
    job.write("f.csv", "id,t\n" + body + "5000\n" + "1,2\n")
    fails(job, r"f\.csv: line 10002: 1 field; the header has 2 fields")


def test_include_of_a_text_column_names_the_line(job: Job) -> None:
    job.write("f.csv", "id,x\n1,a\n2,b\n")
    fails(job, r"f\.csv: line 2, column 'x': --include column has a non-numeric value", include={"x"})


def test_include_of_a_text_value_in_the_first_rows_takes_its_line_from_the_sample(
    job: Job, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_search(*args: object) -> None:
        raise AssertionError("searched the file for a value the sample already holds")

    monkeypatch.setattr(classify._Locator, "__call__", no_search)
    job.write("f.csv", "id,x\n1,1.5\n2,NA\n3,\n4,b\n")
    fails(job, r"f\.csv: line 5, column 'x': --include column has a non-numeric value", include={"x"})


def test_include_with_a_late_non_number_names_the_line(job: Job) -> None:
    rows = "".join(f"{i},{i}\n" for i in range(classify._SAMPLE_ROWS + 5))
    job.write("f.csv", "id,x\n" + rows + "1,oops\n")
    line = classify._SAMPLE_ROWS + 7
    fails(job, rf"f\.csv: line {line}, column 'x': --include column has a non-numeric", include={"x"})


def test_no_csv_files(job: Job) -> None:
    job.write("notes.txt", "x")
    with pytest.raises(sz.InputError, match=r"no \.csv file found"):
        job.run()


@pytest.mark.parametrize(
    "options, match",
    [
        ({"include": frozenset({"nope"})}, "not in any input file: nope"),
        ({"exclude": frozenset({"x", "zz"})}, "not in any input file: zz"),
        ({"include": frozenset({"x"}), "exclude": frozenset({"x"})}, "both included and excluded: x"),
        ({"round_digits": 18}, "--round must be between 0 and 17"),
    ],
)
def test_usage_errors(job: Job, options: dict[str, object], match: str) -> None:
    job.write("f.csv", "x\n1\n")
    with pytest.raises(sz.UsageError, match=match):
        job.run(**options)


def test_same_input_and_output_directory(job: Job) -> None:
    job.write("f.csv", "x\n1\n")
    with pytest.raises(sz.UsageError, match="must differ"):
        sz.run(job.input, job.input)


def test_failed_file_leaves_earlier_outputs_complete(job: Job) -> None:
    job.write("a.csv", "x\n1\n2\n")
    job.write("b.csv", "x,y\n1\n")
    with pytest.raises(sz.InputError, match=r"b\.csv: line 2"):
        job.run()
    assert job.files() == ["a.csv", "stats/a.json"]


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (pl.exceptions.ComputeError("disk went away"), "disk went away"),
        # polars raises a plain OSError for a full volume ("No space left on device (os error 28)")
        (OSError(errno.ENOSPC, "No space left on device"), r"\[Errno 28\] No space left on device"),
    ],
)
def test_failure_while_writing_leaves_no_file(
    job: Job, monkeypatch: pytest.MonkeyPatch, error: Exception, reason: str
) -> None:
    original = pl.LazyFrame.sink_csv

    def broken_sink(self: pl.LazyFrame, path: Path, **kwargs: Any) -> None:
        original(self, path, **kwargs)  # a complete file under the temporary name...
        raise error  # ...then the write fails

    monkeypatch.setattr(pl.LazyFrame, "sink_csv", broken_sink)
    job.write("f.csv", "x\n1\n2\n")
    with pytest.raises(sz.OutputError, match=rf"f\.csv: writing f\.csv failed: {reason}"):
        job.run()
    assert job.files() == []


def test_failure_while_writing_stats_leaves_no_file(job: Job, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_dumps(*args: object, **kwargs: object) -> str:
        raise OSError("no space left on device")

    monkeypatch.setattr(output.json, "dumps", broken_dumps)
    job.write("f.csv", "x\n1\n2\n")
    with pytest.raises(OSError, match="no space"):
        job.run()
    assert job.files() == []


def test_failed_rerun_keeps_the_previous_output(job: Job) -> None:
    job.write("f.csv", "x\n1\n2\n")
    job.run()
    before = (job.output / "f.csv").read_bytes()
    job.write("f.csv", "x\n1\n2,3\n")
    with pytest.raises(sz.InputError):
        job.run()
    assert (job.output / "f.csv").read_bytes() == before
    assert job.files() == ["f.csv", "stats/f.json"]


def test_main_returns_1_and_writes_the_failure_reason(
    job: Job, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = tmp_path / "message"
    monkeypatch.setattr(cli, "FAILURE_MESSAGE_PATH", str(message))
    job.write("f.csv", "a,b\n1,2\n3\n")
    assert sz.main(["--input", str(job.input), "--output", str(job.output)]) == 1
    assert message.read_text() == "InputError: f.csv: line 3: 1 field; the header has 2 fields"


def test_main_returns_2_on_usage_errors(job: Job, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "FAILURE_MESSAGE_PATH", str(tmp_path / "message"))
    job.write("f.csv", "x\n1\n")
    argv = ["--input", str(job.input), "--output", str(job.output), "--include", "x", "--exclude", "x"]
    assert sz.main(argv) == 2
    assert "both included and excluded" in (tmp_path / "message").read_text()


def test_main_reports_internal_errors(job: Job, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "FAILURE_MESSAGE_PATH", str(tmp_path / "message"))

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "run", crash)
    assert sz.main(["--input", str(job.input), "--output", str(job.output)]) == 1
    assert (tmp_path / "message").read_text() == "internal error: RuntimeError: boom"


def test_failure_message_is_skipped_without_its_directory(tmp_path: Path) -> None:
    sz.write_failure_message("x", str(tmp_path / "missing" / "message"))
    assert not (tmp_path / "missing").exists()


def test_failure_message_is_truncated(tmp_path: Path) -> None:
    sz.write_failure_message("x" * 5000, str(tmp_path / "message"))
    assert len((tmp_path / "message").read_text()) == 1000


def test_cli_exit_code_and_message_on_stderr(job: Job, tmp_path: Path) -> None:
    job.write("f.csv", b"id,t\n1,ok\n2,b\xffd\n")
    done = run_cli("--input", str(job.input), "--output", str(job.output), cwd=tmp_path)
    assert done.returncode == 1
    assert "InputError: f.csv: line 3: invalid UTF-8 byte 0xff" in done.stderr
    assert job.files() == []


def test_cli_success(job: Job, tmp_path: Path) -> None:
    job.write("f.csv", "id,x\n1,1\n2,3\n")
    done = run_cli("--input", str(job.input), "--output", str(job.output), "--exclude=id", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "f.csv: 2 rows, 1 standardized columns" in done.stderr
    assert job.columns() == {"id": ["1", "2"], "x": ["-1.0", "1.0"]}


def test_cli_help_documents_the_rules(tmp_path: Path) -> None:
    done = run_cli("--help", cwd=tmp_path)
    assert done.returncode == 0
    for phrase in ("_id", "ISO 8601", "0-byte file", "1.6-1.8x", "--round", "/opt/ml/processing/input"):
        assert phrase in done.stdout, phrase


def test_many_quoted_newlines_across_small_blocks(job: Job, monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks often end inside a quoted field; the buffer must not grow towards its limit."""
    monkeypatch.setattr(structure, "_BLOCK", 64)
    monkeypatch.setattr(structure, "_MAX_RECORD", 256)
    job.write("f.csv", "id,t,x\n" + "".join(f'{i},"multi\nline {i}",{i % 7}\n' for i in range(3000)))
    (result,) = job.run()
    assert result.rows == 3000
    assert job.columns()["t"][-1] == "multi\nline 2999"


def test_record_longer_than_the_limit(job: Job, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(structure, "_BLOCK", 64)
    monkeypatch.setattr(structure, "_MAX_RECORD", 256)
    job.write("f.csv", "id,t\n1,a\n2," + "b" * 1000 + "\n3,c\n")
    fails(job, r"f\.csv: line 3: record longer than 256 bytes")


def test_record_longer_than_a_parse_chunk(job: Job) -> None:
    """Polars parses in chunks of POLARS_CSV_CHUNK_SIZE (4 MB); a longer record still fits."""
    long = "a,b\n" * (3 << 20)  # a 12 MB quoted field with separators and newlines
    job.write("f.csv", f'id,t,x\n1,"{long}",1\n2,b,2\n3,c,3\n')
    (result,) = job.run()
    assert result.rows == 3
    assert job.columns()["t"] == [long, "b", "c"]
    assert job.columns()["x"] == ["-1.224744871391589", "0.0", "1.224744871391589"]


def test_sample_from_the_head_equals_the_first_rows_of_the_file(
    job: Job, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever byte the head ends at (inside a quoted field or a number), the sample is whole rows."""
    monkeypatch.setattr(classify, "_SAMPLE_ROWS", 4)
    src = job.write(
        "f.csv", 'id,t,x\n1,"two\nlines",1e5\n2,b,2.5\n3,"c,d",3e-2\n4,e,4\n5,"f\n",5\n6,g,6\n7,h,7\n'
    )
    want = pl.read_csv(src, infer_schema=False, n_rows=4)
    for size in range(8, src.stat().st_size + 2):
        monkeypatch.setattr(classify, "_SAMPLE_BYTES", size)
        got = classify._read_sample(src)
        assert got is not None and got.equals(want), size


def test_fields_over_128_kib_do_not_stop_the_line_lookup_or_the_header(job: Job, tmp_path: Path) -> None:
    # A fresh process: the csv module's 128 KiB field limit is process-wide state.
    long_text = "t" * 200_000
    job.write("f.csv", f"t,x\n{long_text},1\nok,2\nok,inf\n")
    done = run_cli("--input", str(job.input), "--output", str(job.output), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "InputError: f.csv: line 4, column 'x': infinite value" in done.stderr
    assert job.files() == []
    job.write("f.csv", f"{long_text},x\nok,1\nok,3\n")
    done = run_cli("--input", str(job.input), "--output", str(job.output), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (job.output / "f.csv").read_text().splitlines()[1:] == ["ok,-1.0", "ok,1.0"]
