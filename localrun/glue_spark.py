"""The Glue script's ``main()`` on local Spark: Glue 5.1's engine, with stand-ins for Glue's own parts.

Glue runs the script on Spark 3.5.6 with Java 17 (:data:`stacks.runtimes.GLUE`). Here it runs
on pyspark of that version in ``local[2]``, reading the source table over JDBC (Debian's MariaDB
Connector/J, ``libmariadb-java``, with a ``jdbc:mysql://`` URL: with ``jdbc:mariadb://`` Spark 3.5
picks its generic dialect, which quotes column names as strings). Only what exists solely
inside Glue is stood in for, by :func:`glue_stand_in`, used by the offline runner and the tests:

* ``GlueContext.create_dynamic_frame.from_catalog`` returns the JDBC DataFrame of the source
  table, with lowercase column names as the crawler catalogs them;
* ``Job`` does nothing;
* the ``s3://`` output goes to a local folder; :func:`upload_output` then puts the files into
  (moto) S3 under the same keys, at the end of the run, as Glue's committer does.

The JVM runs in UTC (``-Duser.timezone=UTC``): JDBC reads DATETIME values in the JVM's time zone,
not in ``spark.sql.session.timeZone``. Glue's JVM runs in UTC.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from localrun.mariadb import MySQLDatabase
from stacks.runtimes import GLUE

#: Overrides where the MariaDB JDBC driver jar is.
JDBC_JAR_ENV = "MARIADB_JDBC_JAR"
#: The Debian package of the driver, and where it puts the jar.
JDBC_PACKAGE = "libmariadb-java"
_JAR = re.compile(r"/mariadb-java-client(-[0-9.]+)?\.jar$")
_DEFAULT_JAR = Path("/usr/share/java/mariadb-java-client.jar")
JDBC_DRIVER = "org.mariadb.jdbc.Driver"
_JAVA_VERSION = re.compile(r'version "(?:1\.)?(\d+)')


class SparkUnavailable(RuntimeError):
    """Local Spark cannot run Glue's engine here (no JVM, no JDBC driver, or other versions)."""


@dataclass(frozen=True)
class Engine:
    """What local Spark runs on: Java's major version, the JDBC jar, pyspark's version."""

    java_version: str
    jdbc_jar: Path
    spark_version: str

    def describe(self) -> str:
        return f"Spark {self.spark_version} local[2], Java {self.java_version}"


def find_java() -> str:
    """``$JAVA_HOME/bin/java`` or ``java`` on PATH (as pyspark looks for it)."""
    home = os.environ.get("JAVA_HOME", "").strip()
    candidate = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not candidate or not os.access(candidate, os.X_OK):
        raise SparkUnavailable(
            f"no Java runtime (JAVA_HOME or java on PATH): install openjdk-{GLUE.java}-jre-headless"
        )
    return candidate


def java_major_version(java: str) -> str:
    """The major version ``java -version`` reports, e.g. ``17``."""
    result = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60, check=False)
    match = _JAVA_VERSION.search(result.stderr + result.stdout)
    if not match:
        raise SparkUnavailable(f"cannot tell the version of {java}: {result.stderr.strip()[:200]}")
    return match.group(1)


def find_jdbc_jar() -> Path:
    """The MariaDB Connector/J jar: ``$MARIADB_JDBC_JAR``, else the one ``dpkg -L libmariadb-java`` lists."""
    configured = os.environ.get(JDBC_JAR_ENV, "").strip()
    if configured:
        if not Path(configured).is_file():
            raise SparkUnavailable(f"{JDBC_JAR_ENV}={configured} is not a file")
        return Path(configured)
    listed: list[str] = []
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        result = subprocess.run(
            ["dpkg", "-L", JDBC_PACKAGE], capture_output=True, text=True, timeout=60, check=False
        )
        listed = [line for line in result.stdout.splitlines() if _JAR.search(line)]
    for path in [*sorted(listed, key=len), str(_DEFAULT_JAR)]:  # the unversioned link first
        if Path(path).is_file():
            return Path(path)
    raise SparkUnavailable(f"no MariaDB JDBC driver: install {JDBC_PACKAGE} or set {JDBC_JAR_ENV}")


def check_engine() -> Engine:
    """Glue's engine, or :class:`SparkUnavailable` saying what is missing or of another version."""
    try:
        import pyspark
    except ImportError:
        raise SparkUnavailable(
            f"pyspark is not installed (make setup installs pyspark=={GLUE.spark})"
        ) from None
    if pyspark.__version__ != GLUE.spark:
        raise SparkUnavailable(
            f"pyspark {pyspark.__version__} is installed; Glue {GLUE.version} runs {GLUE.spark}"
        )
    java = find_java()
    version = java_major_version(java)
    if version != GLUE.java:
        raise SparkUnavailable(f"{java} is Java {version}; Glue {GLUE.version} runs Java {GLUE.java}")
    return Engine(version, find_jdbc_jar(), pyspark.__version__)


def local_spark(engine: Engine) -> Any:
    """The process's local SparkSession for ``engine`` (UI off, JVM and session in UTC)."""
    from pyspark.sql import SparkSession

    utc = "-Duser.timezone=UTC"
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # offline: no lookup of this host's address
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("glue-etl-local")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.extraJavaOptions", utc)
        .config("spark.executor.extraJavaOptions", utc)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.jars", str(engine.jdbc_jar))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


