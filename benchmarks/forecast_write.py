"""Benchmark of write-forecast's batched upsert against the original tutorial's one INSERT per row.

Run ``.venv/bin/python benchmarks/forecast_write.py [--rows N] [--latency-ms MS]`` (``make bench``).

One run, one throwaway MariaDB (TLS required, as the tests' and the runner's), four variants:
the repository write-forecast uses (``MySQLForecastRepository``: multi-row
``INSERT ... ON DUPLICATE KEY UPDATE`` of 500 rows in one transaction) and the per-row
``INSERT``, each through a TCP proxy on 127.0.0.1 that adds no delay, then ``--latency-ms``
(default 1) to every client-to-server write, i.e. to every round trip. The proxy counts those
writes: the round trips. Each variant writes into a fresh table; the table gives seconds,
rows/s, round trips and the batched/per-row ratio per latency. The goal: the batched write is
at least 20x the per-row one with the latency added; the exit status is 1 when it is not.

``--scale-series N`` (default 1000) then runs write-forecast's whole path once at scale: a
manifest, the transform's two outputs (future and backtest) and the baseline file of N series x
168 steps go through ``selected_rows`` (the Lambda's parsers, checks and per-series selection;
the model wins every other series) and the repository, in one transaction, without the proxy;
it prints the seconds of each part and the process's peak RSS growth, to hold against the
function's 512 MB and 300 s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from localrun.lambdas import load  # noqa: E402
from localrun.mariadb import MySQLDatabase, MySQLServer, ThrowawayMariaDB  # noqa: E402

GOAL_RATIO = 20.0
_CHUNK = 1 << 16


class DelayProxy:
    """A TCP proxy from 127.0.0.1:<port> to ``upstream`` that sleeps ``delay`` seconds before it
    forwards each client write, and counts those writes (the round trips)."""

    def __init__(self, upstream: tuple[str, int], delay: float) -> None:
        self.upstream, self.delay = upstream, delay
        self.round_trips = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, upstream: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(_CHUNK):
                if upstream:
                    with self._lock:
                        self.round_trips += 1
                    if self.delay:
                        time.sleep(self.delay)
                target.sendall(data)
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stopped.set()
        self._listener.close()


@dataclass(frozen=True)
class Result:
    variant: str
    latency_ms: float
    rows: int
    seconds: float
    round_trips: int

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


def forecast_rows(count: int) -> list[Any]:
    """``count`` rows: series of 168 hourly steps, as write-forecast builds them."""
    row_type = load("write_forecast", "forecast_rows").ForecastRow
    start = datetime(2024, 1, 1)
    return [
        row_type(
            f"sensor-{i // 168:04d}",
            start + timedelta(hours=i % 168),
            9.0 + i,
            10.0 + i,
            11.0 + i,
            10.0 + i,
            "run-1",
        )
        for i in range(count)
    ]


def per_row_insert(connect: Callable[[], Any], table: str, rows: list[Any]) -> None:
    """The tutorial's write: one ``INSERT`` per row, one commit at the end."""
    conn = connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                f"CREATE TABLE `{table}` (series_id VARCHAR(255), forecast_time DATETIME, p10 DOUBLE, "
                "p50 DOUBLE, p90 DOUBLE, mean DOUBLE, run_id VARCHAR(80))"
            )
            for r in rows:
                cur.execute(
                    f"INSERT INTO `{table}` VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (r.series_id, r.forecast_time, r.p10, r.p50, r.p90, r.mean, r.run_id),
                )
        conn.commit()
    finally:
        conn.close()


def batched_upsert(connect: Callable[[], Any], table: str, rows: list[Any]) -> None:
    """write-forecast's repository: multi-row upserts in one transaction."""
    repository = load("write_forecast", "forecast_repository").MySQLForecastRepository
    repository(connect, table).write(rows)


@contextlib.contextmanager
def through(server: MySQLServer, delay: float) -> Iterator[tuple[MySQLServer, DelayProxy]]:
    proxy = DelayProxy((server.host, server.port), delay)
    try:
        yield replace(server, port=proxy.port), proxy
    finally:
        proxy.close()


def measure(
    database: MySQLDatabase, variant: str, write: Callable[..., None], rows: list[Any], latency_ms: float
) -> Result:
    table = f"bench_{variant.replace('-', '_')}_{int(latency_ms * 1000)}"
    # write-forecast's layout: a view of that name over <name>_rows and <name>_runs
    database.query(f"DROP VIEW IF EXISTS `{table}`")
    database.query(f"DROP TABLE IF EXISTS `{table}`, `{table}_rows`, `{table}_runs`, `{table}_legacy`")
    with through(database.server, latency_ms / 1000) as (proxied, proxy):

        def connect() -> Any:
            return proxied.connect(database.name, autocommit=False)

        start = time.perf_counter()
        write(connect, table, rows)
        seconds = time.perf_counter() - start
    (count,) = database.query(f"SELECT COUNT(*) FROM `{table}`")[0]
    if count != len(rows):
        sys.exit(f"{variant}: {count} rows in the table, expected {len(rows)}")
    return Result(variant, latency_ms, len(rows), seconds, proxy.round_trips)


