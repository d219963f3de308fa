"""The current rows of ``<dataset>_state`` equal a consistent DynamoDB Scan, end to end (issue #10 acceptance).

For each CDC pipeline, on a pipeline of its own, through the real delivery path (DynamoDB, its stream,
the Pipe, Kinesis, Firehose with the transform Lambda, S3):

- items are inserted and updated with their event-time attribute (``updated_at``) inside the past hour
  H, as the generators backdate; some are deleted. A delete's event time is when it is made (the
  transform takes a REMOVE's time from the stream record: the old image holds the previous write's
  time), so the deletes land in the current hour's partition, not in H's;
- the late change is a real write whose delivery is held back: the Pipe is stopped (StopPipe keeps its
  checkpoint in the stream), one existing item is updated with a time inside H, H's run merges
  without it, then StartPipe delivers it into H's partition. Nothing is made up: DynamoDB and the lake
  hold the same change with the stream's own sequence number, as when a Pipe or Firehose is delayed;
- after H's run the lake is disturbed as at-least-once delivery does: the late change's object is
  delivered a second time (a copy under another name) and one delivered batch is written again with
  its lines in reverse order;
- the next hour's run merges the late change (it reads the ``LATE_HOURS`` partitions before its own,
  see ``workflows.hourly.state``), and the runs up to the deletes' hour merge the deletes. Those hours
  are not over yet: their runs skip the two sensors that wait for the clock and for Firehose
  (``mark_success_pattern``), because this test has already waited for every change to be delivered;
- then the current rows (``valid_to IS NULL AND NOT is_deleted``) equal the Scan item by item, every
  declared column (a struct field by field, money as ``Decimal`` to the cent); deleted items are absent;
  and a re-run of H changes no row of the table (sequence numbers and validity included).

Only ``merge_state`` and the state table are judged: the runs' other checks may fail (the
reconciliation sees the held-back change in DynamoDB and not in the lake; the copies written straight
into the lake count as duplicates).
"""

from __future__ import annotations

import importlib
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer

from cdc_pipeline.definitions import PipelineDefinition, get_pipeline
from tests.airflow_harness import (
    JSON_CHANGE_LOG,
    athena_rows,
    client,
    deployed_pipeline,
    lake_bucket,
    run_dag,
    task_states,
)
from tests.dags.check_helpers import is_parquet, lake_objects, partition_prefix, put_reordered_copy
from tests.support import wait_until

pytestmark = pytest.mark.slow

INSERTS = 12
#: Items updated once (indexes into the inserted ones), then the first two of them again.
UPDATED = range(6)
UPDATED_TWICE = range(2)
#: Items deleted: two that were updated, one that was not.
DELETED = (3, 4, 10)
#: The sensors a run of an hour that is not over yet skips (the test has waited for delivery itself).
CLOCK_SENSORS = "wait_for_hour_to_end|wait_for_delivery"


@pytest.fixture(params=["sales_orders", "user_profiles", "sales_orders:json"])
def pipeline(request, local_aws):
    """Each CDC pipeline on the Parquet change log (the default), and one on a JSON change log."""
    name, _, change_log = request.param.partition(":")
    overrides = JSON_CHANGE_LOG if change_log == "json" else None
    with deployed_pipeline(local_aws.endpoint_url, provision=name, overrides=overrides) as deployed:
        yield {**deployed, "definition": get_pipeline(name), "change_log": change_log or "parquet"}


def dataset_maker(definition: PipelineDefinition, seed: int) -> Any:
    """The definition's generator dataset (``module:Class``), seeded, to make and change items."""
    from faker import Faker

    module, name = definition.generator.split(":")
    dataset = getattr(importlib.import_module(module), name)()
    fake = Faker()
    fake.seed_instance(seed)
    dataset.reset(random.Random(seed), fake)
    return dataset


def table_name(pipeline: dict[str, Any]) -> str:
    return f"{pipeline['prefix']}-{pipeline['definition'].table}"


def query(pipeline: dict[str, Any], sql: str) -> list[dict[str, str | None]]:
    return athena_rows(pipeline["endpoint"], sql, workgroup=pipeline["prefix"], database=pipeline["prefix"])


def delivered(pipeline: dict[str, Any], hour: datetime) -> tuple[set[tuple[str, str]], dict[str, str]]:
    """The (key, updated_at) of H's changes in H's partition, and each deleted key's delete event time."""
    definition = pipeline["definition"]
    key = definition.key_attribute
    in_hour = {
        (row[key], row["updated_at"])
        for rows in lake_objects(pipeline, partition_prefix(definition.name, hour)).values()
        for row in rows
        if row["event_name"] != "REMOVE"
    }
    removed = {
        row[key]: row["event_time"]
        for rows in lake_objects(pipeline, f"{definition.name}/").values()
        for row in rows
        if row["event_name"] == "REMOVE"
    }
    return in_hour, removed


