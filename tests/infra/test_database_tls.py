"""``database.tls`` in the templates: Glue enforces SSL with the CA bundle, write-forecast ships it."""

from __future__ import annotations

import copy
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Annotations, Match, Template

from config import read_cdk_context
from config.paths import LAMBDAS, ROOT
from contracts.database_tls import LAMBDA_CA_FILE, TLS_DISABLED
from stacks.bundling import PipInstall, bundled_code
from stacks.python_function import RUNTIME
from tests.infra.conftest import Synthesized, synthesize
from tests.infra.iam import statements

FIXTURE_CA = "tests/fixtures/database-ca.pem"


def with_database(**settings: Any) -> Synthesized:
    forecast = copy.deepcopy(read_cdk_context()["environments"]["dev"]["forecast"])
    forecast["database"].update(settings)
    return synthesize("dev", {"forecast": forecast})


@pytest.fixture(scope="module")
def with_ca() -> Synthesized:
    return with_database(caBundle=FIXTURE_CA)


@pytest.fixture(scope="module")
def plaintext() -> Synthesized:
    return with_database(tls="disabled")


def forecast(s: Synthesized) -> Template:
    assert s.stacks.forecast is not None
    return Template.from_stack(s.stacks.forecast)


def connection_properties(s: Synthesized) -> dict[str, Any]:
    (conn,) = forecast(s).find_resources("AWS::Glue::Connection").values()
    return dict(conn["Properties"]["ConnectionInput"]["ConnectionProperties"])


def write_forecast_env(s: Synthesized) -> dict[str, Any]:
    (fn,) = (
        forecast(s)
        .find_resources(
            "AWS::Lambda::Function",
            {"Properties": {"Description": Match.string_like_regexp("DeepAR's or seasonal naive's")}},
        )
        .values()
    )
    return dict(fn["Properties"]["Environment"]["Variables"])


def tls_warnings(s: Synthesized) -> list[str]:
    assert s.stacks.forecast is not None
    found = Annotations.from_stack(s.stacks.forecast).find_warning("*", Match.string_like_regexp(".*"))
    return [str(w.entry.data) for w in found if TLS_DISABLED in str(w.entry.data)]


def ca_reads(s: Synthesized) -> dict[str, list[Any]]:
    """Per Glue role, the resources of its ``ReadDatabaseCa`` statements."""
    template = forecast(s)
    return {
        role: [st["Resource"] for st in statements(template, role) if st.get("Sid") == "ReadDatabaseCa"]
        for role in ("Forecast crawler", "Forecast ETL job")
    }


def test_tls_is_required_by_default_with_the_default_trust_stores(synthesized: Synthesized) -> None:
    props = connection_properties(synthesized)
    assert props["JDBC_ENFORCE_SSL"] == "true"
    assert "CUSTOM_JDBC_CERT" not in props
    env = write_forecast_env(synthesized)
    assert (env["DB_TLS"], env["DB_CA_FILE"]) == ("required", "")
    assert not tls_warnings(synthesized)
    assert ca_reads(synthesized) == {"Forecast crawler": [], "Forecast ETL job": []}


def test_a_ca_bundle_goes_to_glue_as_its_custom_certificate_and_ships_with_the_lambda(
    with_ca: Synthesized,
) -> None:
    props = connection_properties(with_ca)
    assert props["JDBC_ENFORCE_SSL"] == "true" and props["SKIP_CUSTOM_JDBC_CERT_VALIDATION"] == "false"
    cert = json.dumps(props["CUSTOM_JDBC_CERT"])
    assert re.search(r"s3://cdk-hnb659fds-assets-.*/[0-9a-f]{64}\.pem", cert), cert
    key = re.search(r"[0-9a-f]{64}\.pem", cert)
    assert key is not None
    cfg = with_ca.config
    bucket = f"cdk-hnb659fds-assets-{cfg.account}-{cfg.region}"
    for role, resources in ca_reads(with_ca).items():  # that one object, nothing else of the bucket
        assert resources == [f"arn:{cfg.partition}:s3:::{bucket}/{key.group(0)}"], role
    env = write_forecast_env(with_ca)
    assert (env["DB_TLS"], env["DB_CA_FILE"]) == ("required", LAMBDA_CA_FILE)


def test_tls_disabled_is_plaintext_everywhere_and_synth_warns(plaintext: Synthesized) -> None:
    assert connection_properties(plaintext)["JDBC_ENFORCE_SSL"] == "false"
    env = write_forecast_env(plaintext)
    assert (env["DB_TLS"], env["DB_CA_FILE"]) == ("disabled", "")
    (warning,) = tls_warnings(plaintext)
    assert "forecast.database.tls is 'disabled'" in warning and "plaintext" in warning


def test_the_bundle_holds_the_ca_file_and_a_new_bundle_is_a_new_asset(tmp_path: Path) -> None:
    """PipInstall copies the extra file; its digest is in the asset hash, so an edited CA ships."""
    source = LAMBDAS / "write_forecast"
    out = tmp_path / "bundle"
    out.mkdir()
    version = RUNTIME.name.removeprefix("python")
    bundler = PipInstall(source, version, "manylinux2014_aarch64", {LAMBDA_CA_FILE: ROOT / FIXTURE_CA})
    bundler.try_bundle(str(out), image=RUNTIME.bundling_image)
    assert (out / LAMBDA_CA_FILE).read_bytes() == (ROOT / FIXTURE_CA).read_bytes()
    assert (out / "handler.py").is_file() and (out / "pymysql").is_dir()

    other = tmp_path / "other-ca.pem"
    other.write_text((ROOT / FIXTURE_CA).read_text() + "\n")

    def key(extra: dict[str, Path]) -> str:
        app = App(outdir=tempfile.mkdtemp(prefix="cdk-test-"), context={"aws:cdk:bundling-stacks": []})
        code = bundled_code(source, RUNTIME, lambda_.Architecture.ARM_64, extra)
        location = code.bind(Stack(app, "Stack")).s3_location
        assert location is not None
        return location.object_key

    keys = {key({}), key({LAMBDA_CA_FILE: ROOT / FIXTURE_CA}), key({LAMBDA_CA_FILE: other})}
    assert len(keys) == 3, keys
    with pytest.raises(ValueError, match="must be a plain name"):
        bundled_code(source, RUNTIME, lambda_.Architecture.ARM_64, {"handler.py": other})
