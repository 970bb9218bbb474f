"""The VPC admits only what the pipeline uses: the S3 gateway endpoint's policy names the app's
buckets, and the security groups the app creates allow only the egress their clients need."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import Synthesized
from tests.infra.test_database_rotation import rotating


def groups(s: Synthesized, unit: str) -> dict[str, Any]:
    """Security groups by description's first words."""
    found = s.template(unit).find_resources("AWS::EC2::SecurityGroup")
    return {r["Properties"]["GroupDescription"].split(":")[0]: r for r in found.values()}


def egress_of(s: Synthesized, unit: str, description: str) -> set[str]:
    """``protocol:from-to destination`` of the described group's egress, inline or as resources."""
    resources = s.template(unit).to_json()["Resources"]
    (logical_id,) = [
        lid
        for lid, r in resources.items()
        if r["Type"] == "AWS::EC2::SecurityGroup"
        and r["Properties"]["GroupDescription"].startswith(description)
    ]
    rules = list(resources[logical_id]["Properties"].get("SecurityGroupEgress", []))
    rules += [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::EC2::SecurityGroupEgress"
        and r["Properties"]["GroupId"] == {"Fn::GetAtt": [logical_id, "GroupId"]}
    ]
    out = set()
    for rule in rules:
        where = rule.get("CidrIp") or ("self" if rule.get("DestinationSecurityGroupId") else "?")
        out.add(f"{rule['IpProtocol']}:{rule.get('FromPort')}-{rule.get('ToPort')} {where}")
    return out


def test_created_groups_allow_only_the_database_https_and_glue_itself(synthesized: Synthesized) -> None:
    port = synthesized.config.forecast.database.port  # type: ignore[union-attr]
    client = {f"tcp:{port}-{port} 0.0.0.0/0", "tcp:443-443 0.0.0.0/0"}
    assert egress_of(synthesized, "forecast", "Glue JDBC connection") == client | {"tcp:0-65535 self"}
    if not synthesized.config.forecast.network.database_security_group_id:  # type: ignore[union-attr]
        assert egress_of(synthesized, "forecast", "Forecast database clients") == client
    else:  # the group the user gave is theirs: not in the template, not changed
        assert "Forecast database clients" not in groups(synthesized, "forecast")


def test_the_rotation_functions_group_allows_only_the_database_and_https() -> None:
    s = rotating(security_group=False)
    port = s.config.forecast.database.port  # type: ignore[union-attr]
    assert egress_of(s, "shared", "Database secret rotation function") == {
        f"tcp:{port}-{port} 0.0.0.0/0",
        "tcp:443-443 0.0.0.0/0",
    }


def test_the_s3_endpoint_admits_the_app_buckets_for_this_account_only(synthesized: Synthesized) -> None:
    endpoints = [
        r
        for r in synthesized.template("forecast").find_resources("AWS::EC2::VPCEndpoint").values()
        if r["Properties"].get("VpcEndpointType", "Gateway") == "Gateway"
    ]
    if synthesized.config.forecast.network.vpc_id:  # type: ignore[union-attr]
        assert endpoints == [], "an imported VPC's endpoints stay as the user made them"
        return
    (endpoint,) = endpoints
    (statement,) = endpoint["Properties"]["PolicyDocument"]["Statement"]
    partition = "aws-cn" if synthesized.config.region.startswith("cn-") else "aws"
    resources = (
        set(statement["Resource"]) if isinstance(statement["Resource"], list) else {statement["Resource"]}
    )
    data = f"arn:{partition}:s3:::{synthesized.config.data_bucket_name}"
    assert {data, f"{data}/*", f"arn:{partition}:s3:::aws-glue-*"} <= resources
    assert any("cdk-" in str(r) and "assets" in str(r) for r in resources), "the Glue script's bucket"
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalAccount": synthesized.config.account}}
    assert "s3:*" not in statement["Action"]
