"""The Parquet change log (the default CDC_LAKE_CHANGE_LOG_FORMAT) end to end: Firehose converts, the checks
read it, and an attribute the declaration lacks still fails ``check_schema_drift``, naming it.

Firehose's record format conversion keeps only the declared table's columns, so the crawl of its files
never shows a new attribute; without the transform's ``undeclared`` column the drift would be silent.
A value of the wrong kind cannot be written at all: Firehose files it under ``format-conversion-failed``,
and the error-records check of the hour it arrived in fails.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from boto3.dynamodb.types import TypeSerializer

from tests.airflow_harness import client, lake_bucket, run_dag, task_states, xcom
from tests.dags.check_helpers import (
    assert_conversion_error_fails_the_hour,
    is_parquet,
    lake_objects,
    partition_prefix,
    start_of_current_hour,
)
from tests.support import wait_until

pytestmark = pytest.mark.slow


#: The pipeline this module's `pipeline` fixture provisions (tests/dags/conftest.py).
DATASET = "sales_orders"


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def put_order(pipeline: dict, orderid: str, moment: datetime, **changes: object) -> None:
    """An order written to the DynamoDB table at ``moment``, with ``changes`` to its attributes."""
    order = {
        "orderid": orderid,
        "product_name": "Laptop",
        "category": "Computers",
        "quantity": 1,
        "price": 999,
        "customer_id": "c-1",
        "customer_name": "Test Customer",
        "order_time": stamp(moment),
        "status": "placed",
        "updated_at": stamp(moment),
        **changes,
    }
    serialize = TypeSerializer().serialize
    client(pipeline, "dynamodb").put_item(
        TableName=f"{pipeline['prefix']}-orders", Item={k: serialize(v) for k, v in order.items()}
    )


def test_an_undeclared_attribute_fails_schema_drift_with_a_parquet_change_log(pipeline):
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    hour = end - timedelta(hours=1)
    generated = run_dag(
        pipeline["dags"]["sales_orders_generate"],
        conf={
            "orders": 200,
            "update_share": 0.2,
            "delete_share": 0.0,
            "seed": 5,
            "spread_hours": 1,
            "end_time": end.isoformat(),
        },
    )
    assert str(generated.state) == "success", task_states(generated)
    # One writer starts sending a coupon, which sales_orders does not declare.
    put_order(pipeline, "coupon-order-1", hour + timedelta(minutes=30), coupon="WELCOME10")

    def delivered() -> list[dict] | None:
        objects = lake_objects(pipeline, partition_prefix("sales_orders", hour))
        rows = [row for found in objects.values() for row in found]
        return rows if any(row.get("orderid") == "coupon-order-1" for row in rows) else None

    rows = wait_until(delivered, timeout=120, interval=0.5, what="the coupon order in the lake")
    coupon_row = next(row for row in rows if row["orderid"] == "coupon-order-1")
    assert "coupon" not in coupon_row, "the conversion keeps only declared columns"
    assert coupon_row["undeclared"] == '{"coupon":"WELCOME10"}'

    s3 = client(pipeline, "s3")
    bucket = lake_bucket(pipeline)
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=partition_prefix("sales_orders", hour))["Contents"]
    assert all(is_parquet(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()) for item in listing)

    run = run_dag(pipeline["dags"]["sales_orders_hourly"], logical_date=end)
    states = task_states(run)
    assert states["check_schema_drift"] == "failed", states
    result = xcom(run, "check_schema_drift", key="check_result")
    assert result["numbers"]["undeclared"] == "coupon", result
    # The other checks read the Parquet hour as they read JSON.
    for check in ("check_rows_present", "check_freshness", "check_null_keys", "check_duplicate_events"):
        assert states[check] == "success", (check, states)
    assert states["merge_state"] == "success", states


def test_a_value_the_conversion_cannot_write_fails_the_error_records_check(pipeline):
    """A quantity that is not a number cannot become the declared bigint: Firehose files the row under
    format-conversion-failed, and the hour's error-records check fails naming that type."""
    hour = start_of_current_hour()
    put_order(pipeline, "not-a-number-1", datetime.now(UTC), quantity="lots")
    assert_conversion_error_fails_the_hour(pipeline, "sales_orders", hour)
