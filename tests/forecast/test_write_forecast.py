"""write-forecast's write: transform output + manifest -> rows -> one idempotent MySQL transaction
that keeps every run's rows and shows the latest through the view (see also test_run_history.py)."""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import forecast_rows
import mysql_connection
import pymysql
import pytest
from forecast_repository import ForecastWriteFailed, MySQLForecastRepository
from forecast_rows import MalformedForecast

from tests.ci import missing
from tests.forecast.write_forecast_support import (
    BUCKET,
    FORECAST_URI,
    MALFORMED,
    PREFIX,
    RUN,
    TABLE,
    TWO_FORECASTS,
    make_secret,
    repository,
    rows_for,
    runs,
    stored_rows,
    table_exists,
    table_rows,
    table_type,
    write_event,
)
from tests.lambda_logs import json_lines, runtime_json_logging
from tests.mysql_server import MySQLDatabase

# --------------------------------------------------------------------------- the secret


SECRET: dict[str, Any] = {
    "username": "app",
    "password": "s3cr3t-Pa55",
    "host": "db.internal",
    "port": 3306,
    "dbname": "sales",
}


def test_secret_is_fetched_once_per_container(aws: None) -> None:
    arn = make_secret(SECRET)
    first = mysql_connection.get_db_secret(arn)
    assert (first.username, first.host, first.port, first.dbname) == ("app", "db.internal", 3306, "sales")
    boto3.client("secretsmanager", region_name="us-east-1").delete_secret(
        SecretId=arn, ForceDeleteWithoutRecovery=True
    )
    assert mysql_connection.get_db_secret(arn) is first  # served from the cache
    mysql_connection.clear_secret_cache(arn)
    with pytest.raises(Exception, match="ResourceNotFound"):
        mysql_connection.get_db_secret(arn)


def test_the_password_is_not_in_repr_or_logs(aws: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)  # the Lambda's level (botocore's DEBUG log would echo responses)
    for name in ("mysql_connection", "forecast_repository", "forecast_rows"):
        caplog.set_level(logging.DEBUG, logger=name)
    secret = mysql_connection.get_db_secret(make_secret(SECRET))
    assert secret.password == SECRET["password"]
    assert SECRET["password"] not in repr(secret)
    assert SECRET["password"] not in caplog.text


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("not json", "is not JSON"),
        ("[1]", "not a JSON object"),
        ({**SECRET, "password": ""}, "['password']"),
        ({"password": "s3cr3t-Pa55"}, "['username', 'host', 'dbname']"),
        ({**SECRET, "port": "x"}, "'port' is not an integer"),
        ({**SECRET, "port": 70000}, "out of range"),
    ],
)
def test_invalid_secrets_name_keys_not_values(aws: None, document: Any, problem: str) -> None:
    with pytest.raises(mysql_connection.InvalidSecret) as info:
        mysql_connection.get_db_secret(make_secret(document))
    assert problem in str(info.value)
    assert "s3cr3t" not in str(info.value)


def test_port_may_be_a_string_or_absent() -> None:
    assert mysql_connection.parse_secret(json.dumps({**SECRET, "port": "3307"}), "s").port == 3307
    assert (
        mysql_connection.parse_secret(json.dumps({k: v for k, v in SECRET.items() if k != "port"}), "s").port
        == 3306
    )


# --------------------------------------------------------------------------- a real MariaDB/MySQL


