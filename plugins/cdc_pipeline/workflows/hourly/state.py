"""``merge_state``: the hour's changes merged into the dataset's Iceberg table of versions, ``<dataset>_state``.

**What the table holds.** One row per change of a key (a version), never one row per key: its values,
``valid_from`` (the change's event time: the ``event_time`` the transform derives from the
definition's ``event_time_attribute``, the time that partitions the lake) and ``valid_to`` (when the
key's next change replaced it; NULL while no later change is known). A delete is a version too
(``is_deleted``). So the state of the dataset *as of* any moment T is a filter, ``state.as_of(T)``::

    valid_from < T AND (valid_to IS NULL OR valid_to >= T) AND NOT is_deleted

and the current state is ``valid_to IS NULL AND NOT is_deleted``. A report of hour H reads the state as
of H's end, whenever it runs: a backfill of an old hour run after later hours, or a re-run, shows the
hour as it ended, not as things stand today.

**Why validity columns, not Iceberg time travel.** ``FOR TIMESTAMP AS OF`` gives the table as a commit
left it: the state as of the *merge*, not as of the hour. Runs commit in any order (catch-up, a
backfill after later hours, a re-run), so no snapshot holds "the end of hour H" once a later hour
has been merged first; and snapshots expire with VACUUM. Validity on event time depends only on the
set of changes merged, so it survives any run order and any maintenance.

**valid_to.** A version ends when the first of the key's later changes (by sequence number) happened:
``min(valid_from)`` over the key's later versions, not merely ``lead(valid_from)``. The two agree
while a key's event times rise with its sequence numbers (the usual case: one item's writes are
ordered); when a clock stepped back they differ, and the minimum still makes ``as_of(T)`` return
exactly one version per key, the newest by sequence number among the changes made before T (a
version later changes overtook in time gets an empty interval). The sequence number, never the event
time, decides which change is newer: two writes in one millisecond have equal times.

**The MERGE** (``include/sql/dml/merge_state.sql``), one statement, so a run commits once and a failed
run leaves nothing half done:

- *batch*: the changes in the lake partitions of the run's hour and the ``LATE_HOURS`` hours before
  it, each once (a redelivered change has the same key and sequence number);
- *stored*: for the keys in the batch, the versions a new change can end (``valid_to`` open or not
  before the key's earliest new change's time) and every version after its earliest new sequence
  number. ``valid_to`` only decreases along a key's sequence, so this set holds every later version
  of each of its versions: the minimum over it is the minimum over the whole key;
  it is read from the days of ``partition_time`` the batch's changes belong to, which the same task
  finds first (``include/sql/dml/merge_state_days.sql``), as one literal range both engines prune
  partitions by: a key's versions share its day, so its stored versions lie
  in the days of its new changes. Without that range the read (narrow as it is) would cover every day
  the table holds and grow with the lake's age; with it, a run reads the days its hour's keys live in;
- the source is every stored and new version once, with ``valid_to`` recomputed; ``ON`` key,
  ``partition_time`` and sequence number (one source row per target row, as Athena requires): a new
  change is inserted, a stored version's ``valid_to`` updated when it differs, nothing else written.

Hence the table after any set of runs is a function of the set of changes those runs read:
re-running an hour inserts nothing and changes no ``valid_to``; hours run in any order give the table
one in-order run gives. Sequence numbers are decimal text of up to 40 digits (more than
``DECIMAL(38, 0)`` holds), so they are compared as ``lpad(sequence_number, 40, '0')``: equal-length
digit strings order as their numbers do, whatever padding the text arrived with.

**Partitions.** ``partition_time`` is the definition's ``state_partition`` column (an order's
``order_time``, a profile's ``created_at``: a time that never changes for a key) as a timestamp, so
all versions of a key share one ``day(partition_time)`` partition (and one ``bucket(16, key)``): the
hour's reports read the days they report on, and the MERGE's ``ON`` names ``partition_time`` so the
engine rewrites only the partitions the hour's keys live in. A change without that column (a delete
that carried only the key) takes the partition of the key's other versions, or its own time when
none is known.

**Late data.** Firehose puts a change in the partition of its *event* hour, however late it arrives.
Each run also reads the ``LATE_HOURS`` partitions before its own, so a change delivered up to that long
after its hour's run is merged by a later hour's run; each run reads a fixed number of partitions,
so its cost does not grow with the lake's age. A change later still is merged when its hour is
re-run (clear the task); meanwhile the reconcile DAG's ``check_state_has_every_change`` fails, naming
how many changes are missing and the hours to re-run. A report that ran before a late change was
merged is corrected by re-running its hour.

The source columns are cast to the types the definition declares (``[columns]``); a declared column
the crawler has not seen yet (no change carried it) is NULL. Runs of the same DAG merge one at a time
(``max_active_tis_per_dag=1``): concurrent commits to one Iceberg table would conflict.

LIMITATIONS: the state table grows by one row per change, not per key (the price of answering "as of
any hour"); the daily maintenance compacts its files but keeps every version. The ``state_partition`` time must
never change for a key (the definitions choose a placing or sign-up time): the MERGE looks for a
key's stored versions only in the days of its new changes, so a key whose time moved to another day
would keep its old version open there (two versions of it as of later hours). A change without that
time (a delete that carried only the key) makes the run read every day. The hourly checks read their
hour's partition of the changes; the reconcile DAG (whole table, by design, every six hours) reads
the ``<dataset>_changes`` view over the whole change history.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.common.sql.operators.sql import BaseSQLOperator

from cdc_pipeline.definitions import PipelineDefinition, normal_type
from cdc_pipeline.provision.state_table import STATE_COLUMNS, state_table_name
from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows.common import hour_partition
from cdc_pipeline.workflows.hourly.check_results import AthenaWorkgroupMixin

#: How many hours before its own a run reads again, for changes delivered after their hour's run.
LATE_HOURS = 2
#: The width the sequence numbers are padded to before comparing them (DynamoDB's most digits).
SEQUENCE_DIGITS = 40
TASK_ID = "merge_state"
#: What the days query returns for a change without a ``state_partition`` time: any day may hold its key.
UNKNOWN_DAY = "unknown"


def merge_window(moment: datetime) -> str:
    """SQL selecting the lake partitions of ``moment``'s hour and the ``LATE_HOURS`` before it."""
    hours = [moment - timedelta(hours=back) for back in range(LATE_HOURS, -1, -1)]
    return "(" + " OR ".join(f"({hour_partition(hour)})" for hour in hours) + ")"


