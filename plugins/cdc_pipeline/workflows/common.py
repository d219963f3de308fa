"""What every pipeline DAG shares: owner, retries, alerts, where the SQL lives, the hour macros."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pendulum

from cdc_pipeline.alerts import make_failure_alert
from cdc_pipeline.definitions import PipelineDefinition
from cdc_pipeline.settings import REPO_ROOT, Settings

if TYPE_CHECKING:
    from airflow.sdk import DAG

SQL_ROOT = REPO_ROOT / "include" / "sql"
# Hourly runs start here; catchup fills the hours since (bounded by max_active_runs).
START_DATE = pendulum.datetime(2026, 11, 1, tz="UTC")


def default_args(settings: Settings) -> dict[str, Any]:
    return {
        "owner": "data-platform",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "on_failure_callback": make_failure_alert(settings.alerts_topic, settings.aws_conn_id),
    }


def hour_partition(moment: datetime) -> str:
    """SQL that selects the lake partition of the hour ``moment`` falls in."""
    return f"year = '{moment:%Y}' AND month = '{moment:%m}' AND day = '{moment:%d}' AND hour = '{moment:%H}'"


def hour_prefix(definition: PipelineDefinition, moment: datetime) -> str:
    """The S3 key prefix of the hour's partition in the lake."""
    return f"{definition.name}/year={moment:%Y}/month={moment:%m}/day={moment:%d}/hour={moment:%H}/"


def error_prefix(
    definition: PipelineDefinition, moment: datetime, error_type: str = "processing-failed"
) -> str:
    """Where the records that failed with ``error_type`` and arrived in ``moment``'s hour are filed.

    ``names.error_prefix`` as Firehose expands it: ``!{firehose:error-output-type}`` is the error
    type (``processing-failed``, ``format-conversion-failed``), ``!{timestamp:...}`` the arrival
    hour. The Kinesis consumer files its malformed records under ``processing-failed`` the same way.
    """
    return (
        f"errors/{definition.name}/{error_type}/"
        f"year={moment:%Y}/month={moment:%m}/day={moment:%d}/hour={moment:%H}/"
    )


def sql_params(definition: PipelineDefinition, settings: Settings) -> dict[str, Any]:
    """Identifiers the SQL files use; all come from the definition and settings, none from users."""
    database = settings.glue_database
    return {
        "database": database,
        "table": f"{database}.{definition.name}",
        "changes_view": f"{database}.{definition.name}_changes",
        "current_view": f"{database}.{definition.name}_current",
        "key": definition.key_attribute,
        "columns": table_columns(definition, settings),
        **definition_check_params(definition, settings),
    }


def table_columns(definition: PipelineDefinition, settings: Settings) -> Callable[..., str]:
    """``lake.columns(alias)``: the lake table's columns as the catalog has them now, for the views.

    The views name their columns instead of ``SELECT *``: Athena stores a view's column list, and a
    ``SELECT *`` view fails as stale ("VIEW_IS_STALE") once the crawler adds a column to the table,
    until it is re-created; with overlapping hourly runs one run's crawl can do that while another
    reads the view. A named list stays valid when columns are added. Read when the SQL is rendered
    (in the task, after the crawl), through the configured AWS connection.
    """

    def columns(alias: str = "") -> str:
        from airflow.providers.amazon.aws.hooks.glue_catalog import GlueCatalogHook

        table = GlueCatalogHook(aws_conn_id=settings.aws_conn_id).get_table(
            settings.glue_database, definition.name
        )
        names = [column["Name"] for column in table["StorageDescriptor"]["Columns"]]
        names += [key["Name"] for key in table.get("PartitionKeys", [])]
        qualifier = f"{alias}." if alias else ""
        return ", ".join(f'{qualifier}"{name}"' for name in names)

    return columns


def definition_check_params(definition: PipelineDefinition, settings: Settings) -> dict[str, Any]:
    bounds = dict(getattr(definition, "check_params", {}) or {})
    # A change may wait one Pipe window and one Firehose buffer, plus a margin for the transform.
    bounds.setdefault(
        "max_delay_seconds",
        settings.pipe_batching_window_seconds + settings.firehose_buffer_interval_seconds + 60,
    )
    return bounds


def resource_dag(
    definition: PipelineDefinition,
    settings: Settings,
    *,
    kind: str,
    description: str,
    doc_md: str,
    action: Callable[..., list[Any]],
    task_doc: str,
) -> DAG:
    """A manual DAG with one task that runs ``action(definition, settings, clients)`` and logs each outcome.

    Provision and teardown are this shape: the plan lives in ``cdc_pipeline.provision``; the DAG only
    gives it clients from the Airflow connection and shows what happened to each resource.
    """
    from airflow.sdk import DAG, task

    with DAG(
        dag_id=f"{definition.name}_{kind}",
        description=description,
        schedule=None,
        start_date=START_DATE,
        catchup=False,
        default_args=default_args(settings),
        tags=["cdc-lake", definition.name, kind],
        doc_md=doc_md,
    ) as dag:

        def run_plan() -> list[dict[str, Any]]:
            import logging

            from cdc_pipeline.aws_clients import ConnectionClients

            outcomes = action(definition, settings, ConnectionClients(settings.aws_conn_id))
            log = logging.getLogger(f"cdc_pipeline.{kind}")
            for outcome in outcomes:
                log.info("%s", outcome)
            return [outcome.__dict__ for outcome in outcomes]

        run_plan.__doc__ = task_doc
        task(task_id=kind)(run_plan)()
    return dag
