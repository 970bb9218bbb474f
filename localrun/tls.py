"""Test-time TLS material: a private CA and a server certificate it signs, as PEM files.

``TlsFiles.generate(folder)`` writes ``ca.pem``, ``server-cert.pem`` and ``server-key.pem``
for a server reached as ``127.0.0.1`` or ``localhost`` (both in the subjectAltName, so clients
verify the host name too). Keys are RSA 2048 and signatures SHA-256, the algorithms AWS Glue
accepts for a custom JDBC certificate. ``generate_ca(path)`` writes a CA that signed nothing,
the "wrong CA" of the tests. The throwaway MariaDB and the tests use these; nothing here is
deployed.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

#: How long generated certificates stay valid (they live as long as one test session).
VALIDITY = datetime.timedelta(days=2)


_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca(common_name: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = _key()
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_KEY_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def generate_ca(path: Path, common_name: str = "ml-pipelines unrelated test CA") -> Path:
    """Write a self-signed CA certificate (PEM) to ``path``; returns ``path``."""
    _, cert = _ca(common_name)
    path.write_bytes(_pem(cert))
    return path


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files of a server's TLS setup."""

    ca: Path
    cert: Path
    key: Path

    @classmethod
    def generate(cls, folder: Path) -> TlsFiles:
        """A new CA and a server certificate for ``127.0.0.1``/``localhost``, written to ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        ca_key, ca_cert = _ca("ml-pipelines test CA")
        key = _key()
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("localhost"))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        files = cls(folder / "ca.pem", folder / "server-cert.pem", folder / "server-key.pem")
        files.ca.write_bytes(_pem(ca_cert))
        files.cert.write_bytes(_pem(cert))
        files.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        files.key.chmod(0o600)
        return files
