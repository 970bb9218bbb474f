"""The shared stack: the data bucket's security defaults and the alerts topic."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Annotations, Match

from stacks.alerts import NO_SUBSCRIBER
from tests.infra.conftest import Synthesized, synthesize


def data_bucket(s: Synthesized) -> Any:
    buckets = s.template("shared").find_resources(
        "AWS::S3::Bucket", {"Properties": {"BucketName": s.config.data_bucket_name}}
    )
    assert len(buckets) == 1
    return next(iter(buckets.values()))


def test_data_bucket_is_private_encrypted_versioned_logged_and_retained(synthesized: Synthesized) -> None:
    bucket = data_bucket(synthesized)
    props = bucket["Properties"]
    assert bucket["DeletionPolicy"] == "Retain" and bucket["UpdateReplacePolicy"] == "Retain"
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert props["LoggingConfiguration"]["LogFilePrefix"] == "data-bucket/"
    assert "Ref" in props["LoggingConfiguration"]["DestinationBucketName"]


def test_data_bucket_lifecycle_expires_old_versions_and_aborts_uploads(synthesized: Synthesized) -> None:
    rules = {r["Id"]: r for r in data_bucket(synthesized)["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-noncurrent-versions"]["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": 30,
        "NewerNoncurrentVersions": 3,
    }
    assert rules["abort-multipart"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}


def test_every_bucket_enforces_ssl(synthesized: Synthesized) -> None:
    template = synthesized.template("shared")
    buckets = template.find_resources("AWS::S3::Bucket")
    assert len(buckets) == 2
    for logical_id, bucket in buckets.items():
        assert bucket["DeletionPolicy"] == "Retain"
        template.has_resource_properties(
            "AWS::S3::BucketPolicy",
            {
                "Bucket": {"Ref": logical_id},
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Action": "s3:*",
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            )
                        ]
                    )
                },
            },
        )


def test_alerts_topic_is_encrypted_with_a_rotating_key_that_alarms_can_use(synthesized: Synthesized) -> None:
    template = synthesized.template("shared")
    template.resource_count_is("AWS::SNS::Topic", 1)
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    _, key = next(
        iter(template.find_resources("AWS::KMS::Key", {"Properties": {"EnableKeyRotation": True}}).items())
    )
    granted: set[str] = set()
    for statement in key["Properties"]["KeyPolicy"]["Statement"]:
        services = statement["Principal"].get("Service", [])
        if {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(statement["Action"]):
            granted |= set(services if isinstance(services, list) else [services])
    # EventBridge publishes through a role whose own policy grants the key (test_confused_deputy.py).
    assert granted == {"cloudwatch.amazonaws.com"}
    template.resource_count_is("AWS::SNS::Subscription", 0)


def test_alert_email_from_config_subscribes_it() -> None:
    s = synthesize("dev", {"alertEmail": "ops@example.com"})
    s.template("shared").has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )
    assert not _no_subscriber_warnings(s)


def _no_subscriber_warnings(s: Synthesized) -> list[str]:
    warnings = Annotations.from_stack(s.stacks.shared).find_warning("*", Match.string_like_regexp(".*"))
    return [str(w.entry.data) for w in warnings if NO_SUBSCRIBER in str(w.entry.data)]


def test_synth_warns_when_no_address_receives_the_alerts(dev: Synthesized) -> None:
    assert dev.config.alert_email is None
    (warning,) = _no_subscriber_warnings(dev)
    assert "alertEmail is not set: the alerts topic has no subscriber" in warning
    assert not dev.template("shared").find_resources("AWS::SNS::Subscription")