@pytest.mark.mysql
def test_a_second_run_is_kept_beside_the_first_and_the_view_shows_it(mysql_database: MySQLDatabase) -> None:
    assert repository(mysql_database).write(rows_for(100.0, "run-1")) == 6
    before = table_rows(mysql_database)
    assert table_type(mysql_database, TABLE) == "VIEW"
    assert len(before) == 6
    assert before[0][:7] == ("a", datetime(2024, 1, 1, 10), 99.0, 100.0, 101.0, 100.25, "run-1")

    assert repository(mysql_database, batch_size=4).write(rows_for(500.0, "run-2")) == 6
    after = table_rows(mysql_database)
    assert len(after) == 6
    assert [r[:2] for r in after] == [r[:2] for r in before]
    assert after[0][2:7] == (499.0, 500.0, 501.0, 500.25, "run-2")
    stored = stored_rows(mysql_database)
    assert [r[0] for r in stored] == ["run-1"] * 6 + ["run-2"] * 6  # both runs kept, none duplicated
    assert [r[3:7] for r in stored[:6]] == [r[2:6] for r in before]
    assert [(r["run_id"], r["status"], r["rows_written"]) for r in runs(mysql_database)] == [
        ("run-1", "written", 6),
        ("run-2", "written", 6),
    ]
    utc_now = datetime.now(UTC).replace(tzinfo=None)
    assert abs(after[0][7] - utc_now) < timedelta(minutes=5)  # created_at is stored in UTC


@pytest.mark.mysql
def test_rewriting_a_run_updates_its_rows_instead_of_duplicating(mysql_database: MySQLDatabase) -> None:
    repository(mysql_database).write(rows_for(100.0, "run-1"))
    before = table_rows(mysql_database)
    assert repository(mysql_database, batch_size=4).write(rows_for(300.0, "run-1")) == 6
    after = table_rows(mysql_database)
    assert len(after) == 6 and len(stored_rows(mysql_database)) == 6
    assert after[0][2:7] == (299.0, 300.0, 301.0, 300.25, "run-1")
    assert all(a[7] == b[7] for a, b in zip(after, before, strict=True))  # created_at kept
    assert all(a[8] > b[8] for a, b in zip(after, before, strict=True))  # updated_at moved on
    assert len(runs(mysql_database)) == 1


@pytest.mark.mysql
def test_series_ids_differing_in_case_are_distinct(mysql_database: MySQLDatabase) -> None:
    repository(mysql_database).write(rows_for(1.0, ids=("A", "a", "")))
    assert sorted({r[0] for r in table_rows(mysql_database)}) == ["", "A", "a"]


@pytest.mark.mysql
def test_a_connection_killed_mid_write_raises_and_writes_nothing(mysql_database: MySQLDatabase) -> None:
    repository(mysql_database).write(rows_for(1.0, "old-run"))  # an earlier run's forecast
    admin = mysql_database.connect()

    def kill_after_first_batch(index: int, conn: Any) -> None:
        if index == 0:
            with admin.cursor() as cur:
                cur.execute("KILL CONNECTION %s", (conn.thread_id(),))

    repo = repository(mysql_database, batch_size=2, after_batch=kill_after_first_batch)
    try:
        with pytest.raises(ForecastWriteFailed) as info:
            repo.write(rows_for(50.0, "new-run"))
    finally:
        admin.close()
    message = str(info.value)
    assert type(info.value).__name__ == "ForecastWriteFailed"
    assert "failed at write (2 rows sent)" in message and "Lost connection" in message
    assert "nothing was written" in message
    assert isinstance(info.value.__cause__, pymysql.err.OperationalError)
    rows = table_rows(mysql_database)
    assert len(rows) == 6 and {r[6] for r in rows} == {"old-run"}  # the old forecast is intact
    assert {r[0] for r in stored_rows(mysql_database)} == {"old-run"}
    assert [r["run_id"] for r in runs(mysql_database)] == ["old-run"]  # new-run was not marked


@pytest.mark.mysql
def test_an_error_mid_write_rolls_back_the_batches_already_sent(mysql_database: MySQLDatabase) -> None:
    def fail_on_second_batch(index: int, _conn: Any) -> None:
        if index == 1:
            raise RuntimeError("disk on fire")

    with pytest.raises(
        ForecastWriteFailed, match=r"\(4 rows sent\): RuntimeError: disk on fire; the transaction"
    ):
        repository(mysql_database, batch_size=2, after_batch=fail_on_second_batch).write(rows_for())
    assert table_exists(mysql_database)  # DDL ran before the transaction...
    assert table_rows(mysql_database) == []  # ...but no row survived the rollback
    assert stored_rows(mysql_database) == [] and runs(mysql_database) == []


