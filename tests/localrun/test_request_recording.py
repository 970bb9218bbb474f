"""The offline runs record what each deployed principal asks of AWS, as the inventory check needs:
without recording, the check that every request is inventoried would pass on nothing."""

from __future__ import annotations

from pathlib import Path

from localrun.demo_data import partition_csv
from localrun.moto_adapter.requests import collecting
from localrun.runner import Printer, open_session
from tools.iam_check.inventory import load_inventory
from tools.iam_check.operations import Request, requests_of


def test_a_standardize_run_records_the_triggers_and_the_machines_requests(tmp_path: Path) -> None:
    with (
        collecting() as seen,
        open_session("dev", workdir=tmp_path, forecast=False, printer=Printer(False)) as s,
    ):
        run = s.standardize("meta-data/partition_42.csv", partition_csv(rows=20).encode())
        assert run is not None and run.result.status == "SUCCEEDED"
    assert {(c.principal, c.service, c.operation) for c in seen.calls} == {
        ("function:trigger", "stepfunctions", "StartExecution"),
        ("state_machine:standardize", "sagemaker", "CreateProcessingJob"),
    }
    assert {"function:trigger", "function:get_batch_id"} <= set(seen.environments)
    recorded = requests_of(seen.calls, seen.environments)
    assert Request("function:trigger", "states:StartExecution", "{env:trigger:STATE_MACHINE_ARN}") in recorded
    assert recorded <= load_inventory().recorded