def pipe_state(pipeline: dict[str, Any], desired: str) -> None:
    """Start or stop the dataset's Pipe and wait until it is in that state."""
    pipes = client(pipeline, "pipes")
    name = f"{pipeline['prefix']}-{pipeline['definition'].name.replace('_', '-')}-pipe"
    (pipes.stop_pipe if desired == "STOPPED" else pipes.start_pipe)(Name=name)
    wait_until(
        lambda: pipes.describe_pipe(Name=name)["CurrentState"] == desired, timeout=60, what=f"pipe {desired}"
    )


def write_changes(pipeline: dict[str, Any], hour: datetime) -> dict[str, Any]:
    """Inserts and updates timed inside ``hour``, then deletes (made now); each waited for in the lake.

    Returns the items by key as last written (deleted ones removed) and the deleted keys.
    """
    definition = pipeline["definition"]
    key = definition.key_attribute
    maker = dataset_maker(definition, seed=23)
    table = boto3.resource("dynamodb", endpoint_url=pipeline["endpoint"], region_name="us-east-1").Table(
        table_name(pipeline)
    )
    items: dict[str, dict[str, Any]] = {}
    expected: set[tuple[str, str]] = set()

    def put(item: dict[str, Any]) -> None:
        table.put_item(Item=item)
        items[item[key]] = item
        expected.add((item[key], item["updated_at"]))

    for n in range(INSERTS):
        put(maker.new_item(hour + timedelta(minutes=1 + n)))
    keys = list(items)
    for minutes, chosen in ((20, UPDATED), (35, UPDATED_TWICE)):
        for n in chosen:
            if maker.can_update(items[keys[n]]):
                put(maker.updated_item(items[keys[n]], hour + timedelta(minutes=minutes + n)))
    deleted = [keys[n] for n in DELETED]
    for gone in deleted:
        table.delete_item(Key={key: gone})
        del items[gone]

    def all_seen() -> dict[str, str] | None:
        in_hour, removed = delivered(pipeline, hour)
        return removed if expected <= in_hour and set(deleted) <= set(removed) else None

    removed = wait_until(all_seen, timeout=180, interval=0.5, what="every change in the lake")
    return {"maker": maker, "table": table, "items": items, "deleted": deleted, "removed": removed}


def declared_select(definition: PipelineDefinition) -> list[tuple[str, str, str]]:
    """(label, type, select expression) per declared column; a struct as one entry per field."""
    selected = []
    for name, kind in definition.columns:
        if kind.startswith("struct<"):
            for field in kind[len("struct<") : -1].split(","):
                field_name, field_kind = field.split(":", 1)
                label = f"{name}.{field_name}"
                selected.append((label, field_kind, f'"{name}"."{field_name}" AS "{label}"'))
        elif kind.startswith("decimal"):
            selected.append((name, kind, f'CAST("{name}" AS varchar) AS "{name}"'))
        else:
            selected.append((name, kind, f'"{name}"'))
    return selected


def typed(kind: str, value: Any) -> Any:
    """A value as Python compares it exactly: numbers as int or Decimal (never float), text as text."""
    if value is None:
        return None
    if kind == "bigint":
        return int(value)
    if kind.startswith("decimal"):
        return Decimal(str(value))
    return str(value)


