"""``make lint``'s Python-version gate: each deployable against the Python of the runtime it runs on.

Targets come from what the stacks deploy:

* ``lambdas/<function>/*.py`` -> :data:`stacks.runtimes.LAMBDA_PYTHON` (every function's runtime);
* ``processing/glue_etl.py`` -> ``GLUE.python`` (the Glue version's Python);
* the other ``processing/**/*.py`` (the standardize package too) -> the ``FROM python:X.Y`` of
  ``processing/Dockerfile``;
* the shared ``pipeline_rules.py`` (:data:`config.paths.SHARED_RULES`) -> both the Lambda's and
  Glue's Python: it ships in every Lambda bundle and with the Glue job, so it is in each of those
  targets.

Each file must parse with the target's grammar (``ast.parse(feature_version=...)``) and pass
vermin with ``-t=X.Y-``: vermin knows, by version, when each stdlib module, member, function
argument and syntax feature appeared (``datetime.UTC`` and ``tomllib`` need 3.11), and comments
cannot switch it off (``--no-parse-comments``). The gate also fails when this Python is newer
than the oldest target, since tests run here could pass on features that target lacks.

``python -m tools.version_gate`` checks the project; ``--python X.Y FILE...`` checks files.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from config.paths import FUNCTION_MODULES, SHARED_RULES
from stacks.runtimes import GLUE, LAMBDA_PYTHON

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "processing" / "Dockerfile"
_FROM_PYTHON = re.compile(r"^FROM\s+(?:\S+/)?python:(\d+)\.(\d+)", re.MULTILINE)


@dataclass(frozen=True)
class Target:
    """Files that run on one Python version (``X.Y``)."""

    name: str
    python: str
    files: tuple[Path, ...]

    @property
    def version(self) -> tuple[int, int]:
        major, minor = self.python.split(".")
        return int(major), int(minor)


def dockerfile_python(dockerfile: Path = DOCKERFILE) -> str:
    """The ``X.Y`` of the image's ``FROM python:X.Y...`` line."""
    match = _FROM_PYTHON.search(dockerfile.read_text())
    if not match:
        raise ValueError(f"{dockerfile}: no 'FROM python:X.Y' line to take the Python version from")
    return f"{match.group(1)}.{match.group(2)}"


def _modules(root: Path, folder: str) -> tuple[Path, ...]:
    """The root modules the Lambda function in ``folder`` ships (:data:`FUNCTION_MODULES`)."""
    return tuple(root / module.name for module in FUNCTION_MODULES.get(folder, ()))


def project_targets(root: Path = ROOT) -> list[Target]:
    """The project's deployables and their runtimes' Python."""
    glue_script = root / "processing" / "glue_etl.py"
    shared = root / SHARED_RULES.name
    processing = tuple(p for p in sorted((root / "processing").rglob("*.py")) if p != glue_script)
    targets = [
        Target(
            f"Lambda {folder.name}",
            LAMBDA_PYTHON,
            (
                *sorted(folder.glob("*.py")),
                shared,
                *(root / m.name for m in FUNCTION_MODULES.get(folder.name, ())),
            ),
        )
        for folder in sorted((root / "lambdas").iterdir())
        if folder.is_dir() and any(folder.glob("*.py"))
    ]
    targets.append(Target(f"Glue {GLUE.version} script", GLUE.python, (glue_script, shared)))
    targets.append(
        Target("processing image", dockerfile_python(root / "processing" / "Dockerfile"), processing)
    )
    return targets


def syntax_problems(target: Target) -> list[str]:
    """Files that do not parse with the target's grammar (as far as this Python knows it)."""
    problems = []
    for path in target.files:
        try:
            ast.parse(path.read_text(encoding="utf-8"), str(path), feature_version=target.version)
        except SyntaxError as exc:
            problems.append(f"{path}:{exc.lineno}: not Python {target.python} syntax: {exc.msg}")
    return problems


def vermin_problems(target: Target) -> list[str]:
    """vermin's findings of anything newer than the target, or [] when there is none."""
    command = [sys.executable, "-c", "import sys; from vermin.main import main; sys.exit(main())"]
    command += ["--no-tips", "--violations", "--no-parse-comments"]
    command += [f"-t={target.python}-", *map(str, target.files)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode == 0:
        return []
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    return [line for line in lines if not line.startswith(("Detecting python files", "Analyzing using"))]


def check(target: Target) -> list[str]:
    return syntax_problems(target) + vermin_problems(target)


def interpreter_problem(targets: Sequence[Target], running: tuple[int, int] | None = None) -> str | None:
    """Why this Python is too new for the oldest target, or None."""
    running = running or (sys.version_info.major, sys.version_info.minor)
    oldest = min(targets, key=lambda t: t.version)
    if running > oldest.version:
        return (
            f"this Python is {running[0]}.{running[1]}, newer than {oldest.name}'s {oldest.python}: "
            f"tests here could pass on what {oldest.python} lacks; create .venv with Python {oldest.python}"
        )
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.version_gate", description=__doc__.split("\n")[0])
    parser.add_argument("--python", help="check FILEs against this X.Y instead of the project")
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args(argv)
    if args.python:
        targets = [Target("files", args.python, tuple(args.files))]
    elif args.files:
        parser.error("FILEs need --python X.Y")
    else:
        targets = project_targets()
    failed = False
    if not args.python and (problem := interpreter_problem(targets)):
        print(f"version gate: {problem}")
        failed = True
    for target in targets:
        problems = check(target)
        verdict = "FAIL" if problems else "ok"
        print(f"version gate: {target.name} (Python {target.python}, {len(target.files)} files): {verdict}")
        for line in problems:
            print(f"  {line}")
        failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
