"""The streams an event source mapping reads, straight from moto's backends (world lock held).

A Kinesis stream's shards or a DynamoDB table's stream shard, each record turned into the event
record Lambda sends: for Kinesis ``kinesis`` (partitionKey, sequenceNumber, base64 ``data``,
approximateArrivalTimestamp) with eventID ``<shard>:<sequence>`` and the function's role as
invokeIdentityArn; for DynamoDB the stream record (eventName INSERT/MODIFY/REMOVE, ``dynamodb``
with Keys/NewImage/OldImage/SequenceNumber). A source also says where StartingPosition LATEST
and AT_TIMESTAMP begin.
"""

from __future__ import annotations

import base64
import bisect
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from local_aws.components import dynamodb_streams
from local_aws.components.event_source_mappings_lookups import function_role
from local_aws.world import World

if TYPE_CHECKING:
    from local_aws.components.event_source_mappings_config import MappingConfig


class KinesisShardView:
    """An append-only copy of one moto shard's record list, so a poll costs O(new records).

    moto keeps records in an ordered dict, which cannot be indexed; this keeps a list beside it
    and extends it from the end. Derived data only: never persisted.
    """

    def __init__(self) -> None:
        self._shard: Any = None
        self.records: list[Any] = []
        self.sequences: list[int] = []

    def sync(self, shard: Any) -> None:
        count = len(shard.records)
        if shard is not self._shard or count < len(self.records):
            self._shard = shard
            self.records = list(shard.records.values())
            self.sequences = [int(r.sequence_number) for r in self.records]
            return
        fresh = count - len(self.records)
        if fresh:
            newest = reversed(shard.records.values())
            added = [next(newest) for _ in range(fresh)][::-1]
            self.records.extend(added)
            self.sequences.extend(int(r.sequence_number) for r in added)

    def after(self, checkpoint: int) -> Iterator[Any]:
        start = bisect.bisect_right(self.sequences, checkpoint)
        for index in range(start, len(self.records)):
            yield self.records[index]


@dataclass
class SourceRecord:
    """One stream record as the poller sees it: its sequence, arrival time (epoch), event and size."""

    sequence: int
    arrival: float
    event: dict[str, Any]
    size: int


class StreamSource:
    """A Kinesis stream or a DynamoDB stream, read straight from moto (lock held)."""

    def __init__(self, arn: str, region: str, account_id: str) -> None:
        self.arn = arn
        self.region = region
        self.account_id = account_id

    @staticmethod
    def find(arn: str) -> StreamSource | None:
        parts = arn.split(":")
        if len(parts) < 6:
            return None
        kind, region, account_id = parts[2], parts[3], parts[4]
        try:
            if kind == "kinesis":
                source: StreamSource = KinesisSource(arn, region, account_id)
            elif kind == "dynamodb":
                source = DynamoDBSource(arn, region, account_id)
            else:
                return None
        except LookupError:
            return None
        return source

    def shard_ids(self) -> list[str]:
        raise NotImplementedError

    def has_shard(self, shard_id: str) -> bool:
        return shard_id in self.shard_ids()

    def parent(self, shard_id: str) -> str | None:
        """The shard this one took over from, while the source still lists it (Kinesis: none here)."""
        return None

    def ready(self, shard_id: str, checkpoints: dict[str, Any]) -> bool:
        """Whether the shard may be read now (a child waits until its parent has been read)."""
        return True

    def latest(self, shard_id: str) -> int | None:
        raise NotImplementedError

    def before_timestamp(self, shard_id: str, timestamp: Any) -> int | None:
        raise NotImplementedError

    def records_after(
        self, shard_id: str, checkpoint: int | None, view: KinesisShardView, config: MappingConfig
    ) -> Iterator[SourceRecord]:
        raise NotImplementedError


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


