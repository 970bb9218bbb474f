"""The forecast pipeline's Glue side: catalog, JDBC connection, crawler, ETL job and its schedule.

One construct, over 400 lines, on purpose: the crawler and the job share the connection, the key,
the security configuration and each other's grants, so splitting it would pass most of its
resources between the parts.
"""

from __future__ import annotations

import re
from pathlib import Path

from aws_cdk import Acknowledgment, ArnFormat, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from config import ForecastConfig
from config.paths import PROCESSING, SHARED_RULES
from contracts.database_tls import glue_connection_properties, tls_required
from contracts.glue_job import etl_job_arguments
from contracts.names import (
    catalog_database_name,
    crawler_name,
    etl_job_name,
    etl_workflow_name,
    secret_reader_role_name,
)
from pipeline_rules import resource_prefix
from processing import glue_etl
from stacks.bundling import zipped_modules
from stacks.forecast_network import ForecastNetwork
from stacks.iam_grants import grant_prefix, grant_secret_read, service_for_this_account
from stacks.log_groups import ServiceLogGroups, log_group_arns, retention
from stacks.nag import acknowledge, ignore_cfn_lint, objects_under
from stacks.runtimes import glue_runtime
from stacks.vpc_access import NEW_INTERFACE_FINDING, grant_network_interfaces

GLUE_SCRIPT = PROCESSING / "glue_etl.py"
#: The list actions a Glue job or crawler in a VPC runs on its connection's network; EC2 takes
#: no resource for them.
_DESCRIBE_NETWORK = [
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeRouteTables",
    "ec2:DescribeVpcs",
]


def job_log_group_prefix(job_name: str) -> str:
    """The job's ``--custom-logGroup-prefix``: Glue 5.x writes its logs under it instead of the
    account-wide ``/aws-glue/jobs/error`` and ``/aws-glue/jobs/output``."""
    return f"/aws-glue/jobs/{job_name}"


def job_log_group_names(job_name: str, security_configuration: str, role_name: str) -> list[str]:
    """The job's two log groups. With a security configuration that encrypts CloudWatch Logs,
    Glue names them ``<prefix>/<security configuration>-role/<role name>/error`` and ``/output``."""
    base = f"{job_log_group_prefix(job_name)}/{security_configuration}-role/{role_name}"
    return [f"{base}/error", f"{base}/output"]


def crawler_log_group_name(security_configuration: str, role_name: str) -> str:
    """The crawler's log group: with a security configuration that encrypts CloudWatch Logs, Glue
    writes to ``/aws-glue/crawlers-role/<role name>-<security configuration>`` (not the
    account-wide ``/aws-glue/crawlers``)."""
    return f"/aws-glue/crawlers-role/{role_name}-{security_configuration}"


class ScriptAsset(glue.Code):
    """A local script as a CDK asset, readable by the job's role only at its own object key.

    ``glue.Code.from_asset`` grants the role ``s3:GetObject*``, ``s3:GetBucket*`` and ``s3:List*``
    on the whole CDK assets bucket; this grants ``s3:GetObject`` on the script's key. Subclasses
    make other assets (:meth:`make`) with their own construct id and statement id.
    """

    construct_id = "ScriptAsset"
    sid = "ReadScript"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.asset: s3_assets.Asset | None = None

    def make(self, scope: Construct) -> s3_assets.Asset:
        return s3_assets.Asset(scope, self.construct_id, path=str(self.path))

    def bind(self, scope: Construct, grantable: iam.IGrantable) -> glue.CodeConfig:
        if self.asset is None:
            self.asset = self.make(scope)
        asset = self.asset
        grantable.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid=self.sid,
                actions=["s3:GetObject"],
                resources=[f"{asset.bucket.bucket_arn}/{asset.s3_object_key}"],
            )
        )
        return glue.CodeConfig(
            s3_location=s3.Location(bucket_name=asset.s3_bucket_name, object_key=asset.s3_object_key)
        )


class ModuleArchive(ScriptAsset):
    """A Python module as a ``.zip`` asset for ``--extra-py-files`` (Glue puts the archive on the
    script's ``sys.path``, so the module imports by its own name; a ``.py`` asset would be named
    after its hash), readable by the job's role only at its own object key."""

    construct_id = "SharedModuleAsset"
    sid = "ReadSharedModule"

    def make(self, scope: Construct) -> s3_assets.Asset:
        return zipped_modules(scope, self.construct_id, [self.path])


