"""The change driver and the sales-orders dataset: exact writes, reproducible runs, valid parameters."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer

from cdc_pipeline.generators import ChangeDriver, ChangeParams, GenerationProgress, GeneratorParamsError
from cdc_pipeline.generators.orders import CATALOGUE, STATUSES, OrderDataset
from tests.support import unique

END = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
DESERIALIZER = TypeDeserializer()
PRODUCTS = {p.name: p for p in CATALOGUE}
ALLOWED_STEPS = {("placed", "paid"), ("placed", "cancelled"), ("paid", "shipped"), ("paid", "cancelled")}
ALLOWED_STEPS |= {("shipped", "delivered"), ("placed", "placed")}


class RecordingClient:
    """Stands in for a DynamoDB client: keeps every BatchWriteItem call (and can throttle the first)."""

    def __init__(self, unprocessed_first: int = 0) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.tables: set[str] = set()
        self._unprocessed_first = unprocessed_first

    def batch_write_item(self, RequestItems: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:  # noqa: N803
        ((table, requests),) = RequestItems.items()
        self.tables.add(table)
        if self._unprocessed_first:
            keep, self._unprocessed_first = requests[: self._unprocessed_first], 0
            self.batches.append(requests[len(keep) :])
            return {"UnprocessedItems": {table: keep}}
        self.batches.append(list(requests))
        return {"UnprocessedItems": {}}

    @property
    def requests(self) -> list[dict[str, Any]]:
        return [r for batch in self.batches for r in batch]


class FakeTime:
    """A monotonic clock and a wall clock that only move when the driver sleeps (or a write ticks)."""

    def __init__(self, start: datetime = END, tick: float = 0.0) -> None:
        self.now = 0.0
        self.start = start
        self.tick = tick
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        self.now += self.tick
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> datetime:
        return self.start + timedelta(seconds=self.now)


def drive(client: Any, fake_time: FakeTime | None = None, progress: Callable | None = None, **params: Any):
    fake_time = fake_time or FakeTime()
    params.setdefault("end_time", END)
    checked = ChangeParams.validate(count=params.pop("orders", None), count_param="orders", **params)
    driver = ChangeDriver(
        OrderDataset(),
        client,
        "orders-table",
        checked,
        progress=progress,
        clock=fake_time.clock,
        monotonic=fake_time.monotonic,
        sleep=fake_time.sleep,
    )
    return driver.run()


def plain(attribute_values: dict[str, Any]) -> dict[str, Any]:
    return {name: DESERIALIZER.deserialize(value) for name, value in attribute_values.items()}


def replay(requests: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]]:
    """Apply the writes in order: (operation, item before, item after), failing on an impossible write."""
    table: dict[str, dict[str, Any]] = {}
    changes = []
    for request in requests:
        if "PutRequest" in request:
            item = plain(request["PutRequest"]["Item"])
            before = table.get(item["orderid"])
            table[item["orderid"]] = item
            changes.append(("update" if before else "insert", before, item))
        else:
            key = DESERIALIZER.deserialize(request["DeleteRequest"]["Key"]["orderid"])
            assert key in table, f"delete of an order that does not exist: {key}"
            changes.append(("delete", table.pop(key), None))
    return changes


# --- parameters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "param", "text"),
    [
        ({}, "orders/duration_seconds", "exactly one of orders"),
        ({"orders": 10, "duration_seconds": 5}, "orders/duration_seconds", "exactly one of orders"),
        ({"orders": 0}, "orders", "1..10,000,000"),
        ({"orders": -3}, "orders", "1..10,000,000"),
        ({"orders": 2.5}, "orders", "whole number"),
        ({"orders": True}, "orders", "whole number"),
        ({"orders": "100"}, "orders", "whole number"),
        ({"orders": 10_000_001}, "orders", "1..10,000,000"),
        ({"duration_seconds": 0}, "duration_seconds", "(0, 604800]"),
        ({"duration_seconds": float("nan")}, "duration_seconds", "(0, 604800]"),
        ({"orders": 5, "rate_per_second": -1}, "rate_per_second", "[0, 100000]"),
        ({"orders": 5, "update_share": 1.5}, "update_share", "[0, 1)"),
        ({"orders": 5, "update_share": -0.1}, "update_share", "[0, 1)"),
        ({"orders": 5, "delete_share": 1}, "delete_share", "[0, 1)"),
        ({"orders": 5, "update_share": "0.2"}, "update_share", "[0, 1)"),
        ({"orders": 5, "update_share": 0.6, "delete_share": 0.4}, "update_share+delete_share", "below 1"),
        ({"orders": 5, "update_share": 0.5, "delete_share": 0.3}, "delete_share", "share of inserts"),
        ({"orders": 5, "seed": -1}, "seed", "0..9,223,372,036,854,775,807"),
        ({"orders": 5, "seed": "abc"}, "seed", "whole number"),
        ({"orders": 5, "spread_hours": -1}, "spread_hours", "0..8,784"),
        ({"orders": 5, "spread_hours": 1.5}, "spread_hours", "whole number"),
        ({"orders": 5, "end_time": "yesterday"}, "end_time", "ISO-8601"),
        ({"orders": 5, "end_time": 1714566897}, "end_time", "ISO-8601"),
        ({"orders": 5, "progress_every": 0}, "progress_every", "1..1,000,000,000"),
    ],
)
def test_invalid_parameters_are_refused_naming_the_parameter_and_its_range(params, param, text):
    client = RecordingClient()
    with pytest.raises(GeneratorParamsError) as caught:
        OrderDataset().generate(client, "orders-table", **params)
    assert isinstance(caught.value, ValueError)
    assert caught.value.param == param
    assert str(caught.value).startswith(f"{param}: ")
    assert text in str(caught.value)
    assert client.batches == []  # nothing is written before the parameters are valid


def test_valid_parameters_are_normalised():
    p = ChangeParams.validate(
        count=10, count_param="orders", rate_per_second=0, end_time="2024-05-01T14:30:00+02:00"
    )
    assert p.rate_per_second is None  # 0 means as fast as possible
    assert p.end_time == datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    assert 0 <= p.seed < 2**32  # a seed is chosen when none is given, and reported
    assert ChangeParams.validate(count=1, end_time="2024-05-01T12:30:00").end_time == END  # no offset: UTC
    assert ChangeParams.validate(count=1, spread_hours=3, end_time=END).window == (
        datetime(2024, 5, 1, 9, tzinfo=UTC),
        datetime(2024, 5, 1, 12, tzinfo=UTC),
    )


# --- reproducibility and shares -----------------------------------------------------------------


def test_a_seed_reproduces_the_exact_same_writes():
    runs = []
    for _ in range(2):
        client = RecordingClient()
        summary = drive(client, orders=300, update_share=0.3, delete_share=0.1, seed=42, spread_hours=2)
        runs.append((client.requests, summary.to_json()))
    assert runs[0] == runs[1]

    other = RecordingClient()
    drive(other, orders=300, update_share=0.3, delete_share=0.1, seed=43, spread_hours=2)
    assert other.requests != runs[0][0]


def test_a_seed_reproduces_keys_and_values_when_times_are_now():
    def writes(seed: int, start: datetime) -> list[dict[str, Any]]:
        client = RecordingClient()
        drive(client, FakeTime(start=start, tick=0.001), orders=100, update_share=0.2, seed=seed)
        items = [plain(r["PutRequest"]["Item"]) for r in client.requests if "PutRequest" in r]
        return [{k: v for k, v in i.items() if k not in ("order_time", "updated_at")} for i in items]

    assert writes(7, END) == writes(7, END + timedelta(days=3))
    assert writes(7, END) != writes(8, END)


@pytest.mark.parametrize(
    ("orders", "update_share", "delete_share"), [(1000, 0.3, 0.1), (500, 0.0, 0.0), (200, 0.5, 0.2)]
)
def test_a_count_run_writes_exactly_the_planned_shares(orders, update_share, delete_share):
    client = RecordingClient()
    summary = drive(client, orders=orders, update_share=update_share, delete_share=delete_share, seed=1)
    total = orders / (1 - update_share - delete_share)
    expected = {
        "insert": orders,
        "update": round(total * update_share),
        "delete": round(total * delete_share),
    }
    assert summary.planned == expected
    assert (summary.inserted, summary.updated, summary.deleted) == (
        orders,
        expected["update"],
        expected["delete"],
    )
    ops = [op for op, _, _ in replay(client.requests)]  # replay fails on a write to a missing order
    assert {op: ops.count(op) for op in ("insert", "update", "delete")} == expected
    assert len(summary.current) == orders - expected["delete"]
    # Updates and deletes are interleaved with inserts, not all at the end.
    assert "delete" in ops[: len(ops) // 2] or expected["delete"] == 0


def test_a_duration_run_draws_the_shares():
    client = RecordingClient()
    # Every monotonic reading advances 1 ms: the 3-second run makes about 1,500 writes.
    summary = drive(
        client, FakeTime(tick=0.001), duration_seconds=3, update_share=0.3, delete_share=0.1, seed=5
    )
    assert summary.planned is None
    assert summary.writes > 1000
    assert summary.updated / summary.writes == pytest.approx(0.3, abs=0.04)
    assert summary.deleted / summary.writes == pytest.approx(0.1, abs=0.03)
    replay(client.requests)


def test_updates_follow_an_orders_life_and_keep_what_must_not_change():
    client = RecordingClient()
    drive(client, orders=400, update_share=0.45, delete_share=0.05, seed=9)
    updates = [(before, after) for op, before, after in replay(client.requests) if op == "update"]
    assert len(updates) > 100
    seen_steps = set()
    for before, after in updates:
        step = (before["status"], after["status"])
        assert step in ALLOWED_STEPS
        seen_steps.add(step)
        if step == ("placed", "placed"):
            assert after["quantity"] != before["quantity"]  # a placed order's quantity changed
        else:
            assert after["quantity"] == before["quantity"]
        for name in (
            "orderid",
            "product_name",
            "category",
            "price",
            "customer_id",
            "customer_name",
            "order_time",
        ):
            assert after[name] == before[name]
        assert after["updated_at"] >= before["updated_at"]
    assert seen_steps == ALLOWED_STEPS


# --- values -------------------------------------------------------------------------------------


def test_orders_have_every_field_and_prices_exact_to_the_cent():
    client = RecordingClient()
    summary = drive(client, orders=500, seed=11)
    for request in client.requests:
        item = request["PutRequest"]["Item"]
        assert set(item) == {
            "orderid", "product_name", "category", "quantity", "price", "customer_id",
            "customer_name", "order_time", "status", "updated_at",
        }  # fmt: skip
        assert re.fullmatch(r"[0-9]+\.[0-9]{2}", item["price"]["N"])  # what DynamoDB receives
        assert re.fullmatch(r"[1-9][0-9]*", item["quantity"]["N"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", item["order_time"]["S"])
        assert item["status"]["S"] in STATUSES
    for order in summary.current.values():
        product = PRODUCTS[order["product_name"]]
        assert order["category"] == product.category
        assert isinstance(order["price"], Decimal) and order["price"].as_tuple().exponent == -2
        assert product.low <= order["price"] <= product.high
        assert re.fullmatch(r"C\d{8}", order["customer_id"]) and order["customer_name"]
    assert len({o["product_name"] for o in summary.current.values()}) >= 25
    customers = [o["customer_id"] for o in summary.current.values()]
    assert len(set(customers)) < len(customers)  # some customers come back


def test_spread_event_times_stay_inside_the_window_and_after_their_order_time():
    client = RecordingClient()
    summary = drive(client, orders=600, update_share=0.3, delete_share=0.1, seed=3, spread_hours=3)
    assert summary.window == ("2024-05-01T09:00:00.000Z", "2024-05-01T12:00:00.000Z")
    changes = replay(client.requests)
    assert sum(1 for op, _, _ in changes if op == "delete") == summary.deleted > 0
    stamps = []
    for _, _, item in changes:
        if item is None:
            continue
        assert (
            "2024-05-01T09:00:00.000Z"
            <= item["order_time"]
            <= item["updated_at"]
            < "2024-05-01T12:00:00.000Z"
        )
        stamps.append(item["updated_at"])
    assert stamps == sorted(stamps)  # writes happen in time order
    assert set(summary.hourly) == {f"2024-05-01T{h:02d}:00:00.000Z" for h in (9, 10, 11)}
    assert summary.first_event_time >= summary.window[0] and summary.last_event_time < summary.window[1]


def test_a_spread_duration_run_maps_elapsed_time_onto_the_window():
    client = RecordingClient()
    summary = drive(
        client, FakeTime(tick=0.002), duration_seconds=2, update_share=0.2, seed=12, spread_hours=1
    )
    stamps = [plain(r["PutRequest"]["Item"])["updated_at"] for r in client.requests if "PutRequest" in r]
    assert len(stamps) > 300 and stamps == sorted(stamps)
    assert "2024-05-01T11:00:00.000Z" <= stamps[0] < "2024-05-01T11:05:00.000Z"
    assert "2024-05-01T11:55:00.000Z" <= stamps[-1] < "2024-05-01T12:00:00.000Z"
    assert set(summary.hourly) == {"2024-05-01T11:00:00.000Z"}


def test_without_spread_event_times_are_the_clock():
    client = RecordingClient()
    fake_time = FakeTime(start=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC), tick=0.5)
    drive(client, fake_time, orders=20, seed=2)
    stamps = [plain(r["PutRequest"]["Item"])["updated_at"] for r in client.requests]
    assert stamps[0].startswith("2030-01-02T03:04:")
    assert stamps == sorted(stamps) and stamps[-1] <= "2030-01-02T03:05:00.000Z"


def test_hourly_totals_are_exact():
    items = [
        {"order_time": "2024-05-01T09:59:59.999Z", "quantity": 3, "price": Decimal("0.10")},
        {"order_time": "2024-05-01T09:00:00.000Z", "quantity": 1, "price": Decimal("0.20")},
        {"order_time": "2024-05-01T10:00:00.000Z", "quantity": 2, "price": Decimal("349.99")},
    ]
    assert OrderDataset().hourly_totals(items) == {
        "2024-05-01T09:00:00.000Z": {"orders": 2, "units": 4, "revenue": Decimal("0.50")},
        "2024-05-01T10:00:00.000Z": {"orders": 1, "units": 2, "revenue": Decimal("699.98")},
    }


# --- writing ------------------------------------------------------------------------------------


def test_batches_hold_at_most_25_writes_and_never_two_of_one_order():
    client = RecordingClient()
    drive(client, orders=800, update_share=0.4, delete_share=0.1, seed=4)
    assert max(len(b) for b in client.batches) == 25
    for batch in client.batches:
        keys = [
            plain(r["PutRequest"]["Item"])["orderid"]
            if "PutRequest" in r
            else r["DeleteRequest"]["Key"]["orderid"]["S"]
            for r in batch
        ]
        assert len(keys) == len(set(keys))
    assert client.tables == {"orders-table"}


def test_unprocessed_items_are_retried():
    client = RecordingClient(unprocessed_first=5)
    summary = drive(client, orders=30, seed=6)
    assert len(client.requests) == 30 == summary.inserted
    assert {plain(r["PutRequest"]["Item"])["orderid"] for r in client.requests} == set(summary.current)


def test_a_rate_paces_single_writes():
    client = RecordingClient()
    fake_time = FakeTime()
    drive(client, fake_time, orders=10, rate_per_second=4, seed=8)
    assert [len(b) for b in client.batches] == [1] * 10
    assert fake_time.now == pytest.approx(9 / 4)  # write i is sent at i/rate seconds
    assert fake_time.sleeps == pytest.approx([0.25] * 9)


def test_progress_is_reported_every_n_writes(caplog):
    reports: list[GenerationProgress] = []
    client = RecordingClient()
    with caplog.at_level(logging.INFO, logger="cdc_pipeline.generators.driver"):
        summary = drive(
            client,
            orders=2000,
            update_share=0.14,
            delete_share=0.06,
            seed=10,
            progress=reports.append,
            progress_every=1000,
        )
    assert [r.done for r in reports] == [False, False, True]
    assert [r.writes // 1000 for r in reports[:-1]] == [1, 2]
    final = reports[-1]
    assert (final.inserted, final.updated, final.deleted) == (
        summary.inserted,
        summary.updated,
        summary.deleted,
    )
    assert str(final).startswith(
        f"written 2,000 / 2,000 orders, {summary.updated:,} updates, {summary.deleted} deletes"
    )
    assert sum("written" in m for m in caplog.messages) == 3


def test_against_dynamodb_the_summary_is_the_table(aws):
    ddb = aws("dynamodb")
    table = unique("orders")
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "orderid", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "orderid", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    summary = OrderDataset().generate(
        ddb, table, orders=300, update_share=0.3, delete_share=0.1, seed=21, spread_hours=2
    )
    assert (summary.inserted, summary.updated, summary.deleted) == (
        300,
        150,
        50,
    )  # 300 / (1 - 0.4) = 500 writes

    scanned: dict[str, dict[str, Any]] = {}
    for page in ddb.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            row = plain(item)
            scanned[row["orderid"]] = row
    assert scanned == summary.current
    assert OrderDataset().hourly_totals(scanned.values()) == summary.hourly
    # Prices read back exactly, to the cent.
    assert all(row["price"] == row["price"].quantize(Decimal("0.01")) for row in scanned.values())

    # The summary travels as JSON (e.g. XCom) without losing a cent.
    as_json = json.loads(json.dumps(summary.to_json()))
    assert as_json["counts"] == {
        "inserted": 300,
        "updated": 150,
        "deleted": 50,
        "writes": 500,
        "current": 250,
    }
    assert as_json["seed"] == 21 and as_json["dataset"] == "sales_orders" and as_json["key"] == "orderid"
    revenue = sum((Decimal(h["revenue"]) for h in as_json["hourly"].values()), Decimal(0))
    assert revenue == sum((row["quantity"] * row["price"] for row in scanned.values()), Decimal(0))
    some_id, some_order = next(iter(summary.current.items()))
    assert as_json["current"][some_id]["price"] == str(some_order["price"])


def test_an_unknown_parameter_is_named_with_the_ones_the_dataset_takes():
    from cdc_pipeline.generators.base import GeneratorParamsError
    from cdc_pipeline.generators.orders import OrderDataset

    with pytest.raises(
        GeneratorParamsError, match=r"^users: not a parameter of this dataset; it takes .*orders"
    ):
        OrderDataset().generate(object(), "table", orders=10, users=5)
