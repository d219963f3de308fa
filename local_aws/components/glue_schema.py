"""Schema inference for the Glue crawler: classify one S3 object, infer its schema, merge schemas.

Types are kept as plain picklable values so that per-object results can be cached in the
component store between crawls:

- a scalar is its Glue type name: ``"int"``, ``"bigint"``, ``"double"``, ``"string"``, ...;
  ``NULL`` stands for "only nulls seen so far" and is written as ``string``;
- a struct is ``("struct", ((name, type), ...))`` in first-seen field order;
- an array is ``("array", element_type)``; a map is ``("map", key_type, value_type)``.

Merging follows the crawler's widening rules: integers widen to the larger integer, integers and
floating point to ``double``, structs merge field by field, arrays merge their elements, and any
other mix becomes ``string``.
"""

from __future__ import annotations

import io
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

NULL = "null"
STRING = "string"

_INTEGER_RANK = {"tinyint": 0, "smallint": 1, "int": 2, "bigint": 3}
_FLOAT_RANK = {"float": 4, "double": 5}
_INT32 = 2**31
_INT64 = 2**63

GlueType = Any  # str | tuple (see the module docstring)

PARQUET_MAGIC = b"PAR1"
GZIP_MAGIC = b"\x1f\x8b"
# At most this much of a gzip object is inflated: enough to infer a schema (the crawler samples the
# start of a file), and a gzip bomb (1 GB of zeros is 1 MB gzipped) cannot grow the server.
MAX_INFLATED_BYTES = 16 * 1024 * 1024
_INFLATE_CHUNK = 1024 * 1024


# -- merging -------------------------------------------------------------------------------
def merge_types(left: GlueType, right: GlueType) -> GlueType:
    """The narrowest Glue type that holds values of both types."""
    if left == right:
        return left
    if left == NULL:
        return right
    if right == NULL:
        return left
    if isinstance(left, str) and isinstance(right, str):
        return _merge_scalars(left, right)
    if isinstance(left, tuple) and isinstance(right, tuple) and left[0] == right[0]:
        if left[0] == "struct":
            return ("struct", merge_fields(left[1], right[1]))
        if left[0] == "array":
            return ("array", merge_types(left[1], right[1]))
        if left[0] == "map":
            return ("map", merge_types(left[1], right[1]), merge_types(left[2], right[2]))
    return STRING


def _merge_scalars(left: str, right: str) -> str:
    ranks = {**_INTEGER_RANK, **_FLOAT_RANK}
    if left in ranks and right in ranks:
        if left in _FLOAT_RANK or right in _FLOAT_RANK:
            return "double"
        return left if ranks[left] >= ranks[right] else right
    if left.startswith("decimal") and right in ranks or right.startswith("decimal") and left in ranks:
        return "double"
    return STRING


def merge_fields(
    left: tuple[tuple[str, GlueType], ...], right: tuple[tuple[str, GlueType], ...]
) -> tuple[tuple[str, GlueType], ...]:
    """Merge two field lists: the left order first, then fields only the right one has."""
    merged: dict[str, GlueType] = dict(left)
    for name, kind in right:
        merged[name] = merge_types(merged[name], kind) if name in merged else kind
    return tuple(merged.items())


def type_name(kind: GlueType) -> str:
    """The Glue (Hive) type string: ``struct<a:int,b:array<string>>``."""
    if kind == NULL:
        return STRING
    if isinstance(kind, str):
        return kind
    if kind[0] == "struct":
        return "struct<" + ",".join(f"{name}:{type_name(sub)}" for name, sub in kind[1]) + ">"
    if kind[0] == "array":
        return f"array<{type_name(kind[1])}>"
    if kind[0] == "map":
        return f"map<{type_name(kind[1])},{type_name(kind[2])}>"
    return STRING


def parse_type_name(text: str) -> GlueType:
    """The inverse of `type_name`, for columns already in the catalog."""
    kind, rest = _parse_type(text.strip().replace(" ", ""), 0)
    return kind if rest == len(text.strip().replace(" ", "")) else text


