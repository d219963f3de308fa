"""Hive tables that are written: CREATE TABLE AS SELECT and INSERT INTO.

The rows come from the same path every SELECT takes (`binding`: names bound, partitions pruned,
bytes billed); they are written as Athena writes them: Parquet (GZIP unless ``write_compression``
says otherwise), JSON lines (Hive's JsonSerDe) or TEXTFILE (LazySimpleSerDe, fields split by
``\\001`` unless ``field_delimiter`` says otherwise; GZIP by default, ``.gz`` names), one object per
partition named ``<Trino query id>_<uuid>`` the way Athena names them, in Hive's
``key=value/`` folders under the table's location. A CTAS without ``external_location`` writes
under ``<query result location>/tables/<query-id>/``; a location that already holds objects is
refused with HIVE_PATH_ALREADY_EXISTS before anything is written. The objects go through
`World.put_s3_object` (journalled, so a restart keeps them); new partitions are registered in
Glue; the files written are listed in ``<query-id>-manifest.csv`` beside the results, whose
address is the execution's ``Statistics.DataManifestLocation`` (what awswrangler reads).

LIMITATIONS: ORC and AVRO are refused (NOT_SUPPORTED), as are bucketing (``bucketed_by``) and
SNAPPY/ZSTD/LZ4 for text formats (Parquet takes GZIP, SNAPPY, ZSTD, LZ4 and NONE); one object is
written per partition, however large; a failure part-way leaves the objects already written (Athena
may do the same: see its data manifest), but the Glue table of a failed CTAS is not created; INSERT
INTO checks column counts, not that each type can be coerced as Trino would (DuckDB casts); the
Glue table carries no ``classification`` (Athena's CTAS sets none either).
"""

from __future__ import annotations

import datetime
import decimal
import gzip
import io
import json
import random
import string
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp

from local_aws.athena_engine.binding import Binder
from local_aws.athena_engine.catalog import CatalogError, TableDef, split_s3_uri
from local_aws.athena_engine.errors import EngineError, Outcome
from local_aws.athena_engine.rendering import render
from local_aws.athena_engine.rewrite import READ_DIALECT, name_output_columns, trino_fixups
from local_aws.athena_engine.types import duckdb_to_hive

PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
JSON_SERDE = "org.apache.hive.hcatalog.data.JsonSerDe"
TEXT_SERDE = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
TEXT_INPUT = "org.apache.hadoop.mapred.TextInputFormat"
TEXT_OUTPUT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
# The Glue shape of each format Athena's CTAS writes: (SerDe, InputFormat, OutputFormat).
FORMATS = {
    "PARQUET": (
        PARQUET_SERDE,
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    ),
    "JSON": (JSON_SERDE, TEXT_INPUT, TEXT_OUTPUT),
    "TEXTFILE": (TEXT_SERDE, TEXT_INPUT, TEXT_OUTPUT),
}
# CTAS properties of Iceberg tables (`iceberg_dml`), refused for Hive ones there.
ICEBERG_PROPERTIES = {"partitioning", "vacuum_max_snapshot_age_seconds", "vacuum_min_snapshots_to_retain"}
_KNOWN_ELSEWHERE = ("ORC", "AVRO", "ION")  # Athena writes these; local_aws does not yet
_PARQUET_CODECS = {"GZIP": "gzip", "SNAPPY": "snappy", "ZSTD": "zstd", "LZ4": "lz4", "NONE": "none"}
_CTAS_PROPERTIES = {
    "table_type", "external_location", "format", "partitioned_by", "write_compression",
    "field_delimiter", "bucketed_by", "bucket_count", "location", "is_external",
}  # fmt: skip


