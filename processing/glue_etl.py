"""Glue 5.1 PySpark job (Spark 3.5.6, Python 3.11): copy the crawled MySQL table to CSV for one run.

Reads the Data Catalog table ``CATALOG_TABLE`` of ``CATALOG_DATABASE`` (created by the JDBC
crawler, read through the Glue JDBC connection), keeps the timestamp, value and optional series
columns, casts them (timestamp, double, string) and writes CSV with a header row to
``s3://<BUCKET>/<OUTPUT_PREFIX><SOURCE_TABLE>/run=<JOB_RUN_ID>/`` (Spark ``part-*.csv`` files).
The generate-dataset Lambda reads exactly that prefix.

Every run copies the whole table (no job bookmark: the forecast needs the full history).

The CSV dialect (:data:`CSV_OPTIONS`, every option Spark would otherwise default set explicitly):
UTF-8, ``,`` between fields, ``\n`` after each record, a header row. A field holding ``,``,
``"``, ``\n`` or ``\r`` is quoted, with ``"`` doubled inside (RFC 4180, what Python's ``csv``
reads); leading and trailing spaces are kept. A NULL, and an empty string, is an empty field.
Timestamps are UTC (the JVM and the session run in UTC) as ``yyyy-MM-dd HH:mm:ss.SSSSSS``, so a
``DATETIME(6)`` keeps its microseconds. Doubles are Java's ``Double.toString``: ``1.0E7``,
``1.0E-5``, ``0.001``.

Job arguments (``--NAME value``; Glue adds ``JOB_NAME`` and ``JOB_RUN_ID``): ``BUCKET``,
``OUTPUT_PREFIX`` (e.g. ``etl/``), ``CATALOG_DATABASE``, ``CATALOG_TABLE``, ``SOURCE_TABLE``,
``TIMESTAMP_COLUMN``, ``VALUE_COLUMN`` and, optional, ``SERIES_COLUMN`` (absent or empty: a single
series).

The naming rules come from ``pipeline_rules`` (the repository's ``pipeline_rules.py``), the module
the config and the Lambdas check the same values with: the job gets it with ``--extra-py-files``
and imports it by name, as the tests and the offline runner do from the repository root.

Everything but :func:`main` is plain Python, so this module imports without pyspark/awsglue.
:func:`write_csv` is the script's plain-Python twin, for the offline runner without a JVM: it
writes the bytes Spark writes (tests hold it to Spark's output), except that for a few doubles
Java 17 prints more digits than needed (``4.9E-324`` for ``5e-324``), which parse to the same value.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO

from pipeline_rules import (
    RuleError,
    check_bucket_name,
    check_columns,
    check_identifier,
    check_job_run_id,
    check_key_prefix,
)

REQUIRED_ARGS = (
    "JOB_NAME",
    "JOB_RUN_ID",
    "BUCKET",
    "OUTPUT_PREFIX",
    "CATALOG_DATABASE",
    "CATALOG_TABLE",
    "SOURCE_TABLE",
    "TIMESTAMP_COLUMN",
    "VALUE_COLUMN",
)
OPTIONAL_ARGS = ("SERIES_COLUMN",)
#: Spark's ``timestampFormat`` for the CSV, and the same format in Python.
SPARK_TIMESTAMP_FORMAT = "yyyy-MM-dd HH:mm:ss.SSSSSS"
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
#: The Spark CSV writer's options. Spark's defaults differ where noted, and each was wrong for
#: Python's ``csv`` reader or lost data.
CSV_OPTIONS = {
    "header": "true",
    "sep": ",",
    "lineSep": "\n",
    "encoding": "UTF-8",
    "quote": '"',
    "escape": '"',  # default ``\``: ``he said "hi"`` became ``"he said \"hi\""``, misread by csv
    "escapeQuotes": "true",
    "quoteAll": "false",
    "ignoreLeadingWhiteSpace": "false",  # default true: ``  a`` became ``a``
    "ignoreTrailingWhiteSpace": "false",  # default true: ``a  `` became ``a``
    "timestampFormat": SPARK_TIMESTAMP_FORMAT,  # default ISO with ``T``, milliseconds and offset
    "nullValue": "",
    "emptyValue": "",  # default ``""``; an empty id is rejected downstream either way
    "compression": "none",
}
#: The characters that make Spark (univocity) quote a field with the options above.
_QUOTE_TRIGGERS = frozenset(',"\n\r')

_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")


class JobArgumentError(ValueError):
    """A job argument is missing or invalid."""


@dataclass(frozen=True)
class ColumnSpec:
    """The configured columns; output columns keep these names, in this order."""

    timestamp: str
    value: str
    series: str | None = None

    def __post_init__(self) -> None:
        try:
            check_columns(self.timestamp, self.value, self.series)
        except RuleError as exc:
            raise JobArgumentError(f"TIMESTAMP_COLUMN, VALUE_COLUMN and SERIES_COLUMN: {exc}") from None

    @property
    def columns(self) -> list[str]:
        """The CSV header."""
        return [self.timestamp, self.value] + ([self.series] if self.series else [])


@dataclass(frozen=True)
class JobArgs:
    job_name: str
    job_run_id: str
    bucket: str
    output_prefix: str
    catalog_database: str
    catalog_table: str
    source_table: str
    columns: ColumnSpec
    output_path: str


def catalog_table_name(database: str, table: str) -> str:
    """The Data Catalog table name a Glue JDBC crawler gives ``<database>/<table>``.

    The crawler names it ``<database>_<table>``, with every non-alphanumeric character replaced by
    ``_``, lowercased (e.g. ``Shop-DB``/``Sales`` -> ``shop_db_sales``). No crawler table prefix.
    """
    return _NOT_ALNUM.sub("_", f"{database}_{table}").lower()


def output_path(bucket: str, output_prefix: str, source_table: str, job_run_id: str) -> str:
    """``s3://<bucket>/<output_prefix><source_table>/run=<job_run_id>/``; ``output_prefix`` may be
    empty."""
    for name, value, rule in (
        ("BUCKET", bucket, check_bucket_name),
        ("OUTPUT_PREFIX", output_prefix, check_key_prefix),
        ("SOURCE_TABLE", source_table, check_identifier),
        ("JOB_RUN_ID", job_run_id, check_job_run_id),
    ):
        if value or name != "OUTPUT_PREFIX":
            try:
                rule(value)
            except RuleError as exc:
                raise JobArgumentError(f"{name} {value!r} {exc}") from None
    return f"s3://{bucket}/{output_prefix}{source_table}/run={job_run_id}/"


def resolve_options(argv: Sequence[str], names: Iterable[str]) -> dict[str, str]:
    """Values of ``--NAME value`` or ``--NAME=value`` in ``argv`` for the given names.

    Other arguments (Glue passes many, e.g. ``--TempDir``, ``--job-bookmark-option``) are
    ignored; the last occurrence wins, as with Glue's ``getResolvedOptions``. A name followed
    by another ``--option`` (or by nothing) has the empty value.
    """
    wanted = set(names)
    found: dict[str, str] = {}
    i = 0
    while i < len(argv):
        token = argv[i]
        if token.startswith("--"):
            name, eq, value = token[2:].partition("=")
            if name in wanted:
                if eq:
                    found[name] = value
                elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                    found[name] = argv[i + 1]
                    i += 1
                else:  # a bare flag: empty value
                    found[name] = ""
        i += 1
    return found


def parse_job_args(argv: Sequence[str]) -> JobArgs:
    """The validated job arguments from ``sys.argv``-style ``argv``."""
    found = resolve_options(argv, REQUIRED_ARGS + OPTIONAL_ARGS)
    missing = [name for name in REQUIRED_ARGS if not found.get(name, "").strip()]
    if missing:
        raise JobArgumentError(f"missing job argument(s): {', '.join('--' + m for m in missing)}")
    values = {k: v.strip() for k, v in found.items()}
    return JobArgs(
        job_name=values["JOB_NAME"],
        job_run_id=values["JOB_RUN_ID"],
        bucket=values["BUCKET"],
        output_prefix=values["OUTPUT_PREFIX"],
        catalog_database=values["CATALOG_DATABASE"],
        catalog_table=values["CATALOG_TABLE"],
        source_table=values["SOURCE_TABLE"],
        columns=ColumnSpec(
            values["TIMESTAMP_COLUMN"], values["VALUE_COLUMN"], values.get("SERIES_COLUMN") or None
        ),
        output_path=output_path(
            values["BUCKET"], values["OUTPUT_PREFIX"], values["SOURCE_TABLE"], values["JOB_RUN_ID"]
        ),
    )


def resolve_columns(available: Iterable[str], spec: ColumnSpec) -> dict[str, str]:
    """Configured name -> the source column's actual name, matched case-insensitively.

    Crawled catalog tables have lowercase column names, so ``SaleTime`` finds ``saletime``.
    """
    by_lower: dict[str, list[str]] = {}
    for name in available:
        by_lower.setdefault(name.lower(), []).append(name)
    resolved = {}
    for wanted in spec.columns:
        exact = [n for n in by_lower.get(wanted.lower(), []) if n == wanted]
        candidates = exact or by_lower.get(wanted.lower(), [])
        if len(candidates) != 1:
            problem = "is not in" if not candidates else "is ambiguous in"
            raise JobArgumentError(f"column {wanted!r} {problem} the source columns {sorted(available)}")
        resolved[wanted] = candidates[0]
    return resolved


def select_expressions(spec: ColumnSpec, source_columns: Mapping[str, str] | None = None) -> list[str]:
    """Spark SQL ``selectExpr`` expressions: the casts, aliased to the configured names.

    ``source_columns`` maps configured names to the source's names (see :func:`resolve_columns`).
    """
    source = source_columns or {}

    def cast(name: str, sql_type: str) -> str:
        return f"CAST(`{source.get(name, name)}` AS {sql_type}) AS `{name}`"

    expressions = [cast(spec.timestamp, "TIMESTAMP"), cast(spec.value, "DOUBLE")]
    if spec.series:
        expressions.append(cast(spec.series, "STRING"))
    return expressions


# --------------------------------------------------------------------------- same CSV without Spark


def format_timestamp(value: Any) -> str:
    """Like ``CAST(x AS TIMESTAMP)`` written in UTC with :data:`SPARK_TIMESTAMP_FORMAT`.

    '' for NULL or an unparsable value (Spark's non-ANSI cast gives NULL there too).
    """
    if value is None:
        return ""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip())
        except ValueError:
            return ""
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed.strftime(TIMESTAMP_FORMAT)


def java_double(number: float) -> str:
    """``number`` as Java's ``Double.toString`` writes it (Spark's CSV text of a double).

    Plain notation for 1e-3 <= |x| < 1e7 (``0.001``, ``1234567.0``), else ``d.dddE<n>``
    (``1.0E7``, ``-2.5E-7``). Digits are Python's shortest round-trip ones, which Java 17 matches
    except for a few values where it prints more (``2.82879384806159008E17``); both parse back to
    the same double.
    """
    if number == 0:
        return "-0.0" if math.copysign(1.0, number) < 0 else "0.0"
    sign = "-" if number < 0 else ""
    magnitude = abs(number)
    if 1e-3 <= magnitude < 1e7:
        return sign + repr(magnitude)  # Python's repr is plain notation in this range, as Java's
    digits_tuple = Decimal(repr(magnitude)).normalize().as_tuple()
    digits = "".join(map(str, digits_tuple.digits))
    exponent = int(digits_tuple.exponent) + len(digits) - 1
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{exponent}"


def format_double(value: Any) -> str:
    """Like ``CAST(x AS DOUBLE)`` written by Spark (:func:`java_double`); '' if NULL or not a
    finite number."""
    if value is None or isinstance(value, bool):
        return ""
    try:
        number = float(Decimal(str(value).strip())) if not isinstance(value, float) else value
    except (InvalidOperation, ValueError):
        return ""
    return java_double(number) if math.isfinite(number) else ""


def format_string(value: Any) -> str:
    return "" if value is None else str(value)


def csv_record(row: Mapping[str, Any], spec: ColumnSpec) -> list[str]:
    """One output record for a row keyed by the configured column names."""
    record = [format_timestamp(row.get(spec.timestamp)), format_double(row.get(spec.value))]
    if spec.series:
        record.append(format_string(row.get(spec.series)))
    return record


def csv_field(text: str) -> str:
    """One field as Spark writes it with :data:`CSV_OPTIONS`: quoted, ``"`` doubled, if it holds
    ``,``, ``"``, ``\n`` or ``\r``; as it is otherwise (spaces included)."""
    if _QUOTE_TRIGGERS.isdisjoint(text):
        return text
    return '"' + text.replace('"', '""') + '"'


