"""The run history: runs and rows tables, the latest-forecast view, idempotent re-runs, and the move
from the single forecast table, on a real MariaDB and on the offline runner's SQLite twin alike."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import run_history
from forecast_repository import ForecastWriteFailed, RunRejected, SchemaMigrationFailed
from forecast_rows import ConfigurationError
from run_history import RunRecord, Tables

from localrun.sqlite_repository import SQLiteForecastRepository
from tests.forecast.write_forecast_support import (
    LEGACY_SQLITE_TABLE,
    TABLE,
    repository,
    rows_for,
    runs,
    stored_rows,
    table_rows,
    table_type,
    write_legacy,
)
from tests.mysql_server import MySQLDatabase


def test_the_derived_names_fit_mysqls_identifier_limit() -> None:
    longest = "t" * run_history.MAX_TABLE_LENGTH
    assert Tables(longest).legacy == longest + "_legacy" and len(Tables(longest).legacy) == 64
    assert (Tables("forecast").runs, Tables("forecast").rows) == ("forecast_runs", "forecast_rows")
    with pytest.raises(ConfigurationError, match=r"FORECAST_TABLE 't{58}' is 58 characters; at most 57"):
        Tables("t" * 58)
    with pytest.raises(ConfigurationError, match=r"^FORECAST_TABLE"):
        Tables("bad-name")


# --------------------------------------------------------------------------- both backends


@dataclass
class Store:
    """A repository and its tables read back as plain values (times as text)."""

    repo: Any
    query: Callable[[str], list[tuple[Any, ...]]]

    def view(self) -> list[tuple[Any, ...]]:
        """``(series_id, forecast_time, p50, run_id)`` of the view."""
        found = self.query(f"SELECT series_id, forecast_time, p50, run_id FROM {TABLE} ORDER BY 1, 2")
        return [(s, str(t)[:19], p, r) for s, t, p, r in found]

    def rows(self) -> list[tuple[Any, ...]]:
        """``(run_id, series_id, p50)`` of every stored row."""
        return self.query(f"SELECT run_id, series_id, p50 FROM {TABLE}_rows ORDER BY 1, 2, forecast_time")

    def runs(self) -> list[tuple[Any, ...]]:
        """``(run_id, status, gate_decision, rows_written)`` of every run."""
        return self.query(f"SELECT run_id, status, gate_decision, rows_written FROM {TABLE}_runs ORDER BY 1")


@pytest.fixture(params=[pytest.param("mysql", marks=pytest.mark.mysql), "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "mysql":
        db: MySQLDatabase = request.getfixturevalue("mysql_database")
        return Store(repository(db), db.query)
    path = tmp_path / "forecast.sqlite3"

    def query(sql: str) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(path)
        try:
            return [tuple(r) for r in conn.execute(sql)]
        finally:
            conn.close()

    return Store(SQLiteForecastRepository(path, TABLE), query)


def accepted(run_id: str, decision: str = "passed") -> RunRecord:
    return RunRecord(
        run_id, "accepted", series_count=2, model_mean_wquantileloss=0.08, gate_decision=decision
    )


T10, T11 = "2024-01-01 10:00:00", "2024-01-01 11:00:00"


def test_the_view_shows_the_latest_written_run_per_series_and_time(store: Store) -> None:
    store.repo.record_run(accepted("run-1"))
    store.repo.write(rows_for(100.0, "run-1"), accepted("run-1"))
    store.repo.record_run(accepted("run-2"))
    assert {r[3] for r in store.view()} == {"run-1"}  # run-2 is not written yet
    store.repo.write(rows_for(500.0, "run-2", ids=("a",)), accepted("run-2"))
    view = store.view()
    assert [r for r in view if r[0] == "a"][:2] == [("a", T10, 500.0, "run-2"), ("a", T11, 501.0, "run-2")]
    assert {r[3] for r in view if r[0] == "b"} == {"run-1"}  # run-2 has no rows for b
    assert len(view) == 6
    assert [r[0] for r in store.rows()] == ["run-1"] * 6 + ["run-2"] * 3  # earlier runs stay
    assert store.runs() == [("run-1", "written", "passed", 6), ("run-2", "written", "passed", 3)]


def test_rerunning_a_run_replaces_its_record_and_rows_exactly(store: Store) -> None:
    for _ in range(2):
        store.repo.record_run(accepted("run-1"))
        assert store.repo.write(rows_for(100.0, "run-1"), accepted("run-1")) == 6
    assert len(store.rows()) == 6 and store.runs() == [("run-1", "written", "passed", 6)]
    store.repo.write(rows_for(300.0, "run-1", ids=("b",)))  # the same run, fewer series this time
    assert store.rows() == [("run-1", "b", 300.0), ("run-1", "b", 301.0), ("run-1", "b", 302.0)]
    assert store.runs() == [("run-1", "written", "passed", 3)]  # the gate's decision is kept
    assert [r[0] for r in store.view()] == ["b"] * 3


def test_ties_are_broken_by_the_larger_run_id_and_a_rewrite_is_the_latest(store: Store) -> None:
    store.repo.write(rows_for(100.0, "run-2"))
    store.repo.write(rows_for(500.0, "run-1"))
    assert {r[3] for r in store.view()} == {"run-1"}  # written last
    conn_sql = f"UPDATE {TABLE}_runs SET ended_at = '2024-06-01 00:00:00.000000'"
    if isinstance(store.repo, SQLiteForecastRepository):
        conn = sqlite3.connect(store.repo.path)
        with conn:
            conn.execute(conn_sql)
        conn.close()
    else:
        store.query(conn_sql)
    assert {r[3] for r in store.view()} == {"run-2"}  # the same end: the larger run id
    store.repo.write(rows_for(700.0, "run-1"))
    assert {r[3] for r in store.view()} == {"run-1"} and len(store.rows()) == 12


def test_a_rejected_run_is_never_written_or_shown(store: Store) -> None:
    store.repo.write(rows_for(100.0, "run-good"))
    store.repo.record_run(RunRecord("run-bad", "rejected", loss_ratio=2.0, gate_decision="failed"))
    with pytest.raises(RunRejected, match="run run-bad was rejected by the quality gate"):
        store.repo.write(rows_for(900.0, "run-bad"))
    assert {r[3] for r in store.view()} == {"run-good"} and {r[0] for r in store.rows()} == {"run-good"}
    assert store.runs() == [("run-bad", "rejected", "failed", None), ("run-good", "written", None, 6)]


def test_a_write_holds_the_rows_of_one_run(store: Store) -> None:
    with pytest.raises(ValueError, match="exactly one run"):
        store.repo.write(rows_for(1.0, "run-1") + rows_for(2.0, "run-2"))
    with pytest.raises(ValueError, match="the rows are of run run-1, the record of run run-2"):
        store.repo.write(rows_for(1.0, "run-1"), accepted("run-2"))


# --------------------------------------------------------------------------- the move (MariaDB)


def earlier_forecast(db: MySQLDatabase) -> list[tuple[Any, ...]]:
    """Two runs written by the single-table code: old-2 overwrote series a, old-1 still holds b."""
    write_legacy(db, rows_for(100.0, "old-1"))
    write_legacy(db, rows_for(300.0, "old-2", ids=("a",)))
    assert table_type(db, TABLE) == "BASE TABLE"
    before = table_rows(db)
    assert [r[6] for r in before] == ["old-2"] * 3 + ["old-1"] * 3
    return before


def check_moved(db: MySQLDatabase, before: list[tuple[Any, ...]]) -> None:
    assert table_type(db, TABLE) == "VIEW" and table_type(db, f"{TABLE}_legacy") == "BASE TABLE"
    assert table_rows(db) == before  # every row, with its times, through the view
    assert len(stored_rows(db)) == 6
    recorded = {r["run_id"]: r for r in runs(db)}
    assert {k: (r["status"], r["rows_written"]) for k, r in recorded.items() if k.startswith("old")} == {
        "old-1": ("migrated", 3),
        "old-2": ("migrated", 3),
    }
    assert recorded["old-2"]["ended_at"] == max(r[8] for r in before if r[6] == "old-2")
    assert db.query(f"SELECT COUNT(*) FROM `{TABLE}_legacy`") == [(6,)]  # the backup


@pytest.mark.mysql
def test_the_single_table_moves_over_on_the_first_gate_without_losing_rows(
    mysql_database: MySQLDatabase,
) -> None:
    before = earlier_forecast(mysql_database)
    repository(mysql_database).record_run(accepted("new-1"))
    check_moved(mysql_database, before)
    assert repository(mysql_database).write(rows_for(900.0, "new-1"), accepted("new-1")) == 6
    assert {r[6] for r in table_rows(mysql_database)} == {"new-1"}
    assert len(stored_rows(mysql_database)) == 12
    repository(mysql_database).record_run(accepted("new-2"))  # later calls find the move done
    assert table_type(mysql_database, TABLE) == "VIEW" and len(stored_rows(mysql_database)) == 12


@pytest.mark.mysql
@pytest.mark.parametrize("step", ["tables", "copy", "copied", "renamed", "view"])
def test_a_move_interrupted_at_any_step_is_finished_by_the_next_call(
    mysql_database: MySQLDatabase, step: str
) -> None:
    before = earlier_forecast(mysql_database)

    def crash(at: str) -> None:
        if at == step:
            raise RuntimeError(f"crashed after {at}")

    with pytest.raises(ForecastWriteFailed, match=rf"failed at schema.*crashed after {step}.*restartable"):
        repository(mysql_database, after_step=crash).write(rows_for(900.0, "new-1"))
    moved = table_type(mysql_database, TABLE) == "VIEW"
    assert moved == (step == "view")
    if step in ("tables", "copy"):  # the copy's transaction never committed
        assert stored_rows(mysql_database) == [] and runs(mysql_database) == []
    if step in ("copied", "renamed"):
        assert len(stored_rows(mysql_database)) == 6
    assert "new-1" not in {r["run_id"] for r in runs(mysql_database)}

    assert repository(mysql_database).write(rows_for(900.0, "new-1")) == 6
    assert {r[6] for r in table_rows(mysql_database)} == {"new-1"}
    assert len(stored_rows(mysql_database)) == 12  # nothing copied twice
    conn = mysql_database.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP VIEW `{TABLE}`")  # look at the moved rows alone again
            cur.execute(f"DELETE FROM `{TABLE}_rows` WHERE run_id = 'new-1'")
            cur.execute(f"DELETE FROM `{TABLE}_runs` WHERE run_id = 'new-1'")
        conn.commit()
    finally:
        conn.close()
    repository(mysql_database).record_run(accepted("new-2"))  # recreates the view
    check_moved(mysql_database, before)


@pytest.mark.mysql
def test_a_base_table_beside_a_moved_one_is_not_moved(mysql_database: MySQLDatabase) -> None:
    before = earlier_forecast(mysql_database)
    repository(mysql_database).record_run(accepted("new-1"))
    mysql_database.query(f"DROP VIEW `{TABLE}`")
    write_legacy(mysql_database, rows_for(5.0, "old-3"))  # e.g. a rolled-back deployment
    with pytest.raises(SchemaMigrationFailed, match=f"{TABLE}_legacy, the earlier table already moved aside"):
        repository(mysql_database).record_run(accepted("new-2"))
    assert table_type(mysql_database, TABLE) == "BASE TABLE" and len(table_rows(mysql_database)) == 6
    assert len(stored_rows(mysql_database)) == len(before)


@pytest.mark.mysql
def test_a_foreign_table_of_that_name_is_left_alone(mysql_database: MySQLDatabase) -> None:
    mysql_database.query(f"CREATE TABLE `{TABLE}` (id INT PRIMARY KEY, note TEXT)")
    with pytest.raises(SchemaMigrationFailed, match=r"without the column\(s\) \['series_id'"):
        repository(mysql_database).record_run(accepted("new-1"))
    assert table_type(mysql_database, TABLE) == "BASE TABLE"
    assert table_type(mysql_database, f"{TABLE}_legacy") is None


# --------------------------------------------------------------------------- the move (SQLite)


def test_the_sqlite_twin_moves_its_single_table_over_in_one_transaction(tmp_path: Path) -> None:
    path = tmp_path / "forecast.sqlite3"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(LEGACY_SQLITE_TABLE.format(table=TABLE))
        conn.executemany(
            f'INSERT INTO "{TABLE}" (series_id, forecast_time, p10, p50, p90, mean, run_id) '
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.series_id,
                    r.forecast_time.strftime("%Y-%m-%d %H:%M:%S"),
                    r.p10,
                    r.p50,
                    r.p90,
                    r.mean,
                    r.run_id,
                )
                for r in rows_for(100.0, "old-1")
            ],
        )
    before = [tuple(r) for r in conn.execute(f'SELECT * FROM "{TABLE}" ORDER BY series_id, forecast_time')]
    conn.close()
    repo = SQLiteForecastRepository(path, TABLE)
    assert [tuple(r.values()) for r in repo.read()] == before  # readable before the move
    repo.record_run(accepted("new-1"))
    moved = repo.read()
    assert [tuple(r.values()) for r in moved] == before
    assert [(r["run_id"], r["status"], r["rows_written"]) for r in repo.runs()] == [
        ("old-1", "migrated", 6),  # ended when its rows were last written, before new-1's gate
        ("new-1", "accepted", None),
    ]
    conn = sqlite3.connect(path)
    kinds = dict(conn.execute("SELECT name, type FROM sqlite_master WHERE name LIKE 'sales%'"))
    conn.close()
    assert kinds[TABLE] == "view" and kinds[f"{TABLE}_legacy"] == "table"
    repo.write(rows_for(900.0, "new-1"), accepted("new-1"))
    assert {r["run_id"] for r in repo.read()} == {"new-1"}
