"""Records that failed delivery, counted by the window in which they can arrive for an hour's run.

Firehose files a failed record under ``ErrorOutputPrefix`` by its error type
(``!{firehose:error-output-type}``) and its *arrival* time (``!{timestamp}`` is the oldest record's
arrival, not the event's time), and the Kinesis consumer files its malformed records by arrival hour
too. So the errors of event hour H are not under ``.../hour=H/`` when H is backfilled or caught up,
and in the live hour some arrive after H ends.

The run of hour H therefore counts the error records that *arrived* in ``[H + shift, H + 1h + shift)``,
``shift`` being the wait the run gives delivery (Firehose's buffer interval plus the delivery grace):
consecutive runs' windows tile time, so every error record is counted by exactly one run, the first
that could see it. An error that belongs to an earlier hour (its raw record's event time, when it can
be decoded) is still counted, and named with its hour (``other_hours``): a late error reaches a
later run's check instead of none.

Three error types hold the lake's records (``ERROR_TYPES``), and the check counts each apart:
``processing-failed``, records the transform or the Kinesis consumer could not turn into a row
(their ``rawData`` is the record as it came in); ``format-conversion-failed``, rows Firehose's
record format conversion could not write as Parquet; and ``dynamic-partitioning-failed``, rows the
transform returned without usable partition keys (the raw data of both is the transform's row, whose
``event_time`` is the hour it was meant for). All are JSON lines, one document per record, and
each document carries ``arrivalTimestamp`` and ``rawData``, all this module reads of them.

A record's arrival is its own ``arrivalTimestamp`` (Firehose, milliseconds) or a numeric
``approximateArrivalTimestamp`` (seconds), else its object's ``LastModified``. The Kinesis consumer
writes ``approximateArrivalTimestamp`` as ISO text, which is not read: its records' arrival is their
object's ``LastModified``, the time of the invocation that filed them.

LIMITATIONS: an error that arrives more than an hour after its window's prefix hour is found only if it
is filed under one of the window's arrival-hour prefixes (the two hours the window touches); a raw
record that cannot be decoded is counted with ``unknown_hour``. Firehose's other error types
(``s3-failed`` and the like, for a destination that stays unwritable) are not read.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from cdc_pipeline.definitions import PipelineDefinition
from cdc_pipeline.workflows.common import error_prefix

PROCESSING_FAILED = "processing-failed"
FORMAT_CONVERSION_FAILED = "format-conversion-failed"
DYNAMIC_PARTITIONING_FAILED = "dynamic-partitioning-failed"
#: The error types (``!{firehose:error-output-type}``) whose records the check counts.
ERROR_TYPES = (PROCESSING_FAILED, FORMAT_CONVERSION_FAILED, DYNAMIC_PARTITIONING_FAILED)
#: The types whose raw data is the transform's row (its ``event_time`` is the partition's hour).
ROW_ERRORS = (FORMAT_CONVERSION_FAILED, DYNAMIC_PARTITIONING_FAILED)

QUESTION = (
    "Did any record fail processing or format conversion in this run's arrival window (the hour, "
    "shifted by the delivery wait)? Fails when the error prefix holds a record of either type that "
    "arrived in the window; errors of earlier hours are named with their hour."
)


def arrival_of(record: dict[str, Any], fallback: datetime) -> datetime:
    """When the failed record arrived: its own timestamp, else its object's LastModified."""
    for name in ("arrivalTimestamp", "approximateArrivalTimestamp"):
        value = record.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = value / 1000 if value > 1e11 else value
            return datetime.fromtimestamp(seconds, UTC)
    return fallback


def _image_time(change: dict[str, Any], attribute: str) -> Any:
    for image in ("NewImage", "OldImage"):
        value = (change.get(image) or {}).get(attribute)
        if isinstance(value, dict):
            return value.get("S")
    return None


def event_hour_of(record: dict[str, Any], attribute: str, error_type: str = PROCESSING_FAILED) -> str | None:
    """The event hour (``YYYY-MM-DDTHH:00``) of the raw record, if it can be decoded.

    A ``format-conversion-failed`` or ``dynamic-partitioning-failed`` record's raw data is the
    transform's row: its ``event_time`` (the hour of the partition it was meant for) comes first, the
    event time attribute after.
    """
    try:
        raw = json.loads(base64.b64decode(record.get("rawData") or "", validate=True))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(raw, dict):
        return None
    names = ("event_time", attribute) if error_type in ROW_ERRORS else (attribute,)
    moment = next((raw[name] for name in names if raw.get(name) is not None), None)
    if moment is None and isinstance(raw.get("dynamodb"), dict):
        moment = _image_time(raw["dynamodb"], attribute)
    try:
        parsed = datetime.fromisoformat(str(moment).replace("Z", "+00:00"))
    except ValueError:
        return None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:00")


def arrival_hours(start: datetime, end: datetime) -> list[datetime]:
    """The arrival-hour prefixes the window ``[start, end)`` touches."""
    hour = start.replace(minute=0, second=0, microsecond=0)
    hours = []
    while hour < end:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours


def records_in(s3: Any, bucket: str, prefix: str) -> list[tuple[str, dict[str, Any], datetime]]:
    """(key, error record, object LastModified) for every JSON line under ``prefix``."""
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode("utf-8", "replace")
            for line in body.splitlines():
                try:
                    record = json.loads(line) if line.strip() else None
                except ValueError:
                    record = {}
                if record is not None:
                    found.append(
                        (item["Key"], record if isinstance(record, dict) else {}, item["LastModified"])
                    )
    return found


def count_in_window(
    s3: Any, bucket: str, definition: PipelineDefinition, start: datetime, end: datetime, hour: datetime
) -> dict[str, Any]:
    """The error records of every type in ``ERROR_TYPES`` that arrived in ``[start, end)``.

    Counted per error type (``processing_failed=``, ``format_conversion_failed=``,
    ``dynamic_partitioning_failed=``) and split by the event hour they belong to.
    """
    this_hour = hour.astimezone(UTC).strftime("%Y-%m-%dT%H:00")
    hours: Counter[str] = Counter()
    types: Counter[str] = Counter()
    first_key = "none"
    for moment in arrival_hours(start, end):
        for error_type in ERROR_TYPES:
            prefix = error_prefix(definition, moment, error_type)
            for key, record, modified in records_in(s3, bucket, prefix):
                if not start <= arrival_of(record, modified) < end:
                    continue
                event_hour = event_hour_of(record, definition.event_time_attribute, error_type)
                hours[event_hour or "unknown"] += 1
                types[error_type] += 1
                first_key = key if first_key == "none" else first_key
    earlier = sorted(h for h in hours if h not in ("unknown", this_hour))
    return {
        "error_records": sum(hours.values()),
        **{error_type.replace("-", "_"): types[error_type] for error_type in ERROR_TYPES},
        "of_this_hour": hours.get(this_hour, 0),
        "of_other_hours": sum(hours[h] for h in earlier),
        "unknown_hour": hours.get("unknown", 0),
        "other_hours": ",".join(earlier) or "none",
        "window": f"{start:%Y-%m-%dT%H:%M:%S}..{end:%Y-%m-%dT%H:%M:%S}",
        "first": first_key,
    }
