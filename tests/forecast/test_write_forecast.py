"""write-forecast: transform output + manifest -> rows -> one idempotent MySQL transaction."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import forecast_repository
import forecast_rows
import mysql_connection
import pymysql
import pytest
from forecast_repository import ForecastWriteFailed, MySQLForecastRepository
from forecast_rows import ForecastRow, MalformedForecast
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

from tests.ci import missing
from tests.lambda_logs import json_lines, runtime_json_logging
from tests.mysql_server import MySQLDatabase, client_tls_environment

BUCKET = "forecast-test-bucket"
RUN = "run-0001"
PREFIX = f"forecast/{RUN}/"
SERIES_URI = f"s3://{BUCKET}/{PREFIX}series.json"
FORECAST_URI = f"s3://{BUCKET}/{PREFIX}transform/test.json.out"
TABLE = "sales_forecast"


def manifest(series: list[tuple[str, str, int]], freq: str = "1H", prediction_length: int = 3) -> str:
    return json.dumps(
        {
            "run_id": RUN,
            "freq": freq,
            "prediction_length": prediction_length,
            "series": [{"id": i, "start": s, "length": n} for i, s, n in series],
        }
    )


def forecast_line(base: float, n: int = 3, **replace: Any) -> str:
    doc: dict[str, Any] = {
        "quantiles": {
            "0.1": [base + k - 1 for k in range(n)],
            "0.5": [base + k for k in range(n)],
            "0.9": [base + k + 1 for k in range(n)],
        },
        "mean": [base + k + 0.25 for k in range(n)],
    }
    doc.update(replace)
    return json.dumps(doc)


TWO_SERIES = manifest([("a", "2024-01-01 00:00:00", 10), ("b", "2024-01-05 06:00:00", 4)])
TWO_FORECASTS = forecast_line(100) + "\n" + forecast_line(200) + "\n"


def rows_for(base: float = 100.0, run_id: str = RUN, ids: tuple[str, ...] = ("a", "b")) -> list[ForecastRow]:
    text = "\n".join(forecast_line(base + 100 * i) for i in range(len(ids)))
    doc = manifest([(i, "2024-01-01 00:00:00", 10) for i in ids])
    return forecast_rows.forecast_rows(doc, "m", text, "f", freq="1H", prediction_length=3, run_id=run_id)


# --------------------------------------------------------------------------- parsing and rows (pure)


def test_rows_have_timestamps_after_each_series_end() -> None:
    rows = forecast_rows.forecast_rows(
        TWO_SERIES, SERIES_URI, TWO_FORECASTS, FORECAST_URI, freq="1H", prediction_length=3, run_id=RUN
    )
    assert [(r.series_id, r.forecast_time) for r in rows] == [
        ("a", datetime(2024, 1, 1, 10)),
        ("a", datetime(2024, 1, 1, 11)),
        ("a", datetime(2024, 1, 1, 12)),
        ("b", datetime(2024, 1, 5, 10)),
        ("b", datetime(2024, 1, 5, 11)),
        ("b", datetime(2024, 1, 5, 12)),
    ]
    first = rows[0]
    assert (first.p10, first.p50, first.p90, first.mean, first.run_id) == (99.0, 100.0, 101.0, 100.25, RUN)
    assert rows[4].p50 == 201.0


def test_single_series_id_is_the_empty_string_and_daily_steps() -> None:
    doc = manifest([("", "2024-02-27 00:00:00", 2)], freq="1D", prediction_length=2)
    rows = forecast_rows.forecast_rows(
        doc, "m", forecast_line(1, n=2), "f", freq="1D", prediction_length=2, run_id=RUN
    )
    assert [(r.series_id, r.forecast_time) for r in rows] == [
        ("", datetime(2024, 2, 29)),
        ("", datetime(2024, 3, 1)),
    ]


def test_a_null_series_id_in_the_manifest_means_single_series() -> None:
    doc = json.dumps({"series": [{"id": None, "start": "2024-01-01 00:00:00", "length": 1}]})
    assert forecast_rows.parse_manifest(doc, "m").series[0].series_id == ""


@given(
    length=st.integers(min_value=1, max_value=10_000),
    minutes=st.sampled_from([1, 15, 60, 360, 1440, 10080]),
    k=st.integers(min_value=0, max_value=499),
)
def test_point_k_is_start_plus_length_plus_k_steps(length: int, minutes: int, k: int) -> None:
    start = datetime(2023, 12, 31, 23, 0)
    info = forecast_rows.SeriesInfo("s", start, length)
    n = k + 1
    forecast = forecast_rows.SeriesForecast([0.0] * n, [1.0] * n, [2.0] * n, [1.5] * n)
    rows = forecast_rows.build_rows([info], [forecast], timedelta(minutes=minutes), RUN)
    assert rows[k].forecast_time == start + (length + k) * timedelta(minutes=minutes)


MALFORMED = [
    pytest.param(forecast_line(1) + "\n", "line 2: missing", id="fewer-lines"),
    pytest.param(TWO_FORECASTS + forecast_line(3) + "\n", "line 3: unexpected", id="more-lines"),
    pytest.param(forecast_line(1) + "\n{not json\n", "line 2: Expecting property name", id="bad-json"),
    pytest.param(
        forecast_line(1) + "\n" + forecast_line(2, quantiles={"0.1": [1, 2, 3], "0.9": [1, 2, 3]}),
        "line 2: quantile '0.5' is missing",
        id="missing-quantile",
    ),
    pytest.param(
        forecast_line(1, n=2) + "\n" + forecast_line(2), "line 1: quantiles['0.1'] has 2 values", id="short"
    ),
    pytest.param(
        forecast_line(1) + "\n" + forecast_line(2, n=4), "line 2: quantiles['0.1'] has 4 values", id="long"
    ),
    pytest.param(
        forecast_line(1, mean=[1, "x", 3]) + "\n" + forecast_line(2), "line 1: mean[1] = 'x'", id="text"
    ),
    pytest.param(
        forecast_line(1, mean=[1, None, 3]) + "\n" + forecast_line(2), "line 1: mean[1] = None", id="null"
    ),
    pytest.param(
        forecast_line(1, mean=[1, True, 3]) + "\n" + forecast_line(2), "line 1: mean[1] = True", id="bool"
    ),
    pytest.param(
        forecast_line(1) + "\n" + forecast_line(2).replace('"mean": [', '"mean": [NaN, ', 1),
        "line 2: NaN is not a finite number",
        id="nan",
    ),
    pytest.param(
        forecast_line(1) + "\n" + json.dumps({"quantiles": {}}), "line 2: quantile '0.1'", id="empty"
    ),
    pytest.param(
        forecast_line(1) + "\n" + json.dumps([1, 2]), "line 2: line is not a JSON object", id="list"
    ),
    pytest.param(
        forecast_line(1) + "\n" + forecast_line(2).replace('"mean"', '"average"'),
        "line 2: 'mean' is missing",
        id="mean",
    ),
    pytest.param("", "line 1: missing", id="empty-file"),
]


@pytest.mark.parametrize(("text", "problem"), MALFORMED)
def test_malformed_forecast_names_file_and_line(text: str, problem: str) -> None:
    with pytest.raises(MalformedForecast) as info:
        forecast_rows.forecast_rows(
            TWO_SERIES, SERIES_URI, text, FORECAST_URI, freq="1H", prediction_length=3, run_id=RUN
        )
    assert type(info.value).__name__ == "MalformedForecast"
    assert str(info.value).startswith(f"{FORECAST_URI} line ")
    assert problem in str(info.value)


@pytest.mark.parametrize(
    "doc",
    [
        "{}",
        "not json",
        json.dumps({"series": []}),
        json.dumps({"series": [{"id": "a", "start": "2024-01-01", "length": 3}]}),
        json.dumps({"series": [{"id": "a", "start": "2024-01-01 00:00:00", "length": 0}]}),
        json.dumps({"series": [{"id": 7, "start": "2024-01-01 00:00:00", "length": 3}]}),
        json.dumps({"series": [{"id": "x" * 256, "start": "2024-01-01 00:00:00", "length": 3}]}),
    ],
)
def test_malformed_manifest(doc: str) -> None:
    with pytest.raises(MalformedForecast, match=f"series manifest {SERIES_URI} is malformed"):
        forecast_rows.parse_manifest(doc, SERIES_URI)


def test_manifest_built_with_other_settings_is_a_configuration_error() -> None:
    with pytest.raises(forecast_rows.ConfigurationError, match=r"TIME_FREQ is '1D' but .* built with '1H'"):
        forecast_rows.forecast_rows(
            TWO_SERIES, SERIES_URI, TWO_FORECASTS, FORECAST_URI, freq="1D", prediction_length=3, run_id=RUN
        )
    with pytest.raises(forecast_rows.ConfigurationError, match=r"PREDICTION_LENGTH is 4 but"):
        forecast_rows.forecast_rows(
            TWO_SERIES, SERIES_URI, TWO_FORECASTS, FORECAST_URI, freq="60min", prediction_length=4, run_id=RUN
        )


@pytest.mark.parametrize(
    "name", ["", "1table", "sales-forecast", "a`b", "t; DROP TABLE x", "db.t", "x" * 65, "forecast\n"]
)
def test_table_names_are_validated(name: str) -> None:
    with pytest.raises(forecast_rows.ConfigurationError, match="FORECAST_TABLE"):
        forecast_repository.validate_table_name(name)


def test_upsert_statement_is_one_multi_row_insert() -> None:
    def never_called() -> Any:
        raise AssertionError("no connection needed")

    repo = MySQLForecastRepository(never_called, "Sales_Forecast_2")
    sql = repo.upsert_sql(3)
    assert sql.startswith("INSERT INTO `Sales_Forecast_2` (")
    assert sql.count("%s") == 3 * len(forecast_repository.COLUMNS)
    assert "ON DUPLICATE KEY UPDATE" in sql and "`created_at` = " not in sql.split("UPDATE")[1]


# --------------------------------------------------------------------------- the secret


@pytest.fixture
def aws() -> Iterator[None]:
    mysql_connection.clear_secret_cache()
    with mock_aws():
        yield
    mysql_connection.clear_secret_cache()


def make_secret(document: dict[str, Any] | str) -> str:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    body = document if isinstance(document, str) else json.dumps(document)
    return str(client.create_secret(Name=f"db-{uuid.uuid4().hex[:8]}", SecretString=body)["ARN"])


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


def table_rows(db: MySQLDatabase, table: str = TABLE) -> list[tuple[Any, ...]]:
    return db.query(
        f"SELECT series_id, forecast_time, p10, p50, p90, mean, run_id, created_at, updated_at "
        f"FROM `{table}` ORDER BY series_id, forecast_time"
    )


def table_exists(db: MySQLDatabase, table: str = TABLE) -> bool:
    return bool(db.query("SHOW TABLES LIKE %s", (table,)))


def repository(db: MySQLDatabase, **options: Any) -> MySQLForecastRepository:
    def connect() -> Any:
        return db.connect(autocommit=False, init_command="SET time_zone = '+00:00'")

    return MySQLForecastRepository(connect, TABLE, **options)


@pytest.mark.mysql
def test_writing_twice_updates_rows_instead_of_duplicating(mysql_database: MySQLDatabase) -> None:
    assert repository(mysql_database).write(rows_for(100.0, "run-1")) == 6
    before = table_rows(mysql_database)
    assert len(before) == 6
    assert before[0][:7] == ("a", datetime(2024, 1, 1, 10), 99.0, 100.0, 101.0, 100.25, "run-1")

    assert repository(mysql_database, batch_size=4).write(rows_for(500.0, "run-2")) == 6
    after = table_rows(mysql_database)
    assert len(after) == 6
    assert [r[:2] for r in after] == [r[:2] for r in before]
    assert after[0][2:7] == (499.0, 500.0, 501.0, 500.25, "run-2")
    assert all(a[7] == b[7] for a, b in zip(after, before, strict=True))  # created_at kept
    assert all(a[8] >= b[8] for a, b in zip(after, before, strict=True))  # updated_at moved on
    utc_now = datetime.now(UTC).replace(tzinfo=None)
    assert abs(after[0][7] - utc_now) < timedelta(minutes=5)  # created_at is stored in UTC


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


@pytest.mark.mysql
def test_a_bad_password_is_a_clear_error_without_the_password(mysql_database: MySQLDatabase) -> None:
    secret = mysql_connection.DbSecret(
        mysql_database.server.user,
        "wrong-Pa55word",
        mysql_database.server.host,
        mysql_database.server.port,
        mysql_database.name,
    )
    tls = mysql_connection.TlsSettings.from_env(client_tls_environment(mysql_database.server))
    repo = MySQLForecastRepository(lambda: mysql_connection.connect(secret, tls, connect_timeout=5), TABLE)
    with pytest.raises(ForecastWriteFailed, match=r"could not connect .*Access denied") as info:
        repo.write(rows_for())
    assert "wrong-Pa55word" not in str(info.value)


@pytest.fixture
def s3_and_secret(aws: None, mysql_database: MySQLDatabase, monkeypatch: pytest.MonkeyPatch) -> Any:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}series.json", Body=TWO_SERIES.encode())
    monkeypatch.setenv("SECRET_ID", make_secret(mysql_database.secret()))
    monkeypatch.setenv("FORECAST_TABLE", TABLE)
    monkeypatch.setenv("TIME_FREQ", "1H")
    monkeypatch.setenv("PREDICTION_LENGTH", "3")
    for name, value in client_tls_environment(mysql_database.server).items():
        monkeypatch.setenv(name, value)
    return s3


def dataset_event(run_id: str = RUN) -> dict[str, Any]:
    return {
        "dataset": {
            "run_id": run_id,
            "series_uri": SERIES_URI,
            "forecast_uri": FORECAST_URI,
            "series_count": 2,
        }
    }


@pytest.mark.mysql
def test_handler_writes_the_forecast_idempotently(
    s3_and_secret: Any, mysql_database: MySQLDatabase, write_forecast_handler: ModuleType
) -> None:
    s3_and_secret.put_object(
        Bucket=BUCKET, Key=f"{PREFIX}transform/test.json.out", Body=TWO_FORECASTS.encode()
    )
    assert write_forecast_handler.handler(dataset_event()) == {"rows": 6}
    assert write_forecast_handler.handler(dataset_event("run-0002")) == {"rows": 6}
    rows = table_rows(mysql_database)
    assert len(rows) == 6 and {r[6] for r in rows} == {"run-0002"}
    assert rows[3][:4] == ("b", datetime(2024, 1, 5, 10), 199.0, 200.0)


@pytest.mark.mysql
def test_handler_log_lines_are_json_with_the_execution_name(
    s3_and_secret: Any, write_forecast_handler: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    """As Lambda's JSON log format writes them (tests/lambda_logs.py), success and failure alike."""
    mysql_connection.clear_secret_cache()
    event = {**dataset_event(), "execution_name": RUN}
    with runtime_json_logging():
        capsys.readouterr()
        with pytest.raises(MalformedForecast):
            write_forecast_handler.handler(event)
        failed = json_lines(capsys.readouterr().out)
        s3_and_secret.put_object(
            Bucket=BUCKET, Key=f"{PREFIX}transform/test.json.out", Body=TWO_FORECASTS.encode()
        )
        assert write_forecast_handler.handler(event) == {"rows": 6}
        written = json_lines(capsys.readouterr().out)
    assert [(line["level"], line["errorType"]) for line in failed if "errorType" in line] == [
        ("ERROR", "MalformedForecast")
    ]
    messages = [line["message"] for line in written]
    assert any(m.startswith("fetched database secret") for m in messages), messages
    assert f"run {RUN}: wrote 6 forecast rows to {TABLE}" in messages
    assert all(line["execution_name"] == RUN for line in failed + written), failed + written


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
        write_forecast_handler.handler(dataset_event())
    assert not table_exists(mysql_database)


