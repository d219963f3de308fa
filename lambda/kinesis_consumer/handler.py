"""Kinesis consumer: a batch of Kinesis records (an event source mapping's event) -> rows in the lake.

Seed 001's Lambda: a producer puts JSON events on a Kinesis stream, the event source mapping calls
this function with the Lambda Kinesis event::

    {"Records": [{"eventID": "shardId-000000000000:<sequence>", "eventSourceARN": ...,
                  "kinesis": {"partitionKey", "sequenceNumber", "data": base64,
                              "approximateArrivalTimestamp": <epoch seconds>}}, ...]}

and every record becomes one flat JSON row, written to
``s3://$BUCKET/$DATASET/year=YYYY/month=MM/day=DD/hour=HH/<object>`` by the row's event time (UTC).
A row carries the same metadata columns the CDC transform writes, so the project's generic SQL
(deduplicated changes, current state, freshness and key checks) works unchanged::

    {"event_id": <the event's key>, "event_name": "INSERT", "sequence_number": "000...<129 digits>",
     "event_time": "2024-05-01T12:34:56.789Z", "approximate_creation_time": "2024-05-01T12:34:57.120Z",
     "processed_at": "2024-05-01T12:34:58.003Z", "is_deleted": false, <every event field, flat>}

- ``event_id`` is the event's ``KEY_ATTRIBUTE`` (default ``event_id``): the producer's id for the
  event, so a record the producer had to send twice is one event after deduplication.
- ``sequence_number`` is the Kinesis sequence number left-padded with zeros to 129 digits, the most
  the Kinesis API allows (pattern ``0|([1-9]\\d{0,128})``; today's numbers have 56), so comparing
  the strings orders records exactly as comparing the numbers does.
- ``event_time`` is the event's ``EVENT_TIME_ATTRIBUTE`` (default ``event_time``), ISO-8601, in UTC
  with milliseconds (fixed width, so string order is time order); when it is missing or unparsable,
  the record's arrival time. ``approximate_creation_time`` is the record's
  ``approximateArrivalTimestamp`` (when Kinesis accepted it) and ``processed_at`` when this
  invocation ran: their difference is what the freshness check measures.
- Numbers keep their exact decimal text (``59.90`` stays ``59.90``; parsed as Decimal, never float).
- An event field whose name is a metadata column (other than the key and the event time, which
  *are* those columns) is kept as ``item_<name>``.

Objects: one per (batch, partition), named ``<shardId>-<first sequence>-<last sequence>.json``
from the batch's first and last Kinesis sequence numbers (padded as above); with ``PARQUET_COLUMNS``
set, ``.parquet``: one SNAPPY Parquet object with the change table's schema (`parquet_rows`).
Lambda retries a failed
batch from its first record, so a retry of the same records writes the same keys and overwrites its
own objects instead of duplicating them; a retry that reads a different range (more records had
arrived, or the mapping bisected the batch) writes new objects beside the old ones, and the
deduplicated changes view removes those copies by ``event_id``.

Malformed records (data that is not base64, not JSON, not a JSON object, or without the key) can
never succeed, so they are not retried (no ReportBatchItemFailures): each batch writes them to
``errors/$DATASET/processing-failed/year=/month=/day=/hour=/<same object name>`` by arrival hour,
one JSON line per record ``{"rawData": base64, "errorCode", "errorMessage", "sequenceNumber",
"partitionKey", "approximateArrivalTimestamp"}`` (the shape of Firehose's error records), and the
batch goes on. With Parquet, a row a declared column's type cannot hold (``"lots"`` for a bigint)
goes the same way to ``errors/$DATASET/format-conversion-failed/...``, its ``rawData`` the row's
JSON, as Firehose's record format conversion files such a row. An S3 failure raises, so the event
source mapping retries the batch.

Configuration (environment): ``BUCKET`` and ``DATASET`` (required), ``KEY_ATTRIBUTE`` (default
``event_id``), ``EVENT_TIME_ATTRIBUTE`` (default ``event_time``), ``PARQUET_COLUMNS`` (the declared
columns as a JSON list of ``[name, type]``; unset: JSON lines).

Deployed as a zip of this folder and the shared ``lake_rows`` module (timestamps, exact JSON; packed
in by the provisioning's zip builder): standard library and boto3 (part of the Lambda runtime) only,
and for Parquet pyarrow, from AWS's managed layer AWS SDK for pandas (imported only then).
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

from lake_rows import (
    CHANGE_FIELDS,
    MalformedRecord,
    encode_json,
    format_timestamp,
    parse_timestamp,
    partition_path,
)
from lake_rows import now as _now

LOG = logging.getLogger(__name__)
LOG.setLevel(logging.INFO)

#: Kinesis sequence numbers match ``0|([1-9]\d{0,128})``: at most 129 digits.
SEQUENCE_DIGITS = 129
ERROR_CODE = "Lambda.ProcessingFailed"
#: Firehose's code for a row its record format conversion could not write (the same contract here).
CONVERSION_ERROR_CODE = "DataFormatConversion.MalformedData"
_DIGITS = re.compile(rf"0|[1-9][0-9]{{0,{SEQUENCE_DIGITS - 1}}}")

_client: Any = None
#: The Parquet schema (`parquet_rows.ChangeSchema`), False for JSON lines; read on first use.
_schema: Any = None


def _s3() -> Any:
    """One client per execution environment (created on first use, reused by warm invocations)."""
    global _client
    if _client is None:
        import boto3

        _client = boto3.client("s3")
    return _client


def _parquet_schema() -> Any:
    """The change table's schema when ``PARQUET_COLUMNS`` is set (pyarrow comes from the layer)."""
    text = os.environ.get("PARQUET_COLUMNS")
    if not text:
        return None
    from parquet_rows import ChangeSchema

    return ChangeSchema.from_env(text)


