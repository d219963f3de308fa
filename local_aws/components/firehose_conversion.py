"""Firehose record format conversion: JSON records to Parquet (or ORC), with the schema of a Glue table.

What AWS documents ("Convert input data format in Amazon Data Firehose", the API reference of
``DataFormatConversionConfiguration``) and this module does:

- CreateDeliveryStream / UpdateDestination: with ``Enabled`` (default true), SchemaConfiguration,
  InputFormatConfiguration and OutputFormatConfiguration are required; the deserializer is one of
  OpenXJsonSerDe / HiveJsonSerDe, the serializer one of ParquetSerDe / OrcSerDe, with their
  enumerations and minimums (BlockSizeBytes 64 MiB, PageSizeBytes 64 KiB); S3 compression must be
  UNCOMPRESSED (the serializer compresses); a buffer size, when given, must be at least 64 MiB;
  VersionId is LATEST; and the Glue table must exist.
- At delivery, after the processor: each buffered record (one or more concatenated JSON objects;
  an array is not an object) is read by the deserializer and mapped onto the table's columns
  (``StorageDescriptor.Columns``; partition keys come from the S3 prefix, not the data), Hive types
  to Arrow types (string, varchar, char, tinyint, smallint, int, bigint, float, double,
  decimal(p,s), boolean, timestamp, date, binary, array, map, struct); keys missing from the record
  are null, keys the table lacks are ignored. Each partition's records become one Parquet object
  per flush, named as unconverted objects are (no extension), with the serializer's compression.
- The delivery role reads the table: ``glue:GetTable`` on the table's ARN, through the same
  service-role check as the other Firehose steps (`local_aws.iam.check_service_role`). When it is
  denied, or the table is gone, the flush's records fail.
- A record that does not convert (not JSON, a value of the wrong type) is written to the error
  output prefix under ``format-conversion-failed`` with the documented document (attemptsMade,
  arrivalTimestamp, ErrorCode, ErrorMessage, attemptEndingTimestamp, rawData, sequenceNumber and
  subSequenceNumber for Kinesis sources, dataCatalogTable); the rest of the flush is delivered.

OpenX options: CaseInsensitive (default true), ColumnToJsonKeyMappings, ConvertDotsInJsonKeysToUnderscores.
Timestamps are read as epoch milliseconds (a number), ISO 8601 / ``yyyy-MM-dd HH:mm:ss[.fff]`` text
or, with HiveJsonSerDe, the TimestampFormats given (``millis`` and Joda patterns built of
yyyy MM dd HH mm ss SSS and quoted literals).

LIMITATIONS: the schema is the table's current version whatever VersionId says (no schema
evolution by version), read again at each flush. The error codes
(``DataFormatConversion.MalformedData``, ``.AccessDenied``, ``.EntityNotFound``) and messages are
worded here, not copied from AWS; a denied ``glue:GetTable`` or a deleted table fails the flush's
records to the error prefix (AWS documents no other behaviour for it). BlockSizeBytes and
PageSizeBytes are validated but pyarrow's row-group and page sizes apply (WriterVersion V1 writes
Parquet format 1.0, V2 format 2.6); FileExtension is not read (objects have no extension);
OrcSerDe's options other than Compression are validated only as present. Joda patterns other
than the tokens above are refused at create. OpenX's numeric-text coercions are those of
`_scalar`; Hive JSON SerDe's are the same (AWS's two SerDes differ in corner cases).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import io
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pyarrow as pa
import pyarrow.orc as pa_orc
import pyarrow.parquet as pq
from moto.firehose.exceptions import InvalidArgumentException

from local_aws import iam

MIB = 1024 * 1024
MIN_BUFFER_MB = 64
MIN_BLOCK_BYTES = 64 * MIB
MIN_PAGE_BYTES = 64 * 1024
PARQUET_COMPRESSIONS = {"SNAPPY": "snappy", "GZIP": "gzip", "UNCOMPRESSED": "none"}
ORC_COMPRESSIONS = {"SNAPPY": "snappy", "ZLIB": "zlib", "NONE": "uncompressed"}
ERROR_TYPE = "format-conversion-failed"
MALFORMED = "DataFormatConversion.MalformedData"
ACCESS_DENIED = "DataFormatConversion.AccessDenied"
NOT_FOUND = "DataFormatConversion.EntityNotFound"
JODA_TOKENS = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S", "SSS": "%f"}


@dataclass(frozen=True)
class Conversion:
    """A parsed, enabled DataFormatConversionConfiguration."""

    catalog_id: str
    database: str
    table: str
    region: str
    role_arn: str
    version_id: str
    hive: bool
    case_insensitive: bool
    key_mappings: tuple[tuple[str, str], ...]
    dots_to_underscores: bool
    timestamp_formats: tuple[str, ...]
    orc: bool
    compression: str
    dictionary: bool = True
    writer_v2: bool = False

    @property
    def table_arn(self) -> str:
        return f"arn:aws:glue:{self.region}:{self.catalog_id}:table/{self.database}/{self.table}"

    def catalog_entry(self) -> dict[str, str]:
        return {
            "catalogId": self.catalog_id,
            "databaseName": self.database,
            "tableName": self.table,
            "region": self.region,
            "versionId": self.version_id,
            "catalogArn": f"arn:aws:glue:{self.region}:{self.catalog_id}:catalog",
        }


class ConversionError(ValueError):
    """A record that does not fit the table."""


# -- configuration ----------------------------------------------------------------------------
def _refuse(message: str) -> InvalidArgumentException:
    return InvalidArgumentException(f"DataFormatConversionConfiguration: {message}")


def _one_of(parent: dict[str, Any], where: str, names: tuple[str, str]) -> tuple[str, dict[str, Any]]:
    present = [name for name in names if parent.get(name) is not None]
    if len(present) != 1:
        raise _refuse(f"{where} must have exactly one of {' or '.join(names)}.")
    return present[0], parent[present[0]] or {}


def parse(config: dict[str, Any] | None, account_id: str, region: str) -> Conversion | None:
    """The destination's conversion, checked as AWS checks it at create; None when off or absent."""
    settings = (config or {}).get("DataFormatConversionConfiguration")
    if not settings or settings.get("Enabled", True) is False:
        return None
    for part in ("SchemaConfiguration", "InputFormatConfiguration", "OutputFormatConfiguration"):
        if not settings.get(part):
            raise _refuse(f"{part} is required when Enabled is true.")
    schema = settings["SchemaConfiguration"]
    for key in ("DatabaseName", "TableName", "RoleARN"):
        if not schema.get(key):
            raise _refuse(f"SchemaConfiguration.{key} is required.")
    version = str(schema.get("VersionId") or "LATEST")
    if version != "LATEST" and not version.isdigit():
        raise _refuse(f"SchemaConfiguration.VersionId must be LATEST or a version number, not {version!r}.")
    input_config = settings["InputFormatConfiguration"].get("Deserializer") or {}
    kind, deserializer = _one_of(input_config, "Deserializer", ("OpenXJsonSerDe", "HiveJsonSerDe"))
    formats = tuple(deserializer.get("TimestampFormats") or ()) if kind == "HiveJsonSerDe" else ()
    for pattern in formats:
        if pattern != "millis":
            _joda(pattern)
    serializer, output = _serializer(settings["OutputFormatConfiguration"].get("Serializer") or {})
    return Conversion(
        catalog_id=str(schema.get("CatalogId") or account_id),
        database=schema["DatabaseName"],
        table=schema["TableName"],
        region=str(schema.get("Region") or region),
        role_arn=schema["RoleARN"],
        version_id=version,
        hive=kind == "HiveJsonSerDe",
        case_insensitive=bool(deserializer.get("CaseInsensitive", True)) and kind == "OpenXJsonSerDe",
        key_mappings=tuple(sorted((deserializer.get("ColumnToJsonKeyMappings") or {}).items())),
        dots_to_underscores=bool(deserializer.get("ConvertDotsInJsonKeysToUnderscores", False)),
        timestamp_formats=formats,
        orc=serializer == "OrcSerDe",
        compression=output["compression"],
        dictionary=output["dictionary"],
        writer_v2=output["writer_v2"],
    )


