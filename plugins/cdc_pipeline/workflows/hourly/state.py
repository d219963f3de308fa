"""``merge_state``: the hour's changes merged into the dataset's current-state Iceberg table.

One ``MERGE INTO <dataset>_state`` per run (``include/sql/dml/merge_state.sql``):

- The source is each key's latest change, by sequence number, among the changes in the lake
  partitions of the run's hour and the ``LATE_HOURS`` hours before it. Sequence numbers are decimal
  text of up to 40 digits (more than ``DECIMAL(38, 0)`` holds), so they are compared as
  ``lpad(sequence_number, 40, '0')``: equal-length digit strings order as their numbers do, whatever
  padding the text arrived with (a plain string comparison would put ``'9'`` after ``'10'``).
- A matched row is replaced only when the source change is newer (``WHEN MATCHED AND s > t``); a key
  not in the table is inserted, a delete included: the row stays as a tombstone (``is_deleted``), so
  a change older than the delete, delivered late, meets the tombstone and loses instead of bringing
  the key back. Readers filter ``NOT is_deleted``.
- Hence the table after any set of runs holds, per key, the newest change among every change those
  runs read: re-running an hour, or running hours in any order, leaves it exactly as one in-order
  run would (the result depends on the set of changes merged, not on the order of the merges).
- Late data: Firehose puts a change in the partition of its *event* hour, however late it arrives.
  Each run also reads the ``LATE_HOURS`` partitions before its own, so a change delivered up to that
  long after its hour's run is merged by a later hour's run; each run reads a fixed number of
  partitions, so its cost does not grow with the lake's age. A change later still is merged when its
  hour is re-run (clear the task), and the reconciliation check fails meanwhile, naming the change.

The source columns are cast to the types the definition declares (``[columns]``); a declared column
the crawler has not seen yet (no change carried it) is NULL. Runs of the same DAG merge one at a time
(``max_active_tis_per_dag=1``): concurrent commits to one Iceberg table would conflict.

LIMITATIONS: the reports and checks still read the ``<dataset>_current`` view over the whole change
history; moving them onto this table (and reports as of their hour) is the next step of issue #10.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from airflow.providers.amazon.aws.operators.athena import AthenaOperator

from cdc_pipeline.definitions import PipelineDefinition
from cdc_pipeline.provision.state_table import STATE_COLUMNS, state_table_name
from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows.common import hour_partition
from cdc_pipeline.workflows.hourly.crawl import athena_query

#: How many hours before its own a run reads again, for changes delivered after their hour's run.
LATE_HOURS = 2
#: The width the sequence numbers are padded to before comparing them (DynamoDB's most digits).
SEQUENCE_DIGITS = 40
TASK_ID = "merge_state"


def _normal(kind: str) -> str:
    return "".join(kind.lower().split())


def merge_window(moment: datetime) -> str:
    """SQL selecting the lake partitions of ``moment``'s hour and the ``LATE_HOURS`` before it."""
    hours = [moment - timedelta(hours=back) for back in range(LATE_HOURS, -1, -1)]
    return "(" + " OR ".join(f"({hour_partition(hour)})" for hour in hours) + ")"


def sequence_key(expression: str) -> str:
    """``expression`` (a sequence number's text) as a string that orders as the number does."""
    return f"lpad({expression}, {SEQUENCE_DIGITS}, '0')"


def state_macros(definition: PipelineDefinition, settings: Settings) -> dict[str, object]:
    """The identifiers and column lists ``merge_state.sql`` renders with (``state.<name>``)."""
    columns = [name for name, _ in definition.columns] + [name for name, _ in STATE_COLUMNS]
    return {
        "table": f"{settings.glue_database}.{state_table_name(definition)}",
        "key": definition.key_attribute,
        "columns": columns,
        "source_columns": source_columns(definition, settings),
        "window": merge_window,
        "sequence": sequence_key,
    }


def source_columns(definition: PipelineDefinition, settings: Settings) -> Callable[[str], str]:
    """``state.source_columns(alias)``: the declared columns read from the lake table, cast to their types.

    Read when the SQL is rendered (after the crawl) from the catalog: a column whose crawled type is
    the declared one is taken as it is, another is cast, one the crawler has not seen is NULL.
    """

    def render(alias: str) -> str:
        from airflow.providers.amazon.aws.hooks.glue_catalog import GlueCatalogHook

        table = GlueCatalogHook(aws_conn_id=settings.aws_conn_id).get_table(
            settings.glue_database, definition.name
        )
        crawled = {c["Name"]: _normal(c.get("Type", "")) for c in table["StorageDescriptor"]["Columns"]}
        selected = []
        for name, kind in definition.columns:
            if name not in crawled:
                selected.append(f'CAST(NULL AS {kind}) AS "{name}"')
            elif crawled[name] == _normal(kind):
                selected.append(f'{alias}."{name}" AS "{name}"')
            else:
                selected.append(f'CAST({alias}."{name}" AS {kind}) AS "{name}"')
        return ",\n        ".join(selected)

    return render


def merge_state(settings: Settings) -> AthenaOperator:
    """The one MERGE of the hour; one run's merge at a time (see the module docstring)."""
    operator = athena_query(settings, TASK_ID, "dml/merge_state.sql")
    operator.max_active_tis_per_dag = 1
    operator.doc_md = __doc__
    return operator
