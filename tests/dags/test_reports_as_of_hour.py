"""Reports as of their hour (issue #10 item 3): a backfilled hour reports the hour as it ended.

Orders placed in hour H1 change again in hour H2 (a new quantity, a new price, a delete). The hourly
runs go H2 first, then H1 (a backfill after a later hour): H1's published report must give the
numbers an in-order run at H1's end would have given, computed here from the rows written, not from
the product's SQL; a re-run of H1 publishes the same report. The rows are written straight into the
lake's partitions and are not in DynamoDB, so the checks fail; the report is published regardless.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.airflow_harness import report_files
from tests.dags.check_helpers import (
    bad_hour,
    partition_prefix,
    put_change_rows,
    run_bad_hour,
    sales_order,
    stamp,
)

pytestmark = pytest.mark.slow

DATASET = "sales_orders"


def order(n: int, sequence: int, placed: datetime, changed: datetime, **values: Any) -> dict[str, Any]:
    """A change of order ``bad-order-<n>`` placed at ``placed``, made at ``changed``."""
    row = sales_order(n, changed, order_time=stamp(placed), **values)
    row["sequence_number"] = str(sequence).rjust(40, "0")
    row["event_name"] = "REMOVE" if row["is_deleted"] else ("INSERT" if placed == changed else "MODIFY")
    return row


def totals(rows: list[dict[str, Any]], hour: datetime, at: datetime | None = None) -> dict[str, Any]:
    """Orders, units and revenue of the orders placed in ``hour`` as they stood at ``at`` (its end)."""
    end = hour + timedelta(hours=1)
    latest: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: int(r["sequence_number"])):
        if row["event_time"] < stamp(at or end):
            latest[row["orderid"]] = row
    standing = [
        r for r in latest.values() if not r["is_deleted"] and stamp(hour) <= r["order_time"] < stamp(end)
    ]
    return {
        "orders": len(standing),
        "units": sum(r["quantity"] for r in standing),
        "revenue": sum(Decimal(str(r["price"])) * r["quantity"] for r in standing),
    }


def published_report(pipeline: dict[str, Any], hour: datetime) -> dict[str, bytes]:
    files = report_files(pipeline, DATASET, hour)
    assert "totals.csv" in files and "summary.json" in files, sorted(files)
    return files


def csv_rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode())))


def test_a_backfilled_hour_reports_the_state_at_its_end_and_a_rerun_the_same(pipeline):
    h1, h2 = bad_hour(6), bad_hour(5)
    p1, p2 = h1 + timedelta(minutes=10), h2 + timedelta(minutes=10)
    first = [
        order(1, 3001, p1, p1, quantity=2, price=19.99),
        order(2, 3002, p1, p1, quantity=3, price=5.5),
        order(3, 3003, p1, p1, quantity=1, price=100.0),
        order(4, 3004, p1, p1, quantity=4, price=12.25),
    ]
    second = [
        order(1, 3011, p1, p2, quantity=7, price=19.99),  # more units
        order(2, 3012, p1, p2, quantity=3, price=5.5, is_deleted=True),  # cancelled
        order(3, 3013, p1, p2, quantity=1, price=250.0),  # repriced
        order(5, 3015, p2, p2, quantity=1, price=3.0),  # a new order of H2
    ]
    put_change_rows(pipeline, DATASET, partition_prefix(DATASET, h1) + "h1", first)
    put_change_rows(pipeline, DATASET, partition_prefix(DATASET, h2) + "h2", second)
    at_h1_end = totals(first, h1)
    # The test's own sanity: H1's orders as they stand after H2 give other numbers.
    assert totals(first + second, h1, at=h2 + timedelta(hours=1)) != at_h1_end

    _, states = run_bad_hour(pipeline, DATASET, h2)
    assert states["merge_state"] == "success" and states["publish_report"] == "success", states
    _, states = run_bad_hour(pipeline, DATASET, h1)
    assert states["merge_state"] == "success" and states["publish_report"] == "success", states

    report = published_report(pipeline, h1)
    [row] = csv_rows(report["totals.csv"])
    assert {
        "orders": int(row["orders"]),
        "units": int(row["units"]),
        "revenue": Decimal(row["revenue"]),
    } == at_h1_end
    biggest = [(r["orderid"], int(r["quantity"])) for r in csv_rows(report["biggest_orders.csv"])]
    assert biggest == [("bad-order-3", 1), ("bad-order-4", 4), ("bad-order-1", 2), ("bad-order-2", 3)]

    # H2's report, as of its own end, shows H2's changes (the same orders, later).
    [row] = csv_rows(published_report(pipeline, h2)["totals.csv"])
    assert (int(row["orders"]), Decimal(row["revenue"])) == (1, Decimal("3.00"))

    # A re-run of the backfilled hour publishes the same report.
    run_bad_hour(pipeline, DATASET, h1)
    again = published_report(pipeline, h1)
    for name in ("totals.csv", "biggest_orders.csv", "revenue_by_product.csv", "revenue_by_hour.csv"):
        assert again[name] == report[name], name
