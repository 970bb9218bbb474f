"""Names of the app's resources that other code must know: one definition each, no CDK.

Each takes the environment's name (``EnvConfig.name``) and what else it is built from.
"""

from __future__ import annotations

from pipeline_rules import resource_prefix


def etl_job_name(env_name: str, source_table: str) -> str:
    """The Glue job's name: ``ml-pipelines-<env>-<source table>-etl`` (dashes for underscores)."""
    return f"{resource_prefix(env_name)}-{source_table.lower().replace('_', '-')}-etl"


def etl_workflow_name(env_name: str) -> str:
    """The Glue workflow that crawls the source, then runs the ETL job:
    ``ml-pipelines-<env>-forecast-etl``."""
    return f"{resource_prefix(env_name)}-forecast-etl"


def crawler_name(env_name: str) -> str:
    """The JDBC crawler's name: ``ml-pipelines-<env>-mysql-source``."""
    return f"{resource_prefix(env_name)}-mysql-source"


def catalog_database_name(env_name: str) -> str:
    """The Data Catalog database the crawler fills: ``ml_pipelines_<env>`` (underscores for dashes)."""
    return f"ml_pipelines_{env_name.replace('-', '_')}"


def rotation_function_name(env_name: str) -> str:
    """The database secret's rotation function, ``ml-pipelines-<env>-db-rotation``; it logs to
    ``/aws/lambda/<name>``, which the stack owns."""
    return f"{resource_prefix(env_name)}-db-rotation"


#: The roles that read the database secret, which its key's policy names: ``reader -> role name``.
SECRET_READERS = ("write-forecast", "crawler", "etl-job")


def secret_reader_role_name(env_name: str, reader: str) -> str:
    """The role of a reader of the database secret (:data:`SECRET_READERS`):
    ``ml-pipelines-<env>-<reader>``. Named, so the shared stack's key policy can name it before the
    forecast stack creates it."""
    if reader not in SECRET_READERS:
        raise ValueError(f"{reader} is not a reader of the database secret ({', '.join(SECRET_READERS)})")
    return f"{resource_prefix(env_name)}-{reader}"
