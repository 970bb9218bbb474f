"""The standardize benchmark's measures: ulp errors, the peers' output contract, the goals."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from benchmarks import standardize, standardize_accuracy, standardize_runs, standardize_variants
from processing.standardize import is_id_name

NAN, INF = math.nan, math.inf

# Eight rows of small dyadic values (a has one missing cell): every sum and square is exact, so each
# variant's mean and std are correctly rounded and its z is within an ulp or two of the reference.
TINY_CSV = """id,ts,name,a,b,count,constant,series_id
1,2024-01-01T00:00:00,alpha,1.5,-2.25,3,0.1,7
2,2024-01-01T01:00:00,beta,,4.5,1,0.1,7
3,2024-01-01T02:00:00,gamma,2.75,0.75,4,0.1,8
4,2024-01-01T03:00:00,delta,-0.5,1.0,1,,8
5,2024-01-01T04:00:00,eps,3.25,0.5,5,0.1,9
6,2024-01-01T05:00:00,zeta,0.25,-1.75,9,0.1,9
7,2024-01-01T06:00:00,eta,1.0,2.0,2,0.1,10
8,2024-01-01T07:00:00,theta,-1.25,3.5,6,0.1,10
"""
PASSED_THROUGH = ("id", "ts", "name", "series_id")


# --------------------------------------------------------------------------- ulp measure


def test_equal_values_and_matching_missing_cells_are_zero_ulp() -> None:
    want = np.array([0.0, 1.0, -3.5, 1e-300, NAN])
    assert standardize_accuracy.ulp_errors(want.copy(), want).tolist() == [0.0] * 5
    assert standardize_accuracy.abs_errors(want.copy(), want).tolist() == [0.0] * 5


def test_one_spacing_apart_is_one_ulp_either_way() -> None:
    want = np.array([1.0, -2.0, 1e9, 3e-200])
    up = np.nextafter(want, np.inf)
    assert standardize_accuracy.ulp_errors(up, want).tolist() == [
        1.0,
        0.5,
        1.0,
        1.0,
    ]  # -2's spacing is above -2
    assert standardize_accuracy.ulp_errors(want + 4 * np.spacing(want), want).tolist() == [4.0] * 4


def test_nan_missing_or_overflowed_values_count_as_infinite() -> None:
    want = np.array([1.0, 2.0, 3.0, NAN, 4.0])
    got = np.array([NAN, INF, -INF, 5.0, 4.0])
    assert standardize_accuracy.ulp_errors(got, want).tolist() == [INF, INF, INF, INF, 0.0]
    assert standardize_accuracy.abs_errors(got, want).tolist() == [INF, INF, INF, INF, 0.0]


def test_a_nonzero_z_where_the_reference_is_zero_is_an_infinite_ulp_but_a_finite_dz() -> None:
    want, got = np.array([0.0]), np.array([1e-3])
    assert standardize_accuracy.ulp_errors(got, want).tolist() == [INF]
    assert standardize_accuracy.abs_errors(got, want).tolist() == [1e-3]


def test_worst_takes_the_largest_ulp_and_dz_over_columns() -> None:
    assert standardize_accuracy.worst({"a": (1.0, 1e-16), "b": (3.0, 5e-17), "c": (2.0, 4e-16)}) == (
        3.0,
        4e-16,
    )
    assert standardize_accuracy.worst({}) == (0.0, 0.0)


def test_the_reference_is_exact_where_naive_sums_are_not() -> None:
    values = 1e12 + np.array([0.5, -0.5, 0.25, -0.25] * 1000)
    mean, std = standardize_accuracy.reference(values)
    assert mean == 1e12 and std == pytest.approx(math.sqrt((0.25 + 0.0625) / 2), rel=1e-15)
    assert standardize_accuracy.reference(np.full(100, 0.1)) == (0.1, 0.0)


# --------------------------------------------------------------------------- variants


@pytest.fixture(scope="module")
def tiny(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, standardize_accuracy.Reference, pl.DataFrame]:
    """The tiny CSV, its reference, and the engine's output of it (as text)."""
    work = tmp_path_factory.mktemp("bench")
    src = work / "tiny.csv"
    src.write_text(TINY_CSV)
    _, dst = standardize_runs.run_variant(standardize_variants.ENGINE, src, work / "engine")
    return src, standardize_accuracy.make_reference(src), pl.read_csv(dst, infer_schema=False)


