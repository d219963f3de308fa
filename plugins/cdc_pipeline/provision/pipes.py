"""The EventBridge Pipe: the table's DynamoDB stream -> the Kinesis stream, keyed by the table key."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from cdc_pipeline.provision import dynamodb
from cdc_pipeline.provision.context import Deployment
from cdc_pipeline.provision.outcome import Outcome
from cdc_pipeline.provision.waiting import error_code, retry_while_role_propagates, wait_for

KIND = "pipes:pipe"
RESOURCE = "pipe"
_STABLE = {"RUNNING", "STOPPED"}
_FAILED = {"CREATE_FAILED", "UPDATE_FAILED", "START_FAILED", "STOP_FAILED", "CREATE_ROLLBACK_FAILED"}
# A pipe that never got going: nothing but DeletePipe helps, so provisioning deletes and recreates it
# (its records are still in the table's stream, read again from TRIM_HORIZON; the lake dedupes).
_RECREATE = {"CREATE_FAILED", "START_FAILED", "CREATE_ROLLBACK_FAILED"}


class PipeSourceChangedError(RuntimeError):
    """The Pipe reads another stream than the table's current one; a Pipe's source cannot change."""


def partition_key(deployment: Deployment) -> str:
    # The table key, so every change of one item lands on one shard, in order. The seeds used
    # eventID, which is unique per change: one item's INSERT and MODIFY could then land on different
    # shards and reach the lake out of order.
    return f"$.dynamodb.Keys.{deployment.definition.key_attribute}.S"


def _batching(deployment: Deployment) -> dict[str, int]:
    return {
        "BatchSize": deployment.settings.pipe_batch_size,
        "MaximumBatchingWindowInSeconds": deployment.settings.pipe_batching_window_seconds,
    }


def _describe(pipes: Any, name: str) -> dict[str, Any] | None:
    try:
        return pipes.describe_pipe(Name=name)
    except ClientError as error:
        if error_code(error) == "NotFoundException":
            return None
        raise


def _wait_stable(pipes: Any, name: str) -> dict[str, Any]:
    def stable() -> dict[str, Any] | None:
        pipe = _describe(pipes, name)
        if pipe is None:
            raise RuntimeError(f"pipe {name} disappeared")
        if pipe.get("CurrentState") in _FAILED:
            raise RuntimeError(f"pipe {name} is {pipe['CurrentState']}: {pipe.get('StateReason', '')}")
        return pipe if pipe.get("CurrentState") in _STABLE else None

    return wait_for(stable, f"pipe {name} to settle")


def _target_parameters(deployment: Deployment) -> dict[str, Any]:
    return {"KinesisStreamParameters": {"PartitionKey": partition_key(deployment)}}


def _create(deployment: Deployment, pipes: Any, source: str) -> None:
    names = deployment.names
    role_arn = names.role_arn(names.pipe_role)
    target_parameters = _target_parameters(deployment)
    retry_while_role_propagates(
        lambda: pipes.create_pipe(
            Name=names.pipe,
            Description=f"cdc-lake {deployment.definition.name}: table changes to Kinesis",
            DesiredState="RUNNING",
            Source=source,
            SourceParameters={
                "DynamoDBStreamParameters": {"StartingPosition": "TRIM_HORIZON", **_batching(deployment)}
            },
            Target=names.stream_arn,
            TargetParameters=target_parameters,
            RoleArn=role_arn,
            Tags={"cdc-lake:dataset": deployment.definition.name},
        ),
        f"create pipe {names.pipe}",
        deployment.settings.role_propagation_timeout_seconds,
    )
    _wait_stable(pipes, names.pipe)


def ensure_pipe(deployment: Deployment) -> Outcome:
    """Create the Pipe, or UpdatePipe in place when batching, target or role differ.

    A pipe in a failed creation or start state is deleted and created again (`_RECREATE`).
    """
    pipes = deployment.client("pipes")
    names = deployment.names
    source = dynamodb.latest_stream_arn(deployment)
    role_arn = names.role_arn(names.pipe_role)
    target_parameters = _target_parameters(deployment)
    current = _describe(pipes, names.pipe)
    if current is None:
        _create(deployment, pipes, source)
        return Outcome(RESOURCE, KIND, names.pipe, "created")
    if current.get("CurrentState") in _RECREATE:
        delete_pipe(deployment)
        _create(deployment, pipes, source)
        return Outcome(RESOURCE, KIND, names.pipe, "recreated")

    if current["Source"] != source:
        raise PipeSourceChangedError(
            f"pipe {names.pipe!r} reads {current['Source']}, but the table's stream is now {source} "
            "(the table or its stream was recreated). A Pipe's source cannot be changed: tear the "
            "pipeline down and provision it again."
        )
    current = _wait_stable(pipes, names.pipe)
    current_batching = (current.get("SourceParameters") or {}).get("DynamoDBStreamParameters") or {}
    # StartingPosition only applies at creation and cannot be updated, so it is not compared.
    differs = (
        {key: current_batching.get(key) for key in _batching(deployment)} != _batching(deployment)
        or current.get("Target") != names.stream_arn
        or current.get("TargetParameters") != target_parameters
        or current.get("RoleArn") != role_arn
        or current.get("DesiredState") != "RUNNING"
    )
    if not differs:
        return Outcome(RESOURCE, KIND, names.pipe, "unchanged")
    retry_while_role_propagates(
        lambda: pipes.update_pipe(
            Name=names.pipe,
            DesiredState="RUNNING",
            SourceParameters={"DynamoDBStreamParameters": _batching(deployment)},
            Target=names.stream_arn,
            TargetParameters=target_parameters,
            RoleArn=role_arn,
        ),
        f"update pipe {names.pipe}",
        deployment.settings.role_propagation_timeout_seconds,
    )
    _wait_stable(pipes, names.pipe)
    return Outcome(RESOURCE, KIND, names.pipe, "updated")


def delete_pipe(deployment: Deployment) -> Outcome:
    pipes = deployment.client("pipes")
    name = deployment.names.pipe
    try:
        pipes.delete_pipe(Name=name)
    except ClientError as error:
        if error_code(error) == "NotFoundException":
            return Outcome(RESOURCE, KIND, name, "absent")
        raise
    wait_for(lambda: _describe(pipes, name) is None, f"pipe {name} to be deleted")
    return Outcome(RESOURCE, KIND, name, "deleted")
