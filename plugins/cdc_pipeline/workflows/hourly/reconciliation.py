"""The lake's current state against DynamoDB's own item count (latest hour only).

Only the latest hour can be compared: for an older hour, later changes are legitimately missing
from the lake's view of it, so the count is skipped there. The count is a ``Select=COUNT`` scan
(DescribeTable's ItemCount is refreshed only about every six hours on AWS, too stale to compare).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.common.sql.operators.sql import SQLValueCheckOperator
from airflow.sdk import task

from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows.hourly.checks import ATHENA_CONN_ID


def reconcile(settings: Settings, table: Any) -> tuple[Any, SQLValueCheckOperator]:
    """``count_table_items`` then ``check_current_state_matches_table``."""
    latest_within = timedelta(hours=1, seconds=settings.firehose_buffer_interval_seconds)

    @task(retries=1)
    def count_table_items(table: str, data_interval_end=None) -> int:
        """DynamoDB's own item count, to reconcile with the lake's current state.

        Only the latest hour can be compared: for an older hour, later changes are not in it.
        """
        import pendulum
        from airflow.providers.amazon.aws.hooks.dynamodb import DynamoDBHook
        from airflow.sdk.exceptions import AirflowSkipException

        if data_interval_end < pendulum.now("UTC") - latest_within:
            raise AirflowSkipException("not the latest hour: DynamoDB has moved on since")
        pages = DynamoDBHook(aws_conn_id=settings.aws_conn_id).client.get_paginator("scan")
        return sum(page["Count"] for page in pages.paginate(TableName=table, Select="COUNT"))

    check_current_state_matches_table = SQLValueCheckOperator(
        task_id="check_current_state_matches_table",
        conn_id=ATHENA_CONN_ID,
        sql="quality/count_current_state.sql",
        pass_value="{{ ti.xcom_pull(task_ids='count_table_items') }}",
        retries=0,
    )
    return count_table_items(table), check_current_state_matches_table
