"""pipeline_rules: each rule once, the same answer from every reader, and the Lambdas' log context."""

from __future__ import annotations

import copy
import logging
import re
import threading
from collections.abc import Iterator

import pytest

import pipeline_rules as rules
from config import ConfigError, parse_env, read_cdk_context
from config.paths import LAMBDAS, ROOT, SHARED_RULES
from processing import glue_etl
from tests.lambda_loader import load

dataset = load("generate_dataset", "dataset")

GOOD_BUCKETS = ["abc", "my-data-bucket", "ml.pipelines.dev", "a1.b2-c3", "x" * 63, "1.2.3.4a"]
BAD_BUCKETS = [
    ("ab", "3-63"),
    ("x" * 64, "3-63"),
    ("Bad_Bucket", "lowercase"),
    ("-bucket", "beginning and ending"),
    ("bucket.", "beginning and ending"),
    ("a..b", "two adjacent dots"),
    ("192.168.5.4", "IP address"),
    ("xn--bucket", "reserved prefixes"),
    ("sthree-data", "reserved prefixes"),
    ("amzn-s3-demo-data", "reserved prefixes"),
    ("data-s3alias", "reserved suffixes"),
    ("data--ol-s3", "reserved suffixes"),
    ("data.mrap", "reserved suffixes"),
    ("data--x-s3", "reserved suffixes"),
    ("data--table-s3", "reserved suffixes"),
    ("bucket\n", "3-63"),
]


def config_with(**settings: str) -> object:
    raw = copy.deepcopy(read_cdk_context()["environments"]["dev"])
    raw.update(settings)
    return parse_env("dev", raw)


def dataset_env(**overrides: str) -> dict[str, str]:
    return {
        "BUCKET_NAME": "bucket",
        "ETL_PREFIX": "etl/sales/",
        "WORK_PREFIX": "forecast/",
        "TIMESTAMP_COLUMN": "ts",
        "VALUE_COLUMN": "sales",
        "NAME_PREFIX": "forecast",
        **overrides,
    }


@pytest.mark.parametrize("name", GOOD_BUCKETS)
def test_every_reader_accepts_an_s3_bucket_name_dots_included(name: str) -> None:
    assert rules.check_bucket_name(name) == name
    assert config_with(bucketName=name).data_bucket_name == name  # type: ignore[attr-defined]
    assert dataset.Config.from_env(dataset_env(BUCKET_NAME=name)).bucket == name
    assert glue_etl.output_path(name, "etl/", "sales", "jr_1").startswith(f"s3://{name}/")


@pytest.mark.parametrize(("name", "problem"), BAD_BUCKETS)
def test_every_reader_rejects_what_s3_rejects(name: str, problem: str) -> None:
    with pytest.raises(rules.RuleError, match=rf"^is not a valid S3 bucket name: it .*{problem}"):
        rules.check_bucket_name(name)
    with pytest.raises(ConfigError, match="'bucketName' has an invalid value"):
        config_with(bucketName=name)
    if name == name.strip():  # the Lambda reads its variables stripped
        with pytest.raises(rules.ConfigurationError, match=r"^BUCKET_NAME '.*' is not a valid S3 bucket"):
            dataset.Config.from_env(dataset_env(BUCKET_NAME=name))
    with pytest.raises(glue_etl.JobArgumentError, match=r"^BUCKET '.*' is not a valid S3 bucket name"):
        glue_etl.output_path(name, "etl/", "sales", "jr_1")


@pytest.mark.parametrize("prefix", ["etl/", "a/b/", "run=1/", "x.y_z-(1)!/"])
def test_key_prefixes(prefix: str) -> None:
    assert rules.check_key_prefix(prefix) == prefix
    assert glue_etl.output_path("bucket", prefix, "sales", "jr_1").startswith(f"s3://bucket/{prefix}")


