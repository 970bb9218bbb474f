"""The forecast-write benchmark runs end to end on a small input (it measures; this only runs it)."""

from __future__ import annotations

import pytest

from benchmarks import forecast_write
from tests.mysql_server import require_mariadb_binaries


@pytest.mark.mysql
def test_the_benchmark_writes_every_row_of_every_variant(capsys: pytest.CaptureFixture[str]) -> None:
    require_mariadb_binaries("the benchmark")
    forecast_write.main(
        ["--rows", "400", "--latency-ms", "1", "--scale-series", "3"]
    )  # ratios are noise here
    out = capsys.readouterr().out
    assert out.count("batched-upsert") == 2 and out.count("per-row-insert") == 2
    assert "at scale: 3 series x 168 steps = 504 rows" in out
    trips = {
        (line.split()[0], line.split()[1]): int(line.split()[-1].replace(",", ""))
        for line in out.splitlines()
        if line.startswith(("per-row-insert", "batched-upsert"))
    }
    # one round trip per INSERT at least, plus the handshake and the commit; the batched write
    # needs one per 500 rows plus those, plus a fixed dozen or so that check and create the run
    # history's layout (tables, view) and record the run (the proxy may coalesce a few writes)
    assert all(n >= 400 for (variant, _), n in trips.items() if variant == "per-row-insert"), trips
    assert all(n <= 30 for (variant, _), n in trips.items() if variant == "batched-upsert"), trips
