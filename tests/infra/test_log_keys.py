"""logs.kmsKey: off by default; on, every log group a stack owns is encrypted with a key of the
stack, which CloudWatch Logs may use for that stack's groups only."""

from __future__ import annotations

import json
import re

import pytest

from config import ConfigError, load_env, read_cdk_context
from tests.infra.conftest import Synthesized, synthesize
from tests.infra.test_database_rotation import forecast_with_rotation


def test_off_by_default_the_groups_keep_cloudwatchs_own_encryption(dev: Synthesized) -> None:
    for unit, template in dev.templates():
        for group in template.find_resources("AWS::Logs::LogGroup").values():
            name = json.dumps(group["Properties"].get("LogGroupName", ""))
            assert "KmsKeyId" not in group["Properties"] or "/aws-glue/jobs/" in name, unit


def test_on_every_group_a_stack_owns_is_encrypted_with_the_stacks_key() -> None:
    s = synthesize("dev", {"logs": {"kmsKey": True}, "forecast": forecast_with_rotation()})
    for unit, template in s.templates():
        resources = template.to_json()["Resources"]
        keys = {
            lid: r
            for lid, r in resources.items()
            if r["Type"] == "AWS::KMS::Key" and lid.startswith("LogsKey")
        }
        (key_id,) = keys
        statements = keys[key_id]["Properties"]["KeyPolicy"]["Statement"]
        (logs,) = [st for st in statements if st.get("Sid") == "CloudWatchLogsOfThisStack"]
        assert logs["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
        allowed = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
        stack = f"MlPipelines-dev-{unit.title()}"
        assert any(str(a).endswith(f":log-group:{stack}-*") for a in allowed), unit
        for lid, group in resources.items():
            if group["Type"] != "AWS::Logs::LogGroup":
                continue
            key = group["Properties"]["KmsKeyId"]
            if "/aws-glue/jobs/" not in json.dumps(group["Properties"].get("LogGroupName", "")):
                assert key == {"Fn::GetAtt": [key_id, "Arn"]}, f"{unit}/{lid}"
                name = group["Properties"].get("LogGroupName")
                assert name is None or any(str(a).endswith(f":log-group:{name}") for a in allowed), lid


def test_kms_for_logs_is_refused_where_cloudwatch_logs_has_none() -> None:
    context = read_cdk_context()
    context["environments"]["china"]["region"] = "cn-northwest-1"
    context["environments"]["china"]["logs"] = {"kmsKey": True}
    with pytest.raises(ConfigError, match=re.escape("'logs.kmsKey' is not available in cn-northwest-1")):
        load_env("china", context)