class HiveWrites(Binder):
    """The CTAS and INSERT INTO family."""

    execution_id: str | None
    output_location: str | None
    manifest: list[str]

    # -- CTAS -------------------------------------------------------------------------------
    def _ctas(self, statement: exp.Create) -> Outcome:
        target = statement.this
        database, name = (target.db or self.database).lower(), target.name.lower()
        props = _ctas_properties(statement, extra=ICEBERG_PROPERTIES)
        if props.get("table_type", "HIVE").upper() == "ICEBERG":
            return self._ctas_iceberg(statement, database, name, props)  # type: ignore[attr-defined]
        for key in sorted(ICEBERG_PROPERTIES & props.keys()):
            raise EngineError(
                "INVALID_TABLE_PROPERTY", f"Catalog 'awsdatacatalog' table property '{key}' does not exist"
            )
        fmt = _format(props.get("format", "PARQUET"))
        codec = _codec(fmt, props.get("write_compression"))
        if "bucketed_by" in props:
            raise EngineError("NOT_SUPPORTED", "bucketed_by is not supported by local_aws")
        if _table_exists(self, database, name):
            raise EngineError("ALREADY_EXISTS", f"Table 'awsdatacatalog.{database}.{name}' already exists")
        location = props.get("external_location") or self._default_location()
        location = location.rstrip("/") + "/"
        split_s3_uri(location)
        if self.catalog.list_objects(location):
            raise EngineError(
                "HIVE_PATH_ALREADY_EXISTS",
                f"Target directory for table '{database}.{name}' already exists: {location}. You may need to "
                "manually clean the data at location before retrying. Athena will not delete data in your account.",
            )
        with_data = _with_data(statement)
        names, types, table = self._rows_of(statement.expression, schema_only=not with_data)
        partitioned = [p.lower() for p in props.get("partitioned_by", [])]
        if names[len(names) - len(partitioned) :] != partitioned:
            raise EngineError(
                "HIVE_COLUMN_ORDER_MISMATCH",
                "Partition keys must be the last columns in the table and in the same order as the table "
                f"properties: {partitioned}",
            )
        columns = [{"Name": n, "Type": duckdb_to_hive(t)} for n, t in zip(names, types, strict=True)]
        data_columns, keys = (
            columns[: len(columns) - len(partitioned)],
            columns[len(columns) - len(partitioned) :],
        )
        table_input = _table_input(
            name, fmt, codec, location, data_columns, keys, props.get("field_delimiter")
        )
        written = 0
        if with_data:
            written = self._write_partitions(table, keys, location, fmt, codec, props.get("field_delimiter"))
        try:
            self.catalog.put_table(database, name, table_input, replace=False)
        except CatalogError as error:
            if error.code == "ALREADY_EXISTS":
                raise EngineError(
                    "ALREADY_EXISTS", f"Table 'awsdatacatalog.{database}.{name}' already exists"
                ) from error
            raise
        if keys and with_data:
            self.catalog.add_partitions(database, name, self._new_partitions(location, keys, table))
        return self._written(written, "CREATE_TABLE_AS_SELECT")

    def _default_location(self) -> str:
        if not self.output_location or not self.execution_id:
            raise EngineError("NOT_SUPPORTED", "CREATE TABLE AS SELECT needs external_location here")
        return f"{self.output_location.rstrip('/')}/tables/{self.execution_id}/"

    # -- INSERT INTO ------------------------------------------------------------------------
    def _insert(self, statement: exp.Insert) -> Outcome:
        target = statement.this
        named: list[str] | None = None
        if isinstance(target, exp.Schema):
            named = [c.name.lower() for c in target.expressions]
            target = target.this
        if not isinstance(target, exp.Table):
            raise EngineError("SYNTAX_ERROR", "INSERT INTO needs a table name")
        table = self.catalog.get_table(target.db or self.database, target.name)
        if table.is_view:
            raise EngineError("NOT_SUPPORTED", "Inserting into views is not supported")
        if table.parameters.get("table_type", "").upper() == "ICEBERG":
            return self._insert_iceberg(table, named, statement)  # type: ignore[attr-defined]
        fmt = _table_format_name(table)
        all_columns = [n for n, _ in table.columns + table.partition_keys]
        order = named if named is not None else all_columns
        unknown = [n for n in order if n not in all_columns]
        if unknown:
            raise EngineError(
                "COLUMN_NOT_FOUND", f"Insert column name does not exist in target table: {unknown[0]}"
            )
        names, _, rows = self._rows_of(statement.expression, schema_only=False)
        if len(names) != len(order):
            raise EngineError(
                "TYPE_MISMATCH",
                f"Insert query has {len(names)} columns, target table has {len(order)} columns",
            )
        rows = _arrange(rows, order, table)
        keys = [{"Name": n, "Type": t} for n, t in table.partition_keys]
        location = table.location.rstrip("/") + "/"
        codec = _codec(fmt, table.parameters.get("write.compression") or _stored_codec(table, fmt))
        written = self._write_partitions(
            rows, keys, location, fmt, codec, table.serde_parameters.get("field.delim")
        )
        if keys:
            known = {tuple(p.values) for p in table.partitions}
            fresh = [p for p in self._new_partitions(location, keys, rows) if tuple(p[0]) not in known]
            self.catalog.add_partitions(table.database, table.name, fresh)
        return self._written(written, "INSERT")

    # -- UNLOAD -----------------------------------------------------------------------------
    def _unload(self, query: exp.Expression, to: str, with_text: str) -> Outcome:
        """UNLOAD (SELECT ...) TO 's3://...' WITH (...): the rows as objects, no table."""
        props = _unload_properties(with_text)
        fmt = _format(props.get("format", "PARQUET"))
        codec = _codec(fmt, props.get("compression") or props.get("write_compression"))
        location = to.rstrip("/") + "/"
        split_s3_uri(location)
        partitioned = [p.lower() for p in props.get("partitioned_by", [])]
        # Athena refuses a destination that holds data, unless it writes partitions into it.
        if not partitioned and self.catalog.list_objects(location):
            raise EngineError(
                "HIVE_PATH_ALREADY_EXISTS",
                f"Target directory for UNLOAD already exists: {location}. You may need to manually clean the "
                "data at location before retrying. Athena will not delete data in your account.",
            )
        names, _, rows = self._rows_of(query, schema_only=False)
        if names[len(names) - len(partitioned) :] != partitioned:
            raise EngineError(
                "HIVE_COLUMN_ORDER_MISMATCH", f"Partition keys must be the last columns: {partitioned}"
            )
        if len(_group(rows, partitioned)) > 100 and partitioned:
            raise EngineError(
                "HIVE_TOO_MANY_OPEN_PARTITIONS", "Exceeded limit of 100 open writers for partitions"
            )
        keys = [{"Name": n, "Type": "string"} for n in partitioned]
        written = self._write_partitions(rows, keys, location, fmt, codec, props.get("field_delimiter"))
        return self._written(written, "UNLOAD")

    # -- shared -----------------------------------------------------------------------------
    def _rows_of(self, query: exp.Expression, schema_only: bool) -> tuple[list[str], list[Any], pa.Table]:
        """The rows of a CTAS's or INSERT's query, read through `binding` like any SELECT."""
        self._schema_only = schema_only
        bound = trino_fixups(self._bind(query, self.database, ()))
        name_output_columns(bound)
        if self.cancelled.is_set():
            raise EngineError("USER_CANCELLED", "Query cancelled by user")
        relation = self._con.sql(bound.sql(dialect="duckdb"))
        names = [n.lower() for n in relation.columns]
        types = list(relation.types)
        table = relation.limit(0).arrow() if schema_only else relation.arrow()
        if isinstance(table, pa.RecordBatchReader):
            table = table.read_all()
        return names, types, table.rename_columns(names)

    def _write_partitions(
        self,
        rows: pa.Table,
        keys: list[dict[str, str]],
        location: str,
        fmt: str,
        codec: str,
        delimiter: str | None,
    ) -> int:
        """Write one object per partition (one for an unpartitioned table); returns the rows written."""
        key_names = [k["Name"] for k in keys]
        data_names = [n for n in rows.column_names if n not in key_names]
        groups = _group(rows, key_names)
        for values, part in groups:
            folder = location + "".join(f"{k}={v}/" for k, v in zip(key_names, values, strict=True))
            body = encode(part.select(data_names), fmt, codec, delimiter)
            suffix = ".gz" if fmt != "PARQUET" and codec == "GZIP" else ""
            uri = f"{folder}{self._object_name()}{suffix}"
            self.catalog.write_object(uri, body)
            self.manifest.append(uri)
        return rows.num_rows

    def _new_partitions(
        self, location: str, keys: list[dict[str, str]], rows: pa.Table
    ) -> list[tuple[list[str], str]]:
        key_names = [k["Name"] for k in keys]
        return [
            (values, location + "".join(f"{k}={v}/" for k, v in zip(key_names, values, strict=True)))
            for values, _ in _group(rows, key_names)
        ]

    def _object_name(self) -> str:
        # Athena names a written object after the Trino query that wrote it, plus a UUID.
        now = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d_%H%M%S")
        tag = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))  # noqa: S311 (a name)
        return f"{now}_{random.randint(0, 99999):05d}_{tag}_{uuid.uuid4()}"  # noqa: S311

    def _written(self, count: int, substatement: str) -> Outcome:
        column = {
            "CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": "rows", "Label": "rows",
            "Type": "bigint", "Precision": 19, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": False,
        }  # fmt: skip
        outcome = Outcome("DML", substatement, [column], [[str(count)]], self.data_scanned)
        outcome.update_count = count
        return outcome


