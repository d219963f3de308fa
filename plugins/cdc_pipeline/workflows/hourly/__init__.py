"""The hourly DAG of one pipeline: wait for Firehose to deliver the hour, crawl, check, report.

For its data interval (one UTC hour) the run:
1. waits until the hour has ended plus one buffering interval, then, without holding a worker
   slot, until the hour's lake partition has objects and no new one has arrived for a buffering
   interval (Firehose has flushed it); it times out after a span derived from the buffering settings;
2. runs the Glue crawler (a crawler that is already running is waited for, not a failure);
3. creates or replaces the Athena views (deduplicated changes, current state) and, for a ``cdc``
   pipeline, finds the days of the state table the hour's changes belong to and merges the changes
   into the Iceberg table of versions, reading those days only (``state``);
4. runs the quality checks (see `checks`): the common-sql check operators on the Athena connection
   and workgroup, one task per check, plus the hour's S3 objects (`inspect_delivery`: row count and
   freshness to arrival) and the error prefix by arrival window; each pushes its result
   (`check_result` XCom) and fails with the numbers it found. Every check reads only its hour: the
   whole-table reconciliation with DynamoDB is the ``<dataset>_reconcile`` DAG's (see
   ``workflows.reconciliation``), so an hourly run's cost does not grow with the lake's age;
5. runs the report queries (for a ``cdc`` pipeline over the state as of the hour's end, read from the
   table of versions once the hour is merged: see ``state``) and publishes the report under a fixed per-hour prefix (a re-run replaces
   it), whatever the checks found, with their results on top; `all_checks_passed` then fails the run
   if any check failed.
Any failed task publishes an SNS alert naming the check, the hour and the numbers.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, task
from airflow.timetables.interval import CronDataIntervalTimetable

from cdc_pipeline.definitions import PipelineDefinition, Topology
from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows.common import SQL_ROOT, default_args, hour_partition, hour_prefix, sql_params
from cdc_pipeline.workflows.hourly import checks, crawl, reports, sensors, state

#: The leaf that fails the run (upstream_failed) when any check failed, although the report is published.
ALL_CHECKS_PASSED = "all_checks_passed"


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
    """The hourly DAG: names -> wait -> crawl -> views -> checks, reports (and, for cdc, the merge)."""
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
            **({"state": state.state_macros(definition, settings)} if definition.columns else {}),
        },
        tags=["cdc-lake", definition.name, "hourly"],
        doc_md=__doc__,
    ) as dag:
        provisioned = sensors.skip_unless_provisioned(definition, settings)
        names = resolve_names(definition, settings)
        provisioned >> names
        hour_over, delivered = sensors.wait_for_hour(settings)
        changes_view, current_view = crawl.create_views(settings)
        crawled = crawl.crawl(settings)
        names >> hour_over >> delivered >> crawled >> changes_view >> current_view
        inspection, hour_checks = checks.all_checks(definition, settings, names["lake_bucket"])
        current_view >> inspection
        current_view >> hour_checks
        report_queries = reports.report_queries(definition, settings)
        if definition.topology is Topology.CDC:
            # The Iceberg table of versions: the hour's changes merged once the crawl has run; the
            # reports read the state as of the hour's end from it.
            crawled >> state.merge_state(settings) >> report_queries
        check_ids = [checks.task_id_of(check) for check in hour_checks]
        publish = reports.publish(definition, settings, names["lake_bucket"], check_ids)
        current_view >> report_queries >> publish
        # The report is published whatever the checks found (all_done), and shows their results.
        hour_checks >> publish
        # ... and the run still ends failed when a check failed: this leaf needs every check to pass.
        hour_checks >> EmptyOperator(task_id=ALL_CHECKS_PASSED, doc_md="Every check of the hour passed.")
    return dag
