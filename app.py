#!/usr/bin/env python3
"""CDK entry point: ``cdk synth -c env=NAME`` builds the stacks of environment NAME from cdk.json."""

from __future__ import annotations

import sys

from aws_cdk import App

from config import ConfigError, load_env
from stacks.app_builder import build


def main() -> None:
    app = App()
    try:
        env_config = load_env(app.node.try_get_context("env"), app.node.get_all_context())
    except ConfigError as exc:
        sys.exit(f"cdk.json: {exc}")
    build(app, env_config)
    app.synth()


if __name__ == "__main__":
    main()
