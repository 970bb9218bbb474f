"""write-forecast over TLS, against the tests' MariaDB that requires secure transport."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import mysql_connection
import pymysql
import pytest
from forecast_repository import ForecastWriteFailed

from tests.ci import missing
from tests.forecast.write_forecast_support import (
    BUCKET,
    PREFIX,
    TWO_FORECASTS,
    table_exists,
    write_event,
)
from tests.mysql_server import MySQLDatabase, throwaway_server

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
    assert settings.context() is context, "one context per CA file and container, not one per connection"
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
    with pytest.raises(mysql_connection.TlsConfigurationError, match="not a PEM CA bundle"):
        mysql_connection.TlsSettings.from_env({"DB_CA_FILE": str(bad)})  # with the other settings


@pytest.mark.mysql
def test_write_forecast_connects_over_verified_tls(mysql_database: MySQLDatabase) -> None:
    tls_server(mysql_database)
    tls = mysql_connection.TlsSettings.from_env(mysql_database.server.tls_environment())
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
        write_forecast_handler.handler(write_event())
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
        write_forecast_handler.handler(write_event())
    assert not table_exists(mysql_database)


@pytest.fixture(scope="module")
def plaintext_server() -> Iterator[Any]:
    """A throwaway MariaDB without TLS: a server (or a downgrading proxy) that offers none."""
    with throwaway_server("the plaintext-server test", tls=False) as server:
        yield server


@pytest.mark.mysql
def test_a_server_without_tls_is_refused_before_the_password_is_sent(
    plaintext_server: Any, mysql_database: MySQLDatabase
) -> None:
    tls = mysql_connection.TlsSettings.from_env(mysql_database.server.tls_environment())
    server = plaintext_server
    secret = mysql_connection.DbSecret(server.user, server.password, server.host, server.port, "mysql")
    with pytest.raises(mysql_connection.TlsFailure, match=r"TLS to .* failed.*doesn't support"):
        mysql_connection.connect(secret, tls)
