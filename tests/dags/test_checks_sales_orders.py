"""Every check of sales_orders fails on an hour of bad data, alerts with its numbers and is in the report.

One provisioned pipeline, one hourly run: the hour's partition gets rows written straight into it
(in the transform's row shape), each breaking one check, so every check task fails with its own
numbers at once. The DynamoDB table stays empty, so the lake holds items the table does not, which
the reconcile DAG run after the hour finds.

The pipeline is this test's alone: the reconciliation counts the whole lake's items, so another
test's rows in it would change ``lake_items`` with the order the tests run in.

Once on each change log format: Parquet (the default; the rows are written with the change table's
schema, as Firehose converts them, and the undeclared ``coupon`` is in the ``undeclared`` column where
the transform keeps it) and JSON lines (the ``coupon`` is a key of its own, which the crawler makes a
column).
"""

from __future__ import annotations

import json
from datetime import timedelta
from functools import partial

import pytest

from tests.airflow_harness import JSON_CHANGE_LOG, client, deployed_pipeline, lake_bucket
from tests.dags.check_helpers import (
    HIDDEN_OBJECT,
    alerts_for,
    assert_checks_failed,
    assert_reconciliation_failed,
    assert_run_and_report_failed,
    bad_hour,
    error_record,
    partition_prefix,
    published,
    put_change_rows,
    put_error_records,
    run_bad_hour,
    sales_order,
    stamp,
    subscribe_inbox,
)

pytestmark = pytest.mark.slow

DATASET = "sales_orders"


@pytest.fixture(scope="module", params=["parquet", "json"])
def pipeline(request, local_aws):
    overrides = JSON_CHANGE_LOG if request.param == "json" else None
    with deployed_pipeline(local_aws.endpoint_url, provision=DATASET, overrides=overrides) as deployed:
        yield {**deployed, "change_log": request.param}


def test_a_bad_hour_fails_every_sales_orders_check(pipeline):
    queue_url = subscribe_inbox(pipeline)
    hour = bad_hour(11)
    made = hour + timedelta(minutes=15)
    parquet = pipeline["change_log"] == "parquet"
    coupon = {"undeclared": json.dumps({"coupon": "WELCOME10"})} if parquet else {"coupon": "WELCOME10"}
    rows = [
        # A good order (every column has a value the crawler can type), with a column nobody declared.
        sales_order(0, made, **coupon),
        sales_order(1, made, orderid=None),  # no key
        sales_order(2, made, price=None, quantity=0),  # no price, no units
        sales_order(3, made, price=-5.00),  # a negative price
        dict(sales_order(3, made, price=-5.00), event_id="replayed-with-a-new-id"),  # the same change twice
        sales_order(5, made, approximate_creation_time=None),  # no creation time
    ]
    prefix = partition_prefix(DATASET, hour)
    put_change_rows(pipeline, DATASET, prefix + "bad-orders", rows)
    put_change_rows(pipeline, DATASET, prefix + HIDDEN_OBJECT, [sales_order(6, made), sales_order(7, made)])
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

    # A table the crawler could have made of another format's files under the dataset's prefix.
    other_table = f"{DATASET}_extra_{hour:%H}"
    client(pipeline, "glue").create_table(
        DatabaseName=pipeline["prefix"].replace("-", "_"),
        TableInput={
            "Name": other_table,
            "StorageDescriptor": {
                "Location": f"s3://{lake_bucket(pipeline)}/{DATASET}/extra/",
                "Columns": [],
            },
        },
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
        "check_schema_drift": [
            "undeclared_columns=1",
            "undeclared=coupon",
            "other_tables=1",
            f"tables={other_table}",
        ],
    }
    alerts = alerts_for(pipeline, queue_url, list(failing), hour, states)
    report, page = published(pipeline, DATASET, hour, run)
    # The reconciliation is not an hourly check: the reconcile DAG's, run after the hour (and judged
    # with the hour's checks). Every check judged on its own first, so a failure names each check
    # that did not fail.
    assert "check_current_state_matches_table" not in states
    reconciled = partial(
        assert_reconciliation_failed, pipeline, DATASET, queue_url, ["lake_items=4", "table_items=0"]
    )
    elsewhere = {"check_current_state_matches_table": reconciled}
    assert_checks_failed(failing, hour, states, alerts, report, page, elsewhere)
    assert_run_and_report_failed(run, states, report, page)
    # The check section is on top, before the first report.
    assert page.index('id="checks"') < page.index('class="report"')
