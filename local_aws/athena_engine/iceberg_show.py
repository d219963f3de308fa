"""SHOW CREATE TABLE of an Iceberg table: Athena's Iceberg DDL, read from the table's Iceberg metadata.

Athena answers with the statement that would make the table again: ``CREATE TABLE db.t (...)`` with
the current schema's columns in Hive type names, ``PARTITIONED BY`` the current partition spec's
transforms as they are written in DDL (``day(ts)``, ``bucket(16, id)``, a bare column for
identity), ``LOCATION`` and ``TBLPROPERTIES`` with ``'table_type'='iceberg'``, the data format and
its compression and the Athena properties the table carries (``vacuum_*``, ``optimize_*``).

LIMITATIONS: column comments and the write properties Athena adds only when set (target file
size, ``write_data_path_only``...) are not shown; a partition field whose transform pyiceberg does
not name (``void``, an unknown one) is shown by pyiceberg's own name.
"""

from __future__ import annotations

import re
from typing import Any

# Table properties Athena accepts at CREATE TABLE for Iceberg and shows back.
_ATHENA_PROPERTIES = re.compile(r"^(vacuum_|optimize_)")
_CODEC_PROPERTY = "write.parquet.compression-codec"


def hive_type(kind: Any) -> str:
    """An Iceberg type in the Hive spelling Athena's DDL uses (``bigint``, ``array<string>``...)."""
    from pyiceberg import types as t

    if isinstance(kind, t.ListType):
        return f"array<{hive_type(kind.element_type)}>"
    if isinstance(kind, t.MapType):
        return f"map<{hive_type(kind.key_type)},{hive_type(kind.value_type)}>"
    if isinstance(kind, t.StructType):
        return "struct<" + ",".join(f"{f.name}:{hive_type(f.field_type)}" for f in kind.fields) + ">"
    if isinstance(kind, t.DecimalType):
        return f"decimal({kind.precision},{kind.scale})"
    names = {
        t.BooleanType: "boolean",
        t.IntegerType: "int",
        t.LongType: "bigint",
        t.FloatType: "float",
        t.DoubleType: "double",
        t.DateType: "date",
        t.TimestampType: "timestamp",
        t.TimestamptzType: "timestamp",
        t.StringType: "string",
        t.UUIDType: "string",
        t.BinaryType: "binary",
        t.FixedType: "binary",
    }
    for cls, name in names.items():
        if isinstance(kind, cls):
            return name
    return str(kind).lower()


def partition_text(field: Any, source: str) -> str:
    """One partition field as written in Athena's PARTITIONED BY: ``day(ts)``, ``bucket(16, id)``, ``id``."""
    from pyiceberg import transforms as tr

    transform = field.transform
    if isinstance(transform, tr.IdentityTransform):
        return source
    if isinstance(transform, tr.BucketTransform):
        return f"bucket({transform.num_buckets}, {source})"
    if isinstance(transform, tr.TruncateTransform):
        return f"truncate({transform.width}, {source})"
    named = {
        tr.YearTransform: "year",
        tr.MonthTransform: "month",
        tr.DayTransform: "day",
        tr.HourTransform: "hour",
    }
    for cls, name in named.items():
        if isinstance(transform, cls):
            return f"{name}({source})"
    return f"{transform}({source})"


def show_create_lines(database: str, name: str, tbl: Any) -> list[str]:
    """The rows of SHOW CREATE TABLE for the pyiceberg table ``tbl`` (one line of DDL a row)."""
    schema = tbl.schema()
    columns = [f"  {field.name} {hive_type(field.field_type)}" for field in schema.fields]
    lines = [f"CREATE TABLE {database}.{name} ("]
    lines += [c + "," for c in columns[:-1]] + [columns[-1] + ")"] if columns else [")"]
    spec = tbl.spec()
    if spec.fields:
        fields = [partition_text(f, schema.find_column_name(f.source_id)) for f in spec.fields]
        lines.append(f"PARTITIONED BY ({', '.join(fields)})")
    lines.append(f"LOCATION '{tbl.location()}'")
    properties = tbl.properties
    shown = {
        "table_type": "iceberg",
        "format": properties.get("write.format.default", "parquet").lower(),
        "write_compression": properties.get(_CODEC_PROPERTY, "zstd").lower(),
    }
    shown.update({k: v for k, v in sorted(properties.items()) if _ATHENA_PROPERTIES.match(k)})
    items = [f"  '{k}'='{v}'" for k, v in shown.items()]
    lines.append("TBLPROPERTIES (")
    lines += [item + "," for item in items[:-1]] + [items[-1] + ")"]
    return lines