def run_files(series: int, steps: int) -> Any:
    """The four files write-forecast reads for ``series`` hourly series of ``steps`` points: the
    manifest, the future and backtest outputs, and the baseline file (the model wins even series)."""
    manifest = {
        "run_id": "run-scale",
        "freq": "1H",
        "prediction_length": steps,
        "series": [
            {"id": f"sensor-{i:04d}", "start": "2024-01-01 00:00:00", "length": 672} for i in range(series)
        ],
    }

    def line(mean: list[float]) -> str:
        quantiles = {"0.1": [m - 5 for m in mean], "0.5": mean, "0.9": [m + 5 for m in mean]}
        return json.dumps({"quantiles": quantiles, "mean": mean})

    future, backtest, baseline = [], [], []
    for i in range(series):
        actual = [100.0 + i + k / 7 for k in range(steps)]
        future.append(line([100.0 + i + k / 5 for k in range(steps)]))
        backtest.append(line([a + (0.5 if i % 2 == 0 else 3.0) for a in actual]))
        naive = [a + 1.0 for a in actual]
        band = {"0.1": [v - 5 for v in naive], "0.5": naive, "0.9": [v + 5 for v in naive]}
        ahead = {"0.1": [v - 5 for v in naive], "0.5": naive, "0.9": [v + 5 for v in naive], "mean": naive}
        baseline.append(
            json.dumps({"season": 168, "losses": {"168": 1.0}, "actual": actual, "scale": 2.0,
                        "backtest": band, "future": ahead})
        )  # fmt: skip
    rows_module = load("write_forecast", "forecast_rows")
    return rows_module.RunFiles(
        manifest=(json.dumps(manifest), "series.json"),
        future=("\n".join(future) + "\n", "test.json.out"),
        backtest=("\n".join(backtest) + "\n", "train.json.out"),
        baseline=("\n".join(baseline) + "\n", "baseline.json"),
    )


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scale_run(database: MySQLDatabase, series: int, steps: int = 168) -> None:
    """write-forecast's parse, selection and write of ``series`` x ``steps`` rows, timed, with peak
    RSS growth."""
    rows_module = load("write_forecast", "forecast_rows")
    repository = load("write_forecast", "forecast_repository").MySQLForecastRepository
    before = _peak_mib()
    files = run_files(series, steps)  # the Lambda holds the four texts too
    start = time.perf_counter()
    rows, selection = rows_module.selected_rows(
        files, freq="1H", prediction_length=steps, run_id="run-scale", metric="mean_wQuantileLoss",
        max_loss_ratio=1.0,
    )  # fmt: skip
    parsed = time.perf_counter()
    written = repository(lambda: database.server.connect(database.name, autocommit=False), "scale").write(
        rows
    )
    done = time.perf_counter()
    (count,) = database.query("SELECT COUNT(*) FROM `scale`")[0]
    if count != written or written != series * steps:
        sys.exit(f"scale run: {count} rows in the table, {written} written, expected {series * steps}")
    sources = selection.figures()["series"]
    if sources != {"model": (series + 1) // 2, "seasonal-naive": series // 2}:
        sys.exit(f"scale run: the selection took {sources}, expected the model on every even series")
    mib = sum(len(text) for text, _ in (files.manifest, files.future, files.backtest, files.baseline)) / 2**20
    print(
        f"at scale: {series:,} series x {steps} steps = {written:,} rows (four files, {mib:.0f} MiB; "
        f"series per source {sources}): parse and select {parsed - start:.1f} s, write "
        f"{done - parsed:.1f} s in one transaction, peak RSS +{_peak_mib() - before:.0f} MiB"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows per variant (default: %(default)s)")
    parser.add_argument(
        "--latency-ms", type=float, default=1.0, help="added per round trip (default: %(default)s)"
    )
    parser.add_argument(
        "--scale-series",
        type=int,
        default=1000,
        help="series of the at-scale run, 0 to skip (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    throwaway = ThrowawayMariaDB.from_path()
    server = throwaway.start()
    try:
        with server.scratch_database("bench") as database:
            if args.scale_series:  # first: its peak RSS growth is measured from the process's start
                scale_run(database, args.scale_series)
            rows = forecast_rows(args.rows)
            results = [
                measure(database, variant, write, rows, latency)
                for latency in (0.0, args.latency_ms)
                for variant, write in (("batched-upsert", batched_upsert), ("per-row-insert", per_row_insert))
            ]
    finally:
        throwaway.stop()
    print(f"forecast write: {args.rows:,} rows per variant, MariaDB over TLS through a TCP proxy")
    print(f"{'variant':16} {'latency ms':>10} {'seconds':>8} {'rows/s':>10} {'round trips':>11}")
    for r in results:
        speed = f"{r.seconds:8.2f} {r.rows_per_second:10,.0f}"
        print(f"{r.variant:16} {r.latency_ms:10.1f} {speed} {r.round_trips:11,}")
    ok = True
    for latency in (0.0, args.latency_ms):
        batched, per_row = (next(r for r in results if r.variant == v and r.latency_ms == latency)
                            for v in ("batched-upsert", "per-row-insert"))  # fmt: skip
        ratio = per_row.seconds / batched.seconds
        goal = latency > 0
        verdict = (
            ("meets" if ratio >= GOAL_RATIO else "MISSES") + f" the {GOAL_RATIO:.0f}x goal"
            if goal
            else "info"
        )
        print(f"batched / per-row at {latency:.1f} ms: {ratio:.1f}x ({verdict})")
        ok = ok and (not goal or ratio >= GOAL_RATIO)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