def sequence_key(expression: str) -> str:
    """``expression`` (a sequence number's text) as a string that orders as the number does."""
    return f"lpad({expression}, {SEQUENCE_DIGITS}, '0')"


def timestamp_literal(moment: datetime) -> str:
    """``moment`` as an Athena ``TIMESTAMP`` literal in UTC (the state table's times are UTC)."""
    return f"TIMESTAMP '{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}'"


def partition_expression(definition: PipelineDefinition) -> Callable[[str], str]:
    """``state.partition_time(alias)``: the ``state_partition`` column of ``alias`` as a timestamp."""
    kinds = dict(definition.columns)

    def render(alias: str) -> str:
        column = f'{alias}."{definition.state_partition}"'
        kind = kinds.get(definition.state_partition or "", "")
        if kind == "string":
            return f"CAST(from_iso8601_timestamp({column}) AS timestamp)"
        return column if kind == "timestamp" else f"CAST({column} AS timestamp)"

    return render


def as_of(definition: PipelineDefinition, table: str) -> Callable[..., str]:
    """``state.as_of(moment, since=None)``: the dataset as it stood at ``moment``, a parenthesised query.

    Its columns are the declared ones, one row per key that existed at ``moment`` (the version valid
    then). ``since`` keeps only keys whose ``state_partition`` time lies in ``[since, moment)`` (an hour's
    orders), which lets the engine skip the other days' partitions.
    """
    columns = ", ".join(f'"{name}"' for name, _ in definition.columns)

    def render(moment: datetime, since: datetime | None = None) -> str:
        at = timestamp_literal(moment)
        where = [f"valid_from < {at}", f"(valid_to IS NULL OR valid_to >= {at})", "NOT is_deleted"]
        if since is not None:
            where += [f"partition_time >= {timestamp_literal(since)}", f"partition_time < {at}"]
        return f"(SELECT {columns} FROM {table} WHERE {' AND '.join(where)})"

    return render