def test_the_reference_takes_the_engines_numeric_columns(
    tiny: tuple[Path, standardize_accuracy.Reference, pl.DataFrame],
) -> None:
    _, ref, engine = tiny
    assert set(ref.z) == {"a", "b", "count", "constant"}
    assert ref.header == tuple(engine.columns) and ref.rows == engine.height == 8
    assert np.isnan(ref.z["a"][1]) and ref.z["constant"].tolist()[:3] == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("variant", standardize_variants.Z_VARIANTS, ids=lambda v: v.name)
def test_each_variant_writes_the_engines_columns_and_z_within_two_ulp(
    variant: standardize_variants.Variant,
    tiny: tuple[Path, standardize_accuracy.Reference, pl.DataFrame],
    tmp_path: Path,
) -> None:
    src, ref, engine = tiny
    _, dst = standardize_runs.run_variant(variant, src, tmp_path)
    errors = standardize_accuracy.z_errors(ref, dst, variant.name)
    assert set(errors) == {"a", "b", "count", "constant"}
    assert standardize_accuracy.worst(errors)[0] <= 2.0, errors
    out = pl.read_csv(dst, infer_schema=False)
    assert out.columns == engine.columns
    for name in PASSED_THROUGH:  # unchanged text: ISO timestamps are not reformatted
        assert out[name].to_list() == engine[name].to_list(), name
    # missing cells stay empty, and a constant column is exactly 0
    assert out["a"][1] is None and out["constant"][3] is None
    assert {float(v) for v in out["constant"].drop_nulls()} == {0.0}


def test_z_errors_stops_on_an_output_with_other_columns(
    tiny: tuple[Path, standardize_accuracy.Reference, pl.DataFrame], tmp_path: Path
) -> None:
    _, ref, engine = tiny
    bad = tmp_path / "bad.csv"
    engine.drop("name").write_csv(bad)
    with pytest.raises(SystemExit, match="expected"):
        standardize_accuracy.z_errors(ref, bad, "bad")


def test_the_peers_use_the_engines_id_rule() -> None:
    for name in ("id", "ID", "series_id", "Series_ID", "idx", "ideal", "paid", "x"):
        assert standardize_variants.is_id_name(name) == is_id_name(name), name


# --------------------------------------------------------------------------- goals


def _rows(
    size: float, engine_wall: float, peer_wall: float, peak: float = 250.0
) -> list[standardize_variants.Row]:
    """Rows of one size: the engine, every peer at peer_wall, the copy; every error 1 ulp."""

    def row(name: str, wall: float, mib: float = 300.0) -> standardize_variants.Row:
        return standardize_variants.Row(
            size, name, [standardize_variants.Run(wall, wall, mib)], ulp=1.0, dz=1e-16
        )

    engine = row(standardize_variants.ENGINE.name, engine_wall, peak)
    return [
        engine,
        *(row(p.name, peer_wall) for p in standardize_variants.PEERS),
        row(standardize_variants.COPY.name, 0.5),
    ]


def _accuracy(engine_ulp: float = 1.0) -> standardize_variants.Accuracy:
    errors = {
        v.name: {"a": (engine_ulp if v is standardize_variants.ENGINE else 1e9, 1e-3)}
        for v in standardize_variants.Z_VARIANTS
    }
    return standardize_variants.Accuracy(10, errors, {"a": (0.0, 0.0)})


def _failed(goals: list[standardize_variants.Goal]) -> list[str]:
    return [g.name for g in goals if g.enforced and not g.ok]


