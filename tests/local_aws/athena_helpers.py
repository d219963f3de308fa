"""The lakes the Athena tests query: buckets, a Glue database, tables over text objects, partitions.

Every Athena test module builds its own small lake (module-scoped fixtures) with these, so a lake
is made the same way everywhere: a lake bucket, a results bucket and a database with unique names,
tables whose ``Location`` is ``s3://<bucket>/<table>/`` and partitions in Hive folders under it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from tests.support import unique

#: Delimited text, as the crawler and CREATE EXTERNAL TABLE ... FIELDS TERMINATED BY ',' write it.
CSV_SERDE = {
    "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
    "Parameters": {"field.delim": ","},
}
#: One JSON object a line (what Firehose delivers).
JSON_SERDE = {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"}
TEXT_INPUT_FORMAT = "org.apache.hadoop.mapred.TextInputFormat"


def new_lake(aws: Callable[..., Any], tag: str) -> dict[str, Any]:
    """A lake bucket, a results bucket and a Glue database, named ``<tag>-lake-…``, ``<tag>-results-…``, ``<tag>_…``."""
    s3 = aws("s3")
    lake = {
        "bucket": unique(f"{tag}-lake"),
        "results": unique(f"{tag}-results"),
        "database": unique(tag).replace("-", "_"),
    }
    s3.create_bucket(Bucket=lake["bucket"])
    s3.create_bucket(Bucket=lake["results"])
    aws("glue").create_database(DatabaseInput={"Name": lake["database"]})
    return lake


def table_storage(
    lake: dict[str, Any],
    name: str,
    columns: Sequence[tuple[str, str]],
    *,
    serde: dict[str, Any] = CSV_SERDE,
    input_format: str | None = None,
) -> dict[str, Any]:
    """The StorageDescriptor of a text table over ``s3://<bucket>/<name>/``; ``columns`` are (name, type)."""
    storage: dict[str, Any] = {
        "Columns": [{"Name": column, "Type": kind} for column, kind in columns],
        "Location": f"s3://{lake['bucket']}/{name}/",
        "SerdeInfo": serde,
    }
    if input_format:
        storage["InputFormat"] = input_format
    return storage


def create_table(
    aws: Callable[..., Any],
    lake: dict[str, Any],
    name: str,
    columns: Sequence[tuple[str, str]],
    *,
    serde: dict[str, Any] = CSV_SERDE,
    partition_keys: Sequence[tuple[str, str]] = (),
    input_format: str | None = None,
) -> dict[str, Any]:
    """An external Glue table over ``s3://<bucket>/<name>/``; keys are (name, type). Its StorageDescriptor."""
    storage = table_storage(lake, name, columns, serde=serde, input_format=input_format)
    table: dict[str, Any] = {"Name": name, "TableType": "EXTERNAL_TABLE", "StorageDescriptor": storage}
    if partition_keys:
        table["PartitionKeys"] = [{"Name": key, "Type": kind} for key, kind in partition_keys]
    aws("glue").create_table(DatabaseName=lake["database"], TableInput=table)
    return storage


def add_partition(
    aws: Callable[..., Any],
    lake: dict[str, Any],
    table: str,
    key: str,
    value: str,
    storage: dict[str, Any] | None = None,
) -> str:
    """Register the Hive folder ``<table>/<key>=<value>/`` as a partition; its key prefix.

    The partition's StorageDescriptor is its location alone, or ``storage`` (the table's, as the
    crawler writes it) with the location replaced.
    """
    prefix = f"{table}/{key}={value}/"
    location = f"s3://{lake['bucket']}/{prefix}"
    aws("glue").create_partition(
        DatabaseName=lake["database"],
        TableName=table,
        PartitionInput={"Values": [value], "StorageDescriptor": {**(storage or {}), "Location": location}},
    )
    return prefix


def put_object(aws: Callable[..., Any], lake: dict[str, Any], key: str, body: bytes) -> int:
    """Write one object into the lake bucket; its size in bytes."""
    aws("s3").put_object(Bucket=lake["bucket"], Key=key, Body=body)
    return len(body)


def ndjson(rows: Sequence[dict[str, Any]]) -> bytes:
    """Rows as newline-delimited JSON."""
    return "".join(json.dumps(row) + "\n" for row in rows).encode()
