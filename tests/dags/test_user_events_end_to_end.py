"""User events (seed 001) through the real DAGs: producer -> Kinesis -> Lambda consumer -> S3 -> crawler -> Athena.

The reports of each backfilled hour equal the producer's own per-hour totals.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.airflow_harness import (
    client,
    deployed_pipeline,
    lake_bucket,
    object_rows,
    report_files,
    run_dag,
    task_states,
    xcom,
)
from tests.support import wait_until

pytestmark = pytest.mark.slow

EVENTS = 1200


@pytest.fixture(scope="module")
def pipeline(local_aws):
    with deployed_pipeline(local_aws.endpoint_url, provision="user_events") as deployed:
        yield deployed
        teardown = run_dag(deployed["dags"]["user_events_teardown"])
        assert str(teardown.state) == "success", task_states(teardown)


def lake_rows(pipeline, prefix: str) -> list[dict]:
    s3 = client(pipeline, "s3")
    bucket = lake_bucket(pipeline)
    rows = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            rows += object_rows(body)
    return rows


def csv_rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode())))


def test_reports_of_two_backfilled_hours_equal_what_the_producer_sent(pipeline):
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    generated = run_dag(
        pipeline["dags"]["user_events_generate"],
        conf={"events": EVENTS, "seed": 21, "spread_hours": 2, "end_time": end.isoformat(), "users": 300},
    )
    assert str(generated.state) == "success", task_states(generated)
    summary = xcom(generated, "generate")
    assert summary["counts"]["sent"] == EVENTS
    hours = [end - timedelta(hours=2), end - timedelta(hours=1)]
    expected = {key[:13]: value for key, value in summary["hourly"].items()}
    assert set(expected) == {f"{h:%Y-%m-%dT%H}" for h in hours}

    # The event source mapping has delivered every event (the hourly run then waits for nothing).
    wait_until(
        lambda: len(lake_rows(pipeline, "user_events/")) >= EVENTS, 120, what="every event in the lake"
    )
    rows = lake_rows(pipeline, "user_events/")
    assert len({row["event_id"] for row in rows}) == EVENTS
    assert lake_rows(pipeline, "errors/user_events/") == []

    # No table to reconcile with on the direct topology, so no reconcile DAG (sales_orders has one).
    assert "user_events_reconcile" not in pipeline["dags"] and "sales_orders_reconcile" in pipeline["dags"]
    for hour in hours:
        run = run_dag(pipeline["dags"]["user_events_hourly"], logical_date=hour + timedelta(hours=1))
        states = task_states(run)
        assert str(run.state) == "success", (hour, states)
        for check in ("check_event_types", "check_purchase_amounts", "check_null_keys", "check_freshness"):
            assert states[check] == "success", (check, states)

        want = expected[f"{hour:%Y-%m-%dT%H}"]
        files = report_files(pipeline, "user_events", hour)
        assert {
            "totals.csv",
            "events_by_hour.csv",
            "funnel.csv",
            "revenue_by_country.csv",
            "index.html",
        } <= set(files)
        totals = json.loads(files["summary.json"])["totals"]
        assert int(totals["events"]) == want["events"], hour
        assert int(totals["users"]) == want["users"], hour
        assert int(totals["sessions"]) == want["sessions"], hour
        assert int(totals["purchases"]) == want["purchases"], hour
        assert Decimal(totals["revenue"]) == Decimal(want["revenue"]), hour

        by_hour = {row["event_hour"]: row for row in csv_rows(files["events_by_hour.csv"])}
        this_hour = by_hour[f"{hour:%Y-%m-%d %H}:00"]
        by_type = want["by_type"]
        assert {
            "page_view": int(this_hour["page_views"]),
            "search": int(this_hour["searches"]),
            "add_to_cart": int(this_hour["add_to_carts"]),
            "purchase": int(this_hour["purchases"]),
            "login": int(this_hour["logins"]),
            "logout": int(this_hour["logouts"]),
        } == by_type, hour

        funnel = [(row["step"], int(row["sessions"])) for row in csv_rows(files["funnel.csv"])]
        assert funnel == [(step, want["funnel"][step]) for step in ("page_view", "add_to_cart", "purchase")]

        countries = {
            row["country"]: (int(row["purchases"]), Decimal(row["revenue"]))
            for row in csv_rows(files["revenue_by_country.csv"])
        }
        assert countries == {
            country: (value["purchases"], Decimal(value["revenue"]))
            for country, value in want["by_country"].items()
        }