def stored_days(days: list[str] | None, window_start: datetime) -> str:
    """``state.stored_days(days, data_interval_start)``: a condition on ``partition_time`` keeping the days
    the window's changes belong to (the days query), as one literal range both engines prune by.

    A key's versions share its day, so the stored versions a change can end lie in its day. ``None`` (no
    days known) or an unknown day (a change without the time) keeps every day; no changes keep none.
    """
    if days is None or UNKNOWN_DAY in days:
        return "TRUE"
    if not days:
        first = last = timestamp_literal(window_start)
    else:
        first = timestamp_literal(datetime.fromisoformat(min(days)).replace(tzinfo=UTC))
        last = timestamp_literal(datetime.fromisoformat(max(days)).replace(tzinfo=UTC) + timedelta(days=1))
    return f"partition_time >= {first} AND partition_time < {last}"


def state_macros(definition: PipelineDefinition, settings: Settings) -> dict[str, object]:
    """The identifiers, column lists and queries the SQL renders with (``state.<name>``)."""
    declared = [name for name, _ in definition.columns]
    table = f"{settings.glue_database}.{state_table_name(definition)}"
    return {
        "table": table,
        "key": definition.key_attribute,
        "declared": declared,
        "columns": declared + [name for name, _ in STATE_COLUMNS],
        "source_columns": source_columns(definition, settings),
        "partition_time": partition_expression(definition),
        "window": merge_window,
        "stored_days": stored_days,
        "sequence": sequence_key,
        "as_of": as_of(definition, table),
    }


def source_columns(definition: PipelineDefinition, settings: Settings) -> Callable[[str], str]:
    """``state.source_columns(alias)``: the declared columns read from the lake table, cast to their types.

    Read when the SQL is rendered (after the crawl) from the catalog: a column whose crawled type is
    the declared one is taken as it is, another is cast, one the crawler has not seen is NULL.
    """

    def render(alias: str) -> str:
        from airflow.providers.amazon.aws.hooks.glue_catalog import GlueCatalogHook

        table = GlueCatalogHook(aws_conn_id=settings.aws_conn_id).get_table(
            settings.glue_database, definition.name
        )
        crawled = {c["Name"]: normal_type(c.get("Type", "")) for c in table["StorageDescriptor"]["Columns"]}
        selected = []
        for name, kind in definition.columns:
            if name not in crawled:
                selected.append(f'CAST(NULL AS {kind}) AS "{name}"')
            elif crawled[name] == normal_type(kind):
                selected.append(f'{alias}."{name}" AS "{name}"')
            else:
                selected.append(f'CAST({alias}."{name}" AS {kind}) AS "{name}"')
        return ",\n        ".join(selected)

    return render


class MergeState(AthenaWorkgroupMixin, BaseSQLOperator):
    """``merge_state``: the days of the state table the hour's changes belong to, then the MERGE that
    reads the stored versions of those days only (see the module docstring).

    One task, so that a cleared or retried MERGE always reads the days of the changes it merges: days
    found by an earlier try would miss a late change's day, and the MERGE would leave that key's older
    version open. Returns the days (XCom).

    :param sql: the days query (``dml/merge_state_days.sql``): one row per day, ``unknown`` for a change
        without its ``state_partition`` time
    :param merge_sql: the MERGE's template (``dml/merge_state.sql``), rendered once the days are known
        (as ``days``)
    :param workgroup: the Athena workgroup to run in
    """

    template_fields = ("sql",)
    template_ext = (".sql",)

    def __init__(self, *, sql: str, merge_sql: str, workgroup: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sql = sql
        self.merge_sql = merge_sql
        self.workgroup = workgroup

    def execute(self, context: Any) -> list[str]:
        days = sorted({str(row[0]) for row in self.records(self.sql)})
        self.log.info("The hour's changes belong to %d day(s) of the state table: %s", len(days), days)
        template = self.get_template_env().get_template(self.merge_sql)
        merge = template.render(**context, days=days)
        self.log.info("Running the MERGE:\n%s", merge)
        self.records(merge, fetch=False)
        return days


def merge_state(settings: Settings) -> MergeState:
    """The one MERGE of the hour; one run's merge at a time (see the module docstring)."""
    return MergeState(
        task_id=TASK_ID,
        conn_id=settings.athena_conn_id,
        hook_params={"aws_conn_id": settings.aws_conn_id},
        workgroup=settings.athena_workgroup,
        sql="dml/merge_state_days.sql",
        merge_sql="dml/merge_state.sql",
        max_active_tis_per_dag=1,
        doc_md=__doc__,
    )
