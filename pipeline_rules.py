"""The rules the config, every Lambda and the Glue job share, each defined once.

Frequencies, S3 bucket names and key prefixes, MySQL identifiers, SageMaker and Step Functions
names and their length limits; and, for the Lambdas, reading the environment
(:class:`Environment`, :class:`ConfigurationError`) and the execution name on every log line
(:func:`log_context`).

Plain Python 3.11 with the standard library only. It is imported as ``pipeline_rules``
everywhere: by the ``config`` package from the repository root, by each Lambda from its bundle
(``stacks/bundling.py`` copies this file into every function) and by the Glue script from the
archive the job gets with ``--extra-py-files``. ``make lint`` checks it against the Python of
the Lambda runtime and of Glue.

A rule raises :class:`RuleError` saying what is wrong with the value; the caller names the
setting, environment variable or job argument that held it.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar


class RuleError(ValueError):
    """A value breaks a rule; the message (``is ...`` or ``must ...``) says how, not which value."""


# --------------------------------------------------------------------------- names and lengths

#: A DeepAR JSON line's ``start``, as generate-dataset writes it and write-forecast reads it back.
DEEPAR_START_FORMAT = "%Y-%m-%d %H:%M:%S"


def resource_prefix(env_name: str) -> str:
    """The prefix of the names an environment gives its resources: ``ml-pipelines-<env>``."""
    return f"ml-pipelines-{env_name}"


#: SageMaker job and model names: at most 63 of ``[a-zA-Z0-9-]``, no leading or trailing hyphen.
SAGEMAKER_NAME_LENGTH = 63
_SAGEMAKER_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
#: Hex digits of the execution name's SHA-256 that make a SageMaker name unique per execution.
DIGEST_CHARS = 16
#: Step Functions execution names (a forecast run's key): 1 to 80 of these characters.
EXECUTION_NAME_CHARACTERS = "0-9A-Za-z_-"
EXECUTION_NAME_LENGTH = 80
_EXECUTION_NAME = re.compile(f"[{EXECUTION_NAME_CHARACTERS}]{{1,{EXECUTION_NAME_LENGTH}}}")
#: Glue job run ids (``jr_<hex>``): 1 to 255 of ``[0-9A-Za-z_-]``.
_JOB_RUN_ID = re.compile(r"[0-9A-Za-z_-]{1,255}")
#: Batch ids are non-negative integers of at most 18 digits (a signed 64-bit column holds them).
MAX_BATCH_ID_DIGITS = 18
#: The forecast's SageMaker names, ``<prefix>-<kind>-<digest>``, one per kind.
FORECAST_NAME_KINDS = ("train", "model", "transform")
#: The longest forecast name prefix: the longest kind's name stays within SageMaker's limit (36).
MAX_FORECAST_NAME_PREFIX = (
    SAGEMAKER_NAME_LENGTH - max(len(f"-{kind}-") for kind in FORECAST_NAME_KINDS) - DIGEST_CHARS
)
#: The longest processing job-name prefix: ``<prefix>-<batch id>-<digest>`` stays within it (27).
MAX_JOB_NAME_PREFIX = SAGEMAKER_NAME_LENGTH - len("--") - MAX_BATCH_ID_DIGITS - DIGEST_CHARS
#: Name prefixes: lowercase letters and digits in hyphen-separated words, starting with a letter.
_NAME_PREFIX = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")


def execution_digest(execution_name: str) -> str:
    """The first :data:`DIGEST_CHARS` hex digits of the SHA-256 of ``execution_name``."""
    return hashlib.sha256(execution_name.encode()).hexdigest()[:DIGEST_CHARS]


def check_name_prefix(prefix: str, max_length: int) -> str:
    """``prefix`` if it is a name prefix (see :data:`_NAME_PREFIX`) of at most ``max_length``."""
    if not _NAME_PREFIX.fullmatch(prefix):
        raise RuleError(
            "must be lowercase letters and digits in words joined by single hyphens, starting with a letter"
        )
    if len(prefix) > max_length:
        raise RuleError(
            f"is {len(prefix)} characters; at most {max_length} fit SageMaker's "
            f"{SAGEMAKER_NAME_LENGTH}-character name limit"
        )
    return prefix


def check_sagemaker_name(name: str) -> str:
    """``name`` if it is a valid SageMaker job or model name."""
    if not _SAGEMAKER_NAME.fullmatch(name):
        raise RuleError(
            f"is not a SageMaker name (at most {SAGEMAKER_NAME_LENGTH} letters, digits and inner hyphens)"
        )
    return name


def check_execution_name(name: object) -> str:
    """``name`` if it is a Step Functions execution name this app uses."""
    if not isinstance(name, str) or not _EXECUTION_NAME.fullmatch(name):
        raise RuleError(f"is not 1-{EXECUTION_NAME_LENGTH} characters of [{EXECUTION_NAME_CHARACTERS}]")
    return name


def check_job_run_id(run_id: object) -> str:
    """``run_id`` if it is a Glue job run id (1-255 of ``[0-9A-Za-z_-]``)."""
    if not isinstance(run_id, str) or not _JOB_RUN_ID.fullmatch(run_id):
        raise RuleError("is not a Glue job run id (1-255 characters of [0-9A-Za-z_-])")
    return run_id


# --------------------------------------------------------------------------- frequencies

#: DeepAR frequencies with a fixed step: ``<n>min``, ``<n>H``, ``<n>D``, ``<n>W`` (``n`` optional).
_FREQ = re.compile(r"([1-9][0-9]{0,5})?(min|H|D|W)")
_FREQ_UNITS = {
    "min": timedelta(minutes=1),
    "H": timedelta(hours=1),
    "D": timedelta(days=1),
    "W": timedelta(weeks=1),
}


def freq_step(freq: str) -> timedelta:
    """The step of a DeepAR frequency: ``<n>min``, ``<n>H``, ``<n>D`` or ``<n>W``, ``n`` from 1 to
    999999 and optional (``H`` is ``1H``). Month and other calendar frequencies have no fixed step."""
    match = _FREQ.fullmatch(freq) if isinstance(freq, str) else None
    if not match:
        raise RuleError("is not supported; use <n>min, <n>H, <n>D or <n>W (e.g. 1H, 15min, 1D)")
    return int(match.group(1) or 1) * _FREQ_UNITS[match.group(2)]


# --------------------------------------------------------------------------- S3

#: S3's rules for general purpose bucket names (dots are allowed), in the order they are checked.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_ADDRESS = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
#: One key prefix segment: S3's safe key characters and ``=``, less ``*`` and ``'``, which the
#: state machines' intrinsic strings and the IAM resource patterns would read as syntax.
_PREFIX_SEGMENT = re.compile(r"[A-Za-z0-9!_.()=-]+")


def check_bucket_name(name: str) -> str:
    """``name`` if it follows S3's naming rules for general purpose buckets: 3-63 lowercase
    letters, digits, dots and hyphens, beginning and ending with a letter or digit, no two
    adjacent dots, not an IP address, none of S3's reserved prefixes and suffixes."""
    if not isinstance(name, str) or not _BUCKET.fullmatch(name):
        problem = (
            "must be 3-63 lowercase letters, digits, dots and hyphens, beginning and ending with a "
            "letter or digit"
        )
    elif ".." in name:
        problem = "has two adjacent dots"
    elif _IP_ADDRESS.fullmatch(name):
        problem = "is an IP address"
    elif name.startswith(RESERVED_BUCKET_PREFIXES):
        problem = f"begins with one of S3's reserved prefixes {', '.join(RESERVED_BUCKET_PREFIXES)}"
    elif name.endswith(RESERVED_BUCKET_SUFFIXES):
        problem = f"ends with one of S3's reserved suffixes {', '.join(RESERVED_BUCKET_SUFFIXES)}"
    else:
        return name
    raise RuleError(f"is not a valid S3 bucket name: it {problem}")


