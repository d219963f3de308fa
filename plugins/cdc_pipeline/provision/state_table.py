"""The dataset's state as an Iceberg table of versions, ``<dataset>_state``, created through Athena DDL.

The table holds one row per *change* of a key (a version): the declared business columns (the
definition's ``[columns]``, a contract rather than what a crawl inferred), then ``sequence_number``
(the stream's 40-digit decimal text of the change), ``is_deleted`` (the change was a delete: the key
is gone from ``valid_from`` on), ``valid_from`` (the change's event time), ``valid_to`` (when a later
change of the key replaced it; NULL while it is the latest) and ``partition_time`` (the declared
``state_partition`` column as a timestamp). The hourly ``merge_state`` task keeps it and says what
the validity means (``workflows.hourly.state``).

It is partitioned by ``day(partition_time)`` and ``bucket(16, <key>)``. The partition column is a time
that never changes for a key (an order's ``order_time``), so all versions of a key share one
partition: a report over one hour's orders reads one day, and the hourly MERGE, which meets its rows
by key and ``partition_time``, rewrites only the files of the days and buckets the hour's keys fall in
instead of the whole table.

Created with the same ``CREATE TABLE ... TBLPROPERTIES ('table_type'='ICEBERG')`` statement on AWS and
on the embedded Athena, in the lake bucket under ``iceberg/`` (outside the crawler's prefix, so the
crawler never mistakes its Parquet and metadata files for change data). A table that exists with
other columns is an error naming them: changing a declared schema needs a migration, never a silent
drop of the rows.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from cdc_pipeline.definitions import PipelineDefinition, normal_type
from cdc_pipeline.definitions.errors import PipelineDefinitionError
from cdc_pipeline.provision.context import Deployment
from cdc_pipeline.provision.outcome import Outcome
from cdc_pipeline.provision.waiting import error_code

KIND = "athena:iceberg-table"
RESOURCE = "state_table"
#: The partition transform of the state table (see the module docstring).
BUCKETS = 16
#: Columns the state table adds after the declared ones, with their Athena types.
STATE_COLUMNS = (
    ("sequence_number", "string"),
    ("is_deleted", "boolean"),
    ("valid_from", "timestamp"),
    ("valid_to", "timestamp"),
    ("partition_time", "timestamp"),
)


class StateTableError(RuntimeError):
    """The state table cannot be brought in line (a schema that differs, a failed DDL statement)."""


def state_table_name(definition: PipelineDefinition) -> str:
    return f"{definition.name}_state"


def state_columns(definition: PipelineDefinition) -> list[tuple[str, str]]:
    """Every column of the state table, in order: the declared ones, then the change's own."""
    if not definition.columns:
        raise PipelineDefinitionError(
            definition.source or definition.name,
            "columns",
            "is required for a 'cdc' pipeline: declare the business columns (name = Athena type)",
        )
    return [*definition.columns, *STATE_COLUMNS]


def create_statement(deployment: Deployment) -> str:
    definition, names = deployment.definition, deployment.names
    columns = ",\n    ".join(f"`{name}` {kind}" for name, kind in state_columns(definition))
    table = state_table_name(definition)
    return (
        f"CREATE TABLE `{names.glue_database}`.`{table}` (\n    {columns}\n)\n"
        f"PARTITIONED BY (day(`partition_time`), bucket({BUCKETS}, `{definition.key_attribute}`))\n"
        f"LOCATION 's3://{names.lake_bucket}/iceberg/{table}/'\n"
        "TBLPROPERTIES ('table_type'='ICEBERG', 'format'='parquet')"
    )


def run_statement(deployment: Deployment, sql: str, timeout: float = 300.0) -> dict[str, Any]:
    """Run one Athena statement in the pipeline's workgroup; its QueryExecution when it SUCCEEDED."""
    names = deployment.names
    return run_query(deployment.client("athena"), sql, names.glue_database, names.athena_workgroup, timeout)


def run_query(athena: Any, sql: str, database: str, workgroup: str, timeout: float = 300.0) -> dict[str, Any]:
    """Run ``sql`` with an Athena client and wait; its QueryExecution when it SUCCEEDED, else an error."""
    query_id = athena.start_query_execution(
        QueryString=sql, QueryExecutionContext={"Database": database}, WorkGroup=workgroup
    )["QueryExecutionId"]
    deadline = time.monotonic() + timeout
    while True:
        execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        status = execution["Status"]
        if status["State"] == "SUCCEEDED":
            return execution
        if status["State"] in ("FAILED", "CANCELLED"):
            reason = status.get("StateChangeReason", status["State"])
            raise StateTableError(f"Athena query {query_id} {status['State']}: {reason}\n{sql}")
        if time.monotonic() > deadline:
            raise StateTableError(f"Athena query {query_id} still {status['State']} after {timeout:.0f} s")
        time.sleep(0.5)


def _glue_table(deployment: Deployment) -> dict[str, Any] | None:
    try:
        return deployment.client("glue").get_table(
            DatabaseName=deployment.names.glue_database, Name=state_table_name(deployment.definition)
        )["Table"]
    except ClientError as error:
        if error_code(error) == "EntityNotFoundException":
            return None
        raise


def schema_differences(table: dict[str, Any], definition: PipelineDefinition) -> list[str]:
    """What differs between the catalog's columns and the declared ones, one phrase per column."""
    have = {c["Name"].lower(): normal_type(c.get("Type", "")) for c in table["StorageDescriptor"]["Columns"]}
    want = {name: normal_type(kind) for name, kind in state_columns(definition)}
    differences = [f"{name} is missing" for name in want if name not in have]
    differences += [f"{name} is not declared" for name in have if name not in want]
    differences += [
        f"{name} is {have[name]}, declared {want[name]}"
        for name in want
        if name in have and have[name] != want[name]
    ]
    return differences


def ensure_state_table(deployment: Deployment) -> Outcome:
    """Create the Iceberg state table; an existing one must have the declared columns."""
    name = f"{deployment.names.glue_database}.{state_table_name(deployment.definition)}"
    table = _glue_table(deployment)
    if table is None:
        run_statement(deployment, create_statement(deployment))
        return Outcome(RESOURCE, KIND, name, "created")
    if (table.get("Parameters") or {}).get("table_type", "").upper() != "ICEBERG":
        raise StateTableError(f"{name} exists but is not an Iceberg table: drop it, then provision again")
    differences = schema_differences(table, deployment.definition)
    if differences:
        raise StateTableError(
            f"{name} has other columns than {deployment.definition.source or 'the definition'} declares "
            f"({'; '.join(differences)}): migrate or drop the table, then provision again"
        )
    return Outcome(RESOURCE, KIND, name, "unchanged")


def delete_state_table(deployment: Deployment) -> Outcome:
    """DROP TABLE through Athena, which removes an Iceberg table's data with its catalog entry."""
    name = f"{deployment.names.glue_database}.{state_table_name(deployment.definition)}"
    if _glue_table(deployment) is None:
        return Outcome(RESOURCE, KIND, name, "absent")
    table = state_table_name(deployment.definition)
    run_statement(deployment, f"DROP TABLE IF EXISTS `{deployment.names.glue_database}`.`{table}`")
    return Outcome(RESOURCE, KIND, name, "deleted")