def _serializer(serializer: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    kind, options = _one_of(serializer, "Serializer", ("ParquetSerDe", "OrcSerDe"))
    if kind == "ParquetSerDe":
        compression = options.get("Compression", "SNAPPY")
        if compression not in PARQUET_COMPRESSIONS:
            raise _refuse(
                f"ParquetSerDe.Compression must be one of {', '.join(PARQUET_COMPRESSIONS)}, not {compression}."
            )
        if int(options.get("BlockSizeBytes", MIN_BLOCK_BYTES)) < MIN_BLOCK_BYTES:
            raise _refuse(f"ParquetSerDe.BlockSizeBytes must be at least {MIN_BLOCK_BYTES} (64 MiB).")
        if int(options.get("PageSizeBytes", MIN_PAGE_BYTES)) < MIN_PAGE_BYTES:
            raise _refuse(f"ParquetSerDe.PageSizeBytes must be at least {MIN_PAGE_BYTES} (64 KiB).")
        writer = options.get("WriterVersion", "V1")
        if writer not in ("V1", "V2"):
            raise _refuse(f"ParquetSerDe.WriterVersion must be V1 or V2, not {writer}.")
        return kind, {
            "compression": PARQUET_COMPRESSIONS[compression],
            "dictionary": bool(options.get("EnableDictionaryCompression", True)),
            "writer_v2": writer == "V2",
        }
    compression = options.get("Compression", "SNAPPY")
    if compression not in ORC_COMPRESSIONS:
        raise _refuse(
            f"OrcSerDe.Compression must be one of {', '.join(ORC_COMPRESSIONS)}, not {compression}."
        )
    if int(options.get("BlockSizeBytes", MIN_BLOCK_BYTES)) < MIN_BLOCK_BYTES:
        raise _refuse(f"OrcSerDe.BlockSizeBytes must be at least {MIN_BLOCK_BYTES} (64 MiB).")
    return kind, {"compression": ORC_COMPRESSIONS[compression], "dictionary": True, "writer_v2": False}


def validate(world: Any, config: dict[str, Any] | None, account_id: str, region: str) -> None:
    """Refuse a destination whose conversion AWS would refuse (options, buffering, compression, table)."""
    conversion = parse(config, account_id, region)
    if conversion is None:
        return
    assert config is not None
    size = (config.get("BufferingHints") or {}).get("SizeInMBs")
    if size is not None and int(size) < MIN_BUFFER_MB:
        raise _refuse(
            f"BufferingHints.SizeInMBs must be at least {MIN_BUFFER_MB} when data format conversion is enabled."
        )
    if config.get("CompressionFormat", "UNCOMPRESSED") != "UNCOMPRESSED":
        raise _refuse(
            "CompressionFormat must be UNCOMPRESSED when data format conversion is enabled (the serializer compresses)."
        )
    try:
        columns = table_columns(world, conversion)
    except ValueError as exc:
        raise _refuse(f"The Glue table {conversion.database}.{conversion.table} has a type Parquet conversion does not support: {exc}") from exc  # fmt: skip
    if columns is None:
        raise _refuse(f"The Glue table {conversion.database}.{conversion.table} does not exist in {conversion.region} of account {conversion.catalog_id}.")  # fmt: skip


def table_columns(world: Any, conversion: Conversion) -> list[tuple[str, pa.DataType]] | None:
    """The table's columns as Arrow fields, or None when the database or table does not exist."""
    try:
        with world.lock:
            glue = world.backend("glue", conversion.catalog_id, conversion.region)
            table = glue.get_table(conversion.database, conversion.table).as_dict()
    except Exception:  # moto's EntityNotFound for a missing database or table
        return None
    fields = []
    for column in (table.get("StorageDescriptor") or {}).get("Columns") or []:
        try:
            fields.append((str(column["Name"]).lower(), hive_type(str(column.get("Type") or ""))))
        except ValueError as exc:
            raise ValueError(f"column {column['Name']!r}: {exc}") from exc
    return fields


# -- Hive types -------------------------------------------------------------------------------
SCALARS = {
    "string": pa.string(),
    "varchar": pa.string(),
    "char": pa.string(),
    "tinyint": pa.int8(),
    "smallint": pa.int16(),
    "int": pa.int32(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("ms"),
    "date": pa.date32(),
    "binary": pa.binary(),
}


@lru_cache(maxsize=512)
def hive_type(text: str) -> pa.DataType:
    """The Arrow type of a Hive (Glue) column type; ValueError for one it does not know."""
    kind, rest = _parse_type(text.replace(" ", "").lower())
    if rest:
        raise ValueError(f"unexpected {rest!r} after the type in {text!r}")
    return kind


def _split_top(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += 1 if char in "<(" else -1 if char in ">)" else 0
        if char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def _closing(text: str, start: int) -> int:
    """The index of the ``>`` that closes the ``<`` at ``start``."""
    depth = 0
    for index in range(start, len(text)):
        depth += 1 if text[index] == "<" else -1 if text[index] == ">" else 0
        if depth == 0:
            return index
    raise ValueError(f"unbalanced <> in {text!r}")


def _parse_type(text: str) -> tuple[pa.DataType, str]:
    match = re.match(r"(array|map|struct)<", text)
    if match:
        end = _closing(text, match.end() - 1)
        inner, rest = text[match.end() : end], text[end + 1 :]
        parts = _split_top(inner)
        if match.group(1) == "array":
            # Parquet's (and Athena's) name for a list's items.
            return pa.list_(pa.field("element", hive_type(inner))), rest
        if match.group(1) == "map":
            return pa.map_(hive_type(parts[0]), hive_type(",".join(parts[1:]))), rest
        fields = [pa.field(part.split(":", 1)[0], hive_type(part.split(":", 1)[1])) for part in parts]
        return pa.struct(fields), rest
    match = re.match(r"decimal(?:\((\d+),(\d+)\))?", text)
    if match:
        precision, scale = int(match.group(1) or 10), int(match.group(2) or 0)
        return pa.decimal128(precision, scale), text[match.end() :]
    match = re.match(r"([a-z]+)(?:\(\d+\))?", text)
    if match and match.group(1) in SCALARS:
        return SCALARS[match.group(1)], text[match.end() :]
    raise ValueError(f"unsupported Hive type {text!r}")


# -- records to rows --------------------------------------------------------------------------
def documents(data: bytes) -> list[dict[str, Any]]:
    """The JSON objects of one record (several may be concatenated); ConversionError if not JSON objects."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConversionError(f"the record is not UTF-8: {exc}") from exc
    decoder, index, found = json.JSONDecoder(), 0, []
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            break
        try:
            value, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError as exc:
            raise ConversionError(f"the record is not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise ConversionError(f"a record must hold JSON objects, not {type(value).__name__}")
        found.append(value)
    if not found:
        raise ConversionError("the record is empty")
    return found


def _key(conversion: Conversion, key: str) -> str:
    if conversion.dots_to_underscores:
        key = key.replace(".", "_")
    return key.lower() if conversion.case_insensitive or conversion.hive else key


def row(
    conversion: Conversion, columns: list[tuple[str, pa.DataType]], document: dict[str, Any]
) -> dict[str, Any]:
    """One JSON object as a row of the table's columns; ConversionError for a value that does not fit."""
    by_key = {_key(conversion, str(key)): value for key, value in document.items()}
    mappings = {column.lower(): key for column, key in conversion.key_mappings}
    out = {}
    for name, kind in columns:
        source = mappings.get(name)
        value = document.get(source) if source is not None else by_key.get(name)
        try:
            out[name] = _value(conversion, kind, value)
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise ConversionError(f"column {name!r} ({kind}): cannot convert {value!r}: {exc}") from exc
    return out


def _value(conversion: Conversion, kind: pa.DataType, value: Any) -> Any:
    if value is None:
        return None
    if pa.types.is_list(kind):
        if not isinstance(value, list):
            raise TypeError("not a JSON array")
        return [_value(conversion, kind.value_type, item) for item in value]
    if pa.types.is_map(kind):
        if not isinstance(value, dict):
            raise TypeError("not a JSON object")
        return [
            (_value(conversion, kind.key_type, k), _value(conversion, kind.item_type, v))
            for k, v in value.items()
        ]
    if pa.types.is_struct(kind):
        if not isinstance(value, dict):
            raise TypeError("not a JSON object")
        lowered = {_key(conversion, str(k)): v for k, v in value.items()}
        return {f.name: _value(conversion, f.type, lowered.get(f.name.lower())) for f in kind}
    return _scalar(conversion, kind, value)


def _scalar(conversion: Conversion, kind: pa.DataType, value: Any) -> Any:
    if isinstance(value, (dict, list)):
        raise TypeError("a JSON object or array where a scalar is expected")
    if pa.types.is_string(kind):
        return value if isinstance(value, str) else json.dumps(value)
    if pa.types.is_boolean(kind):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise TypeError("not a boolean")
    if isinstance(value, bool):
        raise TypeError("a boolean where a number is expected")
    if pa.types.is_integer(kind):
        number = decimal.Decimal(str(value))
        if number != number.to_integral_value():
            raise ValueError("not an integer")
        bits = kind.bit_width - 1
        if not -(2**bits) <= int(number) < 2**bits:
            raise ValueError(f"out of range for {kind}")
        return int(number)
    if pa.types.is_floating(kind):
        return float(value)
    if pa.types.is_decimal(kind):
        # Hive (HiveDecimal) rounds half up, not half to even.
        number = decimal.Decimal(str(value)).quantize(
            decimal.Decimal(1).scaleb(-kind.scale), rounding=decimal.ROUND_HALF_UP
        )
        if len(number.as_tuple().digits) > kind.precision:
            raise ValueError(f"does not fit {kind}")
        return number
    if pa.types.is_timestamp(kind):
        return _timestamp(conversion, value)
    if pa.types.is_date32(kind):
        return dt.date.fromisoformat(str(value)[:10])
    if pa.types.is_binary(kind):
        return base64.b64decode(str(value), validate=True)
    raise TypeError(f"unsupported type {kind}")


def _joda(pattern: str) -> str:
    """A strptime format for a Joda pattern of the supported tokens; InvalidArgumentException otherwise."""
    out, index = [], 0
    while index < len(pattern):
        if pattern[index] == "'":
            end = pattern.find("'", index + 1)
            if end < 0:
                raise _refuse(f"unterminated quote in TimestampFormats pattern {pattern!r}.")
            out.append(pattern[index + 1 : end].replace("%", "%%"))
            index = end + 1
            continue
        token = next((t for t in JODA_TOKENS if pattern.startswith(t, index)), None)
        if token is not None:
            out.append(JODA_TOKENS[token])
            index += len(token)
        elif pattern[index].isalpha():
            raise _refuse(f"TimestampFormats pattern {pattern!r}: {pattern[index]!r} is not supported here.")
        else:
            out.append(pattern[index].replace("%", "%%"))
            index += 1
    return "".join(out)


def _timestamp(conversion: Conversion, value: Any) -> dt.datetime:
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value / 1000, dt.UTC).replace(tzinfo=None)
    text = str(value)
    for pattern in conversion.timestamp_formats:
        if pattern == "millis" and text.lstrip("-").isdigit():
            return dt.datetime.fromtimestamp(int(text) / 1000, dt.UTC).replace(tzinfo=None)
        if pattern != "millis":
            try:
                return dt.datetime.strptime(text, _joda(pattern))
            except ValueError:
                continue
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


# -- writing ----------------------------------------------------------------------------------
def serialize(
    conversion: Conversion, columns: list[tuple[str, pa.DataType]], rows: list[dict[str, Any]]
) -> bytes:
    """One Parquet (or ORC) object of the rows, with the serializer's compression."""
    schema = pa.schema([pa.field(name, kind) for name, kind in columns])
    table = pa.Table.from_pylist(rows, schema=schema)
    buffer = io.BytesIO()
    if conversion.orc:
        pa_orc.write_table(table, buffer, compression=conversion.compression)
    else:
        pq.write_table(
            table,
            buffer,
            compression=conversion.compression,
            use_dictionary=conversion.dictionary,
            version="2.6" if conversion.writer_v2 else "1.0",
            # Firehose's writer adds no Arrow schema to the footer; Athena bills a file's footer.
            store_schema=False,
        )
    return buffer.getvalue()


@dataclass
class Failed:
    """A record that did not convert: its data, arrival, Kinesis position and why."""

    data: bytes
    arrival_ms: int
    kinesis: dict[str, Any] | None
    code: str
    message: str
    attempts: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


def error_line(conversion: Conversion, failed: Failed, ending_ms: int) -> bytes:
    """One failed record in the documented format-conversion error document (one JSON per line)."""
    document: dict[str, Any] = {
        "attemptsMade": failed.attempts,
        "arrivalTimestamp": failed.arrival_ms,
        "ErrorCode": failed.code,
        "ErrorMessage": failed.message,
        "attemptEndingTimestamp": ending_ms,
        "rawData": base64.b64encode(failed.data).decode("ascii"),
    }
    if failed.kinesis:
        document["sequenceNumber"] = str(failed.kinesis.get("sequenceNumber", ""))
        document["subSequenceNumber"] = int(failed.kinesis.get("subsequenceNumber") or 0)
    document["dataCatalogTable"] = conversion.catalog_entry()
    return json.dumps(document, separators=(",", ":")).encode("utf-8") + b"\n"


# -- one flush --------------------------------------------------------------------------------
def _schema_or_failure(
    world: Any, settings: Any, conversion: Conversion
) -> tuple[list[tuple[str, pa.DataType]], tuple[str, str] | None]:
    """The table's columns as the delivery role reads them, or the error every record gets."""
    denied = iam.check_service_role(
        world,
        conversion.role_arn,
        "glue:GetTable",
        conversion.table_arn,
        service_principal="firehose.amazonaws.com",
        source_arn=settings.arn,
    )
    if denied is not None:
        return [], (ACCESS_DENIED, f"The role may not read the Glue table: {denied.message}")
    try:
        columns = table_columns(world, conversion)
    except ValueError as exc:  # a column type this module does not know
        return [], (MALFORMED, f"The Glue table {conversion.database}.{conversion.table}: {exc}")
    if columns is None:
        return [], (NOT_FOUND, f"The Glue table {conversion.database}.{conversion.table} does not exist.")
    return columns, None


def convert_ready(world: Any, delivery: Any, settings: Any) -> None:
    """Turn each ready group's JSON records into one Parquet (or ORC) body; failures to the error prefix.

    Called just before the flush is sealed: a group whose records all fail is left empty (no
    object), the failed records' error documents go to the ``format-conversion-failed`` group.
    """
    from local_aws.components.firehose_model import Group, now_ms

    conversion = settings.conversion
    columns, failure = _schema_or_failure(world, settings, conversion)
    failed: list[Failed] = []
    for group in delivery.ready.values():
        # Records buffered before an UpdateDestination enabled conversion have no sources kept.
        sources = group.sources + [(group.oldest_ms, None)] * (len(group.chunks) - len(group.sources))
        rows: list[dict[str, Any]] = []
        converted: list[Failed] = []  # the records behind ``rows``, should writing them fail
        for data, (arrival_ms, kinesis) in zip(group.chunks, sources, strict=False):
            if failure is not None:
                failed.append(Failed(data, arrival_ms, kinesis, *failure))
                continue
            try:
                rows.extend([row(conversion, columns, document) for document in documents(data)])
            except ConversionError as exc:
                failed.append(Failed(data, arrival_ms, kinesis, MALFORMED, str(exc)))
                continue
            converted.append(Failed(data, arrival_ms, kinesis, MALFORMED, ""))
        group.chunks, group.sources = [], []
        if rows:
            try:
                group.chunks = [serialize(conversion, columns, rows)]
            except (pa.ArrowException, ValueError, TypeError) as exc:
                for record in converted:
                    record.message = f"the rows could not be written: {exc}"
                failed.extend(converted)
    if failed:
        errors = delivery.errors.setdefault(ERROR_TYPE, Group())
        ending = now_ms()
        for record in failed:
            errors.add(error_line(conversion, record, ending), record.arrival_ms)