@pytest.mark.parametrize(
    "prefix", ["", "/", "etl", "/etl/", "etl//", "./", "a/../", "a b/", "e*/", "it's/", "{x}/"]
)
def test_bad_key_prefixes(prefix: str) -> None:
    with pytest.raises(rules.RuleError, match="must be a relative S3 key prefix ending with '/'"):
        rules.check_key_prefix(prefix)
    if prefix:
        with pytest.raises(rules.ConfigurationError, match=r"^ETL_PREFIX .* relative S3 key prefix"):
            dataset.Config.from_env(dataset_env(ETL_PREFIX=prefix))


@pytest.mark.parametrize("name", ["a", "_x", "Sales_2", "a" * 64])
def test_identifiers(name: str) -> None:
    assert rules.check_identifier(name) == name


@pytest.mark.parametrize("name", ["", "2a", "a$", "a-b", "a b", "a" * 65, "a\n", "ä"])
def test_bad_identifiers_are_rejected_by_the_repository_and_the_glue_job(name: str) -> None:
    with pytest.raises(rules.RuleError, match="must be 1-64 letters, digits or '_'"):
        rules.check_identifier(name)
    repository = load("write_forecast", "forecast_repository")
    with pytest.raises(rules.ConfigurationError, match=r"^FORECAST_TABLE"):
        repository.validate_table_name(name)
    with pytest.raises(glue_etl.JobArgumentError, match=r"^SOURCE_TABLE"):
        glue_etl.output_path("bucket", "etl/", name, "jr_1")
    with pytest.raises(glue_etl.JobArgumentError, match="must be 1-64 letters"):
        glue_etl.ColumnSpec(name, "value")


def test_columns_must_be_distinct_case_insensitively() -> None:
    assert rules.check_columns("ts", "v", None) == ["ts", "v"]
    with pytest.raises(rules.RuleError, match=r"must be distinct \(case-insensitively\)"):
        rules.check_columns("ts", "v", "TS")


def test_the_name_limits_are_computed_from_the_longest_names() -> None:
    digest = rules.execution_digest("x" * 80)
    forecast = "f" * rules.MAX_FORECAST_NAME_PREFIX
    job = "j" * rules.MAX_JOB_NAME_PREFIX
    assert len(f"{forecast}-transform-{digest}") == rules.SAGEMAKER_NAME_LENGTH == 63
    assert len(f"{job}-{'9' * rules.MAX_BATCH_ID_DIGITS}-{digest}") == 63
    assert rules.check_name_prefix(forecast, rules.MAX_FORECAST_NAME_PREFIX) == forecast
    with pytest.raises(rules.RuleError, match="is 37 characters; at most 36 fit"):
        rules.check_name_prefix(forecast + "f", rules.MAX_FORECAST_NAME_PREFIX)
    for bad in ("Forecast", "1x", "a--b", "a-", "a_b"):
        with pytest.raises(rules.RuleError, match="lowercase"):
            rules.check_name_prefix(bad, 36)


def test_execution_names_and_job_run_ids() -> None:
    assert rules.check_execution_name("a" * 80) and rules.check_job_run_id("jr_" + "f" * 64)
    for bad_name in ("", "a" * 81, "a b", "a/b", None):
        with pytest.raises(rules.RuleError):
            rules.check_execution_name(bad_name)
    for bad_id in ("", "jr/1", "x" * 256, None):
        with pytest.raises(rules.RuleError):
            rules.check_job_run_id(bad_id)


def test_environment_names_the_variable() -> None:
    env = rules.Environment({"A": " x ", "N": "3", "Z": "0", "W": "w", "BLANK": " "})
    assert env.required("A") == "x" and env.optional("BLANK", "d") == "d" and env.positive_int("N", 1) == 3
    assert env.positive_int("MISSING", 7) == 7
    for call, message in [
        (lambda: env.required("BLANK"), "environment variable BLANK is not set"),
        (lambda: env.positive_int("Z", 1), "Z must be at least 1, got 0"),
        (lambda: env.positive_int("W", 1), "W 'w' is not an integer"),
        (lambda: env.required("A", rules.freq_step), "A 'x' is not supported"),
    ]:
        with pytest.raises(rules.ConfigurationError, match=f"^{re.escape(message)}"):
            call()


