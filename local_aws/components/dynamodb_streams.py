"""Patches on moto's DynamoDB Streams: records and shards as DynamoDB writes them.

- One record per real item change. moto's UpdateItem that creates an item stores the key first
  and then applies the update, and each step minted a record (an INSERT with the key only, then
  another INSERT); DynamoDB writes one INSERT with the whole new image. A write that leaves the
  item as it was (PutItem of the same image, UpdateItem that changes nothing) mints none, as
  DynamoDB's. (DeleteItem of a missing item minted none in moto already.)
- Sequence numbers of DynamoDB's shape: decimal strings of 22 digits (milliseconds of the
  shard's opening times 10^9, then the record's place), increasing within a shard and from a
  parent shard to its child.
- Shards close and hand over to a child shard. DynamoDB rolls a stream's shard about every four
  hours; here every ``LOCAL_AWS_DYNAMODB_SHARD_ROLL_SECONDS`` (default 14400). A closed shard has
  an EndingSequenceNumber, its child a ParentShardId, and GetRecords past a closed shard's last
  record returns no NextShardIterator. Consumers read the lineage (`lineage`) parent first.

LIMITATIONS: a shard rolls when a write lands on it after its period, not on a timer: a stream
with no writes keeps its open shard (DynamoDB would close it and open an empty child). Records
are never trimmed after 24 hours, so closed shards stay listed. Each shard has one child
(DynamoDB may split a busy shard in two). TTL deletes and their REMOVE records (with the
service's ``userIdentity``) come from `components/dynamodb_ttl`. SizeBytes is moto's
estimate (the length of the record's JSON), not DynamoDB's exact count.
"""

from __future__ import annotations

import calendar
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from local_aws.components import moto_patches

log = logging.getLogger(__name__)

ROLL_ENV = "LOCAL_AWS_DYNAMODB_SHARD_ROLL_SECONDS"
DEFAULT_ROLL_SECONDS = 4 * 3600.0

_originals: dict[str, Callable[..., Any]] = {}
_local = threading.local()


def env_seconds(name: str, default: float) -> float:
    """A period in seconds from the environment variable ``name``, read at each call; ``default`` when
    it is unset, and (with a warning) when it is not a number."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        log.warning("%s=%r is not a number of seconds; using %s", name, raw, default)
        return default
    return max(0.0, value)


def roll_seconds() -> float:
    """The shard roll period, read at each write so a test (or an operator) can change it."""
    return env_seconds(ROLL_ENV, DEFAULT_ROLL_SECONDS)


# -- shards -----------------------------------------------------------------------------------
def _opened(shard: Any) -> float:
    opened = getattr(shard, "local_aws_opened", None)
    if opened is None:  # a shard made before this patch (a restored snapshot): moto's creation time
        created = shard.created_on
        naive_utc = created.tzinfo is None
        opened = calendar.timegm(created.utctimetuple()) if naive_utc else created.timestamp()
        shard.local_aws_opened = opened
    return float(opened)


def parent(shard: Any) -> Any:
    return getattr(shard, "local_aws_parent", None)


def is_closed(shard: Any) -> bool:
    return bool(getattr(shard, "local_aws_closed", False))


def ending_sequence(shard: Any) -> int:
    """The last sequence number a closed shard holds (its start when it closed empty)."""
    return shard.starting_sequence_number + max(len(shard.items), 1) - 1


def lineage(table: Any) -> list[Any]:
    """The table's stream shards, oldest first; the last is the open one."""
    shards: list[Any] = []
    shard = table.stream_shard
    while shard is not None:
        shards.append(shard)
        shard = parent(shard)
    return shards[::-1]


def _shard_init(self: Any, account_id: str, table: Any) -> None:
    _originals["StreamShard.__init__"](self, account_id, table)
    now = time.time()
    self.local_aws_opened = now
    self.id = f"shardId-{int(now * 1000):020d}-{secrets.token_hex(4)}"
    self.starting_sequence_number = int(now * 1000) * 10**9


def roll(table: Any) -> Any:
    """Close the table's open shard and open its child (which the next records go to)."""
    from moto.dynamodb.models.table import StreamShard

    old = table.stream_shard
    child = StreamShard(old.account_id, table)
    child.starting_sequence_number = max(child.starting_sequence_number, ending_sequence(old) + 1)
    child.local_aws_parent = old
    old.local_aws_closed = True
    table.stream_shard = child
    return child


