"""Config: the shipped environments load, and bad settings name the setting and the environment."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import pytest

from config import (
    LOG_RETENTION_DAYS,
    ConfigError,
    EnvConfig,
    QuotaRetryConfig,
    domain_for,
    environments_from_context,
    load_env,
    parse_env,
    partition_for,
    read_cdk_context,
)
from pipeline_rules import MAX_FORECAST_NAME_PREFIX, MAX_JOB_NAME_PREFIX

CONTEXT = read_cdk_context()


def raw(env: str = "dev") -> dict[str, Any]:
    """The environment's settings as cdk.json states them, with the sections the tests edit present
    (empty: every setting at its default)."""
    data = copy.deepcopy(CONTEXT["environments"][env])
    for section in ("standardize", "quotaRetry", "logs"):
        data.setdefault(section, {})
    for section in ("deepar", "network"):
        data.get("forecast", {}).setdefault(section, {})
    return data


def test_shipped_environments_load_with_placeholder_accounts() -> None:
    dev, china = load_env("dev", CONTEXT), load_env("china", CONTEXT)
    assert (dev.partition, dev.domain) == ("aws", "amazonaws.com")
    assert (china.region, china.partition, china.domain) == ("cn-north-1", "aws-cn", "amazonaws.com.cn")
    for env in (dev, china):
        assert len(set(env.account)) == 1, "placeholder accounts are one repeated digit"
        assert env.stack_name("Shared") == f"MlPipelines-{env.name}-Shared"
        assert env.name in env.data_bucket_name and env.account in env.data_bucket_name


def test_config_is_frozen() -> None:
    env = load_env("dev", CONTEXT)
    with pytest.raises(AttributeError):
        env.region = "eu-west-1"  # type: ignore[misc]


def test_names_at_their_limits_and_dotted_bucket_names_are_accepted() -> None:
    """S3's own bucket rule (dots allowed) and the computed name-prefix limits."""
    data = raw()
    data["bucketName"] = "ml.pipelines-dev.data"
    data["standardize"]["jobNamePrefix"] = "s" * MAX_JOB_NAME_PREFIX
    data["forecast"]["namePrefix"] = "f" * MAX_FORECAST_NAME_PREFIX
    env = parse_env("dev", data)
    assert env.data_bucket_name == "ml.pipelines-dev.data"
    assert (MAX_JOB_NAME_PREFIX, MAX_FORECAST_NAME_PREFIX) == (27, 36)
    assert env.forecast is not None and len(env.forecast.name_prefix) == 36


def test_defaults_apply_when_a_section_is_absent() -> None:
    env = parse_env("x", {"account": "123456789012", "region": "eu-west-1"})
    assert env.standardize.input_prefix == "meta-data/"
    assert env.standardize.output_prefix == "prediction-data/"
    assert env.alert_email is None
    assert (env.logs.state_machine_level, env.logs.include_execution_data) == ("ALL", True)
    assert env.logs.retention_days == 90


def test_the_quality_gate_is_on_by_default_at_a_ratio_of_one_and_can_be_turned_off() -> None:
    forecast = load_env("dev", CONTEXT).forecast
    assert forecast is not None
    assert (forecast.quality_gate.enabled, forecast.quality_gate.max_loss_ratio) == (True, 1.0)
    data = copy.deepcopy(CONTEXT["environments"]["dev"])
    data["forecast"]["qualityGate"] = {"enabled": False, "maxLossRatio": 1.25}
    gate = parse_env("dev", data).forecast.quality_gate  # type: ignore[union-attr]
    assert (gate.enabled, gate.max_loss_ratio) == (False, 1.25)


