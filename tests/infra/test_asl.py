"""State machine files: exact substitutions, and the paths that decide outcomes."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from typing import Any

import pytest

from config import QuotaRetryConfig, StandardizeConfig
from contracts.asl import asl_text, check_substitutions, intrinsic_string, placeholders, render
from contracts.container import container_contract
from contracts.substitutions import standardize_substitutions
from contracts.timeouts import quota_jobs
from tests.infra.quota import QUOTA_LOOPS, assert_quota_loop, quota_waits


def standardize_subs(
    cfg: StandardizeConfig | None = None,
    partition: str = "aws",
    quota_retry: QuotaRetryConfig | None = None,
) -> dict[str, str]:
    return standardize_substitutions(
        cfg or StandardizeConfig(),
        quota_retry=quota_retry or QuotaRetryConfig(),
        partition=partition,
        bucket_name="data-bucket",
        get_batch_id_arn="arn:aws:lambda:us-east-1:123456789012:function:get-batch-id",
        processing_role_arn="arn:aws:iam::123456789012:role/processing",
        image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/std:1",
    )


def test_every_placeholder_has_a_substitution_and_none_is_unused() -> None:
    subs = standardize_subs()
    assert placeholders(asl_text("standardize")) == set(subs)
    check_substitutions("standardize", subs)
    with pytest.raises(ValueError, match="without substitution"):
        check_substitutions("standardize", {k: v for k, v in subs.items() if k != "BucketName"})
    with pytest.raises(ValueError, match="without placeholder"):
        check_substitutions("standardize", {**subs, "Extra": "x"})


def standardize_definition(**cfg: Any) -> dict[str, Any]:
    return render("standardize", standardize_subs(StandardizeConfig(**cfg)))


def test_fail_states_are_named_and_have_causes_that_name_the_key() -> None:
    states = standardize_definition()["States"]
    for name in ("InvalidFileName", "InvalidPartitionName", "ProcessingFailed"):
        assert states[name]["Type"] == "Fail"
        assert states[name]["Error"] == name, "Error must be the literal name, not a JSONPath"
        assert "$.object.key" in states[name]["CausePath"]


def test_flow_is_choice_lambda_choice_processing_succeed() -> None:
    d = standardize_definition()
    states = d["States"]
    assert d["StartAt"] == "CheckFileName"
    assert states["CheckFileName"]["Choices"][-1]["Next"] == "GetBatchId"
    assert states["CheckFileName"]["Default"] == "InvalidFileName"
    assert states["GetBatchId"]["Next"] == "CheckBatchId"
    assert states["GetBatchId"]["Catch"] == [
        {"ErrorEquals": ["InvalidPartitionName"], "ResultPath": "$.error", "Next": "GetBatchIdLambdaError"}
    ]
    assert_lambda_error_message(states, "GetBatchId", then="InvalidPartitionName")
    assert "Lambda.ServiceException" in states["GetBatchId"]["Retry"][0]["ErrorEquals"]
    assert states["CheckBatchId"]["Choices"][0]["Next"] == "Standardize"
    assert states["Standardize"]["Next"] == "Done" and states["Done"]["Type"] == "Succeed"
    assert states["Standardize"]["Catch"][-1] == {
        "ErrorEquals": ["States.ALL"],
        "ResultPath": "$.error",
        "Next": "StandardizeJobFailure",
    }
    assert_job_failure_reason(states, "Standardize", then="ProcessingFailed")


def assert_lambda_error_message(states: dict[str, Any], task: str, *, then: str) -> None:
    """``<task>LambdaError`` goes on to ``then`` with the ``errorMessage`` of a function error's
    JSON cause as the cause, and with any other cause as it is."""
    choice = states[f"{task}LambdaError"]
    assert choice["Type"] == "Choice" and choice["Default"] == then
    [rule] = choice["Choices"]
    assert rule["And"] == [
        {"Variable": "$.error.Cause", "IsPresent": True},
        {"Variable": "$.error.Cause", "IsString": True},
        {"Variable": "$.error.Cause", "StringMatches": '{"errorMessage"*}'},
    ], "only a cause shaped like the Lambda runtime's JSON is parsed: anything else would fail the parse"
    parse = states[rule["Next"]]
    assert parse == {
        "Type": "Pass",
        "Parameters": {"Error.$": "$.error.Error", "Cause.$": "States.StringToJson($.error.Cause)"},
        "ResultPath": "$.error",
        "Next": f"{task}ErrorMessage",
    }
    assert states[parse["Next"]] == {
        "Type": "Pass",
        "Parameters": {"Error.$": "$.error.Error", "Cause.$": "$.error.Cause.errorMessage"},
        "ResultPath": "$.error",
        "Next": then,
    }


#: The field of a failed job's description (a ``.sync`` task's cause) that names the job.
JOB_NAME_FIELDS = {"Standardize": "ProcessingJobName"}


def assert_job_failure_reason(states: dict[str, Any], task: str, *, then: str) -> None:
    """``<task>JobFailure`` goes on to ``then`` with the failed job's ``FailureReason`` and name as
    the cause when the cause is a job description holding one, and with any other cause as it is."""
    choice = states[f"{task}JobFailure"]
    assert choice["Type"] == "Choice" and choice["Default"] == then
    [rule] = choice["Choices"]
    assert rule["And"] == [
        {"Variable": "$.error.Cause", "IsPresent": True},
        {"Variable": "$.error.Cause", "IsString": True},
        {"Variable": "$.error.Cause", "StringMatches": '{*"FailureReason"*}'},
    ], "only a cause shaped like a job description is parsed: anything else would fail the parse"
    parse = states[rule["Next"]]
    assert parse == {
        "Type": "Pass",
        "Parameters": {"Error.$": "$.error.Error", "Cause.$": "States.StringToJson($.error.Cause)"},
        "ResultPath": "$.error",
        "Next": f"{task}JobReason",
    }
    name = f"$.error.Cause.{JOB_NAME_FIELDS[task]}"
    reason = f"States.Format('{{}} (job {{}})', $.error.Cause.FailureReason, {name})"
    assert states[parse["Next"]] == {
        "Type": "Pass",
        "Parameters": {"Error.$": "$.error.Error", "Cause.$": reason},
        "ResultPath": "$.error",
        "Next": then,
    }


def entered_from(states: dict[str, Any]) -> dict[str, set[str]]:
    """For each state, the states whose Next, Default, Choices or Catch lead to it."""
    sources: dict[str, set[str]] = {name: set() for name in states}
    for name, state in states.items():
        targets = [state.get("Next"), state.get("Default")]
        targets += [rule["Next"] for rule in state.get("Choices", [])]
        targets += [catch["Next"] for catch in state.get("Catch", [])]
        for target in filter(None, targets):
            sources[target].add(name)
    return sources


@pytest.mark.parametrize("machine", ["standardize", "forecast"])
def test_only_lambda_task_errors_have_their_cause_parsed_as_json(machine: str) -> None:
    """A SageMaker error's or SNS's cause is plain text: it must never reach States.StringToJson,
    which would fail on it. Every Lambda task's catch parses its cause, and every SageMaker job's
    catch a failed job's description, each behind a Choice that checks the cause's shape."""
    states = definition_of(machine)["States"]
    sources = entered_from(states)
    parsers = {n for n, s in states.items() if "StringToJson($.error.Cause)" in json.dumps(s)}
    lambdas = {n for n, s in states.items() if s.get("Resource", "").endswith(":states:::lambda:invoke")}
    jobs = {n for n, s in states.items() if s.get("Resource", "").endswith("Job.sync")}
    assert lambdas and jobs
    if machine == "forecast":  # one shared failure path: ErrorCause decides, entered from each step's Pass
        assert parsers == {"LambdaErrorJson", "JobErrorJson"}
        assert sources["LambdaErrorJson"] == sources["JobErrorJson"] == {"ErrorCause"}
        job_caught = {f"{job}Caught" for job in jobs}
        assert sources["ErrorCause"] == {n for n in states if n.endswith("Caught")} - job_caught | {
            "QuotaCheck"
        }
        assert sources["QuotaCheck"] == job_caught, "a job's errors pass the quota check first"
        return
    assert {f"{task}ErrorJson" for task in lambdas} | {f"{task}JobJson" for task in jobs} == parsers
    for task in jobs:
        assert sources[f"{task}JobJson"] == {f"{task}JobFailure"}
        assert sources[f"{task}JobFailure"] == {task, f"{task}Quota"}, "entered from the job's failures only"
    for task in lambdas:
        assert sources[f"{task}ErrorJson"] == {f"{task}LambdaError"}
        assert sources[f"{task}LambdaError"] == {task}, "entered from the Lambda task's Catch only"
        [catch] = states[task]["Catch"]
        assert catch["Next"] == f"{task}LambdaError" and catch["ResultPath"] == "$.error"


def test_choices_check_presence_first_so_a_missing_field_never_takes_the_default_silently() -> None:
    states = standardize_definition()["States"]
    assert states["CheckFileName"]["Choices"][0] == {
        "Not": {"Variable": "$.object.key", "IsPresent": True},
        "Next": "MissingKey",
    }
    first = states["CheckBatchId"]["Choices"][0]["And"][0]
    assert first == {"Variable": "$.batch.batch_id", "IsPresent": True}


def test_processing_job_uses_config_values_and_the_batch_id_value() -> None:
    d = standardize_definition(instance_type="ml.m5.xlarge", instance_count=2, volume_size_gb=100)
    params = d["States"]["Standardize"]["Parameters"]
    cluster = params["ProcessingResources"]["ClusterConfig"]
    assert cluster["InstanceType"] == "ml.m5.xlarge"
    assert cluster["InstanceCount.$"] == "States.StringToJson('2')"
    assert cluster["VolumeSizeInGB.$"] == "States.StringToJson('100')"
    assert params["ProcessingJobName.$"] == "$.batch.job_name"
    [output] = params["ProcessingOutputConfig"]["Outputs"]
    assert (
        output["S3Output"]["S3Uri.$"]
        == "States.Format('s3://data-bucket/prediction-data/{}/', $.batch.batch_id)"
    )
    [inp] = params["ProcessingInputs"]
    assert inp["S3Input"]["S3Uri.$"] == "States.Format('s3://data-bucket/{}', $.object.key)"


def test_container_paths_come_from_the_processing_script() -> None:
    contract = container_contract()
    app = standardize_definition()["States"]["Standardize"]["Parameters"]["AppSpecification"]
    assert app["ContainerEntrypoint"] == ["python3", contract.program_path]
    assert app["ContainerArguments"] == ["--input", contract.input_dir, "--output", contract.output_dir]
    params = standardize_definition()["States"]["Standardize"]["Parameters"]
    assert params["ProcessingInputs"][0]["S3Input"]["LocalPath"] == contract.input_dir
    assert params["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["LocalPath"] == contract.output_dir


def test_column_lists_survive_quotes_and_braces() -> None:
    cols = ("id", 'we"ird', "it's {x}")
    params = standardize_definition(exclude_columns=cols)["States"]["Standardize"]["Parameters"]
    assert json.loads(params["Environment"]["STANDARDIZE_EXCLUDE"]) == list(cols)
    assert json.loads(params["Environment"]["STANDARDIZE_INCLUDE"]) == []


def test_intrinsic_strings_escape_special_characters() -> None:
    assert intrinsic_string("a'b{c}\\") == "a\\\\'b\\\\{c\\\\}\\\\\\\\"


def forecast_definition(env_name: str = "dev", quota_retry: QuotaRetryConfig | None = None) -> dict[str, Any]:
    from config import load_env, read_cdk_context
    from contracts.substitutions import forecast_substitutions

    env = load_env(env_name, read_cdk_context())
    if quota_retry is not None:
        env = replace(env, quota_retry=quota_retry)
    assert env.forecast is not None
    subs = forecast_substitutions(
        env.forecast.deepar,
        quota_retry=env.quota_retry,
        region=env.region,
        partition=env.partition,
        generate_dataset_arn="arn:aws:lambda:us-east-1:123456789012:function:generate",
        write_forecast_arn="arn:aws:lambda:us-east-1:123456789012:function:write",
        sagemaker_role_arn="arn:aws:iam::123456789012:role/sagemaker",
        alerts_topic_arn="arn:aws:sns:us-east-1:123456789012:alerts",
    )
    check_substitutions("forecast", subs)
    return render("forecast", subs)


def test_forecast_flow_and_transform_settings() -> None:
    d = forecast_definition()
    states = d["States"]
    order = ["GenerateDataset", "Train", "QualityGate", "CreateModel", "Transform", "WriteForecast", "Done"]
    assert d["StartAt"] == order[0]
    for current, following in itertools.pairwise(order):
        assert states[current]["Next"] == following
    assert states["Train"]["Resource"].endswith("sagemaker:createTrainingJob.sync")
    assert states["CreateModel"]["Resource"].endswith("sagemaker:createModel")
    transform = states["Transform"]
    assert transform["Resource"].endswith("sagemaker:createTransformJob.sync")
    params = transform["Parameters"]
    assert params["BatchStrategy"] == "SingleRecord"
    assert params["TransformInput"]["SplitType"] == "Line"
    assert params["TransformOutput"]["AssembleWith"] == "Line"


#: Each forecast step's named error (the gate fails with its own error instead).
FORECAST_FAILURES = {
    "GenerateDataset": "GenerateDatasetFailed",
    "Train": "TrainingFailed",
    "CreateModel": "CreateModelFailed",
    "Transform": "TransformFailed",
    "WriteForecast": "WriteForecastFailed",
}
FORECAST_JOBS = {"Train": "$.dataset.training_job_name", "Transform": "$.dataset.transform_job_name"}


def test_forecast_tasks_retry_and_catch_into_one_failure_path_with_the_steps_name() -> None:
    """Every step's failure enters the one shared path through its own Pass, which names the step,
    the Fail state's error (the gate's own error for QualityGate) and, for a job, the job."""
    states = forecast_definition()["States"]
    for task in ["GenerateDataset", "Train", "QualityGate", "CreateModel", "Transform", "WriteForecast"]:
        state = states[task]
        assert state["Retry"] and state["Retry"][0]["BackoffRate"] >= 2
        [catch] = state["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"] and catch["ResultPath"] == "$.error"
        assert catch["Next"] == f"{task}Caught"
        caught = states[f"{task}Caught"]
        expected: dict[str, str] = {"step": task}
        if task == "QualityGate":
            expected["fail.$"] = "$.error.Error"
        else:
            expected["fail"] = FORECAST_FAILURES[task]
        if task in FORECAST_JOBS:
            expected["job.$"] = FORECAST_JOBS[task]
        assert (caught["Type"], caught["Parameters"], caught["ResultPath"], caught["Next"]) == (
            "Pass",
            expected,
            "$.failure",
            "QuotaCheck" if task in FORECAST_JOBS else "ErrorCause",
        )


def test_the_shared_failure_path_parses_only_causes_of_a_known_shape_then_alerts_and_fails() -> None:
    states = forecast_definition()["States"]
    choice = states["ErrorCause"]
    lambda_rule, job_rule = choice["Choices"]
    assert lambda_rule["And"][-1] == {"Variable": "$.error.Cause", "StringMatches": '{"errorMessage"*}'}
    assert job_rule["And"][0] == {"Variable": "$.failure.job", "IsPresent": True}, "only a job's failure"
    assert job_rule["And"][-1] == {"Variable": "$.error.Cause", "StringMatches": '{*"FailureReason"*}'}
    assert choice["Default"] == "NotifyFailure"
    parse = {"Error.$": "$.error.Error", "Cause.$": "States.StringToJson($.error.Cause)"}
    assert states[lambda_rule["Next"]]["Parameters"] == parse == states[job_rule["Next"]]["Parameters"]
    message = states[states[lambda_rule["Next"]]["Next"]]
    assert message["Parameters"]["Cause.$"] == "$.error.Cause.errorMessage"
    reason = states[states[job_rule["Next"]]["Next"]]
    assert reason["Parameters"]["Cause.$"] == (
        "States.Format('{} (job {})', $.error.Cause.FailureReason, $.failure.job)"
    )
    assert message["Next"] == reason["Next"] == "NotifyFailure"
    notify = states["NotifyFailure"]
    assert notify["Resource"].endswith("sns:publish")
    for part in ("$$.Execution.Name", "$.failure.step", "$.error.Error", "$.error.Cause"):
        assert part in notify["Parameters"]["Message.$"]
    assert notify["Next"] == notify["Catch"][0]["Next"] == "Failed", "a failed alert still ends failed"
    fail = states["Failed"]
    assert fail["Type"] == "Fail" and fail["ErrorPath"] == "$.failure.fail" and "Error" not in fail


def test_forecast_paths_and_names_come_from_the_state_not_from_dates() -> None:
    text = json.dumps(forecast_definition())
    for key in (
        "train_uri",
        "test_uri",
        "model_output_uri",
        "transform_output_uri",
        "training_job_name",
        "model_name",
        "transform_job_name",
    ):
        assert f"$.dataset.{key}" in text
    assert "States.Format" not in json.dumps(forecast_definition()["States"]["Train"])
    assert "DEEPAR_INFERENCE_CONFIG" in text and '\\"0.5\\"' in text


def test_forecast_keeps_the_test_metrics_and_gates_them_before_create_model() -> None:
    states = forecast_definition()["States"]
    train = states["Train"]
    assert (
        train["HyperParameters" if "HyperParameters" in train else "Parameters"]["HyperParameters"][
            "test_quantiles"
        ]
        == "[0.1, 0.5, 0.9]"
    )
    channels = [c["ChannelName"] for c in train["Parameters"]["InputDataConfig"]]
    assert channels == ["train", "test"], "DeepAR reports test metrics only with a test channel"
    assert train["ResultSelector"]["final_metrics.$"] == "$.FinalMetricDataList"
    assert train["ResultPath"] == "$.training"
    gate = states["QualityGate"]
    assert gate["Next"] == "CreateModel" and gate["ResultPath"] == "$.quality"
    payload = gate["Parameters"]["Payload"]
    assert payload["operation"] == "gate"
    assert payload["training.$"] == "$.training" and payload["dataset.$"] == "$.dataset"
    assert gate["Parameters"]["FunctionName"] == states["WriteForecast"]["Parameters"]["FunctionName"]
    write = states["WriteForecast"]["Parameters"]["Payload"]
    assert write["operation"] == "write" and write["quality.$"] == "$.quality"


def test_forecast_hyperparameters_are_the_config_values_as_strings() -> None:
    from config import DeepArConfig

    train = forecast_definition()["States"]["Train"]["Parameters"]
    assert train["HyperParameters"] == DeepArConfig().hyperparameters()
    assert all(isinstance(v, str) for v in train["HyperParameters"].values())


# -- the SageMaker quota: wait it out, with growing jittered waits, and nothing else -----------------


def definition_of(machine: str, quota_retry: QuotaRetryConfig | None = None) -> dict[str, Any]:
    if machine == "standardize":
        return render("standardize", standardize_subs(quota_retry=quota_retry))
    return forecast_definition(quota_retry=quota_retry)


@pytest.mark.parametrize(("machine", "prefix", "counter"), QUOTA_LOOPS)
def test_a_job_past_the_quota_waits_and_tries_again_while_any_other_error_fails(
    machine: str, prefix: str, counter: str
) -> None:
    states = definition_of(machine)["States"]
    assert_quota_loop(states, machine, QuotaRetryConfig())


@pytest.mark.parametrize(("machine", "prefix", "counter"), QUOTA_LOOPS)
def test_quota_waits_are_the_configured_windows(machine: str, prefix: str, counter: str) -> None:
    _, highs = quota_waits(definition_of(machine)["States"], prefix)
    assert len(highs) == 51 and highs[0] == 60 and max(highs) == 900 and sum(highs) <= 43200
    custom = QuotaRetryConfig(10, 3.0, 100, 500)
    states = definition_of(machine, custom)["States"]
    assert_quota_loop(states, machine, custom)
    assert quota_waits(states, prefix) == ([5, 15, 45, 50, 50, 50], [10, 30, 90, 100, 100, 100])


def test_only_the_jobs_wait_out_the_quota() -> None:
    for machine, tasks in (("standardize", {"Standardize"}), ("forecast", {"Train", "Transform"})):
        definition = definition_of(machine)
        assert quota_jobs(definition) == tasks
        waits = [name for name, s in definition["States"].items() if s["Type"] == "Wait"]
        assert len(waits) == 1, "one quota loop per machine"
        for name in tasks:
            assert definition["States"][name]["Resource"].endswith(".sync"), (
                "only Create*Job.sync tasks hit the quota"
            )


def _lambda_tasks(states: dict[str, Any]) -> dict[str, dict[str, Any]]:
    tasks = {}
    for name, state in states.items():
        if state.get("Resource", "").endswith(":states:::lambda:invoke"):
            tasks[name] = state
        for branch in state.get("Branches", []):
            tasks.update(_lambda_tasks(branch["States"]))
    return tasks


@pytest.mark.parametrize("asl", ["standardize", "forecast"])
def test_every_lambda_task_passes_the_execution_name_for_its_logs(asl: str) -> None:
    """Every Lambda logs the execution name on each line; the state machine hands it over."""
    states = json.loads(asl_text(asl))["States"]
    tasks = _lambda_tasks(states)
    expected = {
        "standardize": {"GetBatchId"},
        "forecast": {"GenerateDataset", "QualityGate", "WriteForecast"},
    }[asl]
    assert set(tasks) == expected
    for name, task in tasks.items():
        assert task["Parameters"]["Payload"]["execution_name.$"] == "$$.Execution.Name", name
