"""Every check of sales_orders fails on an hour of bad data, alerts with its numbers and is in the report.

One provisioned pipeline, one hourly run: the hour's partition gets rows written straight into it
(in the transform's row shape), each breaking one check, so every check task fails with its own
numbers at once. The DynamoDB table stays empty, so the lake holds items the table does not.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.airflow_harness import athena_rows, deployed_pipeline
from tests.dags.check_helpers import (
    HIDDEN_OBJECT,
    alerts_for,
    assert_checks_failed,
    assert_run_and_report_failed,
    bad_hour,
    error_record,
    metadata,
    partition_prefix,
    published,
    put_error_records,
    put_rows,
    run_bad_hour,
    stamp,
    subscribe_inbox,
)

pytestmark = pytest.mark.slow

DATASET = "sales_orders"


@pytest.fixture(scope="module")
def pipeline(local_aws):
    with deployed_pipeline(local_aws.endpoint_url, provision=DATASET) as deployed:
        yield deployed


def order(n: int, moment, **changes) -> dict:
    row = {
        **metadata(n, moment),
        "orderid": f"bad-order-{n}",
        "product_name": "USB-C Cable",
        "category": "Accessories",
        "quantity": 1,
        "price": 19.99,
        "customer_id": "c-1",
        "customer_name": "Test Customer",
        "status": "placed",
        "order_time": stamp(moment),
        "updated_at": stamp(moment),
    }
    row.update(changes)
    return row


def test_a_bad_hour_fails_every_sales_orders_check(pipeline):
    queue_url = subscribe_inbox(pipeline)
    hour = bad_hour(11)
    made = hour + timedelta(minutes=15)
    rows = [
        order(0, made),  # a good order: every column has a value the crawler can type
        order(1, made, orderid=None),  # no key
        order(2, made, price=None, quantity=0),  # no price, no units
        order(3, made, price=-5.00),  # a negative price
        dict(order(3, made, price=-5.00), event_id="replayed-with-a-new-id"),  # the same change twice
        order(5, made, approximate_creation_time=None),  # no creation time
    ]
    prefix = partition_prefix(DATASET, hour)
    put_rows(pipeline, prefix + "bad-orders.json", rows)
    put_rows(pipeline, prefix + HIDDEN_OBJECT, [order(6, made), order(7, made)])
    previous = hour - timedelta(hours=1) + timedelta(minutes=40)
    put_error_records(
        pipeline,
        DATASET,
        hour,
        [
            error_record(hour + timedelta(minutes=30), json.dumps({"updated_at": stamp(made)}).encode()),
            error_record(hour + timedelta(minutes=31), json.dumps({"updated_at": stamp(previous)}).encode()),
            error_record(hour + timedelta(minutes=32), b"\xffnot json"),
            # Arrived before this run's window (the previous run counted it).
            error_record(hour + timedelta(seconds=1), json.dumps({"updated_at": stamp(made)}).encode()),
        ],
    )

    run, states = run_bad_hour(pipeline, DATASET, hour)
    failing = {
        "check_null_keys": ["orderid_null_check=1"],
        "check_price_quantity_range": [
            "prices_out_of_range=3",  # the replayed copy survives the dedupe by event_id
            "quantities_out_of_range=1",
            "null_prices=1",
            "min_price=-5.00",
        ],
        "check_duplicate_events": ["duplicate_changes=1"],
        "check_rows_present": ["table_rows=6", "delivered_rows=8", "objects=2"],
        "check_freshness": ["late_changes=6", "changes_without_creation_time=1"],
        "check_error_records": [
            "error_records=3",
            "of_this_hour=1",
            "of_other_hours=1",
            "unknown_hour=1",
            f"other_hours={previous:%Y-%m-%dT%H}:00",
        ],
        "check_current_state_matches_table": ["lake_items=4", "table_items=0"],
    }
    alerts = alerts_for(pipeline, queue_url, list(failing), hour, states)
    report, page = published(pipeline, DATASET, hour, run)
    # Every check judged on its own first, so a failure names each check that did not fail.
    assert_checks_failed(failing, hour, states, alerts, report, page)
    assert_run_and_report_failed(run, states, report, page)
    # The check section is on top, before the first report.
    assert page.index('id="checks"') < page.index('class="report"')


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
        order(0, made),
        order(1, made),
        dict(
            order(2, later, quantity=3), orderid="bad-order-0", event_name="MODIFY", updated_at=stamp(later)
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
