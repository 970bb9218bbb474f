"""Exact per-column statistics: shifted sums, the mean correctly rounded, the std within an ulp."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from .model import InputError

if TYPE_CHECKING:
    from .classify import _Locator

_EPS = 2.0**-52
_SPLIT = 1.5 * 2.0**52  # adding _SPLIT * g rounds to a multiple of g
# --------------------------------------------------------------------------- statistics


@dataclass
class _Column:
    index: int
    name: str
    kind: str  # "numeric" (candidate until pass 1 ends), "id", "excluded", "text", "timestamp"
    forced: bool = False
    shift: float = 0.0
    scale: float = 1.0
    g1: float = 1.0
    g2: float = 1.0
    has_nan: bool = False
    count: int = 0
    mean: float | None = None
    std: float | None = None
    done: bool = False
    refines: int = 0

    @property
    def numeric(self) -> bool:
        return self.kind == "numeric"


def _pow2(exponent: float) -> float:
    return 2.0 ** max(-1000, min(960, math.ceil(exponent)))


def _pick_shift(mean: float, spread: float) -> float:
    """K: the mean when it is large (x - K is then exact), else 0 (d = x, exact)."""
    return mean if abs(mean) >= 2 * spread else 0.0


def _rms(values: np.ndarray) -> float:
    """Root mean square, scaled by the largest value so that it cannot underflow."""
    top = float(np.max(np.abs(values))) if len(values) else 0.0
    if not 0 < top < math.inf:
        return 0.0
    return top * math.sqrt(float(np.mean(np.square(values / top))))


def _scale_for(spread: float) -> float:
    """1.0 for ordinary magnitudes, else the power of two that brings `spread` near 1."""
    if not math.isfinite(spread) or spread <= 0 or 2.0**-100 <= spread <= 2.0**100:
        return 1.0
    return 2.0 ** max(-1000, min(1000, round(-math.log2(spread))))


def _grid(n: float, sum_sq: float) -> tuple[float, float]:
    """Grids (g1, g2) on which the high parts of sum(d) and sum(d*d) add up exactly.

    Valid for n values whose sum of squares is at most sum_sq: every partial sum then
    stays below 2**52 grid steps (checked after the pass, see _finish).
    """
    sum_sq = min(max(sum_sq, 2.0**-1000), 2.0**1000) if math.isfinite(sum_sq) else 2.0**1000
    return _pow2(0.5 * math.log2(max(n, 1.0) * sum_sq) - 50), _pow2(math.log2(sum_sq) - 50)


def _stats_exprs(col: _Column) -> list[pl.Expr]:
    """Shifted, split sums: d = (x - K) * scale = h + l, h on grid g1 summed exactly; same for d*d."""
    x = pl.col(col.name)
    if col.has_nan:
        x = x.fill_nan(None)
    d = x - col.shift if col.shift else x
    if col.scale != 1.0:
        d = d * col.scale  # a power of two: exact, keeps d*d a normal double
    c1, c2 = _SPLIT * col.g1, _SPLIT * col.g2
    h1 = (d + c1) - c1
    q = d * d
    h2 = (q + c2) - c2
    i = col.index
    exprs = [
        x.count().alias(f"{i}:n"),
        h1.sum().alias(f"{i}:h1"),
        (d - h1).sum().alias(f"{i}:l1"),
        h2.sum().alias(f"{i}:h2"),
        (q - h2).sum().alias(f"{i}:l2"),
    ]
    if col.has_nan:
        exprs.append(pl.col(col.name).is_infinite().sum().alias(f"{i}:inf"))
    return exprs


def _finish(col: _Column, row: dict[str, Any], label: str, locate: _Locator) -> None:
    """Turn one pass's sums into mean/std, or schedule another pass (NaN, grid, shift)."""
    i = col.index
    n = int(row[f"{i}:n"])
    parts = [float(row[f"{i}:{k}"] or 0.0) for k in ("h1", "l1", "h2", "l2")]
    if row.get(f"{i}:inf"):
        raise InputError(
            label, "infinite value in a numeric column", line=locate(col, "inf"), column=col.name
        )
    if not all(map(math.isfinite, parts)):
        if col.has_nan:
            raise InputError(label, "values too large to standardize (|x| > ~1e150)", column=col.name)
        col.has_nan = True  # NaN or inf: next pass drops NaN and counts inf
        return
    col.count = n
    if n == 0:
        col.done = True
        return
    h1, l1, h2, l2 = parts
    approx_sq = h2 + l2
    # Exact high sums need every partial sum (<= sum |h|) to stay below 2**53 * g.
    exact = math.sqrt(n * approx_sq) * 1.01 + n * col.g1 <= 2.0**52 * col.g1 and (
        approx_sq * 1.01 + n * col.g2 <= 2.0**52 * col.g2
    )
    s1 = Fraction(h1) + Fraction(l1)
    s2 = Fraction(h2) + Fraction(l2)
    scale = Fraction(col.scale)
    mean = Fraction(col.shift) + s1 / (n * scale)
    var = max((s2 - s1 * s1 / n) / n, Fraction(0))  # of d, in scaled units
    col.mean = float(mean)
    col.std = math.sqrt(float(var)) / col.scale
    # Another pass when: the grids were too fine, K was far from the mean (cancellation),
    # or d*d left the normal range (scale), including squares that underflowed to 0.
    spread = col.std or abs(col.mean - col.shift)
    scaled = spread * col.scale
    rescale = spread > 0 and not 2.0**-200 <= scaled <= 2.0**200
    far = abs(col.mean - col.shift) > 2 * col.std
    if (not exact or far or rescale) and col.refines < 3:
        col.refines += 1
        col.shift = _pick_shift(col.mean, col.std)
        if rescale:
            col.scale = _scale_for(spread)
        terms = [col.std * col.scale, (col.mean - col.shift) * col.scale, col.mean * col.scale * _EPS]
        col.g1, col.g2 = _grid(n, 4 * n * math.fsum(t * t for t in terms))
        return
    if col.std <= 4 * _EPS * abs(col.mean):
        col.std = 0.0
    col.done = True