@dataclass(frozen=True)
class JdbcTable:
    """A source table Spark reads over JDBC, as the Glue connection does."""

    url: str
    table: str
    user: str
    password: str = field(repr=False)

    @classmethod
    def of(cls, database: MySQLDatabase, table: str, *, ca_file: str | None = None) -> JdbcTable:
        """The table over TLS verified against ``ca_file`` (default: the server's CA), as Glue's
        ``JDBC_ENFORCE_SSL`` with ``CUSTOM_JDBC_CERT`` does; plaintext for a server without one."""
        server = database.server
        url = f"jdbc:mysql://{server.host}:{server.port}/{database.name}"
        ca_file = ca_file or server.ca_file
        if ca_file:  # MariaDB Connector/J 2.7: verify the certificate and the host name
            url += f"?useSsl=true&serverSslCert={ca_file}&disableSslHostnameVerification=false"
        return cls(url, table, server.user, server.password)

    def frame(self, spark: Any) -> Any:
        return (
            spark.read.format("jdbc")
            .option("url", self.url)
            .option("driver", JDBC_DRIVER)
            .option("dbtable", f"`{self.table}`")
            .option("user", self.user)
            .option("password", self.password)
            .load()
        )


@contextlib.contextmanager
def glue_stand_in(spark: Any, catalog: Mapping[tuple[str, str], JdbcTable], s3_root: Path) -> Iterator[None]:
    """``awsglue.context.GlueContext`` and ``awsglue.job.Job`` for the script's ``main()``.

    ``catalog`` maps (catalog database, table) to the source it was crawled from; ``s3://b/k``
    output is written to ``s3_root/b/k``.
    """
    from pyspark.sql.readwriter import DataFrameWriter

    class DynamicFrame:
        def __init__(self, frame: Any) -> None:
            self._frame = frame

        def toDF(self) -> Any:
            return self._frame

    class DynamicFrameReader:
        def from_catalog(self, database: str, table_name: str, **_options: Any) -> DynamicFrame:
            if (database, table_name) not in catalog:
                raise LookupError(
                    f"EntityNotFoundException: table {table_name} not found in database {database}"
                )
            frame = catalog[database, table_name].frame(spark)
            return DynamicFrame(frame.toDF(*[name.lower() for name in frame.columns]))

    class GlueContext:
        def __init__(self, _spark_context: Any) -> None:
            self.spark_session = spark
            self.create_dynamic_frame = DynamicFrameReader()

    class Job:
        def __init__(self, _glue_context: Any) -> None: ...

        def init(self, _name: str, _args: Mapping[str, str]) -> None: ...

        def commit(self) -> None: ...

    write_csv = DataFrameWriter.csv

    def csv_to_local(writer: Any, path: str, *args: Any, **kwargs: Any) -> Any:
        if not path.startswith("s3://"):
            raise ValueError(f"the Glue job writes to s3:// only, not {path}")
        local = s3_root / path.removeprefix("s3://")  # not as_uri(): Hadoop keeps its %3D for '='
        return write_csv(writer, f"file://{local}", *args, **kwargs)

    awsglue, context, job = (types.ModuleType(n) for n in ("awsglue", "awsglue.context", "awsglue.job"))
    context.GlueContext = GlueContext  # type: ignore[attr-defined]
    job.Job = Job  # type: ignore[attr-defined]
    modules = {"awsglue": awsglue, "awsglue.context": context, "awsglue.job": job}
    with mock.patch.dict(sys.modules, modules), mock.patch.object(DataFrameWriter, "csv", csv_to_local):
        yield


def upload_output(s3: Any, s3_root: Path) -> list[str]:
    """Put every file under ``s3_root/<bucket>/`` into S3 as ``s3://<bucket>/<key>``; the keys.

    The local file system's checksum files (``.*.crc``), which S3 output never has, are left out.
    """
    keys = []
    for path in sorted(p for p in s3_root.rglob("*") if p.is_file()):
        if path.name.startswith(".") and path.name.endswith(".crc"):
            continue
        bucket, *rest = path.relative_to(s3_root).parts
        key = "/".join(rest)
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        keys.append(key)
    return keys


def glue_argv(job_name: str, job_run_id: str, arguments: Mapping[str, str]) -> list[str]:
    """``sys.argv`` as Glue gives it to the script: the job's name and run id, then its arguments."""
    argv = ["glue_etl.py", "--JOB_NAME", job_name, "--JOB_RUN_ID", job_run_id]
    return argv + [item for pair in arguments.items() for item in pair]


def run_glue_main(
    spark: Any,
    *,
    job_name: str,
    job_run_id: str,
    arguments: Mapping[str, str],
    source: JdbcTable,
    s3: Any,
    workdir: Path,
) -> list[str]:
    """Run ``processing.glue_etl.main()`` on ``spark`` as Glue would with the job's ``arguments``
    (``--NAME``: value, as :func:`stacks.forecast_events.etl_job_arguments` gives them), its
    catalog table crawled from ``source``; then upload its output. Returns the S3 keys."""
    from processing import glue_etl

    catalog = {(arguments["--CATALOG_DATABASE"], arguments["--CATALOG_TABLE"]): source}
    s3_root = workdir / "s3"
    shutil.rmtree(s3_root, ignore_errors=True)
    s3_root.mkdir(parents=True)
    with glue_stand_in(spark, catalog, s3_root):
        glue_etl.main(glue_argv(job_name, job_run_id, arguments))
    return upload_output(s3, s3_root)
