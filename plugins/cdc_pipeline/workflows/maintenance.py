"""``<dataset>_maintenance``: the daily upkeep of a ``cdc`` pipeline's current-state Iceberg table.

Each hourly MERGE writes new data files (copy-on-write) and a snapshot; over a day the table
gathers small files and old snapshots whose files no reader needs. Once a day, once
``check_provisioned`` has found the pipeline (a run before provisioning is skipped, not failed), the
task ``optimize_and_vacuum``:

1. counts the table's data files (``"<table>$files"``);
2. ``OPTIMIZE <table> REWRITE DATA USING BIN_PACK``: small files rewritten into fewer, larger ones;
3. ``VACUUM <table>``: snapshots older than the table's ``vacuum_max_snapshot_age_seconds`` (Athena's
   default: five days) expire, and the files only they referenced are deleted;
4. counts the data files again, logs ``files before -> after`` and returns both (XCom).

No task reads the table's old snapshots (the hourly MERGE reads and writes the current one), so
expiring them takes nothing a run needs; a report that time-travels would have to keep its snapshots
longer than the table's vacuum age. Runs use the Airflow AWS connection, as the hourly
DAG does; a failed statement fails the task naming the statement and Athena's reason.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import DAG, task
from airflow.timetables.interval import CronDataIntervalTimetable

from cdc_pipeline.definitions import PipelineDefinition
from cdc_pipeline.provision.state_table import run_query, state_table_name
from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows.common import default_args
from cdc_pipeline.workflows.hourly import sensors

log = logging.getLogger(__name__)


def dag_id(definition: PipelineDefinition) -> str:
    return f"{definition.name}_maintenance"


def count_files(athena: Any, settings: Settings, table: str) -> int:
    """How many data files the table's current snapshot has."""
    execution = run_query(
        athena, f'SELECT count(*) FROM "{table}$files"', settings.glue_database, settings.athena_workgroup
    )
    rows = athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"])["ResultSet"]["Rows"]
    return int(rows[1]["Data"][0]["VarCharValue"])


def maintain(athena: Any, settings: Settings, definition: PipelineDefinition) -> dict[str, int]:
    """Compact and vacuum the state table; the data file counts before and after."""
    table = state_table_name(definition)
    database, workgroup = settings.glue_database, settings.athena_workgroup
    before = count_files(athena, settings, table)
    run_query(athena, f"OPTIMIZE {table} REWRITE DATA USING BIN_PACK", database, workgroup)
    run_query(athena, f"VACUUM {table}", database, workgroup)
    after = count_files(athena, settings, table)
    log.info("%s.%s data files: %d before, %d after OPTIMIZE and VACUUM", database, table, before, after)
    return {"files_before": before, "files_after": after}


def build(definition: PipelineDefinition, settings: Settings) -> DAG:
    """The daily DAG: ``check_provisioned``, then ``optimize_and_vacuum``."""
    with DAG(
        dag_id=dag_id(definition),
        description=f"Compact and vacuum the current-state Iceberg table of {definition.name}",
        schedule=CronDataIntervalTimetable("30 3 * * *", timezone="UTC"),
        start_date=settings.hourly_start,
        catchup=False,
        max_active_runs=1,
        default_args=default_args(settings),
        tags=["cdc-lake", definition.name, "maintenance"],
        doc_md=__doc__,
    ) as dag:

        @task
        def optimize_and_vacuum() -> dict[str, int]:
            """OPTIMIZE ... BIN_PACK and VACUUM on the state table, with file counts before and after."""
            from airflow.providers.amazon.aws.hooks.athena import AthenaHook

            return maintain(AthenaHook(aws_conn_id=settings.aws_conn_id).get_conn(), settings, definition)

        sensors.skip_until_provisioned(definition, settings) >> optimize_and_vacuum()
    return dag
