"""The hourly checks and the reconciliation hold under live traffic with AWS's default buffers, and the
reconciliation still catches a lost change.

On AWS the lake lags DynamoDB by the Pipe window, the processor's 60 s buffer and the 60 s dynamic
partitioning buffer, so comparing a live item count with the lake fails whenever writes go on. Here
the pipeline runs with AWS's defaults (``CDC_LAKE_ENFORCE_AWS_MINIMUMS=true``, 60 s / 64 MB
buffering, 60 s delivery grace), a writer thread inserts, updates and deletes orders without pause
across the hour boundary (the orders' event time crosses from the hour under test into the next) and
until the hourly run and then a run of the reconcile DAG are over. The hourly run's checks must all
pass, and so must the reconciliation, with its watermark inside the traffic: changes on both sides of
it. Then one delivered object is deleted from the lake and the reconciliation must fail, naming how
many changes were lost.

The hour boundary is in event time (``updated_at``, which partitions the lake and which the delivery
sensor watches): the test's clock starts shortly before the hour that has just ended, so the run is
for a real, past hour without waiting for the wall clock to reach one.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from cdc_pipeline.generators.orders import OrderDataset
from cdc_pipeline.workflows.reconciliation import CHECK_ID as CHECK
from cdc_pipeline.workflows.reconciliation import TASK_ID as TABLE_TASK
from tests.airflow_harness import client, deployed_pipeline, lake_bucket, run_dag, task_states, xcom
from tests.dags.check_helpers import alert_naming, lake_objects

# AWS's defaults and minimums with dynamic partitioning (see cdc_pipeline.settings).
AWS_DEFAULTS = {
    "CDC_LAKE_ENFORCE_AWS_MINIMUMS": "true",
    "CDC_LAKE_FIREHOSE_BUFFER_INTERVAL": "60",
    "CDC_LAKE_FIREHOSE_BUFFER_SIZE": "64",
    "CDC_LAKE_PIPE_BATCH_SIZE": "100",
    "CDC_LAKE_PIPE_BATCH_WINDOW": "1",
    "CDC_LAKE_DELIVERY_GRACE": "60",
}
# The writer's clock starts this long before the hour's end, so the boundary is crossed mid-traffic.
# The delivery sensor then waits for the hour's partition to be quiet (90 s) after the writer has
# left it, so the reconciliation (after the hourly run) starts at least LEAD + 90 s into the traffic
# and its watermark (181 s before it) falls at least ~30 s into it, however slow the machine.
LEAD = timedelta(seconds=120)
WRITE_PAUSE_SECONDS = 0.2


class LiveWriter(threading.Thread):
    """Writes orders without pause (inserts, updates, deletes) until stopped; its clock is the test's."""

    def __init__(self, endpoint: str, table: str, clock_start: datetime) -> None:
        super().__init__(name="live-writer", daemon=True)
        self.table = boto3.resource("dynamodb", endpoint_url=endpoint, region_name="us-east-1").Table(table)
        self.clock_start = clock_start
        self.started = time.monotonic()
        self.stop = threading.Event()
        self.dataset = OrderDataset()
        self.dataset.reset(random.Random(13), _faker())
        self.live: dict[str, dict[str, Any]] = {}
        self.writes_by_side = {"before_boundary": 0, "after_boundary": 0}
        self.errors: list[BaseException] = []

    def now(self) -> datetime:
        return self.clock_start + timedelta(seconds=time.monotonic() - self.started)

    def run(self) -> None:
        rng = random.Random(7)
        try:
            while not self.stop.is_set():
                self.write_one(rng)
                self.stop.wait(WRITE_PAUSE_SECONDS)
        except BaseException as exc:  # the test asserts there was none
            self.errors.append(exc)

    def write_one(self, rng: random.Random) -> None:
        at = self.now()
        draw = rng.random()
        changeable = [key for key, item in self.live.items() if self.dataset.can_update(item)]
        if draw < 0.2 and self.live:
            key = rng.choice(sorted(self.live))
            self.table.delete_item(Key={"orderid": key})
            del self.live[key]
        elif draw < 0.5 and changeable:
            item = self.dataset.updated_item(self.live[rng.choice(sorted(changeable))], at)
            self.table.put_item(Item=item)
            self.live[item["orderid"]] = item
        else:
            item = self.dataset.new_item(at)
            self.table.put_item(Item=item)
            self.live[item["orderid"]] = item
        side = "before_boundary" if at < self.boundary else "after_boundary"
        self.writes_by_side[side] += 1

    @property
    def boundary(self) -> datetime:
        return self.clock_start + LEAD


