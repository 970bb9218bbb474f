"""What the smoke's test modules share."""

from __future__ import annotations

from typing import Any

from localrun.runner import OfflineSession


def leftovers(session: OfflineSession) -> dict[str, Any]:
    """What a smoke run could leave: objects (any version), queues, subscriptions, alarm states."""
    s3 = session.aws.client("s3")
    versions = s3.list_object_versions(Bucket=session.bucket)
    keys = {v["Key"] for v in versions.get("Versions", []) + versions.get("DeleteMarkers", [])}
    alarms = session.aws.client("cloudwatch").describe_alarms()["MetricAlarms"]
    return {
        "keys": sorted(keys),
        "queues": sorted(session.aws.client("sqs").list_queues().get("QueueUrls", [])),
        "subscriptions": len(session.aws.client("sns").list_subscriptions()["Subscriptions"]),
        "alarms": sorted((a["AlarmName"], a["StateValue"]) for a in alarms),
    }
