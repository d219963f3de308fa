"""What every Lambda function of the project writes into the lake: metadata columns, timestamps, exact JSON.

One source file, packed at the root of each function's zip by the provisioning's zip builder
(`cdc_pipeline.provision.lambda_function.build_zip`), so each handler imports it as a top-level
module (``from lake_rows import ...``), as it would any file of its own zip. The handlers' tests find
it through ``lambda/conftest.py``.

- Timestamps are ISO-8601 UTC with milliseconds, fixed width (``2024-05-01T12:34:56.789Z``), so
  that their string order is their time order; input without an offset is taken as UTC.
- Numbers are Decimals written as their exact digits, never through float: DynamoDB numbers are
  exact (up to 38 digits) and a float would round a price. A float reaching the writer is a bug,
  refused with `MalformedRecord` rather than written rounded.

Standard library only (the Lambda runtime has no more than that and boto3).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

#: The columns a row starts with; an item attribute of the same name is kept as ``item_<name>``.
METADATA_FIELDS = (
    "event_id",
    "event_name",
    "sequence_number",
    "event_time",
    "approximate_creation_time",
    "processed_at",
    "is_deleted",
)
#: A DynamoDB change row's columns: the metadata, then ``removed_by`` ("ttl") on a delete made by
#: DynamoDB's Time to Live, and ``undeclared`` (the attributes a declared schema lacks, as JSON text);
#: an item attribute named like one of these is kept as ``item_<name>``.
CHANGE_FIELDS = (*METADATA_FIELDS, "removed_by", "undeclared")


class MalformedRecord(ValueError):
    """The record cannot become a row (its data, or a value in it); it goes to the error prefix."""


def now() -> datetime:
    """The wall clock in UTC."""
    return datetime.now(UTC)


def parse_timestamp(value: Any) -> datetime | None:
    """An ISO-8601 string as an aware UTC datetime; None when it is not one (no offset means UTC)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def format_timestamp(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC (fixed width, so string order is time order)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def partition_path(timestamp: str) -> str:
    """``year=YYYY/month=MM/day=DD/hour=HH/`` of a formatted UTC timestamp."""
    return f"year={timestamp[0:4]}/month={timestamp[5:7]}/day={timestamp[8:10]}/hour={timestamp[11:13]}/"


def decimal_text(number: Decimal) -> str:
    """The number's exact digits in positional notation (never an exponent): ``59.90`` stays ``59.90``."""
    if not number.is_finite():
        raise MalformedRecord(f"number is not finite: {number}")
    return format(number, "f")


def encode_json(value: Any, number_text: Callable[[Decimal], str] = decimal_text) -> str:
    """Compact JSON text with Decimals written by `number_text` (exact digits); floats are refused."""
    if isinstance(value, Decimal):
        return number_text(value)
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(f"{json.dumps(str(k))}:{encode_json(v, number_text)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(encode_json(v, number_text) for v in value) + "]"
    if isinstance(value, float):
        raise MalformedRecord("floats are never written: numbers must stay exact")
    return json.dumps(value, ensure_ascii=False)