class KinesisSource(StreamSource):
    def __init__(self, arn: str, region: str, account_id: str) -> None:
        super().__init__(arn, region, account_id)
        backend = World.backend("kinesis", account_id, region)
        stream = backend.streams.get(arn.split("/", 1)[1]) if "/" in arn else None
        if stream is None or stream.arn != arn:
            raise LookupError(arn)
        self.stream = stream

    def shard_ids(self) -> list[str]:
        return list(self.stream.shards)

    def latest(self, shard_id: str) -> int | None:
        shard = self.stream.shards[shard_id]
        return int(shard.get_max_sequence_number()) if shard.records else None

    def before_timestamp(self, shard_id: str, timestamp: Any) -> int | None:
        moment = _epoch(timestamp)
        last: int | None = None
        for record in self.stream.shards[shard_id].records.values():
            if record.created_at >= moment:
                break
            last = int(record.sequence_number)
        return last

    def records_after(
        self, shard_id: str, checkpoint: int | None, view: KinesisShardView, config: MappingConfig
    ) -> Iterator[SourceRecord]:
        view.sync(self.stream.shards[shard_id])
        invoke_identity = function_role(config.function_arn)
        for record in view.after(-1 if checkpoint is None else int(checkpoint)):
            data = record.data
            if isinstance(data, bytes):
                data = base64.b64encode(data).decode()
            sequence = str(record.sequence_number)
            event = {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": record.partition_key,
                    "sequenceNumber": sequence,
                    "data": data,
                    "approximateArrivalTimestamp": round(float(record.created_at), 3),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard_id}:{sequence}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": invoke_identity,
                "awsRegion": self.region,
                "eventSourceARN": self.arn,
            }
            size = len(data) + len(record.partition_key) + 400
            yield SourceRecord(int(record.sequence_number), float(record.created_at), event, size)


class DynamoDBSource(StreamSource):
    """A table's stream: its shards in lineage order (components/dynamodb_streams), each read
    only after its parent has been read to its end, as Lambda does."""

    def __init__(self, arn: str, region: str, account_id: str) -> None:
        super().__init__(arn, region, account_id)
        table_name = arn.split(":", 5)[5].split("/")[1]
        backend = World.backend("dynamodb", account_id, region)
        table = backend.tables.get(table_name)
        label = arn.rsplit("/", 1)[-1]
        if table is None or table.stream_shard is None or table.latest_stream_label != label:
            raise LookupError(arn)
        self.shards = {shard.id: shard for shard in dynamodb_streams.lineage(table)}

    def shard_ids(self) -> list[str]:
        return list(self.shards)

    def parent(self, shard_id: str) -> str | None:
        parent = dynamodb_streams.parent(self.shards[shard_id])
        return parent.id if parent is not None and parent.id in self.shards else None

    def ready(self, shard_id: str, checkpoints: dict[str, Any]) -> bool:
        """Whether the shard's parent (if any) has been read to its last record."""
        parent_id = self.parent(shard_id)
        if parent_id is None:
            return True
        parent = self.shards[parent_id]
        if not parent.items:
            return True
        done = checkpoints.get(parent_id)
        return done is not None and int(done) >= dynamodb_streams.ending_sequence(parent)

    def latest(self, shard_id: str) -> int | None:
        shard = self.shards[shard_id]
        if not shard.items:
            return None
        return shard.starting_sequence_number + len(shard.items) - 1

    def before_timestamp(self, shard_id: str, timestamp: Any) -> int | None:
        shard = self.shards[shard_id]
        moment = _epoch(timestamp)
        last: int | None = None
        for index, item in enumerate(shard.items):
            if _epoch(item.record["dynamodb"]["ApproximateCreationDateTime"]) >= moment:
                break
            last = shard.starting_sequence_number + index
        return last

    def records_after(
        self, shard_id: str, checkpoint: int | None, view: KinesisShardView, config: MappingConfig
    ) -> Iterator[SourceRecord]:
        shard = self.shards[shard_id]
        first = shard.starting_sequence_number
        start = 0 if checkpoint is None else max(0, int(checkpoint) - first + 1)
        for index in range(start, len(shard.items)):
            record = shard.items[index].to_json()
            dynamodb = dict(record["dynamodb"])
            arrival = _epoch(dynamodb.get("ApproximateCreationDateTime", time.time()))
            dynamodb["ApproximateCreationDateTime"] = int(arrival)
            event = {
                "eventID": record["eventID"],
                "eventName": record["eventName"],
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": self.region,
                "dynamodb": dynamodb,
                "eventSourceARN": self.arn,
            }
            if "userIdentity" in record:  # a Time to Live delete, made by the DynamoDB service
                event["userIdentity"] = dict(record["userIdentity"])
            size = int(dynamodb.get("SizeBytes", 0)) + 300
            yield SourceRecord(first + index, arrival, event, size)


def retention_seconds(arn: str) -> float:
    """How long the source keeps a record: a Kinesis stream's retention, a DynamoDB stream's 24 hours."""
    source = StreamSource.find(arn)
    if isinstance(source, KinesisSource):
        return float(source.stream.retention_period_hours) * 3600
    return 24 * 3600.0
