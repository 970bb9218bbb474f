"""Property tests: random frames against an exact reference, and the structure check."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers import Job, structure, sz

EPS = 2.0**-52


@dataclass
class Column:
    name: str
    kind: str  # numeric, text, id
    cells: list[str]  # as written
    values: list[float | None]  # numeric: parsed values, None when missing (NaN included)


def reference(values: list[float | None]) -> tuple[int, float | None, float | None]:
    """Exact two-pass statistics: rational sums, then one rounding each."""
    xs = [Fraction(v) for v in values if v is not None]
    if not xs:
        return 0, None, None
    n = len(xs)
    mu = sum(xs, Fraction(0)) / n
    var = sum(((x - mu) ** 2 for x in xs), Fraction(0)) / n
    mean, std = float(mu), sqrt(var)
    return n, mean, 0.0 if std <= 4 * EPS * abs(mean) else std


def sqrt(q: Fraction) -> float:
    """Square root of a rational to double precision, without underflow or overflow."""
    if q == 0:
        return 0.0
    k = (120 - (q.numerator.bit_length() - q.denominator.bit_length())) // 2  # q * 4**k ~ 2**120
    scaled = q * Fraction(4) ** k
    return float(Fraction(math.isqrt(scaled.numerator // scaled.denominator)) / Fraction(2) ** k)


OFFSETS = [0.0, 1e9, 1e12, -5e6, 1e-3]
SCALES = [1.0, 1e-4, 1e4]
MISSING = ["", "NA", "nan", "NaN"]


@st.composite
def numeric_column(draw: st.DrawFn, name: str, rows: int) -> Column:
    shape = draw(st.sampled_from(["float", "int", "const"]))
    offset, scale = draw(st.sampled_from(OFFSETS)), draw(st.sampled_from(SCALES))
    const = offset + draw(st.floats(-1e3, 1e3, allow_subnormal=False))
    cells: list[str] = []
    values: list[float | None] = []
    for _ in range(rows):
        if draw(st.integers(0, 9)) == 0:
            cells.append(draw(st.sampled_from(MISSING)))
            values.append(None)
        elif shape == "int":
            number = draw(st.integers(-(10**9), 10**9)) + int(offset)
            cells.append(str(number))
            values.append(float(number))
        else:
            noise = draw(st.floats(-1e6, 1e6, allow_subnormal=False))
            value = const if shape == "const" else offset + scale * noise
            cells.append(repr(value))
            values.append(value)
    return Column(name, "numeric", cells, values)


TEXT = st.text(alphabet=st.sampled_from(list('ab ,"\n\r\t-.é1')), max_size=6)


@st.composite
def frame(draw: st.DrawFn) -> tuple[list[Column], str]:
    rows = draw(st.integers(0, 30))
    columns: list[Column] = []
    for i in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["numeric", "numeric", "text", "id"]))
        name = f"c{i}" if kind != "id" else f"c{i}_id"
        if kind == "numeric":
            columns.append(draw(numeric_column(name, rows)))
        else:
            # "t" first: never a number; NA and empty cells stay as they are
            cells = [draw(st.sampled_from(["", "NA"]) | TEXT.map(lambda t: "t" + t)) for _ in range(rows)]
            columns.append(Column(name, kind, cells, []))
    return columns, draw(st.sampled_from(["\n", "\r\n"]))


def write_rows(rows: list[list[str]], newline: str = "\n") -> str:
    """RFC 4180, quoting only fields that need it (csv.writer leaves a bare CR unquoted)."""

    def field(text: str) -> str:
        return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\r\n') else text

    return "".join(",".join(map(field, row)) + newline for row in rows)


def to_csv(columns: list[Column], newline: str) -> str:
    rows = [list(r) for r in zip(*(c.cells for c in columns), strict=True)]
    return write_rows([[c.name for c in columns], *rows], newline)


def assert_z_close(got: float, want: float, mean: float, ref_mean: float, std: float) -> None:
    if want == 0.0 and std == 0.0:
        assert got == 0.0
        return
    tolerance = 4 * math.ulp(want)
    if mean != ref_mean:  # one ulp apart at most: x - mean differs by that much
        tolerance += 1.01 * math.ulp(ref_mean) / std
    assert abs(got - want) <= tolerance, (got, want, (got - want) / math.ulp(want))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame())
def test_random_frames_match_the_exact_reference(make_job: Callable[[], Job], case: tuple) -> None:
    columns, newline = case
    job = make_job()
    job.write("f.csv", to_csv(columns, newline))
    (result,) = job.run()
    out = job.columns() if columns else {}
    stats = job.stats()["columns"]
    for col in columns:
        if col.kind != "numeric" or (result.rows == 0 and col.kind == "numeric"):
            expected_kind = {"text": "text", "id": "id"}.get(col.kind, "numeric")
            if col.kind == "text" and all(c in ("", "NA") for c in col.cells):
                expected_kind = "numeric"  # nothing but missing cells: vacuously numeric
            assert stats[col.name]["kind"] == expected_kind
            if expected_kind != "numeric":
                assert out.get(col.name, []) == col.cells
            continue
        count, ref_mean, ref_std = reference(col.values)
        got = stats[col.name]
        assert got["kind"] == "numeric"
        assert got["count"] == count
        if count == 0:
            assert got["mean"] is None and got["std"] is None
            assert out[col.name] == [""] * len(col.cells)
            continue
        assert ref_mean is not None and ref_std is not None
        mean, std = got["mean"], got["std"]
        assert abs(mean - ref_mean) <= math.ulp(ref_mean)
        assert abs(std - ref_std) <= 2 * math.ulp(ref_std)
        for cell, value in zip(out[col.name], col.values, strict=True):
            if value is None:
                assert cell == ""
            else:
                want = 0.0 if ref_std == 0 else (value - ref_mean) / ref_std
                assert_z_close(float(cell), want, mean, ref_mean, ref_std)


@pytest.mark.parametrize("offset", [1e9, 1e12, -1e12])
def test_large_offsets_are_within_4_ulp(job: Job, offset: float) -> None:
    import random

    rng = random.Random(int(offset) % 1000)
    values = [offset + rng.gauss(0, 1) for _ in range(3000)]
    job.write("f.csv", "x\n" + "".join(f"{v!r}\n" for v in values))
    job.run()
    _, ref_mean, ref_std = reference(list(values))
    assert ref_mean is not None and ref_std is not None
    stats = job.stats()["columns"]["x"]
    assert stats["mean"] == ref_mean  # correctly rounded
    assert abs(stats["std"] - ref_std) <= math.ulp(ref_std)
    for cell, value in zip(job.columns()["x"], values, strict=True):
        want = (value - ref_mean) / ref_std
        assert abs(float(cell) - want) <= 4 * math.ulp(want)


# No bare CR: the csv module counts it as a line end, polars and the line numbers do not.
FIELD = st.text(alphabet=st.sampled_from(list('ab,"\n')), max_size=5)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ncols=st.integers(1, 4),
    rows=st.lists(st.lists(FIELD, min_size=4, max_size=4), max_size=25),
    ragged=st.none() | st.tuples(st.integers(0, 24), st.sampled_from([-1, 1])),
    block=st.integers(1, 40),
    final_newline=st.booleans(),
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_structure_check_counts_records_and_finds_ragged_rows(
    tmp_path_factory: pytest.TempPathFactory,
    ncols: int,
    rows: list[list[str]],
    ragged: tuple[int, int] | None,
    block: int,
    final_newline: bool,
    newline: str,
) -> None:
    """Blocks as small as 1 byte: records and quotes split across every boundary."""
    records = [r[:ncols] for r in rows]
    bad = None
    if ragged and ragged[0] < len(records) and ncols + ragged[1] >= 2:
        bad = ragged[0]
        records[bad] = (records[bad] + ["x", "y"])[: ncols + ragged[1]]
    text = write_rows([[f"h{i}" for i in range(ncols)], *records], newline)
    if not final_newline and records and records[-1] != [""]:
        text = text[: -len(newline)]
    path = Path(tmp_path_factory.mktemp("check")) / "f.csv"
    path.write_text(text, newline="")
    header = structure._read_header(path, "f.csv")
    with mock.patch.object(structure, "_BLOCK", block):
        check = structure._StructureCheck(path, "f.csv", header, path.stat().st_size, 1e9)
        check.run()
    parsed = list(csv.reader(io.StringIO(text, newline="")))[1:]
    first_bad = next(
        (i for i, r in enumerate(parsed) if len(r) != ncols and not (ncols == 1 and r == [])), None
    )
    if first_bad is None:
        assert check.error is None
        assert check.rows == len(parsed)
        reader = csv.reader(io.StringIO(text, newline=""))
        next(reader)
        start = reader.line_num + 1
        for record in range(len(parsed)):
            assert check.line_of(record) == start
            next(reader)
            start = reader.line_num + 1
    else:
        assert isinstance(check.error, sz.InputError)
        reader = csv.reader(io.StringIO(text, newline=""))
        for _ in range(first_bad + 1):
            next(reader)
        assert check.error.line == reader.line_num + 1
