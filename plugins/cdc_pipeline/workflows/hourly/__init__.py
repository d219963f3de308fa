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

from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.operators.athena import AthenaOperator
from airflow.providers.amazon.aws.operators.glue_crawler import GlueCrawlerRunOperator
from airflow.providers.amazon.aws.sensors.s3 import S3KeysUnchangedSensor
from airflow.providers.common.sql.operators.sql import SQLCheckOperator, SQLValueCheckOperator
from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.sdk import DAG, task
from airflow.timetables.interval import CronDataIntervalTimetable

from cdc_pipeline.definitions import PipelineDefinition, Topology
from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows.common import (
    SQL_ROOT,
    default_args,
    error_prefix,
    hour_partition,
    hour_prefix,
    sql_params,
)

ATHENA_CONN_ID = "athena_default"


def dag_id(definition: PipelineDefinition) -> str:
    return f"{definition.name}_hourly"


def sql_files(folder: Path, pattern: str) -> list[Path]:
    return sorted(folder.glob(pattern)) if folder.is_dir() else []


def check_files(definition: PipelineDefinition) -> list[Path]:
    """Checks every dataset runs, then the dataset's own: one SQL file, one check."""
    root = SQL_ROOT / "quality"
    return sql_files(root, "check_*.sql") + sql_files(root / definition.name, "check_*.sql")


def report_files(definition: PipelineDefinition) -> list[Path]:
    return sql_files(SQL_ROOT / "report" / definition.name, "report_*.sql")


def delivery_timeout(settings: Settings) -> timedelta:
    """Long enough for two buffer flushes and the transform's timeout, with room to spare."""
    interval = settings.firehose_buffer_interval_seconds
    return timedelta(
        seconds=3 * interval + settings.transform_timeout_seconds + 2 * settings.delivery_grace_seconds + 60
    )


