"""The offline runner: both pipelines end to end on this machine, with the code ``cdk deploy`` ships.

An :class:`OfflineSession` is one mocked AWS account (moto, in-process, fake credentials) set up
from an environment of ``cdk.json``: the data bucket, the alerts topic, the database secret, the
two state machines rendered from ``statemachines/*.asl.json`` with the stacks' own substitution
functions, their Lambda tasks bound to the real handlers (with the environment the stacks give
them), and their SageMaker tasks bound to :mod:`localrun.sagemaker_local`.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config import EnvConfig, ForecastConfig, load_env, read_cdk_context
from contracts.asl import render
from contracts.environments import (
    generate_dataset_environment,
    get_batch_id_environment,
    trigger_environment,
    write_forecast_environment,
)
from contracts.events import SUCCEEDED, glue_job_state_pattern, matches
from contracts.names import etl_job_name
from contracts.substitutions import forecast_substitutions, standardize_substitutions
from contracts.timeouts import forecast_task_timeouts, standardize_task_timeouts, with_timeouts
from localrun.databases import Database, ServerDatabase, SQLiteDatabase, open_database
from localrun.glue_local import EtlRun, run_etl
from localrun.lambdas import bound, load
from localrun.moto_adapter import ExecutionResult, OfflineAws, StateEvent, offline_aws
from localrun.sagemaker_local import JobQuota, LocalSageMaker

#: Long enough for a demo DeepAR training on 2 cores; real hyperparameters may need more.
EXECUTION_TIMEOUT = 1800.0


class Printer:
    """Live progress: each state as it starts and ends, with its duration."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def say(self, text: str) -> None:
        if self.enabled:
            print(text, flush=True)

    @property
    def on_state(self) -> Callable[[StateEvent], None] | None:
        """:meth:`state` when printing, else None (so no execution history is read while waiting)."""
        return self.state if self.enabled else None

    def state(self, event: StateEvent) -> None:
        if event.phase == "entered":
            self.say(f"    > {event.name}")
        elif event.seconds is not None:
            self.say(f"    < {event.name} ({event.seconds:.2f} s)")


@dataclass
class Run:
    """One pipeline run: what the user sees in the summary."""

    pipeline: str
    result: ExecutionResult
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceLabel:
    """What the user calls the forecast's input: a file (or "demo data") and its two columns."""

    name: str
    timestamp_column: str
    value_column: str


