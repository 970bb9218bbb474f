"""Steps 2 to 4: a good partition through standardize, a badly named one, and an alarm's message
through the alerts topic. Each raises :class:`SmokeFailure` naming what it saw."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from botocore.exceptions import ClientError

from pipeline_rules import resource_prefix
from tools.smoke.context import Smoke
from tools.smoke.deployment import SmokeFailure

#: The generated partition: two numeric columns of known values and a text one, which stays as it is.
PARTITION_ROWS = [(f"row-{i}", 10.0 + 1.5 * i, (i * 7) % 11) for i in range(20)]
#: How close a recomputed z-score must be to the job's (the job writes the shortest round trip).
Z_TOLERANCE = 1e-9
STANDARDIZE_MINUTES = 30
#: Every upload of the smoke is named ``smoke_...``; the trigger names its execution after the file.
NAME_PREFIX = "smoke_"


def partition_csv() -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["name", "level", "count"])
    writer.writerows(PARTITION_ROWS)
    return out.getvalue().encode()


def _put(smoke: Smoke, key: str, body: bytes) -> None:
    """Upload ``key`` and register the removal of every version of it (the bucket is versioned)."""
    bucket = smoke.deployed.bucket
    smoke.clients("s3").put_object(Bucket=bucket, Key=key, Body=body)
    smoke.undo.append((f"s3://{bucket}/{key}", lambda: delete_all_versions(smoke, key)))


def delete_all_versions(smoke: Smoke, prefix: str) -> None:
    """Remove every version and delete marker of the keys under ``prefix`` (a key is its own prefix)."""
    s3, bucket = smoke.clients("s3"), smoke.deployed.bucket
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        doomed = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if doomed:
            errors = s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True}).get(
                "Errors", []
            )
            if errors:
                first = errors[0]
                raise RuntimeError(
                    f"{len(errors)} of {len(doomed)} versions not deleted, e.g. {first.get('Key')}: "
                    f"{first.get('Code')} {first.get('Message')}"
                )


def _key_is(key: str) -> Any:
    return lambda execution_input: execution_input.get("object", {}).get("key") == key


def _timeout(smoke: Smoke) -> float:
    return smoke.timeout_minutes("standardize", STANDARDIZE_MINUTES) * 60


def check_standardize(smoke: Smoke) -> str:
    """Upload a generated partition as ``<inputPrefix>smoke_<N><inputSuffix>``; its execution must
    succeed and write the CSV and stats under ``<outputPrefix><N>/``, whose z-scores of ``level``
    match those recomputed here."""
    cfg, step = smoke.config.standardize, "standardize"
    batch = smoke.stamp
    name = f"smoke_{batch}"
    key = f"{cfg.input_prefix}{name}{cfg.input_suffix}"
    output = f"{cfg.output_prefix}{batch}/"
    smoke.undo.append((f"s3://{smoke.deployed.bucket}/{output}", lambda: delete_all_versions(smoke, output)))
    since = smoke.now()
    _put(smoke, key, partition_csv())
    smoke.say(f"  uploaded s3://{smoke.deployed.bucket}/{key}")
    described = smoke.wait_for_execution(
        step, smoke.deployed.standardize_arn, _key_is(key), since, _timeout(smoke)
    )
    smoke.jobs["processing"] += 1
    if described["status"] != "SUCCEEDED":
        raise SmokeFailure(
            step,
            f"execution {described['name']} for {key} ended {described['status']}: "
            f"{described.get('error', '')}: {described.get('cause', '')}",
        )
    csv_key = f"{output}{name}.csv"
    stats_key = f"{output}stats/{name}.json"
    rows = list(csv.DictReader(io.StringIO(_read(smoke, step, csv_key))))
    stats = json.loads(_read(smoke, step, stats_key))
    _check_z_scores(step, csv_key, rows, stats)
    return f"{key} -> {csv_key} and {stats_key}, z-scores as recomputed"


def _read(smoke: Smoke, step: str, key: str) -> str:
    try:
        body = smoke.clients("s3").get_object(Bucket=smoke.deployed.bucket, Key=key)["Body"].read()
    except ClientError as err:
        raise SmokeFailure(
            step, f"the execution succeeded but s3://{smoke.deployed.bucket}/{key} cannot be read: {err}"
        ) from None
    return str(body.decode())


def _check_z_scores(step: str, key: str, rows: list[dict[str, str]], stats: dict[str, Any]) -> None:
    """``level`` is z-scored with the population std of the input; ``name`` is left as it was."""
    levels = [level for _, level, _ in PARTITION_ROWS]
    mean = math.fsum(levels) / len(levels)
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in levels) / len(levels))
    if len(rows) != len(PARTITION_ROWS):
        raise SmokeFailure(step, f"{key} has {len(rows)} rows, the input {len(PARTITION_ROWS)}")
    column = stats.get("columns", {}).get("level", {})
    if column.get("kind") != "numeric" or not math.isclose(column.get("mean") or 0, mean, rel_tol=1e-12):
        raise SmokeFailure(step, f"stats say level is {column}, expected numeric with mean {mean}")
    for (name, level, _), row in zip(PARTITION_ROWS, rows, strict=True):
        expected = (level - mean) / std
        if row.get("name") != name or not math.isclose(float(row["level"]), expected, abs_tol=Z_TOLERANCE):
            raise SmokeFailure(
                step, f"{key}: row {name} has level {row.get('level')}, expected the z-score {expected!r}"
            )


def check_bad_name(smoke: Smoke, name: str | None = None) -> str:
    """Upload a partition whose name has no batch id; its execution must fail as InvalidPartitionName,
    with a cause that names the key."""
    cfg, step = smoke.config.standardize, "bad name"
    key = f"{cfg.input_prefix}{name or f'smoke_nobatch-{smoke.stamp}'}{cfg.input_suffix}"
    since = smoke.now()
    _put(smoke, key, partition_csv())
    described = smoke.wait_for_execution(
        step, smoke.deployed.standardize_arn, _key_is(key), since, _timeout(smoke)
    )
    error, cause = described.get("error", ""), described.get("cause", "")
    if described["status"] != "FAILED" or error != "InvalidPartitionName" or key not in cause:
        raise SmokeFailure(
            step,
            f"execution {described['name']} for {key} ended {described['status']} {error}: {cause} "
            "(expected FAILED with InvalidPartitionName naming the key)",
        )
    return f"{key} failed as InvalidPartitionName: {cause}"


def check_alerts(smoke: Smoke) -> str:
    """One of the app's alarms, forced into ALARM, must put a message on a queue subscribed to the
    alerts topic; the alarm's state is set back, and the queue and subscription are removed."""
    step, topic = "alerts", smoke.deployed.alerts_topic_arn
    cloudwatch, sqs, sns = smoke.clients("cloudwatch"), smoke.clients("sqs"), smoke.clients("sns")
    alarm = _an_alarm_of_the_topic(smoke, step, cloudwatch, topic)
    name = f"{resource_prefix(smoke.config.name)}-smoke-{smoke.stamp}"
    _, partition, _, region, account, _ = topic.split(":", 5)
    queue_arn = f"arn:{partition}:sqs:{region}:{account}:{name}"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AlertsTopicOnly",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
            }
        ],
    }
    queue_url = sqs.create_queue(  # the policy with the queue: nothing may arrive before it
        QueueName=name,
        Attributes={
            "SqsManagedSseEnabled": "true",
            "MessageRetentionPeriod": "3600",
            "Policy": json.dumps(policy),
        },
    )["QueueUrl"]
    smoke.undo.append((f"queue {queue_url}", lambda: sqs.delete_queue(QueueUrl=queue_url)))
    subscription = sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, ReturnSubscriptionArn=True
    )["SubscriptionArn"]
    smoke.undo.append((f"subscription {subscription}", lambda: sns.unsubscribe(SubscriptionArn=subscription)))
    _confirm(smoke, step, sns, sqs, queue_url, topic, subscription)
    smoke.pace.sleep(smoke.pace.settle_seconds)
    alarm_name, before = alarm["AlarmName"], alarm["StateValue"]
    reason = "tools.smoke: a test that alarms reach the alerts topic; set back at once"
    cloudwatch.set_alarm_state(AlarmName=alarm_name, StateValue="ALARM", StateReason=reason)
    try:
        message = _alarm_message(smoke, step, sqs, queue_url, alarm_name)
    finally:
        cloudwatch.set_alarm_state(
            AlarmName=alarm_name, StateValue=before, StateReason="tools.smoke: set back"
        )
    return f"alarm {alarm_name} reached the topic ({message.get('NewStateValue')}); set back to {before}"