def check_key_prefix(prefix: str) -> str:
    """``prefix`` if it is a relative S3 key prefix: one or more segments of letters, digits and
    ``! - _ . ( ) =``, each ending with ``/`` (so no leading ``/``, no ``//``, no ``.`` or ``..``)."""
    segments = prefix.split("/") if isinstance(prefix, str) else []
    if (
        len(segments) < 2
        or segments[-1] != ""
        or not all(_PREFIX_SEGMENT.fullmatch(s) and s not in (".", "..") for s in segments[:-1])
    ):
        raise RuleError(
            "must be a relative S3 key prefix ending with '/': segments of letters, digits and "
            "! - _ . ( ) =, each followed by '/'"
        )
    return prefix


# --------------------------------------------------------------------------- MySQL identifiers

#: Database, table and column names: unquoted MySQL identifiers without ``$`` (which MySQL allows).
MAX_IDENTIFIER_LENGTH = 64
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def check_identifier(name: str) -> str:
    """``name`` if it is 1-64 letters, digits or ``_``, not starting with a digit."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise RuleError(
            f"must be 1-{MAX_IDENTIFIER_LENGTH} letters, digits or '_', not starting with a digit"
        )
    return name


#: The tables write-forecast derives from the forecast table's name (the name itself is a view).
FORECAST_TABLE_SUFFIXES = ("_runs", "_rows", "_legacy")
#: The longest forecast table name whose derived names fit the identifier limit (57).
MAX_FORECAST_TABLE = MAX_IDENTIFIER_LENGTH - max(map(len, FORECAST_TABLE_SUFFIXES))


def check_forecast_table(name: str) -> str:
    """``name`` if it is an identifier (:func:`check_identifier`) of at most
    :data:`MAX_FORECAST_TABLE` characters, so that ``<name>_legacy`` is one too."""
    check_identifier(name)
    if len(name) > MAX_FORECAST_TABLE:
        raise RuleError(
            f"is {len(name)} characters; at most {MAX_FORECAST_TABLE} leave room for {name}_legacy "
            f"within MySQL's {MAX_IDENTIFIER_LENGTH}-character identifier limit"
        )
    return name


def check_columns(timestamp: str, value: str, series: str | None = None) -> list[str]:
    """The timestamp, value and optional series column, in that order: identifiers that are
    distinct case-insensitively (MySQL and Spark compare column names that way)."""
    names = [timestamp, value] + ([series] if series else [])
    for name in names:
        try:
            check_identifier(name)
        except RuleError as exc:
            raise RuleError(f"has the column name {name!r}, which {exc}") from None
    if len({n.lower() for n in names}) != len(names):
        raise RuleError(f"has the columns {names}, which must be distinct (case-insensitively)")
    return names


# --------------------------------------------------------------------------- Lambda environment


class ConfigurationError(ValueError):
    """A Lambda's environment variable is missing or invalid; the message names the variable.

    The class name is the error name Step Functions sees.
    """


T = TypeVar("T")
Rule = Callable[[str], object]


def check_setting(name: str, value: str, rule: Callable[[str], T]) -> T:
    """What ``rule`` makes of ``value`` (e.g. :func:`freq_step`'s step); when it rejects the value,
    a :class:`ConfigurationError` naming the variable ``name``."""
    try:
        return rule(value)
    except RuleError as exc:
        raise ConfigurationError(f"{name} {value!r} {exc}") from None


class Environment:
    """A Lambda's environment variables (``os.environ`` or any mapping), each value stripped of
    surrounding whitespace; every problem raises :class:`ConfigurationError` naming the variable."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = values

    def check(self, name: str, value: str, rule: Rule) -> str:
        """``value`` of ``name`` if ``rule`` accepts it."""
        check_setting(name, value, rule)
        return value

    def required(self, name: str, rule: Rule | None = None) -> str:
        """The value of ``name``, which must be set and not blank, checked with ``rule``."""
        value = self._values.get(name, "").strip()
        if not value:
            raise ConfigurationError(f"environment variable {name} is not set")
        return self.check(name, value, rule) if rule else value

    def optional(self, name: str, default: str = "", rule: Rule | None = None) -> str:
        """The value of ``name``, ``default`` when it is unset or blank; checked with ``rule``."""
        value = self._values.get(name, "").strip() or default
        return self.check(name, value, rule) if rule and value else value

    def positive_int(self, name: str, default: int) -> int:
        """The integer value of ``name`` (at least 1), ``default`` when it is unset or blank."""
        raw = self._values.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(f"{name} {raw!r} is not an integer") from None
        if value < 1:
            raise ConfigurationError(f"{name} must be at least 1, got {value}")
        return value


# --------------------------------------------------------------------------- Lambda logs

_LOG = logging.getLogger(__name__)
_FIELDS: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "pipeline_log_fields", default=None
)
_factory_installed = False
#: Set on an exception once a :func:`log_context` block has logged it.
_LOGGED = "_pipeline_rules_logged"


