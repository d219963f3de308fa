"""The Kinesis data stream between the Pipe and Firehose."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from cdc_pipeline.provision.context import Deployment
from cdc_pipeline.provision.outcome import Outcome
from cdc_pipeline.provision.waiting import error_code, wait_for

KIND = "kinesis:stream"
RESOURCE = "stream"


def _summary(kinesis: Any, name: str) -> dict[str, Any] | None:
    try:
        return kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise


def _wait_active(kinesis: Any, name: str) -> dict[str, Any]:
    def active() -> dict[str, Any] | None:
        summary = _summary(kinesis, name)
        return summary if summary and summary["StreamStatus"] == "ACTIVE" else None

    return wait_for(active, f"stream {name} to become ACTIVE")


def ensure_stream(deployment: Deployment) -> Outcome:
    """Create the stream with the configured shard count, or reshard it in place; wait for ACTIVE."""
    kinesis = deployment.client("kinesis")
    name = deployment.names.stream
    shards = deployment.settings.kinesis_shard_count
    summary = _summary(kinesis, name)
    if summary is None:
        kinesis.create_stream(
            StreamName=name, ShardCount=shards, StreamModeDetails={"StreamMode": "PROVISIONED"}
        )
        _wait_active(kinesis, name)
        return Outcome(RESOURCE, KIND, name, "created")
    summary = _wait_active(kinesis, name)
    if summary.get("OpenShardCount") != shards:
        kinesis.update_shard_count(StreamName=name, TargetShardCount=shards, ScalingType="UNIFORM_SCALING")
        _wait_active(kinesis, name)
        return Outcome(RESOURCE, KIND, name, "updated")
    return Outcome(RESOURCE, KIND, name, "unchanged")


def delete_stream(deployment: Deployment) -> Outcome:
    kinesis = deployment.client("kinesis")
    name = deployment.names.stream
    try:
        kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return Outcome(RESOURCE, KIND, name, "absent")
        raise
    wait_for(lambda: _summary(kinesis, name) is None, f"stream {name} to be deleted")
    return Outcome(RESOURCE, KIND, name, "deleted")
