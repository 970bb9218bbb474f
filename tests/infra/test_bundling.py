"""Bundled Lambda code: one asset per platform, so a cached bundle is never shipped to another."""

from __future__ import annotations

import tempfile

from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_

from config.paths import LAMBDAS
from stacks.bundling import PLATFORMS, bundled_code
from stacks.python_function import RUNTIME


def asset_key(architecture: lambda_.Architecture) -> str:
    app = App(outdir=tempfile.mkdtemp(prefix="cdk-test-"), context={"aws:cdk:bundling-stacks": []})
    code = bundled_code(LAMBDAS / "write_forecast", RUNTIME, architecture)
    location = code.bind(Stack(app, "Stack")).s3_location
    assert location is not None
    return location.object_key


def test_each_architecture_gets_its_own_asset() -> None:
    """The asset hash covers the bundling options, not the local bundler: the platform must be in
    the options, or switching the architecture would reuse the other platform's cdk.out bundle."""
    architectures = [lambda_.Architecture.ARM_64, lambda_.Architecture.X86_64]
    assert sorted(a.name for a in architectures) == sorted(PLATFORMS)
    keys = {asset_key(a) for a in architectures}
    assert len(keys) == 2, keys
