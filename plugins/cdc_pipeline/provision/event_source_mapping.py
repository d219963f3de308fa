"""The event source mapping (Lambda's Kinesis trigger) from the stream to the consumer function.

A mapping has no name: it is found by its stream ARN and function ARN (ListEventSourceMappings), so
provisioning twice never makes a second one. BatchSize, MaximumBatchingWindowInSeconds and the
enabled state are updated in place; a duplicate made outside provisioning is deleted (two mappings
would deliver every record twice). BatchSize is `CDC_LAKE_ESM_BATCH_SIZE`, not the Pipe's: a mapping
reads up to 10,000 Kinesis records at once, a Pipe to Kinesis at most 500; the batching window is
the Pipe's (`CDC_LAKE_PIPE_BATCH_WINDOW`). StartingPosition is
TRIM_HORIZON, so events put before the mapping existed are consumed too; it cannot be changed in
place (AWS refuses), and is not compared.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from cdc_pipeline.provision.context import Deployment
from cdc_pipeline.provision.outcome import Outcome
from cdc_pipeline.provision.waiting import error_code, retry_while_role_propagates, wait_for, wait_for_state

KIND = "lambda:event-source-mapping"
RESOURCE = "event_source_mapping"
#: The states a mapping settles in; from the others (Creating, Enabling, Disabling, Updating) it moves
#: by itself, and AWS refuses updates meanwhile.
_SETTLED = ("Enabled", "Disabled")


def _label(deployment: Deployment) -> str:
    return f"{deployment.names.stream} -> {deployment.names.function}"


def desired_settings(deployment: Deployment) -> dict[str, Any]:
    settings = deployment.settings
    return {
        "BatchSize": settings.esm_batch_size,
        "MaximumBatchingWindowInSeconds": settings.pipe_batching_window_seconds,
    }


def find_mappings(deployment: Deployment) -> list[dict[str, Any]]:
    """This pipeline's mappings: the stream's mappings whose function is ours, the one to keep first.

    Kept is one that reads from TRIM_HORIZON as ours do, preferably enabled (then by UUID, so the
    choice is stable): another one would start elsewhere in the stream.
    """
    names = deployment.names
    awslambda = deployment.client("lambda")
    found = []
    for page in awslambda.get_paginator("list_event_source_mappings").paginate(
        EventSourceArn=names.stream_arn
    ):
        for mapping in page.get("EventSourceMappings", []):
            if mapping.get("FunctionArn") == names.function_arn and mapping.get("State") != "Deleting":
                found.append(mapping)
    return sorted(
        found,
        key=lambda m: (m.get("StartingPosition") != "TRIM_HORIZON", m.get("State") != "Enabled", m["UUID"]),
    )


def _get(awslambda: Any, uuid: str) -> dict[str, Any] | None:
    try:
        return awslambda.get_event_source_mapping(UUID=uuid)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise


def _wait_settled(awslambda: Any, uuid: str) -> dict[str, Any]:
    """Wait until the mapping is Enabled or Disabled: AWS refuses an update while it is Creating or
    Updating, and a delete while it is Updating."""
    return wait_for_state(
        lambda: _get(awslambda, uuid),
        lambda mapping: mapping["State"],
        f"event source mapping {uuid}",
        _SETTLED,
    )


def ensure_mapping(deployment: Deployment) -> Outcome:
    """Create the mapping (enabled, TRIM_HORIZON), or bring its batch settings and state in line."""
    awslambda = deployment.client("lambda")
    names = deployment.names
    desired = desired_settings(deployment)
    found = find_mappings(deployment)
    if not found:
        created = retry_while_role_propagates(
            lambda: awslambda.create_event_source_mapping(
                EventSourceArn=names.stream_arn,
                FunctionName=names.function_arn,
                StartingPosition="TRIM_HORIZON",
                Enabled=True,
                **desired,
            ),
            f"create event source mapping {_label(deployment)}",
            deployment.settings.role_propagation_timeout_seconds,
        )
        _wait_settled(awslambda, created["UUID"])
        return Outcome(RESOURCE, KIND, _label(deployment), "created")
    mapping, *duplicates = found
    changed = False
    for duplicate in duplicates:
        _wait_settled(awslambda, duplicate["UUID"])
        awslambda.delete_event_source_mapping(UUID=duplicate["UUID"])
        changed = True
    mapping = _wait_settled(awslambda, mapping["UUID"])
    updates = {
        key: value
        for key, value in desired.items()
        # An unset batching window is 0 seconds.
        if (mapping.get(key) or 0) != value
    }
    if mapping.get("State") != "Enabled":
        updates["Enabled"] = True
    if updates:
        awslambda.update_event_source_mapping(UUID=mapping["UUID"], **updates)
        _wait_settled(awslambda, mapping["UUID"])
        changed = True
    return Outcome(RESOURCE, KIND, _label(deployment), "updated" if changed else "unchanged")


def delete_mapping(deployment: Deployment) -> Outcome:
    """Delete every mapping of this stream to this function and wait until they are gone."""
    awslambda = deployment.client("lambda")
    found = find_mappings(deployment)
    if not found:
        return Outcome(RESOURCE, KIND, _label(deployment), "absent")
    for mapping in found:
        try:
            _wait_settled(awslambda, mapping["UUID"])
            awslambda.delete_event_source_mapping(UUID=mapping["UUID"])
        except ClientError as error:
            if error_code(error) != "ResourceNotFoundException":
                raise
    for mapping in found:
        wait_for(
            lambda uuid=mapping["UUID"]: _get(awslambda, uuid) is None, f"mapping {mapping['UUID']} deleted"
        )
    return Outcome(RESOURCE, KIND, _label(deployment), "deleted")
