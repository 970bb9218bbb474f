"""Behaviour of the standardize engine on well-formed input."""

from __future__ import annotations

import json
import logging
import math
import random
import statistics

import pytest

from .helpers import Job, classify, sz


def test_numeric_columns_become_z_scores_and_others_pass_through(job: Job) -> None:
    job.write(
        "f.csv",
        "id,user_id,ts,name,x,n\n"
        "1,u1,2024-01-01T00:00:00Z,alpha,1.0,10\n"
        "2,u2,2024-01-01T01:00:00Z,beta,2.0,20\n"
        "3,u3,2024-01-01T02:00:00Z,gamma,3.0,30\n",
    )
    (result,) = job.run()
    cols = job.columns()
    assert list(cols) == ["id", "user_id", "ts", "name", "x", "n"]
    assert cols["id"] == ["1", "2", "3"]
    assert cols["ts"][0] == "2024-01-01T00:00:00Z"
    assert cols["name"] == ["alpha", "beta", "gamma"]
    z = math.sqrt(1.5)
    assert [float(v) for v in cols["x"]] == pytest.approx([-z, 0.0, z], rel=1e-15)
    assert cols["x"] == cols["n"]
    kinds = {c.name: c.kind for c in result.columns}
    assert kinds == {
        "id": "id",
        "user_id": "id",
        "ts": "timestamp",
        "name": "text",
        "x": "numeric",
        "n": "numeric",
    }
    stats = job.stats()
    assert stats["ddof"] == 0
    assert stats["rows"] == 3
    assert stats["columns"]["x"] == {"kind": "numeric", "count": 3, "mean": 2.0, "std": math.sqrt(2 / 3)}
    assert stats["columns"]["name"] == {"kind": "text", "count": None, "mean": None, "std": None}


def test_id_rule_is_case_insensitive_and_exact(job: Job) -> None:
    job.write("f.csv", "ID,Order_ID,idx,paid\n1,5,1,2\n2,6,2,4\n")
    (result,) = job.run()
    kinds = {c.name: c.kind for c in result.columns}
    assert kinds == {"ID": "id", "Order_ID": "id", "idx": "numeric", "paid": "numeric"}


def test_population_std_matches_statistics_pstdev(job: Job) -> None:
    rng = random.Random(7)
    values = [rng.gauss(5, 3) for _ in range(500)]
    job.write("f.csv", "x\n" + "".join(f"{v!r}\n" for v in values))
    job.run()
    col = job.stats()["columns"]["x"]
    assert col["mean"] == pytest.approx(statistics.fmean(values), rel=1e-15)
    assert col["std"] == pytest.approx(statistics.pstdev(values), rel=1e-15)


def test_large_offset_keeps_its_std(job: Job) -> None:
    """1e9 + N(0,1): a naive sum of squares loses every digit of the variance."""
    rng = random.Random(1)
    values = [1e9 + rng.gauss(0, 1) for _ in range(2000)]
    naive = math.sqrt(max(0.0, sum(v * v for v in values) / 2000 - (sum(values) / 2000) ** 2))
    assert abs(naive - 1) > 0.5  # the failure this test guards against
    job.write("f.csv", "x\n" + "".join(f"{v!r}\n" for v in values))
    job.run()
    col = job.stats()["columns"]["x"]
    assert col["std"] == pytest.approx(statistics.pstdev(values), rel=1e-14)
    z = [float(v) for v in job.columns()["x"]]
    # mean is correctly rounded: off by at most half an ulp of 1e9, 6e-8 standard deviations
    assert statistics.fmean(z) == pytest.approx(0, abs=math.ulp(1e9) / 2)
    assert statistics.pstdev(z) == pytest.approx(1, rel=1e-12)


@pytest.mark.parametrize("value", ["0.1", "1e9", "-3", "123456789.125"])
def test_constant_column_gives_exact_zero(job: Job, value: str) -> None:
    job.write("f.csv", "x,y\n" + "".join(f"{value},{i}\n" for i in range(50)) + ",7\n")
    job.run()
    assert job.columns()["x"] == ["0.0"] * 50 + [""]
    assert job.stats()["columns"]["x"]["std"] == 0.0


def test_missing_values_stay_missing(job: Job) -> None:
    job.write("f.csv", "x,t\n1,NA\n,b\nNA,\n3,NA\nnan,c\n")
    job.run()
    cols = job.columns()
    assert cols["x"] == ["-1.0", "", "", "1.0", ""]
    assert cols["t"] == ["NA", "b", "", "NA", "c"]  # NA is only missing in numeric columns
    assert job.stats()["columns"]["x"]["count"] == 2


def test_all_missing_column_has_null_stats(job: Job) -> None:
    job.write("f.csv", "x,y\n,1\nNA,2\n,3\n")
    job.run()
    assert job.columns()["x"] == ["", "", ""]
    assert job.stats()["columns"]["x"] == {"kind": "numeric", "count": 0, "mean": None, "std": None}


def test_numeric_is_judged_over_the_whole_file(job: Job) -> None:
    """A non-number after the first rows (beyond the sample) makes the column text."""
    rows = "".join(f"{i},{i}.5,{i}\n" for i in range(classify._SAMPLE_ROWS + 100))
    job.write("f.csv", "id,x,y\n" + rows + "9,oops,1.5\n")
    (result,) = job.run()
    kinds = {c.name: c.kind for c in result.columns}
    assert kinds["x"] == "text"
    assert kinds["y"] == "numeric"  # a late 1.5 in an integer column is still read exactly
    cols = job.columns()
    assert cols["x"][-1] == "oops"
    assert cols["x"][3] == "3.5"
    n = classify._SAMPLE_ROWS + 101
    values = [*range(n - 1), 1.5]
    mean = statistics.fmean(values)
    assert float(cols["y"][-1]) == pytest.approx((1.5 - mean) / statistics.pstdev(values), rel=1e-12)