def build(definition: PipelineDefinition, settings: Settings) -> DAG:
    params = sql_params(definition, settings)
    buffer_seconds = settings.firehose_buffer_interval_seconds
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
            "lake": params,
            "hour_partition": hour_partition,
            "hour_prefix": lambda moment: hour_prefix(definition, moment),
        },
        tags=["cdc-lake", definition.name, "hourly"],
        doc_md=__doc__,
    ) as dag:

        @task
        def resolve_names() -> dict[str, str]:
            """Names that need the AWS account id (bucket names), asked from STS at run time."""
            from cdc_pipeline.aws_clients import ConnectionClients

            clients = ConnectionClients(settings.aws_conn_id)
            names = definition.resources(settings.with_account_id(clients.account_id()))
            return {
                "lake_bucket": names.lake_bucket,
                "table": names.table,
                "crawler": names.crawler,
            }

        names = resolve_names()

        wait_for_hour_to_end = DateTimeSensorAsync(
            task_id="wait_for_hour_to_end",
            target_time=(
                "{{ (data_interval_end + macros.timedelta(seconds="
                + str(buffer_seconds + settings.delivery_grace_seconds)
                + ")).isoformat() }}"
            ),
            doc_md="The hour is over and Firehose has had one buffering interval to flush it.",
        )

        wait_for_delivery = S3KeysUnchangedSensor(
            task_id="wait_for_delivery",
            aws_conn_id=settings.aws_conn_id,
            bucket_name="{{ ti.xcom_pull(task_ids='resolve_names')['lake_bucket'] }}",
            prefix="{{ hour_prefix(data_interval_start) }}",
            inactivity_period=buffer_seconds + min(settings.delivery_grace_seconds, 30),
            min_objects=1,
            deferrable=True,
            poke_interval=max(settings.poll_interval_seconds, min(buffer_seconds, 30)),
            timeout=delivery_timeout(settings).total_seconds(),
            doc_md="The hour's partition has objects and no new one arrived for a buffering interval.",
        )

        crawl = GlueCrawlerRunOperator(
            task_id="crawl",
            aws_conn_id=settings.aws_conn_id,
            crawler_name="{{ ti.xcom_pull(task_ids='resolve_names')['crawler'] }}",
            wait_for_completion=True,
            fail_on_already_running=False,
            poll_interval=settings.poll_interval_seconds,
        )

        def athena(task_id: str, sql: str) -> AthenaOperator:
            return AthenaOperator(
                task_id=task_id,
                aws_conn_id=settings.aws_conn_id,
                query=sql,
                database=settings.glue_database,
                workgroup=settings.athena_workgroup,
                sleep_time=settings.poll_interval_seconds,
            )

        changes_view = athena("create_changes_view", "ddl/create_view_changes.sql")
        current_view = athena("create_current_view", "ddl/create_view_current.sql")

        checks = [
            SQLCheckOperator(
                task_id=path.stem,
                conn_id=ATHENA_CONN_ID,
                sql=str(path.relative_to(SQL_ROOT)),
                retries=0,
            )
            for path in check_files(definition)
        ]

        @task(retries=0)
        def check_error_records(lake_bucket: str, data_interval_start=None) -> int:
            """No record of this hour failed the transform (Firehose's processing-failed prefix is empty)."""
            from cdc_pipeline.aws_clients import ConnectionClients

            s3 = ConnectionClients(settings.aws_conn_id)("s3")
            prefix = error_prefix(definition, data_interval_start)
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=lake_bucket, Prefix=prefix)
            objects = [item for page in pages for item in page.get("Contents", [])]
            if objects:
                raise ValueError(
                    f"error_records={len(objects)} objects under s3://{lake_bucket}/{prefix}: "
                    f"records failed the transform in this hour (first: {objects[0]['Key']})"
                )
            return 0

        @task(retries=1)
        def count_table_items(table: str, data_interval_end=None) -> int:
            """DynamoDB's own item count, to reconcile with the lake's current state.

            Only the latest hour can be compared: for an older hour, later changes are not in it.
            """
            import pendulum
            from airflow.sdk.exceptions import AirflowSkipException

            from cdc_pipeline.aws_clients import ConnectionClients

            if data_interval_end < pendulum.now("UTC") - timedelta(hours=1, seconds=buffer_seconds):
                raise AirflowSkipException("not the latest hour: DynamoDB has moved on since")
            dynamodb = ConnectionClients(settings.aws_conn_id)("dynamodb")
            total = 0
            for page in dynamodb.get_paginator("scan").paginate(TableName=table, Select="COUNT"):
                total += page["Count"]
            return total

        # A direct pipeline has no table to reconcile with: its events are only in the stream.
        reconcile = definition.topology is Topology.CDC
        if reconcile:
            table_count = count_table_items(names["table"])
            check_current_state_matches_table = SQLValueCheckOperator(
                task_id="check_current_state_matches_table",
                conn_id=ATHENA_CONN_ID,
                sql="quality/count_current_state.sql",
                pass_value="{{ ti.xcom_pull(task_ids='count_table_items') }}",
                retries=0,
            )

        reports = {path.stem.removeprefix("report_"): path for path in report_files(definition)}
        report_tasks = [
            athena(f"report_{name}", str(path.relative_to(SQL_ROOT))) for name, path in reports.items()
        ]

        @task
        def publish_report(lake_bucket: str, data_interval_start=None, ti=None) -> dict[str, Any]:
            """Write the hour's report (CSV, summary, HTML) to the lake and the local reports folder."""
            import os

            from cdc_pipeline import reports as publishing
            from cdc_pipeline.aws_clients import ConnectionClients

            clients = ConnectionClients(settings.aws_conn_id)
            executions = {name: ti.xcom_pull(task_ids=f"report_{name}") for name in reports}
            questions = {name: publishing.question_of(path.read_text()) for name, path in reports.items()}
            tables = publishing.fetch_results(clients("athena"), clients("s3"), executions, questions)
            charts = {}
            try:
                from cdc_pipeline import charts as charting
            except ImportError:  # charts arrive with the dashboards
                charting = None
            if charting is not None:
                charts = charting.render_all(definition, tables)
            published = publishing.publish(
                tables,
                dataset=definition.name,
                hour=data_interval_start,
                s3=clients("s3"),
                bucket=lake_bucket,
                local_root=os.environ.get("CDC_LAKE_REPORTS_DIR") or None,
                charts=charts,
            )
            return {
                "s3_uri": published.s3_uri,
                "local_dir": published.local_dir,
                "files": published.files,
                "summary": published.summary,
            }

        published = publish_report(names["lake_bucket"])
        errors = check_error_records(names["lake_bucket"])

        names >> wait_for_hour_to_end >> wait_for_delivery >> crawl >> changes_view >> current_view
        current_view >> checks
        current_view >> errors
        if reconcile:
            current_view >> table_count >> check_current_state_matches_table
        current_view >> report_tasks >> published
    return dag
