"""Glue's engine for tests, as pytest fixtures: pyspark of the Glue version on its Java, local[2].

``glue_engine`` (session) checks pyspark, Java and the MariaDB JDBC jar against
:data:`stacks.runtimes.GLUE`: anything missing or of another version is a skip, or a failure
under ``CI=true``. ``spark`` (session) is the local SparkSession the offline runner uses too
(:func:`localrun.glue_spark.local_spark`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from localrun.glue_spark import Engine, SparkUnavailable, check_engine, local_spark
from tests.ci import missing


@pytest.fixture(scope="session")
def glue_engine() -> Engine:
    try:
        return check_engine()
    except SparkUnavailable as exc:
        missing("Glue's engine (pyspark, Java, MariaDB JDBC driver) is not available", str(exc))


@pytest.fixture(scope="session")
def spark(glue_engine: Engine) -> Iterator[Any]:
    session = local_spark(glue_engine)
    yield session
    session.stop()
