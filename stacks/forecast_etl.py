"""The forecast pipeline's Glue side: catalog, JDBC connection, crawler, ETL job and its schedule."""

from __future__ import annotations

from aws_cdk import Acknowledgment, ArnFormat, Duration, Stack, Validations
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from processing import glue_etl
from stacks.config import EnvConfig
from stacks.data_bucket import grant_prefix
from stacks.database_tls import glue_connection_properties, tls_required
from stacks.forecast_events import catalog_database_name, crawler_name, etl_job_arguments, etl_job_name
from stacks.forecast_network import ForecastNetwork
from stacks.nag import acknowledge, ignore_cfn_lint, objects_under
from stacks.paths import PROCESSING
from stacks.principals import service_for_this_account
from stacks.runtimes import GLUE

GLUE_SCRIPT = PROCESSING / "glue_etl.py"
#: What a Glue job or crawler in a VPC does with network interfaces; AWS allows no narrower resource.
_ENI_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeRouteTables",
    "ec2:DescribeVpcAttribute",
    "ec2:DescribeVpcs",
]


class GlueEtl(Construct):
    """Crawls ``<database>/<table>`` through a JDBC connection, then copies the table to CSV in S3.

    A Glue workflow runs the crawler on the configured UTC cron schedule and the job when the
    crawl succeeds, so the catalog table always exists and matches the source schema.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env: EnvConfig,
        bucket: s3.IBucket,
        secret: secretsmanager.ISecret,
        network: ForecastNetwork,
    ) -> None:
        super().__init__(scope, construct_id)
        assert env.forecast is not None
        cfg = env.forecast
        db = cfg.database
        stack = Stack.of(self)
        self.job_name = etl_job_name(env)
        names = f"ml-pipelines-{env.name}"

        self.catalog = glue.Database(
            self,
            "Catalog",
            database_name=catalog_database_name(env),
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
                iam.ServicePrincipal(f"logs.{env.region}.{env.domain}"),
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
            security_groups=[network.glue, network.database_clients],
            network=glue.ConnectionNetwork.subnet(network.subnets[0]),
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
        )
        self.job_role = iam.Role(
            self,
            "JobRole",
            assumed_by=service_for_this_account(self, "glue.amazonaws.com"),
            description="Forecast ETL job: reads the catalog and the source, writes the ETL prefix",
        )
        for role, log_group in ((self.crawler_role, "/aws-glue/crawlers"), (self.job_role, "/aws-glue/*")):
            secret.grant_read(role)
            self.key.grant_encrypt_decrypt(role)
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="UseConnection",
                    actions=["glue:GetConnection"],
                    resources=[catalog_arn, connection_arn],
                )
            )
            role.add_to_policy(
                iam.PolicyStatement(sid="VpcNetworkInterfaces", actions=_ENI_ACTIONS, resources=["*"])
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
                    resources=[
                        arn(
                            service="logs",
                            resource="log-group",
                            resource_name=f"{log_group}:*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    ],
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
            name=crawler_name(env),
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

        arguments = etl_job_arguments(env, bucket.bucket_name)
        self.job = glue.PySparkEtlJob(
            self,
            "Job",
            job_name=self.job_name,
            description=f"Copies {db.database}.{db.source_table} to s3://<bucket>/{output}run=<job run id>/",
            script=glue.Code.from_asset(str(GLUE_SCRIPT)),
            role=self.job_role,
            glue_version=getattr(glue.GlueVersion, GLUE.cdk_name),
            worker_configuration=glue.WorkerConfiguration(
                worker_type=getattr(glue.WorkerType, cfg.glue_worker_type.replace(".", "_")),
                number_of_workers=cfg.glue_workers,
            ),
            connections=[self.connection],
            security_configuration=self.security,
            default_arguments=arguments,
            continuous_logging=glue.ContinuousLoggingProps(enabled=True),
            enable_metrics=False,
            enable_observability_metrics=False,
            max_concurrent_runs=1,
            max_retries=0,
            timeout=Duration.hours(2),
        )

        self.workflow = glue.CfnWorkflow(
            self, "Workflow", name=f"{names}-forecast-etl", description="Crawl the source, then copy it to S3"
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

        accepted = "|".join(
            [
                r"Resource::\*",
                r"Resource::arn:[-a-z]+:ec2:.*:network-interface/\*",
                r"Resource::arn:[-a-z]+:logs:.*:log-group:/aws-glue/.*",
                r"Resource::arn:[-a-z]+:glue:.*:table/.*/\*",
                objects_under(output),
                r"Resource::arn:[-a-z]+:s3:::cdk-[a-z0-9]+-assets-.*/\*",
                r"Action::(s3:GetObject|s3:GetBucket|s3:List|kms:GenerateDataKey|kms:ReEncrypt)\*",
            ]
        )
        for role in (self.crawler_role, self.job_role):
            acknowledge(
                role,
                findings=accepted,
                IAM5="Glue in a VPC manages network interfaces, for which AWS allows no narrower resource "
                "than '*' (tags are limited to Glue's own tag key), as for glue:GetSecurityConfiguration; "
                "logs go to Glue's own log groups, whose streams are named per run; catalog access covers "
                "the tables of this app's database only; S3 access is limited to the ETL output prefix and "
                "the CDK asset bucket's read actions for the script; KMS actions are CDK's standard "
                "encrypt/decrypt grant on this construct's own key.",
            )


def _accept_configured_az(connection: glue.Connection) -> None:
    """A Glue connection names its subnet's AZ; for an imported subnet that AZ is configuration."""
    reason = "The AZ is the configured AZ of an imported private subnet, which the connection must name."
    resource = ignore_cfn_lint(connection, "W3010", reason)
    Validations.of(resource).acknowledge(Acknowledgment(id="CloudFormation-Validate::W3010", reason=reason))