def placement(shard: Any) -> dict[str, Any]:
    """Where a record was written, for the journal: its shard and that shard's parent."""
    before = parent(shard)
    return {
        "shard": shard.id,
        "shard_start": shard.starting_sequence_number,
        "parent": None if before is None else [before.id, before.starting_sequence_number],
    }


def restore_placement(shard: Any, record: Any, kept: dict[str, Any]) -> None:
    """Put a replayed record back in the shard the original write put it in (journal replay).

    A shard rolls by the clock, so a replay may roll at another write than the original did:
    undo a roll the original did not make, make one it did (under the original shard's id).
    """
    if shard.id == kept["shard"] or shard is not shard.table.stream_shard or not shard.items:
        return
    table, before = shard.table, parent(shard)
    if before is not None and before.id == kept["shard"] and shard.items == [record]:
        before.local_aws_closed = False
        before.items.append(record)
        table.stream_shard = before
        return
    shard.items.remove(record)
    if shard.items or before is not None:
        child = roll(table)
    elif kept.get("parent"):  # a new stream whose first shard closed empty before this record
        shard.id, shard.starting_sequence_number = kept["parent"]
        child = roll(table)
    else:  # a new stream's first shard
        child = shard
    child.id, child.starting_sequence_number = kept["shard"], kept["shard_start"]
    child.items.append(record)


def _shard_add(self: Any, old: Any, new: Any) -> None:
    if old is None and getattr(_local, "skip_creation", False):
        _local.skip_creation = False  # UpdateItem's key-only first step: its update mints the INSERT
        return
    if old is None and new is None:
        return
    if old is not None and new is not None and old.to_json() == new.to_json():
        return  # the item is unchanged: DynamoDB writes no record
    shard = self
    table = self.table
    if table.stream_shard is self and (is_closed(self) or time.time() - _opened(self) >= roll_seconds()):
        shard = roll(table)
    _originals["StreamShard.add"](shard, old, new)


def _update_item(self: Any, *args: Any, **kwargs: Any) -> Any:
    _local.skip_creation = True
    try:
        return _originals["DynamoDBBackend.update_item"](self, *args, **kwargs)
    finally:
        _local.skip_creation = False


def _shard_to_json(self: Any) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "ShardId": self.id,
        "SequenceNumberRange": {"StartingSequenceNumber": str(self.starting_sequence_number)},
    }
    if is_closed(self):
        shown["SequenceNumberRange"]["EndingSequenceNumber"] = str(ending_sequence(self))
    if parent(self) is not None:
        shown["ParentShardId"] = parent(self).id
    return shown


# -- the DynamoDB Streams API -------------------------------------------------------------------
def _describe_stream(self: Any, arn: str) -> dict[str, Any]:
    stream = _originals["DynamoDBStreamsBackend.describe_stream"](self, arn)
    table = self._get_table_from_arn(arn)
    stream["Shards"] = [shard.to_json() for shard in lineage(table)]
    return stream


def _get_shard_iterator(
    self: Any, arn: str, shard_id: str, shard_iterator_type: str, sequence_number: Any = None
) -> Any:
    from moto.dynamodb.exceptions import ResourceNotFoundException
    from moto.dynamodbstreams.models import ShardIterator

    table = self._get_table_from_arn(arn)
    found = [shard for shard in lineage(table) if shard.id == shard_id]
    if not found:
        raise ResourceNotFoundException(f"Requested resource not found: Shard: {shard_id} in Stream: {arn}")
    iterator = ShardIterator(self, found[0], shard_iterator_type, sequence_number)
    self.shard_iterators[iterator.arn] = iterator
    return iterator


def _iterator_get(self: Any, limit: int = 1000) -> dict[str, Any]:
    result = _originals["ShardIterator.get"](self, limit)
    shard = self.stream_shard
    if is_closed(shard):
        following = self.streams_backend.shard_iterators.get(result.get("NextShardIterator"))
        if following is not None and int(following.sequence_number) > ending_sequence(shard):
            del self.streams_backend.shard_iterators[result.pop("NextShardIterator")]
    return result


def install() -> None:
    """Patch moto's stream shards, UpdateItem and the Streams backend (once per process)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import StreamShard
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator

    moto_patches.install(
        _originals,
        [
            (StreamShard, "__init__", _shard_init),
            (StreamShard, "add", _shard_add),
            (StreamShard, "to_json", _shard_to_json),
            (DynamoDBBackend, "update_item", _update_item),
            (DynamoDBStreamsBackend, "describe_stream", _describe_stream),
            (DynamoDBStreamsBackend, "get_shard_iterator", _get_shard_iterator),
            (ShardIterator, "get", _iterator_get),
        ],
    )
