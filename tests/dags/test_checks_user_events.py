"""Every check of user_events fails on an hour of bad events, alerts with its numbers and is in the report.

One provisioned pipeline (the direct topology: producer -> Kinesis -> Lambda consumer -> S3), one
hourly run over an hour whose partition got rows written straight into it in the consumer's row
shape. ``check_duplicate_events`` is the exception: the key of user_events is ``event_id``, the very
id the changes view deduplicates by, so no copy can survive into the view; it guards the view's
dedupe (see tests/dags/test_checks_dedupe.py) and must pass here.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.airflow_harness import JSON_CHANGE_LOG, deployed_pipeline
from tests.dags.check_helpers import (
    HIDDEN_OBJECT,
    alerts_for,
    assert_checks_failed,
    assert_run_and_report_failed,
    bad_hour,
    metadata,
    partition_prefix,
    published,
    put_change_rows,
    put_error_records,
    run_bad_hour,
    stamp,
    subscribe_inbox,
)

pytestmark = pytest.mark.slow

DATASET = "user_events"


@pytest.fixture(scope="module", params=["parquet", "json"])
def pipeline(request, local_aws):
    # Parquet (the consumer writes it with the change table's schema) and JSON lines.
    overrides = JSON_CHANGE_LOG if request.param == "json" else None
    with deployed_pipeline(local_aws.endpoint_url, provision=DATASET, overrides=overrides) as deployed:
        yield deployed


def event(n: int, moment, **changes) -> dict:
    row = {
        **metadata(n, moment, width=129),
        "user_id": "u-1",
        "session_id": "s-1",
        "event_type": "page_view",
        "page": "/",
        "device": "desktop",
        "country": "DE",
        "amount": None,
    }
    row.update(changes)
    return row


def consumer_error(arrival, raw: bytes) -> dict:
    """A malformed record as the Kinesis consumer files it (approximateArrivalTimestamp in seconds)."""
    import base64

    return {
        "rawData": base64.b64encode(raw).decode(),
        "errorCode": "InvalidJSON",
        "errorMessage": "not a JSON object",
        "sequenceNumber": "1",
        "partitionKey": "p",
        "approximateArrivalTimestamp": arrival.timestamp(),
    }


def test_a_bad_hour_fails_every_user_events_check(pipeline):
    queue_url = subscribe_inbox(pipeline)
    hour = bad_hour(12)
    made = hour + timedelta(minutes=20)
    rows = [
        event(0, made, amount=None),  # a good page view
        event(1, made, event_id=None),  # no key
        event(2, made, event_type="teleport"),  # an unknown type
        event(3, made, event_type="purchase", amount=None),  # a purchase without an amount
        event(4, made, event_type="purchase", amount=-3.5),  # a negative purchase
        event(5, made, amount=10.0),  # an amount on a page view
        event(
            6, made, event_type="purchase", amount=59.9, approximate_creation_time=None
        ),  # no creation time
    ]
    prefix = partition_prefix(DATASET, hour)
    put_change_rows(pipeline, DATASET, prefix + "bad-events", rows)
    put_change_rows(pipeline, DATASET, prefix + HIDDEN_OBJECT, [event(7, made)])
    put_error_records(
        pipeline,
        DATASET,
        hour,
        [consumer_error(hour + timedelta(minutes=25), json.dumps({"event_time": stamp(made)}).encode())],
    )

    run, states = run_bad_hour(pipeline, DATASET, hour)
    failing = {
        "check_null_keys": ["event_id_null_check=1"],
        "check_event_types": ["unknown_event_types=1", "example=teleport"],
        "check_purchase_amounts": ["bad_purchase_amounts=2", "amounts_on_other_events=1", "min_amount=-3.50"],
        "check_rows_present": ["table_rows=7", "delivered_rows=8", "objects=2"],
        "check_freshness": ["late_changes=7", "changes_without_creation_time=1"],
        "check_error_records": ["error_records=1", "of_this_hour=1"],
    }
    alerts = alerts_for(pipeline, queue_url, list(failing), hour, states)
    report, page = published(pipeline, DATASET, hour, run)
    # Every check judged on its own first, so a failure names each check that did not fail.
    assert_checks_failed(failing, hour, states, alerts, report, page)
    assert_run_and_report_failed(run, states, report, page)
    assert states["check_duplicate_events"] == "success", states