def test_generate_dataset_is_sized_1024_mb_and_300_s_by_default_and_by_setting() -> None:
    forecast = load_env("dev", CONTEXT).forecast
    assert forecast is not None
    assert (forecast.generate_dataset.memory_mb, forecast.generate_dataset.timeout_seconds) == (1024, 300)
    for memory, timeout in ((128, 1), (10240, 900), (3008, 600)):  # Lambda's limits, and between
        data = raw()
        data["forecast"]["generateDataset"] = {"memoryMb": memory, "timeoutSeconds": timeout}
        sizing = parse_env("dev", data).forecast.generate_dataset  # type: ignore[union-attr]
        assert (sizing.memory_mb, sizing.timeout_seconds) == (memory, timeout)
    data = raw()
    data["forecast"]["generateDataset"] = {"timeoutSeconds": 900}
    sizing = parse_env("dev", data).forecast.generate_dataset  # type: ignore[union-attr]
    assert (sizing.memory_mb, sizing.timeout_seconds) == (1024, 900)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (
            {"memoryMb": 127},
            "'forecast.generateDataset.memoryMb' must be an integer from 128 to 10240, got 127",
        ),
        ({"memoryMb": 10241}, "'forecast.generateDataset.memoryMb' must be an integer from 128 to 10240"),
        ({"memoryMb": "1024"}, "'forecast.generateDataset.memoryMb' must be an integer from 128 to 10240"),
        ({"memoryMb": 1024.0}, "'forecast.generateDataset.memoryMb' must be an integer"),
        ({"memoryMb": True}, "'forecast.generateDataset.memoryMb' must be an integer"),
        (
            {"timeoutSeconds": 0},
            "'forecast.generateDataset.timeoutSeconds' must be an integer from 1 to 900, got 0",
        ),
        (
            {"timeoutSeconds": 901},
            "'forecast.generateDataset.timeoutSeconds' must be an integer from 1 to 900",
        ),
        ({"timeoutSeconds": None}, "'forecast.generateDataset.timeoutSeconds' must be an integer"),
        ({"memory": 2048}, "'forecast.generateDataset.memory' is not a known setting (known: memoryMb,"),
        ([], "'forecast.generateDataset' must be an object"),
    ],
)
def test_bad_generate_dataset_sizing_names_the_setting(value: Any, problem: str) -> None:
    data = raw()
    data["forecast"]["generateDataset"] = value
    with pytest.raises(ConfigError, match=re.escape(f"environment 'dev': setting {problem}")):
        parse_env("dev", data)


def test_database_rotation_is_off_by_default_with_a_30_day_schedule() -> None:
    database = load_env("dev", CONTEXT).forecast.database  # type: ignore[union-attr]
    assert (database.rotation.enabled, database.rotation.schedule_days) == (False, 30)


def test_log_retention_takes_every_value_cloudwatch_accepts() -> None:
    for days in LOG_RETENTION_DAYS:
        env = parse_env(
            "x", {"account": "123456789012", "region": "eu-west-1", "logs": {"retentionDays": days}}
        )
        assert env.logs.retention_days == days


def test_rotation_with_an_imported_vpc_and_a_created_secret() -> None:
    data = raw("china")
    data["forecast"]["database"].pop("secretArn")
    data["forecast"]["database"]["rotation"] = {"enabled": True, "scheduleDays": 7}
    rotation = parse_env("china", data).forecast.database.rotation  # type: ignore[union-attr]
    assert (rotation.enabled, rotation.schedule_days) == (True, 7)


def _rotation_on(data: dict[str, Any], secret_arn: str | None = None) -> None:
    data["forecast"]["database"]["rotation"] = {"enabled": True}
    if secret_arn:
        data["forecast"]["database"]["secretArn"] = secret_arn