@pytest.mark.mysql
def test_handler_with_missing_output_raises_malformed_forecast(
    s3_and_secret: Any, mysql_database: MySQLDatabase, write_forecast_handler: ModuleType
) -> None:
    with pytest.raises(MalformedForecast, match=f"{FORECAST_URI} does not exist"):
        write_forecast_handler.handler(dataset_event())
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
        tls = mysql_connection.TlsSettings.from_env(client_tls_environment(mysql_database.server))
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


# -- TLS ------------------------------------------------------------------------------------------


def tls_server(db: MySQLDatabase) -> None:
    """Fail (CI) or skip unless the test server is the throwaway one that requires TLS."""
    if not db.server.ca_file:
        missing("the TLS tests need a server that requires TLS", "MYSQL_URL has no ssl_ca")
    (row,) = db.query("SELECT @@GLOBAL.require_secure_transport")
    if row[0] != 1:
        missing("the TLS tests need require_secure_transport=ON", f"it is {row[0]}")


def test_tls_settings_default_to_required_with_host_name_checks() -> None:
    settings = mysql_connection.TlsSettings.from_env({})
    assert settings == mysql_connection.TlsSettings("required", None)
    context = settings.context()
    assert context is not None and context.check_hostname and context.verify_mode.name == "CERT_REQUIRED"
    assert context.minimum_version.name == "TLSv1_2"
    assert mysql_connection.TlsSettings.from_env({"DB_TLS": "disabled"}).context() is None


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"DB_TLS": "preferred"}, "DB_TLS must be one of required, disabled, got 'preferred'"),
        ({"DB_CA_FILE": "no-such-ca.pem"}, "DB_CA_FILE 'no-such-ca.pem': no such file"),
        ({"DB_TLS": "disabled", "DB_CA_FILE": "x.pem"}, "DB_CA_FILE is set but DB_TLS is 'disabled'"),
    ],
)
def test_bad_tls_settings_name_the_variable(env: dict[str, str], problem: str) -> None:
    with pytest.raises(mysql_connection.TlsConfigurationError, match=re.escape(problem)):
        mysql_connection.TlsSettings.from_env(env)