def test_the_goals_pass_when_the_engine_leads_within_memory_and_accuracy() -> None:
    goals = standardize.goals(
        _rows(1.0, 5.0, 6.0) + _rows(2.0, 10.0, 12.0, peak=270.0), _accuracy(), quick=False
    )
    assert _failed(goals) == []
    names = [g.name for g in goals]
    assert "wall below duckdb at 2 GB" in names and "peak memory <= 512 MiB at 1 GB" in names
    assert any(n.startswith("peak memory growth 1 -> 2 GB") for n in names)
    assert not any("copy" in n for n in names)  # the copy is information, not a goal


def test_losing_to_one_peer_fails_and_a_tie_is_not_a_lead() -> None:
    rows = _rows(1.0, 5.0, 6.0)
    rows[2].runs = [
        standardize_variants.Run(4.0, 4.0, 300.0),
        standardize_variants.Run(9.0, 9.0, 300.0),
    ]  # best run counts
    rows[3].runs = [standardize_variants.Run(5.0, 5.0, 300.0)]
    assert _failed(standardize.goals(rows, _accuracy(), quick=False)) == [
        f"wall below {rows[2].variant} at 1 GB",
        f"wall below {rows[3].variant} at 1 GB",
    ]


def test_memory_over_the_limit_or_growing_fails() -> None:
    assert _failed(standardize.goals(_rows(1.0, 5.0, 6.0, peak=600.0), _accuracy(), quick=False)) == [
        "peak memory <= 512 MiB at 1 GB"
    ]
    rows = _rows(1.0, 5.0, 6.0, peak=250.0) + _rows(2.0, 5.0, 6.0, peak=300.0)
    assert _failed(standardize.goals(rows, _accuracy(), quick=False)) == [
        "peak memory growth 1 -> 2 GB <= 1.1x"
    ]


def test_accuracy_fails_on_either_file_and_peers_accuracy_is_not_held() -> None:
    assert _failed(standardize.goals(_rows(1.0, 5.0, 6.0), _accuracy(engine_ulp=5.0), quick=True)) == [
        "accuracy: every z within 4 ulp on the accuracy file"
    ]
    rows = _rows(1.0, 5.0, 6.0)
    rows[0].ulp = INF
    assert _failed(standardize.goals(rows, _accuracy(), quick=True)) == [
        "accuracy: every z within 4 ulp at 1 GB"
    ]


def test_quick_holds_only_accuracy() -> None:
    goals = standardize.goals(_rows(1.0, 9.0, 6.0, peak=900.0), _accuracy(), quick=True)
    assert _failed(goals) == []
    assert {g.name for g in goals if g.enforced} == {
        "accuracy: every z within 4 ulp at 1 GB",
        "accuracy: every z within 4 ulp on the accuracy file",
    }


def test_a_peer_that_could_not_run_is_reported_not_held_against_the_engine() -> None:
    rows = _rows(1.0, 5.0, 6.0)
    rows[2].runs, rows[2].skipped = [], "needs ~14.0 GB, 8.0 GB available"
    goals = standardize.goals(rows, _accuracy(), quick=False)
    assert _failed(goals) == []
    (skipped,) = [g for g in goals if "needs" in g.name]
    assert not skipped.enforced and skipped.verdict == "not measured (info)"


# --------------------------------------------------------------------------- measurement


def test_the_peak_is_the_commands_own_not_the_benchmarks(tmp_path: Path) -> None:
    """A child spawned straight from a large process would report that process's peak."""
    held = np.ones(256 << 17)  # 256 MiB, touched
    run = standardize_runs.measure([sys.executable, "-c", "pass"], tmp_path / "pass.log")
    assert held.sum() == 256 << 17
    assert 0 < run.peak_mib < 100 and run.wall < 5 and run.cpu < 5
    assert list(tmp_path.iterdir()) == [tmp_path / "pass.log"]


def test_a_failing_command_stops_the_benchmark_with_its_stderr(tmp_path: Path) -> None:
    code = "import sys; sys.stderr.write('broken input'); sys.exit(3)"
    with pytest.raises(SystemExit, match="failed with 3:\nbroken input"):
        standardize_runs.measure([sys.executable, "-c", code], tmp_path / "bad.log")