def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Write the batch's rows (and malformed records) to S3; raise if S3 fails so the batch is retried."""
    global _schema
    if _schema is None:
        _schema = _parquet_schema() or False
    return handle(
        event,
        _s3(),
        bucket=os.environ["BUCKET"],
        dataset=os.environ["DATASET"],
        key_attribute=os.environ.get("KEY_ATTRIBUTE") or "event_id",
        time_attribute=os.environ.get("EVENT_TIME_ATTRIBUTE") or "event_time",
        schema=_schema or None,
    )


handler = lambda_handler


def handle(
    event: dict[str, Any],
    s3: Any,
    *,
    bucket: str,
    dataset: str,
    key_attribute: str = "event_id",
    time_attribute: str = "event_time",
    schema: Any = None,
) -> dict[str, Any]:
    """The handler's work with its client and configuration passed in; returns what was written.

    ``schema`` (a `parquet_rows.ChangeSchema`) writes each partition's rows as one Parquet object;
    without it they are JSON lines."""
    records = event.get("Records") or []
    if not records:
        return {"rows": 0, "malformed": 0, "unconvertible": 0, "objects": []}
    processed_at = format_timestamp(_now())
    name = object_name(records)
    if schema is not None:
        name = name.removesuffix(".json") + ".parquet"
    if schema is not None:
        from parquet_rows import DoesNotFit  # pyarrow (the layer's) only when writing Parquet
    # S3 key -> rows (dicts for Parquet, JSON lines otherwise), in record order.
    rows: dict[str, list[Any]] = {}
    errors: dict[str, list[str]] = {}
    malformed = unconvertible = 0
    for record in records:
        kinesis = record.get("kinesis") or {}
        arrival_hour = partition_path(format_timestamp(_arrival(kinesis)))
        try:
            row = to_row(record, key_attribute, time_attribute, processed_at)
            line = encode_json(row)
        except MalformedRecord as exc:
            LOG.warning("record %s is malformed: %s", kinesis.get("sequenceNumber"), exc)
            key = f"errors/{dataset}/processing-failed/{arrival_hour}{_json_name(name)}"
            errors.setdefault(key, []).append(_error_line(kinesis, str(exc)))
            malformed += 1
            continue
        value: Any = line
        if schema is not None:
            try:
                value = schema.convert(row)
            except DoesNotFit as exc:
                LOG.warning("record %s does not fit the table: %s", kinesis.get("sequenceNumber"), exc)
                key = f"errors/{dataset}/format-conversion-failed/{arrival_hour}{_json_name(name)}"
                errors.setdefault(key, []).append(_conversion_error_line(kinesis, line, str(exc)))
                unconvertible += 1
                continue
        rows.setdefault(f"{dataset}/{partition_path(row['event_time'])}{name}", []).append(value)
    written = []
    # No try/except around the puts: an S3 error fails the invocation and the mapping retries the batch.
    for key, values in rows.items():
        if schema is not None:
            s3.put_object(Bucket=bucket, Key=key, Body=schema.parquet(values))
        else:
            s3.put_object(Bucket=bucket, Key=key, Body=_lines(values), ContentType="application/x-ndjson")
        written.append(key)
    for key, lines in errors.items():
        s3.put_object(Bucket=bucket, Key=key, Body=_lines(lines), ContentType="application/x-ndjson")
        written.append(key)
    row_count = sum(len(v) for v in rows.values())
    LOG.info(
        "wrote %d rows, %d malformed and %d unconvertible records to %d objects",
        row_count,
        malformed,
        unconvertible,
        len(written),
    )
    return {"rows": row_count, "malformed": malformed, "unconvertible": unconvertible, "objects": written}


