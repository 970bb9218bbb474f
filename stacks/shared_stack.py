"""The stateful, shared stack of an environment: data bucket, alerts topic, database secret."""

from __future__ import annotations

import json
from typing import Any, cast

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from config import ForecastConfig
from contracts.names import SECRET_READERS, secret_reader_role_name
from stacks.alerts import Alerts
from stacks.data_bucket import DataBucket
from stacks.database_rotation import DatabaseRotation
from stacks.nag import acknowledge


class SharedStack(Stack):
    """Holds what a pipeline redeploy must never destroy (bucket and secret are also retained on delete),
    and the secret's rotation when ``forecast.database.rotation`` turns it on."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_name: str,
        bucket_name: str,
        alert_email: str | None,
        forecast: ForecastConfig | None,
        log_retention_days: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.data = DataBucket(self, "Data", bucket_name=bucket_name)
        self.alerts = Alerts(self, "Alerts", email=alert_email)
        self.database_secret: secretsmanager.ISecret | None = None
        self.database_rotation: DatabaseRotation | None = None
        if forecast is not None:
            db = forecast.database
            if db.secret_arn:
                self.database_secret = _import_secret(self, db.secret_arn)
            else:
                template: dict[str, object] = {
                    "username": "forecast",
                    "host": db.host,
                    "port": db.port,
                    "dbname": db.database,
                }
                if db.rotation.enabled:
                    template["engine"] = "mysql"  # the hosted MySQL rotation function requires it
                key, key_policy = _secret_key(self, env_name, rotation=db.rotation.enabled)
                secret = secretsmanager.Secret(
                    self,
                    "DatabaseSecret",
                    encryption_key=key,
                    description=f"MySQL credentials of the forecast pipeline ({env_name}): set the "
                    "real username and password; host, port and dbname come from cdk.json",
                    generate_secret_string=secretsmanager.SecretStringGenerator(
                        secret_string_template=json.dumps(template),
                        generate_string_key="password",
                        exclude_punctuation=True,
                    ),
                    removal_policy=RemovalPolicy.RETAIN,
                )
                # The Secret adds Secrets Manager use by every account principal to its key's policy;
                # the key keeps the policy that names the readers instead.
                cast(kms.CfnKey, key.node.default_child).key_policy = iam.PolicyDocument(
                    statements=key_policy
                )
                if db.rotation.enabled:
                    self.database_rotation = DatabaseRotation(
                        self,
                        "DatabaseRotation",
                        rotation=db.rotation,
                        network=forecast.network,
                        env_name=env_name,
                        log_retention_days=log_retention_days,
                        secret=secret,
                        database_port=db.port,
                    )
                else:
                    acknowledge(
                        secret,
                        SMG4="Rotation is off (forecast.database.rotation.enabled, default false): the "
                        "MySQL server is not managed by this app, so its password is rotated where the "
                        "database is run and put in this secret (write-forecast re-reads the secret when "
                        "the database denies access); turning it on lets Secrets Manager rotate it.",
                    )
                self.database_secret = secret
                CfnOutput(self, "DatabaseSecretArn", value=secret.secret_arn)
        CfnOutput(self, "DataBucketName", value=self.data.bucket.bucket_name)
        CfnOutput(self, "AlertsTopicArn", value=self.alerts.topic.topic_arn)


def _import_secret(scope: Construct, arn: str) -> secretsmanager.ISecret:
    """A complete ARN ends in the 6-character suffix Secrets Manager adds; a partial one does not."""
    name = arn.split(":secret:", 1)[1]
    if len(name) > 7 and name[-7] == "-" and name[-6:].isalnum():
        return secretsmanager.Secret.from_secret_complete_arn(scope, "DatabaseSecret", arn)
    return secretsmanager.Secret.from_secret_partial_arn(scope, "DatabaseSecret", arn)


#: What the account may do with the secret's key through IAM: administer it, not use it.
_KEY_ADMINISTRATION = [
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
]


def _secret_key(scope: Stack, env_name: str, *, rotation: bool) -> tuple[kms.Key, list[iam.PolicyStatement]]:
    """The database secret's own key. Its policy lets the account administer it and, through
    Secrets Manager only, encrypt with it (CloudFormation creating the secret, an operator putting
    the real password, rotation); it lets only the secret's readers decrypt: write-forecast, the
    Glue crawler and job (roles named by ``contracts.names``, since they live in the forecast stack,
    deployed later), and with rotation on, this stack's roles (the rotation function's role is made
    by Secrets Manager's transform under an unpredictable name that starts with the stack's)."""
    account, partition = scope.account, scope.partition
    via = {"kms:ViaService": f"secretsmanager.{scope.region}.amazonaws.com"}
    readers = [
        f"arn:{partition}:iam::{account}:role/{secret_reader_role_name(env_name, reader)}"
        for reader in SECRET_READERS
    ]
    if rotation:
        readers.append(f"arn:{partition}:iam::{account}:role/{scope.stack_name}-*")
    root = iam.AccountRootPrincipal()
    statements = [
        iam.PolicyStatement(
            sid="Administer", principals=[root], actions=_KEY_ADMINISTRATION, resources=["*"]
        ),
        iam.PolicyStatement(
            sid="EncryptThroughSecretsManager",
            principals=[root],
            actions=["kms:Encrypt", "kms:GenerateDataKey*"],
            resources=["*"],
            conditions={"StringEquals": {**via, "kms:CallerAccount": account}},
        ),
        iam.PolicyStatement(
            sid="SecretReaders",
            principals=[root],
            actions=["kms:Decrypt"],
            resources=["*"],
            conditions={"StringEquals": via, "ArnLike": {"aws:PrincipalArn": readers}},
        ),
    ]
    key = kms.Key(
        scope,
        "DatabaseSecretKey",
        description=f"Encrypts the forecast pipeline's database secret ({env_name})",
        enable_key_rotation=True,
        policy=iam.PolicyDocument(statements=list(statements)),
        removal_policy=RemovalPolicy.RETAIN,
    )
    return key, statements