def write_csv(rows: Iterable[Mapping[str, Any]], spec: ColumnSpec, out_file: TextIO) -> int:
    """Write the job's CSV (header + cast columns, Spark's dialect) for ``rows`` to ``out_file``.

    ``out_file`` should be opened with ``newline=""``. Returns the number of data rows.
    """
    out_file.write(",".join(spec.columns) + "\n")
    count = 0
    for row in rows:
        out_file.write(",".join(csv_field(text) for text in csv_record(row, spec)) + "\n")
        count += 1
    return count


# --------------------------------------------------------------------------- Glue


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_job_args(sys.argv if argv is None else argv)

    from awsglue.context import GlueContext
    from awsglue.job import Job
    from pyspark.context import SparkContext

    glue = GlueContext(SparkContext.getOrCreate())
    spark = glue.spark_session
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    job = Job(glue)
    job.init(args.job_name, {"JOB_NAME": args.job_name, "JOB_RUN_ID": args.job_run_id})

    frame = glue.create_dynamic_frame.from_catalog(
        database=args.catalog_database, table_name=args.catalog_table
    ).toDF()
    mapping = resolve_columns(frame.columns, args.columns)
    selected = frame.selectExpr(*select_expressions(args.columns, mapping))
    selected.write.mode("overwrite").options(**CSV_OPTIONS).csv(args.output_path)
    print(
        f"wrote {', '.join(args.columns.columns)} of {args.catalog_database}.{args.catalog_table} "
        f"to {args.output_path}"
    )
    job.commit()


if __name__ == "__main__":  # pragma: no cover
    main()