def _faker() -> Any:
    from faker import Faker

    fake = Faker()
    fake.seed_instance(13)
    return fake


@pytest.fixture(scope="module")
def pipeline(local_aws):
    with deployed_pipeline(
        local_aws.endpoint_url, provision="sales_orders", overrides=AWS_DEFAULTS
    ) as deployed:
        yield deployed


@pytest.fixture(scope="module")
def hour_end() -> datetime:
    """The end of the hour under test: the hour that has just ended on the wall clock."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def wait_for_delivery_to_start(pipeline: dict[str, Any], prefix: str) -> None:
    """Wait (generously: the machine is shared) until the first buffer reached the hour's partition."""
    s3, bucket = client(pipeline, "s3"), lake_bucket(pipeline)
    deadline = time.monotonic() + 300
    while not s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount"):
        assert time.monotonic() < deadline, f"nothing delivered under {prefix}"
        time.sleep(1)


def hour_prefix(hour_start: datetime) -> str:
    return (
        f"sales_orders/year={hour_start:%Y}/month={hour_start:%m}/day={hour_start:%d}/hour={hour_start:%H}/"
    )


@pytest.fixture(scope="module")
def live_run(pipeline, hour_end) -> dict[str, Any]:
    """The hourly run, then a reconcile run, made while the writer wrote across the hour boundary; the
    writer, stopped after.

    Both slow tests ask for it, so either runs alone (and in any order) with the lake it needs. The
    runs' task states and the table side's numbers are read here, at once: the other test runs the
    reconcile DAG again, and a later run of it may replace this one's task instances and XComs.
    """
    writer = LiveWriter(pipeline["endpoint"], f"{pipeline['prefix']}-orders", hour_end - LEAD)
    writer.start()
    try:
        # Start the run once the first buffer has landed, while the writer is still before the boundary
        # or just past it: the run then sees the traffic go on past the hour and its own end.
        wait_for_delivery_to_start(pipeline, hour_prefix(hour_end - timedelta(hours=1)))
        run = run_dag(pipeline["dags"]["sales_orders_hourly"], logical_date=hour_end)
        reconciled = run_dag(pipeline["dags"]["sales_orders_reconcile"])
        still_writing = writer.is_alive() and not writer.errors
    finally:
        writer.stop.set()
        writer.join(timeout=60)
    return {
        "run": run,
        "states": task_states(run),
        "reconcile_states": task_states(reconciled),
        "table_side": xcom(reconciled, TABLE_TASK),
        "writer": writer,
        "still_writing": still_writing,
    }


@pytest.mark.slow
def test_hourly_checks_pass_while_orders_are_written_across_the_hour_boundary(live_run):
    run, writer, still_writing = live_run["run"], live_run["writer"], live_run["still_writing"]
    assert writer.errors == []
    assert still_writing, "the writer stopped before the run finished"
    states = live_run["states"]
    assert str(run.state) == "success", states
    checks = {task: state for task, state in states.items() if task.startswith("check_")}
    assert checks and set(checks.values()) == {"success"}, checks
    assert live_run["reconcile_states"][CHECK] == "success", live_run["reconcile_states"]

    # The comparison was not vacuous: the watermark fell inside the traffic, with changes on both sides
    # (those after it were still in Firehose's buffers or not yet written when the table was read).
    table_side = live_run["table_side"]
    assert table_side["items"] > 0 and table_side["changes"] > 0, table_side
    assert table_side["changes_after_watermark"] > 0, table_side
    # Writes went on across the hour boundary in the orders' event time.
    assert writer.writes_by_side["before_boundary"] > 0 and writer.writes_by_side["after_boundary"] > 0