class GlueEtl(Construct):
    """Crawls ``<database>/<table>`` through a JDBC connection, then copies the table to CSV in S3.

    A Glue workflow runs the crawler on the configured UTC cron schedule and the job when the
    crawl succeeds, so the catalog table always exists and matches the source schema.
    """

    @property
    def assets_bucket_name(self) -> str:
        """The bucket of the job's script, shared module and CA (the CDK's file-assets bucket)."""
        assert self.script.asset is not None, "the job binds its script when it is made"
        return self.script.asset.s3_bucket_name

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cfg: ForecastConfig,
        env_name: str,
        logs_principal: str,
        log_retention_days: int,
        bucket: s3.IBucket,
        secret: secretsmanager.ISecret,
        network: ForecastNetwork,
    ) -> None:
        super().__init__(scope, construct_id)
        db = cfg.database
        stack = Stack.of(self)
        self.job_name = etl_job_name(env_name, db.source_table)
        names = resource_prefix(env_name)

        self.catalog = glue.Database(
            self,
            "Catalog",
            database_name=catalog_database_name(env_name),
            description="Tables the forecast crawler finds in the MySQL source",
        )
        self.catalog_table = glue_etl.catalog_table_name(db.database, db.source_table)

        self.key = kms.Key(
            self,
            "Key",
            enable_key_rotation=True,
            description="Encrypts the forecast Glue job's logs and bookmarks",
        )
        glue_log_groups = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name="/aws-glue/*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.key.grant_encrypt_decrypt(  # only for Glue's log groups in this account and region
            iam.PrincipalWithConditions(
                iam.ServicePrincipal(logs_principal),
                {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": glue_log_groups}},
            )
        )
        self.security = glue.SecurityConfiguration(
            self,
            "Security",
            security_configuration_name=f"{names}-forecast-etl",
            cloud_watch_encryption=glue.CloudWatchEncryption.kms(self.key),
            job_bookmarks_encryption=glue.JobBookmarksEncryption.client_side_kms(self.key),
            s3_encryption=glue.S3Encryption.s3_managed(),
        )

        ca_path = db.ca_bundle_path if tls_required(db) else None
        #: The CA bundle Glue verifies the server against (``CUSTOM_JDBC_CERT``), when configured.
        self.ca_certificate = (
            s3_assets.Asset(self, "DatabaseCa", path=str(ca_path)) if ca_path is not None else None
        )
        transport = "TLS" if tls_required(db) else "plaintext"
        connection_subnet = network.subnets[0]
        connection_groups = [network.glue, network.database_clients]
        self.connection = glue.Connection(
            self,
            "Connection",
            connection_name=f"{names}-mysql",
            type=glue.ConnectionType.JDBC,
            description=f"MySQL {db.host}:{db.port}/{db.database} over {transport}, "
            "credentials from Secrets Manager",
            properties=glue_connection_properties(
                db, self.ca_certificate.s3_object_url if self.ca_certificate else None
            ),
            secret=secret,
            security_groups=connection_groups,
            network=glue.ConnectionNetwork.subnet(connection_subnet),
        )

        if network.imported:
            _accept_configured_az(self.connection)
        arn = stack.format_arn
        catalog_arn = arn(service="glue", resource="catalog")
        database_arn = arn(service="glue", resource="database", resource_name=self.catalog.database_name)
        tables_arn = arn(service="glue", resource="table", resource_name=f"{self.catalog.database_name}/*")
        connection_arn = arn(
            service="glue", resource="connection", resource_name=self.connection.connection_name
        )

        self.crawler_role = iam.Role(
            self,
            "CrawlerRole",
            assumed_by=service_for_this_account(self, "glue.amazonaws.com"),
            description="Forecast crawler: catalogs the MySQL source table through its connection",
            role_name=secret_reader_role_name(env_name, "crawler"),  # the secret's key names it
        )
        self.job_role = iam.Role(
            self,
            "JobRole",
            assumed_by=service_for_this_account(self, "glue.amazonaws.com"),
            description="Forecast ETL job: reads the catalog and the source, writes the ETL prefix",
            role_name=secret_reader_role_name(env_name, "etl-job"),  # the secret's key names it
        )
        security_name = self.security.security_configuration_name
        days = log_retention_days
        # The crawler's group is named after its role; an earlier deployment's crawls may have
        # created it, so its retention is set idempotently rather than by owning it.
        self.crawler_log_group_name = crawler_log_group_name(security_name, self.crawler_role.role_name)
        ServiceLogGroups.of(self, days=days).add(
            "GlueCrawlerLogs", self.crawler_log_group_name, account_wide=False
        )
        self.job_log_groups = [
            logs.LogGroup(
                self,
                f"Job{name.rsplit('/', 1)[1].title()}Logs",
                log_group_name=name,
                encryption_key=self.key,
                retention=retention(days),
                removal_policy=RemovalPolicy.DESTROY,
            )
            for name in job_log_group_names(self.job_name, security_name, self.job_role.role_name)
        ]
        job_logs = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"{job_log_group_prefix(self.job_name)}/*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        for role, log_resources in (
            (self.crawler_role, log_group_arns(self, self.crawler_log_group_name)),
            (self.job_role, [job_logs]),
        ):
            grant_secret_read(role, secret)
            self.key.grant_encrypt_decrypt(role)
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="UseConnection",
                    actions=["glue:GetConnection"],
                    resources=[catalog_arn, connection_arn],
                )
            )
            grant_network_interfaces(
                role,
                vpc=network.vpc,
                subnets=[connection_subnet],
                security_groups=connection_groups,
                on_interfaces=["ec2:DeleteNetworkInterface"],
                describe=_DESCRIBE_NETWORK,
                describe_vpc_attribute=True,
            )
            if self.ca_certificate is not None:  # Glue reads CUSTOM_JDBC_CERT with this role
                role.add_to_policy(
                    iam.PolicyStatement(
                        sid="ReadDatabaseCa",
                        actions=["s3:GetObject"],
                        resources=[
                            self.ca_certificate.bucket.arn_for_objects(self.ca_certificate.s3_object_key)
                        ],
                    )
                )
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="TagNetworkInterfaces",
                    actions=["ec2:CreateTags", "ec2:DeleteTags"],
                    resources=[arn(service="ec2", resource="network-interface", resource_name="*")],
                    conditions={"ForAllValues:StringEquals": {"aws:TagKeys": ["aws-glue-service-resource"]}},
                )
            )
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="OwnLogs",
                    actions=[
                        "logs:CreateLogGroup",
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                        "logs:AssociateKmsKey",
                    ],
                    resources=log_resources,
                )
            )
        self.crawler_role.add_to_policy(
            iam.PolicyStatement(
                sid="CatalogSourceTable",
                actions=[
                    "glue:GetDatabase",
                    "glue:GetTable",
                    "glue:GetTables",
                    "glue:CreateTable",
                    "glue:UpdateTable",
                ],
                resources=[catalog_arn, database_arn, tables_arn],
            )
        )
        self.crawler_role.add_to_policy(
            iam.PolicyStatement(
                sid="SecurityConfiguration",
                actions=["glue:GetSecurityConfiguration"],
                resources=["*"],
            )
        )
        self.job_role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadCatalog",
                actions=["glue:GetDatabase", "glue:GetTable", "glue:GetPartitions"],
                resources=[catalog_arn, database_arn, tables_arn],
            )
        )
        output = cfg.etl_table_prefix
        grant_prefix(
            self.job_role,
            bucket,
            output,
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            sid="WriteEtlOutput",
            list_sid="ListEtlOutput",
        )

        self.crawler = glue.CfnCrawler(
            self,
            "Crawler",
            name=crawler_name(env_name),
            role=self.crawler_role.role_arn,
            database_name=self.catalog.database_name,
            description=f"Catalogs {db.database}.{db.source_table} through {self.connection.connection_name}",
            targets=glue.CfnCrawler.TargetsProperty(
                jdbc_targets=[
                    glue.CfnCrawler.JdbcTargetProperty(
                        connection_name=self.connection.connection_name,
                        path=f"{db.database}/{db.source_table}",
                    )
                ]
            ),
            crawler_security_configuration=self.security.security_configuration_name,
            schema_change_policy=glue.CfnCrawler.SchemaChangePolicyProperty(
                update_behavior="UPDATE_IN_DATABASE", delete_behavior="LOG"
            ),
        )

        arguments = etl_job_arguments(cfg, env_name=env_name, bucket_name=bucket.bucket_name)
        self.script = ScriptAsset(GLUE_SCRIPT)
        self.job = glue.PySparkEtlJob(
            self,
            "Job",
            job_name=self.job_name,
            description=f"Copies {db.database}.{db.source_table} to s3://<bucket>/{output}run=<job run id>/",
            script=self.script,
            extra_python_files=[ModuleArchive(SHARED_RULES)],
            role=self.job_role,
            glue_version=getattr(glue.GlueVersion, glue_runtime(stack.region).cdk_name),
            worker_configuration=glue.WorkerConfiguration(
                worker_type=getattr(glue.WorkerType, cfg.glue_worker_type.replace(".", "_")),
                number_of_workers=cfg.glue_workers,
            ),
            connections=[self.connection],
            security_configuration=self.security,
            default_arguments={**arguments, "--custom-logGroup-prefix": job_log_group_prefix(self.job_name)},
            # Glue 4.0's continuous logging (its account-wide /aws-glue/jobs/logs-v2 group): Glue
            # 5.x logs in real time anyway, to the groups under --custom-logGroup-prefix.
            continuous_logging=glue.ContinuousLoggingProps(enabled=False),
            enable_metrics=False,
            enable_observability_metrics=False,
            max_concurrent_runs=1,
            max_retries=0,
            timeout=Duration.hours(2),
        )

        self.workflow = glue.CfnWorkflow(
            self,
            "Workflow",
            name=etl_workflow_name(env_name),
            description="Crawl the source, then copy it to S3",
        )
        crawl = glue.CfnTrigger(
            self,
            "Schedule",
            name=f"{names}-forecast-schedule",
            type="SCHEDULED",
            schedule=cfg.schedule,
            start_on_creation=True,
            workflow_name=self.workflow.ref,
            actions=[glue.CfnTrigger.ActionProperty(crawler_name=self.crawler.ref)],
            description=f"{cfg.schedule} in UTC",
        )
        copy = glue.CfnTrigger(
            self,
            "AfterCrawl",
            name=f"{names}-forecast-after-crawl",
            type="CONDITIONAL",
            start_on_creation=True,
            workflow_name=self.workflow.ref,
            actions=[glue.CfnTrigger.ActionProperty(job_name=self.job.job_name)],
            predicate=glue.CfnTrigger.PredicateProperty(
                conditions=[
                    glue.CfnTrigger.ConditionProperty(
                        crawler_name=self.crawler.ref, crawl_state="SUCCEEDED", logical_operator="EQUALS"
                    )
                ]
            ),
        )
        copy.add_resource_dependency(crawl)

        self.job.node.add_dependency(*self.job_log_groups)

        common = [
            r"Resource::\*",
            NEW_INTERFACE_FINDING,
            r"Action::kms:(GenerateDataKey|ReEncrypt)\*",
            r"Resource::arn:[-a-z]+:glue:.*:table/.*/\*",
        ]
        network_reason = (
            "Glue in a VPC creates network interfaces, which have no ARN before they exist "
            "(network-interface/*): only in the connection's subnet with its security groups, in "
            "this VPC; it deletes interfaces of that subnet only and tags them with Glue's own tag "
            "key only. EC2's Describe* list actions and glue:GetSecurityConfiguration take no "
            "resource, so AWS requires '*'. Catalog access covers the tables of this app's database "
            "only; KMS actions are CDK's standard encrypt/decrypt grant on this construct's own key."
        )
        acknowledge(
            self.crawler_role,
            findings="|".join(
                [*common, r"Resource::arn:[-a-z]+:logs:.*:log-group:/aws-glue/crawlers-role/.*:\*"]
            ),
            IAM5=f"{network_reason} Logs go to the crawler's own log group, named after its role and "
            "security configuration, in streams named per crawl (':*').",
        )
        acknowledge(
            self.job_role,
            findings="|".join(
                [
                    *common,
                    r"Resource::arn:[-a-z]+:logs:.*:log-group:"
                    + re.escape(job_log_group_prefix(self.job_name))
                    + r"/\*",
                    objects_under(output),
                ]
            ),
            IAM5=f"{network_reason} Logs go to the job's own log groups under its --custom-logGroup-prefix, "
            "in streams named per run; S3 access is limited to the ETL output prefix (and the objects "
            "of the script and of its shared module).",
        )


def _accept_configured_az(connection: glue.Connection) -> None:
    """A Glue connection names its subnet's AZ; for an imported subnet that AZ is configuration."""
    reason = "The AZ is the configured AZ of an imported private subnet, which the connection must name."
    resource = ignore_cfn_lint(connection, "W3010", reason)
    Validations.of(resource).acknowledge(Acknowledgment(id="CloudFormation-Validate::W3010", reason=reason))
