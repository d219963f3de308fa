"""``<dataset>_reconcile``: the lake against DynamoDB as of a watermark both have passed.

Every six hours (``RECONCILE_SCHEDULE``) a ``cdc`` pipeline's lake is compared with its DynamoDB table:
the same items, and every change of the stream. This is a whole-table comparison: DynamoDB's side is
a consistent Scan of every key and its stream's last day, the lake's side reads every change it has
ever stored. Both grow with the table and the lake's age, so it is not part of the hourly DAG, whose
checks read only their hour and whose cost must not grow with the lake's age (issue 10). Six hours
keeps every change inside two comparisons' windows (the window is the stream's last 23 hours, so a
run may be up to 17 hours late before a change goes uncounted), at a sixth of the Scans an hourly
run would make (on AWS a consistent Scan costs one read unit per 4 KB of the table, every time).

Why not "count the table now and compare": on AWS the lake lags DynamoDB by the Pipe's batching
window, the Lambda processor's buffer (60 s, AWS's default, which provisioning leaves) and the
dynamic-partitioning buffer (60 s at least). Under continuous traffic a live count differs from the
lake's at every moment, and the check failed routinely; the emulator's 2 s buffers and tests that
write and then stop hid it.

What is compared instead, at every run:

- **The watermark T**: the run's start minus the longest a change takes to reach the lake
  (``delivery_lag_bound``: Pipe window + processor buffer + Firehose buffer + delivery grace), on a
  whole second. Every change DynamoDB made before T has been delivered by now; changes after T may
  still be buffered and are left out on both sides.
- **Which side of T a change is on** is decided by its stream record's ``ApproximateCreationDateTime``,
  DynamoDB's own clock (whole seconds), which the lake keeps as ``approximate_creation_time``: both
  sides classify every change by the same value, so they cut the history at the same place. The
  item's ``updated_at`` is not used: it is written by the application (the generators backdate it),
  so it is no clock of what has been delivered.
- **DynamoDB's state at T.** DynamoDB has no time travel, but its stream (NEW_AND_OLD_IMAGES, kept
  24 hours) holds every change of the last day, in order per item. The table is scanned (keys only,
  consistent read) and then the stream is read from TRIM_HORIZON. An item the stream does not
  mention has not changed for a day: the scan is its state at T. For an item the stream mentions,
  its state at T is decided by the stream alone, exactly as the lake's current view decides it: the
  last change before T (by sequence number) exists unless it is a REMOVE; with none before T, the
  item existed at T unless its first change after T is its INSERT. Because the stream is read after
  the scan, a change made while the scan ran is in the stream, so the scan's moment does not matter.
- **The lake's state at T**: per key, the latest deduplicated change with
  ``approximate_creation_time < T`` (by sequence number), counted unless it is a delete.
- **Every change**: the stream's changes created in ``[window start, T)`` against the lake's distinct
  (key, sequence number) changes in the same window. A change lost between the stream and S3 (a
  deleted object, a dropped record) fails here even when it was later overwritten and the item
  counts still agree. The window starts at the stream's oldest record, but no earlier than 23 hours
  ago (one hour short of the 24-hour retention, so trimming during the read cannot remove its start).

The check fails naming the numbers: ``lake_items``, ``table_items``, ``lost_changes``,
``lake_changes``, ``stream_changes``, the watermark and the window.

**The state table against the lake** (``check_state_has_every_change``, for a definition with a state
table). The hourly MERGE reads its hour's partition and the ``LATE_HOURS`` before it, so a change
that reached the lake later than that (an event time hours old, a delivery Firehose retried for
hours) is in the lake, passes the check above, and is missing from the state table the reports read,
until its hour is re-run. This check finds every change created before ``MERGED_WITHIN`` ago
(``LATE_HOURS`` + 2 hours before the watermark) that has no version in the state table (same key and
sequence number), and fails naming ``unmerged_changes``, how many ``hours`` they fall in and the first
and last of them: the hourly runs to run or re-run. A backlog of hourly runs (a paused DAG, a catch-up
in progress) fails it too, rightly: the reports are behind.

The comparison is of the whole table as of the run's watermark, not of an hour (an hour older than the
stream's 24 hours could not be rebuilt from DynamoDB: its changes since then are trimmed), so a run
judges what the lake holds when it runs, and there is nothing to backfill (``catchup=False``). Only
one run of the DAG is active at a time (``max_active_runs=1``): DynamoDB advises at most two readers of
a stream shard at once (more may be throttled), and the Pipe is the first. The run first crawls the
lake and creates or replaces its changes view (as the hourly DAG does: a partition is read once a
crawl has registered it), so it needs no hourly run before it; a pipeline that is not provisioned yet
is skipped, naming the DAG to trigger.

LIMITATIONS: the watermark assumes a change reaches S3 within ``delivery_lag_bound``; a delivery
that Firehose retries for longer (Lambda or S3 errors) fails the check as lost changes until it
lands (a later run, or a re-run, passes once it has). An open
stream shard is read until a record created after the scan ended, or until three reads in a row
return nothing: a change made during the scan whose stream record is still invisible after that
would be taken from the scan (AWS publishes stream records within about a second; no bound is
documented). The stream is read in full at every run: one GetRecords call per 1,000 changes (or
MB) of the last day. The table's key must be the definition's key
attribute (the lake's views group by it). Items are compared by count and changes by count, not
item by item: a lost change plus an unrelated extra one in the same window would cancel out (the
lake has no source of extra changes but redelivery, which the distinct count removes). A change lost
from the lake is found within six hours, not within the hour: the hourly DAG's own checks
(``inspect_delivery``, the row and duplicate checks) see only what reached the hour's partition.
With the JSON change log and nothing delivered yet, the crawl makes no table, and the run fails at
``create_changes_view`` (Glue has no such table yet).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task
from airflow.timetables.interval import CronDataIntervalTimetable

from cdc_pipeline.definitions import PipelineDefinition
from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows.common import SQL_ROOT, default_args, sql_params
from cdc_pipeline.workflows.hourly import checks, crawl, resolve_names, sensors, state
from cdc_pipeline.workflows.hourly.check_results import QueryCheck
from cdc_pipeline.workflows.hourly.state import LATE_HOURS

#: Firehose's default BufferIntervalInSeconds of a Lambda processor (provisioning sets none).
PROCESSOR_BUFFER_SECONDS = 60
#: How far back the stream is trusted to be complete: its 24-hour retention, less an hour of margin.
STREAM_TRUSTED_AGE = timedelta(hours=23)
#: Reads of an open shard that return nothing before it counts as read to its end.
EMPTY_READS_AT_TIP = 3
#: The lake's timestamp format (``lake_rows.format_timestamp``): fixed width, so string order is time order.
LAKE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.000Z"
TASK_ID = "dynamodb_as_of_watermark"
CHECK_ID = "check_current_state_matches_table"
RECONCILE_SQL = "quality/reconcile_with_table.sql"
STATE_CHECK_ID = "check_state_has_every_change"
STATE_SQL = "quality/reconcile_state_has_every_change.sql"
#: How long after its creation a delivered change is surely in the state table: its partition's hour
#: and the ``LATE_HOURS`` after it are each merged by their hourly run, the last of which starts after
#: that hour has ended; an hour more covers the run's own time and a scheduler running late.
MERGED_WITHIN = timedelta(hours=LATE_HOURS + 2)
#: Every six hours, on the hour (a data interval of six hours; the watermark follows the run's start).
RECONCILE_SCHEDULE = "0 */6 * * *"


def dag_id(definition: PipelineDefinition) -> str:
    return f"{definition.name}_reconcile"


def delivery_lag_bound(settings: Settings) -> timedelta:
    """The longest a change may take from DynamoDB to S3: Pipe window, both buffers, the grace."""
    return timedelta(
        seconds=settings.pipe_batching_window_seconds
        + PROCESSOR_BUFFER_SECONDS
        + settings.firehose_buffer_interval_seconds
        + settings.delivery_grace_seconds
    )


def watermark_for(started: datetime, settings: Settings) -> datetime:
    """The latest whole second every change before which is certainly in the lake."""
    return (started - delivery_lag_bound(settings)).astimezone(UTC).replace(microsecond=0)


def lake_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(LAKE_TIME_FORMAT)


@dataclass
class KeyHistory:
    """What the stream says about one item around the watermark: (sequence, event name) pairs."""

    last_before: tuple[int, str] | None = None
    first_from: tuple[int, str] | None = None

    def add(self, sequence: int, event_name: str, before_watermark: bool) -> None:
        if before_watermark:
            if self.last_before is None or sequence > self.last_before[0]:
                self.last_before = (sequence, event_name)
        elif self.first_from is None or sequence < self.first_from[0]:
            self.first_from = (sequence, event_name)

    def existed_at_watermark(self) -> bool:
        if self.last_before is not None:
            return self.last_before[1] != "REMOVE"
        # No change before T: the item existed then unless its first change since is its creation.
        return self.first_from is not None and self.first_from[1] != "INSERT"


@dataclass
class StreamCut:
    """The stream's records split at the watermark, per item and in the change-count window."""

    watermark: int
    histories: dict[str, KeyHistory] = field(default_factory=dict)
    creation_times: list[int] = field(default_factory=list)
    changes_after: int = 0

    def add(self, record: dict[str, Any]) -> None:
        change = record["dynamodb"]
        created = creation_second(change["ApproximateCreationDateTime"])
        before = created < self.watermark
        key = canonical_key(change["Keys"])
        self.histories.setdefault(key, KeyHistory()).add(
            int(change["SequenceNumber"]), record["eventName"], before
        )
        if before:
            self.creation_times.append(created)
        else:
            self.changes_after += 1

    def window_start(self, trusted_from: int) -> int:
        """The window of the change count: the oldest record read, but never before ``trusted_from``."""
        oldest = min(self.creation_times, default=self.watermark)
        return max(oldest, trusted_from)

    def changes_in_window(self, start: int) -> int:
        return sum(1 for created in self.creation_times if created >= start)

    def items_at_watermark(self, scanned_keys: Iterable[str]) -> int:
        unchanged = sum(1 for key in scanned_keys if key not in self.histories)
        return unchanged + sum(1 for history in self.histories.values() if history.existed_at_watermark())