def _install_record_factory() -> None:
    """Make every log record of this process carry the current :func:`log_context` fields."""
    global _factory_installed
    if _factory_installed:
        return
    make_record = logging.getLogRecordFactory()

    def record_with_fields(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        for key, value in (_FIELDS.get() or {}).items():
            setattr(record, key, value)
        return record

    logging.setLogRecordFactory(record_with_fields)
    _factory_installed = True


def execution_name_of(payload: object) -> str | None:
    """The ``execution_name`` that a state machine passes in a Lambda task's payload, if any."""
    name = payload.get("execution_name") if isinstance(payload, Mapping) else None
    return name if isinstance(name, str) else None


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Every log record made in the block, by any logger, carries ``fields`` as attributes.

    Lambda's JSON log format writes a record's attributes as keys of its line, so with
    ``execution_name=...`` every line names the Step Functions execution. Blocks nest, inner
    fields added to outer ones; ``None`` values are left out. An exception leaving a block is
    logged there (with the fields, its type, message and stack), once however many blocks it
    leaves: the runtime's own report of it carries only the request id.
    """
    _install_record_factory()
    merged = {**(_FIELDS.get() or {}), **{k: v for k, v in fields.items() if v is not None}}
    token = _FIELDS.set(merged)
    try:
        yield
    except Exception as exc:
        if not getattr(exc, _LOGGED, False):
            _LOG.error("failed with %s: %s", type(exc).__name__, exc, exc_info=True)
            setattr(exc, _LOGGED, True)
        raise
    finally:
        _FIELDS.reset(token)
