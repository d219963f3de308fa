"""Backfilled hours give reports equal to what was generated; a failed check alerts through SNS."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.airflow_harness import (
    client,
    lake_items_as_of,
    report_files,
    run_dag,
    task_states,
    xcom,
)

pytestmark = pytest.mark.slow


#: The pipeline this module's `pipeline` fixture provisions (tests/dags/conftest.py).
DATASET = "sales_orders"


def placed_in(orders: dict[str, dict[str, Any]], hour: datetime) -> tuple[int, Decimal]:
    """How many of ``orders`` were placed in ``hour``, and their revenue (quantity * price, exact)."""
    placed = [o for o in orders.values() if o["order_time"][:13] == f"{hour:%Y-%m-%dT%H}"]
    return len(placed), sum((Decimal(str(o["price"])) * o["quantity"] for o in placed), Decimal("0.00"))


def test_three_backfilled_hours_report_what_was_generated(pipeline):
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    generated = run_dag(
        pipeline["dags"]["sales_orders_generate"],
        conf={
            "orders": 600,
            "update_share": 0.2,
            "delete_share": 0.05,
            "seed": 5,
            "spread_hours": 3,
            "end_time": end.isoformat(),
        },
    )
    assert str(generated.state) == "success", task_states(generated)
    expected = xcom(generated, "generate")["hourly"]
    hours = [end - timedelta(hours=n) for n in (3, 2, 1)]
    assert {f"{h:%Y-%m-%dT%H}" for h in hours} == {key[:13] for key in expected}

    for hour in hours:
        run = run_dag(pipeline["dags"]["sales_orders_hourly"], logical_date=hour + timedelta(hours=1))
        assert str(run.state) == "success", (hour, task_states(run))
        files = report_files(pipeline, "sales_orders", hour)
        assert {"totals.csv", "summary.json", "index.html"} <= set(files)
        totals = json.loads(files["summary.json"])["totals"]
        # The report is as at the hour's end: the hour's orders then, from the lake's change rows.
        # Those rows taken to now give the generator's totals (which count the orders as they are
        # now: the generator's deletes are made now, after the simulated hours).
        then = placed_in(
            lake_items_as_of(pipeline, "sales_orders", "orderid", hour + timedelta(hours=1)), hour
        )
        assert (int(totals["orders"]), Decimal(totals["revenue"])) == then, hour
        now = lake_items_as_of(pipeline, "sales_orders", "orderid", datetime.now(UTC) + timedelta(hours=1))
        want = next(v for k, v in expected.items() if k.startswith(f"{hour:%Y-%m-%dT%H}"))
        assert placed_in(now, hour) == (int(want["orders"]), Decimal(want["revenue"])), hour

    # Re-running an hour replaces its report: the same files, the same numbers, nothing added.
    before = report_files(pipeline, "sales_orders", hours[1])
    again = run_dag(pipeline["dags"]["sales_orders_hourly"], logical_date=hours[1] + timedelta(hours=1))
    assert str(again.state) == "success", task_states(again)
    after = report_files(pipeline, "sales_orders", hours[1])
    assert set(after) == set(before)
    assert after["totals.csv"] == before["totals.csv"]


def test_a_negative_price_fails_the_check_and_alerts(pipeline):
    sns, sqs = client(pipeline, "sns"), client(pipeline, "sqs")
    topic_arn = sns.create_topic(Name=f"{pipeline['prefix']}-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"{pipeline['prefix']}-alerts-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=8)
    moment = (hour + timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    good = {"orderid": {"S": "bad-price-neighbour"}, "price": {"N": "19.99"}}
    bad = {"orderid": {"S": "bad-price-order"}, "price": {"N": "-5.00"}}
    dynamodb = client(pipeline, "dynamodb")
    for item in (good, bad):
        item.update(
            {
                "product_name": {"S": "USB-C Cable"},
                "category": {"S": "Accessories"},
                "quantity": {"N": "1"},
                "customer_id": {"S": "c-1"},
                "customer_name": {"S": "Test Customer"},
                "status": {"S": "placed"},
                "order_time": {"S": moment},
                "updated_at": {"S": moment},
            }
        )
        dynamodb.put_item(TableName=f"{pipeline['prefix']}-orders", Item=item)

    run = run_dag(pipeline["dags"]["sales_orders_hourly"], logical_date=hour + timedelta(hours=1))
    states = task_states(run)
    assert str(run.state) == "failed", states
    assert states["check_price_quantity_range"] == "failed", states

    messages = []
    deadline = time.monotonic() + 120  # an upper bound only: the loop ends when the alert is in
    while time.monotonic() < deadline:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        messages += [json.loads(m["Body"]) for m in batch]
        if any("check_price_quantity_range" in m.get("Subject", "") for m in messages):
            break
    alert = next(m for m in messages if "check_price_quantity_range" in m.get("Subject", ""))
    assert f"{hour:%Y-%m-%d %H}:00" in alert["Subject"]
    assert "prices_out_of_range=1" in alert["Message"]
    # As people read it (Trino prints a double cast to varchar as -5.0E0).
    assert "min_price=-5.00" in alert["Message"], alert["Message"]
    assert "-5" in alert["Message"]
