"""The hourly DAG of one pipeline: wait for Firehose to deliver the hour, crawl, check, report.

For its data interval (one UTC hour) the run:
1. waits until the hour has ended plus one buffering interval, then, without holding a worker
   slot, until the hour's lake partition has objects and no new one has arrived for a buffering
   interval (Firehose has flushed it); it times out after a span derived from the buffering settings;
2. runs the Glue crawler (a crawler that is already running is waited for, not a failure);
3. creates or replaces the Athena views (deduplicated changes, current state);
4. runs the quality checks: the common-sql check operators on the Athena connection, one task per
   check, each failing with the numbers it found; plus the error-prefix check and, for a `cdc`
   pipeline, the reconciliation with its DynamoDB table (a `direct` pipeline has no table);
5. runs the report queries and publishes the report under a fixed per-hour prefix (a re-run replaces it).
Any failed task publishes an SNS alert naming the check, the hour and the numbers.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, task
from airflow.timetables.interval import CronDataIntervalTimetable

from cdc_pipeline.definitions import PipelineDefinition, Topology
from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows.common import SQL_ROOT, default_args, hour_partition, hour_prefix, sql_params
from cdc_pipeline.workflows.hourly import checks, crawl, reconciliation, reports, sensors


def dag_id(definition: PipelineDefinition) -> str:
    return f"{definition.name}_hourly"


def resolve_names(definition: PipelineDefinition, settings: Settings) -> Any:
    """``resolve_names``: the names that need the AWS account id, asked from STS at run time."""

    @task
    def resolve_names() -> dict[str, str]:
        """Names that need the AWS account id (bucket names), asked from STS at run time."""
        from airflow.providers.amazon.aws.hooks.sts import StsHook

        from cdc_pipeline.provision.context import settings_in_region_of

        sts = StsHook(aws_conn_id=settings.aws_conn_id)
        # Names and ARNs in the connection's region, where the resources are (as provisioning does).
        resolved = settings_in_region_of(settings, sts.get_conn())
        names = definition.resources(resolved.with_account_id(sts.get_account_number()))
        return {"lake_bucket": names.lake_bucket, "table": names.table, "crawler": names.crawler}

    return resolve_names()


def build(definition: PipelineDefinition, settings: Settings) -> DAG:
    """The hourly DAG: names -> wait -> crawl -> views -> checks, reconciliation, reports."""
    with DAG(
        dag_id=dag_id(definition),
        description=f"Deliver, crawl, check and report one hour of {definition.name}",
        schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
        start_date=settings.hourly_start,
        catchup=True,
        max_active_runs=3,
        default_args=default_args(settings),
        template_searchpath=[str(SQL_ROOT)],
        # Identifiers reach the SQL as a macro, not as params: a run's conf can override params.
        user_defined_macros={
            "lake": sql_params(definition, settings),
            "hour_partition": hour_partition,
            "hour_prefix": lambda moment: hour_prefix(definition, moment),
        },
        tags=["cdc-lake", definition.name, "hourly"],
        doc_md=__doc__,
    ) as dag:
        provisioned = sensors.skip_unless_provisioned(definition, settings)
        names = resolve_names(definition, settings)
        provisioned >> names
        hour_over, delivered = sensors.wait_for_hour(settings)
        changes_view, current_view = crawl.create_views(settings)
        names >> hour_over >> delivered >> crawl.crawl(settings) >> changes_view >> current_view
        current_view >> checks.sql_checks(definition, settings)
        current_view >> checks.error_records_check(definition, settings, names["lake_bucket"])
        # A direct pipeline has no table to reconcile with: its events are only in the stream.
        if definition.topology is Topology.CDC:
            table_count, matches = reconciliation.reconcile(settings, names["table"])
            current_view >> table_count >> matches
        (
            current_view
            >> reports.report_queries(definition, settings)
            >> reports.publish(definition, settings, names["lake_bucket"])
        )
    return dag