def _ctas_properties(statement: exp.Create, extra: set[str] | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for prop in (statement.args.get("properties") or exp.Properties()).expressions:
        if isinstance(prop, exp.WithDataProperty):
            continue  # WITH [NO] DATA: see `_with_data`
        if isinstance(prop, exp.FileFormatProperty):
            found["format"] = prop.this.name if prop.this is not None else ""
        elif isinstance(prop, exp.PartitionedByProperty):
            found["partitioned_by"] = [e.name for e in prop.this.expressions]
        elif isinstance(prop, exp.LocationProperty):
            found["location"] = prop.this.name
        elif isinstance(prop, exp.Property):
            key = prop.name.lower()
            if key not in _CTAS_PROPERTIES and key not in (extra or set()):
                raise EngineError(
                    "INVALID_TABLE_PROPERTY",
                    f"Catalog 'awsdatacatalog' table property '{key}' does not exist",
                )
            value = prop.args.get("value")
            found[key] = value.name if isinstance(value, exp.Literal) else value.sql() if value else ""
    return found


def _unload_properties(text: str) -> dict[str, Any]:
    """UNLOAD's WITH (...) list, read by the same grammar as a CTAS's."""
    if not text.strip():
        return {}
    try:
        parsed = sqlglot.parse_one(f"CREATE TABLE t WITH ({text}) AS SELECT 1", read=READ_DIALECT)
    except sqlglot.errors.SqlglotError as error:
        raise EngineError(
            "SYNTAX_ERROR", f"UNLOAD properties cannot be read: {str(error).splitlines()[0]}"
        ) from error
    if not isinstance(parsed, exp.Create):
        raise EngineError("SYNTAX_ERROR", "UNLOAD properties cannot be read")
    return _ctas_properties(parsed, extra={"compression"})


def _with_data(statement: exp.Create) -> bool:
    for prop in (statement.args.get("properties") or exp.Properties()).expressions:
        if isinstance(prop, exp.WithDataProperty):
            return not prop.args.get("no")
    return True


def _format(text: str) -> str:
    name = text.upper()
    if name in ("TEXT", "CSV"):
        name = "TEXTFILE"
    if name in FORMATS:
        return name
    if name in _KNOWN_ELSEWHERE:
        raise EngineError("NOT_SUPPORTED", f"format '{name}' is not supported by local_aws yet")
    raise EngineError(
        "INVALID_TABLE_PROPERTY",
        f"Unable to set catalog 'awsdatacatalog' table property 'format' to ['{text}']: "
        f"No enum constant io.trino.plugin.hive.HiveStorageFormat.{name}",
    )


def _codec(fmt: str, requested: str | None) -> str:
    codec = (requested or "GZIP").upper()
    if codec == "UNCOMPRESSED":
        codec = "NONE"
    allowed = _PARQUET_CODECS if fmt == "PARQUET" else {"GZIP": "", "NONE": ""}
    if codec not in allowed:
        raise EngineError(
            "NOT_SUPPORTED", f"write_compression '{codec}' for {fmt} is not supported by local_aws"
        )
    return codec


def _table_exists(binder: Binder, database: str, name: str) -> bool:
    try:
        binder.catalog.get_table(database, name)
    except CatalogError as error:
        if error.code == "SCHEMA_NOT_FOUND":
            raise
        return False
    return True


def _table_input(
    name: str,
    fmt: str,
    codec: str,
    location: str,
    columns: list[dict[str, str]],
    keys: list[dict[str, str]],
    delimiter: str | None,
) -> dict[str, Any]:
    serde, input_format, output_format = FORMATS[fmt]
    serde_parameters = {"serialization.format": "1"}
    parameters = {"EXTERNAL": "TRUE", "has_encrypted_data": "false"}
    if fmt == "PARQUET":
        parameters["parquet.compression"] = codec if codec != "NONE" else "UNCOMPRESSED"
    elif fmt == "TEXTFILE":
        serde_parameters["field.delim"] = delimiter or "\u0001"
    if fmt != "PARQUET":
        parameters["write.compression"] = codec
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": parameters,
        "PartitionKeys": keys,
        "StorageDescriptor": {
            "Columns": columns,
            "Location": location,
            "InputFormat": input_format,
            "OutputFormat": output_format,
            "SerdeInfo": {"SerializationLibrary": serde, "Parameters": serde_parameters},
            "Compressed": codec != "NONE",
            "NumberOfBuckets": -1,
            "StoredAsSubDirectories": False,
        },
    }


