"""The consumer's rows as one Parquet object with the change table's schema (``PARQUET_COLUMNS``).

A CDC pipeline's change log becomes Parquet in Firehose (its record format conversion, with the
schema of the Glue table the provisioning declares). The direct topology has no Firehose: this
consumer writes its objects itself, with pyarrow from AWS's managed layer "AWS SDK for pandas"
(the Lambda runtime has no pyarrow; the provisioning adds the layer). It follows the conversion's
contract, so the lake reads the same either way:

- the columns, in order, are the change table's: the metadata columns (strings, ``is_deleted``
  boolean), ``removed_by`` (always null here: events are never removed), ``undeclared``, then the
  declared columns (``PARQUET_COLUMNS``, a JSON list of ``[name, Athena type]``) that are not
  metadata columns already (the key and the event time are);
- a field is matched to its declared column whatever its case (``Amount`` fills ``amount``), as the
  OpenX deserializer lowercases JSON keys by default; of two fields that differ only in case, the
  later one in the event fills the column;
- a field the declaration lacks is not dropped: ``undeclared`` holds those fields as a JSON object
  text (``{"coupon": "X"}``) under their own names, null when there are none, so the schema-drift
  check can name them (the CDC transform keeps them the same way);
- a value is converted as Firehose's OpenX JSON deserializer would: a string column takes text,
  and numbers or booleans as their JSON text; an integer column an integral number (or its text);
  a decimal column a number rounded (half up, as Hive does) to its scale that fits its precision; a boolean ``true`` or
  ``false`` (or that text); a timestamp ISO-8601 text or epoch milliseconds; a date ISO text.
  A value that does not fit (``"lots"`` for a bigint, an object for a string) raises `DoesNotFit`:
  the handler sends that record to the ``format-conversion-failed`` error prefix, as Firehose does.

Only scalar types are declared for this topology (the definition refuses struct, array and map).
"""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from lake_rows import CHANGE_FIELDS, encode_json

_DECIMAL = re.compile(r"decimal\((\d+),\s*(\d+)\)")
_SCALARS = {
    "string": pa.string(),
    "varchar": pa.string(),
    "char": pa.string(),
    "boolean": pa.bool_(),
    "tinyint": pa.int8(),
    "smallint": pa.int16(),
    "int": pa.int32(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("ms"),
}


class DoesNotFit(ValueError):
    """A value the declared column's type cannot hold."""


def arrow_type(declared: str) -> pa.DataType:
    """The Arrow type of a scalar Athena type (``varchar(20)`` is a string); ValueError otherwise."""
    text = declared.strip().lower()
    decimal_match = _DECIMAL.fullmatch(text)
    if decimal_match:
        return pa.decimal128(int(decimal_match.group(1)), int(decimal_match.group(2)))
    kind = _SCALARS.get(re.sub(r"\(\d+\)$", "", text))
    if kind is None:
        raise ValueError(f"{declared!r} is not a scalar type this consumer writes")
    return kind


class ChangeSchema:
    """The change table's columns as Arrow types, and the conversion of one row to them."""

    def __init__(self, declared: list[tuple[str, str]]) -> None:
        metadata = [(name, pa.bool_() if name == "is_deleted" else pa.string()) for name in CHANGE_FIELDS]
        taken = set(CHANGE_FIELDS)
        self.declared = [(name, arrow_type(kind)) for name, kind in declared if name not in taken]
        self.schema = pa.schema(metadata + self.declared)
        self._declared_names = {name.lower() for name, _ in declared}

    @classmethod
    def from_env(cls, text: str) -> ChangeSchema:
        """``PARQUET_COLUMNS``: a JSON list of ``[name, type]`` pairs."""
        return cls([(str(name), str(kind)) for name, kind in json.loads(text)])

    def convert(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row as the table's columns: metadata as is, declared values converted, the rest kept
        in ``undeclared``; `DoesNotFit` names the first value that does not fit."""
        out = {name: row.get(name) for name in CHANGE_FIELDS}
        # Firehose's OpenX deserializer lowercases JSON keys first (CaseInsensitive, its default), so a
        # declared column takes its field in any case; of two that differ only in case, the later one.
        fields = {name.lower(): value for name, value in row.items() if name not in CHANGE_FIELDS}
        for name, kind in self.declared:
            value = fields.get(name.lower())
            try:
                out[name] = None if value is None else _convert(kind, value)
            except (DoesNotFit, ValueError, ArithmeticError) as exc:
                raise DoesNotFit(f"column {name!r} ({kind}) cannot hold {value!r}: {exc}") from None
        extra = {
            name: value
            for name, value in row.items()
            if name not in CHANGE_FIELDS and name.lower() not in self._declared_names
        }
        out["undeclared"] = encode_json(extra) if extra else None
        return out

    def parquet(self, rows: list[dict[str, Any]]) -> bytes:
        """The converted rows as one SNAPPY Parquet object."""
        table = pa.Table.from_pylist(rows, schema=self.schema)
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="snappy")
        return sink.getvalue()


def _convert(kind: pa.DataType, value: Any) -> Any:
    if isinstance(value, (dict, list)):
        raise DoesNotFit("a JSON object or array where a scalar is expected")
    if pa.types.is_string(kind):
        return value if isinstance(value, str) else encode_json(value)
    if pa.types.is_boolean(kind):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise DoesNotFit("not a boolean")
    if isinstance(value, bool):
        raise DoesNotFit("a boolean where a number is expected")
    if pa.types.is_timestamp(kind):
        return _timestamp(value)
    if pa.types.is_date32(kind):
        return date.fromisoformat(str(value)[:10])
    number = _number(value)
    if pa.types.is_integer(kind):
        if number != number.to_integral_value():
            raise DoesNotFit("not an integer")
        limit = 2 ** (kind.bit_width - 1)
        if not -limit <= number < limit:
            raise DoesNotFit(f"out of range for {kind}")
        return int(number)
    if pa.types.is_floating(kind):
        return float(number)
    rounded = number.quantize(Decimal(1).scaleb(-kind.scale), rounding=ROUND_HALF_UP)
    if len(rounded.as_tuple().digits) > kind.precision:
        raise DoesNotFit(f"more digits than {kind} holds")
    return rounded


def _number(value: Any) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise DoesNotFit("not a number") from None
    if not number.is_finite():
        raise DoesNotFit("not a finite number")
    return number


def _timestamp(value: Any) -> datetime:
    if isinstance(value, (int, Decimal)):
        return datetime.fromtimestamp(float(value) / 1000, UTC).replace(tzinfo=None)
    parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed
