"""The duplicate-events check passes on at-least-once redelivery and fails on a change copied with a new id.

Firehose and Pipes deliver at least once: an exact copy of a delivered object (same event ids) is
ordinary, and the changes view removes it. A copy of a change under a new ``event_id`` (what a
replay that mints stream ids produces) survives that dedupe: the check must fail, and the SNS alert
must name the check and the numbers. And a whole batch delivered twice adds no change, judged on the
changes view itself.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.airflow_harness import (
    JSON_CHANGE_LOG,
    athena_rows,
    client,
    deployed_pipeline,
    lake_bucket,
    run_dag,
    task_states,
)
from tests.dags.check_helpers import (
    alert_naming,
    bad_hour,
    partition_prefix,
    put_rows,
    run_bad_hour,
    sales_order,
    stamp,
)

pytestmark = pytest.mark.slow

ORDERS = 5
CHECK = "check_duplicate_events"
DATASET = "sales_orders"


@pytest.fixture(scope="module")
def pipeline(local_aws):
    with deployed_pipeline(
        local_aws.endpoint_url, provision="sales_orders", overrides=JSON_CHANGE_LOG
    ) as deployed:
        yield deployed


def write_orders(pipeline: dict[str, Any], hour: datetime) -> None:
    moment = (hour + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    dynamodb = client(pipeline, "dynamodb")
    for n in range(ORDERS):
        dynamodb.put_item(
            TableName=f"{pipeline['prefix']}-orders",
            Item={
                "orderid": {"S": f"dup-check-{n}"},
                "product_name": {"S": "USB-C Cable"},
                "category": {"S": "Accessories"},
                "quantity": {"N": "1"},
                "price": {"N": "19.99"},
                "customer_id": {"S": "c-1"},
                "customer_name": {"S": "Test Customer"},
                "status": {"S": "placed"},
                "order_time": {"S": moment},
                "updated_at": {"S": moment},
            },
        )


def delivered_rows(pipeline: dict[str, Any], prefix: str) -> dict[str, list[dict[str, Any]]]:
    """Each object under ``prefix`` -> its JSON lines."""
    s3, bucket = client(pipeline, "s3"), lake_bucket(pipeline)
    found = {}
    for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode()
        found[item["Key"]] = [json.loads(line) for line in body.splitlines() if line.strip()]
    return found


def wait_for_all_orders(pipeline: dict[str, Any], prefix: str) -> dict[str, list[dict[str, Any]]]:
    """Wait (generously: the machine is shared) until Firehose has delivered every order's change."""
    deadline = time.monotonic() + 180
    while True:
        objects = delivered_rows(pipeline, prefix)
        if sum(len(rows) for rows in objects.values()) >= ORDERS:
            return objects
        assert time.monotonic() < deadline, f"only {objects} delivered under {prefix}"
        time.sleep(0.5)


def put_copy(pipeline: dict[str, Any], key: str, rows: list[dict[str, Any]]) -> None:
    body = "".join(json.dumps(row) + "\n" for row in rows)
    client(pipeline, "s3").put_object(Bucket=lake_bucket(pipeline), Key=key, Body=body.encode())


def subscribe_inbox(pipeline: dict[str, Any]) -> str:
    sns, sqs = client(pipeline, "sns"), client(pipeline, "sqs")
    topic_arn = sns.create_topic(Name=f"{pipeline['prefix']}-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"{pipeline['prefix']}-dup-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return queue_url


def test_redelivery_passes_and_a_copy_with_a_new_event_id_fails_and_alerts(pipeline):
    queue_url = subscribe_inbox(pipeline)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=9)
    prefix = f"sales_orders/year={hour:%Y}/month={hour:%m}/day={hour:%d}/hour={hour:%H}/"
    write_orders(pipeline, hour)
    objects = wait_for_all_orders(pipeline, prefix)
    first_key, first_rows = next(iter(objects.items()))
    hourly = pipeline["dags"]["sales_orders_hourly"]

    # At-least-once delivery: an exact copy of a delivered object (same event ids) is not a duplicate.
    put_copy(pipeline, f"{first_key}.redelivered", first_rows)
    run = run_dag(hourly, logical_date=hour + timedelta(hours=1))
    states = task_states(run)
    # Only this check is judged here: the run's other checks answer other questions.
    assert states[CHECK] == "success", states

    # One change copied under a new event_id (a replay that minted a new stream id) survives dedupe.
    replayed = dict(first_rows[0], event_id=uuid.uuid4().hex)
    put_copy(pipeline, f"{first_key}.replayed", [replayed])
    run = run_dag(hourly, logical_date=hour + timedelta(hours=1))
    states = task_states(run)
    assert str(run.state) == "failed", states
    assert states[CHECK] == "failed", states

    message = alert_naming(pipeline, queue_url, CHECK, hour)
    assert f"Check or task: {CHECK}" in message, message
    # Counted from the lake itself, so a redelivery Firehose made on its own is counted too.
    delivered = sum(len(rows) for rows in delivered_rows(pipeline, prefix).values())
    assert delivered >= ORDERS + len(first_rows) + 1
    numbers = f"duplicate_changes=1 rows={ORDERS + 1} distinct_changes={ORDERS} delivered={delivered}"
    assert numbers in message, message


def test_a_batch_delivered_twice_is_one_set_of_changes(pipeline):
    """At-least-once delivery: an exact copy of an object adds no change, judged on the changes themselves.

    Comparing only the current state cannot tell (a copy has the same key and sequence number, so the
    latest change per key is the same either way); counting the hour's changes per (key, sequence
    number) in the deduplicated view can.
    """
    hour = bad_hour(14)
    made = hour + timedelta(minutes=5)
    later = made + timedelta(minutes=1)
    changes = [
        sales_order(0, made),
        sales_order(1, made),
        dict(
            sales_order(2, later, quantity=3),
            orderid="bad-order-0",
            event_name="MODIFY",
            updated_at=stamp(later),
        ),
    ]
    prefix = partition_prefix(DATASET, hour)
    put_rows(pipeline, prefix + "batch.json", changes)
    put_rows(pipeline, prefix + "batch.json.redelivered", changes)

    run, states = run_bad_hour(pipeline, DATASET, hour)
    assert states["create_changes_view"] == "success", states

    def rows(sql: str) -> list[dict]:
        database = pipeline["prefix"].replace("-", "_")
        return athena_rows(pipeline["endpoint"], sql, workgroup=pipeline["prefix"], database=database)

    where = f"year = '{hour:%Y}' AND month = '{hour:%m}' AND day = '{hour:%d}' AND hour = '{hour:%H}'"
    raw = rows(f"SELECT count(*) AS n FROM {DATASET} WHERE {where}")
    assert raw == [{"n": "6"}], "both copies are in the lake"
    per_change = rows(
        f"SELECT orderid, sequence_number, count(*) AS copies FROM {DATASET}_changes WHERE {where} "
        "GROUP BY orderid, sequence_number ORDER BY orderid, sequence_number"
    )
    assert [(r["orderid"], r["copies"]) for r in per_change] == [
        ("bad-order-0", "1"),
        ("bad-order-0", "1"),
        ("bad-order-1", "1"),
    ], per_change
    current = rows(
        f"SELECT orderid, quantity FROM {DATASET}_current WHERE orderid IN ('bad-order-0', 'bad-order-1')"
    )
    assert sorted((r["orderid"], r["quantity"]) for r in current) == [
        ("bad-order-0", "3"),
        ("bad-order-1", "1"),
    ]
    # ... and the check that guards the dedupe agrees (asserted last: the changes above decide).
    assert states["check_duplicate_events"] == "success", states
