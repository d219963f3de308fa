"""Where a pipe's parts live in moto's backends, and its checkpoints in the component store.

Call these under the world's lock."""

from __future__ import annotations

import uuid
from typing import Any

from local_aws.components.dynamodb_streams import lineage
from local_aws.components.pipes_config import DDB_STREAM_ARN, KINESIS_ARN, NAME, PipeConfig
from local_aws.world import World


def all_pipes() -> list[tuple[str, str, Any]]:
    from moto.pipes.models import pipes_backends

    found = []
    for account, regions in list(dict.items(pipes_backends)):
        for region, backend in list(dict.items(regions)):
            found.extend((account, region, pipe) for pipe in list(backend.pipes.values()))
    return found


def find_pipe(arn: str) -> Any:
    parts = arn.split(":", 5)
    from moto.pipes.models import pipes_backends

    try:
        backend = dict.__getitem__(dict.__getitem__(pipes_backends, parts[4]), parts[3])
    except KeyError:
        return None
    pipe = backend.pipes.get(parts[5].split("/", 1)[1])
    return pipe if pipe is not None and pipe.arn == arn else None


def find_stream(arn: str) -> tuple[Any, str | None]:
    """The table whose current, enabled stream is ``arn``, or None and why not."""
    match = DDB_STREAM_ARN.match(arn)
    if not match:
        return None, f"Source {arn} is not a DynamoDB stream ARN."
    region, account, table_name, label = match.groups()
    table = World.backend("dynamodb", account, region).tables.get(table_name)
    if table is None:
        return None, f"The source DynamoDB table {table_name} does not exist (stream {arn})."
    spec = table.stream_specification or {}
    if not spec.get("StreamEnabled") or table.stream_shard is None or table.latest_stream_label != label:
        return None, f"The source stream {arn} is disabled or no longer exists."
    return table, None


def find_kinesis(arn: str) -> tuple[Any, str | None]:
    match = KINESIS_ARN.match(arn)
    if not match:
        return None, f"Target {arn} is not a Kinesis stream ARN."
    region, account, name = match.groups()
    stream = World.backend("kinesis", account, region).streams.get(name)
    if stream is None or stream.arn != arn:
        return None, f"The target Kinesis stream {arn} does not exist."
    return stream, None


def resource_problem(config: PipeConfig) -> str | None:
    if DDB_STREAM_ARN.match(config.source):
        _, problem = find_stream(config.source)
        if problem:
            return problem
    if KINESIS_ARN.match(config.target):
        _, problem = find_kinesis(config.target)
        return problem
    return None


def initial_position(shard: Any, starting_position: str) -> int:
    if starting_position == "LATEST":
        return shard.starting_sequence_number + len(shard.items)
    return shard.starting_sequence_number


def next_shard(table: Any, positions: dict[str, int], starting_position: str) -> Any:
    """The oldest shard of the table's stream that the pipe has not read to its end, else the open one.

    Shards close and hand over to a child (components/dynamodb_streams): a parent is read to its
    end before its child, and a child first seen after its parent is read from its start.
    """
    shards = lineage(table)
    for place, shard in enumerate(shards):
        if shard.id not in positions:
            first = place > 0 and shards[place - 1].id in positions
            positions[shard.id] = (
                shard.starting_sequence_number if first else initial_position(shard, starting_position)
            )
        if positions[shard.id] < shard.starting_sequence_number + len(shard.items):
            return shard
    return shards[-1]


def incarnation(pipe: Any) -> str:
    # A pipe created before this component was installed (e.g. restored) gets an id on first sight.
    if not getattr(pipe, "local_aws_id", None):
        pipe.local_aws_id = uuid.uuid4().hex
    return pipe.local_aws_id


def checkpoint_entry(world: World, pipe: Any, config: PipeConfig) -> dict[str, Any]:
    """The pipe's checkpoints in the store, created (with the starting position) when first needed."""
    pipes = world.store(NAME).setdefault("pipes", {})
    entry = pipes.get(pipe.arn)
    if entry is None or entry["id"] != incarnation(pipe):
        entry = pipes[pipe.arn] = {"id": incarnation(pipe), "positions": {}}
        table, _ = find_stream(config.source)
        if table is not None:
            entry["positions"][table.stream_shard.id] = initial_position(
                table.stream_shard, config.starting_position
            )
        world.mark_dirty()
    return entry
