"""``merge_state`` (issue #10 item 2): the hour's changes merged into ``sales_orders_state``.

Rows are written straight into the lake's partitions (as the transform writes them), so each case
is exact: a newer change must survive an older hour run after it, a delete stays a tombstone, a
reordered or redelivered batch and sequence numbers of different lengths give the newest change, a
change delivered after its hour's run is merged by a later run, and a re-run changes nothing. The
other checks of these runs fail (the rows are not in DynamoDB): only ``merge_state`` is judged here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.airflow_harness import athena_rows, deployed_pipeline
from tests.dags.check_helpers import bad_hour, partition_prefix, put_rows, run_bad_hour, stamp

pytestmark = pytest.mark.slow

DATASET = "sales_orders"


@pytest.fixture(scope="module")
def pipeline(local_aws):
    with deployed_pipeline(local_aws.endpoint_url, provision=DATASET) as deployed:
        yield deployed


def change(key: str, sequence: str, moment, quantity: int, *, deleted: bool = False) -> dict[str, Any]:
    return {
        "event_id": f"event-{key}-{sequence}",
        "event_name": "REMOVE" if deleted else "MODIFY",
        "sequence_number": sequence,
        "event_time": stamp(moment),
        "approximate_creation_time": stamp(moment),
        "processed_at": stamp(moment),
        "is_deleted": deleted,
        "orderid": key,
        "product_name": "USB-C Cable",
        "category": "Accessories",
        "quantity": quantity,
        "price": 19.99,
        "customer_id": "c-1",
        "customer_name": "Test Customer",
        "status": "placed",
        "order_time": stamp(moment),
        "updated_at": stamp(moment),
    }


def seq(n: int) -> str:
    return str(n).rjust(40, "0")


def state(pipeline: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    rows = athena_rows(
        pipeline["endpoint"],
        "SELECT orderid, quantity, CAST(price AS varchar) AS price, sequence_number, is_deleted "
        f"FROM {DATASET}_state",
        workgroup=pipeline["prefix"],
        database=pipeline["prefix"],
    )
    return {
        row["orderid"]: (int(row["quantity"]), row["price"], row["sequence_number"], row["is_deleted"])
        for row in rows
    }


def merge(pipeline: dict[str, Any], hour) -> None:
    _, states = run_bad_hour(pipeline, DATASET, hour)
    assert states["merge_state"] == "success", states


def test_merges_are_sequence_guarded_in_any_order_and_catch_late_changes(pipeline):
    older, newer = bad_hour(10), bad_hour(6)
    at_older, at_newer = older + timedelta(minutes=10), newer + timedelta(minutes=10)
    put_rows(
        pipeline,
        partition_prefix(DATASET, older) + "batch-1.json",
        [
            change("k1", seq(1010), at_older, 1),
            change("k2", seq(1011), at_older, 5),
            change("k3", seq(1012), at_older, 7),
            # An unpadded sequence number: as text "900" sorts after "1000", as a number before it.
            change("k4", "900", at_older, 1),
        ],
    )
    newer_batch = [
        change("k1", seq(1020), at_newer, 2),
        change("k2", seq(1021), at_newer, 5, deleted=True),
        change("k4", "1000", at_newer, 2),
        # Reordered: the newest change of k3 comes first in the hour's object.
        change("k3", seq(1032), at_newer, 9),
        change("k3", seq(1031), at_newer, 8),
    ]
    newer_key = partition_prefix(DATASET, newer) + "batch-2.json"
    put_rows(pipeline, newer_key, newer_batch)

    # The newer hour first, then a backfill of the older one: the older changes must lose.
    merge(pipeline, newer)
    merge(pipeline, older)
    expected = {
        "k1": (2, "19.99", seq(1020), "false"),
        "k2": (5, "19.99", seq(1021), "true"),  # the tombstone: k2's older insert did not bring it back
        "k3": (9, "19.99", seq(1032), "false"),
        "k4": (2, "19.99", "1000", "false"),
    }
    assert state(pipeline) == expected

    # A redelivered object and a re-run of either hour change nothing.
    put_rows(pipeline, newer_key + "-redelivered", newer_batch)
    merge(pipeline, newer)
    merge(pipeline, older)
    assert state(pipeline) == expected

    # A change of the newer hour delivered after that hour's run: the next hour's run merges it.
    later = newer + timedelta(hours=1)
    put_rows(pipeline, partition_prefix(DATASET, newer) + "late.json", [change("k5", seq(1040), at_newer, 3)])
    put_rows(pipeline, partition_prefix(DATASET, later) + "batch-3.json", [change("k1", seq(1050), later, 4)])
    merge(pipeline, later)
    assert state(pipeline) == {
        **expected,
        "k1": (4, "19.99", seq(1050), "false"),
        "k5": (3, "19.99", seq(1040), "false"),
    }