def canonical_key(keys: dict[str, Any]) -> str:
    """An item's key attributes (DynamoDB JSON) as one comparable string."""
    return json.dumps(keys, sort_keys=True, separators=(",", ":"))


def creation_second(value: Any) -> int:
    """ApproximateCreationDateTime as whole epoch seconds (DynamoDB rounds it down to the second)."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(moment.timestamp() // 1)
    return int(float(value) // 1)


def scan_keys(dynamodb: Any, table: str, key_names: list[str]) -> Iterator[str]:
    """Every item's key, read consistently (only the key attributes are fetched)."""
    names = {f"#k{n}": name for n, name in enumerate(key_names)}
    pages = dynamodb.get_paginator("scan").paginate(
        TableName=table,
        ProjectionExpression=", ".join(names),
        ExpressionAttributeNames=names,
        ConsistentRead=True,
    )
    for page in pages:
        for item in page["Items"]:
            yield canonical_key(item)


def stream_records(streams: Any, stream_arn: str, read_past: int) -> Iterator[dict[str, Any]]:
    """Every record of every shard of the stream, from TRIM_HORIZON.

    A closed shard is read to its end; an open one until a record created after ``read_past``
    (epoch seconds) or ``EMPTY_READS_AT_TIP`` empty reads in a row.
    """
    for shard in stream_shards(streams, stream_arn):
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        empty_reads = 0
        while iterator and empty_reads < EMPTY_READS_AT_TIP:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            records = page.get("Records", [])
            yield from records
            empty_reads = 0 if records else empty_reads + 1
            iterator = page.get("NextShardIterator")
            if (
                records
                and creation_second(records[-1]["dynamodb"]["ApproximateCreationDateTime"]) > read_past
            ):
                break


