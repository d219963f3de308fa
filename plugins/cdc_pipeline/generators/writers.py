"""Where generated writes go: DynamoDB (BatchWriteItem) or Kinesis (PutRecords), batched in order.

A writer turns one write into a request, says which ordering group it belongs to (the item's key
for DynamoDB, the record's partition key for Kinesis) and sends a batch, retrying what the service
did not take. `Batch` holds requests until the writer's limit; it never holds two writes of one
group, so a group's writes reach the service, and its stream, in the order they were made:
DynamoDB refuses two writes of one key in a batch and leaves their order undefined, and a Kinesis
record sent again after a failure must not overtake a later record of the same user.

DynamoDB: up to 25 requests a batch; updates are whole-item puts (a MODIFY record with both
images); numbers must be Decimals or ints (boto3's TypeSerializer refuses floats). Unprocessed
items are sent again with backoff, up to `RETRIES` times.
Kinesis: up to 500 records and 5 MiB (data plus partition keys) a batch; each record's data is the
item as compact JSON with exact decimals. Failed records (``FailedRecordCount``, throttling) are
sent again, alone, before the next batch, up to `RETRIES` times.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar

from boto3.dynamodb.types import TypeSerializer

LOG = logging.getLogger(__name__)

BATCH_WRITE_LIMIT = 25  # BatchWriteItem's maximum number of requests
PUT_RECORDS_LIMIT = 500  # PutRecords' maximum number of records
PUT_RECORDS_BYTES = 5 * 1024 * 1024  # PutRecords' maximum request size (data plus partition keys)
RETRIES = 8


def send_until_taken(
    send: Callable[[list[Any]], list[Any]], requests: list[Any], sleep: Callable[[float], None]
) -> tuple[list[Any], int]:
    """Send, then send again what the service did not take (`send` returns it), backing off between
    rounds (exponential, capped, as the SDK guides advise). ``(left after RETRIES, resent)``."""
    pending, resent = requests, 0
    for attempt in range(RETRIES + 1):
        pending = send(pending)
        if not pending:
            break
        if attempt < RETRIES:
            resent += len(pending)
            sleep(min(0.05 * 2**attempt, 2.0))
    return pending, resent


class Writer(ABC):
    """A destination of generated writes: its requests, batch limits and retries.

    A writer holds the client, the destination, the ordering key and how many requests it sent again.
    """

    #: Most requests in one batch; most bytes in one batch (None: no byte limit to keep).
    limit: ClassVar[int]
    max_bytes: ClassVar[int | None]
    #: What one request is called, and what became of those left, in the error after the retries.
    noun: ClassVar[str]
    failure: ClassVar[str]

    def __init__(self, client: Any, destination: str, key: str, sleep: Callable[[float], None]) -> None:
        self.client = client
        self.destination = destination
        self.key = key
        self.sleep = sleep
        #: Requests sent again after the service refused them for now.
        self.resent = 0

    @abstractmethod
    def request(self, op: str, key: str, item: dict[str, Any] | None) -> tuple[str, Any, int]:
        """``(group, request, size)`` of one write; `item` is None for a delete of `key`."""

    def send(self, requests: list[Any]) -> None:
        """Send one batch, retrying what was not taken; raise when it still is not."""
        left, resent = send_until_taken(self._send_once, requests, self.sleep)
        self.resent += resent
        if left:
            raise RuntimeError(f"{len(left)} {self.noun} to {self.destination} {self.failure}")

    @abstractmethod
    def _send_once(self, requests: list[Any]) -> list[Any]:
        """Send one batch; return the requests the service did not take."""


class DynamoDBWriter(Writer):
    """BatchWriteItem into one table (`destination`): puts of whole items, deletes by `key`."""

    limit = BATCH_WRITE_LIMIT
    max_bytes = None
    noun = "writes"
    failure = "stayed unprocessed after retries"

    def __init__(self, client: Any, destination: str, key: str, sleep: Callable[[float], None]) -> None:
        super().__init__(client, destination, key, sleep)
        self._serializer = TypeSerializer()

    def request(self, op: str, key: str, item: dict[str, Any] | None) -> tuple[str, Any, int]:
        if item is None:
            return key, {"DeleteRequest": {"Key": {self.key: self._serializer.serialize(key)}}}, 0
        typed = {name: self._serializer.serialize(value) for name, value in item.items()}
        return key, {"PutRequest": {"Item": typed}}, 0

    def _send_once(self, requests: list[Any]) -> list[Any]:
        response = self.client.batch_write_item(RequestItems={self.destination: requests})
        return (response.get("UnprocessedItems") or {}).get(self.destination, [])


def encode_record(item: dict[str, Any]) -> bytes:
    """A record's data: compact JSON with Decimals as exact numbers (``59.90``, never a float)."""
    parts = []
    for name, value in item.items():
        text = format(value, "f") if isinstance(value, Decimal) else json.dumps(value)
        parts.append(f"{json.dumps(name)}:{text}")
    return ("{" + ",".join(parts) + "}").encode("utf-8")


