"""Database credentials from Secrets Manager, cached per container, and PyMySQL connections.

The secret is an RDS-style JSON document: ``username``, ``password``, ``host``, ``port``
(default 3306) and ``dbname``. It is fetched on first use and cached for the life of the
container; if the server refuses the cached password (it was rotated), the secret is fetched
again once. The password is never logged, and :class:`DbSecret` leaves it out of its ``repr``.

TLS (:class:`TlsSettings`, from ``DB_TLS`` and ``DB_CA_FILE``): ``required`` (the default)
encrypts every connection, verifies the server's certificate against the CA bundle
``DB_CA_FILE`` (a path, relative ones resolved next to this module, where the stack ships the
configured bundle) or, when that is empty, the runtime's trust store, and checks the host name.
A server without TLS or with a certificate that does not verify fails as :class:`TlsFailure`
before the password is sent. ``disabled`` connects in plaintext (an explicit opt-out).
"""

from __future__ import annotations

import functools
import json
import logging
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pymysql

from pipeline_rules import ConfigurationError, Environment

LOG = logging.getLogger(__name__)

#: MySQL's ER_ACCESS_DENIED_ERROR.
ACCESS_DENIED = 1045
#: The client's CR_SSL_CONNECTION_ERROR (PyMySQL: the server offers no TLS).
SSL_CONNECTION_ERROR = 2026
TLS_MODES = ("required", "disabled")
_HERE = Path(__file__).resolve().parent
_REQUIRED_KEYS = ("username", "password", "host", "dbname")

_secret_cache: dict[str, DbSecret] = {}


class InvalidSecret(ValueError):
    """The database secret is not a JSON object with the expected keys."""


class TlsConfigurationError(ConfigurationError):
    """``DB_TLS`` or ``DB_CA_FILE`` is invalid (a :class:`ConfigurationError`); the message names
    the variable."""


class TlsFailure(pymysql.err.OperationalError):
    """A TLS connection could not be established or the server's certificate did not verify."""

    def __str__(self) -> str:
        return str(self.args[-1]) if self.args else super().__str__()


@dataclass(frozen=True)
class TlsSettings:
    """``mode`` ``required`` (default) or ``disabled``; ``ca_file`` a PEM bundle, None for the
    runtime's trust store."""

    mode: str = "required"
    ca_file: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TlsSettings:
        """``DB_TLS`` (default ``required``) and ``DB_CA_FILE`` (default: the trust store); a CA
        file that is not a PEM bundle fails here, with the other settings."""
        read = Environment(env)
        mode = read.optional("DB_TLS", "required")
        if mode not in TLS_MODES:
            raise TlsConfigurationError(f"DB_TLS must be one of {', '.join(TLS_MODES)}, got {mode!r}")
        name = read.optional("DB_CA_FILE")
        if mode == "disabled":
            if name:
                raise TlsConfigurationError("DB_CA_FILE is set but DB_TLS is 'disabled'")
            return cls(mode)
        if not name:
            return cls(mode)
        path = _HERE / name
        if not path.is_file():
            raise TlsConfigurationError(f"DB_CA_FILE {name!r}: no such file ({path})")
        settings = cls(mode, path)
        settings.context()  # parses the bundle once per container (cached)
        return settings

    @property
    def trust(self) -> str:
        """Which CA certificates verify the server, for messages."""
        return f"CA bundle {self.ca_file.name}" if self.ca_file else "the runtime's trust store"

    def context(self) -> ssl.SSLContext | None:
        """A verifying client context (TLS 1.2+, host name checked), or None when disabled; built
        once per CA file and container, not per connection."""
        return None if self.mode == "disabled" else _verifying_context(self.ca_file)


@functools.cache
def _verifying_context(ca_file: Path | None) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigurationError(f"DB_CA_FILE {ca_file}: not a PEM CA bundle ({exc})") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


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


def connect(
    secret: DbSecret,
    tls: TlsSettings | None = None,
    *,
    connect_timeout: int = 10,
    io_timeout: int = 60,
) -> Any:
    """A PyMySQL connection (autocommit off, utf8mb4, session time zone UTC) with ``tls``
    (default: :class:`TlsSettings` ``required`` with the runtime's trust store)."""
    tls = tls or TlsSettings()
    context = tls.context()
    transport: dict[str, Any] = {"ssl": context} if context else {"ssl_disabled": True}
    try:
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
            **transport,
        )
    except pymysql.err.OperationalError as exc:
        if context is None or not _is_tls_error(exc):
            raise
        raise TlsFailure(
            SSL_CONNECTION_ERROR,
            f"TLS to {secret.host}:{secret.port} failed, verifying against {tls.trust}: "
            f"{exc.args[-1] if exc.args else exc}",
        ) from exc


def _is_tls_error(exc: pymysql.err.OperationalError) -> bool:
    if exc.args and exc.args[0] == SSL_CONNECTION_ERROR:
        return True
    return isinstance(exc.__cause__ or exc.__context__, ssl.SSLError)


def connection_factory(
    secret_id: str, client: Any = None, tls: TlsSettings | None = None, **connect_options: Any
) -> Callable[[], Any]:
    """A zero-argument connect function for ``secret_id`` that refreshes a rotated password once."""

    def factory() -> Any:
        try:
            return connect(get_db_secret(secret_id, client), tls, **connect_options)
        except pymysql.err.OperationalError as exc:
            if not exc.args or exc.args[0] != ACCESS_DENIED:
                raise
            LOG.warning("access denied with the cached secret %s; fetching it again", secret_id)
            clear_secret_cache(secret_id)
            return connect(get_db_secret(secret_id, client), tls, **connect_options)

    return factory
