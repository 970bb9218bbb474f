"""A MySQL/MariaDB server to use: one given by URL, or a throwaway MariaDB started here.

``parse_mysql_url("mysql://user:pass@host:port/db?ssl_ca=ca.pem")`` describes a server to use
as it is (TLS verified against ``ssl_ca`` when given, else plaintext).
``ThrowawayMariaDB.from_path().start()`` runs ``mariadb-install-db`` into a temporary data
directory and ``mariadbd`` on 127.0.0.1 at a free port (socket in that directory), creates a user
with a random password, and ``stop()`` ends it by its PID and deletes the directory. By default
the server has a CA and a certificate generated at start (:mod:`localrun.tls`) and
``require_secure_transport=ON``: every TCP client must use TLS, as on a production database.
Used by the database tests and by the offline runner.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlparse

import pymysql

from localrun.tls import TlsFiles

#: Where distributions put the server binaries when they are not on PATH.
_SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/usr/libexec", "/usr/local/mysql/bin")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
#: The account a throwaway server creates for its clients (from 127.0.0.1, every privilege).
USER = "ml_pipelines"


class ServerUnavailable(RuntimeError):
    """No MySQL/MariaDB server can be had."""


@dataclass(frozen=True)
class MySQLServer:
    """How to reach a server with a user allowed to create databases; with ``ca_file`` (a PEM
    CA bundle) every connection uses TLS and verifies the server's certificate and host name."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str | None = None
    ca_file: str | None = None

    def url(self) -> str:
        """``mysql://user:pass@host:port/[db][?ssl_ca=...]``, the form :func:`parse_mysql_url` reads."""
        auth = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}"
        query = f"?{urlencode({'ssl_ca': self.ca_file})}" if self.ca_file else ""
        return f"mysql://{auth}@{self.host}:{self.port}/{quote(self.database or '', safe='')}{query}"

    def tls_environment(self) -> dict[str, str]:
        """write-forecast's ``DB_TLS``/``DB_CA_FILE`` for this server: TLS verified against
        :attr:`ca_file`, or plaintext without one."""
        if self.ca_file:
            return {"DB_TLS": "required", "DB_CA_FILE": self.ca_file}
        return {"DB_TLS": "disabled", "DB_CA_FILE": ""}

    def ssl_context(self) -> ssl.SSLContext | None:
        """The verifying TLS context of :attr:`ca_file` (TLS 1.2 or later), or None without one."""
        if not self.ca_file:
            return None
        context = ssl.create_default_context(cafile=self.ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def connect(self, database: str | None = None, **options: Any) -> pymysql.Connection:
        params: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "charset": "utf8mb4",
            "connect_timeout": 5,
            "autocommit": True,
        }
        if database or self.database:
            params["database"] = database or self.database
        if self.ca_file:
            params["ssl"] = self.ssl_context()
        params.update(options)
        return pymysql.connect(**params)

    def execute(self, sql: str, database: str | None = None) -> None:
        """Run one statement on a fresh connection (autocommit), then close it."""
        conn = self.connect(database)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    @contextlib.contextmanager
    def scratch_database(self, prefix: str) -> Iterator[MySQLDatabase]:
        """A new empty ``<prefix>_<hex>`` database (utf8mb4), dropped on exit."""
        name = f"{prefix}_{secrets.token_hex(8)}"
        self.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        try:
            yield MySQLDatabase(self, name)
        finally:
            self.execute(f"DROP DATABASE IF EXISTS `{name}`")