class OfflineSession:
    """A mocked account for one environment; see the module docstring.

    ``quota`` (default none) makes the SageMaker twin enforce a concurrent-job quota.
    """

    def __init__(
        self,
        env: EnvConfig,
        aws: OfflineAws,
        database: Database | None,
        workdir: Path,
        printer: Printer,
        quota: JobQuota | None = None,
    ) -> None:
        self.env, self.aws, self.database, self.workdir, self.printer = env, aws, database, workdir, printer
        self.last_etl: EtlRun | None = None
        self.source: SourceLabel | None = None
        self.s3 = aws.client("s3")
        self.sagemaker = LocalSageMaker(self.s3, workdir / "sagemaker", quota=quota)
        self.bucket = env.data_bucket_name
        self.runs: list[Run] = []
        #: The CloudWatch metrics write-forecast printed (embedded metric format), one per written run.
        self.metrics: list[dict[str, Any]] = []
        self._alerts: list[str] = []
        #: The database secret write-forecast reads (a server database only; SQLite needs none).
        self.database_secret_arn: str | None = None
        if aws.region == "us-east-1":
            self.s3.create_bucket(Bucket=self.bucket)
        else:
            self.s3.create_bucket(
                Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": aws.region}
            )
        self.alerts_arn = aws.client("sns").create_topic(Name="alerts")["TopicArn"]
        alerts_queue = aws.client("sqs").create_queue(QueueName="alerts")["QueueUrl"]
        self.alerts_queue = alerts_queue
        queue_arn = aws.client("sqs").get_queue_attributes(QueueUrl=alerts_queue, AttributeNames=["QueueArn"])
        aws.client("sns").subscribe(
            TopicArn=self.alerts_arn, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"]
        )
        for kind in ("processing", "training", "model", "transform"):
            aws.bind_sagemaker(kind, getattr(self.sagemaker, kind))
        aws.bind_sagemaker_create(self.sagemaker.create)
        self._standardize_arn = self._create_standardize()
        self._trigger = self._bound("trigger", trigger_environment(self._standardize_arn))
        self._forecast_arn = (
            self._create_forecast(env.forecast, database) if env.forecast is not None and database else None
        )

    # -- setup -----------------------------------------------------------------------------------

    def _function_variables(self, variables: Mapping[str, str]) -> dict[str, str]:
        """``variables`` plus the region variables Lambda sets in every function's environment."""
        return {**variables, "AWS_REGION": self.aws.region, "AWS_DEFAULT_REGION": self.aws.region}

    def _bound(
        self, function: str, variables: Mapping[str, str], call: Callable[[Any], Any] | None = None
    ) -> Callable[[Any], Any]:
        return bound(function, self._function_variables(variables), call)

    def _metric(self, line: str) -> None:
        """Keep one line write-forecast printed for CloudWatch (embedded metric format)."""
        self.metrics.append(json.loads(line))

    def _printing_metrics(self, handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """``handler`` with what it prints to stdout split: its metric lines kept (:meth:`_metric`),
        anything else printed as it was."""

        def invoke(payload: Any) -> Any:
            printed = io.StringIO()
            try:
                with contextlib.redirect_stdout(printed):
                    return handler(payload)
            finally:
                for line in printed.getvalue().splitlines():
                    if line.startswith('{"_aws"'):
                        self._metric(line)
                    else:
                        print(line)

        return invoke

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:{self.aws.partition}:{service}:{self.aws.region}:{self.env.account}:{resource}"

    def _create_standardize(self) -> str:
        cfg = self.env.standardize
        batch_arn = self._arn("lambda", "function:get-batch-id")
        self.aws.bind_lambda(batch_arn, self._bound("get_batch_id", get_batch_id_environment(cfg)))
        subs = standardize_substitutions(
            cfg,
            quota_retry=self.env.quota_retry,
            partition=self.aws.partition,
            bucket_name=self.bucket,
            get_batch_id_arn=batch_arn,
            processing_role_arn=f"arn:{self.aws.partition}:iam::{self.env.account}:role/processing",
            image_uri="local/processing:latest",
        )
        bounded = with_timeouts(
            render("standardize", subs), standardize_task_timeouts(cfg), self.env.quota_retry
        )
        return self.aws.create_state_machine("standardize", bounded)

    def _create_forecast(self, cfg: ForecastConfig, database: Database) -> str:
        generate_arn = self._arn("lambda", "function:generate-dataset")
        write_arn = self._arn("lambda", "function:write-forecast")
        self.aws.bind_lambda(
            generate_arn,
            self._bound(
                "generate_dataset",
                {  # Lambda sets the memory variable in every function; the stack may not
                    **generate_dataset_environment(cfg, self.bucket),
                    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(cfg.generate_dataset.memory_mb),
                },
            ),
        )
        if isinstance(database, SQLiteDatabase):  # write-forecast's operations, a SQLite repository
            write_variables = self._function_variables(
                write_forecast_environment(cfg, "unused", self.env.name)
            )
            writer = load("write_forecast", "forecast_writer")
            repository_for = database.sqlite_repository
            write = bound(  # write_variables has the region variables already
                "write_forecast",
                write_variables,
                lambda event: writer.run_operation(
                    self.s3,
                    event,
                    repository_for,
                    writer.ForecastSettings.from_env(write_variables),
                    self._metric,
                ),
            )
        else:  # the real handler: MySQL credentials from the (mocked) secret
            assert isinstance(database, ServerDatabase)
            secret = json.dumps(database.secret())
            created = self.aws.client("secretsmanager").create_secret(Name="forecast-db", SecretString=secret)
            self.database_secret_arn = str(created["ARN"])
            load("write_forecast", "mysql_connection").clear_secret_cache()
            write_variables = {
                **write_forecast_environment(cfg, created["ARN"], self.env.name),
                **database.db.server.tls_environment(),
            }
            write = self._printing_metrics(self._bound("write_forecast", write_variables))
        self.aws.bind_lambda(write_arn, write)
        subs = forecast_substitutions(
            cfg.deepar,
            quota_retry=self.env.quota_retry,
            region=self.env.region,
            partition=self.aws.partition,
            generate_dataset_arn=generate_arn,
            write_forecast_arn=write_arn,
            sagemaker_role_arn=f"arn:{self.aws.partition}:iam::{self.env.account}:role/sagemaker",
            alerts_topic_arn=self.alerts_arn,
        )
        bounded = with_timeouts(render("forecast", subs), forecast_task_timeouts(cfg), self.env.quota_retry)
        return self.aws.create_state_machine("forecast", bounded)

    # -- standardize -----------------------------------------------------------------------------

    @property
    def standardize_arn(self) -> str:
        return self._standardize_arn

    @property
    def forecast_arn(self) -> str | None:
        """The forecast state machine's ARN; None without a forecast pipeline or a database."""
        return self._forecast_arn

    def upload(self, key: str, body: bytes, *, sequencer: str | None = None) -> dict[str, Any]:
        """Put ``key`` and return the S3 notification event a real upload would send."""
        response = self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        return self.s3_event(key, len(body), response["ETag"], sequencer=sequencer)

    def s3_event(self, key: str, size: int, etag: str, *, sequencer: str | None = None) -> dict[str, Any]:
        """The S3 notification event of an object put to the data bucket as ``key``."""
        record = {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": self.aws.region,
            "eventName": "ObjectCreated:Put",
            "s3": {
                "bucket": {"name": self.bucket, "arn": f"arn:{self.aws.partition}:s3:::{self.bucket}"},
                "object": {
                    "key": _url_encode_key(key),
                    "size": size,
                    "eTag": etag.strip('"'),
                    "sequencer": sequencer or f"{time.time_ns():020X}",
                },
            },
        }
        return {"Records": [record]}

    def notify(self, event: dict[str, Any]) -> list[str]:
        """Deliver an S3 event as the bucket notification would: only records that pass the
        configured prefix/suffix filter reach the trigger. Returns the execution names started."""
        cfg = self.env.standardize
        records = [
            r
            for r in event["Records"]
            if (key := urllib.parse.unquote_plus(r["s3"]["object"]["key"])).startswith(cfg.input_prefix)
            and key.endswith(cfg.input_suffix)
        ]
        if not records:
            return []
        result = self._trigger({"Records": records})
        return list(result["executions"])

    def standardize(self, key: str, body: bytes) -> Run | None:
        """Upload a partition and run the pipeline it triggers; None when the filter skips it."""
        self.printer.say(f"standardize: s3://{self.bucket}/{key}")
        names = self.notify(self.upload(key, body))
        if not names:
            self.printer.say("  skipped: the key does not match the notification filter")
            return None
        start = time.monotonic()
        execution_arn = self._execution_arn(self._standardize_arn, names[0])
        result = self.aws.wait(execution_arn, timeout=EXECUTION_TIMEOUT, on_state=self.printer.on_state)
        run = Run("standardize", result, time.monotonic() - start, {"key": key})
        self.runs.append(run)
        return run

    def standardize_burst(self, partitions: Sequence[tuple[str, bytes]]) -> list[Run]:
        """Upload every ``(key, body)`` at once, as one ``aws s3 cp --recursive`` would, then wait
        for every execution they trigger (all run at the same time). Skipped keys give no run."""
        self.printer.say(f"standardize: {len(partitions)} uploads at once to s3://{self.bucket}/")
        start = time.monotonic()
        started = [(key, name) for key, body in partitions for name in self.notify(self.upload(key, body))]
        runs = []
        for key, name in started:
            execution_arn = self._execution_arn(self._standardize_arn, name)
            result = self.aws.wait(execution_arn, timeout=EXECUTION_TIMEOUT)
            runs.append(Run("standardize", result, time.monotonic() - start, {"key": key}))
        self.runs.extend(runs)
        return runs

    def _execution_arn(self, state_machine_arn: str, name: str) -> str:
        return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"

    # -- forecast --------------------------------------------------------------------------------

    def load_source(self, rows: list[tuple[Any, ...]], *, label: SourceLabel | None = None) -> None:
        """Replace the source table with ``rows`` (timestamp, value[, series id]). ``label`` names
        them in the report (default: the source table and the environment's column names)."""
        assert self.env.forecast is not None and self.database is not None
        db = self.env.forecast.database
        columns = [db.timestamp_column, db.value_column] + ([db.series_column] if db.series_column else [])
        self.database.load_source(db.source_table, columns, rows)
        self.source = label or SourceLabel(db.source_table, db.timestamp_column, db.value_column)

    def forecast(self) -> Run | None:
        """Run the ETL job, then the forecast state machine if its rule matches the event."""
        assert self.env.forecast is not None and self._forecast_arn is not None
        assert self.database is not None
        self.printer.say(f"forecast: the Glue job copies {self.env.forecast.database.source_table}")
        etl = run_etl(self.env, self.database, self.s3, self.workdir)
        self.last_etl = etl
        self.printer.say(f"  engine: {etl.engine}; {len(etl.keys)} object(s) written")
        event = etl.event
        job_name = etl_job_name(self.env.name, self.env.forecast.database.source_table)
        pattern = glue_job_state_pattern(job_name, SUCCEEDED)
        if not matches(pattern, event):
            self.printer.say("  the EventBridge rule does not match the event: no forecast")
            return None
        start = time.monotonic()
        result = self.aws.run(
            self._forecast_arn, event, timeout=EXECUTION_TIMEOUT, on_state=self.printer.on_state
        )
        run = Run("forecast", result, time.monotonic() - start, {"job_run_id": event["detail"]["jobRunId"]})
        self.runs.append(run)
        return run

    def alerts(self) -> list[str]:
        """Every message published to the alerts topic so far (the queue is drained into a list)."""
        sqs = self.aws.client("sqs")
        while messages := sqs.receive_message(QueueUrl=self.alerts_queue, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for message in messages:
                self._alerts.append(json.loads(message["Body"]).get("Message", ""))
                sqs.delete_message(QueueUrl=self.alerts_queue, ReceiptHandle=message["ReceiptHandle"])
        return list(self._alerts)

    def list_keys(self, prefix: str) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]


def _url_encode_key(key: str) -> str:
    return urllib.parse.quote_plus(key, safe="/")


@contextlib.contextmanager
def open_session(
    env_name: str = "dev",
    *,
    workdir: Path,
    mysql_url: str | None = None,
    forecast: bool = True,
    allow_mariadb: bool = True,
    printer: Printer | None = None,
    quota: JobQuota | None = None,
    config: EnvConfig | None = None,
    iam_from: Path | None = None,
) -> Iterator[OfflineSession]:
    """A ready :class:`OfflineSession` for ``env_name`` of ``cdk.json`` (default ``dev``).

    ``quota`` (default none): the concurrent-job quota the SageMaker twin enforces. ``config``
    (default: ``env_name``'s, loaded from ``cdk.json``): an environment built some other way,
    e.g. with one setting changed by ``dataclasses.replace``. ``iam_from`` (default none): a folder
    of the environment's synthesized templates (``cdk.out/<env>``); each AWS call of a function is
    then evaluated against their policies first, and one they deny fails with ``AccessDenied``, as
    on AWS (``tools/iam_check/enforce.py``).
    """
    env = config or load_env(env_name, read_cdk_context())
    printer = printer or Printer()
    workdir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        database = None
        if forecast and env.forecast is not None:
            database = stack.enter_context(open_database(mysql_url, workdir, allow_mariadb=allow_mariadb))
            printer.say(f"database: {database.label}")
        aws = stack.enter_context(offline_aws(env.region))
        if iam_from is not None:
            from tools.iam_check.enforce import Enforcer  # node and the templates: only when asked

            aws.calls.gate = stack.enter_context(Enforcer(iam_from).watching())
            printer.say(f"IAM: every call of a function is evaluated against {iam_from}")
        yield OfflineSession(env, aws, database, workdir, printer, quota)