def _lines(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


def _json_name(name: str) -> str:
    """Error objects are JSON lines whatever the lake's format."""
    return name.removesuffix(".parquet").removesuffix(".json") + ".json"


def object_name(records: list[dict[str, Any]]) -> str:
    """``<shardId>-<first sequence>-<last sequence>.json``: the same batch always gets the same name."""
    first = records[0]
    shard = str(first.get("eventID") or "").split(":", 1)[0] or "shard"
    shard = re.sub(r"[^A-Za-z0-9_.-]", "_", shard)
    return f"{shard}-{_sequence_text(first)}-{_sequence_text(records[-1])}.json"


def _sequence_text(record: dict[str, Any]) -> str:
    sequence = str((record.get("kinesis") or {}).get("sequenceNumber") or "0")
    return sequence.zfill(SEQUENCE_DIGITS) if _DIGITS.fullmatch(sequence) else "0" * SEQUENCE_DIGITS


def to_row(
    record: dict[str, Any],
    key_attribute: str = "event_id",
    time_attribute: str = "event_time",
    processed_at: str | None = None,
) -> dict[str, Any]:
    """One Kinesis event record as one flat row (metadata first); `MalformedRecord` when it cannot be."""
    kinesis = record.get("kinesis")
    if not isinstance(kinesis, dict):
        raise MalformedRecord("no 'kinesis' object")
    sequence = kinesis.get("sequenceNumber")
    if not isinstance(sequence, str) or not _DIGITS.fullmatch(sequence):
        raise MalformedRecord(f"sequenceNumber must be up to {SEQUENCE_DIGITS} digits, got {sequence!r}")
    try:
        raw = base64.b64decode(kinesis.get("data") or "", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedRecord(f"data is not base64: {exc}") from None
    try:
        payload = json.loads(raw.decode("utf-8"), parse_float=Decimal, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedRecord(f"data is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise MalformedRecord(f"data is JSON but not an object ({type(payload).__name__})")
    key = payload.get(key_attribute)
    if not isinstance(key, str) or not key.strip():
        raise MalformedRecord(f"no {key_attribute!r} (a non-empty string)")
    arrival = _arrival(kinesis)
    event_time = parse_timestamp(payload.get(time_attribute)) or arrival
    row: dict[str, Any] = {
        "event_id": key,
        "event_name": "INSERT",
        "sequence_number": sequence.zfill(SEQUENCE_DIGITS),
        "event_time": format_timestamp(event_time),
        "approximate_creation_time": format_timestamp(arrival),
        "processed_at": processed_at or format_timestamp(_now()),
        "is_deleted": False,
    }
    for name, value in payload.items():
        if name in (key_attribute, time_attribute) and name in row:
            continue  # it is the metadata column itself
        out_name = f"item_{name}" if name in CHANGE_FIELDS else name
        row[out_name] = value
    return row


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _arrival(kinesis: dict[str, Any]) -> datetime:
    """approximateArrivalTimestamp (epoch seconds with a fraction) as UTC; now when it is unusable."""
    value = kinesis.get("approximateArrivalTimestamp")
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            pass
    return _now()


def _conversion_error_line(kinesis: dict[str, Any], row_json: str, message: str) -> str:
    """A row the table's types cannot hold, in the shape of Firehose's conversion error records:
    ``rawData`` is the row (its ``event_time`` names the hour it was meant for)."""
    return json.dumps(
        {
            "rawData": base64.b64encode(row_json.encode("utf-8")).decode("ascii"),
            "ErrorCode": CONVERSION_ERROR_CODE,
            "ErrorMessage": message,
            "sequenceNumber": kinesis.get("sequenceNumber"),
            "approximateArrivalTimestamp": format_timestamp(_arrival(kinesis)),
        },
        ensure_ascii=False,
    )


def _error_line(kinesis: dict[str, Any], message: str) -> str:
    data = kinesis.get("data")
    return json.dumps(
        {
            "rawData": data if isinstance(data, str) else "",
            "errorCode": ERROR_CODE,
            "errorMessage": message,
            "sequenceNumber": kinesis.get("sequenceNumber"),
            "partitionKey": kinesis.get("partitionKey"),
            "approximateArrivalTimestamp": format_timestamp(_arrival(kinesis)),
        },
        ensure_ascii=False,
    )