@dataclass(frozen=True)
class MySQLDatabase:
    """A database on ``server``."""

    server: MySQLServer
    name: str

    def connect(self, **options: Any) -> pymysql.Connection:
        return self.server.connect(self.name, **options)

    def secret(self) -> dict[str, Any]:
        """An RDS-style secret document for this database."""
        return {
            "engine": "mysql",
            "username": self.server.user,
            "password": self.server.password,
            "host": self.server.host,
            "port": self.server.port,
            "dbname": self.name,
        }

    def query(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        finally:
            conn.close()


def parse_mysql_url(url: str) -> MySQLServer:
    """``mysql://user:pass@host:port/db[?ssl_ca=/path/ca.pem]`` (port defaults to 3306, db and
    ``ssl_ca`` are optional; with ``ssl_ca`` connections use TLS verified against that CA)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("mysql", "mariadb") or not parsed.hostname:
        raise ValueError("MYSQL_URL must look like mysql://user:pass@host:port/db")
    query = parse_qs(parsed.query)
    unknown = sorted(set(query) - {"ssl_ca"})
    if unknown:
        raise ValueError(f"MYSQL_URL: unknown query parameter(s) {unknown}; only ssl_ca is read")
    ca_file = query.get("ssl_ca", [None])[-1]
    if ca_file is not None:
        if not Path(ca_file).is_file():
            raise ValueError(f"MYSQL_URL: ssl_ca {ca_file!r} is not a file")
        ca_file = str(Path(ca_file).resolve())  # write-forecast resolves relative names elsewhere
    return MySQLServer(
        host=parsed.hostname,
        port=parsed.port or 3306,
        user=unquote(parsed.username or "root"),
        password=unquote(parsed.password or ""),
        database=unquote(parsed.path.lstrip("/")) or None,
        ca_file=ca_file,
    )


def _which(*names: str) -> str | None:
    search = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN_DIRS])
    for name in names:
        found = shutil.which(name, path=search)
        if found:
            return found
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: SIGTERM the server if its parent (tests, runner) dies without cleaning up (PR_SET_PDEATHSIG)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


class ThrowawayMariaDB:
    """A private ``mariadbd`` in a temporary directory; :meth:`start` then :meth:`stop`.

    ``tls`` (default True): generate a CA and server certificate into the directory, start with
    them and ``require_secure_transport=ON``, and return a :class:`MySQLServer` with ``ca_file``.
    """

    def __init__(self, mariadbd: str, install_db: str, *, tls: bool = True) -> None:
        self.mariadbd = mariadbd
        self.install_db = install_db
        self.tls = tls
        self.tls_files: TlsFiles | None = None
        self.base: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def from_path(cls, *, tls: bool = True) -> ThrowawayMariaDB:
        mariadbd = _which("mariadbd", "mysqld")
        install_db = _which("mariadb-install-db", "mysql_install_db")
        if not mariadbd or not install_db:
            raise ServerUnavailable(
                "no MariaDB server binaries (mariadbd and mariadb-install-db) found on PATH or in "
                f"{', '.join(_SBIN_DIRS)}; install MariaDB or set MYSQL_URL=mysql://user:pass@host:port/db"
            )
        return cls(mariadbd, install_db, tls=tls)

    def _log_tail(self, lines: int = 25) -> str:
        assert self.base is not None
        log = self.base / "error.log"
        if not log.exists():
            return "(no error log)"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def start(self) -> MySQLServer:
        """Install, start and return the server; any failure is ServerUnavailable, nothing left running."""
        try:
            return self._start()
        except ServerUnavailable:
            self.stop()
            raise
        except (OSError, subprocess.SubprocessError, pymysql.err.MySQLError) as exc:
            self.stop()
            raise ServerUnavailable(f"{type(exc).__name__}: {exc}") from exc

    def _start(self) -> MySQLServer:
        self.base = Path(tempfile.mkdtemp(prefix="mariadb-test-"))
        atexit.register(self.stop)
        as_root = ["--user=root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        install = subprocess.run(
            [
                self.install_db,
                "--no-defaults",
                f"--datadir={self.base / 'data'}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                *as_root,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if install.returncode != 0:
            raise ServerUnavailable(
                f"{self.install_db} failed ({install.returncode}): "
                f"{(install.stdout + install.stderr)[-2000:]}"
            )
        if self.tls:
            self.tls_files = TlsFiles.generate(self.base / "tls")
        last_error = ""
        for _attempt in range(3):  # a free port can be taken between probing and binding
            port = _free_port()
            try:
                return self._run(port, as_root)
            except ServerUnavailable as exc:
                last_error = str(exc)
                self._terminate()
                if "in use" not in last_error.lower():
                    break
        raise ServerUnavailable(last_error)

    def _run(self, port: int, as_root: list[str]) -> MySQLServer:
        assert self.base is not None
        sock = self.base / "mysqld.sock"
        (self.base / "tmp").mkdir(exist_ok=True)
        command = [
            self.mariadbd,
            "--no-defaults",
            f"--datadir={self.base / 'data'}",
            f"--socket={sock}",
            f"--pid-file={self.base / 'mysqld.pid'}",
            f"--log-error={self.base / 'error.log'}",
            f"--tmpdir={self.base / 'tmp'}",
            "--bind-address=127.0.0.1",
            f"--port={port}",
            "--skip-name-resolve",
            "--character-set-server=utf8mb4",
            "--innodb-buffer-pool-size=32M",
            "--innodb-flush-log-at-trx-commit=0",
            "--loose-innodb-doublewrite=0",
            "--max-connections=100",
            "--loose-performance-schema=OFF",
            *self._tls_options(),
            *as_root,
        ]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise ServerUnavailable(
                    f"mariadbd exited with {self.process.returncode} on port {port}:\n{self._log_tail()}"
                )
            try:
                admin = pymysql.connect(unix_socket=str(sock), user="root", password="", connect_timeout=2)
                break
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline:
                    raise ServerUnavailable(
                        f"mariadbd did not accept connections within {START_TIMEOUT:.0f}s:\n"
                        f"{self._log_tail()}"
                    ) from None
                time.sleep(0.05)
        password = secrets.token_hex(16)
        try:
            with admin.cursor() as cur:
                cur.execute("CREATE USER %s@'127.0.0.1' IDENTIFIED BY %s", (USER, password))
                cur.execute("GRANT ALL PRIVILEGES ON *.* TO %s@'127.0.0.1' WITH GRANT OPTION", (USER,))
        finally:
            admin.close()
        ca_file = str(self.tls_files.ca) if self.tls_files else None
        return MySQLServer("127.0.0.1", port, USER, password, ca_file=ca_file)

    def _tls_options(self) -> list[str]:
        if self.tls_files is None:
            return []
        return [
            f"--ssl-ca={self.tls_files.ca}",
            f"--ssl-cert={self.tls_files.cert}",
            f"--ssl-key={self.tls_files.key}",
            "--require-secure-transport=ON",
            "--tls-version=TLSv1.2,TLSv1.3",
        ]

    def _terminate(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()  # mariadbd shuts down cleanly on SIGTERM
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        self._terminate()
        base, self.base = self.base, None
        if base is not None:
            shutil.rmtree(base, ignore_errors=True)
