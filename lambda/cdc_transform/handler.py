"""Firehose data-transformation processor: DynamoDB stream records -> flat, newline-delimited JSON.

Firehose reads the Kinesis stream that an EventBridge Pipe fills with DynamoDB stream records (the
event shape Lambda and Pipes use: ``eventID``, ``eventName``, ``dynamodb{ApproximateCreationDateTime,
Keys, NewImage, OldImage, SequenceNumber, ...}``) and invokes this function with the processor
contract::

    in:  {invocationId, deliveryStreamArn, region,
          records: [{recordId, approximateArrivalTimestamp, data: base64, kinesisRecordMetadata}]}
    out: {records: [{recordId, result: "Ok" | "Dropped" | "ProcessingFailed", data: base64,
                     metadata: {partitionKeys: {year, month, day, hour}}}]}

Every input record yields exactly one output record with the same ``recordId``. An ``Ok`` record's
data is one JSON object followed by ``"\\n"``::

    {"event_id": ..., "event_name": "INSERT" | "MODIFY" | "REMOVE",
     "sequence_number": "0000...<40 digits>", "event_time": "2024-05-01T12:34:56.789Z",
     "approximate_creation_time": "2024-05-01T12:34:57.000Z",
     "processed_at": "2024-05-01T12:35:03.120Z", "is_deleted": false,
     ["removed_by": "ttl",] <every item attribute, flat>}

- Item attributes come from NewImage for INSERT/MODIFY; for REMOVE from OldImage, or from Keys alone
  when the stream has no old image (KEYS_ONLY / NEW_IMAGE views). Types are decoded with boto3's
  ``TypeDeserializer``: maps stay objects, lists stay lists, sets become sorted lists, binary becomes
  base64 text, NULL becomes null.
- Numbers are written as their exact decimal text (``349.99`` stays ``349.99``; integral values are
  written without a fraction or exponent). Nothing passes through float.
- ``sequence_number`` is the stream's SequenceNumber left-padded with zeros to 40 digits (the most
  DynamoDB uses), so that comparing the strings orders changes exactly as comparing the numbers would;
  with ``event_id`` it is the key for deduplication and for "latest change per item".
- ``event_time`` is when the change happened, in UTC: for INSERT/MODIFY the item's
  ``EVENT_TIME_ATTRIBUTE`` (default ``updated_at``), an ISO-8601 string; for REMOVE (whose old image
  holds the previous write's time) and whenever the attribute is missing or unparsable, the stream
  record's ApproximateCreationDateTime; if that is missing too, the Firehose record's
  approximateArrivalTimestamp. Because ApproximateCreationDateTime is rounded down to the second, a
  REMOVE's event time is raised to its old image's time attribute when that is later, so that a
  delete never looks older than the write it removes. Order one item's changes by
  ``sequence_number``, not by ``event_time`` (two writes in one millisecond have equal times). Timestamps without an offset are taken as UTC; other offsets are
  converted. All timestamps are written with millisecond precision (sub-millisecond digits are
  truncated) so that their string order is their time order.
- ``processed_at`` is when this function ran (once per invocation): with ``approximate_creation_time``
  it measures how long a change took to reach the lake, which the freshness check uses.
- ``partitionKeys`` year/month/day/hour (zero-padded) come from ``event_time``.
- An item attribute whose name collides with a metadata field is kept as ``item_<name>``.
- Every change is kept (result ``Ok``): DynamoDB writes no stream record for a write that changes
  nothing, and TTL deletes are real deletes of the current state, so there is nothing to drop.
- A REMOVE that DynamoDB's Time to Live made (its ``userIdentity`` is ``{"type": "Service",
  "principalId": "dynamodb.amazonaws.com"}``) is a delete like any other, with ``"removed_by":
  "ttl"`` after ``is_deleted``; other rows have no ``removed_by`` (read as null).
- A record that cannot be transformed (bad base64, not JSON, not a DynamoDB stream record, missing
  eventName/Keys/SequenceNumber, an INSERT/MODIFY without NewImage as a KEYS_ONLY or OLD_IMAGE stream
  would send, an unparsable number or binary) gets ``ProcessingFailed`` with its
  original data, alone: the other records of the batch are unaffected and the handler never raises
  for a single record. Firehose then writes it under the delivery stream's error prefix.

- With ``DECLARED_COLUMNS`` set (a Parquet change log: Firehose's record format conversion keeps only
  the schema table's columns and drops any other key), whatever the declaration lacks is kept in
  ``undeclared``: a JSON object text from the attribute's path to its value (``{"coupon": "X",
  "address.unit": "4B", "items[1].gift": true}``), null when every attribute is declared. Nothing an
  item carries is lost, and the schema drift check names the paths. Names compare case-insensitively,
  as the OpenX JSON SerDe matches keys to columns.

Configuration (environment variables): ``EVENT_TIME_ATTRIBUTE`` (default ``updated_at``);
``DECLARED_COLUMNS``: the declared columns as a JSON tree (a column or struct field is a key, with
null for a value of any shape, an object for a struct's fields, a one-element list for an array of
structs), set by the provisioning with a Parquet change log.

Deployed as a zip of this file and the shared ``lake_rows`` module (timestamps, exact JSON; packed
in by the provisioning's zip builder): standard library and boto3 (part of the Lambda runtime) only.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import Binary, TypeDeserializer
from lake_rows import (
    CHANGE_FIELDS,
    MalformedRecord,
    decimal_text,
    encode_json,
    format_timestamp,
    parse_timestamp,
)
from lake_rows import now as _now

LOG = logging.getLogger(__name__)
LOG.setLevel(logging.INFO)

OK = "Ok"
PROCESSING_FAILED = "ProcessingFailed"

EVENT_NAMES = ("INSERT", "MODIFY", "REMOVE")
SEQUENCE_DIGITS = 40
# Epoch values above this are milliseconds (Kinesis Data Streams for DynamoDB writes milliseconds,
# Lambda/Pipes events write seconds); 1e11 seconds is the year 5138.
_EPOCH_MILLIS_THRESHOLD = Decimal(10) ** 11
_DIGITS = re.compile(rf"[0-9]{{1,{SEQUENCE_DIGITS}}}")


class _StreamDeserializer(TypeDeserializer):
    """boto3's deserializer for stream JSON, where binary values arrive as base64 text."""

    def _deserialize_b(self, value: Any) -> Binary:
        if isinstance(value, (bytes, bytearray)):
            return Binary(bytes(value))
        try:
            return Binary(base64.b64decode(value, validate=True))
        except (binascii.Error, TypeError, ValueError) as exc:
            raise MalformedRecord(f"binary value is not base64: {value!r}") from exc