class KinesisWriter(Writer):
    """PutRecords onto one stream (`destination`), each item a JSON record whose partition key is its
    `key` attribute."""

    limit = PUT_RECORDS_LIMIT
    max_bytes = PUT_RECORDS_BYTES
    noun = "records"
    failure = f"still failed after {RETRIES} retries"

    def request(self, op: str, key: str, item: dict[str, Any] | None) -> tuple[str, Any, int]:
        if op != "insert" or item is None:
            raise ValueError(f"a Kinesis stream only takes new records, not a {op} of {key!r}")
        record = {"Data": encode_record(item), "PartitionKey": item[self.key]}
        return record["PartitionKey"], record, len(record["Data"]) + len(record["PartitionKey"])

    def _send_once(self, records: list[Any]) -> list[Any]:
        response = self.client.put_records(StreamName=self.destination, Records=records)
        if not response.get("FailedRecordCount"):
            return []
        # Results are in request order; a failed one has ErrorCode instead of SequenceNumber.
        failed = [
            record
            for record, result in zip(records, response["Records"], strict=True)
            if result.get("ErrorCode")
        ]
        codes = sorted({r["ErrorCode"] for r in response["Records"] if r.get("ErrorCode")})
        LOG.info("%d records failed (%s)", len(failed), ", ".join(codes))
        return failed


def writer_for(
    target: str, client: Any, destination: str, key: str, sleep: Callable[[float], None]
) -> Writer:
    """The writer of a dataset's declared `target`; `key` is the item key (DynamoDB) or partition key."""
    if target == "dynamodb":
        return DynamoDBWriter(client, destination, key, sleep)
    if target == "kinesis":
        return KinesisWriter(client, destination, key, sleep)
    raise ValueError(f"unknown generator target {target!r}: 'dynamodb' or 'kinesis'")


class Batch:
    """Requests waiting to be sent: at most the writer's limit, never two of one group."""

    def __init__(self, writer: Writer, on_sent: Callable[[list[str]], None]) -> None:
        self.writer = writer
        self.on_sent = on_sent
        self._requests: list[Any] = []
        self._ops: list[str] = []
        self._groups: set[str] = set()
        self._bytes = 0

    def add(self, op: str, key: str, item: dict[str, Any] | None, *, send_now: bool = False) -> None:
        """Queue one write (sending the batch first when it cannot join), and send a full batch."""
        group, request, size = self.writer.request(op, key, item)
        max_bytes = self.writer.max_bytes
        if group in self._groups or (max_bytes is not None and self._bytes + size > max_bytes):
            self.flush()
        self._requests.append(request)
        self._ops.append(op)
        self._groups.add(group)
        self._bytes += size
        if len(self._requests) >= self.writer.limit or send_now:
            self.flush()

    def flush(self) -> None:
        if not self._requests:
            return
        self.writer.send(self._requests)
        ops = self._ops
        self._requests, self._ops, self._groups, self._bytes = [], [], set(), 0
        self.on_sent(ops)
