"""``merge_state`` (issue #10 items 2-3): the hour's changes merged into ``sales_orders_state`` as versions.

Rows are written straight into the lake's partitions (as the transform writes them), so each case
is exact: every change is a version whose ``valid_to`` is the time of the key's next change, whatever
the order the hours were merged in; a delete is a version that ends the key; a reordered or
redelivered batch and sequence numbers of different lengths give the same versions; a change
delivered after its hour's run is merged by a later run; a re-run changes nothing; and the state as
of each hour's end (``state.as_of``) is the one the rows written imply. The other checks of these runs
fail (the rows are not in DynamoDB): only ``merge_state`` is judged here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from cdc_pipeline.definitions import SALES_ORDERS
from cdc_pipeline.workflows.hourly.state import as_of
from tests.airflow_harness import athena_rows
from tests.dags.check_helpers import bad_hour, partition_prefix, put_change_rows, run_bad_hour, stamp

pytestmark = pytest.mark.slow

DATASET = "sales_orders"
#: When this module's orders were placed: one order_time for every change of every order (read once).
PLACED = bad_hour(36)


def change(key: str, sequence: str, moment, quantity: int, *, deleted: bool = False) -> dict[str, Any]:
    """A change of order ``key`` at ``moment``; its order_time (the state table's partition) is the same
    for every change of the order, as the definition declares: a day before the test's changes."""
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
        "order_time": stamp(PLACED),
        "updated_at": stamp(moment),
    }


def seq(n: int) -> str:
    return str(n).rjust(40, "0")


def query(pipeline: dict[str, Any], sql: str) -> list[dict[str, Any]]:
    return athena_rows(pipeline["endpoint"], sql, workgroup=pipeline["prefix"], database=pipeline["prefix"])