def _confirm(
    smoke: Smoke, step: str, sns: Any, sqs: Any, queue_url: str, topic: str, subscription: str
) -> None:
    """Confirm the subscription if SNS asks for it (it does not for a queue of the topic's own
    account), before any alarm message is sent to it."""
    attributes = sns.get_subscription_attributes(SubscriptionArn=subscription)["Attributes"]
    start, limit = smoke.pace.clock(), smoke.timeout_minutes("alerts", 5) * 60
    while attributes.get("PendingConfirmation") == "true":
        if smoke.pace.clock() - start > limit:
            raise SmokeFailure(step, f"the queue's subscription to {topic} was never confirmed")
        messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=smoke.pace.long_poll_seconds)
        for message in messages.get("Messages", []):
            body = json.loads(message["Body"])
            if body.get("Type") == "SubscriptionConfirmation":
                sns.confirm_subscription(TopicArn=topic, Token=body["Token"])
        attributes = sns.get_subscription_attributes(SubscriptionArn=subscription)["Attributes"]


def _an_alarm_of_the_topic(smoke: Smoke, step: str, cloudwatch: Any, topic: str) -> dict[str, Any]:
    """An alarm of this environment's stacks that publishes to ``topic``: standardize's first, by name."""
    prefix = smoke.config.stack_name("")
    alarms = [
        alarm
        for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=prefix)
        for alarm in page["MetricAlarms"]
        if topic in alarm.get("AlarmActions", [])
    ]
    if not alarms:
        raise SmokeFailure(step, f"no alarm named {prefix}* publishes to the alerts topic {topic}")
    quiet = [a for a in alarms if a.get("ActionsEnabled", True) and a["StateValue"] != "ALARM"]
    if not quiet:
        raise SmokeFailure(
            step,
            "every alarm of the topic is in ALARM or has its actions off "
            f"({', '.join(a['AlarmName'] for a in alarms)}): a change of state is what sends a message; "
            "look into them first",
        )
    standardize = smoke.config.stack_name("Standardize")
    return sorted(quiet, key=lambda a: (not a["AlarmName"].startswith(standardize), a["AlarmName"]))[0]


def _alarm_message(smoke: Smoke, step: str, sqs: Any, queue_url: str, alarm: str) -> dict[str, Any]:
    """The alarm's notification, read from the queue within ``alertMinutes``."""
    start, limit = smoke.pace.clock(), smoke.timeout_minutes("alerts", 5) * 60
    while smoke.pace.clock() - start <= limit:
        wait = max(0, min(smoke.pace.long_poll_seconds, int(limit - (smoke.pace.clock() - start))))
        for message in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=wait).get("Messages", []):
            try:  # the topic also carries the state machines' plain-text alerts
                body = json.loads(json.loads(message["Body"]).get("Message", "{}"))
            except ValueError:
                continue
            if (
                isinstance(body, dict)
                and body.get("AlarmName") == alarm
                and body.get("NewStateValue") == "ALARM"
            ):
                return dict(body)
        if wait == 0:
            smoke.pace.sleep(smoke.pace.poll_seconds)
    raise SmokeFailure(
        step,
        f"alarm {alarm} went to ALARM but no message reached the topic's subscriber within "
        f"{limit:.0f} s: check the topic's access policy admits cloudwatch.amazonaws.com for this "
        "account's alarms, and its key policy (docs/permissions.md)",
    )