def stream_shards(streams: Any, stream_arn: str) -> Iterator[dict[str, Any]]:
    start: str | None = None
    while True:
        kwargs = {"StreamArn": stream_arn, **({"ExclusiveStartShardId": start} if start else {})}
        description = streams.describe_stream(**kwargs)["StreamDescription"]
        yield from description.get("Shards", [])
        start = description.get("LastEvaluatedShardId")
        if not start:
            return


def dynamodb_as_of(
    dynamodb: Any, streams: Any, table: str, watermark: datetime, now: datetime
) -> dict[str, Any]:
    """DynamoDB's item count at ``watermark`` and its stream's changes in the window before it."""
    description = dynamodb.describe_table(TableName=table)["Table"]
    stream_arn = description.get("LatestStreamArn")
    if not stream_arn or not (description.get("StreamSpecification") or {}).get("StreamEnabled"):
        raise ValueError(
            f"table {table!r} has no enabled stream: the reconciliation rebuilds the table's state at the "
            "watermark from its NEW_AND_OLD_IMAGES stream (provisioning enables it)"
        )
    key_names = [element["AttributeName"] for element in description["KeySchema"]]
    keys = set(scan_keys(dynamodb, table, key_names))
    scan_ended = datetime.now(UTC)
    cut = StreamCut(watermark=int(watermark.timestamp()))
    for record in stream_records(streams, stream_arn, read_past=int(scan_ended.timestamp()) + 1):
        cut.add(record)
    start = cut.window_start(int((now - STREAM_TRUSTED_AGE).timestamp()))
    return {
        "watermark": lake_time(watermark),
        "window_start": lake_time(datetime.fromtimestamp(start, UTC)),
        "items": cut.items_at_watermark(keys),
        "changes": cut.changes_in_window(start),
        "changes_after_watermark": cut.changes_after,
        "scanned_items": len(keys),
    }


