"""The user-events producer: realistic sessions, ordered PutRecords batches, retries, validated parameters."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from cdc_pipeline.generators.base import GeneratorParamsError
from cdc_pipeline.generators.events import EVENT_TYPES, EventDataset
from cdc_pipeline.generators.writers import PUT_RECORDS_LIMIT as BATCH_LIMIT
from cdc_pipeline.generators.writers import RETRIES
from tests.support import unique, wait_until

END = "2024-06-01T12:00:00Z"
FIELDS = [
    "event_id",
    "user_id",
    "session_id",
    "event_type",
    "page",
    "device",
    "country",
    "event_time",
    "amount",
]


class StubKinesis:
    """Records every PutRecords call; `fail(call_index, record_index)` decides which records fail."""

    def __init__(self, fail=lambda call, index, record: False) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.fail = fail
        self.accepted: list[dict[str, Any]] = []
        #: Per call, the indexes of the records that failed.
        self.failed: list[list[int]] = []

    def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        assert StreamName == "events-stream"
        call = len(self.calls)
        self.calls.append(list(Records))
        results = []
        for index, record in enumerate(Records):
            if self.fail(call, index, record):
                results.append(
                    {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded"}
                )
            else:
                self.accepted.append(record)
                results.append({"SequenceNumber": str(len(self.accepted)), "ShardId": "shardId-000000000000"})
        self.failed.append([i for i, r in enumerate(results) if "ErrorCode" in r])
        return {"FailedRecordCount": len(self.failed[-1]), "Records": results}

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(record["Data"], parse_float=Decimal) for record in self.accepted]


def run(client: StubKinesis | None = None, **params: Any) -> tuple[StubKinesis, Any]:
    client = client or StubKinesis()
    params = {"events": 1500, "seed": 7, "spread_hours": 2, "end_time": END, **params}
    summary = EventDataset().generate(client, "events-stream", sleep=lambda s: None, **params)
    return client, summary


def test_every_event_is_sent_once_with_its_fields_and_user_partition_key():
    client, summary = run()
    events = client.events()
    assert len(events) == summary.sent == 1500
    assert len({e["event_id"] for e in events}) == 1500
    for record, event in zip(client.accepted, events, strict=True):
        assert list(event) == FIELDS
        assert record["PartitionKey"] == event["user_id"]
        assert event["event_type"] in EVENT_TYPES
        assert event["device"] in {"mobile", "desktop", "tablet"}
        assert len(event["country"]) == 2 and event["country"].isupper()
        assert len(event["event_time"]) == len("2024-06-01T10:00:00.000Z") and event["event_time"].endswith(
            "Z"
        )
        if event["event_type"] == "purchase":
            # Exact two-place decimals on the wire (the JSON text, not a float's digits).
            assert isinstance(event["amount"], Decimal) and event["amount"] > 0
            assert event["amount"] == event["amount"].quantize(Decimal("0.01"))
            assert f'"amount":{event["amount"]}' in record["Data"].decode()
        else:
            assert event["amount"] is None


def test_batches_hold_at_most_500_records_and_never_two_events_of_one_user():
    client, _ = run(events=3000, users=5000)
    assert all(1 <= len(batch) <= BATCH_LIMIT for batch in client.calls)
    for batch in client.calls:
        keys = [record["PartitionKey"] for record in batch]
        assert len(keys) == len(set(keys))
    assert len(client.calls) < 3000 / 2  # records are batched, not sent one by one


def test_event_times_rise_inside_the_window_and_each_users_events_are_in_order():
    client, summary = run()
    times = [e["event_time"] for e in client.events()]
    assert times == sorted(times)
    assert times[0] >= "2024-06-01T10:00:00.000Z" and times[-1] < "2024-06-01T12:00:00.000Z"
    assert summary.window == ("2024-06-01T10:00:00.000Z", "2024-06-01T12:00:00.000Z")
    assert (summary.first_event_time, summary.last_event_time) == (times[0], times[-1])
    by_user = defaultdict(list)
    for e in client.events():
        by_user[e["user_id"]].append(e["event_time"])
    assert all(t == sorted(t) for t in by_user.values())


def test_sessions_follow_the_funnel_and_a_purchase_pays_for_the_cart():
    client, _ = run(events=4000)
    events = client.events()
    sessions = defaultdict(list)
    for e in events:
        sessions[e["session_id"]].append(e)
    for session in sessions.values():
        assert len({e["user_id"] for e in session}) == 1
        assert session[0]["event_type"] in {"page_view", "search", "login"}
        assert "logout" not in [e["event_type"] for e in session[:-1]]  # a logout ends the session
        cart_adds = 0
        for e in session:
            if e["event_type"] == "add_to_cart":
                cart_adds += 1
            elif e["event_type"] == "purchase":
                assert cart_adds > 0, "a purchase needs something in the cart"
                cart_adds = 0
    reached = {
        step: sum(any(e["event_type"] == step for e in s) for s in sessions.values()) for step in EVENT_TYPES
    }
    assert reached["page_view"] > reached["add_to_cart"] > reached["purchase"] > 0
    kinds = Counter(e["event_type"] for e in events)
    assert kinds.most_common(1)[0][0] == "page_view"
    assert set(kinds) == set(EVENT_TYPES)
    # One user's sessions do not overlap: a user has one open session at a time.
    open_session: dict[str, str] = {}
    closed: set[str] = set()
    for e in events:
        previous = open_session.get(e["user_id"])
        if previous is not None and previous != e["session_id"]:
            closed.add(previous)
        assert e["session_id"] not in closed
        open_session[e["user_id"]] = e["session_id"]


def test_hourly_totals_are_what_was_sent():
    client, summary = run()
    events = client.events()
    expected: dict[str, dict[str, Any]] = {}
    for e in events:
        hour = e["event_time"][:13] + ":00:00.000Z"
        t = expected.setdefault(
            hour, {"events": 0, "types": Counter(), "revenue": Decimal(0), "users": set()}
        )
        t["events"] += 1
        t["types"][e["event_type"]] += 1
        t["users"].add(e["user_id"])
        if e["amount"] is not None:
            t["revenue"] += e["amount"]
    assert (
        list(summary.hourly) == sorted(expected) == ["2024-06-01T10:00:00.000Z", "2024-06-01T11:00:00.000Z"]
    )
    for hour, want in expected.items():
        got = summary.hourly[hour]
        assert got["events"] == want["events"]
        assert got["by_type"] == {kind: want["types"][kind] for kind in EVENT_TYPES}
        assert got["purchases"] == want["types"]["purchase"]
        assert got["revenue"] == want["revenue"]
        assert got["users"] == len(want["users"])
        assert sum(c["revenue"] for c in got["by_country"].values()) == want["revenue"]
        assert got["funnel"]["page_view"] >= got["funnel"]["add_to_cart"] >= got["funnel"]["purchase"]
    as_json = json.loads(json.dumps(summary.to_json()))
    assert as_json["counts"]["sent"] == 1500
    assert sum(as_json["counts"][kind] for kind in EVENT_TYPES) == 1500
    hour = as_json["hourly"]["2024-06-01T10:00:00.000Z"]
    assert Decimal(hour["revenue"]) == summary.hourly["2024-06-01T10:00:00.000Z"]["revenue"]


def test_a_seed_and_end_time_reproduce_the_run():
    first, _ = run(seed=11, events=300)
    second, _ = run(seed=11, events=300)
    other, _ = run(seed=12, events=300)
    assert [r["Data"] for r in first.accepted] == [r["Data"] for r in second.accepted]
    assert [r["Data"] for r in first.accepted] != [r["Data"] for r in other.accepted]


def test_failed_records_are_sent_again_before_the_next_batch():
    # The first attempt of every batch loses every third record.
    attempts: dict[bytes, int] = Counter()

    def fail(call: int, index: int, record: dict[str, Any]) -> bool:
        attempts[record["Data"]] += 1
        return attempts[record["Data"]] == 1 and index % 3 == 0

    client, summary = run(StubKinesis(fail), events=800)
    events = client.events()
    assert len(events) == 800 and len({e["event_id"] for e in events}) == 800
    assert summary.resent > 0 and summary.resent == sum(1 for n in attempts.values() if n == 2)
    # Each user's events were accepted in event order, retries included.
    by_user = defaultdict(list)
    for e in events:
        by_user[e["user_id"]].append(e["event_time"])
    assert all(t == sorted(t) for t in by_user.values())
    # After a partial failure the next call carries exactly the failed records, in their order.
    for call, (batch, failed) in enumerate(zip(client.calls, client.failed, strict=True)):
        if failed:
            assert client.calls[call + 1] == [batch[i] for i in failed]


def test_records_that_keep_failing_fail_the_run():
    sleeps: list[float] = []
    client = StubKinesis(lambda call, index, record: True)
    with pytest.raises(RuntimeError, match=f"still failed after {RETRIES} retries"):
        EventDataset().generate(client, "events-stream", events=3, seed=1, sleep=sleeps.append)
    assert len(client.calls) == RETRIES + 1
    assert sleeps == sorted(sleeps) and len(sleeps) == RETRIES


def test_a_timed_run_at_a_rate_sends_each_event_on_its_own():
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    client = StubKinesis()
    summary = EventDataset().generate(
        client,
        "events-stream",
        duration_seconds=2,
        rate_per_second=5,
        seed=3,
        monotonic=lambda: now[0],
        sleep=sleep,
        clock=lambda: datetime(2024, 6, 1, 9, 30, tzinfo=UTC) + timedelta(seconds=now[0]),
    )
    assert summary.sent == 10
    assert all(len(batch) == 1 for batch in client.calls)
    assert [e["event_time"] for e in client.events()][:2] == [
        "2024-06-01T09:30:00.000Z",
        "2024-06-01T09:30:00.200Z",
    ]


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({}, "events/duration_seconds", "give exactly one of events"),
        ({"events": 0}, "events", "whole number in 1..10,000,000"),
        ({"events": 10, "duration_seconds": 5}, "events/duration_seconds", "exactly one"),
        ({"events": 10, "update_share": 0.2}, "update_share", "never updated or deleted"),
        ({"events": 10, "delete_share": 0.1}, "delete_share", "never updated or deleted"),
        ({"events": 10, "users": 0}, "users", "whole number in 1..1,000,000"),
        ({"events": 10, "users": True}, "users", "whole number"),
        ({"events": 10, "spread_hours": -1}, "spread_hours", "whole number"),
        ({"events": 10, "end_time": "soon"}, "end_time", "ISO-8601"),
        ({"events": 10, "rate_per_second": "fast"}, "rate_per_second", "must be a number"),
    ],
)
def test_bad_parameters_name_themselves_and_nothing_is_sent(params, param, message):
    client = StubKinesis()
    with pytest.raises(GeneratorParamsError, match=message) as raised:
        EventDataset().generate(client, "events-stream", **params)
    assert raised.value.param == param
    assert client.calls == []


def test_zero_update_and_delete_shares_are_accepted():
    client, summary = run(events=20, update_share=0, delete_share=0.0)
    assert summary.sent == 20


def test_events_reach_a_real_kinesis_stream_in_user_order(aws):
    kinesis = aws("kinesis")
    stream = unique("events")
    kinesis.create_stream(StreamName=stream, ShardCount=2)
    wait_until(
        lambda: (
            kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamStatus"]
            == "ACTIVE"
        ),
        10,
        what="stream ACTIVE",
    )
    summary = EventDataset().generate(kinesis, stream, events=700, seed=5, spread_hours=1, end_time=END)
    assert summary.sent == 700
    received = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=1000)
            received += [
                (shard["ShardId"], json.loads(r["Data"]), r["PartitionKey"]) for r in page["Records"]
            ]
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    assert len(received) == 700
    shards_of_user = defaultdict(set)
    times_of_user = defaultdict(list)
    for shard_id, event, key in received:
        assert key == event["user_id"]
        shards_of_user[key].add(shard_id)
        times_of_user[key].append(event["event_time"])
    assert all(len(s) == 1 for s in shards_of_user.values())  # one user, one shard
    assert all(t == sorted(t) for t in times_of_user.values())
    kinesis.delete_stream(StreamName=stream)


def test_an_unknown_parameter_is_named_not_a_type_error():
    from cdc_pipeline.generators.base import GeneratorParamsError
    from cdc_pipeline.generators.events import EventDataset

    with pytest.raises(GeneratorParamsError, match=r"^orders: not a parameter of this dataset"):
        EventDataset().generate(object(), "stream", events=10, orders=5)
