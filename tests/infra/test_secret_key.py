"""The database secret the app creates has its own key, whose policy lets only the secret's readers
decrypt; a secret the user names (secretArn) is theirs, key and all."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from contracts.names import SECRET_READERS, secret_reader_role_name
from tests.infra.conftest import Synthesized
from tests.infra.test_database_rotation import rotating
from tests.infra.test_iam_check import variant
from tools.iam_check import evaluator
from tools.iam_check.check import Concrete, to_evaluator
from tools.iam_check.principals import Principals
from tools.iam_check.templates import Environment


def key_policy(s: Synthesized) -> list[dict[str, Any]]:
    shared = s.template("shared").to_json()["Resources"]
    (secret,) = [r for r in shared.values() if r["Type"] == "AWS::SecretsManager::Secret"]
    key_id = secret["Properties"]["KmsKeyId"]["Fn::GetAtt"][0]
    return list(shared[key_id]["Properties"]["KeyPolicy"]["Statement"])


def test_only_the_readers_may_decrypt_and_only_through_secrets_manager(dev: Synthesized) -> None:
    statements = {s["Sid"]: s for s in key_policy(dev)}
    assert set(statements) == {"Administer", "EncryptThroughSecretsManager", "SecretReaders"}
    assert not any("Decrypt" in a or a == "kms:*" for a in statements["Administer"]["Action"])
    assert "kms:Decrypt" not in statements["EncryptThroughSecretsManager"]["Action"]
    readers = statements["SecretReaders"]
    assert readers["Action"] == "kms:Decrypt"
    assert readers["Condition"]["StringEquals"] == {
        "kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"
    }
    expected = [f"arn:aws:iam::111111111111:role/{secret_reader_role_name('dev', r)}" for r in SECRET_READERS]
    assert readers["Condition"]["ArnLike"]["aws:PrincipalArn"] == expected
    forecast = json.dumps(dev.template("forecast").find_resources("AWS::IAM::Role"))
    assert all(f'"RoleName": "{secret_reader_role_name("dev", r)}"' in forecast for r in SECRET_READERS)


def test_with_rotation_the_shared_stacks_roles_read_it_too() -> None:
    s = rotating()
    readers = {st["Sid"]: st for st in key_policy(s)}["SecretReaders"]
    assert readers["Condition"]["ArnLike"]["aws:PrincipalArn"][-1].endswith(":role/MlPipelines-dev-Shared-*")


def test_a_named_secret_gets_no_key_of_ours(china: Synthesized) -> None:
    assert china.template("shared").find_resources("AWS::SecretsManager::Secret") == {}
    assert len(china.template("shared").find_resources("AWS::KMS::Key")) == 1  # the alerts key only


def test_a_role_that_is_no_reader_cannot_decrypt_even_with_an_iam_grant() -> None:
    principals = Principals(Environment(variant("dev").outdir))
    arn = principals.env.arn(principals.env.by_path("Shared", "DatabaseSecretKey"))
    context = (("kms:ViaService", "secretsmanager.us-east-1.amazonaws.com"),)
    reader = Concrete("function:write_forecast", "kms:Decrypt", arn, context, "test")
    other = Concrete("function:generate_dataset", "kms:Decrypt", arn, context, "test")
    allow_all = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}],
    }
    requests = [to_evaluator(principals, reader, "reader"), to_evaluator(principals, other, "other")]
    requests[1] = replace(requests[1], identity_policies=[allow_all])
    decisions = {d.id: d for d in evaluator.evaluate(requests)}
    assert decisions["reader"].allowed
    assert not decisions["other"].allowed, decisions["other"].explain
