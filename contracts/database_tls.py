"""How the forecast's database clients use TLS, as plain data the stack and the offline runner share.

``database.tls`` ``required`` (default): write-forecast gets ``DB_TLS=required`` and, with a
``database.caBundle``, that PEM file in its bundle as :data:`LAMBDA_CA_FILE` (``DB_CA_FILE``);
the Glue connection gets ``JDBC_ENFORCE_SSL=true`` and the same file, uploaded as an asset, as
its ``CUSTOM_JDBC_CERT``. ``disabled``: plaintext, and synth warns (:data:`TLS_DISABLED`).
"""

from __future__ import annotations

from config import DatabaseConfig

#: The CA bundle's name in write-forecast's bundle, next to its handler.
LAMBDA_CA_FILE = "database-ca.pem"
#: The id of synth's warning that the database connections are plaintext.
TLS_DISABLED = "ml-pipelines:databaseTlsDisabled"


def tls_required(db: DatabaseConfig) -> bool:
    """Whether the clients must use TLS (``database.tls`` is ``required``)."""
    return db.tls == "required"


def lambda_tls_environment(db: DatabaseConfig) -> dict[str, str]:
    """write-forecast's ``DB_TLS`` and ``DB_CA_FILE`` (empty: the runtime's trust store)."""
    if not tls_required(db):
        return {"DB_TLS": "disabled", "DB_CA_FILE": ""}
    return {"DB_TLS": "required", "DB_CA_FILE": LAMBDA_CA_FILE if db.ca_bundle else ""}


def glue_connection_properties(db: DatabaseConfig, ca_certificate_uri: str | None) -> dict[str, str]:
    """The Glue JDBC connection's properties: the MySQL URL and, with TLS, enforced SSL verified
    against ``ca_certificate_uri`` (``s3://`` of the CA bundle; None: Glue's default trust store)."""
    properties = {"JDBC_CONNECTION_URL": f"jdbc:mysql://{db.host}:{db.port}/{db.database}"}
    if not tls_required(db):
        properties["JDBC_ENFORCE_SSL"] = "false"
        return properties
    properties["JDBC_ENFORCE_SSL"] = "true"
    if ca_certificate_uri:
        properties["CUSTOM_JDBC_CERT"] = ca_certificate_uri
        properties["SKIP_CUSTOM_JDBC_CERT_VALIDATION"] = "false"
    return properties


def tls_disabled_warning(db: DatabaseConfig) -> str:
    """The text of synth's :data:`TLS_DISABLED` warning."""
    return (
        f"forecast.database.tls is 'disabled': the Glue connection and write-forecast reach "
        f"{db.host}:{db.port} in plaintext, so the database password and the data cross the "
        "network unencrypted; set tls to 'required' (and caBundle for a private CA)"
    )