def test_quota_retry_defaults_wait_for_hours_with_growing_jittered_waits() -> None:
    env = parse_env("x", {"account": "123456789012", "region": "eu-west-1"})
    quota = env.quota_retry
    assert quota == QuotaRetryConfig(60, 2.0, 900, 43200)
    assert quota == load_env("dev", CONTEXT).quota_retry == load_env("china", CONTEXT).quota_retry
    windows = quota.windows()
    highs = [high for _, high in windows]
    assert highs[:6] == [60, 120, 240, 480, 900, 900] and set(highs[4:]) == {900}
    assert all(low == (high + 1) // 2 for low, high in windows), "no wait is shorter than half its step"
    assert len(windows) == 51 and sum(highs) == 43200
    assert sum((low + high) / 2 for low, high in windows) / 3600 == pytest.approx(9.0, abs=0.1)


def test_quota_retry_settings_shape_the_waits() -> None:
    raw_env = {
        "account": "123456789012",
        "region": "eu-west-1",
        "quotaRetry": {
            "firstWaitSeconds": 10,
            "backoffRate": 3,
            "maxWaitSeconds": 100,
            "maxTotalWaitSeconds": 500,
        },
    }
    quota = parse_env("x", raw_env).quota_retry
    assert quota == QuotaRetryConfig(10, 3.0, 100, 500)
    # 10 + 30 + 90 + 100 + 100 + 100 = 430; one more 100 would pass 500
    assert quota.windows() == ((5, 10), (15, 30), (45, 90), (50, 100), (50, 100), (50, 100))
    assert QuotaRetryConfig(7, 1.0, 7, 20).windows() == ((4, 7), (4, 7))
    assert QuotaRetryConfig(1, 1.0, 1, 1).windows() == ((1, 1),)


def test_state_machine_log_settings() -> None:
    env = parse_env(
        "x",
        {
            "account": "123456789012",
            "region": "eu-west-1",
            "logs": {"stateMachineLevel": "ERROR", "includeExecutionData": False},
        },
    )
    assert (env.logs.state_machine_level, env.logs.include_execution_data) == ("ERROR", False)


@pytest.mark.parametrize(
    ("mutate", "setting"),
    [
        (lambda d: d.pop("account"), "'account' is missing"),
        (lambda d: d.update(account="12345"), "'account'"),
        (lambda d: d.update(account="123456789012\n"), "'account'"),  # `$` alone allows a final newline
        (lambda d: d.update(region="moon-1"), "'region'"),
        (lambda d: d.update(alertEmail="not-an-email"), "'alertEmail'"),
        (lambda d: d.update(bucketName="Bad_Bucket"), "'bucketName'"),
        (lambda d: d.update(colour="blue"), "'colour' is not a known setting"),
        (lambda d: d["standardize"].update(instanceCount=0), "'standardize.instanceCount'"),
        (lambda d: d["standardize"].update(instanceCount="1"), "'standardize.instanceCount'"),
        (lambda d: d["standardize"].update(instanceCount=2), "'standardize.instanceCount' must be 1, got 2"),
        (lambda d: d["standardize"].update(instanceType="t3.medium"), "'standardize.instanceType'"),
        (lambda d: d["standardize"].update(volumeSizeGb=True), "'standardize.volumeSizeGb'"),
        (lambda d: d["standardize"].update(outputPrefix="prediction-data"), "'standardize.outputPrefix'"),
        (lambda d: d["standardize"].update(outputPrefix="meta-data/out/"), "'standardize.outputPrefix'"),
        (lambda d: d["standardize"].update(jobNamePrefix="Std_Job"), "'standardize.jobNamePrefix'"),
        (lambda d: d["standardize"].update(jobNamePrefix="std\n"), "'standardize.jobNamePrefix'"),
        (
            lambda d: d["standardize"].update(jobNamePrefix="a" * (MAX_JOB_NAME_PREFIX + 1)),
            "'standardize.jobNamePrefix' has an invalid value 'aaaaaaaaaaaaaaaaaaaaaaaaaaaa', which is 28 "
            "characters; at most 27 fit SageMaker's 63-character name limit",
        ),
        (
            lambda d: d["forecast"].update(namePrefix="a" * (MAX_FORECAST_NAME_PREFIX + 1)),
            "'forecast.namePrefix' has an invalid value",
        ),
        (lambda d: d["forecast"].update(namePrefix="1forecast"), "'forecast.namePrefix'"),
        (
            lambda d: d["forecast"]["database"].update(forecastTable="t" * 58),
            f"'forecast.database.forecastTable' has an invalid value '{'t' * 58}', which is 58 characters; "
            "at most 57 leave room for",
        ),
        (
            lambda d: d["forecast"].update(qualityGate={"maxLossRatio": 0}),
            "'forecast.qualityGate.maxLossRatio' must be a number from 0.01 to 100.0, got 0",
        ),
        (
            lambda d: d["forecast"].update(qualityGate={"maxLossRatio": "1.2"}),
            "'forecast.qualityGate.maxLossRatio' must be a number",
        ),
        (
            lambda d: d["forecast"].update(qualityGate={"maxLossRatio": float("nan")}),
            "'forecast.qualityGate.maxLossRatio' must be a number",
        ),
        (
            lambda d: d["forecast"].update(qualityGate={"enabled": "yes"}),
            "'forecast.qualityGate.enabled' must be true or false, got 'yes'",
        ),
        (
            lambda d: d["forecast"].update(qualityGate={"ratio": 1}),
            "'forecast.qualityGate.ratio' is not a known setting",
        ),
        (lambda d: d["forecast"].update(qualityGate=True), "'forecast.qualityGate' must be an object"),
        (lambda d: d.update(bucketName="xn--data"), "'bucketName'"),
        (lambda d: d.update(bucketName="data..bucket"), "'bucketName'"),
        (lambda d: d.update(bucketName="192.168.5.4"), "'bucketName'"),
        (lambda d: d["forecast"].update(etlPrefix="etl//"), "'forecast.etlPrefix'"),
        (lambda d: d["forecast"].update(workPrefix="fore{cast}/"), "'forecast.workPrefix'"),
        (lambda d: d["standardize"].update(imageUri="docker.io/me/x:1"), "'standardize.imageUri'"),
        (lambda d: d["standardize"].update(excludeColumns="id"), "'standardize.excludeColumns'"),
        (lambda d: d.update(standardize=[]), "'standardize' must be an object"),
        (
            lambda d: d.update(logs={"stateMachineLevel": "DEBUG"}),
            "'logs.stateMachineLevel' must be one of ALL",
        ),
        (
            lambda d: d.update(logs={"includeExecutionData": "no"}),
            "'logs.includeExecutionData' must be true or",
        ),
        (lambda d: d.update(logs={"level": "ALL"}), "'logs.level' is not a known setting"),
        (
            lambda d: d["quotaRetry"].update(firstWaitSeconds=0),
            "'quotaRetry.firstWaitSeconds' must be an integer from 1 to 3600, got 0",
        ),
        (lambda d: d["quotaRetry"].update(firstWaitSeconds=1.5), "'quotaRetry.firstWaitSeconds'"),
        (
            lambda d: d["quotaRetry"].update(backoffRate=0.5),
            "'quotaRetry.backoffRate' must be a number from 1.0 to 10.0, got 0.5",
        ),
        (
            lambda d: d["quotaRetry"].update(firstWaitSeconds=120, maxWaitSeconds=60),
            "'quotaRetry.maxWaitSeconds' must be an integer from 120 to 86400, got 60",
        ),
        (
            lambda d: d["quotaRetry"].update(maxTotalWaitSeconds=59),
            "'quotaRetry.maxTotalWaitSeconds' must be an integer from 60 to 31536000, got 59",
        ),
        (
            lambda d: d["quotaRetry"].update(firstWaitSeconds=1, maxWaitSeconds=10, maxTotalWaitSeconds=5011),
            "'quotaRetry.maxTotalWaitSeconds' allows more than 500 waits of at most 10 s",
        ),
        (lambda d: d["quotaRetry"].update(jitter="FULL"), "'quotaRetry.jitter' is not a known setting"),
        (lambda d: d.update(quotaRetry=60), "'quotaRetry' must be an object"),
        *(
            (lambda d, v=v: d.update(logs={"retentionDays": v}), "'logs.retentionDays' must be a retention")
            for v in (0, 2, 90.0, True, "90", None, 3650)
        ),
        (
            lambda d: d["forecast"]["database"].update(rotation={"enabled": "yes"}),
            "'forecast.database.rotation.enabled' must be true or false",
        ),
        *(
            (
                lambda d, v=v: d["forecast"]["database"].update(rotation={"scheduleDays": v}),
                "'forecast.database.rotation.scheduleDays' must be an integer from 1 to 1000",
            )
            for v in (0, 1001, 7.5)
        ),
        (
            lambda d: d["forecast"]["database"].update(rotation={"days": 7}),
            "'forecast.database.rotation.days' is not a known setting",
        ),
        (
            _rotation_on,
            "'forecast.database.rotation.enabled' needs forecast.network.vpcId",
        ),
        (
            lambda d: _rotation_on(d, raw("china")["forecast"]["database"]["secretArn"]),
            "'forecast.database.rotation.enabled' applies to the secret the app creates",
        ),
    ],
)
def test_bad_settings_name_the_setting_and_the_environment(mutate: Any, setting: str) -> None:
    data = raw()
    mutate(data)
    with pytest.raises(ConfigError) as err:
        parse_env("dev", data)
    assert "environment 'dev'" in str(err.value)
    assert setting in str(err.value)


def test_a_list_setting_rejects_a_value_with_a_final_newline() -> None:
    data = raw("china")
    data["forecast"]["network"]["privateSubnetIds"][1] += "\n"
    with pytest.raises(ConfigError, match=re.escape("'forecast.network.privateSubnetIds'")):
        parse_env("china", data)


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [
        ("valueColumn", "amount$", "'forecast.database.valueColumn' has an invalid value"),
        ("sourceTable", "hourly$sales", "'forecast.database.sourceTable' has an invalid value"),
        ("forecastTable", "fc$1", "'forecast.database.forecastTable' has an invalid value"),
        ("valueColumn", "TS", "must be distinct"),
        ("seriesColumn", "amount", "must be distinct"),
    ],
)
def test_database_names_follow_the_glue_job_and_lambda_rules(setting: str, value: str, problem: str) -> None:
    # MySQL allows `$` and case-variant names; the Glue job and the Lambdas reject them at run time.
    data = raw()
    data["forecast"]["database"][setting] = value
    with pytest.raises(ConfigError, match=re.escape(problem)):
        parse_env("dev", data)


