"""Patches on moto's Kinesis shards: AWS-shaped sequence numbers, and the first and last without
listing every key.

It serves every writer of Kinesis records (Pipes first of all), so it belongs to none of them.

Kinesis sequence numbers are 56-digit decimal strings that increase within a shard; moto numbers
each shard's records 1, 2, 3. Here a shard's numbers start from a 56-digit base made of the
shard's index and the time of its first record, and go up by one per record.

LIMITATIONS: AWS's numbers also grow between records by more than one and across the shards of a
stream in time order; here they go up by one within a shard, and only a shard's first record
fixes where its numbers start. SubSequenceNumber (aggregated records) is not produced.
"""

from __future__ import annotations

import time
from typing import Any

SEQUENCE_DIGITS = 56


def _fast_max_sequence_number(self: Any) -> int:
    return next(reversed(self.records)) if self.records else 0


def _fast_min_sequence_number(self: Any) -> int:
    return next(iter(self.records)) if self.records else 0


def _base(shard: Any) -> int:
    """Where a shard's numbering starts: '49', the time in ms and the shard's index, then zeros."""
    index = int(str(shard.shard_id).rsplit("-", 1)[-1] or 0) % 10**6
    head = f"49{int(time.time() * 1000):015d}{index:06d}"
    return int(head.ljust(SEQUENCE_DIGITS, "0"))


def _put_record(self: Any, partition_key: str, data: str, explicit_hash_key: str) -> str:
    from moto.kinesis.models import Record

    if self.records:
        last = next(reversed(self.records))
    else:  # the shard's first record, or every earlier one expired: never number backwards
        last = getattr(self, "local_aws_last_sequence", None) or _base(self)
    sequence_number = last + 1
    self.records[sequence_number] = Record(partition_key, data, sequence_number, explicit_hash_key)
    self.local_aws_last_sequence = sequence_number
    return str(sequence_number)


def install_kinesis_shard_patch() -> None:
    """moto finds a shard's last sequence number by listing every key on each PutRecord.

    That makes writing n records O(n^2), far too slow for a pipe draining 100,000 changes. The
    keys are kept in insertion (= sequence) order, so the first and last are the min and max.
    The same patch gives records AWS's 56-digit sequence numbers.
    """
    from moto.kinesis.models import Shard

    if Shard.get_max_sequence_number is _fast_max_sequence_number:
        return
    Shard.get_max_sequence_number = _fast_max_sequence_number  # type: ignore[method-assign]
    Shard.get_min_sequence_number = _fast_min_sequence_number  # type: ignore[method-assign]
    Shard.put_record = _put_record  # type: ignore[method-assign]
