"""A patch on moto's Kinesis shards: the first and last sequence numbers without listing every key.

It serves every writer of Kinesis records (Pipes first of all), so it belongs to none of them."""

from __future__ import annotations

from typing import Any


def _fast_max_sequence_number(self: Any) -> int:
    return next(reversed(self.records)) if self.records else 0


def _fast_min_sequence_number(self: Any) -> int:
    return next(iter(self.records)) if self.records else 0


def install_kinesis_shard_patch() -> None:
    """moto finds a shard's last sequence number by listing every key on each PutRecord.

    That makes writing n records O(n^2), far too slow for a pipe draining 100,000 changes. The
    keys are kept in insertion (= sequence) order, so the first and last are the min and max.
    """
    from moto.kinesis.models import Shard

    if Shard.get_max_sequence_number is _fast_max_sequence_number:
        return
    Shard.get_max_sequence_number = _fast_max_sequence_number  # type: ignore[method-assign]
    Shard.get_min_sequence_number = _fast_min_sequence_number  # type: ignore[method-assign]
