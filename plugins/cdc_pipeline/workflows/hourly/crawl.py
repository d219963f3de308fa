"""Crawling the lake and creating the Athena views the checks and reports read."""

from __future__ import annotations

from airflow.providers.amazon.aws.operators.athena import AthenaOperator
from airflow.providers.amazon.aws.operators.glue_crawler import GlueCrawlerRunOperator

from cdc_pipeline.settings import Settings


def athena_query(settings: Settings, task_id: str, sql: str) -> AthenaOperator:
    """One Athena statement from a SQL file (relative to the DAG's template search path)."""
    return AthenaOperator(
        task_id=task_id,
        aws_conn_id=settings.aws_conn_id,
        query=sql,
        database=settings.glue_database,
        workgroup=settings.athena_workgroup,
        sleep_time=settings.poll_interval_seconds,
    )


def crawl(settings: Settings) -> GlueCrawlerRunOperator:
    """The Glue crawler; one that is already running is waited for, not a failure."""
    return GlueCrawlerRunOperator(
        task_id="crawl",
        aws_conn_id=settings.aws_conn_id,
        crawler_name="{{ ti.xcom_pull(task_ids='resolve_names')['crawler'] }}",
        wait_for_completion=True,
        fail_on_already_running=False,
        poll_interval=settings.poll_interval_seconds,
    )


def create_views(settings: Settings) -> tuple[AthenaOperator, AthenaOperator]:
    """The deduplicated changes view, then the current-state view built on it."""
    return (
        athena_query(settings, "create_changes_view", "ddl/create_view_changes.sql"),
        athena_query(settings, "create_current_view", "ddl/create_view_current.sql"),
    )