def test_an_environment_name_with_a_final_newline_is_rejected() -> None:
    with pytest.raises(ConfigError, match="the name must match"):
        parse_env("dev\n", raw())


def test_unknown_or_missing_environment_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="known: china, dev"):
        load_env("prod", CONTEXT)
    with pytest.raises(ConfigError, match="-c env=NAME"):
        load_env(None, CONTEXT)
    with pytest.raises(ConfigError, match="environments"):
        load_env("dev", {})


def test_partition_and_domain_follow_the_region() -> None:
    assert partition_for("cn-northwest-1") == "aws-cn" and domain_for("cn-northwest-1") == "amazonaws.com.cn"
    assert partition_for("eu-west-1") == "aws" and domain_for("eu-west-1") == "amazonaws.com"
    assert partition_for("us-gov-west-1") == "aws-us-gov"
    assert isinstance(load_env("dev", CONTEXT), EnvConfig)


def test_database_tls_is_required_by_default_and_a_ca_bundle_is_optional() -> None:
    db = load_env("dev", CONTEXT).forecast.database  # type: ignore[union-attr]
    assert (db.tls, db.ca_bundle, db.ca_bundle_path) == ("required", None, None)
    data = raw()
    data["forecast"]["database"]["caBundle"] = "tests/fixtures/database-ca.pem"
    db = parse_env("dev", data).forecast.database  # type: ignore[union-attr]
    assert db.ca_bundle_path is not None and db.ca_bundle_path.is_file()
    data["forecast"]["database"] = {**data["forecast"]["database"], "tls": "disabled"}
    data["forecast"]["database"].pop("caBundle")
    assert parse_env("dev", data).forecast.database.tls == "disabled"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"tls": "preferred"}, "'forecast.database.tls' must be one of required, disabled, got 'preferred'"),
        (
            {"tls": "disabled", "caBundle": "tests/fixtures/database-ca.pem"},
            "'forecast.database.caBundle' is set but tls is 'disabled'",
        ),
        ({"caBundle": "/etc/ssl/certs/ca-certificates.crt"}, "must be a path inside the repository"),
        ({"caBundle": "../outside.pem"}, "must be a path inside the repository"),
        ({"caBundle": "certs/absent.pem"}, "'forecast.database.caBundle' 'certs/absent.pem' is not a file"),
        ({"caBundle": "README.md"}, "'README.md' is not a PEM bundle of CA certificates"),
    ],
)
def test_bad_tls_settings_name_the_setting(settings: dict[str, str], problem: str) -> None:
    data = raw()
    data["forecast"]["database"].update(settings)
    with pytest.raises(ConfigError, match=re.escape(problem)):
        parse_env("dev", data)