def _parse_type(text: str, pos: int) -> tuple[GlueType, int]:
    for prefix in ("struct<", "array<", "map<"):
        if text.startswith(prefix, pos):
            pos += len(prefix)
            if prefix == "array<":
                element, pos = _parse_type(text, pos)
                return ("array", element), pos + 1  # skip ">"
            if prefix == "map<":
                key, pos = _parse_type(text, pos)
                value, pos = _parse_type(text, pos + 1)  # skip ","
                return ("map", key, value), pos + 1
            fields: list[tuple[str, GlueType]] = []
            while pos < len(text) and text[pos] != ">":
                colon = text.index(":", pos)
                name = text[pos:colon]
                sub, pos = _parse_type(text, colon + 1)
                fields.append((name, sub))
                if pos < len(text) and text[pos] == ",":
                    pos += 1
            return ("struct", tuple(fields)), pos + 1
    end = pos
    depth = 0
    while end < len(text):
        char = text[end]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char in ",>" and depth == 0:
            break
        end += 1
    return text[pos:end], end


# -- JSON ----------------------------------------------------------------------------------
def json_type(value: Any) -> GlueType:
    """The Glue type of one decoded JSON value (field names lower-cased, as the catalog does)."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        if -_INT32 <= value < _INT32:
            return "int"
        return "bigint" if -_INT64 <= value < _INT64 else "double"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return STRING
    if isinstance(value, dict):
        return ("struct", record_fields(value))
    if isinstance(value, list):
        element: GlueType = NULL
        for item in value:
            element = merge_types(element, json_type(item))
        return ("array", element)
    return STRING


def record_fields(record: dict[str, Any]) -> tuple[tuple[str, GlueType], ...]:
    fields: dict[str, GlueType] = {}
    for name, value in record.items():
        key = str(name).lower()
        kind = json_type(value)
        fields[key] = merge_types(fields[key], kind) if key in fields else kind
    return tuple(fields.items())


def iter_json_documents(text: str) -> list[Any]:
    """Every JSON document in ``text``: newline-delimited, concatenated or one pretty-printed."""
    decoder = json.JSONDecoder()
    documents = []
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos] in " \t\r\n\ufeff":
            pos += 1
        if pos >= end:
            return documents
        document, pos = decoder.raw_decode(text, pos)
        documents.append(document)


def select_records(documents: list[Any], json_path: str | None) -> list[Any]:
    """The records a crawler sees: each document, or what a JSON classifier's path selects."""
    if not json_path:
        # Without a classifier a top-level array is one record with a single `array` column,
        # which is what the built-in classifier does too.
        return [doc if isinstance(doc, dict) else {"array": doc} for doc in documents]
    from jsonpath_ng.ext import parse as parse_path

    expression = parse_path(json_path)
    records: list[Any] = []
    for document in documents:
        records.extend(match.value for match in expression.find(document))
    return records


# -- Parquet -------------------------------------------------------------------------------
def arrow_type(data_type: Any) -> GlueType:
    """The Glue type of one pyarrow type."""
    import pyarrow as pa
    import pyarrow.types as pat

    if pat.is_dictionary(data_type):
        return arrow_type(data_type.value_type)
    if pat.is_boolean(data_type):
        return "boolean"
    if pat.is_int8(data_type):
        return "tinyint"
    if pat.is_int16(data_type) or pat.is_uint8(data_type):
        return "smallint"
    if pat.is_int32(data_type) or pat.is_uint16(data_type):
        return "int"
    if pat.is_int64(data_type) or pat.is_uint32(data_type) or pat.is_uint64(data_type):
        return "bigint"
    if pat.is_float16(data_type) or pat.is_float32(data_type):
        return "float"
    if pat.is_float64(data_type):
        return "double"
    if pat.is_decimal(data_type):
        return f"decimal({data_type.precision},{data_type.scale})"
    if pat.is_string(data_type) or pat.is_large_string(data_type):
        return STRING
    if pat.is_binary(data_type) or pat.is_large_binary(data_type) or pat.is_fixed_size_binary(data_type):
        return "binary"
    if pat.is_date(data_type):
        return "date"
    if pat.is_timestamp(data_type):
        return "timestamp"
    if pat.is_map(data_type):
        return ("map", arrow_type(data_type.key_type), arrow_type(data_type.item_type))
    if pat.is_list(data_type) or pat.is_large_list(data_type) or pat.is_fixed_size_list(data_type):
        return ("array", arrow_type(data_type.value_type))
    if pat.is_struct(data_type):
        struct: pa.StructType = data_type
        return (
            "struct",
            tuple(
                (struct.field(i).name.lower(), arrow_type(struct.field(i).type))
                for i in range(struct.num_fields)
            ),
        )
    if pat.is_null(data_type):
        return NULL
    return STRING


