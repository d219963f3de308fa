"""The direct topology on the Parquet change log: the Kinesis consumer writes Parquet itself (pyarrow from
AWS's pandas layer), so its lake has the same contract as the CDC path's.

An event field the definition does not declare is kept in ``undeclared`` and fails
``check_schema_drift`` naming it; a value the declared type cannot hold (an amount of ``"lots"``) is
filed under ``format-conversion-failed`` and fails the hour's ``check_error_records``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from cdc_pipeline.definitions import PIPELINES
from cdc_pipeline.settings import Settings
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

DATASET = "user_events"


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def send(pipeline: dict, event_id: str, moment: datetime, **changes: object) -> None:
    """One event put on the pipeline's Kinesis stream as the producer sends it (the amount an exact
    JSON number unless ``changes`` gives another)."""
    event = {
        "event_id": event_id,
        "user_id": "u-1",
        "session_id": "s-1",
        "event_type": "purchase",
        "page": "/checkout",
        "device": "mobile",
        "country": "DE",
        "event_time": stamp(moment),
        "amount": "EXACT",
        **changes,
    }
    data = json.dumps(event).replace('"EXACT"', "59.90")
    # The pipeline's stream, by the name the provisioning gives it (`ResourceNames.stream`): listing
    # streams would page through every other test's.
    account = client(pipeline, "sts").get_caller_identity()["Account"]
    stream = PIPELINES[DATASET].resources(Settings.from_env(pipeline["env"]).with_account_id(account)).stream
    client(pipeline, "kinesis").put_record(StreamName=stream, Data=data.encode(), PartitionKey="u-1")


def test_an_undeclared_field_fails_schema_drift_with_a_parquet_consumer(pipeline):
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    hour = end - timedelta(hours=1)
    send(pipeline, "e-plain", hour + timedelta(minutes=10))
    send(pipeline, "e-coupon", hour + timedelta(minutes=20), coupon="WELCOME10")

    def delivered() -> list[dict] | None:
        objects = lake_objects(pipeline, partition_prefix(DATASET, hour))
        rows = [row for found in objects.values() for row in found]
        return rows if {row.get("event_id") for row in rows} >= {"e-plain", "e-coupon"} else None

    rows = wait_until(delivered, timeout=120, interval=0.5, what="both events in the lake")
    by_id = {row["event_id"]: row for row in rows}
    assert "coupon" not in by_id["e-coupon"], "the Parquet object has only the table's columns"
    assert by_id["e-coupon"]["undeclared"] == '{"coupon":"WELCOME10"}'
    assert by_id["e-plain"]["undeclared"] is None
    assert str(by_id["e-plain"]["amount"]) == "59.90"

    s3, bucket = client(pipeline, "s3"), lake_bucket(pipeline)
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=partition_prefix(DATASET, hour))["Contents"]
    assert all(is_parquet(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()) for item in listing)

    run = run_dag(pipeline["dags"]["user_events_hourly"], logical_date=end)
    states = task_states(run)
    assert states["check_schema_drift"] == "failed", states
    result = xcom(run, "check_schema_drift", key="check_result")
    assert result["numbers"]["undeclared"] == "coupon", result
    for check in ("check_rows_present", "check_null_keys", "check_event_types", "check_purchase_amounts"):
        assert states[check] == "success", (check, states)


def test_a_value_the_declared_type_cannot_hold_fails_the_error_records_check(pipeline):
    hour = start_of_current_hour()
    send(pipeline, "e-lots", datetime.now(UTC), amount="lots")
    assert_conversion_error_fails_the_hour(pipeline, DATASET, hour)