def test_a_ca_bundle_without_a_ca_certificate_is_rejected(tmp_path: Any, monkeypatch: Any) -> None:
    """A leaf certificate is PEM but trusts nothing: Python's store keeps CA certificates only."""
    from config import forecast_reader, model
    from localrun.tls import TlsFiles

    files = TlsFiles.generate(tmp_path)
    for module in (model, forecast_reader):  # the bundle's path, and the check that it is ours
        monkeypatch.setattr(module, "ROOT", tmp_path)
    data = raw()
    data["forecast"]["database"]["caBundle"] = files.cert.name
    with pytest.raises(ConfigError, match=re.escape("'server-cert.pem' holds no CA certificate")):
        parse_env("dev", data)


@pytest.mark.parametrize(
    ("section", "key", "value", "problem"),
    [
        ("deepar", "transformInstanceType", "ml.t3.medium", "which CreateTransformJob does not take"),
        ("deepar", "trainingInstanceType", "ml.t3.huge", "which CreateTrainingJob does not take"),
        ("standardize", "instanceType", "ml.nope.large", "which CreateProcessingJob does not take"),
        ("standardize", "excludeColumns", [f"column_{n:09d}" for n in range(14)], "above SageMaker's 256"),
    ],
)
def test_a_setting_the_api_would_refuse_stops_synth(
    section: str, key: str, value: object, problem: str
) -> None:
    """Limits from botocore's SageMaker model, not a copied list: a value the API refuses names the
    setting at synth, not at run time after training has cost money."""
    data = raw()
    (data["forecast"] if section == "deepar" else data)[section][key] = value
    with pytest.raises(ConfigError, match=re.escape(problem)):
        parse_env("dev", data)


@pytest.mark.parametrize("name", sorted(environments_from_context(read_cdk_context())))
def test_cdk_json_states_only_what_differs_from_the_defaults(name: str) -> None:
    """Each setting written in cdk.json changes the environment: without it, the loaded
    configuration would differ (account and region, which have no default, are required)."""
    raw = environments_from_context(read_cdk_context())[name]
    loaded = parse_env(name, raw)

    def paths(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
        for key, value in node.items():
            yield (*path, key)
            if isinstance(value, dict):
                yield from paths(value, (*path, key))

    redundant = []
    for path in paths(raw):
        trial = copy.deepcopy(dict(raw))
        parent = trial
        for key in path[:-1]:
            parent = parent[key]
        del parent[path[-1]]
        try:
            same = parse_env(name, trial) == loaded
        except ConfigError:
            same = False  # a required setting
        if same:
            redundant.append(".".join(path))
    assert redundant == [], f"cdk.json restates defaults in {name}: {redundant}"
