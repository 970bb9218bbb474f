"""The GitHub Actions workflow runs the README's test command, with pip and npm caches."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from config.paths import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def test_it_runs_on_push_and_pull_request() -> None:
    assert triggers_of(workflow()) == {"push", "pull_request"}


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


WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
DEPENDABOT = ROOT / ".github" / "dependabot.yml"
# `uses: owner/repo[/path]@<40-hex commit> # vX.Y.Z`: a tag can move, a commit cannot. The comment
# names the release the commit is tagged with; Dependabot updates the pin and the comment together.
PINNED = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+")
USES_LINE = re.compile(r"^\s*(?:- )?uses:\s*(.*?)\s*$")


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def parsed_uses(path: Path) -> list[str]:
    """Every action and reusable workflow the file calls, in file order, as the YAML parser reads it."""
    uses: list[str] = []
    for job in load(path)["jobs"].values():
        if "uses" in job:
            uses.append(job["uses"])
        uses += [step["uses"] for step in job.get("steps", []) if "uses" in step]
    return uses


def test_every_action_is_pinned_to_a_commit_with_its_release_in_a_comment() -> None:
    assert WORKFLOWS
    for path in WORKFLOWS:
        lines = [m[1] for line in path.read_text().splitlines() if (m := USES_LINE.match(line))]
        unpinned = [line for line in lines if not PINNED.fullmatch(line)]
        assert not unpinned, f"{path.name}: {unpinned}"
        # The lines checked above are every `uses:` the YAML holds (none hides in a flow mapping).
        assert [line.split(" #", 1)[0] for line in lines] == parsed_uses(path), path.name


def test_checkout_does_not_persist_the_token() -> None:
    checkouts = [
        step
        for path in WORKFLOWS
        for job in load(path)["jobs"].values()
        for step in job.get("steps", [])
        if step.get("uses", "").startswith("actions/checkout@")
    ]
    assert checkouts
    for step in checkouts:
        assert step["with"]["persist-credentials"] is False


def triggers_of(data: dict[Any, Any]) -> set[str]:
    return set(data["on"] if "on" in data else data[True])  # YAML 1.1 reads a bare `on` as true


def test_the_token_can_only_read_the_repository() -> None:
    """Every job reads the repository and nothing else; the one exception, an OIDC token for AWS,
    is the smoke's, which runs by hand only, never on push or pull request."""
    for path in WORKFLOWS:
        data = load(path)
        assert data["permissions"] == {}, path.name
        for name, job in data["jobs"].items():
            if path.name == "smoke.yml":
                assert triggers_of(data) == {"workflow_dispatch"}
                assert job["permissions"] == {"contents": "read", "id-token": "write"}, f"{path.name}: {name}"
            else:
                assert job["permissions"] == {"contents": "read"}, f"{path.name}: {name}"
    assert {p.name for p in WORKFLOWS} == {"ci.yml", "smoke.yml"}


def test_dependabot_keeps_actions_pip_and_npm_current_weekly() -> None:
    updates = load(DEPENDABOT)["updates"]
    for update in updates:
        assert update["schedule"]["interval"] == "weekly"
    by_ecosystem = {u["package-ecosystem"]: u for u in updates}
    assert set(by_ecosystem) == {"github-actions", "pip", "npm"}

    def directories(ecosystem: str) -> set[str]:
        update = by_ecosystem[ecosystem]
        return set(update.get("directories", [update.get("directory")]))

    assert directories("github-actions") == {"/"}
    assert (ROOT / "package.json").is_file()
    assert directories("npm") == {"/"}
    # Every requirements file of the project: the root's, processing/'s and each Lambda's.
    requirements = [
        *ROOT.glob("requirements*.txt"),
        *(ROOT / "processing").glob("requirements*.txt"),
        *(ROOT / "lambdas").glob("*/requirements*.txt"),
    ]
    assert {"requirements-dev.txt", "requirements-demo.txt"} <= {p.name for p in requirements}
    expected = {
        "/" + p.parent.relative_to(ROOT).as_posix() if p.parent != ROOT else "/" for p in requirements
    }
    assert directories("pip") == expected