def test_a_ca_file_that_is_not_pem_is_a_configuration_error(tmp_path: Any) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    settings = mysql_connection.TlsSettings.from_env({"DB_CA_FILE": str(bad)})
    with pytest.raises(mysql_connection.TlsConfigurationError, match="not a PEM CA bundle"):
        settings.context()


@pytest.mark.mysql
def test_write_forecast_connects_over_verified_tls(mysql_database: MySQLDatabase) -> None:
    tls_server(mysql_database)
    tls = mysql_connection.TlsSettings.from_env(client_tls_environment(mysql_database.server))
    assert tls.ca_file is not None
    secret = mysql_connection.parse_secret(json.dumps(mysql_database.secret()), "test")
    conn = mysql_connection.connect(secret, tls)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_version', 'Ssl_cipher')")
            status = dict(cur.fetchall())
    finally:
        conn.close()
    assert status["Ssl_version"] in ("TLSv1.2", "TLSv1.3") and status["Ssl_cipher"]


@pytest.mark.mysql
@pytest.mark.parametrize("trust", ["wrong CA", "trust store"])
def test_an_unverified_server_fails_as_tls_and_nothing_is_written(
    s3_and_secret: Any,
    mysql_database: MySQLDatabase,
    write_forecast_handler: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    trust: str,
) -> None:
    """A CA that did not sign the server's certificate, or the trust store (no private CA in it)."""
    from localrun.tls import generate_ca

    tls_server(mysql_database)
    s3_and_secret.put_object(
        Bucket=BUCKET, Key=f"{PREFIX}transform/test.json.out", Body=TWO_FORECASTS.encode()
    )
    if trust == "wrong CA":
        monkeypatch.setenv("DB_CA_FILE", str(generate_ca(tmp_path / "wrong-ca.pem")))
        against = "CA bundle wrong-ca.pem"
    else:
        monkeypatch.setenv("DB_CA_FILE", "")
        against = "the runtime's trust store"
    with pytest.raises(ForecastWriteFailed) as info:
        write_forecast_handler.handler(dataset_event())
    message = str(info.value)
    assert re.search(rf"TLS to 127\.0\.0\.1:\d+ failed, verifying against {re.escape(against)}", message)
    assert "CERTIFICATE_VERIFY_FAILED" in message and "nothing was written" in message
    assert mysql_database.server.password not in message
    assert not table_exists(mysql_database)


