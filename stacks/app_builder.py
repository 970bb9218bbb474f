"""Builds the CDK app of one environment; ``app.py`` and the tests share this."""

from __future__ import annotations

from dataclasses import dataclass, field

from aws_cdk import App, Environment, Tags

from config import EnvConfig, domain_for
from stacks.forecast_stack import ForecastStack
from stacks.log_groups import encrypt_log_groups, route_handler_logs
from stacks.nag import add_nag
from stacks.shared_stack import SharedStack
from stacks.standardize_stack import StandardizeStack


@dataclass(frozen=True)
class EnvironmentStacks:
    """The stacks of one environment."""

    shared: SharedStack
    standardize: StandardizeStack
    forecast: ForecastStack | None = None
    #: ``(construct path, finding id, reason)`` of every cdk-nag finding acknowledged.
    nag_acknowledged: list[tuple[str, str, str]] = field(default_factory=list)


def build(app: App, env_config: EnvConfig) -> EnvironmentStacks:
    """Add the stacks of ``env_config`` to ``app``, with cdk-nag's AwsSolutions pack."""
    aws_env = Environment(account=env_config.account, region=env_config.region)
    shared = SharedStack(
        app,
        env_config.stack_name("Shared"),
        env_name=env_config.name,
        bucket_name=env_config.data_bucket_name,
        alert_email=env_config.alert_email,
        forecast=env_config.forecast,
        log_retention_days=env_config.logs.retention_days,
        env=aws_env,
        description=f"ML pipelines ({env_config.name}): retained data bucket, alerts topic, secret",
        termination_protection=True,
    )
    standardize = StandardizeStack(
        app,
        env_config.stack_name("Standardize"),
        cfg=env_config.standardize,
        env_name=env_config.name,
        bucket_name=env_config.data_bucket_name,
        logs=env_config.logs,
        quota_retry=env_config.quota_retry,
        shared=shared,
        env=aws_env,
        description=f"ML pipelines ({env_config.name}): standardize pipeline",
    )
    forecast = None
    if env_config.forecast is not None:
        if shared.database_secret is None:  # SharedStack makes one whenever there is a forecast
            raise RuntimeError(f"{shared.stack_name} holds no database secret for the forecast")
        forecast = ForecastStack(
            app,
            env_config.stack_name("Forecast"),
            cfg=env_config.forecast,
            env_name=env_config.name,
            bucket_name=env_config.data_bucket_name,
            logs=env_config.logs,
            quota_retry=env_config.quota_retry,
            shared=shared,
            secret=shared.database_secret,
            env=aws_env,
            description=f"ML pipelines ({env_config.name}): forecast pipeline",
        )
    for stack in (shared, standardize, forecast):
        if stack is not None:
            route_handler_logs(stack, env_config.logs.retention_days)
            if env_config.logs.kms_key:
                encrypt_log_groups(stack, f"logs.{env_config.region}.{domain_for(env_config.region)}")
            Tags.of(stack).add("project", "ml-pipelines")
            Tags.of(stack).add("environment", env_config.name)
    return EnvironmentStacks(shared, standardize, forecast, add_nag(app))
