"""The driver (every CSV of a directory) and the command line, with the SageMaker failure message."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from .contract import CONTAINER_INPUT_DIR, CONTAINER_OUTPUT_DIR, FAILURE_MESSAGE_PATH, STATS_DIR
from .model import FileStats, InputError, Options, StandardizeError, UsageError, log
from .output import _first_line, standardize_file
from .structure import _read_header

_MAX_FAILURE_MESSAGE = 1000
# --------------------------------------------------------------------------- driver


def _input_files(input_dir: Path) -> list[Path]:
    return sorted(p for p in input_dir.rglob("*") if p.suffix.lower() == ".csv" and p.is_file())


def run(input_dir: Path | str, output_dir: Path | str, options: Options | None = None) -> list[FileStats]:
    """Standardize every .csv under input_dir into output_dir (see the module docstring)."""
    options = options or Options()
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    if not input_dir.is_dir():
        raise UsageError(f"input directory not found: {input_dir}")
    if input_dir.resolve() == output_dir.resolve():
        raise UsageError("input and output directories must differ")
    files = _input_files(input_dir)
    if not files:
        raise InputError(str(input_dir), "no .csv file found")
    named = options.include | options.exclude
    if named:
        seen: set[str] = set()
        for src in files:
            if src.stat().st_size:
                with contextlib.suppress(InputError):
                    seen.update(_read_header(src, src.name).names)
        unknown = sorted(named - seen)
        if unknown:
            sources = "--include/--exclude or STANDARDIZE_INCLUDE/STANDARDIZE_EXCLUDE"
            raise UsageError(f"{sources} columns not in any input file: {', '.join(unknown)}")
    results = []
    for src in files:
        rel = src.relative_to(input_dir)
        stats_path = output_dir / STATS_DIR / rel.parent / (rel.name[: -len(rel.suffix)] + ".json")
        results.append(standardize_file(src, output_dir / rel, stats_path, options, label=rel.as_posix()))
    log.info("done: %d file(s), %s rows", len(results), f"{sum(r.rows for r in results):,}")
    return results


def _parser() -> argparse.ArgumentParser:
    doc = sys.modules[__package__ or "standardize"].__doc__ or ""  # the package's, the manual
    parser = argparse.ArgumentParser(
        prog="standardize",
        description=doc.split("\n\n")[0],
        epilog="\n\n".join(doc.split("\n\n")[3:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--input", default=CONTAINER_INPUT_DIR, help="input directory (default: %(default)s)")
    parser.add_argument(
        "--output", default=CONTAINER_OUTPUT_DIR, help="output directory (default: %(default)s)"
    )
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="COL",
        help="standardize this column even if it looks like an id (repeatable)",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="COL",
        help="pass this column through unchanged (repeatable)",
    )
    parser.add_argument(
        "--round",
        type=int,
        default=None,
        metavar="N",
        dest="round_digits",
        help="write z-scores with N decimals (default: full precision)",
    )
    parser.add_argument(
        "--progress-seconds",
        type=float,
        default=10.0,
        metavar="S",
        help="log progress every S seconds (default: %(default)s)",
    )
    return parser


def env_columns(name: str, environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """Column names from environment variable ``name``, a JSON list (default: none).

    The state machine passes the configured ``includeColumns``/``excludeColumns`` this way
    (``STANDARDIZE_INCLUDE``, ``STANDARDIZE_EXCLUDE``); they add to ``--include``/``--exclude``.
    """
    raw = (os.environ if environ is None else environ).get(name, "").strip()
    if not raw:
        return frozenset()
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise UsageError(f"{name} must be a JSON list of column names: {exc}") from None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise UsageError(f"{name} must be a JSON list of non-empty column names, got {raw[:200]!r}")
    return frozenset(value)


def write_failure_message(message: str, path: str | None = None) -> None:
    """Best effort: write message where SageMaker reads the failure reason (default path above)."""
    target = Path(path or FAILURE_MESSAGE_PATH)
    if target.parent.is_dir() and os.access(target.parent, os.W_OK):
        with contextlib.suppress(OSError):
            target.write_text(message[:_MAX_FAILURE_MESSAGE], encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status (0 ok, 1 bad input or crash, 2 bad usage)."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    try:
        options = Options(
            include=frozenset(args.include) | env_columns("STANDARDIZE_INCLUDE"),
            exclude=frozenset(args.exclude) | env_columns("STANDARDIZE_EXCLUDE"),
            round_digits=args.round_digits,
            progress_seconds=args.progress_seconds,
        )
        run(args.input, args.output, options)
    except StandardizeError as exc:
        message = f"{type(exc).__name__}: {exc}"
        log.error("%s", message)
        write_failure_message(message)
        return 2 if isinstance(exc, UsageError) else 1
    except Exception as exc:
        log.exception("internal error")
        write_failure_message(f"internal error: {type(exc).__name__}: {_first_line(exc)}")
        return 1
    finally:
        if in_main and previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def _on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the cleanup of temporary files