@pytest.mark.mysql
def test_a_plaintext_client_is_refused(
    s3_and_secret: Any,
    mysql_database: MySQLDatabase,
    write_forecast_handler: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tls_server(mysql_database)
    server = mysql_database.server
    with pytest.raises(pymysql.err.OperationalError) as refused:  # MariaDB answers "access denied"
        pymysql.connect(
            host=server.host, port=server.port, user=server.user, password=server.password, ssl_disabled=True
        )
    assert refused.value.args[0] == mysql_connection.ACCESS_DENIED
    server.connect().close()  # the same credentials over TLS are accepted
    s3_and_secret.put_object(
        Bucket=BUCKET, Key=f"{PREFIX}transform/test.json.out", Body=TWO_FORECASTS.encode()
    )
    monkeypatch.setenv("DB_TLS", "disabled")
    monkeypatch.setenv("DB_CA_FILE", "")
    with pytest.raises(ForecastWriteFailed, match=r"could not connect .*Access denied.*nothing was written"):
        write_forecast_handler.handler(dataset_event())
    assert not table_exists(mysql_database)


@pytest.fixture(scope="module")
def plaintext_server() -> Iterator[Any]:
    """A throwaway MariaDB without TLS: a server (or a downgrading proxy) that offers none."""
    from localrun.mariadb import ServerUnavailable, ThrowawayMariaDB

    try:
        throwaway = ThrowawayMariaDB.from_path(tls=False)
        server = throwaway.start()
    except ServerUnavailable as exc:
        missing("no MariaDB server binaries for the plaintext-server test", str(exc))
    try:
        yield server
    finally:
        throwaway.stop()


@pytest.mark.mysql
def test_a_server_without_tls_is_refused_before_the_password_is_sent(
    plaintext_server: Any, mysql_database: MySQLDatabase
) -> None:
    tls = mysql_connection.TlsSettings.from_env(client_tls_environment(mysql_database.server))
    server = plaintext_server
    secret = mysql_connection.DbSecret(server.user, server.password, server.host, server.port, "mysql")
    with pytest.raises(mysql_connection.TlsFailure, match=r"TLS to .* failed.*doesn't support"):
        mysql_connection.connect(secret, tls)
