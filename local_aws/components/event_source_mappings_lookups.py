"""moto lookups for the event source mappings (world lock held), and the execution role's stream check.

The mappings are read from moto's Lambda backends in every account and region; a function's
execution role from its configuration. `role_problem` asks `local_aws.iam` whether that role may
read the stream, and words a refusal as Lambda does ("Cannot access stream ...").
"""

from __future__ import annotations

from typing import Any

from moto.awslambda.models import EventSourceMapping

from local_aws.world import World, current


def _source_kind(arn: str) -> str:
    return arn.split(":")[2] if arn.count(":") >= 5 else ""


def is_polled(esm: EventSourceMapping) -> bool:
    """Whether this mapping's source is one the poller reads (a Kinesis or DynamoDB stream)."""
    return _source_kind(esm.event_source_arn) in ("kinesis", "dynamodb")


def lambda_backends() -> dict[str, Any]:
    """moto's Lambda backends: account -> region -> backend."""
    return World.backend_dicts()["lambda"]


def all_mappings() -> list[EventSourceMapping]:
    found = []
    for regions in lambda_backends().values():
        for backend in regions.values():
            found.extend(backend._event_source_mappings.values())
    return found


def find_mapping(uuid: str) -> EventSourceMapping | None:
    for esm in all_mappings():
        if esm.uuid == uuid:
            return esm
    return None


def function_role(function_arn: str) -> str:
    parts = function_arn.split(":")
    try:
        backend = World.backend("lambda", parts[4], parts[3])
        return backend.get_function(function_arn).role
    except Exception:
        return ""


def role_problem(function_arn: str, source_arn: str) -> str | None:
    """Lambda's complaint when the execution role may not read the stream (local_aws.iam), or None."""
    from local_aws.iam import service_steps

    role = function_role(function_arn)
    if not role or not _is_stream(source_arn):
        return None
    denied = service_steps.event_source_mapping(current(), role, source_arn)
    if denied is None:
        return None
    return (
        f"Cannot access stream {source_arn}. Please ensure the role can perform the GetRecords, "
        f"GetShardIterator, DescribeStream, and ListStreams Actions on your stream in IAM. ({denied.message})"
    )


def _is_stream(arn: str) -> bool:
    return ":kinesis:" in arn or (":dynamodb:" in arn and "/stream/" in arn)