def merged_by(watermark: str) -> str:
    """The creation time before which every delivered change must be in the state table (lake text)."""
    return lake_time(datetime.fromisoformat(watermark.replace("Z", "+00:00")) - MERGED_WITHIN)


def reconcile(settings: Settings, table: Any) -> tuple[Any, QueryCheck]:
    """``dynamodb_as_of_watermark`` then ``check_current_state_matches_table``."""

    @task(task_id=TASK_ID, retries=1)
    def dynamodb_as_of_watermark(table: str) -> dict[str, Any]:
        """DynamoDB's items and stream changes as of the watermark (see the module docstring)."""
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        now = datetime.now(UTC)
        watermark = watermark_for(now, settings)
        # Plain clients: DynamoDBHook's is a resource's, which turns the scan's keys into Python values
        # while the stream's stay DynamoDB JSON, and the two must compare equal.
        dynamodb = AwsBaseHook(aws_conn_id=settings.aws_conn_id, client_type="dynamodb").get_conn()
        streams = AwsBaseHook(aws_conn_id=settings.aws_conn_id, client_type="dynamodbstreams").get_conn()
        return dynamodb_as_of(dynamodb, streams, table, watermark, now)

    return dynamodb_as_of_watermark(table), checks.query_check(SQL_ROOT / RECONCILE_SQL, settings, CHECK_ID)


def build(definition: PipelineDefinition, settings: Settings) -> DAG:
    """check_provisioned -> resolve_names -> crawl -> the changes view -> DynamoDB's side -> the checks."""
    with DAG(
        dag_id=dag_id(definition),
        description=f"Reconcile the lake of {definition.name} with its DynamoDB table (whole table)",
        schedule=CronDataIntervalTimetable(RECONCILE_SCHEDULE, timezone="UTC"),
        start_date=settings.hourly_start,
        catchup=False,
        max_active_runs=1,
        default_args=default_args(settings),
        template_searchpath=[str(SQL_ROOT)],
        user_defined_macros={
            "lake": sql_params(definition, settings),
            "merged_by": merged_by,
            **({"state": state.state_macros(definition, settings)} if definition.columns else {}),
        },
        tags=["cdc-lake", definition.name, "reconcile"],
        doc_md=__doc__,
    ) as dag:
        provisioned = sensors.skip_until_provisioned(definition, settings)
        names = resolve_names(definition, settings)
        # The crawl and the view the checks read, as the hourly DAG makes them: a partition is read
        # once a crawl has registered it, and no hourly run is needed first.
        crawled = crawl.crawl(settings)
        changes_view = crawl.athena_query(settings, "create_changes_view", "ddl/create_view_changes.sql")
        table_side, check = reconcile(settings, names["table"])
        provisioned >> names >> crawled >> changes_view >> table_side >> check
        if definition.columns:  # a definition with a state table (the hourly MERGE's)
            table_side >> checks.query_check(SQL_ROOT / STATE_SQL, settings, STATE_CHECK_ID)
    return dag
