"""``python -m localrun``: run the pipelines offline. See ``python -m localrun --help``."""

from __future__ import annotations

import argparse
import csv
import logging
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from config.paths import ROOT

DEFAULT_OUT = ROOT / "demo-out"

DESCRIPTION = """\
Run the project's two pipelines on this machine, with no AWS account, no Docker and no database
server of your own. AWS is emulated in-process by moto (fake credentials; nothing leaves this
machine); the state machines, Lambda handlers and processing script are the ones `cdk deploy`
ships, configured from an environment of cdk.json (default: dev).

commands:
  demo          both pipelines on generated data: a partition CSV, then ten weeks of hourly data
  standardize   z-score your own CSV: python -m localrun standardize data.csv
  forecast      forecast your own hourly series: python -m localrun forecast --source-csv sales.csv

Artifacts go to demo-out/ (or --out): standardized CSVs and stats, forecast rows, a plot, and the
path each execution took. Forecast rows go to MySQL given --mysql-url (or MYSQL_URL); otherwise to
a throwaway MariaDB when one is installed, else to an embedded SQLite file.
"""


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env", default="dev", help="environment of cdk.json to configure from (default: dev)"
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="artifact directory (default: demo-out/)"
    )
    parser.add_argument("--quiet", action="store_true", help="no live progress, only the summary")
    parser.add_argument(
        "--iam",
        type=Path,
        metavar="TEMPLATES",
        help="a folder of the environment's synthesized templates (cdk.out/<env>, from make synth): "
        "each AWS call of a function must be allowed by their policies, else it fails AccessDenied",
    )


def _database(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mysql-url",
        default=os.environ.get("MYSQL_URL"),
        help="mysql://user:pass@host:port/db to read the source from and write the forecast to "
        "(default: $MYSQL_URL, else a throwaway MariaDB if installed, else SQLite)",
    )
    parser.add_argument(
        "--sqlite", action="store_true", help="use the embedded SQLite database even if MariaDB is installed"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m localrun",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{demo,standardize,forecast}")
    demo = sub.add_parser("demo", help="both pipelines end to end on generated data")
    _common(demo)
    _database(demo)
    std = sub.add_parser(
        "standardize",
        help="standardize your own CSV file",
        description="Upload FILE as meta-data/<name>_<N>.csv and run the standardize pipeline on it. "
        "The file name must end in _<N>.csv (N: the batch id), or pass --key.",
    )
    std.add_argument("file", type=Path, help="a CSV file with a header row")
    std.add_argument("--key", help="the S3 key to upload to (default: meta-data/<file name>)")
    _common(std)
    fc = sub.add_parser(
        "forecast",
        help="forecast your own hourly series",
        description="Load a CSV into the source table, run the Glue job (its script on local Spark "
        "when Java is installed) and the forecast pipeline. "
        "The CSV needs a header with the environment's timestamp and value columns (dev: ts, amount), "
        "or name them with --timestamp-column/--value-column. At least context_length + "
        "prediction_length points (dev: 672 + 168) are needed.",
    )
    fc.add_argument("--source-csv", type=Path, required=True, help="CSV with a timestamp and a value column")
    fc.add_argument("--timestamp-column", help="the CSV's timestamp column (default: the environment's)")
    fc.add_argument("--value-column", help="the CSV's value column (default: the environment's)")
    _common(fc)
    _database(fc)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # moto's own log is kept by the runner (localrun.moto_adapter.moto_log) and written to moto.log.
    for name in ("botocore", "lightning", "lightning.pytorch", "gluonts"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.update(
        AWS_ACCESS_KEY_ID="offline", AWS_SECRET_ACCESS_KEY="offline", AWS_SESSION_TOKEN="offline"
    )
    os.environ.pop("AWS_PROFILE", None)
    from localrun import report
    from localrun.demo_data import hourly_series
    from localrun.runner import Printer, SourceLabel, open_session

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    printer = Printer(enabled=not args.quiet)
    wants_forecast = args.command in ("demo", "forecast")
    started = time.monotonic()
    with open_session(
        args.env,
        workdir=out / "work",
        mysql_url=getattr(args, "mysql_url", None),
        forecast=wants_forecast,
        allow_mariadb=not getattr(args, "sqlite", False),
        printer=printer,
        iam_from=args.iam,
    ) as session:
        if args.command == "demo":
            from localrun.demo_data import partition_csv

            session.standardize("meta-data/partition_2333.csv", partition_csv().encode())
            assert session.env.forecast is not None
            db = session.env.forecast.database
            demo = SourceLabel("demo data (ten weeks, hourly)", db.timestamp_column, db.value_column)
            session.load_source(hourly_series(), label=demo)
            session.forecast()
        elif args.command == "standardize":
            if not args.file.is_file():
                print(f"error: {args.file} is not a file", file=sys.stderr)
                return 2
            key = args.key or f"{session.env.standardize.input_prefix}{args.file.name}"
            if session.standardize(key, args.file.read_bytes()) is None:
                return 1
        else:
            rows, label = _read_source_csv(args, session.env)
            session.load_source(rows, label=label)
            session.forecast()
        backtest = report.forecast_backtest(session)
        artifacts = report.write_artifacts(session, out, backtest)
        report.print_summary(session, artifacts, time.monotonic() - started, backtest)
        return 0 if all(r.result.succeeded for r in session.runs) or args.command == "demo" else 1


def _read_source_csv(args: argparse.Namespace, env: Any) -> tuple[list[tuple[Any, ...]], Any]:
    """The CSV's (timestamp, value) rows, and its name and columns for the report."""
    from localrun.runner import SourceLabel

    db = env.forecast.database
    ts_col = args.timestamp_column or db.timestamp_column
    value_col = args.value_column or db.value_column
    with args.source_csv.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in (ts_col, value_col) if c not in (reader.fieldnames or [])]
        if missing:
            raise SystemExit(
                f"error: {args.source_csv} has no column {missing[0]!r} (columns: {reader.fieldnames}); "
                "name the columns with --timestamp-column and --value-column"
            )
        rows: list[tuple[Any, ...]] = []
        for line, record in enumerate(reader, start=2):
            raw_ts, raw_value = record[ts_col].strip(), record[value_col].strip()
            try:
                ts = datetime.fromisoformat(raw_ts.replace("Z", "+00:00"))
                value = float(raw_value) if raw_value else None
            except ValueError as exc:
                raise SystemExit(f"error: {args.source_csv}, line {line}: {exc}") from None
            rows.append((ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts, value))
    return rows, SourceLabel(args.source_csv.name, ts_col, value_col)


if __name__ == "__main__":
    sys.exit(main())