@pytest.mark.mysql
def test_a_bad_password_is_a_clear_error_without_the_password(mysql_database: MySQLDatabase) -> None:
    secret = mysql_connection.DbSecret(
        mysql_database.server.user,
        "wrong-Pa55word",
        mysql_database.server.host,
        mysql_database.server.port,
        mysql_database.name,
    )
    tls = mysql_connection.TlsSettings.from_env(mysql_database.server.tls_environment())
    repo = MySQLForecastRepository(lambda: mysql_connection.connect(secret, tls, connect_timeout=5), TABLE)
    with pytest.raises(ForecastWriteFailed, match=r"could not connect .*Access denied") as info:
        repo.write(rows_for())
    assert "wrong-Pa55word" not in str(info.value)


@pytest.mark.mysql
def test_handler_writes_the_forecast_idempotently(
    s3_and_secret: Any, mysql_database: MySQLDatabase, write_forecast_handler: ModuleType
) -> None:
    s3_and_secret.put_object(
        Bucket=BUCKET, Key=f"{PREFIX}transform/test.json.out", Body=TWO_FORECASTS.encode()
    )
    assert write_forecast_handler.handler(write_event())["rows"] == 6
    assert write_forecast_handler.handler(write_event("run-0002"))["rows"] == 6
    assert write_forecast_handler.handler(write_event("run-0002"))["rows"] == 6  # a re-run
    rows = table_rows(mysql_database)
    assert len(rows) == 6 and {r[6] for r in rows} == {"run-0002"}
    assert rows[3][:4] == ("b", datetime(2024, 1, 5, 10), 199.0, 200.0)
    assert len(stored_rows(mysql_database)) == 12
    recorded = runs(mysql_database)
    assert [(r["run_id"], r["status"], r["gate_decision"], r["rows_written"]) for r in recorded] == [
        ("run-0001", "written", "per-series", 6),
        ("run-0002", "written", "per-series", 6),
    ]
    assert recorded[0]["model_mean_wquantileloss"] == 0.08 and recorded[0]["loss_ratio"] == 0.8


@pytest.mark.mysql
@pytest.mark.parametrize(
    ("quality", "problem"),
    [
        (None, "the event has no 'quality' field"),
        ({"decision": "failed"}, "quality.decision must be 'per-series' or 'disabled'"),
        ("passed", "quality.decision must be"),
    ],
)
def test_handler_writes_only_after_a_gate_that_passed(
    s3_and_secret: Any,
    mysql_database: MySQLDatabase,
    write_forecast_handler: ModuleType,
    quality: Any,
    problem: str,
) -> None:
    s3_and_secret.put_object(
        Bucket=BUCKET, Key=f"{PREFIX}transform/test.json.out", Body=TWO_FORECASTS.encode()
    )
    with pytest.raises(forecast_rows.ConfigurationError, match=re.escape(problem)):
        write_forecast_handler.handler(write_event(quality=quality))
    assert not table_exists(mysql_database)


@pytest.mark.mysql
def test_handler_rejects_an_event_whose_execution_is_not_its_run(
    s3_and_secret: Any, mysql_database: MySQLDatabase, write_forecast_handler: ModuleType
) -> None:
    event = {**write_event(), "execution_name": "someone-else"}
    with pytest.raises(forecast_rows.ConfigurationError, match="execution_name 'someone-else' is not"):
        write_forecast_handler.handler(event)
    assert not table_exists(mysql_database)