@pytest.mark.slow
def test_a_change_lost_from_the_lake_fails_the_reconciliation_with_numbers(pipeline, hour_end, live_run):
    """After the live run (writer stopped): passes, then one delivered object goes, then it fails."""
    reconciliation = pipeline["dags"]["sales_orders_reconcile"]
    s3, bucket = client(pipeline, "s3"), lake_bucket(pipeline)
    objects = lake_objects(pipeline, hour_prefix(hour_end - timedelta(hours=1)))
    key, rows = min(objects.items(), key=lambda pair: pair[0])
    assert rows
    newest = max(row["approximate_creation_time"] for row in rows)
    # The object's changes must all be before the watermark, or deleting it would not be noticed.
    # The watermark follows the wall clock (the run's start less the delivery lag bound), so a fast
    # machine may reach this point before it has passed them: wait for the clock, not a fixed time.
    deadline = time.monotonic() + 600
    while True:
        before = run_dag(reconciliation)
        assert str(before.state) == "success", task_states(before)
        watermark = xcom(before, TABLE_TASK)["watermark"]
        if newest < watermark:
            break
        assert time.monotonic() < deadline, ("the watermark never passed the object", watermark, newest)
        time.sleep((_instant(newest) - _instant(watermark)).total_seconds() + 1)
    elsewhere = {change for other, changes in objects.items() if other != key for change in _ids(changes)}
    lost = len(_ids(rows) - elsewhere)
    assert lost > 0
    s3.delete_object(Bucket=bucket, Key=key)

    queue_url = subscribe_inbox(pipeline)
    after = run_dag(reconciliation)
    states = task_states(after)
    assert states[CHECK] == "failed", states
    message = alert_naming(pipeline, queue_url, CHECK)
    assert f"lost_changes={lost} " in message, message
    assert "table_items=" in message and "stream_changes=" in message, message


def _instant(lake_time: str) -> datetime:
    """A lake timestamp (``2026-11-30T03:51:23.000Z``) as a datetime."""
    return datetime.fromisoformat(lake_time)


def _ids(rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(row["orderid"], row["sequence_number"]) for row in rows}


def subscribe_inbox(pipeline: dict[str, Any]) -> str:
    """An SQS queue subscribed to the pipeline's alerts topic: where a failed check's message lands."""
    sns, sqs = client(pipeline, "sns"), client(pipeline, "sqs")
    topic_arn = sns.create_topic(Name=f"{pipeline['prefix']}-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"{pipeline['prefix']}-live-inbox")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=attributes["QueueArn"])
    return queue_url


# -- the rule that rebuilds DynamoDB's state at the watermark (no AWS needed) --------------------


def _record(key: str, sequence: int, event: str, created: int) -> dict[str, Any]:
    return {
        "eventName": event,
        "dynamodb": {
            "Keys": {"orderid": {"S": key}},
            "SequenceNumber": str(sequence),
            "ApproximateCreationDateTime": created,
        },
    }


@pytest.mark.parametrize(
    ("events", "existed"),
    [
        ([("INSERT", 90)], True),  # made before T
        ([("INSERT", 110)], False),  # made after T: not yet at T
        ([("INSERT", 90), ("REMOVE", 95)], False),  # deleted before T
        ([("INSERT", 90), ("REMOVE", 110)], True),  # deleted after T: still there at T
        ([("MODIFY", 110)], True),  # history before the stream's 24 h: a MODIFY means it existed
        ([("REMOVE", 110)], True),
        ([("REMOVE", 90), ("INSERT", 110)], False),  # re-created after T
    ],
)
def test_an_items_state_at_the_watermark_comes_from_its_stream_records(events, existed):
    from cdc_pipeline.workflows.reconciliation import StreamCut

    cut = StreamCut(watermark=100)
    for sequence, (event, created) in enumerate(events, start=1):
        cut.add(_record("a", sequence, event, created))
    assert cut.items_at_watermark({'{"orderid":{"S":"a"}}'}) == int(existed)


def test_items_the_stream_does_not_mention_are_counted_from_the_scan_and_the_window_is_trusted_only():
    from cdc_pipeline.workflows.reconciliation import KeyHistory, StreamCut

    cut = StreamCut(watermark=100)
    cut.add(_record("b", 1, "INSERT", 50))
    cut.add(_record("b", 2, "MODIFY", 120))
    assert cut.items_at_watermark({'{"orderid":{"S":"a"}}', '{"orderid":{"S":"b"}}'}) == 2
    assert (cut.changes_after, cut.window_start(trusted_from=0), cut.changes_in_window(50)) == (1, 50, 1)
    # Records older than the trusted part of the stream's retention are left out of the change count.
    assert cut.window_start(trusted_from=60) == 60 and cut.changes_in_window(60) == 0
    assert KeyHistory(last_before=(1, "REMOVE")).existed_at_watermark() is False
