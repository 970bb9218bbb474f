"""The standardize benchmark's accuracy check: each variant's z-scores against a two-pass
reference computed with exact sums, in units in the last place."""

from __future__ import annotations

import math
import shutil
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks.standardize_runs import (
    run_variant,
    write_accuracy_csv,
)
from benchmarks.standardize_variants import (
    ENGINE,
    Z_VARIANTS,
    Accuracy,
    Errors,
    is_id_name,
)

# --------------------------------------------------------------------------- accuracy


def reference(values: np.ndarray) -> tuple[float, float]:
    """Corrected two-pass mean and population std with math.fsum (see the module docstring)."""
    xs = values.tolist()
    n = len(xs)
    total = math.fsum(xs)
    residual = math.fsum([*xs, -total])  # exact sum = total + residual (up to one rounding)
    mean = float((Fraction(total) + Fraction(residual)) / n)
    d = values - mean
    var = (math.fsum((d * d).tolist()) - math.fsum(d.tolist()) ** 2 / n) / n
    std = math.sqrt(max(var, 0.0))
    return mean, 0.0 if std <= 4 * 2.0**-52 * abs(mean) else std


def ulp_errors(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """|got - want| in ulp of want (``np.spacing``), per value.

    0 where both are missing (NaN); inf where only one is, or where got is infinite.
    """
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        err = np.abs(got - want) / np.spacing(np.abs(want))
    return _mark_missing(err, got, want)


def abs_errors(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """|got - want| per value, with ulp_errors' rules for missing and infinite values."""
    with np.errstate(invalid="ignore"):
        return _mark_missing(np.abs(got - want), got, want)


def _mark_missing(err: np.ndarray, got: np.ndarray, want: np.ndarray) -> np.ndarray:
    gone, absent = np.isnan(got), np.isnan(want)
    err[gone != absent] = np.inf
    err[gone & absent] = 0.0
    err[np.isinf(got)] = np.inf
    return err


@dataclass(frozen=True)
class Reference:
    """A file's header and rows, and per numeric column its fsum mean, std and z (NaN: missing)."""

    header: tuple[str, ...]
    rows: int
    stats: dict[str, tuple[float, float]]
    z: dict[str, np.ndarray]


def make_reference(src: Path) -> Reference:
    """The fsum reference of every numeric column of src (numbers, not ids; as the engine decides)."""
    frame = pl.read_csv(src, infer_schema_length=10_000)
    numeric = [c for c, t in frame.schema.items() if t.is_numeric() and not is_id_name(c)]
    stats, zs = {}, {}
    for name in numeric:
        x = frame[name].cast(pl.Float64).to_numpy()
        present = ~np.isnan(x)
        mean, std = reference(x[present])
        z = np.full_like(x, np.nan)
        z[present] = 0.0 if std == 0 else (x[present] - mean) / std
        stats[name], zs[name] = (mean, std), z
    return Reference(tuple(frame.columns), frame.height, stats, zs)


def z_errors(ref: Reference, out: Path, variant: str) -> Errors:
    """(worst ulp, worst |dz|) per numeric column of out against ref; exits when its shape differs."""
    frame = pl.read_csv(out, infer_schema_length=0, schema_overrides={c: pl.Float64 for c in ref.z})
    if tuple(frame.columns) != ref.header or frame.height != ref.rows:
        sys.exit(f"{variant} wrote {frame.columns} x {frame.height} rows, expected {ref.header} x {ref.rows}")
    result = {}
    for name, want in ref.z.items():
        got = frame[name].to_numpy()
        result[name] = (
            float(np.max(ulp_errors(got, want), initial=0.0)),
            float(np.max(abs_errors(got, want), initial=0.0)),
        )
    return result


def worst(errors: Errors) -> tuple[float, float]:
    """The worst ulp and the worst |dz| over the columns."""
    return max((e[0] for e in errors.values()), default=0.0), max(
        (e[1] for e in errors.values()), default=0.0
    )


def accuracy(rows: int, work: Path) -> Accuracy:
    """Every z-variant once on the accuracy file; the engine's mean and std from its stats file."""
    work.mkdir(parents=True, exist_ok=True)
    src = work / "accuracy.csv"
    write_accuracy_csv(src, rows)
    ref = make_reference(src)
    errors: dict[str, Errors] = {}
    engine_stats: dict[str, tuple[float, float]] = {}
    for v in Z_VARIANTS:
        _, dst = run_variant(v, src, work)
        errors[v.name] = z_errors(ref, dst, v.name)
        if v is ENGINE:
            stats = pl.read_json(dst.parent / "stats" / f"{dst.stem}.json")["columns"][0]
            for name, (mean, std) in ref.stats.items():
                got_mean, got_std = stats[name]["mean"], stats[name]["std"]
                std_ulp = abs(got_std - std) / math.ulp(std) if std else (0.0 if got_std == 0 else math.inf)
                engine_stats[name] = (abs(got_mean - mean) / math.ulp(mean), std_ulp)
        shutil.rmtree(work / "out")
    src.unlink()
    return Accuracy(rows, errors, engine_stats)
