"""Database credentials from Secrets Manager, cached per container, and PyMySQL connections.

The secret is an RDS-style JSON document: ``username``, ``password``, ``host``, ``port``
(default 3306) and ``dbname``. It is fetched on first use and cached for the life of the
container; if the server refuses the cached password (it was rotated), the secret is fetched
again once. The password is never logged, and :class:`DbSecret` leaves it out of its ``repr``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import pymysql

LOG = logging.getLogger(__name__)

#: MySQL's ER_ACCESS_DENIED_ERROR.
ACCESS_DENIED = 1045
_REQUIRED_KEYS = ("username", "password", "host", "dbname")

_secret_cache: dict[str, DbSecret] = {}


class InvalidSecret(ValueError):
    """The database secret is not a JSON object with the expected keys."""


@dataclass(frozen=True)
class DbSecret:
    username: str
    password: str = field(repr=False)
    host: str
    port: int
    dbname: str


def parse_secret(secret_string: str, secret_id: str) -> DbSecret:
    """The :class:`DbSecret` in ``secret_string``; errors name keys, never values."""
    try:
        doc = json.loads(secret_string)
    except ValueError:
        raise InvalidSecret(f"secret {secret_id} is not JSON") from None
    if not isinstance(doc, dict):
        raise InvalidSecret(f"secret {secret_id} is not a JSON object")
    missing = [k for k in _REQUIRED_KEYS if not isinstance(doc.get(k), str) or not doc[k]]
    if missing:
        raise InvalidSecret(f"secret {secret_id} lacks non-empty string key(s) {missing}")
    try:
        port = int(doc.get("port", 3306))
    except (TypeError, ValueError):
        raise InvalidSecret(f"secret {secret_id}: 'port' is not an integer") from None
    if not 0 < port < 65536:
        raise InvalidSecret(f"secret {secret_id}: 'port' {port} is out of range")
    return DbSecret(doc["username"], doc["password"], doc["host"], port, doc["dbname"])


def get_db_secret(secret_id: str, client: Any = None) -> DbSecret:
    """The secret, from this container's cache or (first call) from Secrets Manager."""
    cached = _secret_cache.get(secret_id)
    if cached is not None:
        return cached
    if client is None:
        client = boto3.client("secretsmanager")
    response = client.get_secret_value(SecretId=secret_id)
    secret = parse_secret(response["SecretString"], secret_id)
    _secret_cache[secret_id] = secret
    LOG.info("fetched database secret %s (user %s, host %s)", secret_id, secret.username, secret.host)
    return secret


def clear_secret_cache(secret_id: str | None = None) -> None:
    """Forget one cached secret, or all of them."""
    if secret_id is None:
        _secret_cache.clear()
    else:
        _secret_cache.pop(secret_id, None)


def connect(secret: DbSecret, *, connect_timeout: int = 10, io_timeout: int = 60) -> Any:
    """A PyMySQL connection (autocommit off, utf8mb4, session time zone UTC)."""
    return pymysql.connect(
        host=secret.host,
        port=secret.port,
        user=secret.username,
        password=secret.password,
        database=secret.dbname,
        charset="utf8mb4",
        autocommit=False,
        connect_timeout=connect_timeout,
        read_timeout=io_timeout,
        write_timeout=io_timeout,
        init_command="SET time_zone = '+00:00'",
    )


def connection_factory(secret_id: str, client: Any = None, **connect_options: Any) -> Callable[[], Any]:
    """A zero-argument connect function for ``secret_id`` that refreshes a rotated password once."""

    def factory() -> Any:
        try:
            return connect(get_db_secret(secret_id, client), **connect_options)
        except pymysql.err.OperationalError as exc:
            if not exc.args or exc.args[0] != ACCESS_DENIED:
                raise
            LOG.warning("access denied with the cached secret %s; fetching it again", secret_id)
            clear_secret_cache(secret_id)
            return connect(get_db_secret(secret_id, client), **connect_options)

    return factory
