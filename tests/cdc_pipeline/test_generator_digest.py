"""Generated data is pinned: a seed gives the same requests, batches, progress and summary, byte for byte.

The digests were taken from the generators before they were restructured into one driver with
pluggable writers; a change to the driver, a writer or a dataset that alters what a seed produces
(a value, a key, the order of writes, where a batch ends, a progress line, a summary total) fails here.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cdc_pipeline.generators import ChangeDriver, ChangeParams
from cdc_pipeline.generators.events import EventDataset
from cdc_pipeline.generators.orders import OrderDataset
from cdc_pipeline.generators.profiles import ProfileDataset

END = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


class RecordingDynamoDB:
    """BatchWriteItem calls as they were made; the second call leaves its first two writes unprocessed."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        self.calls.append(json.loads(json.dumps(RequestItems)))
        ((table, requests),) = RequestItems.items()
        if len(self.calls) == 2:
            return {"UnprocessedItems": {table: requests[:2]}}
        return {"UnprocessedItems": {}}


class RecordingKinesis:
    """PutRecords calls as they were made; every seventh record of the first call fails."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        first = not self.calls
        self.calls.append([{"Data": r["Data"].decode(), "PartitionKey": r["PartitionKey"]} for r in Records])
        results = [
            {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded"}
            if first and i % 7 == 0
            else {"SequenceNumber": str(i), "ShardId": "shardId-000000000000"}
            for i in range(len(Records))
        ]
        return {"FailedRecordCount": sum("ErrorCode" in r for r in results), "Records": results}


class FakeTime:
    """Clocks that advance `tick` seconds per reading, and by the slept time."""

    def __init__(self, tick: float) -> None:
        self.now = 0.0
        self.tick = tick

    def monotonic(self) -> float:
        self.now += self.tick
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def clock(self) -> datetime:
        return END + timedelta(seconds=self.now)


def digest(calls: list[Any], progress: list[str], summary: dict[str, Any]) -> str:
    text = json.dumps({"calls": calls, "progress": progress, "summary": summary}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def change_run(dataset: Any, tick: float = 0.0, **params: Any) -> str:
    client, progress, fake = RecordingDynamoDB(), [], FakeTime(tick)
    count_param = dataset.noun
    checked = ChangeParams.validate(count=params.pop(count_param, None), count_param=count_param, **params)
    summary = ChangeDriver(
        dataset,
        client,
        "pinned-table",
        checked,
        progress=lambda p: progress.append(str(p)),
        clock=fake.clock,
        monotonic=fake.monotonic,
        sleep=fake.sleep,
    ).run()
    return digest(client.calls, progress, summary.to_json())


def event_run(tick: float = 0.0, **params: Any) -> str:
    client, progress, fake = RecordingKinesis(), [], FakeTime(tick)
    summary = EventDataset(users=40).generate(
        client,
        "pinned-stream",
        progress=lambda p: progress.append(str(p)),
        clock=fake.clock,
        monotonic=fake.monotonic,
        sleep=fake.sleep,
        **params,
    )
    return digest(client.calls, progress, summary.to_json())


ORDERS = {"orders": 120, "update_share": 0.3, "delete_share": 0.1, "seed": 11, "spread_hours": 3}
PROFILES = {"users": 80, "update_share": 0.35, "delete_share": 0.05, "seed": 3, "spread_hours": 2}

#: (what runs, its parameters, the digest the generators gave before they were restructured)
PINNED = {
    "orders": (
        lambda: change_run(OrderDataset(), **ORDERS, end_time=END, progress_every=50),
        "3eccddd7dbf8ebfe03c309d4c75fa490fadd44d7cc092313156670a92b6fd5e4",
    ),
    "timed orders at a rate": (
        lambda: change_run(
            OrderDataset(), tick=0.01, duration_seconds=3, rate_per_second=20, update_share=0.4, seed=5
        ),
        "63daa2db59f4606617aae2ab321e647ab214aae705e1432f1dfc0f68b82ebd16",
    ),
    "profiles": (
        lambda: change_run(
            ProfileDataset(invalid_email_share=0.2), **PROFILES, end_time=END, progress_every=40
        ),
        "37b0a1344a581c0cfe3fc25613335c058b98f339812640867c868882f8f526f0",
    ),
    "events with failed records": (
        lambda: event_run(events=700, seed=9, spread_hours=2, end_time=END, progress_every=300),
        "a1964d5bfac2238bc405e82dfae8f2ec3acfa3084e9016408691df4b3c6b5c8a",
    ),
    "timed events at a rate": (
        lambda: event_run(tick=0.005, duration_seconds=2, rate_per_second=50, seed=4),
        "4ead636fae5a743dafcdb885bb57f2d2920cbd88aed69856c674e5be0bb0284e",
    ),
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_a_seeded_run_is_pinned(name: str):
    run, pinned = PINNED[name]
    assert run() == pinned
