"""What ``inspect_delivery`` finds in the hour's S3 objects: rows, each change's delay to arrival, and
the attributes a Parquet change log kept aside (``undeclared``).

Why freshness reads the objects: "fresh" means the change was in S3, readable, within the allowed
delay. S3 only knows when an *object* arrived (``LastModified``), the row only when the change was
made (``approximate_creation_time``, DynamoDB's or Kinesis's clock); joining the two needs each row's
object. Athena's ``"$path"`` column would give it, but the embedded Athena has no hidden columns, and
the listing is needed anyway; so ``inspect_delivery`` reads the hour's objects once (the same bytes
Athena reads for the hour) and measures, per change (key + sequence number), from its creation to
its *first* arrival: a redelivered copy of a change that arrived on time is not a late change. The
allowed delay is the definition's ``max_delay_seconds`` if it sets one, else the reconciliation's
delivery-lag bound (Pipe window, Lambda processor buffer, Firehose buffer and the delivery grace).

An hour may hold both formats the change log has had: JSON lines (the transform's output as
delivered, and the Kinesis consumer's objects) and Parquet (Firehose's record format conversion).
An object whose body starts and ends with ``PAR1`` is read as Parquet, any other as JSON lines.
From a Parquet object only the key, ``sequence_number``, ``approximate_creation_time`` and
``undeclared`` columns are read; a column the file lacks reads as null, and the creation time may be
ISO text (as the lake declares it) or a Parquet timestamp (one without a zone is taken as UTC). A JSON line that does not
parse is counted in ``unreadable_rows`` and still in ``delivered_rows`` (which ``check_rows_present``
compares with the table); a Parquet object that pyarrow cannot read has no rows to count and is
counted in ``unreadable_objects``. No check compares either number: ``inspect_delivery``'s result
reports them.

LIMITATIONS: ``inspect_delivery`` reads the whole hour's objects on the worker, one GET per object;
a Parquet object is fetched whole although only four of its columns are decoded. ORC output is not
recognised: an ORC object would be read as JSON lines, every line of it unreadable.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 text or a datetime (a Parquet timestamp) as an aware datetime; naive is UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


PARQUET_MAGIC = b"PAR1"
#: The columns freshness needs besides the key, and the attributes a Parquet change log's declared
#: schema lacks (the transform's ``undeclared``: JSON text by path), which schema drift names.
CHANGE_COLUMNS = ("sequence_number", "approximate_creation_time", "undeclared")
#: A JSON line that does not parse (``None`` is a JSON line too: ``null``).
UNREADABLE = object()


def is_parquet(body: bytes) -> bool:
    """A Parquet file starts and ends with its magic bytes; a JSON-lines object cannot."""
    return body.startswith(PARQUET_MAGIC) and body.endswith(PARQUET_MAGIC)


def json_rows(body: bytes) -> list[Any]:
    """Each non-blank line of a JSON-lines object, parsed, or ``UNREADABLE``."""
    rows = []
    for line in body.decode("utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError:
            rows.append(UNREADABLE)
    return rows


def parquet_rows(body: bytes, key: str) -> list[dict[str, Any]] | None:
    """The key and change columns of a Parquet object's rows (absent ones as None); None if unreadable."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(pa.BufferReader(body))
        names = list(dict.fromkeys((key, *CHANGE_COLUMNS)))
        present = [name for name in names if name in parquet.schema_arrow.names]
        table = parquet.read(columns=present)
        values = {name: table.column(name).to_pylist() for name in present}
    except (pa.ArrowException, OSError, ValueError, OverflowError):
        return None
    return [
        {name: values[name][index] if name in values else None for name in names}
        for index in range(table.num_rows)
    ]


def measure_objects(objects: list[tuple[datetime, bytes]], key: str, allowed: int) -> dict[str, Any]:
    """Rows, and each change's delay from creation to its first arrival, over the hour's objects.

    An object is Parquet if ``is_parquet``, else JSON lines (see the module docstring).
    """
    first_arrival: dict[tuple[Any, Any], tuple[datetime, datetime]] = {}
    rows = unreadable = unreadable_objects = no_creation_time = 0
    undeclared: set[str] = set()
    for arrived, body in objects:
        if is_parquet(body):
            found: list[Any] | None = parquet_rows(body, key)
            if found is None:
                unreadable_objects += 1
                continue
        else:
            found = json_rows(body)
        for row in found:
            rows += 1
            if row is UNREADABLE:
                unreadable += 1
                continue
            if isinstance(row, dict) and row.get("undeclared"):
                undeclared |= undeclared_paths(row["undeclared"])
            created = parse_time(row.get("approximate_creation_time")) if isinstance(row, dict) else None
            if created is None:
                no_creation_time += 1
                continue
            change = (row.get(key), row.get("sequence_number"))
            known = first_arrival.get(change)
            if known is None or arrived < known[0]:
                first_arrival[change] = (arrived, created)
    delays = [(arrived - created).total_seconds() for arrived, created in first_arrival.values()]
    return {
        "objects": len(objects),
        "delivered_rows": rows,
        "unreadable_rows": unreadable,
        "unreadable_objects": unreadable_objects,
        "changes_without_creation_time": no_creation_time,
        "late_changes": sum(1 for delay in delays if delay > allowed),
        "slowest_change_seconds": int(max(delays, default=0)),
        "allowed_seconds": allowed,
        "undeclared_attributes": sorted(undeclared),
    }


def undeclared_paths(text: Any) -> set[str]:
    """The attribute paths of one row's ``undeclared`` text, array positions folded (``items[].gift``)."""
    try:
        found = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        found = None
    if not isinstance(found, dict):
        return {"<unreadable undeclared value>"}
    return {re.sub(r"\[\d+\]", "[]", str(path)) for path in found}
