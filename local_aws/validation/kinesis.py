"""Kinesis Data Streams' record limits, refused before the record reaches a shard.

- a record's data may be at most 1 MiB (1,048,576 bytes) before base64, the stream's default
  maximum record size: ``ValidationException`` at ``data`` as AWS words it;
- data plus partition key may be at most 1 MiB: ``InvalidArgumentException``;
- PutRecords takes at most 500 records and 5 MiB in all, partition keys included:
  ``ValidationException`` at ``records`` and ``InvalidArgumentException`` "Records size exceeds
  5 MB limit" (AWS's message; its limit is 5 MiB).

CreateStream and UpdateShardCount may not ask for more shards than the account's quota (500, AWS's
default in the large regions): ``LimitExceededException``, as AWS words it. Without it a
``ShardCount`` of a billion would have moto build a billion shards and take the server down. The
quota is checked per request, not summed over the account's streams.

The partition key's 256 characters and the shape of each field are checked from botocore's model
(``shapes.py``) before this module runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from local_aws.validation.errors import AwsError
from local_aws.validation.shapes import blob_length

MAX_RECORD_BYTES = 1024 * 1024
MAX_PUT_RECORDS = 500
MAX_PUT_RECORDS_BYTES = 5 * 1024 * 1024
SHARD_QUOTA = 500


def check(
    operation: str, document: dict[str, Any], open_shards: Callable[[], int], account: str, region: str
) -> None:
    """Raise AWS's error when a request is over a limit; ``open_shards()`` counts the account's shards."""
    if operation in ("CreateStream", "UpdateShardCount"):
        wanted = (
            document.get("ShardCount") if operation == "CreateStream" else document.get("TargetShardCount")
        )
        if isinstance(wanted, int) and not isinstance(wanted, bool) and wanted > 0:
            _check_shard_quota(wanted, open_shards, account, region)
    elif operation == "PutRecord":
        _record_size(document, "data")
    elif operation == "PutRecords":
        records = document.get("Records") or []
        if len(records) > MAX_PUT_RECORDS:
            raise AwsError(
                "ValidationException",
                "1 validation error detected: Value at 'records' failed to satisfy constraint: "
                f"Member must have length less than or equal to {MAX_PUT_RECORDS}",
            )
        total = sum(
            _record_size(record, f"records.{index + 1}.member.data") for index, record in enumerate(records)
        )
        if total > MAX_PUT_RECORDS_BYTES:
            raise AwsError("InvalidArgumentException", "Records size exceeds 5 MB limit")


def _check_shard_quota(wanted: int, open_shards: Callable[[], int], account: str, region: str) -> None:
    # One request over the quota is refused; shards summed over many streams are not (LIMITATIONS).
    if wanted <= SHARD_QUOTA:
        return
    raise AwsError(
        "LimitExceededException",
        f"This request would exceed the shard limit for the account {account} in {region}. "
        f"Current shard count for the account: {open_shards()}. Limit: {SHARD_QUOTA}. "
        f"Number of additional shards that would have resulted from this request: {wanted}. "
        "Refer to the AWS Service Limits page for the current limits.",
    )


def _record_size(record: dict[str, Any], path: str) -> int:
    """The bytes one record counts against the limits: its data plus its partition key."""
    data = blob_length(record.get("Data") or "") if isinstance(record.get("Data") or "", str) else None
    if data is None:
        return 0  # the shape check has already refused it
    if data > MAX_RECORD_BYTES:
        raise AwsError(
            "ValidationException",
            f"1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim={data} cap={data}]' "
            f"at '{path}' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_RECORD_BYTES}",
        )
    key = len(str(record.get("PartitionKey") or "").encode("utf-8"))
    if data + key > MAX_RECORD_BYTES:
        raise AwsError(
            "InvalidArgumentException",
            f"Record size of {data + key} bytes (data plus partition key) exceeds the maximum "
            f"record size of {MAX_RECORD_BYTES} bytes",
        )
    return data + key