def state(pipeline: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """Each key's latest version (``valid_to`` open), a delete included."""
    rows = query(
        pipeline,
        "SELECT orderid, quantity, CAST(price AS varchar) AS price, sequence_number, is_deleted "
        f"FROM {DATASET}_state WHERE valid_to IS NULL AND orderid LIKE 'k%'",
    )
    assert len(rows) == len({row["orderid"] for row in rows}), rows
    return {
        row["orderid"]: (int(row["quantity"]), row["price"], row["sequence_number"], row["is_deleted"])
        for row in rows
    }


def versions(pipeline: dict[str, Any]) -> list[tuple[str, str, int, str, str | None]]:
    """Every version of this test's orders (keys ``k...``): key, sequence number, quantity, valid_from,
    valid_to (times as UTC text)."""
    rows = query(
        pipeline,
        "SELECT orderid, sequence_number, quantity, "
        "date_format(valid_from, '%Y-%m-%dT%H:%i:%s.000Z') AS valid_from, "
        "date_format(valid_to, '%Y-%m-%dT%H:%i:%s.000Z') AS valid_to "
        f"FROM {DATASET}_state WHERE orderid LIKE 'k%'",
    )
    found = [
        (r["orderid"], r["sequence_number"], int(r["quantity"]), r["valid_from"], r["valid_to"]) for r in rows
    ]
    return sorted(found)


def state_as_of(pipeline: dict[str, Any], moment: datetime, prefix: str = "k") -> dict[str, int]:
    """Key -> quantity of this test's orders (keys starting with ``prefix``) at ``moment``, by ``state.as_of``."""
    source = as_of(SALES_ORDERS, f"{DATASET}_state")(moment)
    rows = query(pipeline, f"SELECT orderid, quantity FROM {source} AS orders WHERE orderid LIKE '{prefix}%'")
    assert len(rows) == len({row["orderid"] for row in rows}), f"more than one version of a key: {rows}"
    return {row["orderid"]: int(row["quantity"]) for row in rows}


def merge(pipeline: dict[str, Any], hour) -> None:
    _, states = run_bad_hour(pipeline, DATASET, hour)
    assert states["merge_state"] == "success", states


def test_versions_end_at_the_next_change_in_any_order_of_runs_and_catch_late_changes(pipeline):
    older, newer = bad_hour(10), bad_hour(6)
    at_older, at_newer = older + timedelta(minutes=10), newer + timedelta(minutes=10)
    put_change_rows(
        pipeline,
        DATASET,
        partition_prefix(DATASET, older) + "batch-1",
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
        change("k3", seq(1032), at_newer + timedelta(minutes=1), 9),
        change("k3", seq(1031), at_newer, 8),
    ]
    newer_key = partition_prefix(DATASET, newer) + "batch-2"
    put_change_rows(pipeline, DATASET, newer_key, newer_batch)

    # The newer hour first, then a backfill of the older one: the older changes end where the newer begin.
    merge(pipeline, newer)
    merge(pipeline, older)
    t_older, t_newer = stamp(at_older), stamp(at_newer)
    expected_versions = [
        ("k1", seq(1010), 1, t_older, t_newer),
        ("k1", seq(1020), 2, t_newer, None),
        ("k2", seq(1011), 5, t_older, t_newer),
        ("k2", seq(1021), 5, t_newer, None),
        ("k3", seq(1012), 7, t_older, t_newer),
        ("k3", seq(1031), 8, t_newer, stamp(at_newer + timedelta(minutes=1))),
        ("k3", seq(1032), 9, stamp(at_newer + timedelta(minutes=1)), None),
        ("k4", "1000", 2, t_newer, None),
        ("k4", "900", 1, t_older, t_newer),
    ]
    assert versions(pipeline) == expected_versions
    expected = {
        "k1": (2, "19.99", seq(1020), "false"),
        "k2": (5, "19.99", seq(1021), "true"),  # the delete: k2's older insert did not bring it back
        "k3": (9, "19.99", seq(1032), "false"),
        "k4": (2, "19.99", "1000", "false"),
    }
    assert state(pipeline) == expected

    # A redelivered object and a re-run of either hour change nothing.
    put_change_rows(pipeline, DATASET, newer_key + "-redelivered", newer_batch)
    merge(pipeline, newer)
    merge(pipeline, older)
    assert versions(pipeline) == expected_versions

    # A change of the newer hour delivered after that hour's run: the next hour's run merges it.
    later = newer + timedelta(hours=1)
    put_change_rows(
        pipeline,
        DATASET,
        partition_prefix(DATASET, newer) + "late",
        [change("k5", seq(1040), at_newer, 3)],
    )
    put_change_rows(
        pipeline,
        DATASET,
        partition_prefix(DATASET, later) + "batch-3",
        [change("k1", seq(1050), later, 4)],
    )
    merge(pipeline, later)
    assert state(pipeline) == {
        **expected,
        "k1": (4, "19.99", seq(1050), "false"),
        "k5": (3, "19.99", seq(1040), "false"),
    }
    assert ("k1", seq(1020), 2, t_newer, stamp(later)) in versions(pipeline)

    # The state as of each hour's end: what the rows written imply, whatever was merged after it.
    assert state_as_of(pipeline, older) == {}
    assert state_as_of(pipeline, older + timedelta(hours=1)) == {"k1": 1, "k2": 5, "k3": 7, "k4": 1}
    assert state_as_of(pipeline, newer + timedelta(hours=1)) == {"k1": 2, "k3": 9, "k4": 2, "k5": 3}
    assert state_as_of(pipeline, later + timedelta(hours=1)) == {"k1": 4, "k3": 9, "k4": 2, "k5": 3}
    # At the moment of a change the change is not yet in: the state just before it.
    assert state_as_of(pipeline, at_newer)["k1"] == 1


def test_a_change_whose_time_went_back_still_leaves_one_version_per_key_at_any_moment(pipeline):
    """A change stamped before the key's earlier changes (a clock stepped back) ends them all at its time.

    With ``lead(valid_from)`` the first version would end only at the second's time, and at minute 20
    both it and the third would hold; the minimum over all later changes leaves the newest one.
    """
    hour = bad_hour(14)
    at = {minute: hour + timedelta(minutes=minute) for minute in (5, 10, 30)}
    put_change_rows(
        pipeline,
        DATASET,
        partition_prefix(DATASET, hour) + "clock-step",
        [
            change("c1", seq(2010), at[10], 1),
            change("c1", seq(2011), at[30], 2),
            change("c1", seq(2012), at[5], 3),
        ],
    )
    merge(pipeline, hour)
    assert state_as_of(pipeline, hour + timedelta(minutes=1), "c") == {}
    assert state_as_of(pipeline, hour + timedelta(minutes=20), "c") == {"c1": 3}
    assert state_as_of(pipeline, hour + timedelta(minutes=40), "c") == {"c1": 3}
