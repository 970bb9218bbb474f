"""Synthesize each shipped environment once per session, in-process, for template assertions."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from config import EnvConfig, load_env, read_cdk_context
from contracts.names import etl_job_name
from stacks.app_builder import EnvironmentStacks, build

ENVIRONMENTS = sorted(read_cdk_context()["environments"])


@dataclass(frozen=True)
class Synthesized:
    config: EnvConfig
    stacks: EnvironmentStacks

    def template(self, unit: str) -> Template:
        return Template.from_stack(getattr(self.stacks, unit))

    @property
    def etl_job_name(self) -> str:
        """The forecast's Glue job name (the environment must have a forecast)."""
        assert self.config.forecast is not None, f"{self.config.name} has no forecast"
        return etl_job_name(self.config.name, self.config.forecast.database.source_table)

    @property
    def outdir(self) -> Path:
        """The folder the environment's templates and manifest were written to."""
        return Path(self.stacks.shared.node.root.outdir)  # type: ignore[attr-defined]

    def templates(self) -> Iterator[tuple[str, Template]]:
        """``(unit, template)`` of each stack the environment has (no forecast: no forecast stack)."""
        for unit in ("shared", "standardize", "forecast"):
            if getattr(self.stacks, unit) is not None:
                yield unit, self.template(unit)


def synthesize(env: str, overrides: dict[str, Any] | None = None) -> Synthesized:
    """Build ``env`` with cdk-nag on; Lambda bundling and the built-in CFN validator are skipped."""
    context = read_cdk_context()
    raw = {**context["environments"][env], **(overrides or {})}
    raw = {k: v for k, v in raw.items() if v is not None}
    context["environments"] = {env: raw}
    config = load_env(env, context)
    outdir = tempfile.mkdtemp(prefix="cdk-test-")
    app = App(  # path metadata on, as `cdk synth` writes it: tools/iam_check finds resources by path
        context={**context, "aws:cdk:bundling-stacks": [], "aws:cdk:enable-path-metadata": True},
        outdir=outdir,
        builtin_cloud_formation_validation=False,
    )
    stacks = build(app, config)
    app.synth()
    return Synthesized(config, stacks)


_CACHE: dict[str, Synthesized] = {}


@pytest.fixture(scope="session", params=ENVIRONMENTS)
def synthesized(request: pytest.FixtureRequest) -> Iterator[Synthesized]:
    env = request.param
    if env not in _CACHE:
        _CACHE[env] = synthesize(env)
    yield _CACHE[env]


@pytest.fixture(scope="session")
def dev() -> Synthesized:
    if "dev" not in _CACHE:
        _CACHE["dev"] = synthesize("dev")
    return _CACHE["dev"]


@pytest.fixture(scope="session")
def china() -> Synthesized:
    if "china" not in _CACHE:
        _CACHE["china"] = synthesize("china")
    return _CACHE["china"]