def test_tls_errors_are_configuration_errors_too() -> None:
    tls = load("write_forecast", "mysql_connection")
    with pytest.raises(rules.ConfigurationError, match=r"^DB_TLS must be one of"):
        tls.TlsSettings.from_env({"DB_TLS": "maybe"})


# --------------------------------------------------------------------------- one definition

#: Patterns that mark a rule defined again outside pipeline_rules.py.
COPIES = {
    "frequency": re.compile(r"min\|H\|D\|W"),
    "identifier": re.compile(r"\[A-Za-z_\]\[A-Za-z0-9_\]"),
    "bucket name": re.compile(r"\[a-z0-9\]\[a-z0-9\.?-"),
    "name-prefix limit": re.compile(r"\b(MAX_\w*NAME_PREFIX|_LONGEST_SUFFIX)\s*="),
    "sagemaker name": re.compile(r"\[a-zA-Z0-9\]\(-\*"),
    "execution name": re.compile(r"0-9A-Za-z_-"),
}


def test_no_reader_defines_a_shared_rule_again() -> None:
    readers = [
        *LAMBDAS.glob("*/*.py"),
        ROOT / "processing" / "glue_etl.py",
        *sorted((ROOT / "config").glob("*.py")),
    ]
    readers += sorted((ROOT / "localrun").glob("*.py"))
    assert len(readers) > 10
    for path in readers:
        text = path.read_text()
        for rule, pattern in COPIES.items():
            assert not pattern.search(text), f"{path.relative_to(ROOT)} defines the {rule} rule again"
    for rule, pattern in COPIES.items():
        assert pattern.search(SHARED_RULES.read_text()), f"the {rule} rule moved: update this test"


# --------------------------------------------------------------------------- log context


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    handler = Records()
    logger = logging.getLogger("rules-test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.records
    logger.removeHandler(handler)


def test_log_context_fields_are_on_every_record_of_the_block(records: list[logging.LogRecord]) -> None:
    log = logging.getLogger("rules-test")
    with rules.log_context(execution_name="run-1", skipped=None):
        log.info("outer")
        with rules.log_context(s3_key="k"):
            log.info("inner", extra={"other": 1})
        log.info("outer again")
    log.info("after")
    fields = [
        (r.getMessage(), getattr(r, "execution_name", None), getattr(r, "s3_key", None)) for r in records
    ]
    assert fields == [
        ("outer", "run-1", None),
        ("inner", "run-1", "k"),
        ("outer again", "run-1", None),
        ("after", None, None),
    ]
    assert not hasattr(records[0], "skipped") and records[1].other == 1  # type: ignore[attr-defined]


def test_a_failure_is_logged_once_with_the_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with pytest.raises(KeyError), rules.log_context(execution_name="outer"), rules.log_context(s3_key="k"):
        raise KeyError("gone")
    (failure,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert failure.getMessage() == "failed with KeyError: 'gone'" and failure.exc_info
    assert (failure.execution_name, failure.s3_key) == ("outer", "k")  # type: ignore[attr-defined]


def test_log_contexts_of_threads_do_not_mix(records: list[logging.LogRecord]) -> None:
    log = logging.getLogger("rules-test")
    barrier = threading.Barrier(2)

    def run(name: str) -> None:
        with rules.log_context(execution_name=name):
            barrier.wait()
            log.info(name)

    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted((r.getMessage(), r.execution_name) for r in records) == [("a", "a"), ("b", "b")]  # type: ignore[attr-defined]


def test_the_module_is_plain_python() -> None:
    """No CDK, no third-party import: it must load in a bare Lambda or Glue interpreter."""
    imports = re.findall(r"^(?:from|import) (\w+)", SHARED_RULES.read_text(), re.MULTILINE)
    assert set(imports) <= {
        "__future__",
        "contextvars",
        "hashlib",
        "logging",
        "re",
        "collections",
        "contextlib",
        "datetime",
        "typing",
    }
