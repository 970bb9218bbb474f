"""``python -m tools.smoke -c env=NAME [--forecast [--skip-etl]] [--offline]``; see docs/verify.md."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

from config import load_env, read_cdk_context
from tools.smoke.context import Pace, Smoke, add_environment_option, environment_of
from tools.smoke.run import run_smoke


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.smoke",
        description="Check that a deployed environment works: its stacks, standardize on a good and a "
        "badly named partition, an alarm's message through the alerts topic, and with --forecast the "
        "forecast pipeline. Everything it creates is removed at the end. See docs/verify.md.",
    )
    add_environment_option(parser)
    parser.add_argument(
        "--forecast",
        action="store_true",
        help="also run the forecast pipeline (a training and a transform job)",
    )
    parser.add_argument(
        "--skip-etl",
        action="store_true",
        help="with --forecast: put a small CSV where the ETL writes and send the state "
        "machine the event of its rule, instead of starting the Glue workflow",
    )
    parser.add_argument(
        "--timeout-minutes",
        type=float,
        metavar="M",
        help="how long any one step may wait (default: 30 for standardize, 5 for alerts, "
        "240 for the forecast)",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="against the offline runner's session instead of an account (what make test does)",
    )
    args = parser.parse_args(argv)
    args.env = environment_of(parser, args)
    if args.skip_etl and not args.forecast:
        parser.error("--skip-etl goes with --forecast")
    if args.offline and args.forecast and not args.skip_etl:
        parser.error("offline, --forecast needs --skip-etl: the Glue workflow does not run offline")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = load_env(args.env, read_cdk_context())
    limits = {}
    if args.timeout_minutes:
        limits = dict.fromkeys(
            ("standardize", "bad name", "alerts", "workflow", "forecast"), args.timeout_minutes
        )
    if not args.offline:
        import boto3

        session = boto3.Session(region_name=config.region)
        smoke = Smoke(session.client, config, limits=limits)
        return 0 if run_smoke(smoke, forecast=args.forecast, skip_etl=args.skip_etl).ok else 1
    return _offline(args, config, limits)


def _offline(args: argparse.Namespace, config: object, limits: dict[str, float]) -> int:
    """The same run against a mocked account that the offline runner deploys into."""
    from localrun.databases import ServerDatabase
    from localrun.deployed import DeployedClients, deploy
    from localrun.runner import Printer, open_session

    saved = {name: os.environ.get(name) for name in (*_FAKE_CREDENTIALS, "AWS_PROFILE")}
    os.environ.update(_FAKE_CREDENTIALS)
    os.environ.pop("AWS_PROFILE", None)
    # The functions' logs (the bad name's error among them) go to CloudWatch in AWS; not shown here.
    logging.disable(logging.CRITICAL)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="smoke-") as workdir,
            open_session(
                args.env, workdir=Path(workdir), forecast=args.forecast, printer=Printer(False)
            ) as session,
        ):
            deploy(session)
            smoke = Smoke(DeployedClients(session), session.env, pace=OFFLINE_PACE, limits=limits)
            if isinstance(session.database, ServerDatabase):  # its throwaway server's own CA
                smoke.database_tls = session.database.db.server.tls_environment()
            return 0 if run_smoke(smoke, forecast=args.forecast, skip_etl=args.skip_etl).ok else 1
    finally:
        logging.disable(logging.NOTSET)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "offline",
    "AWS_SECRET_ACCESS_KEY": "offline",
    "AWS_SESSION_TOKEN": "offline",
}
#: Offline, nothing takes minutes: poll at once, and report rarely.
OFFLINE_PACE = Pace(poll_seconds=0.05, long_poll_seconds=0, report_seconds=30.0, settle_seconds=0.0)

if __name__ == "__main__":
    sys.exit(main())
