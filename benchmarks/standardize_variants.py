"""The standardize benchmark's constants, the variants it runs (the engine and its peers, each a
small program) and the records of its results."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROGRAM = ROOT / "processing" / "standardize"  # the package, run as the container runs it
DATA_DIR = Path(__file__).resolve().parent / "data"
GENERATOR_VERSION = 1

PEAK_LIMIT_MIB = 512.0
PEAK_GROWTH_LIMIT = 1.1
ULP_LIMIT = 4.0
#: A peer this many times slower than the engine in the first round is not run again.
SLOW_PEER_FACTOR = 2.0

# --------------------------------------------------------------------------- variants
# Each peer is run as ``python -c CODE SRC DST`` and writes what the engine writes: numeric
# columns (a number type, name not ``id`` or ``*_id``, the engine's is_id_name) as z-scores
# with the population std, z = 0 where std <= 4 eps |mean| (the engine's constant column),
# missing cells empty, every other column unchanged, in the header's order.

COPY_CODE = "import sys, polars as pl; pl.scan_csv(sys.argv[1]).sink_csv(sys.argv[2])"

DUCKDB_CODE = """
import sys
import duckdb
src, dst = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
# Numbers are integers or doubles; anything else, ISO timestamps included, stays text.
scan = "read_csv(?, auto_type_candidates = ['BIGINT', 'DOUBLE', 'VARCHAR'])"
columns = [(n, t) for n, t, *_ in con.execute(f"DESCRIBE SELECT * FROM {scan}", [src]).fetchall()]
def q(name):
    return '"' + name.replace('"', '""') + '"'
def is_id(name):
    return name.lower() == "id" or name.lower().endswith("_id")
num = [n for n, t in columns if t in ("BIGINT", "DOUBLE") and not is_id(n)]
means = stds = ()
if num:  # two passes: the mean, then the population std over x - mean
    means = con.execute(f"SELECT {', '.join(f'avg({q(c)})' for c in num)} FROM {scan}", [src]).fetchone()
    sql = ", ".join(f"sqrt(avg(({q(c)} - ?::DOUBLE) ^ 2))" for c in num)
    stds = con.execute(f"SELECT {sql} FROM {scan}", [*means, src]).fetchone()
stats = dict(zip(num, zip(means, stds)))
select, params = [], []
for name, _ in columns:
    mean, std = stats.get(name, (None, None))
    if name not in stats or mean is None:
        select.append(q(name))
    elif std <= 4 * 2.0**-52 * abs(mean):
        select.append(f"CASE WHEN {q(name)} IS NULL THEN NULL ELSE 0.0 END AS {q(name)}")
    else:
        select.append(f"({q(name)} - ?::DOUBLE) / ?::DOUBLE AS {q(name)}")
        params += [mean, std]
target = "'" + dst.replace("'", "''") + "'"
con.execute(f"COPY (SELECT {', '.join(select)} FROM {scan}) TO {target} (FORMAT csv, HEADER)", [*params, src])
"""

PANDAS_CODE = """
import sys
import pandas as pd
# date_format: pyarrow then tries only this strptime format, which no value matches, so ISO
# timestamps stay text and pass through unchanged (by default pyarrow parses them).
df = pd.read_csv(sys.argv[1], engine="pyarrow", dtype_backend="pyarrow", date_format="%%not-a-date")
for c in df.select_dtypes("number").columns:
    if c.lower() == "id" or c.lower().endswith("_id"):
        continue
    x = df[c]
    mean, std = x.mean(), x.std(ddof=0)
    if pd.isna(mean):
        continue
    if std <= 4 * 2.0**-52 * abs(mean):
        df[c] = pd.Series(0.0, index=df.index).where(x.notna())
    else:
        df[c] = (x - mean) / std
df.to_csv(sys.argv[2], index=False)
"""

POLARS_CODE = """
import sys
import polars as pl
df = pl.read_csv(sys.argv[1])
def is_id(name):
    return name.lower() == "id" or name.lower().endswith("_id")
num = [c for c, t in df.schema.items() if t.is_numeric() and not is_id(c)]
x = [pl.col(c).cast(pl.Float64) for c in num]
means = [e.mean().alias(f"m{i}") for i, e in enumerate(x)]
stats = df.select(means + [e.std(ddof=0).alias(f"s{i}") for i, e in enumerate(x)])
exprs = []
for i, (c, e) in enumerate(zip(num, x)):
    mean, std = stats[f"m{i}"][0], stats[f"s{i}"][0]
    if mean is None:
        continue
    if std <= 4 * 2.0**-52 * abs(mean):
        exprs.append(pl.when(e.is_null()).then(None).otherwise(pl.lit(0.0)).alias(c))
    else:
        exprs.append(((e - mean) / std).alias(c))
df.with_columns(exprs).write_csv(sys.argv[2])
"""


@dataclass(frozen=True)
class Variant:
    """A program of the benchmark: ``python -c code SRC DST``, or the engine when code is None.

    memory_factor: input multiples it holds in memory (0: bounded, never skipped).
    """

    name: str
    code: str | None
    peer: bool = True
    memory_factor: float = 0.0


ENGINE = Variant("standardize", None, peer=False)
PEERS = (
    Variant("duckdb", DUCKDB_CODE),
    # Peaks measured here: pandas 5.5x the input at 100 MB, polars eager 1.6x at 1 GB.
    Variant("pandas pyarrow", PANDAS_CODE, memory_factor=7.0),
    Variant("polars eager", POLARS_CODE, memory_factor=2.5),
)
COPY = Variant("polars copy", COPY_CODE, peer=False)
VARIANTS = (ENGINE, *PEERS, COPY)
Z_VARIANTS = (ENGINE, *PEERS)


def is_id_name(name: str) -> bool:
    """The engine's id rule: ``id`` or a name ending in ``_id``, case-insensitive."""
    return name.lower() == "id" or name.lower().endswith("_id")


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    peak_mib: float


#: column -> (worst z error in ulp, worst |dz|)
Errors = dict[str, tuple[float, float]]


@dataclass
class Row:
    """One variant at one size: its runs, output size and first run's worst errors (NaN: none)."""

    size_gb: float
    variant: str
    runs: list[Run] = field(default_factory=list)
    out_bytes: int = 0
    ulp: float = math.nan
    dz: float = math.nan
    skipped: str = ""

    @property
    def peer(self) -> bool:
        return self.variant in {p.name for p in PEERS}

    @property
    def wall(self) -> float:
        return min((r.wall for r in self.runs), default=math.nan)

    @property
    def cpu(self) -> float:
        return min((r.cpu for r in self.runs), default=math.nan)

    @property
    def peak(self) -> float:
        return max((r.peak_mib for r in self.runs), default=math.nan)


@dataclass(frozen=True)
class Accuracy:
    """The accuracy file's errors per variant, and the engine's mean and std errors in ulp."""

    rows: int
    errors: dict[str, Errors]
    engine_stats: dict[str, tuple[float, float]]


@dataclass(frozen=True)
class Goal:
    name: str
    measured: float
    limit: float
    unit: str
    ok: bool
    enforced: bool = True

    @property
    def verdict(self) -> str:
        if math.isnan(self.measured):
            return "not measured" + ("" if self.enforced else " (info)")
        if self.enforced:
            return "PASS" if self.ok else "FAIL"
        return ("ok" if self.ok else "missed") + " (info)"