def current_state(pipeline: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The state table's current rows, by key, every declared column typed; one row per key."""
    definition = pipeline["definition"]
    selected = declared_select(definition)
    rows = query(
        pipeline,
        f"SELECT {', '.join(expression for _, _, expression in selected)} "
        f"FROM {definition.name}_state WHERE valid_to IS NULL AND NOT is_deleted",
    )
    keys = [row[definition.key_attribute] for row in rows]
    assert len(keys) == len(set(keys)), f"a key has more than one current row: {sorted(keys)}"
    return {
        row[definition.key_attribute]: {label: typed(kind, row[label]) for label, kind, _ in selected}
        for row in rows
    }


def scanned_state(pipeline: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A consistent Scan of the table, by key, in the same shape as ``current_state``."""
    definition = pipeline["definition"]
    deserializer = TypeDeserializer()
    found = {}
    pages = (
        client(pipeline, "dynamodb")
        .get_paginator("scan")
        .paginate(TableName=table_name(pipeline), ConsistentRead=True)
    )
    for page in pages:
        for raw in page["Items"]:
            item = {name: deserializer.deserialize(value) for name, value in raw.items()}
            values = {}
            for label, kind, _ in declared_select(definition):
                name, _, field = label.partition(".")
                value = item.get(name)
                if field:
                    value = None if value is None else value.get(field)
                values[label] = typed(kind, value)
            found[item[definition.key_attribute]] = values
    return found


def whole_table(pipeline: dict[str, Any]) -> list[tuple[tuple[str, str | None], ...]]:
    """Every row of the state table, every column, sorted: compares two moments exactly."""
    rows = query(pipeline, f"SELECT * FROM {pipeline['definition'].name}_state")
    return sorted(tuple(sorted(row.items())) for row in rows)


def run_hour(pipeline: dict[str, Any], hour: datetime, *, over: bool) -> None:
    """Run the hourly DAG for ``hour``; judge only its merge. ``over=False``: skip the clock sensors."""
    dag = pipeline["dags"][f"{pipeline['definition'].name}_hourly"]
    end = hour + timedelta(hours=1)
    run = (
        run_dag(dag, logical_date=end)
        if over
        else dag.test(logical_date=end, mark_success_pattern=CLOCK_SENSORS)
    )
    states = task_states(run)
    assert states["merge_state"] == "success", (hour, states)


def hour_of(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).replace(minute=0, second=0, microsecond=0)


def test_current_state_equals_a_scan_after_updates_deletes_redelivery_reordering_and_a_late_change(pipeline):
    definition = pipeline["definition"]
    key = definition.key_attribute
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    written = write_changes(pipeline, hour)
    items, maker = written["items"], written["maker"]

    # The late change: a real update timed inside H, held back in the stream while H is merged.
    late_key = next(k for k, item in items.items() if maker.can_update(item))
    before_late = items[late_key]
    late = maker.updated_item(before_late, hour + timedelta(minutes=50))
    pipe_state(pipeline, "STOPPED")
    written["table"].put_item(Item=late)
    run_hour(pipeline, hour, over=True)
    merged = current_state(pipeline)
    assert merged[late_key]["updated_at"] == before_late["updated_at"], "H's run saw the held-back change"
    assert (late_key, late["updated_at"]) not in delivered(pipeline, hour)[0], "the Pipe did not hold it back"

    # At-least-once delivery: one delivered batch again, lines reversed; the late change, delivered twice.
    s3, bucket = client(pipeline, "s3"), lake_bucket(pipeline)
    objects = lake_objects(pipeline, partition_prefix(definition.name, hour))
    batch_key, batch = max(objects.items(), key=lambda pair: len(pair[1]))
    assert len(batch) > 1, objects
    assert put_reordered_copy(pipeline, batch_key, "-reordered") == len(batch)
    if pipeline["change_log"] == "parquet":
        body = s3.get_object(Bucket=bucket, Key=batch_key)["Body"].read()
        assert is_parquet(body), "Firehose did not convert the change log to Parquet"
    pipe_state(pipeline, "RUNNING")

    def late_object() -> str | None:
        found = lake_objects(pipeline, partition_prefix(definition.name, hour))
        return next(
            (
                name
                for name, rows in found.items()
                if any(row.get(key) == late_key and row["updated_at"] == late["updated_at"] for row in rows)
            ),
            None,
        )

    late_name = wait_until(late_object, timeout=180, interval=0.5, what="the late change in H's partition")
    s3.copy_object(
        Bucket=bucket, Key=late_name + "-redelivered", CopySource={"Bucket": bucket, "Key": late_name}
    )

    # The next hour merges the late change; the hours up to the deletes' merge them (not over yet).
    last = max(hour_of(moment) for moment in written["removed"].values())
    current = hour + timedelta(hours=1)
    while current <= max(last, hour + timedelta(hours=1)):
        run_hour(pipeline, current, over=False)
        current += timedelta(hours=1)

    state = current_state(pipeline)
    table = scanned_state(pipeline)
    assert not set(written["deleted"]) & set(state), "a deleted item is still current"
    assert set(state) == set(table)
    for item_key, values in table.items():
        assert state[item_key] == values, item_key
    assert state[late_key]["updated_at"] == late["updated_at"]

    # Re-running the first hour changes no row, sequence numbers and validity included.
    before = whole_table(pipeline)
    run_hour(pipeline, hour, over=True)
    assert whole_table(pipeline) == before
    assert current_state(pipeline) == table