def _table_format_name(table: TableDef) -> str:
    serde = table.serde_library.lower()
    if "parquet" in serde or "parquet" in table.input_format.lower():
        return "PARQUET"
    if "json" in serde:
        return "JSON"
    if serde == TEXT_SERDE.lower() or not serde:
        return "TEXTFILE"
    raise EngineError(
        "NOT_SUPPORTED", f"INSERT INTO a table with SerDe {table.serde_library} is not supported by local_aws"
    )


def _stored_codec(table: TableDef, fmt: str) -> str:
    if fmt == "PARQUET":
        stored = table.parameters.get("parquet.compression", "GZIP").upper()
        return "NONE" if stored == "UNCOMPRESSED" else stored
    return "GZIP"


def _arrange(rows: pa.Table, order: list[str], table: TableDef) -> pa.Table:
    """The query's columns under the table's names, in the table's order; columns not given are NULL."""
    named = dict(zip(order, rows.columns, strict=True))
    arrays, names = [], []
    for name, _ in table.columns + table.partition_keys:
        arrays.append(named[name] if name in named else pa.nulls(rows.num_rows))
        names.append(name)
    return pa.table(arrays, names=names)


def _group(rows: pa.Table, key_names: list[str]) -> list[tuple[list[str], pa.Table]]:
    if not key_names:
        return [([], rows)] if rows.num_rows else []
    values = [[_partition_text(v) for v in rows.column(k).to_pylist()] for k in key_names]
    groups: dict[tuple[str, ...], list[int]] = {}
    for index, key in enumerate(zip(*values, strict=True)):
        groups.setdefault(key, []).append(index)
    return [(list(key), rows.take(pa.array(indexes))) for key, indexes in groups.items()]


def _partition_text(value: Any) -> str:
    # Hive's name for a NULL partition value.
    return "__HIVE_DEFAULT_PARTITION__" if value is None else (render(value) or "")


def encode(rows: pa.Table, fmt: str, codec: str, delimiter: str | None) -> bytes:
    """One object's bytes in the table's format (also UNLOAD's)."""
    if fmt == "PARQUET":
        buffer = io.BytesIO()
        pq.write_table(rows, buffer, compression=_PARQUET_CODECS[codec])
        return buffer.getvalue()
    if fmt == "JSON":
        text = "".join(json.dumps(_json_row(row), ensure_ascii=False) + "\n" for row in rows.to_pylist())
    else:
        sep = delimiter or "\u0001"
        text = "".join(
            sep.join("\\N" if v is None else (render(v) or "") for v in row.values()) + "\n"
            for row in rows.to_pylist()
        )
    data = text.encode("utf-8")
    return gzip.compress(data) if codec == "GZIP" else data


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _json_value(v) for k, v in row.items()}


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return render(value)
