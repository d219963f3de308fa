"""The daily maintenance of the current-state table: OPTIMIZE (bin-pack) and VACUUM, file counts logged."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from cdc_pipeline.definitions import SALES_ORDERS
from cdc_pipeline.provision.state_table import StateTableError, run_query
from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows.maintenance import build, count_files, maintain
from tests.support import unique


@pytest.fixture
def settings(aws: Callable[..., Any]) -> Settings:
    """A Glue database and a workgroup (results in a bucket of their own) as provisioning makes them."""
    settings = Settings.from_env({"CDC_LAKE_PREFIX": unique("mt")})
    results = unique("mt-results")
    aws("s3").create_bucket(Bucket=results)
    aws("s3").create_bucket(Bucket=f"{results}-lake")
    aws("glue").create_database(DatabaseInput={"Name": settings.glue_database})
    aws("athena").create_work_group(
        Name=settings.athena_workgroup,
        Configuration={"ResultConfiguration": {"OutputLocation": f"s3://{results}/"}},
    )
    athena = aws("athena")
    table = "sales_orders_state"
    run_query(
        athena,
        f"CREATE TABLE {table} (orderid string, quantity bigint) LOCATION 's3://{results}-lake/{table}/' "
        "TBLPROPERTIES ('table_type'='ICEBERG', 'vacuum_max_snapshot_age_seconds'='0')",
        settings.glue_database,
        settings.athena_workgroup,
    )
    for n in range(4):  # one small file per INSERT, as the hourly merges leave them
        run_query(
            athena,
            f"INSERT INTO {table} VALUES ('o{n}', {n})",
            settings.glue_database,
            settings.athena_workgroup,
        )
    return settings


def test_optimize_and_vacuum_leave_fewer_files_and_log_both_counts(
    settings: Settings, aws: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    athena = aws("athena")
    assert count_files(athena, settings, "sales_orders_state") == 4
    with caplog.at_level(logging.INFO, logger="cdc_pipeline.workflows.maintenance"):
        counts = maintain(athena, settings, SALES_ORDERS)
    assert counts == {"files_before": 4, "files_after": 1}
    assert "4 before, 1 after OPTIMIZE and VACUUM" in caplog.text
    rows = run_query(
        athena, "SELECT count(*) FROM sales_orders_state", settings.glue_database, settings.athena_workgroup
    )
    result = athena.get_query_results(QueryExecutionId=rows["QueryExecutionId"])["ResultSet"]["Rows"]
    assert result[1]["Data"][0]["VarCharValue"] == "4"
    snapshots = run_query(
        athena,
        'SELECT count(*) FROM "sales_orders_state$snapshots"',
        settings.glue_database,
        settings.athena_workgroup,
    )
    result = athena.get_query_results(QueryExecutionId=snapshots["QueryExecutionId"])["ResultSet"]["Rows"]
    assert result[1]["Data"][0]["VarCharValue"] == "1"  # VACUUM expired every snapshot but the current


def test_a_missing_state_table_fails_naming_it(settings: Settings, aws: Callable[..., Any]) -> None:
    with pytest.raises(StateTableError, match="user_profiles_state"):
        maintain(
            aws("athena"),
            settings,
            SALES_ORDERS.__class__(**{**SALES_ORDERS.__dict__, "name": "user_profiles"}),
        )


def test_the_dag_is_daily_and_its_task_waits_for_the_provisioning_check() -> None:
    dag = build(SALES_ORDERS, Settings.from_env({}))
    assert dag.dag_id == "sales_orders_maintenance"
    assert [task.task_id for task in dag.tasks] == ["check_provisioned", "optimize_and_vacuum"]
