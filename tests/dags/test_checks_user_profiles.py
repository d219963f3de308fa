"""Every check of user_profiles fails on an hour of bad profiles, alerts with its numbers and is in the report.

One provisioned pipeline, one hourly run over an hour whose partition got profile changes written
straight into it (the CDC transform's row shape): more than ``min_email_sample`` writes, so the email
share is judged, and the DynamoDB table stays empty, so the reconcile DAG run after it finds items
the table lacks.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from functools import partial

import pytest

from tests.airflow_harness import JSON_CHANGE_LOG, deployed_pipeline
from tests.dags.check_helpers import (
    HIDDEN_OBJECT,
    alerts_for,
    assert_checks_failed,
    assert_reconciliation_failed,
    assert_run_and_report_failed,
    bad_hour,
    metadata,
    partition_prefix,
    published,
    put_change_rows,
    run_bad_hour,
    stamp,
    subscribe_inbox,
)

pytestmark = pytest.mark.slow

DATASET = "user_profiles"
#: Profiles with a missing email among the 60 written (the allowed share is 0.2).
MISSING_EMAILS = 20


@pytest.fixture(scope="module", params=["parquet", "json"])
def pipeline(request, local_aws):
    """Once per change log format: on Parquet, the undeclared ``address.unit`` is in the ``undeclared``
    column (where the transform keeps what the conversion would drop) and a phone number cannot be a
    number (the conversion writes the declared type, so the crawl never sees the kind change)."""
    overrides = JSON_CHANGE_LOG if request.param == "json" else None
    with deployed_pipeline(local_aws.endpoint_url, provision=DATASET, overrides=overrides) as deployed:
        yield {**deployed, "change_log": request.param}


def profile(n: int, moment, **changes) -> dict:
    row = {
        **metadata(n, moment),
        "id": str(uuid.UUID(int=n + 1, version=4)),
        "name": "Test User",
        "email": f"user{n}@example.com",
        # A number where the definition declares text (every row: the crawl's type changes kind).
        "phone_number": 49301234567,
        "created_at": stamp(moment),
        "age": 30,
        "address": {
            "street": "1 Main St",
            "city": "Berlin",
            "state": "BE",
            "postcode": "10115",
            "country": "DE",
        },
        "updated_at": stamp(moment),
    }
    row.update(changes)
    return row


def test_a_bad_hour_fails_every_user_profiles_check(pipeline):
    queue_url = subscribe_inbox(pipeline)
    hour = bad_hour(13)
    made = hour + timedelta(minutes=10)
    parquet = pipeline["change_log"] == "parquet"
    # An address with a field the definition does not declare.
    unit = (
        {"undeclared": json.dumps({"address.unit": "4B"})}
        if parquet
        else {"address": {**profile(0, made)["address"], "unit": "4B"}}
    )
    rows = [
        profile(0, made, **unit),
        profile(1, made, id=None),  # no key
        profile(2, made, id="not-a-uuid"),  # a malformed id
        profile(3, made, age=None),  # no age
        profile(4, made, age=12),  # too young
        profile(5, made, age=150),  # too old
        dict(profile(6, made), event_id="replayed-with-a-new-id"),  # a change copied under a new id
        profile(6, made),
        profile(8, made, approximate_creation_time=None),  # no creation time
    ]
    rows += [
        profile(n, made, email=None if n < 10 + MISSING_EMAILS else f"u{n}@example.com")
        for n in range(10, 61)
    ]
    prefix = partition_prefix(DATASET, hour)
    hidden = [profile(70, made)]
    if parquet:
        rows, hidden = (
            [{**row, "phone_number": str(row["phone_number"])} for row in found] for found in (rows, hidden)
        )
    put_change_rows(pipeline, DATASET, prefix + "bad-profiles", rows)
    put_change_rows(pipeline, DATASET, prefix + HIDDEN_OBJECT, hidden)

    run, states = run_bad_hour(pipeline, DATASET, hour)
    writes = len(rows)
    failing = {
        "check_null_keys": ["id_null_check=1"],
        "check_user_ids": ["null_ids=1", "malformed_ids=1"],
        "check_age_range": ["age_null_check=1", "age_min=12", "age_max=150"],
        # 20 of the hour's 60 writes (the copied change is a write too): a share of one third.
        "check_email_issue_share": [f"missing={MISSING_EMAILS}", "invalid=0", "email_issue_share=0.3333"],
        "check_duplicate_events": ["duplicate_changes=1"],
        "check_rows_present": [f"table_rows={writes}", f"delivered_rows={writes + 1}", "objects=2"],
        "check_freshness": [f"late_changes={writes - 1}", "changes_without_creation_time=1"],
        "check_schema_drift": ["undeclared_columns=1", "undeclared=address.unit"]
        + ([] if parquet else ["changed_types=1", "changed=phone_number:bigint/string"]),
    }
    alerts = alerts_for(pipeline, queue_url, list(failing), hour, states)
    report, page = published(pipeline, DATASET, hour, run)
    # The reconciliation is not an hourly check: the reconcile DAG's, run after the hour (and judged
    # with the hour's checks). Every check judged on its own first, so a failure names each check
    # that did not fail.
    assert "check_current_state_matches_table" not in states
    reconciled = partial(assert_reconciliation_failed, pipeline, DATASET, queue_url, ["table_items=0"])
    elsewhere = {"check_current_state_matches_table": reconciled}
    assert_checks_failed(failing, hour, states, alerts, report, page, elsewhere)
    assert_run_and_report_failed(run, states, report, page)
