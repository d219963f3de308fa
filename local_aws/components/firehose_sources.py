"""Reading a delivery stream's source: DirectPut records from the store, or moto's Kinesis shards.

A KinesisStreamAsSource stream is read from moto's shards after the per-shard checkpoint in the
store (set at LATEST when the delivery stream was created); a stream that appears only after the
delivery stream is read from its start. The source's RoleARN must be allowed to read the stream
(`local_aws.iam.service_steps.firehose_source`); a denial is logged once per reason, to the server
log and the delivery stream's error log, and nothing is read until it is lifted. At most
``MAX_PENDING_BYTES`` are read ahead of delivery, ``MAX_PULL_RECORDS`` at a time.

LIMITATIONS: record de-aggregation (KPL aggregated records) is not done; shards are read in
moto's order with no per-shard read limit, and resharding (parent and child shards) is not
ordered as Firehose orders it.
"""

from __future__ import annotations

import base64
import logging
import time
from typing import Any

from local_aws.components.firehose_destination import log_error
from local_aws.components.firehose_model import MIB, Delivery, Settings, SourceRecord
from local_aws.world import World

# Bound on records read ahead of delivery, so a large backlog does not sit in memory all at once.
MAX_PENDING_BYTES = 32 * MIB
MAX_PULL_RECORDS = 10_000


def kinesis_stream(world: World, stream_arn: str) -> Any:
    """moto's Kinesis stream for an ARN, or None when there is none (yet)."""
    try:
        _, _, _, region, account_id, resource = stream_arn.split(":", 5)
        backend = world.backend("kinesis", account_id, region)
    except (ValueError, KeyError):
        return None
    return backend.streams.get(resource.split("/", 1)[-1])


def enqueue(delivery: Delivery, record: SourceRecord) -> None:
    if delivery.window_start is None:
        delivery.window_start = record.pulled_at
    delivery.pending.append(record)
    delivery.pending_bytes += len(record.data)


def pull(
    world: World,
    log: logging.Logger,
    delivery: Delivery,
    settings: Settings,
    model: Any,
    state: dict[str, Any],
) -> None:
    """Read what the source has beyond this delivery's cursors (the caller holds the world lock)."""
    if delivery.pending_bytes >= MAX_PENDING_BYTES or settings.bucket is None:
        return
    now = time.monotonic()
    if settings.kinesis_arn is None:
        _pull_direct(delivery, state, now)
        return
    stream = kinesis_stream(world, settings.kinesis_arn)
    if stream is None:
        return
    if _source_denied(world, log, settings, model, state):
        return
    if not state.get("source_seen"):
        state["source_seen"] = True  # the stream appeared after the delivery stream: read all of it
    budget = MAX_PULL_RECORDS
    for shard_id, shard in stream.shards.items():
        budget = _pull_shard(delivery, state, shard_id, shard.records, budget, now)


def _pull_direct(delivery: Delivery, state: dict[str, Any], now: float) -> None:
    direct = state["direct"]
    if direct and direct[-1][0] > delivery.direct_pulled:
        start = max(0, delivery.direct_pulled + 1 - direct[0][0])
        for seq, record_id, arrival, data in direct[start : start + MAX_PULL_RECORDS]:
            enqueue(delivery, SourceRecord(record_id, arrival, data, "direct", seq, None, now))
            delivery.direct_pulled = seq


def _pull_shard(
    delivery: Delivery, state: dict[str, Any], shard_id: str, records: Any, budget: int, now: float
) -> int:
    """Enqueue one shard's records after its cursor, up to ``budget``; what is left of the budget."""
    cursor = delivery.cursors.get(shard_id)
    if cursor is None:
        cursor = state["shards"].get(shard_id, 0)
    if not records:
        delivery.cursors[shard_id] = cursor
        return budget
    last = next(reversed(records))
    seq = cursor + 1
    while seq <= last and budget > 0:
        record = records.get(seq)
        if record is None:  # a gap in the numbering: find the next number the slow way
            later = [number for number in records if number > cursor]
            if not later:
                break
            seq = later[0]
            record = records[seq]
        arrival = int(record.created_at * 1000)
        metadata = {
            "shardId": shard_id,
            "partitionKey": record.partition_key,
            "approximateArrivalTimestamp": arrival,
            "sequenceNumber": str(seq),
            "subsequenceNumber": "",
        }
        data = base64.b64decode(record.data)
        enqueue(delivery, SourceRecord(f"{shard_id}:{seq}", arrival, data, shard_id, seq, metadata, now))
        cursor = seq
        seq += 1
        budget -= 1
    delivery.cursors[shard_id] = cursor
    return budget


def _source_denied(
    world: World, log: logging.Logger, settings: Settings, model: Any, state: dict[str, Any]
) -> bool:
    """Whether the source's role may not read the stream (local_aws.iam); logged once per reason."""
    from local_aws.iam import service_steps

    role = str((model.source or {}).get("RoleARN") or "")
    denied = role and service_steps.firehose_source(world, settings.arn, role, settings.kinesis_arn or "")
    message = denied.message if denied else None
    if message != state.get("source_denied"):
        state["source_denied"] = message
        if message:
            log.warning("firehose %s: cannot read its source: %s", settings.name, message)
            log_error(world, log, settings, settings.bucket or "", "Kinesis.AccessDenied", message)
    return bool(message)