_DESERIALIZER = _StreamDeserializer()


def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Transform every record of a Firehose invocation; see the module docstring for the contract."""
    time_attribute = os.environ.get("EVENT_TIME_ATTRIBUTE", "updated_at") or "updated_at"
    declared = _declared_columns()
    processed_at = format_timestamp(_now())
    out = [
        transform_record(record, time_attribute, processed_at, declared)
        for record in event.get("records") or []
    ]
    failed = sum(1 for r in out if r["result"] == PROCESSING_FAILED)
    LOG.info("transformed %d records, %d failed", len(out), failed)
    return {"records": out}


handler = lambda_handler


def _declared_columns() -> dict[str, Any] | None:
    """``DECLARED_COLUMNS`` as a tree with lower-case names; None when unset (every key is kept)."""
    text = os.environ.get("DECLARED_COLUMNS")
    if not text:
        return None
    return _lowered(json.loads(text))


def _lowered(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {str(name).lower(): _lowered(sub) for name, sub in tree.items()}
    if isinstance(tree, list):
        return [_lowered(sub) for sub in tree]
    return None


def undeclared(values: dict[str, Any], declared: dict[str, Any], path: str = "") -> dict[str, Any]:
    """The values under ``values`` that the ``declared`` tree lacks, by path (see the module docstring)."""
    found: dict[str, Any] = {}
    for name, value in values.items():
        here = f"{path}{name}"
        if name.lower() not in declared:
            found[here] = value
            continue
        shape = declared[name.lower()]
        if isinstance(shape, dict) and isinstance(value, dict):
            found.update(undeclared(value, shape, f"{here}."))
        elif isinstance(shape, list) and shape and isinstance(shape[0], dict) and isinstance(value, list):
            for index, element in enumerate(value):
                if isinstance(element, dict):
                    found.update(undeclared(element, shape[0], f"{here}[{index}]."))
    return found


def transform_record(
    record: dict[str, Any],
    time_attribute: str = "updated_at",
    processed_at: str | None = None,
    declared: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One Firehose record in, one Firehose result record out (never raises for bad data)."""
    record_id = record.get("recordId")
    try:
        raw = base64.b64decode(record.get("data") or "", validate=True)
        stream_record = json.loads(raw, parse_float=Decimal)
        row = flatten_change(stream_record, time_attribute, record.get("approximateArrivalTimestamp"))
        row = _with_processed_at(row, processed_at or format_timestamp(_now()))
        if declared is not None:
            attributes = {name: value for name, value in row.items() if name not in CHANGE_FIELDS}
            extra = undeclared(attributes, declared)
            row["undeclared"] = encode_json(extra, dynamodb_number_text) if extra else None
        data = encode_json(row, dynamodb_number_text) + "\n"
    except Exception as exc:  # one bad record must not fail the batch
        LOG.warning("record %s failed: %s: %s", record_id, type(exc).__name__, exc)
        return {"recordId": record_id, "result": PROCESSING_FAILED, "data": record.get("data") or ""}
    event_time = row["event_time"]
    return {
        "recordId": record_id,
        "result": OK,
        "data": base64.b64encode(data.encode("utf-8")).decode("ascii"),
        "metadata": {
            "partitionKeys": {
                "year": event_time[0:4],
                "month": event_time[5:7],
                "day": event_time[8:10],
                "hour": event_time[11:13],
            }
        },
    }


