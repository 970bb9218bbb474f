"""The forecast stack: Glue ETL, EventBridge, DeepAR state machine, least-privilege IAM, network."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from config import read_cdk_context
from contracts.deepar import deepar_image_uri
from contracts.events import glue_crawler_state_pattern, glue_job_state_pattern, matches
from contracts.glue_job import etl_job_arguments
from contracts.names import crawler_name, etl_job_name
from stacks.runtimes import GLUE
from tests.infra.conftest import Synthesized, synthesize
from tests.infra.iam import actions, as_list, role_id, statement_for, statements


def only(resources: Mapping[str, Any]) -> tuple[str, Any]:
    assert len(resources) == 1, list(resources)
    return next(iter(resources.items()))


def forecast(s: Synthesized) -> Template:
    assert s.stacks.forecast is not None
    return Template.from_stack(s.stacks.forecast)


def function(template: Template, description: str) -> tuple[str, Any]:
    return only(
        template.find_resources(
            "AWS::Lambda::Function", {"Properties": {"Description": Match.string_like_regexp(description)}}
        )
    )


def test_glue_connection_uses_the_secret_the_subnet_and_both_security_groups(
    synthesized: Synthesized,
) -> None:
    template = forecast(synthesized)
    db = synthesized.config.forecast.database  # type: ignore[union-attr]
    _, conn = only(template.find_resources("AWS::Glue::Connection"))
    props = conn["Properties"]["ConnectionInput"]
    assert props["ConnectionType"] == "JDBC"
    assert (
        props["ConnectionProperties"]["JDBC_CONNECTION_URL"]
        == f"jdbc:mysql://{db.host}:{db.port}/{db.database}"
    )
    assert "SECRET_ID" in props["ConnectionProperties"]
    assert "PASSWORD" not in json.dumps(props).upper()
    assert len(props["PhysicalConnectionRequirements"]["SecurityGroupIdList"]) == 2
    assert props["PhysicalConnectionRequirements"]["SubnetId"]


def test_no_password_in_any_template(synthesized: Synthesized) -> None:
    for stack in (synthesized.stacks.shared, synthesized.stacks.forecast):
        text = json.dumps(Template.from_stack(stack).to_json())  # type: ignore[arg-type]
        # Also inside JSON-in-a-string values (SecretString, SecretStringTemplate), where quotes are \".
        password = r'\\?"password\\?"\s*:\s*\\?"'
        assert not re.search(password, text, re.I), "a password literal is in a template"


def test_crawler_targets_db_table_with_the_security_configuration(synthesized: Synthesized) -> None:
    template = forecast(synthesized)
    db = synthesized.config.forecast.database  # type: ignore[union-attr]
    _, crawler = only(template.find_resources("AWS::Glue::Crawler"))
    props = crawler["Properties"]
    [target] = props["Targets"]["JdbcTargets"]
    assert target["Path"] == f"{db.database}/{db.source_table}"
    assert props["CrawlerSecurityConfiguration"]
    _, sec = only(template.find_resources("AWS::Glue::SecurityConfiguration"))
    enc = sec["Properties"]["EncryptionConfiguration"]
    assert enc["CloudWatchEncryption"]["CloudWatchEncryptionMode"] == "SSE-KMS"
    assert enc["JobBookmarksEncryption"]["JobBookmarksEncryptionMode"] == "CSE-KMS"


def test_etl_job_runs_the_processing_script_with_the_column_mapping(synthesized: Synthesized) -> None:
    template = forecast(synthesized)
    cfg = synthesized.config.forecast
    assert cfg is not None
    _, job = only(template.find_resources("AWS::Glue::Job"))
    props = job["Properties"]
    assert props["Name"] == etl_job_name(synthesized.config.name, cfg.database.source_table)
    assert props["Command"]["Name"] == "glueetl"
    assert props["Command"]["PythonVersion"] == "3"
    assert props["GlueVersion"] == GLUE.version == "5.1", "Glue 5.1 runs Python 3.11, as the script needs"
    assert props["SecurityConfiguration"]
    args = props["DefaultArguments"]
    assert args["--BUCKET"] == synthesized.config.data_bucket_name
    assert args["--OUTPUT_PREFIX"] == cfg.etl_prefix
    assert args["--SOURCE_TABLE"] == cfg.database.source_table
    assert args["--TIMESTAMP_COLUMN"] == cfg.database.timestamp_column
    assert args["--VALUE_COLUMN"] == cfg.database.value_column
    assert args["--SERIES_COLUMN"] == (cfg.database.series_column or "")
    ours = etl_job_arguments(
        cfg, env_name=synthesized.config.name, bucket_name=synthesized.config.data_bucket_name
    )
    assert {k: args[k] for k in ours} == {**ours}, (
        "the offline runner passes main() the arguments the stack deploys"
    )
    assert len(props["Connections"]["Connections"]) == 1


def test_workflow_crawls_on_the_utc_schedule_then_runs_the_job(synthesized: Synthesized) -> None:
    template = forecast(synthesized)
    cfg = synthesized.config.forecast
    assert cfg is not None
    triggers = [t["Properties"] for t in template.find_resources("AWS::Glue::Trigger").values()]
    scheduled = [t for t in triggers if t["Type"] == "SCHEDULED"]
    conditional = [t for t in triggers if t["Type"] == "CONDITIONAL"]
    assert len(scheduled) == 1 and scheduled[0]["Schedule"] == cfg.schedule
    assert "CrawlerName" in scheduled[0]["Actions"][0]
    assert conditional[0]["Predicate"]["Conditions"][0]["CrawlState"] == "SUCCEEDED"
    assert "JobName" in conditional[0]["Actions"][0]


def test_event_rules_start_the_forecast_on_success_and_alert_on_failure(synthesized: Synthesized) -> None:
    template = forecast(synthesized)
    job = synthesized.etl_job_name
    sm_id, _ = only(template.find_resources("AWS::StepFunctions::StateMachine"))
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": glue_job_state_pattern(job, ["SUCCEEDED"]),
            "Targets": [Match.object_like({"Arn": {"Ref": sm_id}, "DeadLetterConfig": Match.any_value()})],
        },
    )
    rules = template.find_resources("AWS::Events::Rule")
    alerting = {
        json.dumps(r["Properties"]["EventPattern"], sort_keys=True): r["Properties"]["Targets"]
        for r in rules.values()
        if r["Properties"]["EventPattern"]["detail"]["state"] != ["SUCCEEDED"]
    }
    failures = [
        glue_job_state_pattern(job, ["FAILED", "TIMEOUT", "STOPPED"]),
        glue_crawler_state_pattern(crawler_name(synthesized.config.name), ["Failed"]),
    ]
    assert sorted(alerting) == sorted(json.dumps(p, sort_keys=True) for p in failures)
    queues = {t["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0] for targets in alerting.values() for t in targets}
    assert len(queues) == 1, "both failure rules share one dead-letter queue"
    for targets in alerting.values():
        (target,) = targets  # the alerts topic
        assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 21600, "MaximumRetryAttempts": 5}
    (queue,) = queues
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    assert any(
        d.get("Name") == "QueueName" and d["Value"] == {"Fn::GetAtt": [queue, "QueueName"]}
        for a in alarms.values()
        for d in a["Properties"].get("Dimensions", [])
    ), "a message in the alert dead-letter queue raises an alarm"
    _, crawler = only(template.find_resources("AWS::Glue::Crawler"))
    assert crawler["Properties"]["Name"] == crawler_name(synthesized.config.name)


def test_the_pattern_is_data_that_matches_glue_events() -> None:
    pattern = glue_job_state_pattern("etl", ["SUCCEEDED"])
    event = {
        "source": "aws.glue",
        "detail-type": "Glue Job State Change",
        "detail": {"jobName": "etl", "state": "SUCCEEDED"},
    }
    assert matches(pattern, event)
    assert not matches(pattern, {**event, "detail": {"jobName": "etl", "state": "FAILED"}})
    assert not matches(pattern, {**event, "detail": {"jobName": "other", "state": "SUCCEEDED"}})
    assert not matches(pattern, {"source": "aws.glue"})


def test_the_crawler_pattern_matches_glue_crawler_failures_only() -> None:
    pattern = glue_crawler_state_pattern("crawler", ["Failed"])
    event = {  # as EventBridge delivers it (detail abridged)
        "source": "aws.glue",
        "detail-type": "Glue Crawler State Change",
        "detail": {"crawlerName": "crawler", "state": "Failed", "errorMessage": "connection timed out"},
    }
    assert matches(pattern, event)
    assert not matches(pattern, {**event, "detail": {"crawlerName": "crawler", "state": "Succeeded"}})
    assert not matches(pattern, {**event, "detail": {"crawlerName": "other", "state": "Failed"}})


def test_deepar_image_and_hyperparameters_come_from_config(synthesized: Synthesized) -> None:
    template = forecast(synthesized)
    cfg = synthesized.config
    _, sm = only(template.find_resources("AWS::StepFunctions::StateMachine"))
    states = json.loads(sm["Properties"]["DefinitionString"])["States"]
    deepar = cfg.forecast.deepar  # type: ignore[union-attr]
    train = states["Train"]["Parameters"]
    assert train["AlgorithmSpecification"]["TrainingImage"] == deepar_image_uri(cfg.region)
    assert states["CreateModel"]["Parameters"]["PrimaryContainer"]["Image"] == deepar_image_uri(cfg.region)
    assert train["HyperParameters"] == deepar.hyperparameters()
    assert train["ResourceConfig"]["InstanceType"] == deepar.training_instance_type
    assert (
        states["Transform"]["Parameters"]["TransformResources"]["InstanceType"]
        == deepar.transform_instance_type
    )
    assert set(sm["Properties"]["DefinitionSubstitutions"]) == {
        "GenerateDatasetFunctionArn",
        "WriteForecastFunctionArn",
        "SageMakerRoleArn",
        "AlertsTopicArn",
    }


def test_china_uses_aws_cn_and_the_china_deepar_registry(china: Synthesized) -> None:
    template = forecast(china)
    text = json.dumps(template.to_json())
    assert not re.search(r"arn:aws:", text)
    _, sm = only(template.find_resources("AWS::StepFunctions::StateMachine"))
    states = json.loads(sm["Properties"]["DefinitionString"])["States"]
    assert states["Train"]["Resource"] == "arn:aws-cn:states:::sagemaker:createTrainingJob.sync"
    image = states["Train"]["Parameters"]["AlgorithmSpecification"]["TrainingImage"]
    assert image == "390948362332.dkr.ecr.cn-north-1.amazonaws.com.cn/forecasting-deepar:1"
    assert sm["Metadata"]["cfn-lint"]["config"]["ignore_checks"] == ["E3601"]


def test_unknown_region_is_a_synth_error() -> None:
    from config import ConfigError

    with pytest.raises(ConfigError, match=r"region 'mx-central-1'.*DeepAR"):
        deepar_image_uri("mx-central-1")


def test_state_machine_role_is_least_privilege(synthesized: Synthesized) -> None:
    template = forecast(synthesized)
    cfg = synthesized.config
    prefix = cfg.forecast.name_prefix  # type: ignore[union-attr]
    stmts = statements(template, "Forecast state machine")
    base = f"arn:{cfg.partition}:sagemaker:{cfg.region}:{cfg.account}"
    assert (
        statement_for(stmts, "sagemaker:CreateTrainingJob")["Resource"] == f"{base}:training-job/{prefix}-*"
    )
    assert statement_for(stmts, "sagemaker:CreateModel")["Resource"] == f"{base}:model/{prefix}-*"
    assert (
        statement_for(stmts, "sagemaker:CreateTransformJob")["Resource"] == f"{base}:transform-job/{prefix}-*"
    )
    sagemaker_role = role_id(template, "Forecast DeepAR")
    pass_role = statement_for(stmts, "iam:PassRole")
    assert pass_role["Resource"] == {"Fn::GetAtt": [sagemaker_role, "Arn"]}
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    rules = statement_for(stmts, "events:PutRule")["Resource"]
    assert sorted(r.rsplit("/", 1)[1] for r in rules) == [
        "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
        "StepFunctionsGetEventsForSageMakerTransformJobsRule",
    ]
    publish = statement_for(stmts, "sns:Publish")
    assert as_list(publish["Action"]) == ["sns:Publish"]
    sagemaker_actions = {a for a in actions(stmts) if a.startswith("sagemaker:")}
    assert sagemaker_actions == {
        "sagemaker:CreateTrainingJob",
        "sagemaker:DescribeTrainingJob",
        "sagemaker:StopTrainingJob",
        "sagemaker:CreateModel",
        "sagemaker:CreateTransformJob",
        "sagemaker:DescribeTransformJob",
        "sagemaker:StopTransformJob",
        "sagemaker:AddTags",
        "sagemaker:ListTags",
    }
    for s in stmts:
        if s["Resource"] == "*":
            assert all(a.startswith(("logs:", "xray:")) for a in as_list(s["Action"])), s


def test_sagemaker_role_is_scoped_to_the_work_prefix(synthesized: Synthesized) -> None:
    template = forecast(synthesized)
    cfg = synthesized.config
    stmts = statements(template, "Forecast DeepAR")
    bucket = f"arn:{cfg.partition}:s3:::{cfg.data_bucket_name}"
    assert statement_for(stmts, "s3:GetObject")["Resource"] == f"{bucket}/forecast/*"
    assert statement_for(stmts, "s3:ListBucket")["Condition"] == {"StringLike": {"s3:prefix": ["forecast/*"]}}
    assert {a for a in actions(stmts) if a.startswith("s3:")} == {
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
    }
    assert all(s["Resource"] != "*" for s in stmts)


def test_glue_job_role_reads_its_secret_and_writes_only_the_etl_prefix(synthesized: Synthesized) -> None:
    template = forecast(synthesized)
    cfg = synthesized.config
    stmts = statements(template, "Forecast ETL job")
    bucket = f"arn:{cfg.partition}:s3:::{cfg.data_bucket_name}"
    write = statement_for(stmts, "s3:PutObject")
    assert write["Resource"] == f"{bucket}/etl/{cfg.forecast.database.source_table}/*"  # type: ignore[union-attr]
    assert "secretsmanager:GetSecretValue" in actions(stmts)
    assert "glue:GetConnection" in actions(stmts)
    assert not any(a in actions(stmts) for a in ("s3:*", "glue:*", "secretsmanager:*"))
    crawler = statements(template, "Forecast crawler")
    assert not any(a.startswith("s3:") for a in actions(crawler))
    assert {"glue:CreateTable", "glue:UpdateTable", "glue:GetConnection"} <= actions(crawler)


def test_write_forecast_runs_in_the_vpc_with_the_database_security_group(synthesized: Synthesized) -> None:
    template = forecast(synthesized)
    _, fn = function(template, "DeepAR's or seasonal naive's")
    vpc = fn["Properties"]["VpcConfig"]
    assert len(vpc["SubnetIds"]) == 2 and len(vpc["SecurityGroupIds"]) == 1
    sg = synthesized.config.forecast.network.database_security_group_id  # type: ignore[union-attr]
    if sg:
        assert vpc["SecurityGroupIds"] == [sg]
    env = fn["Properties"]["Environment"]["Variables"]
    assert set(env) == {
        "SECRET_ID",
        "FORECAST_TABLE",
        "TIME_FREQ",
        "PREDICTION_LENGTH",
        "DB_TLS",
        "DB_CA_FILE",
        "QUALITY_GATE",
        "MAX_LOSS_RATIO",
        "SELECTION_METRIC",
        "METRICS_ENVIRONMENT",
    }
    gate = synthesized.config.forecast.quality_gate  # type: ignore[union-attr]
    assert env["QUALITY_GATE"] == "enabled" and float(env["MAX_LOSS_RATIO"]) == gate.max_loss_ratio
    assert env["SELECTION_METRIC"] == gate.metric and env["METRICS_ENVIRONMENT"] == synthesized.config.name
    stmts = statements(template, "Runs write_forecast")
    assert {"secretsmanager:GetSecretValue", "s3:GetObject"} <= actions(stmts)
    assert {a for a in actions(stmts) if a.startswith("s3:")} == {"s3:GetObject", "s3:ListBucket"}
    listing = statement_for(stmts, "s3:ListBucket")  # so a missing forecast file is NoSuchKey
    assert listing["Condition"] == {"StringLikeIfExists": {"s3:prefix": ["forecast/*"]}}


def test_created_vpc_has_private_subnets_and_the_endpoints_the_pipeline_needs(dev: Synthesized) -> None:
    template = forecast(dev)
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    template.resource_count_is("AWS::EC2::InternetGateway", 0)
    services = {
        json.dumps(e["Properties"]["ServiceName"]).rsplit(".", 1)[-1].strip('"]}')
        for e in template.find_resources("AWS::EC2::VPCEndpoint").values()
    }
    assert {"s3", "secretsmanager", "glue"} <= {s.split("\\")[0] for s in services}, services


def test_imported_vpc_creates_no_network(china: Synthesized) -> None:
    template = forecast(china)
    template.resource_count_is("AWS::EC2::VPC", 0)
    template.resource_count_is("AWS::EC2::VPCEndpoint", 0)


def test_alarms_on_failed_forecasts(synthesized: Synthesized) -> None:
    template = forecast(synthesized)
    names = {
        a["Properties"]["MetricName"] for a in template.find_resources("AWS::CloudWatch::Alarm").values()
    }
    assert {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"} <= names


def test_database_secret_is_created_and_retained_when_none_is_configured(dev: Synthesized) -> None:
    template = Template.from_stack(dev.stacks.shared)
    _, secret = only(template.find_resources("AWS::SecretsManager::Secret"))
    assert secret["DeletionPolicy"] == "Retain"
    generated = secret["Properties"]["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "password"
    assert set(json.loads(generated["SecretStringTemplate"])) == {"username", "host", "port", "dbname"}


def test_generate_dataset_is_sized_by_its_settings(synthesized: Synthesized) -> None:
    _, fn = function(forecast(synthesized), "Turns the ETL run's CSV")
    sizing = synthesized.config.forecast.generate_dataset  # type: ignore[union-attr]
    assert (sizing.memory_mb, sizing.timeout_seconds) == (1024, 300)  # the shipped environments: defaults
    assert (fn["Properties"]["MemorySize"], fn["Properties"]["Timeout"]) == (1024, 300)
    # The runtime sets the memory variable the InputTooLarge check reads; Lambda reserves the name.
    assert "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" not in fn["Properties"]["Environment"]["Variables"]


def test_generate_dataset_memory_and_timeout_come_from_config() -> None:
    settings = read_cdk_context()["environments"]["dev"]["forecast"]
    sized = {**settings, "generateDataset": {"memoryMb": 3008, "timeoutSeconds": 600}}
    s = synthesize("dev", {"forecast": sized})
    _, fn = function(forecast(s), "Turns the ETL run's CSV")
    assert (fn["Properties"]["MemorySize"], fn["Properties"]["Timeout"]) == (3008, 600)
    _, write = function(forecast(s), "DeepAR's or seasonal naive's")
    assert (write["Properties"]["MemorySize"], write["Properties"]["Timeout"]) == (512, 300)  # not these


def test_configured_secret_is_used_not_created(china: Synthesized) -> None:
    Template.from_stack(china.stacks.shared).resource_count_is("AWS::SecretsManager::Secret", 0)


def test_environment_without_forecast_has_no_forecast_stack() -> None:
    s = synthesize("dev", {"forecast": None})
    assert s.stacks.forecast is None


def test_the_glue_key_lets_logs_encrypt_glue_log_groups_only(synthesized: Synthesized) -> None:
    template = forecast(synthesized)
    (key,) = [
        k
        for k in template.find_resources("AWS::KMS::Key").values()
        if "Glue" in k["Properties"]["Description"]
    ]
    logs = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if isinstance(s["Principal"], dict) and str(s["Principal"].get("Service", "")).startswith("logs.")
    ]
    assert logs, "CloudWatch Logs must be able to use the key for Glue's encrypted logs"
    for statement in logs:
        arn = statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
        cfg = synthesized.config
        assert re.fullmatch(rf"arn:aws(-cn)?:logs:{cfg.region}:{cfg.account}:log-group:/aws-glue/\*", arn), (
            arn
        )


_COMPARISONS = {
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
}


def _breaches(alarm: Mapping[str, Any], emf: Mapping[str, Any]) -> bool | None:
    """Whether the metric of ``emf`` (write-forecast's EMF line) is one ``alarm`` reads, and if so
    whether that one datapoint breaches it (None: the alarm does not see the metric). One line is
    one datapoint, so every statistic over it is its value."""
    props = alarm["Properties"]
    for directive in emf["_aws"]["CloudWatchMetrics"]:
        names = {m["Name"] for m in directive["Metrics"]}
        if directive["Namespace"] != props.get("Namespace") or props.get("MetricName") not in names:
            continue
        for dimension_set in directive["Dimensions"]:
            dimensions = sorted((name, emf[name]) for name in dimension_set)
            if dimensions == sorted((d["Name"], d["Value"]) for d in props.get("Dimensions", [])):
                value = emf[props["MetricName"]]
                return bool(_COMPARISONS[props["ComparisonOperator"]](value, props["Threshold"]))
    return None


def test_an_alarm_fires_on_the_alerts_topic_when_the_model_wins_no_series(synthesized: Synthesized) -> None:
    """The alarm read against the line write-forecast prints (run_metrics.emf_document) for a run
    whose series all took the baseline, and for one where the model won one series."""
    from localrun.lambdas import load

    emf_document = load("write_forecast", "run_metrics").emf_document
    template = forecast(synthesized)
    env = synthesized.config.name

    def line(on_model: int) -> dict[str, Any]:
        loss = {"loss": 0.5}
        series = {"model": on_model, "seasonal-naive": 3 - on_model}
        figures = {"metric": "mean_wQuantileLoss", "series": series, "model": loss, "baseline": loss}
        return dict(emf_document(figures, env, "run-1", 1_700_000_000_000))

    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    firing = [a for a in alarms.values() if _breaches(a, line(0))]
    assert len(firing) == 1, sorted(alarms)
    (alarm,) = firing
    assert _breaches(alarm, line(1)) is False
    assert alarm["Properties"]["TreatMissingData"] == "notBreaching"  # no run, no alarm
    failed = [a for a in alarms.values() if a["Properties"].get("MetricName") == "ExecutionsFailed"]
    assert [a["Properties"]["AlarmActions"] for a in failed] == [alarm["Properties"]["AlarmActions"]]
    other = line(0)
    other["Environment"] = "another-env"
    assert _breaches(alarm, other) is None, "another environment's runs do not alarm this one"