@pytest.mark.mysql
def test_handler_log_lines_are_json_with_the_execution_name(
    s3_and_secret: Any, write_forecast_handler: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    """As Lambda's JSON log format writes them (tests/lambda_logs.py), success and failure alike."""
    mysql_connection.clear_secret_cache()
    event = write_event(RUN)
    with runtime_json_logging():
        capsys.readouterr()
        with pytest.raises(MalformedForecast):
            write_forecast_handler.handler(event)
        failed = json_lines(capsys.readouterr().out)
        s3_and_secret.put_object(
            Bucket=BUCKET, Key=f"{PREFIX}transform/test.json.out", Body=TWO_FORECASTS.encode()
        )
        assert write_forecast_handler.handler(event)["rows"] == 6
        written = json_lines(capsys.readouterr().out)
    assert [(line["level"], line["errorType"]) for line in failed if "errorType" in line] == [
        ("ERROR", "MalformedForecast")
    ]
    # the one line that is not a log record: the run's metrics in the embedded metric format
    (metrics,) = [line for line in written if "_aws" in line]
    assert (metrics["SeriesOnModel"], metrics["SeriesOnBaseline"], metrics["run_id"]) == (2, 0, RUN)
    logged = [line for line in written if "_aws" not in line]
    messages = [line["message"] for line in logged]
    assert any(m.startswith("fetched database secret") for m in messages), messages
    assert any(m.startswith(f"run {RUN}: wrote 6 forecast rows to {TABLE};") for m in messages), messages
    assert all(line["execution_name"] == RUN for line in failed + logged), failed + logged


@pytest.mark.mysql
@pytest.mark.parametrize(("text", "problem"), [MALFORMED[0], MALFORMED[3], MALFORMED[4]])
def test_handler_with_malformed_output_raises_and_writes_nothing(
    s3_and_secret: Any,
    mysql_database: MySQLDatabase,
    write_forecast_handler: ModuleType,
    text: str,
    problem: str,
) -> None:
    s3_and_secret.put_object(Bucket=BUCKET, Key=f"{PREFIX}transform/test.json.out", Body=text.encode())
    with pytest.raises(MalformedForecast, match=re.escape(problem)):
        write_forecast_handler.handler(write_event())
    assert not table_exists(mysql_database)


@pytest.mark.mysql
def test_handler_with_missing_output_raises_malformed_forecast(
    s3_and_secret: Any, mysql_database: MySQLDatabase, write_forecast_handler: ModuleType
) -> None:
    with pytest.raises(MalformedForecast, match=f"{FORECAST_URI} does not exist"):
        write_forecast_handler.handler(write_event())
    assert not table_exists(mysql_database)


@pytest.mark.mysql
def test_a_rotated_password_is_fetched_again(aws: None, mysql_database: MySQLDatabase) -> None:
    user, old, new = f"u{uuid.uuid4().hex[:12]}", "old-Pa55", "new-Pa55"
    created = False
    try:
        try:
            mysql_database.query(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (old,))
            created = True
            mysql_database.query(f"GRANT ALL PRIVILEGES ON `{mysql_database.name}`.* TO '{user}'@'%'")
        except pymysql.err.OperationalError as exc:
            if exc.args[0] not in (1044, 1045, 1227):  # access denied / needs a privilege
                raise
            missing("the test server's user cannot create users", str(exc))
        document = {**mysql_database.secret(), "username": user, "password": old}
        arn = make_secret(document)
        tls = mysql_connection.TlsSettings.from_env(mysql_database.server.tls_environment())
        connect = mysql_connection.connection_factory(arn, tls=tls)
        connect().close()  # caches the old password
        mysql_database.query(f"ALTER USER '{user}'@'%%' IDENTIFIED BY %s", (new,))
        boto3.client("secretsmanager", region_name="us-east-1").put_secret_value(
            SecretId=arn, SecretString=json.dumps({**document, "password": new})
        )
        conn = connect()
        conn.close()
        assert mysql_connection.get_db_secret(arn).password == new
    finally:
        if created:
            mysql_database.query(f"DROP USER IF EXISTS '{user}'@'%'")
