"""generate-dataset's settings (:class:`Config`, from the function's environment), the errors the
state machine routes on, and the S3 calls the function makes (:class:`S3Client`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from baseline import parse_quantiles

from forecast_metrics import FORECAST_QUANTILES, SELECTION_METRICS, check_selection_metric
from pipeline_rules import (
    MAX_FORECAST_NAME_PREFIX,
    ConfigurationError,
    Environment,
    RuleError,
    check_bucket_name,
    check_columns,
    check_identifier,
    check_key_prefix,
    check_name_prefix,
    check_setting,
    freq_step,
)


class DatasetError(ValueError):
    """Base class of the errors below; each subclass name is an error name the state machine sees."""


class InvalidEvent(DatasetError):
    """The event is not a SUCCEEDED Glue Job State Change with a usable job run id / execution name."""


class NoInputData(DatasetError):
    """No CSV part, or no data row, under the job run's prefix."""


class MissingColumn(DatasetError):
    """A configured column is not in a CSV part's header."""


class InvalidInputData(DatasetError):
    """A row has an unparsable timestamp, a non-numeric value or an empty series id."""


class DuplicateTimestamps(DatasetError):
    """Two rows of one series fall into the same grid slot."""


class NotEnoughHistory(DatasetError):
    """A series has fewer than ``CONTEXT_LENGTH + PREDICTION_LENGTH`` points after regularizing."""


class InputTooLarge(DatasetError):
    """The run's CSV needs more memory than the function has (checked before reading)."""


class S3Client(Protocol):
    """The calls generate-dataset makes: a boto3 S3 client, or a stand-in with the same methods."""

    def get_paginator(self, operation_name: str) -> Any: ...

    def get_object(self, *, Bucket: str, Key: str, **kwargs: Any) -> Mapping[str, Any]: ...

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> Any: ...

    def upload_fileobj(self, Fileobj: Any, Bucket: str, Key: str, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class Config:
    """The function's settings (its environment variables), validated."""

    bucket: str
    etl_prefix: str
    work_prefix: str
    timestamp_column: str
    value_column: str
    series_column: str | None
    freq: str
    step: timedelta
    prediction_length: int
    context_length: int
    name_prefix: str
    test_quantiles: tuple[str, ...] = FORECAST_QUANTILES
    selection_metric: str = SELECTION_METRICS[0]
    memory_mb: int | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        """Read and validate ``BUCKET_NAME``, ``ETL_PREFIX``, ``WORK_PREFIX``, ``TIMESTAMP_COLUMN``,
        ``VALUE_COLUMN``, ``SERIES_COLUMN`` (empty: single series), ``TIME_FREQ`` (default ``1H``),
        ``PREDICTION_LENGTH`` (default 168), ``CONTEXT_LENGTH`` (default 672), ``NAME_PREFIX`` and
        ``TEST_QUANTILES`` (a JSON list of levels in (0, 1), default ``["0.1", "0.5", "0.9"]``; see
        :func:`baseline.parse_quantiles`) and ``SELECTION_METRIC`` (the metric the baseline's season
        is chosen on, one of ``forecast_metrics.SELECTION_METRICS``); a missing or bad one raises
        :class:`ConfigurationError` naming it. ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE`` (MB), which the
        Lambda runtime sets, is the memory :func:`check_input_size` holds the input against; unset
        (tests), there is no check.
        """
        read = Environment(env)
        timestamp_column = read.required("TIMESTAMP_COLUMN", check_identifier)
        value_column = read.required("VALUE_COLUMN", check_identifier)
        series_column = read.optional("SERIES_COLUMN", rule=check_identifier) or None
        try:
            check_columns(timestamp_column, value_column, series_column)
        except RuleError as exc:
            raise ConfigurationError(f"TIMESTAMP_COLUMN, VALUE_COLUMN and SERIES_COLUMN: {exc}") from None
        freq = read.optional("TIME_FREQ", "1H", freq_step)
        raw_quantiles = read.optional("TEST_QUANTILES")
        quantiles = check_setting("TEST_QUANTILES", raw_quantiles, parse_quantiles) if raw_quantiles else None
        return cls(
            bucket=read.required("BUCKET_NAME", check_bucket_name),
            etl_prefix=read.required("ETL_PREFIX", check_key_prefix),
            work_prefix=read.required("WORK_PREFIX", check_key_prefix),
            timestamp_column=timestamp_column,
            value_column=value_column,
            series_column=series_column,
            freq=freq,
            step=freq_step(freq),
            prediction_length=read.positive_int("PREDICTION_LENGTH", 168),
            context_length=read.positive_int("CONTEXT_LENGTH", 672),
            name_prefix=read.required("NAME_PREFIX", name_prefix_rule),
            test_quantiles=quantiles or FORECAST_QUANTILES,
            selection_metric=read.optional("SELECTION_METRIC", SELECTION_METRICS[0], check_selection_metric),
            memory_mb=read.positive_int("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", 0) or None,
        )


def name_prefix_rule(prefix: str) -> str:
    return check_name_prefix(prefix, MAX_FORECAST_NAME_PREFIX)
