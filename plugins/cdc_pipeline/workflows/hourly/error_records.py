"""Records that failed processing, counted by the window in which they can arrive for an hour's run.

Firehose files a failed record under ``ErrorOutputPrefix`` by its *arrival* time (``!{timestamp}`` is
the oldest record's arrival, not the event's time), and the Kinesis consumer files its malformed
records by arrival hour too. So the errors of event hour H are not under ``.../hour=H/`` when H is
backfilled or caught up, and in the live hour some arrive after H ends.

The run of hour H therefore counts the error records that *arrived* in ``[H + shift, H + 1h + shift)``,
``shift`` being the wait the run gives delivery (Firehose's buffer interval plus the delivery grace):
consecutive runs' windows tile time, so every error record is counted by exactly one run, the first
that could see it. An error that belongs to an earlier hour (its raw record's event time, when it can
be decoded) is still counted, and named with its hour (``other_hours``): a late error reaches a
later run's check instead of none.

A record's arrival is its own ``arrivalTimestamp`` (Firehose, milliseconds) or
``approximateArrivalTimestamp`` (the consumer, seconds), else its object's ``LastModified``.

LIMITATIONS: an error that arrives more than an hour after its window's prefix hour is found only if it
is filed under one of the window's arrival-hour prefixes (the two hours the window touches); a raw
record that cannot be decoded is counted with ``unknown_hour``.
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

QUESTION = (
    "Did any record fail processing in this run's arrival window (the hour, shifted by the delivery wait)? "
    "Fails when the error prefix holds a record that arrived in the window; errors of earlier hours are "
    "named with their hour."
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


def event_hour_of(record: dict[str, Any], attribute: str) -> str | None:
    """The event hour (``YYYY-MM-DDTHH:00``) of the raw record, if it can be decoded."""
    try:
        raw = json.loads(base64.b64decode(record.get("rawData") or "", validate=True))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(raw, dict):
        return None
    moment = raw.get(attribute)
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
    """The error records that arrived in ``[start, end)``, split by the event hour they belong to."""
    this_hour = hour.astimezone(UTC).strftime("%Y-%m-%dT%H:00")
    hours: Counter[str] = Counter()
    first_key = "none"
    for moment in arrival_hours(start, end):
        for key, record, modified in records_in(s3, bucket, error_prefix(definition, moment)):
            if not start <= arrival_of(record, modified) < end:
                continue
            hours[event_hour_of(record, definition.event_time_attribute) or "unknown"] += 1
            first_key = key if first_key == "none" else first_key
    earlier = sorted(h for h in hours if h not in ("unknown", this_hour))
    return {
        "error_records": sum(hours.values()),
        "of_this_hour": hours.get(this_hour, 0),
        "of_other_hours": sum(hours[h] for h in earlier),
        "unknown_hour": hours.get("unknown", 0),
        "other_hours": ",".join(earlier) or "none",
        "window": f"{start:%Y-%m-%dT%H:%M:%S}..{end:%Y-%m-%dT%H:%M:%S}",
        "first": first_key,
    }
