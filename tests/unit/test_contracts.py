"""The contracts and the offline runner start no JavaScript: neither imports ``aws_cdk`` nor ``jsii``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from config.paths import ROOT


@pytest.mark.parametrize(
    "module",
    [
        "localrun.runner",
        "localrun.__main__",
        "contracts.asl",
        "contracts.container",
        "contracts.database_tls",
        "contracts.deepar",
        "contracts.environments",
        "contracts.events",
        "contracts.glue_job",
        "contracts.names",
        "contracts.substitutions",
    ],
)
def test_importing_loads_neither_the_cdk_nor_jsii(module: str) -> None:
    code = (
        f"import sys; import {module}; "
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('aws_cdk', 'jsii', 'constructs')); "
        "print(','.join(loaded))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "", f"{module} loads {done.stdout.strip()}"


def test_the_check_can_fail() -> None:
    """The same probe sees the CDK when a stack module is imported."""
    code = "import sys; import stacks.asl; print('aws_cdk' in sys.modules and 'jsii' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "True"
