"""Values as Athena prints them, and Athena's result files.

Athena's result CSV quotes every value, doubles quotes inside values and writes NULL as an empty
unquoted field, so ``""`` (empty string) and `` `` (NULL) differ; Python's csv module (3.11)
cannot tell them apart, so both directions are written here.
"""

from __future__ import annotations

import datetime
import decimal
import math
from typing import Any

import numpy

from local_aws.athena_engine.errors import DATA_ERROR, EngineError

_BIGINT = range(-(2**63), 2**63)


def java_double(value: float) -> str:
    """A double as Java's ``Double.toString`` (which Trino uses) prints it."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    magnitude = abs(value)
    text = repr(value)
    if 1e-3 <= magnitude < 1e7:
        if "e" in text or "E" in text:
            text = format(decimal.Decimal(text), "f")
        return text if "." in text else text + ".0"
    sign, digits, exponent = decimal.Decimal(text).as_tuple()
    digit_text = "".join(str(d) for d in digits).rstrip("0") or "0"
    scientific_exponent = len(digits) - 1 + int(exponent)
    mantissa = digit_text[0] + "." + (digit_text[1:] or "0")
    return f"{'-' if sign else ''}{mantissa}E{scientific_exponent}"


def render(value: Any, type_id: str = "") -> str | None:
    """The text Athena shows for one value (``None`` for NULL)."""
    if value is None:
        return None
    if type_id == "hugeint" and isinstance(value, int) and value not in _BIGINT:
        # DuckDB sums bigints into a 128-bit integer; Trino's bigint sum fails past 64 bits.
        raise EngineError("NUMERIC_VALUE_OUT_OF_RANGE", f"bigint addition overflow: {value}", DATA_ERROR)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if type_id == "float":
            return str(numpy.float32(value)) if math.isfinite(value) else java_double(value)
        return java_double(value)
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, datetime.datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
        if value.tzinfo is not None:
            text += " UTC" if value.utcoffset() == datetime.timedelta(0) else value.strftime(" %z")
        return text
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.time):
        return value.strftime("%H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return " ".join(f"{b:02x}" for b in bytes(value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_nested(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_nested(k)}={_nested(v)}" for k, v in value.items()) + "}"
    return str(value)


def _nested(value: Any) -> str:
    text = render(value)
    return "null" if text is None else text


def _quote(text: str | None) -> str:
    if text is None:
        return ""
    return '"' + text.replace('"', '""') + '"'


def to_csv(header: list[str], rows: list[list[str | None]]) -> bytes:
    """Athena's result CSV: a header row, every value quoted, NULL as an empty field."""
    lines = [",".join(_quote(name) for name in header)]
    lines.extend(",".join(_quote(value) for value in row) for row in rows)
    return ("\n".join(lines) + "\n").encode("utf-8")


def to_text(rows: list[list[str | None]]) -> bytes:
    """Athena's result file of a DDL or utility statement: one line per row, no header."""
    if not rows:
        return b""
    return ("\n".join("\t".join(v or "" for v in row) for row in rows) + "\n").encode("utf-8")


def parse_csv(data: bytes) -> list[list[str | None]]:
    """Read Athena's result CSV back, keeping NULL (unquoted empty) apart from ``""``."""
    text = data.decode("utf-8")
    rows: list[list[str | None]] = []
    row: list[str | None] = []
    length = len(text)
    position = 0
    if not text:
        return rows
    while position < length:
        if text[position] == '"':
            position += 1
            parts = []
            while True:
                end = text.find('"', position)
                if end < 0:
                    raise ValueError("unterminated quoted field in result CSV")
                parts.append(text[position:end])
                if end + 1 < length and text[end + 1] == '"':
                    parts.append('"')
                    position = end + 2
                    continue
                position = end + 1
                break
            row.append("".join(parts))
        else:
            end = position
            while end < length and text[end] not in ",\n":
                end += 1
            raw = text[position:end]
            row.append(raw if raw else None)
            position = end
        if position >= length:
            rows.append(row)
            break
        if text[position] == ",":
            position += 1
            if position >= length or text[position] == "\n":
                row.append(None)
                if position >= length:
                    rows.append(row)
                    break
        if position < length and text[position] == "\n":
            rows.append(row)
            row = []
            position += 1
    return rows


def parse_text(data: bytes) -> list[list[str | None]]:
    """Read the result file of a DDL or utility statement: one single-column row per line."""
    text = data.decode("utf-8")
    if not text:
        return []
    return [[line] for line in text.rstrip("\n").split("\n")]
