"""The forecast run's record, read where the user reads it: the runs table and the forecast view.

Read with write-forecast's own code (its secret parser, its TLS settings, its connection and its
table names), through one short-lived connection with the database secret's credentials, and only
when this machine reaches the database's host and port (it usually sits in a private subnet).
Otherwise the record is the execution's output, and the report says why.
"""

from __future__ import annotations

import socket
from typing import Any

from botocore.exceptions import ClientError

from config.paths import ROOT, function_module
from contracts.database_tls import lambda_tls_environment
from tools.smoke.context import Smoke
from tools.smoke.deployment import SmokeFailure

REACH_SECONDS = 3.0


def reachable(host: str, port: int, seconds: float = REACH_SECONDS) -> bool:
    try:
        with socket.create_connection((host, port), timeout=seconds):
            return True
    except OSError:
        return False


def tls_environment(smoke: Smoke) -> dict[str, str]:
    """write-forecast's ``DB_TLS``/``DB_CA_FILE`` (:func:`contracts.database_tls.lambda_tls_environment`),
    its CA bundle read from the repository instead of the function's bundle.
    ``smoke.database_tls`` replaces it (the offline runner's own server)."""
    if smoke.database_tls is not None:
        return dict(smoke.database_tls)
    forecast = smoke.config.forecast
    assert forecast is not None
    environment = lambda_tls_environment(forecast.database)
    if environment["DB_CA_FILE"] and forecast.database.ca_bundle:
        environment["DB_CA_FILE"] = str(ROOT / forecast.database.ca_bundle)
    return environment


def run_record(smoke: Smoke, run_id: str, output: dict[str, Any], *, remove: bool) -> str:
    """The run's record and its row count from the database when reachable, else from ``output``;
    ``remove`` deletes the run from the tables afterwards (the smoke's own generated run)."""
    forecast, step = smoke.config.forecast, "forecast"
    assert forecast is not None
    secret_id = forecast.database.secret_arn or smoke.deployed.database_secret_arn
    from_output = (
        f"decision {output.get('quality', {}).get('decision')}, {output['written']['rows']} rows, "
        f"series by source {output['written'].get('series')} (from the execution's output"
    )
    tables = function_module("write_forecast", "run_history").Tables(forecast.database.forecast_table)
    left = (
        f"the forecast table keeps run {run_id} (its rows are dated 2000, so no real forecast is "
        f"displaced); remove it with DELETE FROM {tables.rows} WHERE run_id = '{run_id}'; "
        f"DELETE FROM {tables.runs} WHERE run_id = '{run_id}'"
    )
    if not secret_id:
        if remove:
            smoke.notes.append(left)
        return f"{from_output}: no database secret among the outputs)"
    connection_module = function_module("write_forecast", "mysql_connection")
    try:
        response = smoke.clients("secretsmanager").get_secret_value(SecretId=secret_id)
    except ClientError as err:  # e.g. the secret's key admits only the app's readers
        if remove:
            smoke.notes.append(left)
        return f"{from_output}: the secret cannot be read here, {err.response['Error']['Code']})"
    secret = connection_module.parse_secret(response["SecretString"], secret_id)
    if not reachable(secret.host, secret.port):
        if remove:
            smoke.notes.append(left)
        return f"{from_output}: {secret.host}:{secret.port} is not reachable from this machine)"
    tls = connection_module.TlsSettings.from_env(tls_environment(smoke))

    def connect() -> Any:
        return connection_module.connect(secret, tls, connect_timeout=10, io_timeout=30)

    if remove:
        smoke.undo.append(
            (
                f"run {run_id} from {tables.rows} and {tables.runs}",
                lambda: _delete_run(connect, tables, run_id),
            )
        )
    conn = connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                f"SELECT `status`, `gate_decision` FROM `{tables.runs}` WHERE `run_id` = %s", (run_id,)
            )
            record = cursor.fetchone()
            cursor.execute(f"SELECT COUNT(*) FROM `{tables.view}` WHERE `run_id` = %s", (run_id,))
            (rows,) = cursor.fetchone()
    finally:
        conn.close()
    if record is None or record[0] != "written" or not rows:
        raise SmokeFailure(
            step,
            f"run {run_id} succeeded, but {tables.runs} records it as "
            f"{'nothing' if record is None else record[0]} and {tables.view} shows {rows} rows of it",
        )
    return f"{tables.runs}: {record[0]}, decision {record[1]}; {tables.view}: {rows} rows"


def _delete_run(connect: Any, tables: Any, run_id: str) -> None:
    """Remove the smoke's run: its rows, then its record, in one transaction."""
    conn = connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"DELETE FROM `{tables.rows}` WHERE `run_id` = %s", (run_id,))
            cursor.execute(f"DELETE FROM `{tables.runs}` WHERE `run_id` = %s", (run_id,))
        conn.commit()
    finally:
        conn.close()
