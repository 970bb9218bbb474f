"""Test-wide safety (fake AWS credentials and region: nothing can reach a real AWS endpoint) and
the MySQL and Spark fixtures."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "CDK_DISABLE_CLI_TELEMETRY": "true",
}.items():
    os.environ[_name] = _value
os.environ.pop("AWS_PROFILE", None)
os.environ.pop("AWS_ENDPOINT_URL", None)  # a developer's endpoint (e.g. LocalStack) must not leak in
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# One session-wide server for every test that needs MySQL (a throwaway MariaDB or MYSQL_URL).
from tests.mysql_server import mysql_database, mysql_server  # noqa: E402

# One session-wide local Spark of Glue's version for the Glue script and the offline runner.
from tests.spark import glue_engine, spark  # noqa: E402

__all__ = ["glue_engine", "mysql_database", "mysql_server", "spark"]


@pytest.fixture(autouse=True)
def _requests_in_inventory() -> Iterator[None]:
    """Every AWS request that a deployed principal makes in the test's offline runs is in the
    request inventory (tools/iam_check/inventory.json), so the permission check evaluates it.

    With ``IAM_INVENTORY_RECORD=FILE`` the missing requests are appended to FILE as JSON lines
    instead (``python -m tools.iam_check.inventory --merge FILE`` adds them to the inventory).
    """
    from localrun.moto_adapter.requests import collecting
    from tools.iam_check.inventory import load_inventory
    from tools.iam_check.operations import requests_of

    with collecting() as seen:
        yield
    if not seen.calls:
        return
    missing = sorted(requests_of(seen.calls, seen.environments) - load_inventory().recorded)
    if not missing:
        return
    record = os.environ.get("IAM_INVENTORY_RECORD")
    lines = [json.dumps(request.as_json(), sort_keys=True) for request in missing]
    if record:
        with open(record, "a", encoding="utf-8") as out:
            out.writelines(line + "\n" for line in lines)
        return
    pytest.fail(
        "requests missing from tools/iam_check/inventory.json (record them with "
        "IAM_INVENTORY_RECORD=FILE, see tools/iam_check/inventory.py):\n" + "\n".join(lines)
    )
