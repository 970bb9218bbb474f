"""The GitHub Actions workflow runs the README's test command, with pip and npm caches."""

from __future__ import annotations

import re
from typing import Any

import yaml

from stacks.paths import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def test_it_runs_on_push_and_pull_request() -> None:
    data = workflow()
    triggers = data["on"] if "on" in data else data[True]  # YAML 1.1 reads a bare `on` as true
    assert set(triggers) == {"push", "pull_request"}


def test_it_runs_ci_run_which_runs_the_readme_test_command() -> None:
    (job,) = workflow()["jobs"].values()
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert ".ci/run" in runs
    assert (
        (ROOT / ".ci" / "run")
        .read_text()
        .strip()
        .endswith("make test  # a missing server or tool fails, not skips")
    )
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"Run the whole test suite.*\| `make test` \|", readme)


def test_pip_and_npm_downloads_are_cached() -> None:
    (job,) = workflow()["jobs"].values()
    caches = {step["with"]["cache"] for step in job["steps"] if "with" in step and "cache" in step["with"]}
    assert caches == {"pip", "npm"}
    python = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python"))
    assert python["with"]["python-version"] == "3.11"
