"""Firehose's buffers: records taken for the processor, routed to their partition's group or to the
error prefix's, with the source positions that a flush acknowledges.

Records pass through the ProcessingConfiguration: the Lambda processor's results (Ok to the record's
partition, Dropped nowhere, ProcessingFailed and failed invocations to the error prefix, in AWS's
error-record format), MetadataExtraction (inline JSON parsing) for dynamic partitioning keys, and
AppendDelimiterToRecord. These functions touch only the `Delivery` they are given.

LIMITATIONS: MetadataExtraction supports only ``{key: .field.subfield}`` queries, not full JQ. With
dynamic partitioning all partitions are flushed together (AWS buffers each partition separately).
"""

from __future__ import annotations

from typing import Any

from local_aws.components import firehose_processing as processing
from local_aws.components.firehose_model import Delivery, Group, Outcome, Settings, SourceRecord, now_ms


def take(delivery: Delivery, limit: int) -> list[SourceRecord]:
    """The next batch of pending records for the processor: up to ``limit`` bytes, at least one record."""
    batch: list[SourceRecord] = []
    size = 0
    while delivery.pending and (not batch or size + len(delivery.pending[0].data) <= limit):
        record = delivery.pending.popleft()
        size += len(record.data)
        batch.append(record)
    delivery.pending_bytes -= size
    return batch


def mark(delivery: Delivery, record: SourceRecord) -> None:
    """Remember the record's source position: the next flush acknowledges it."""
    if delivery.positions.get(record.shard, -1) < record.seq:
        delivery.positions[record.shard] = record.seq


def route(
    delivery: Delivery,
    settings: Settings,
    record: SourceRecord,
    data: bytes,
    lambda_keys: dict[str, str] | None,
    attempts: int,
) -> None:
    """Put one successfully processed record in its partition's group."""
    mark(delivery, record)
    procs = settings.processors
    key: tuple[Any, ...] = ()
    query_keys = None
    if settings.dynamic:
        try:
            if procs.query is not None:
                query_keys = processing.extract_keys(data, procs.query)
            key = tuple(query_keys[name] for name in settings.query_needed) + tuple(  # type: ignore[index]
                (lambda_keys or {})[name] for name in settings.lambda_needed
            )
            if not all(key):
                raise ValueError("a partition key is empty")
        except (ValueError, KeyError, TypeError) as exc:
            code, message = processing.PARTITION_KEYS_FAILED
            fail(delivery, record, "dynamic-partitioning-failed", code, f"{message}: {exc}", attempts, None)
            return
    if procs.delimiter:
        data = data + procs.delimiter
    group = delivery.ready.get(key)
    if group is None:
        group = delivery.ready[key] = Group(keys=(query_keys, lambda_keys))
    group.add(data, record.arrival_ms)
    if settings.conversion is not None:
        group.sources.append((record.arrival_ms, record.kinesis))
    delivery.ready_bytes += len(data)


def fail(
    delivery: Delivery,
    record: SourceRecord,
    error_type: str,
    code: str,
    message: str,
    attempts: int,
    lambda_arn: str | None,
) -> None:
    """Put one record's error record in the group of its error type (the error prefix)."""
    mark(delivery, record)
    line = processing.error_line(
        attempts, record.arrival_ms, code, message, now_ms(), record.data, lambda_arn
    )
    group = delivery.errors.setdefault(error_type, Group())
    group.add(line, record.arrival_ms)


def apply(delivery: Delivery, settings: Settings, batch: list[SourceRecord], outcome: Outcome) -> None:
    """Route one batch's results: Ok to its partition, Dropped nowhere, failures to the error prefix."""
    lambda_arn = settings.processors.lambda_arn
    if outcome.answered is None:
        code, message = outcome.failure
        for record in batch:
            fail(delivery, record, "processing-failed", code, message, outcome.attempts, lambda_arn)
        return
    for record in batch:
        transformed = outcome.answered[record.record_id]
        if transformed.result == "Ok":
            route(delivery, settings, record, transformed.data, transformed.partition_keys, outcome.attempts)
        elif transformed.result == "Dropped":
            mark(delivery, record)
        else:
            code, message = processing.PROCESSING_FAILED
            fail(delivery, record, "processing-failed", code, message, outcome.attempts, lambda_arn)