# -- one object ----------------------------------------------------------------------------
@dataclass
class ObjectInfo:
    """What one S3 object contributes to a table; plain data so it can be cached."""

    classification: str  # "json" | "parquet" | "UNKNOWN"
    compression: str = "none"
    fields: tuple[tuple[str, GlueType], ...] = ()
    records: int = 0
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_plain(self) -> dict[str, Any]:
        return {
            "classification": self.classification,
            "compression": self.compression,
            "fields": self.fields,
            "records": self.records,
            "error": self.error,
        }

    @classmethod
    def from_plain(cls, plain: dict[str, Any]) -> ObjectInfo:
        return cls(
            classification=plain["classification"],
            compression=plain["compression"],
            fields=plain["fields"],
            records=plain["records"],
            error=plain.get("error", ""),
        )


def classify(body: bytes, json_path: str | None = None) -> ObjectInfo:
    """Classify one object's bytes and infer its schema, as the built-in (or a JSON) classifier."""
    compression = "none"
    if body[:2] == GZIP_MAGIC:
        try:
            body = inflate_prefix(body, MAX_INFLATED_BYTES)
        except (OSError, EOFError, zlib.error) as exc:
            return ObjectInfo("UNKNOWN", "gzip", error=f"corrupt gzip data: {exc}")
        compression = "gzip"
    if body[:4] == PARQUET_MAGIC and body[-4:] == PARQUET_MAGIC:
        return _classify_parquet(body)
    return _classify_json(body, json_path, compression)


def inflate_prefix(body: bytes, limit: int) -> bytes:
    """Gunzip ``body`` (one or more members) in bounded chunks, keeping at most ``limit`` bytes.

    When the data goes on past ``limit``, the prefix is cut after its last complete line, so a
    JSON-lines object is classified from whole records, as from a sample of the file.
    """
    out = bytearray()
    pending = body
    while pending and len(out) < limit:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        chunk = pending
        while len(out) < limit:
            piece = inflater.decompress(chunk, min(_INFLATE_CHUNK, limit - len(out)))
            chunk = inflater.unconsumed_tail
            out += piece
            if inflater.eof or not (piece or chunk):
                break
        if len(out) >= limit:
            newline = out.rfind(b"\n")
            return bytes(out[: newline + 1] if newline > 0 else out)
        if not inflater.eof:
            raise EOFError("compressed file ended before the end-of-stream marker was reached")
        pending = inflater.unused_data.lstrip(b"\x00")  # members may be padded with zeros
    return bytes(out)


def _classify_parquet(body: bytes) -> ObjectInfo:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(io.BytesIO(body))
    except Exception as exc:  # pyarrow raises several unrelated types for a corrupt footer
        return ObjectInfo("UNKNOWN", error=f"unreadable Parquet: {exc}")
    schema = parquet.schema_arrow
    fields: dict[str, GlueType] = {}
    for arrow_field in schema:
        name = arrow_field.name.lower()
        kind = arrow_type(arrow_field.type)
        fields[name] = merge_types(fields[name], kind) if name in fields else kind
    return ObjectInfo("parquet", "none", tuple(fields.items()), parquet.metadata.num_rows)


def _classify_json(body: bytes, json_path: str | None, compression: str) -> ObjectInfo:
    try:
        text = body.decode("utf-8")
        records = select_records(iter_json_documents(text), json_path)
    except (UnicodeDecodeError, ValueError) as exc:
        return ObjectInfo("UNKNOWN", compression, error=f"not JSON: {exc}")
    fields: tuple[tuple[str, GlueType], ...] = ()
    count = 0
    for record in records:
        count += 1
        if isinstance(record, dict):
            fields = merge_fields(fields, record_fields(record))
    if count == 0:
        return ObjectInfo("UNKNOWN", compression, error="no JSON records")
    return ObjectInfo("json", compression, fields, count)


def similarity(left: tuple[tuple[str, GlueType], ...], right: tuple[tuple[str, GlueType], ...]) -> float:
    """How alike two schemas are: shared column names over all column names (0..1)."""
    names_left, names_right = {name for name, _ in left}, {name for name, _ in right}
    union = names_left | names_right
    return len(names_left & names_right) / len(union) if union else 1.0
