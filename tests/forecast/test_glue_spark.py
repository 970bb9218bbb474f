"""The Glue script's ``main()`` on Glue 5.1's Spark against MariaDB, read back by generate-dataset.

Spark 3.5.6 reads the tests' MariaDB table over JDBC (``localrun.glue_spark``: only
``from_catalog``, ``Job`` and the ``s3://`` destination are stood in for), writes the CSV parts,
which go into moto S3 where Glue puts them; generate-dataset's handler then reads exactly those
parts. The dialect tests hold the plain-Python twin (``glue_etl.write_csv``) to Spark's bytes.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from config import load_env, read_cdk_context
from contracts.glue_job import etl_job_arguments
from localrun.glue_spark import JdbcTable, run_glue_main
from localrun.mariadb import MySQLDatabase
from processing import glue_etl
from stacks.runtimes import GLUE
from tests.ci import missing

pytestmark = pytest.mark.mysql

BUCKET = "glue-spark-test-bucket"
T0 = datetime(2024, 3, 10, 0, 0)
#: Doubles whose text differs between Java and Python (``1.0E7`` / ``10000000.0``).
EXTREME = [1e7, 1.23456789e7, 1e-5, 1.7976931348623157e308, 0.001, -2.5e-7, 1e16, 123.5, 0.0]
#: Series ids Spark's default CSV options garble, and ids that differ only by spaces.
SERIES_IDS = [
    'he said "hi"',
    "a,b",
    "line\nbreak",
    "bare\rcr",
    "crlf\r\nend",
    "back\\slash",
    "  lead",
    "trail  ",
    "lead",
    "ünïcødé €",
    "#hash",
    "x'y",
    '"quoted"',
    "tab\tinside",
]


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def create_table(database: MySQLDatabase, ddl: str, table: str, rows: Sequence[Sequence[Any]]) -> None:
    conn = database.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE `{table}` ({ddl}) CHARACTER SET utf8mb4")
            marks = ", ".join(["%s"] * len(rows[0]))
            cur.executemany(f"INSERT INTO `{table}` VALUES ({marks})", rows)
        conn.commit()
    finally:
        conn.close()


def job_arguments(table: str, columns: glue_etl.ColumnSpec, database: MySQLDatabase) -> dict[str, str]:
    """The arguments the stack deploys (``etl_job_arguments``), for the dev environment pointed at a
    table of the tests' database."""
    env = load_env("dev", read_cdk_context())
    assert env.forecast is not None
    source = replace(
        env.forecast.database,
        database=database.name,
        source_table=table,
        timestamp_column=columns.timestamp,
        value_column=columns.value,
        series_column=columns.series,
    )
    return etl_job_arguments(replace(env.forecast, database=source), env_name=env.name, bucket_name=BUCKET)


def run_job(
    spark: Any,
    s3: Any,
    database: MySQLDatabase,
    table: str,
    columns: glue_etl.ColumnSpec,
    tmp_path: Path,
    run_id: str = "jr_0123",
) -> list[str]:
    """Run ``main()`` on Spark as job run ``run_id``; the S3 keys it wrote."""
    keys = run_glue_main(
        spark,
        job_name="forecast-etl",
        job_run_id=run_id,
        arguments=job_arguments(table, columns, database),
        source=JdbcTable.of(database, table),
        s3=s3,
        workdir=tmp_path,
    )
    assert keys and all(k.startswith(f"etl/{table}/run={run_id}/") for k in keys)
    return keys


def parts(s3: Any, keys: list[str]) -> list[bytes]:
    return [s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys if k.endswith(".csv")]