def flatten_change(
    stream_record: Any, time_attribute: str = "updated_at", arrival_millis: Any = None
) -> dict[str, Any]:
    """A DynamoDB stream record as one flat row: change metadata first, then the item's attributes."""
    if not isinstance(stream_record, dict):
        raise MalformedRecord("not a JSON object")
    event_name = stream_record.get("eventName")
    if event_name not in EVENT_NAMES:
        raise MalformedRecord(f"eventName must be one of {EVENT_NAMES}, got {event_name!r}")
    change = stream_record.get("dynamodb")
    if not isinstance(change, dict):
        raise MalformedRecord("no 'dynamodb' object")
    keys = change.get("Keys")
    if not isinstance(keys, dict) or not keys:
        raise MalformedRecord("no Keys")
    sequence = change.get("SequenceNumber")
    if not isinstance(sequence, str) or not _DIGITS.fullmatch(sequence):
        raise MalformedRecord(f"SequenceNumber must be up to {SEQUENCE_DIGITS} digits, got {sequence!r}")

    if event_name == "REMOVE":
        image = change.get("OldImage") or keys
    else:
        image = change.get("NewImage")
        if not isinstance(image, dict) or not image:
            raise MalformedRecord(f"{event_name} without NewImage")
    if not isinstance(image, dict):
        raise MalformedRecord("image is not an object")
    attributes = {name: _plain(_DESERIALIZER.deserialize(value)) for name, value in image.items()}

    created = _epoch_to_datetime(change.get("ApproximateCreationDateTime"))
    event_time = None
    if event_name != "REMOVE":
        event_time = parse_timestamp(attributes.get(time_attribute))
    if event_time is None:
        event_time = created or _epoch_to_datetime(arrival_millis, millis=True)
        if event_name == "REMOVE":
            # ApproximateCreationDateTime is rounded down to the second: never let a delete look older
            # than the write it deletes (the old image's own event time).
            last_write = parse_timestamp(attributes.get(time_attribute))
            if event_time is not None and last_write is not None and last_write > event_time:
                event_time = last_write
    if event_time is None:
        raise MalformedRecord(
            "no event time: no usable attribute, ApproximateCreationDateTime or arrival time"
        )

    event_id = stream_record.get("eventID")
    row: dict[str, Any] = {
        "event_id": event_id if isinstance(event_id, str) else None,
        "event_name": event_name,
        "sequence_number": sequence.zfill(SEQUENCE_DIGITS),
        "event_time": format_timestamp(event_time),
        "approximate_creation_time": format_timestamp(created) if created else None,
        "is_deleted": event_name == "REMOVE",
    }
    if event_name == "REMOVE" and _by_time_to_live(stream_record.get("userIdentity")):
        row["removed_by"] = "ttl"
    for name in sorted(attributes):
        out_name = f"item_{name}" if name in CHANGE_FIELDS else name
        row[out_name] = attributes[name]
    return row


def _by_time_to_live(identity: Any) -> bool:
    """Whether a record's userIdentity is DynamoDB's TTL process (keys as DynamoDB writes them, or as
    the API model capitalises them)."""
    if not isinstance(identity, dict):
        return False
    kind = identity.get("type", identity.get("Type"))
    principal = identity.get("principalId", identity.get("PrincipalId"))
    return kind == "Service" and principal == "dynamodb.amazonaws.com"


def _with_processed_at(row: dict[str, Any], processed_at: str) -> dict[str, Any]:
    """Stamp when the transform ran (just before delivery), after the stream's own times."""
    stamped: dict[str, Any] = {}
    for name, value in row.items():
        stamped[name] = value
        if name == "approximate_creation_time":
            stamped["processed_at"] = processed_at
    return stamped


def _epoch_to_datetime(value: Any, millis: bool = False) -> datetime | None:
    """Epoch seconds (or milliseconds) as a UTC datetime; ISO strings are accepted too."""
    if isinstance(value, str):
        parsed = parse_timestamp(value)
        if parsed is not None:
            return parsed
        try:
            value = Decimal(value)
        except ArithmeticError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        return None
    if millis or number > _EPOCH_MILLIS_THRESHOLD:
        number = number / 1000
    try:
        whole = int(number)
        micros = int((number - whole) * 1_000_000)
        return datetime.fromtimestamp(whole, UTC).replace(microsecond=micros) if micros >= 0 else None
    except (OverflowError, OSError, ValueError):
        return None


def _plain(value: Any) -> Any:
    """A deserialized DynamoDB value as JSON-ready data: sets sorted into lists, binary as base64."""
    if isinstance(value, Binary):
        return base64.b64encode(value.value).decode("ascii")
    if isinstance(value, (set, frozenset)):
        items = list(value)
        if items and isinstance(items[0], Binary):
            return [base64.b64encode(b).decode("ascii") for b in sorted(i.value for i in items)]
        return sorted(items)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def dynamodb_number_text(number: Decimal) -> str:
    """A DynamoDB number's exact digits; an integral value without a fraction (``2.0`` -> ``2``), so
    that readers infer an integer column."""
    text = decimal_text(number)
    if "." in text and number == number.to_integral_value():
        text = text.rstrip("0").rstrip(".")
    return text