def test_include_and_exclude(job: Job) -> None:
    job.write("f.csv", "id,x,y\n1,1,5\n2,3,5\n")
    (result,) = job.run(include=frozenset({"id"}), exclude=frozenset({"x"}))
    kinds = {c.name: c.kind for c in result.columns}
    assert kinds == {"id": "numeric", "x": "excluded", "y": "numeric"}
    assert job.columns() == {"id": ["-1.0", "1.0"], "x": ["1", "3"], "y": ["0.0", "0.0"]}


def test_timestamps_are_detected_over_all_values(job: Job) -> None:
    job.write(
        "f.csv",
        "a,b,c\n2024-01-01,2024-01-01 10:00:00.123+02:00,2024-01-01\n,2024-02-29T23:59Z,not a date\n",
    )
    (result,) = job.run()
    assert [c.kind for c in result.columns] == ["timestamp", "timestamp", "text"]


def test_pass_through_values_keep_their_exact_text(job: Job) -> None:
    job.write(
        "f.csv",
        b'name,x\n"a,b",1\n"line\nbreak",2\n" padded ",3\n"say ""hi""",4\n\xc3\xa9t\xc3\xa9,5\n007,6\n',
    )
    job.run()
    assert job.columns()["name"] == ["a,b", "line\nbreak", " padded ", 'say "hi"', "été", "007"]


def test_bom_and_crlf_are_accepted(job: Job) -> None:
    job.write("f.csv", b'\xef\xbb\xbfid,x,t\r\n1,1,"a\r\nb"\r\n2,3,c\r\n')
    job.run()
    assert job.rows() == [["id", "x", "t"], ["1", "-1.0", "a\r\nb"], ["2", "1.0", "c"]]
    assert not (job.output / "f.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_header_only_file_gives_header_only_output(job: Job) -> None:
    job.write("f.csv", "id,x\n")
    (result,) = job.run()
    assert (job.output / "f.csv").read_text() == "id,x\n"
    assert result.rows == 0
    assert job.stats()["columns"]["x"] == {"kind": "numeric", "count": 0, "mean": None, "std": None}


def test_last_line_without_newline(job: Job) -> None:
    job.write("f.csv", "x,y\n1,2\n3,4")
    (result,) = job.run()
    assert result.rows == 2


def test_single_column_blank_lines_are_missing_values(job: Job) -> None:
    job.write("f.csv", "x\n1\n\n3\n")
    job.run()
    assert job.columns()["x"] == ["-1.0", "", "1.0"]


def test_round(job: Job) -> None:
    job.write("f.csv", "x\n1\n2\n4\n")
    (result,) = job.run(round_digits=3)
    assert job.columns()["x"] == ["-1.069", "-0.267", "1.336"]
    assert job.stats()["round"] == 3
    assert result.round_digits == 3


def test_layout_of_outputs_and_stats(job: Job) -> None:
    job.write("a.csv", "x\n1\n2\n")
    job.write("sub/dir/b.CSV", "x\n1\n2\n")
    job.write("notes.txt", "ignored")
    results = job.run()
    assert [r.source for r in results] == ["a.csv", "sub/dir/b.CSV"]
    assert job.files() == ["a.csv", "stats/a.json", "stats/sub/dir/b.json", "sub/dir/b.CSV"]
    assert json.loads((job.output / "stats/sub/dir/b.json").read_text())["source"] == "sub/dir/b.CSV"


def test_outputs_are_world_readable_and_no_temp_files_remain(job: Job) -> None:
    job.write("f.csv", "x\n1\n2\n")
    job.run()
    assert job.files() == ["f.csv", "stats/f.json"]
    assert (job.output / "f.csv").stat().st_mode & 0o777 == 0o644


def test_stats_json_is_strict_json(job: Job) -> None:
    job.write("f.csv", "x,y,z\n1,,a\n1,NA,b\n")
    job.run()
    text = (job.output / "stats/f.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))


def test_extreme_magnitudes(job: Job) -> None:
    job.write("f.csv", "big,tiny\n1e200,1e-200\n3e200,3e-200\n")
    job.run()
    cols = job.columns()
    assert cols["big"] == ["-1.0", "1.0"]
    assert cols["tiny"] == ["-1.0", "1.0"]


def test_progress_is_logged(job: Job, caplog: pytest.LogCaptureFixture) -> None:
    job.write("f.csv", "id,x\n" + "".join(f"{i},{i % 97}.25\n" for i in range(200_000)))
    with caplog.at_level(logging.INFO, logger="standardize"):
        job.run(progress_seconds=0.0001)
    text = caplog.text
    assert "checked 200,000 rows" in text
    assert "MB (~" in text and "of 200,000 rows)" in text


def test_standardize_file_returns_file_stats(job: Job) -> None:
    src = job.write("f.csv", "x\n1\n3\n")
    dst = job.output / "deep" / "o.csv"
    result = sz.standardize_file(src, dst, job.output / "s.json")
    assert result.output == dst and dst.exists()
    assert result.columns == (sz.ColumnStats("x", "numeric", 2, 2.0, 1.0),)
    assert result.bytes_in == src.stat().st_size
    assert result.bytes_out == dst.stat().st_size
