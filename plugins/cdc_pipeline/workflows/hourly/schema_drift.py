"""``check_schema_drift``: does the crawled change log still have the schema the definition declares?

The crawler keeps the change log's Glue table up to date (``UPDATE_IN_DATABASE``): a field the writers
start sending becomes a new column, a value of another kind changes a column's type, and a folder of
another format under the lake's prefix could become a table of its own. None of that stops a query,
so without a check it is silent: a new column is never reported on, a quantity that became text is
cast to NULL, a table the crawler made is never read. This check compares, after each crawl:

- every crawled column with the definition's ``[columns]`` and the columns the transform adds
  (``METADATA_COLUMNS``): a column that is neither is *undeclared*;
- every declared column the crawler has seen with its declared type, by kind: a crawled type that the
  state table's cast would change in meaning is a *changed type* (text for a number, a fraction for a
  whole number); the JSON crawler's own readings of a declared type are not (``int`` for ``bigint``,
  ``double`` for ``decimal(12,2)``, as JSON numbers are crawled). A struct's field the declaration
  lacks is undeclared too (``address.unit``). A declared column not crawled yet is not drift: no
  change has carried it;
- the tables of the database whose location lies under the dataset's lake prefix: any but the change
  log is *another table*;
- with a Parquet change log, the attributes the hour's changes carried that the declaration lacks.
  Firehose's conversion keeps only the declared table's columns, so the crawl of its Parquet files
  never sees a new attribute; the transform keeps them in the ``undeclared`` column (JSON text by path)
  and ``inspect_delivery`` collects their paths from the hour's objects: each is *undeclared* too.
  A value of another kind in a declared column fails Firehose's conversion instead, and reaches
  ``check_error_records`` under ``format-conversion-failed``.

It fails naming the columns (``undeclared=coupon,address.unit changed=quantity:string/bigint
tables=sales_orders_abc``), and the hour's run fails with it; nothing is altered: a drift is a
decision for the pipeline's owner (declare the column, fix the writer), never a silent new schema.
Only pipelines that declare their columns (``cdc``) are judged.

LIMITATIONS: struct fields are compared by name, one level deep; arrays and maps by their kind only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import task

from cdc_pipeline.definitions import PipelineDefinition, normal_type
from cdc_pipeline.definitions.types import struct_field_types
from cdc_pipeline.provision.change_table import CHANGE_COLUMNS
from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows.hourly.check_results import conclude

TASK_ID = "check_schema_drift"
QUESTION = (
    "Does the crawled change log still have the declared schema? Fails when the crawler found a column "
    "the definition does not declare, a declared column whose values changed kind, or another table "
    "under the dataset's lake prefix."
)
#: The columns the CDC transform writes beside the item's attributes, with the types they are crawled as
#: (the change table declares the same ones).
METADATA_COLUMNS = dict(CHANGE_COLUMNS)
_KINDS = {
    "string": "text",
    "varchar": "text",
    "char": "text",
    "tinyint": "whole",
    "smallint": "whole",
    "int": "whole",
    "integer": "whole",
    "bigint": "whole",
    "float": "fraction",
    "double": "fraction",
    "real": "fraction",
    "decimal": "fraction",
    "boolean": "boolean",
    "timestamp": "time",
    "date": "date",
    "binary": "binary",
    "struct": "struct",
    "array": "array",
    "map": "map",
}
#: The crawled kinds each declared kind accepts (JSON numbers are crawled as int or double).
_ACCEPTS = {"fraction": {"fraction", "whole"}, "time": {"time", "text"}, "date": {"date", "text"}}


def kind_of(hive_type: str) -> str:
    """``decimal(12,2)`` -> ``fraction``, ``struct<a:int>`` -> ``struct``; an unknown name is itself."""
    name = normal_type(hive_type).split("<", 1)[0].split("(", 1)[0]
    return _KINDS.get(name, name)


def struct_fields(hive_type: str) -> list[str]:
    """The field names of ``struct<a:int,b:struct<c:string>>``, one level deep (``["a", "b"]``)."""
    return [name for name, _ in struct_field_types(hive_type)]


def changed_type(declared: str, crawled: str) -> bool:
    """Whether a crawled type's kind means something other than the declared one's."""
    return kind_of(crawled) not in _ACCEPTS.get(kind_of(declared), {kind_of(declared)})


def drift(
    crawled: list[dict[str, Any]],
    declared: list[tuple[str, str]],
    other_tables: list[str],
    delivered_undeclared: Sequence[str] = (),
) -> dict[str, Any]:
    """The check's numbers: what differs between the crawled columns and the declared schema.

    A struct field the declaration lacks is an undeclared column, named ``column.field``; so is an
    attribute path the hour's Parquet changes kept aside as ``undeclared`` (``delivered_undeclared``).
    """
    wanted = {name.lower(): kind for name, kind in declared}
    undeclared, changed = [], []
    for column in crawled:
        name, kind = column["Name"], column.get("Type", "")
        if name.lower() in METADATA_COLUMNS:
            continue
        if name.lower() not in wanted:
            undeclared.append(name)
        elif changed_type(wanted[name.lower()], kind):
            changed.append(f"{name}:{normal_type(kind)}/{normal_type(wanted[name.lower()])}")
        elif kind_of(kind) == "struct":
            known = set(struct_fields(wanted[name.lower()]))
            undeclared += [f"{name}.{field}" for field in struct_fields(kind) if field not in known]
    undeclared += [path for path in delivered_undeclared if path not in undeclared]
    return {
        "undeclared_columns": len(undeclared),
        "changed_types": len(changed),
        "other_tables": len(other_tables),
        "undeclared": ",".join(undeclared) or "none",
        "changed": ",".join(changed) or "none",
        "tables": ",".join(other_tables) or "none",
    }


def location_of(table: dict[str, Any]) -> str:
    """A Glue table's S3 location with one trailing slash ('' for a view, which has none)."""
    location = (table.get("StorageDescriptor") or {}).get("Location") or ""
    return location.rstrip("/") + "/" if location else ""


def schema_drift_check(
    definition: PipelineDefinition, settings: Settings, lake_bucket: Any, inspection: Any
) -> Any:
    """``check_schema_drift`` for a pipeline that declares its columns (see the module docstring);
    ``inspection`` is ``inspect_delivery``'s result (the hour's ``undeclared`` attribute paths)."""

    @task(task_id=TASK_ID, retries=0)
    def check_schema_drift(lake_bucket: str, found: dict[str, Any], **context: Any) -> dict[str, Any]:
        """The crawled change log against the declared columns; other tables under the lake prefix."""
        from airflow.providers.amazon.aws.hooks.glue_catalog import GlueCatalogHook

        glue = GlueCatalogHook(aws_conn_id=settings.aws_conn_id).get_conn()
        database, table = settings.glue_database, definition.name
        crawled = glue.get_table(DatabaseName=database, Name=table)["Table"]["StorageDescriptor"]["Columns"]
        lake_location = f"s3://{lake_bucket}/{definition.name}/"
        other_tables = [
            found["Name"]
            for page in glue.get_paginator("get_tables").paginate(DatabaseName=database)
            for found in page["TableList"]
            if found["Name"] != table and location_of(found).startswith(lake_location)
        ]
        delivered = found.get("undeclared_attributes") or []
        numbers = drift(crawled, list(definition.columns), other_tables, delivered)
        passed = numbers["undeclared_columns"] == 0 and numbers["changed_types"] == 0 and not other_tables
        return conclude(context, TASK_ID, QUESTION, passed, numbers)

    return check_schema_drift(lake_bucket, inspection)
