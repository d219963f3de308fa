"""The change log's Glue table, ``<dataset>``, declared before Parquet is written into it.

With ``CDC_LAKE_CHANGE_LOG_FORMAT=parquet``, Firehose converts each transformed record (JSON) to
Parquet with the schema of this table (``DataFormatConversionConfiguration``), and a ``direct``
pipeline's Kinesis consumer writes Parquet with the same columns itself: the change's metadata
columns (what the CDC transform writes first, ``CHANGE_COLUMNS``), then the definition's declared
``[columns]`` with their declared types, partitioned by the definition's partition keys (strings,
from the S3 prefix). The lake then has a contract, not a crawl's guess: a decimal stays
``decimal(12,2)`` where a crawl of JSON numbers would say ``double``.

The table is the one the crawler would create for the prefix (same name and location), so the
crawler updates it: it adds the hour partitions, and keeps the declared columns (its crawl of the
Parquet files finds the same ones). Created with glue:CreateTable on AWS and on the embedded AWS.

An existing table in another storage format (a lake first crawled as JSON) is an error naming the
format: the change log's format is chosen once per lake prefix, since Athena reads a table in one
format. A declared column missing from the table is added (old files read it as NULL); a column whose
type differs from the declaration is an error naming it (its files hold the old type).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from cdc_pipeline.definitions import normal_type
from cdc_pipeline.provision.context import Deployment
from cdc_pipeline.provision.outcome import Outcome
from cdc_pipeline.provision.waiting import error_code

KIND = "glue:table"
RESOURCE = "change_table"
#: The CDC transform's metadata columns (``lambda/shared/lake_rows.py`` ``CHANGE_FIELDS``), typed as a
#: crawl of its JSON types them: times are ISO-8601 text, the sequence number 40-digit decimal text.
CHANGE_COLUMNS = (
    ("event_id", "string"),
    ("event_name", "string"),
    ("sequence_number", "string"),
    ("event_time", "string"),
    ("approximate_creation_time", "string"),
    ("processed_at", "string"),
    ("is_deleted", "boolean"),
    ("removed_by", "string"),
    ("undeclared", "string"),
)
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"


class ChangeTableError(RuntimeError):
    """The change log's table exists in a shape the provisioning must not change in place."""


def change_columns(deployment: Deployment) -> list[tuple[str, str]]:
    """The table's data columns, in order: the change's metadata, then the declared business columns."""
    definition = deployment.definition
    taken = {name for name, _ in CHANGE_COLUMNS}
    declared = [(name, kind) for name, kind in definition.columns if name not in taken]
    return [*CHANGE_COLUMNS, *declared]


def table_input(deployment: Deployment) -> dict[str, Any]:
    names, definition = deployment.names, deployment.definition
    return {
        "Name": definition.name,
        "Description": f"cdc-lake {definition.name}: the change log (Parquet)",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
        "PartitionKeys": [{"Name": key, "Type": "string"} for key in definition.partition_keys],
        "StorageDescriptor": {
            "Columns": [
                {"Name": name, "Type": normal_type(kind)} for name, kind in change_columns(deployment)
            ],
            "Location": f"s3://{names.lake_bucket}/{names.lake_prefix}",
            "InputFormat": PARQUET_INPUT,
            "OutputFormat": PARQUET_OUTPUT,
            "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE, "Parameters": {"serialization.format": "1"}},
        },
    }


def existing_table(deployment: Deployment) -> dict[str, Any] | None:
    """The dataset's change log table as GetTable returns it, None when there is none."""
    try:
        return deployment.client("glue").get_table(
            DatabaseName=deployment.names.glue_database, Name=deployment.definition.name
        )["Table"]
    except ClientError as error:
        if error_code(error) == "EntityNotFoundException":
            return None
        raise


def _updatable(table: dict[str, Any]) -> dict[str, Any]:
    """The parts of a GetTable answer that UpdateTable takes back (its TableInput)."""
    keys = ("Name", "Description", "TableType", "Parameters", "PartitionKeys", "StorageDescriptor")
    return {key: table[key] for key in keys if key in table}


def ensure_change_table(deployment: Deployment) -> Outcome:
    """Create the Parquet change table; add declared columns it lacks; refuse another format or type."""
    names, definition = deployment.names, deployment.definition
    glue = deployment.client("glue")
    current = existing_table(deployment)
    if current is None:
        glue.create_table(DatabaseName=names.glue_database, TableInput=table_input(deployment))
        return Outcome(RESOURCE, KIND, definition.name, "created")
    descriptor = current.get("StorageDescriptor") or {}
    serde = (descriptor.get("SerdeInfo") or {}).get("SerializationLibrary")
    if serde != PARQUET_SERDE:
        raise ChangeTableError(
            f"the change log table {names.glue_database}.{definition.name} is stored with {serde} (not "
            "Parquet): its files cannot change format in place. Tear the pipeline down (or use a new "
            "CDC_LAKE_PREFIX) to start a Parquet change log, or keep CDC_LAKE_CHANGE_LOG_FORMAT=json"
        )
    have = {
        column["Name"].lower(): normal_type(column.get("Type", ""))
        for column in descriptor.get("Columns", [])
    }
    wanted = change_columns(deployment)
    differing = [
        f"{name} is {have[name]}, declared {normal_type(kind)}"
        for name, kind in wanted
        if name in have and have[name] != normal_type(kind)
    ]
    if differing:
        raise ChangeTableError(
            f"the change log table {names.glue_database}.{definition.name} differs from the definition: "
            + "; ".join(differing)
            + " (its Parquet files hold the old types: migrate them, then change the declaration)"
        )
    missing = [(name, kind) for name, kind in wanted if name not in have]
    if not missing:
        return Outcome(RESOURCE, KIND, definition.name, "unchanged")
    updated = _updatable(current)
    updated["StorageDescriptor"] = {
        **descriptor,
        "Columns": [
            *descriptor.get("Columns", []),
            *({"Name": n, "Type": normal_type(k)} for n, k in missing),
        ],
    }
    glue.update_table(DatabaseName=names.glue_database, TableInput=updated)
    return Outcome(RESOURCE, KIND, definition.name, "updated")


def delete_change_table(deployment: Deployment) -> Outcome:
    """Delete the table (the crawler's, too: the database's delete would take it anyway)."""
    names, definition = deployment.names, deployment.definition
    try:
        deployment.client("glue").delete_table(DatabaseName=names.glue_database, Name=definition.name)
    except ClientError as error:
        if error_code(error) == "EntityNotFoundException":
            return Outcome(RESOURCE, KIND, definition.name, "absent")
        raise
    return Outcome(RESOURCE, KIND, definition.name, "deleted")
