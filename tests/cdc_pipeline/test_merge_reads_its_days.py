"""The hourly MERGE reads the stored versions of the days its changes belong to, not the whole table.

``merge_state`` first finds the days (of ``partition_time``, an order's placing day) of the changes in
the merge's window, and the MERGE reads the state table's stored versions from those days only: a run's
bytes do not grow when other days' orders fill the table. A change without its placing time (a delete
that carried only the key) makes the run read every day, and the versions still come out right.
Both SQL files are rendered with the hourly DAG's own macros, against the embedded Athena.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jinja2
import pytest

from cdc_pipeline.definitions import get_pipeline
from cdc_pipeline.provision.state_table import BUCKETS, state_columns
from cdc_pipeline.workflows.common import SQL_ROOT, sql_params
from cdc_pipeline.workflows.hourly.state import UNKNOWN_DAY, state_macros
from tests.cdc_pipeline.test_checks_read_their_hour import deliver, json_change_log
from tests.cdc_pipeline.test_view_columns import athena

DATASET = "sales_orders"
DAY = datetime(2026, 11, 20, tzinfo=UTC)
PLACED, UPDATED, DELETED = (DAY + timedelta(hours=h) for h in (5, 6, 7))
#: Days of other orders, before the one the test's orders were placed on (outside every merge window).
OTHER_DAYS = [DAY - timedelta(days=d) for d in range(10, 4, -1)]


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def change(key: str, n: int, moment: datetime, placed: datetime | None, name: str = "INSERT") -> dict:
    """A change as the transform writes it; ``placed`` None: a delete that carried only the key."""
    row = {
        "event_id": f"event-{key}-{n}",
        "event_name": name,
        "sequence_number": str(n).rjust(40, "0"),
        "event_time": stamp(moment),
        "approximate_creation_time": stamp(moment),
        "processed_at": stamp(moment),
        "is_deleted": name == "REMOVE",
        "orderid": key,
    }
    if placed is not None:
        row |= {"quantity": 1 + n % 5, "price": 10.5, "status": "placed", "order_time": stamp(placed)}
        row |= {"updated_at": stamp(moment), "product_name": "Cable", "category": "Accessories"}
    return row


@pytest.fixture
def lake(aws: Callable[..., Any], endpoint_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """An empty JSON change log of sales_orders as the crawler catalogs it, and its state table."""
    lake = json_change_log(aws, DATASET, endpoint_url, monkeypatch, "mergedays")
    bucket = lake["bucket"]
    definition = get_pipeline(DATASET)
    columns = ", ".join(f"{name} {kind}" for name, kind in state_columns(definition))
    created = athena(
        aws,
        lake,
        f"CREATE TABLE {DATASET}_state ({columns}) "
        f"PARTITIONED BY (day(partition_time), bucket({BUCKETS}, orderid)) "
        f"LOCATION 's3://{bucket}/iceberg/{DATASET}_state/' TBLPROPERTIES ('table_type'='ICEBERG')",
    )
    assert created["Status"]["State"] == "SUCCEEDED", created["Status"]
    return lake


def run_hour(aws: Callable[..., Any], lake: dict[str, Any], hour: datetime) -> tuple[list[str], int]:
    """The hour's days query then its MERGE, as ``merge_state`` renders them: (days, the MERGE's bytes)."""
    definition, settings = get_pipeline(DATASET), lake["settings"]
    context = {
        "lake": sql_params(definition, settings),
        "state": state_macros(definition, settings),
        "data_interval_start": hour,
    }

    def render(name: str, **extra: Any) -> str:
        return jinja2.Template((SQL_ROOT / "dml" / name).read_text()).render(**context, **extra)

    found = athena(aws, lake, render("merge_state_days.sql"))
    assert found["Status"]["State"] == "SUCCEEDED", found["Status"]
    days = sorted(row[0] for row in found["rows"])
    merged = athena(aws, lake, render("merge_state.sql", days=days))
    assert merged["Status"]["State"] == "SUCCEEDED", merged["Status"]
    return days, merged["Statistics"]["DataScannedInBytes"]


def versions(aws: Callable[..., Any], lake: dict[str, Any]) -> list[tuple[str, ...]]:
    rows = athena(
        aws,
        lake,
        "SELECT orderid, sequence_number, is_deleted, date_format(valid_to, '%Y-%m-%d %H:%i:%s') "
        f"FROM {DATASET}_state WHERE orderid LIKE 'mine-%' ORDER BY 1, 2",
    )["rows"]
    return [(key, str(int(n)), deleted, valid_to) for key, n, deleted, valid_to in rows]


def test_the_merge_reads_the_days_of_its_changes_only_and_every_day_for_a_change_without_one(aws, lake):
    keys = [f"mine-{n}" for n in range(20)]
    deliver(
        aws,
        lake,
        PLACED,
        [change(k, 100 + n, PLACED + timedelta(minutes=n), PLACED) for n, k in enumerate(keys)],
    )
    updates = [
        change(k, 200 + n, UPDATED + timedelta(minutes=n), PLACED, "MODIFY") for n, k in enumerate(keys[:5])
    ]
    deliver(aws, lake, UPDATED, updates)
    assert run_hour(aws, lake, PLACED)[0] == [f"{DAY:%Y-%m-%d}"]
    assert run_hour(aws, lake, UPDATED)[0] == [f"{DAY:%Y-%m-%d}"]
    young = run_hour(aws, lake, UPDATED)[1]  # a re-run: it reads the files the first run left

    # Other days' orders fill the table; the hour's re-run (which writes nothing) reads what it read.
    for number, other in enumerate(OTHER_DAYS):
        hour = other + timedelta(hours=5)
        others = [change(f"other-{number}-{n}", 1000 * (number + 1) + n, hour, hour) for n in range(60)]
        deliver(aws, lake, hour, others)
        run_hour(aws, lake, hour)
    before = versions(aws, lake)
    days, old = run_hour(aws, lake, UPDATED)
    assert old == young, (
        f"the MERGE read {old:,} bytes with {len(OTHER_DAYS)} more days stored, {young:,} before"
    )
    assert versions(aws, lake) == before

    # A delete that carried only its key: its order's day is unknown, so every day is read, and the
    # key's last version still ends where the delete happened.
    deliver(aws, lake, DELETED, [change("mine-0", 300, DELETED, None, "REMOVE")])
    days, every_day = run_hour(aws, lake, DELETED)
    assert UNKNOWN_DAY in days and every_day > old, (days, every_day, old)
    mine_0 = [v for v in versions(aws, lake) if v[0] == "mine-0"]
    assert mine_0 == [
        ("mine-0", "100", "false", f"{UPDATED:%Y-%m-%d %H:%M:%S}"),
        ("mine-0", "200", "false", f"{DELETED:%Y-%m-%d %H:%M:%S}"),
        ("mine-0", "300", "true", None),
    ]