def records(data: bytes) -> list[list[str]]:
    """The CSV records of one part, header first, as Python's csv module reads them."""
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def generate(
    handler: ModuleType, monkeypatch: pytest.MonkeyPatch, table: str, columns: glue_etl.ColumnSpec, run: str
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """generate-dataset's handler on the run: its result, test.json lines and manifest."""
    environment = {
        "BUCKET_NAME": BUCKET,
        "ETL_PREFIX": f"etl/{table}/",
        "WORK_PREFIX": "forecast/",
        "TIMESTAMP_COLUMN": columns.timestamp,
        "VALUE_COLUMN": columns.value,
        "SERIES_COLUMN": columns.series or "",
        "TIME_FREQ": "1H",
        "PREDICTION_LENGTH": "2",
        "CONTEXT_LENGTH": "4",
        "NAME_PREFIX": "forecast",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    event = {
        "detail-type": "Glue Job State Change",
        "source": "aws.glue",
        "detail": {"jobName": "forecast-etl", "jobRunId": run, "state": "SUCCEEDED"},
    }
    result = handler.handler({"event": event, "execution_name": f"glue-{run}"})
    s3 = boto3.client("s3", region_name="us-east-1")
    body = s3.get_object(Bucket=BUCKET, Key=result["run_prefix"] + "data/test.json")["Body"].read().decode()
    manifest = json.loads(
        s3.get_object(Bucket=BUCKET, Key=result["run_prefix"] + "series.json")["Body"].read()
    )
    return result, [json.loads(line) for line in body.splitlines()], manifest


def test_the_installed_engine_is_glue_5s(spark: Any, glue_engine: Any) -> None:
    assert GLUE.version == "5.1"
    assert spark.version == GLUE.spark == glue_engine.spark_version
    assert glue_engine.java_version == GLUE.java
    assert "-Duser.timezone=UTC" in spark.sparkContext.getConf().get("spark.driver.extraJavaOptions")
    jvm_zone = spark.sparkContext._jvm.java.util.TimeZone.getDefault().getID()
    assert jvm_zone == "UTC", "JDBC DATETIME values are read in the JVM's zone"


def test_single_series_datetime_and_double_survive_into_the_dataset(
    spark: Any,
    s3: Any,
    mysql_database: MySQLDatabase,
    generate_dataset_handler: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    values: list[float | None] = [*EXTREME[:4], None, *EXTREME[4:]]
    rows: list[tuple[datetime | None, float | None, str]] = [
        (T0 + timedelta(hours=h), v, f"note {h}") for h, v in enumerate(values)
    ]
    del rows[6]  # a gap: no row at all for hour 6
    rows.append((None, 1.0, "a NULL timestamp is an empty field"))
    create_table(
        mysql_database, "SaleTime DATETIME NULL, Amount DOUBLE NULL, Note VARCHAR(64)", "Hourly", rows
    )
    columns = glue_etl.ColumnSpec("SaleTime", "Amount")

    keys = run_job(spark, s3, mysql_database, "Hourly", columns, tmp_path, "jr_with_null")

    assert "etl/Hourly/run=jr_with_null/_SUCCESS" in keys, "Glue's committer leaves a _SUCCESS marker"
    written = [tuple(record) for data in parts(s3, keys) for record in records(data)[1:]]
    assert sorted(written) == sorted(
        (glue_etl.format_timestamp(ts), glue_etl.format_double(v)) for ts, v, _ in rows
    )
    assert ("", "1.0") in written, "a NULL timestamp is an empty field"
    assert sorted(float(v) for _, v in written if v) == sorted(v for _, v, _ in rows if v is not None)

    # generate-dataset rejects the NULL timestamp, naming file and line; without it, every value is there.
    with pytest.raises(Exception, match=r"part-.*\.csv line \d+: SaleTime '' is not an ISO 8601") as info:
        generate(generate_dataset_handler, monkeypatch, "Hourly", columns, "jr_with_null")
    assert type(info.value).__name__ == "InvalidInputData"
    mysql_database.query("DELETE FROM `Hourly` WHERE SaleTime IS NULL")
    run_job(spark, s3, mysql_database, "Hourly", columns, tmp_path, "jr_clean")
    result, test_lines, manifest = generate(
        generate_dataset_handler, monkeypatch, "Hourly", columns, "jr_clean"
    )
    expected = ["NaN" if v is None else v for v in values]
    expected[6] = "NaN"
    assert test_lines == [{"start": "2024-03-10 00:00:00", "target": expected}]
    assert result["points"] == len(values)
    assert manifest["series"] == [
        {"id": "", "start": "2024-03-10 00:00:00", "length": len(values), "model": True}
    ]


def test_several_series_datetime6_and_decimal_survive_into_the_dataset(
    spark: Any,
    s3: Any,
    mysql_database: MySQLDatabase,
    generate_dataset_handler: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    rows = []
    for i, series_id in enumerate(SERIES_IDS):
        for h in range(6):
            stamp = T0 + timedelta(hours=h + i, microseconds=(i * 7919 + h) % 1_000_000)
            price = None if (h + i) % 4 == 3 else Decimal(f"{i * 1000 + h}.{h:02d}0123")
            rows.append((stamp, price, series_id, i * 6 + h))
    create_table(
        mysql_database,
        "sale_time DATETIME(6) NOT NULL, UnitPrice DECIMAL(20,6) NULL, StoreId VARCHAR(64) NOT NULL, "
        "RowId INT PRIMARY KEY",
        "StoreSales",
        rows,
    )
    columns = glue_etl.ColumnSpec("Sale_Time", "unitprice", "StoreId")  # the case differs from MySQL's

    keys = run_job(spark, s3, mysql_database, "StoreSales", columns, tmp_path)

    written = [record for data in parts(s3, keys) for record in records(data)]
    header = written[0]
    assert header == ["Sale_Time", "unitprice", "StoreId"]
    data = [r for r in written if r != header]
    assert sorted((ts, float(p) if p else None, sid) for ts, p, sid in data) == sorted(
        (ts.strftime("%Y-%m-%d %H:%M:%S.%f"), None if p is None else float(p), sid) for ts, p, sid, _ in rows
    ), "microseconds, decimals, NULLs and every id byte for byte"

    result, test_lines, manifest = generate(
        generate_dataset_handler, monkeypatch, "StoreSales", columns, "jr_0123"
    )
    by_id = sorted(SERIES_IDS)
    assert [s["id"] for s in manifest["series"]] == by_id, "ids keep their spaces: '  lead', 'lead' differ"
    for series, line in zip(manifest["series"], test_lines, strict=True):
        i = SERIES_IDS.index(series["id"])
        own = [r for r in rows if r[2] == series["id"]]
        assert line["start"] == series["start"] == (T0 + timedelta(hours=i)).strftime("%Y-%m-%d %H:%M:%S")
        assert line["target"] == ["NaN" if p is None else float(p) for _, p, _, _ in own]
    assert result["series_count"] == len(SERIES_IDS)


# --------------------------------------------------------------------------- one CSV dialect


def spark_csv(spark: Any, tmp_path: Path, rows: list[dict[str, Any]], spec: glue_etl.ColumnSpec) -> bytes:
    """Spark's CSV of ``rows`` through the script's own casts and options, in one part."""
    from pyspark.sql import types as T

    schema = T.StructType(
        [
            T.StructField(spec.timestamp, T.TimestampType()),
            T.StructField(spec.value, T.DoubleType()),
            T.StructField(spec.series or "unused", T.StringType()),
        ]
    )
    frame = spark.createDataFrame(
        [(r.get(spec.timestamp), r.get(spec.value), r.get(spec.series or "unused")) for r in rows], schema
    )
    out = tmp_path / "spark-csv"
    frame.coalesce(1).selectExpr(*glue_etl.select_expressions(spec)).write.mode("overwrite").options(
        **glue_etl.CSV_OPTIONS
    ).csv(out.as_uri())
    (part,) = out.glob("part-*.csv")
    return part.read_bytes()


def twin_csv(rows: list[dict[str, Any]], spec: glue_etl.ColumnSpec) -> bytes:
    out = io.StringIO(newline="")
    glue_etl.write_csv(rows, spec, out)
    return out.getvalue().encode("utf-8")


def test_the_twin_writes_sparks_bytes_for_the_source_table(
    spark: Any, s3: Any, mysql_database: MySQLDatabase, tmp_path: Path
) -> None:
    """Byte-identical: the same table through main() on Spark and through the twin."""
    rows = [
        (T0 + timedelta(hours=h, microseconds=h * 250_001), v, sid, h)
        for h, (v, sid) in enumerate(
            zip([*EXTREME, None, *EXTREME], [*SERIES_IDS, "", None, "a"], strict=False)
        )
    ]
    create_table(
        mysql_database,
        "Ts DATETIME(6), Val DOUBLE, Store VARCHAR(64), Id INT PRIMARY KEY",
        "Dialect",
        rows,
    )
    spec = glue_etl.ColumnSpec("Ts", "Val", "Store")
    keys = run_job(spark, s3, mysql_database, "Dialect", spec, tmp_path)
    (spark_part,) = parts(s3, keys)  # one JDBC partition, one part, in the table's key order
    source = [
        dict(zip(("Ts", "Val", "Store"), r[:3], strict=True))
        for r in mysql_database.query("SELECT Ts, Val, Store FROM `Dialect` ORDER BY Id")
    ]
    assert spark_part == twin_csv(source, spec)
    assert b'"he said ""hi"""' in spark_part and b",  lead\n" in spark_part and b'"bare\rcr"' in spark_part
    assert (
        b",1.0E7," in spark_part and b",1.0E-5," in spark_part and b",1.7976931348623157E308," in spark_part
    )


def test_the_twin_quotes_every_string_as_spark_does(spark: Any, tmp_path: Path) -> None:
    """Byte-identical for 400 random strings over the characters CSV dialects disagree on."""
    alphabet = [",", '"', "\n", "\r", "\\", " ", "\t", "#", "'", "a", "Z", "0", "é", "€", "\x00", ";"]
    rng = random.Random(11)
    spec = glue_etl.ColumnSpec("ts", "v", "s")
    rows = [
        {"ts": T0, "v": 1.5, "s": "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))}
        for _ in range(400)
    ]
    assert spark_csv(spark, tmp_path, rows, spec) == twin_csv(rows, spec)


def test_doubles_are_byte_identical_except_where_java_17_prints_more_digits(
    spark: Any, tmp_path: Path
) -> None:
    """Java 17's ``Double.toString`` prints non-shortest digits for 1e16 <= |x| < 1e24 and for
    subnormals (JDK-4511638, fixed in Java 19): there the twin is value-identical, elsewhere
    byte-identical."""
    rng = random.Random(5)

    def random_double(low: int, high: int) -> float:
        digits = rng.randint(1, 17)
        return float(f"{rng.choice('-+')}{rng.uniform(1, 9.99):.{digits - 1}f}e{rng.randint(low, high)}")

    spec = glue_etl.ColumnSpec("ts", "v")
    exact = [*EXTREME, -0.0, 9999999.999, 1e-3 - 1e-19, 2.0**-1022, 1e300, 9.999999999999998e15, 1e24]
    exact += [random_double(-300, 15) for _ in range(1500)] + [random_double(24, 300) for _ in range(500)]
    longer = [5e-324, 2.82879384806159e17, 1e23] + [random_double(16, 23) for _ in range(500)]
    both = exact + longer
    spark_values = [
        v for _, v in records(spark_csv(spark, tmp_path, [{"ts": T0, "v": v} for v in both], spec))[1:]
    ]
    twin_values = [v for _, v in records(twin_csv([{"ts": T0, "v": v} for v in both], spec))[1:]]
    n = len(exact)
    mismatched = [(s, t) for s, t in zip(spark_values[:n], twin_values[:n], strict=True) if s != t]
    assert not mismatched, f"text differs: {mismatched[:5]}"
    assert [float(v) for v in spark_values[n:]] == [float(v) for v in twin_values[n:]] == longer
    differing = [(s, t) for s, t in zip(spark_values[n:], twin_values[n:], strict=True) if s != t]
    assert ("4.9E-324", "5.0E-324") in differing and ("9.999999999999999E22", "1.0E23") in differing


def test_the_jdbc_source_is_read_over_verified_tls_only(
    spark: Any, mysql_database: MySQLDatabase, tmp_path: Path
) -> None:
    """The Glue side of ``database.tls``: Connector/J verifies the server against the CA; a
    wrong CA fails the read, and a plaintext read is refused by the server."""
    from localrun.tls import generate_ca

    server = mysql_database.server
    if not server.ca_file:
        missing("the JDBC TLS test needs a server that requires TLS", "MYSQL_URL has no ssl_ca")
    mysql_database.query("CREATE TABLE t (ts DATETIME, v DOUBLE)")
    mysql_database.query("INSERT INTO t VALUES ('2024-03-10 00:00:00', 1.5)")
    assert JdbcTable.of(mysql_database, "t").frame(spark).count() == 1
    wrong = JdbcTable.of(mysql_database, "t", ca_file=str(generate_ca(tmp_path / "wrong-ca.pem")))
    with pytest.raises(Exception, match=r"(?s)SSL|certificat"):
        wrong.frame(spark).count()
    plaintext = replace(
        JdbcTable.of(mysql_database, "t"), url=JdbcTable.of(mysql_database, "t").url.split("?")[0]
    )
    with pytest.raises(Exception, match=r"(?s)Access denied"):
        plaintext.frame(spark).count()
