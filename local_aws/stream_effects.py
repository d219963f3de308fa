"""The stream records a data write produced, kept so that a replay puts back the same ones.

moto mints a DynamoDB Streams record (a random ``eventID``, the time) for every item change, and a
Kinesis record (the next sequence number in its shard, the time) for every PutRecord. Replaying a
journalled write through moto would mint new ones: the lake would then hold the same change under
two event ids, and a Kinesis client's acknowledged sequence number could move (the shard's
counter also counts the records the Pipes wrote, which are not journalled but redone). So while a
request runs, `recording()` notes every record moto appends; the journal keeps them with the
write, and on replay `restore()` swaps the freshly minted records for the journalled ones. A
DynamoDB record also keeps the shard it went to: shards roll by the clock
(`components/dynamodb_streams`), and a replay puts each record back in its original shard.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Iterator
from typing import Any

from local_aws.components import dynamodb_streams

_local = threading.local()
_installed = False

# The Kinesis Record attributes a replay puts back.
_KINESIS_FIELDS = (
    "partition_key",
    "data",
    "sequence_number",
    "explicit_hash_key",
    "created_at_datetime",
    "created_at",
)


def install() -> None:
    """Wrap moto's two record-minting methods (once per process) so `recording()` sees them."""
    global _installed
    if _installed:
        return
    from moto.dynamodb.models.table import StreamShard
    from moto.kinesis.models import Stream

    original_add = StreamShard.add
    original_put = Stream.put_record

    def add(self: Any, old: Any, new: Any) -> None:
        # The record may land in a child shard when this one rolls (components/dynamodb_streams).
        table = self.table
        before = table.stream_shard, len(table.stream_shard.items) if table.stream_shard else 0
        original_add(self, old, new)
        effects = getattr(_local, "effects", None)
        shard = table.stream_shard if table.stream_shard is not None else self
        grown = len(shard.items) > (before[1] if shard is before[0] else 0)
        if effects is not None and grown:
            effects.append(("dynamodb", shard, shard.items[-1]))

    def put_record(self: Any, partition_key: str, explicit_hash_key: str, data: str) -> tuple[str, str]:
        sequence_number, shard_id = original_put(self, partition_key, explicit_hash_key, data)
        effects = getattr(_local, "effects", None)
        if effects is not None:
            effects.append(("kinesis", self.shards[shard_id], int(sequence_number)))
        return sequence_number, shard_id

    StreamShard.add = add  # type: ignore[method-assign]
    Stream.put_record = put_record  # type: ignore[method-assign]
    _installed = True


@contextlib.contextmanager
def recording() -> Iterator[list[tuple[Any, ...]]]:
    """Collect, in this thread, the stream records moto mints inside the block."""
    effects: list[tuple[Any, ...]] = []
    previous = getattr(_local, "effects", None)
    _local.effects = effects
    try:
        yield effects
    finally:
        _local.effects = previous


def journalled(effects: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """The minted records as plain data, for the journal."""
    kept: list[dict[str, Any]] = []
    for kind, owner, detail in effects:
        if kind == "dynamodb":
            placement = dynamodb_streams.placement(owner)
            kept.append({"kind": kind, "record": copy.deepcopy(detail.record), "placement": placement})
        else:
            record = owner.records[detail]
            kept.append({"kind": kind, **{name: getattr(record, name) for name in _KINESIS_FIELDS}})
    return kept


def restore(minted: list[tuple[Any, ...]], kept: list[dict[str, Any]]) -> bool:
    """Replace what a replay minted by what the original write minted; False if they differ in shape."""
    if [kind for kind, _, _ in minted] != [entry["kind"] for entry in kept]:
        return False
    for (kind, owner, detail), entry in zip(minted, kept, strict=True):
        if kind == "dynamodb":
            detail.record = entry["record"]
            if "placement" in entry:  # journals written before shards rolled have none
                dynamodb_streams.restore_placement(owner, detail, entry["placement"])
            continue
        record = owner.records.pop(detail)
        for name in _KINESIS_FIELDS:
            setattr(record, name, entry[name])
        # Later replays number their records after this one, as the original writes were.
        owner.records[record.sequence_number] = record
    return True
