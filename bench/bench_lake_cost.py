"""What one hourly run of sales_orders costs in Athena as the lake ages: the view over the whole change
history (lake v1) against the table of versions kept by an hourly MERGE (lake v2), with the change log
as JSON lines (today's) and as Parquet (where the product is moving it).

Run: ``python -m bench.bench_lake_cost [--orders-per-hour 1000] [--ages 1,24,168]
[--models lifecycle,uniform] [--seed 3]``.

An in-process `LocalAWS` gets a JSON change log like the transform's (one hour partition per hour),
catalogued as the crawler catalogs it (OpenX JSON SerDe, year/month/day/hour partitions, JSON numbers
as ``bigint``/``double``), and the same rows (same seed) a second time as a Parquet change log under
another prefix, as Firehose's record format conversion would write it (OpenX JSON in, ParquetSerDe
with SNAPPY out, one object per hour partition as one flush an hour; its schema and the table
Athena reads are one Glue table with ParquetHiveSerDe, declared as the provisioning declares it
(`cdc_pipeline.provision.change_table`): the change's metadata columns, then the declared ``COLUMNS``
with their declared types, so ``price`` is ``decimal(12,2)``, written as exact decimals, never through
a float; metadata the bench's rows lack, such as ``processed_at``, is null, as Firehose writes a key
the record lacks; ``approximate_creation_time`` they carry, a whole second, as the CDC transform writes
DynamoDB's ApproximateCreationDateTime). The changes follow one of two models: ``lifecycle`` (orders live as the
generator's do: placed, paid, shipped within a day, delivered within two more; a few cancelled and
deleted), ``uniform`` (each hour updates orders of any age: every day of the state table is touched,
the pessimistic case). For each lake age A (hours of history), the run of the last hour is measured:

- v1: the hourly DAG's current-state reads before issue #10: the state of every key by a window
  over every partition (``row_number() OVER (PARTITION BY orderid ORDER BY sequence_number DESC)``),
  counted, and the hour's revenue report over it;
- v2: what the hourly DAG runs now: ``include/sql/dml/merge_state_days.sql`` then
  ``merge_state.sql`` (rendered for the hour: its partition and the two before; the days the first
  finds go to the second, as the DAG's merge_state task does) into ``sales_orders_state``, the table of versions
  holding every change of the first A-1 hours with its validity (written in one statement as setup,
  not measured: one file per partition, as the daily OPTIMIZE leaves them), then the hour's revenue
  report over the state as of the hour's end (``state.as_of``, pruned to the hour's ``order_time``
  day). Apart, a count of every key as of the hour (what a whole-population report reads);
- v2 Parquet: the same statements as v2 over the Parquet change log, into a table of versions of its
  own (``state_parquet_<model>_<age>``, built the same way), so the two MERGEs never meet. The
  statements read the change log's declared columns as the DAG does (``state.source_columns``: a
  column catalogued with its declared type is read as it is, another is cast), so JSON's ``price``
  (``double``) is cast to ``decimal(12,2)`` and Parquet's is read as the decimal it is stored as.

Apart, in both change logs, the hourly DAG's reconciliation check, the one hourly statement that still
reads the whole change history: ``include/sql/quality/reconcile_with_table.sql`` rendered as the DAG
renders it, over the changes view (``include/sql/ddl/create_view_changes.sql``, created over that change
log with its catalogued columns), for a watermark at the hour's end and the 24 hours before it. It
rebuilds every key's state from every change before the watermark, filtered on
``approximate_creation_time``, which is no partition column: nothing is pruned, every hour partition
ever written is read, so its bytes grow with the lake's age, linearly, whatever the state table's
layout. The two change logs must agree on its lake side (``lake_items``, ``lake_changes``), or the
bench stops.

Printed: Athena's DataScannedInBytes summed over each layout's statements, and the wall time. The
numbers are for reading, never asserted; the hour report's answer (orders, revenue) is: the three
layouts must agree on it, or the bench stops (they would be measuring different work).

LIMITATIONS: local_aws bills a Parquet object's column chunks by the column names a statement
mentions, and every column of every table a statement reads once it has a ``*``
(`local_aws.athena_engine.scanned`): the MERGE's ``SELECT *`` over its own subqueries bills every
column of the Parquet change log's window, where Athena reads only those the MERGE uses (not
``event_name`` nor the null metadata columns: a few hundred bytes an object here). Its reads of the
state table (the versions of the touched days, and the target files the MERGE rewrites, billed
whole: local_aws's MERGE is copy-on-write, `local_aws.athena_engine.iceberg_dml`) are the same in
both v2 layouts and, past the first day, most of their bytes. The changes view names every column
of the change log, so local_aws bills the reconciliation over Parquet for every column chunk, where
Athena reads only those the statement uses through the view (``orderid``, ``sequence_number``,
``is_deleted``, ``approximate_creation_time`` and the view's ``event_id``: about half the bytes here).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3

# The MERGE is the hourly DAG's own SQL and helpers (plugins/ is on Airflow's path, not the bench's).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

REGION = "us-east-1"
DATABASE = "bench_lake"
START = datetime(2026, 11, 1, tzinfo=UTC)
COLUMNS = (
    ("orderid", "string"),
    ("quantity", "bigint"),
    ("price", "decimal(12,2)"),
    ("status", "string"),
    ("order_time", "string"),
    ("updated_at", "string"),
)
#: The change log's columns as the crawler catalogs the JSON (numbers as JSON numbers are crawled).
RAW_COLUMNS = [
    ("event_id", "string"),
    ("event_name", "string"),
    ("sequence_number", "string"),
    ("event_time", "string"),
    ("approximate_creation_time", "string"),
    ("is_deleted", "boolean"),
    ("orderid", "string"),
    ("quantity", "bigint"),
    ("price", "double"),
    ("status", "string"),
    ("order_time", "string"),
    ("updated_at", "string"),
]
#: How the crawler catalogs the JSON change log (the table's classification and StorageDescriptor).
JSON_STORAGE = {
    "classification": "json",
    "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"},
}


def _storage(fmt: str) -> dict[str, Any]:
    """How the change log of format ``fmt`` (json, parquet) is stored: the crawler's JSON, or the Parquet
    table the provisioning declares for Firehose (`cdc_pipeline.provision.change_table`)."""
    if fmt == "json":
        return JSON_STORAGE
    from cdc_pipeline.provision.change_table import PARQUET_INPUT, PARQUET_OUTPUT, PARQUET_SERDE

    return {
        "classification": "parquet",
        "InputFormat": PARQUET_INPUT,
        "OutputFormat": PARQUET_OUTPUT,
        "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE, "Parameters": {"serialization.format": "1"}},
    }


def parquet_columns() -> list[tuple[str, str]]:
    """The Parquet change log's Glue columns (Firehose's schema), as the provisioning declares them
    (`cdc_pipeline.provision.change_table.change_columns`): the change's metadata columns, then the
    bench's declared ``COLUMNS`` with their declared types."""
    from cdc_pipeline.definitions import normal_type
    from cdc_pipeline.provision.change_table import CHANGE_COLUMNS

    taken = {name for name, _ in CHANGE_COLUMNS}
    return [*CHANGE_COLUMNS, *((name, normal_type(kind)) for name, kind in COLUMNS if name not in taken)]


def _arrow_type(hive: str) -> Any:
    import pyarrow as pa

    if match := re.fullmatch(r"decimal\((\d+),\s*(\d+)\)", hive):
        return pa.decimal128(int(match[1]), int(match[2]))
    return {"string": pa.string(), "bigint": pa.int64(), "double": pa.float64(), "boolean": pa.bool_()}[hive]


def _exact(value: Any, hive: str) -> Any:
    """A row's value for a column of type ``hive``: a decimal column gets the exact digits the JSON
    change log carries (``json.dumps`` of the generator's value), never a float's binary value."""
    scale = re.fullmatch(r"decimal\(\d+,\s*(\d+)\)", hive)
    if value is None or scale is None:
        return value
    digits, step = Decimal(json.dumps(value)), Decimal(1).scaleb(-int(scale[1]))
    if digits.quantize(step) != digits:
        raise ValueError(f"{value!r} has more decimal places than {hive} holds")
    return digits.quantize(step)


def parquet_body(columns: list[tuple[str, str]], rows: list[dict]) -> bytes:
    """One hour's rows as one SNAPPY Parquet object with the table's columns, as Firehose's ParquetSerDe
    writes a flush (its defaults: dictionary encoding, writer V1; a key a row lacks is null). Without
    pyarrow's own ``ARROW:schema`` footer entry, which Firehose's writer does not write and every read
    of the object would pay for (about 1.1 KB a footer here)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(name, _arrow_type(hive)) for name, hive in columns])
    table = pa.table(
        {name: [_exact(row.get(name), hive) for row in rows] for name, hive in columns}, schema=schema
    )
    buffer = io.BytesIO()
    pq.write_table(
        table, buffer, compression="snappy", use_dictionary=True, version="1.0", store_schema=False
    )
    return buffer.getvalue()


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _partition(hour: datetime) -> dict[str, str]:
    return {"year": f"{hour:%Y}", "month": f"{hour:%m}", "day": f"{hour:%d}", "hour": f"{hour:%H}"}


def _change(sequence: list[int], at: datetime, key: str, order: dict, name: str, rng: random.Random) -> dict:
    sequence[0] += 1
    return {
        "event_id": f"e-{sequence[0]}",
        "event_name": name,
        "sequence_number": str(sequence[0]).rjust(40, "0"),
        "event_time": _stamp(at),
        # DynamoDB's ApproximateCreationDateTime, as the CDC transform writes it (a whole second).
        "approximate_creation_time": _stamp(at),
        "is_deleted": name == "REMOVE",
        "orderid": key,
        "quantity": order.get("quantity", rng.randint(1, 5)),
        "price": order.get("price", round(rng.uniform(5, 500), 2)),
        "status": order.get("status", rng.choice(("placed", "paid", "shipped"))),
        "order_time": order.get("order_time", _stamp(at)),
        "updated_at": _stamp(at),
    }


class UniformModel:
    """Each hour: three in four changes new orders, the rest updates of any earlier order picked
    uniformly (one in twelve a delete). Every hour touches orders of every age, so every day's
    partition of the state table: the pessimistic model."""

    name = "uniform"

    def __init__(self, rng: random.Random) -> None:
        self.rng, self.known, self.placed = rng, [], {}

    def hour_rows(self, hour: int, per_hour: int, sequence: list[int]) -> list[dict]:
        moment, rows = START + timedelta(hours=hour), []
        for n in range(per_hour):
            at = moment + timedelta(seconds=n * 3600 // per_hour)
            new = not self.known or self.rng.random() < 0.75
            key = f"o-{hour}-{n}" if new else self.rng.choice(self.known)
            deleted = not new and self.rng.random() < 1 / 12
            if new:
                self.known.append(key)
                self.placed[key] = _stamp(at)
            name = "REMOVE" if deleted else ("INSERT" if new else "MODIFY")
            rows.append(_change(sequence, at, key, {"order_time": self.placed[key]}, name, self.rng))
        return rows


class LifecycleModel:
    """Orders live as the generator's do: placed, paid within the hour, shipped within a day, delivered
    one to two days later; one in sixteen is cancelled instead of shipped and deleted an hour later.
    A quarter of each hour's changes are new orders, so about ``per_hour`` changes an hour once the
    first orders have lived their lives; an hour's changes touch orders of the last three days."""

    name = "lifecycle"

    def __init__(self, rng: random.Random) -> None:
        self.rng, self.due = rng, {}  # hour -> [(moment, key, order, event name)]

    def _schedule(self, at: datetime, key: str, order: dict, name: str) -> None:
        hour = int((at - START).total_seconds() // 3600)
        self.due.setdefault(hour, []).append((at, key, order, name))

    def hour_rows(self, hour: int, per_hour: int, sequence: list[int]) -> list[dict]:
        rng, moment = self.rng, START + timedelta(hours=hour)
        for n in range(per_hour // 4):
            placed = moment + timedelta(seconds=n * 3600 // (per_hour // 4))
            key = f"o-{hour}-{n}"
            order = {
                "quantity": rng.randint(1, 5),
                "price": round(rng.uniform(5, 500), 2),
                "order_time": _stamp(placed),
                "status": "placed",
            }
            self._schedule(placed, key, dict(order), "INSERT")
            paid = placed + timedelta(seconds=rng.randint(60, 3600))
            self._schedule(paid, key, {**order, "status": "paid"}, "MODIFY")
            if rng.random() < 1 / 16:
                cancelled = paid + timedelta(seconds=rng.randint(60, 3600))
                self._schedule(cancelled, key, {**order, "status": "cancelled"}, "MODIFY")
                self._schedule(
                    cancelled + timedelta(hours=1), key, {**order, "status": "cancelled"}, "REMOVE"
                )
                continue
            shipped = paid + timedelta(seconds=rng.randint(3600, 24 * 3600))
            self._schedule(shipped, key, {**order, "status": "shipped"}, "MODIFY")
            delivered = shipped + timedelta(seconds=rng.randint(24 * 3600, 48 * 3600))
            self._schedule(delivered, key, {**order, "status": "delivered"}, "MODIFY")
        due = sorted(self.due.pop(hour, []), key=lambda change: change[0])
        return [_change(sequence, at, key, order, name, rng) for at, key, order, name in due]


MODELS = {model.name: model for model in (UniformModel, LifecycleModel)}


class Lake:
    """The bench's buckets, catalog and Athena client on one LocalAWS."""

    def __init__(self, endpoint: str) -> None:
        self.s3, self.glue, self.athena = (
            boto3.client(s, endpoint_url=endpoint, region_name=REGION) for s in ("s3", "glue", "athena")
        )
        self.bucket = "bench-lake-cost"
        self.s3.create_bucket(Bucket=self.bucket)
        self.glue.create_database(DatabaseInput={"Name": DATABASE})

    def run(self, sql: str) -> dict[str, Any]:
        query_id = self.athena.start_query_execution(
            QueryString=sql,
            QueryExecutionContext={"Database": DATABASE},
            ResultConfiguration={"OutputLocation": f"s3://{self.bucket}/results/"},
        )["QueryExecutionId"]
        while True:
            execution = self.athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
            if execution["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                break
            time.sleep(0.02)
        if execution["Status"]["State"] != "SUCCEEDED":
            raise SystemExit(f"{sql[:200]}\n{execution['Status']}")
        return execution

    def rows(self, execution: dict[str, Any]) -> list[list[str]]:
        """A finished query's rows (after the header row), each value as its text."""
        pages = self.athena.get_paginator("get_query_results")
        rows = [
            row
            for page in pages.paginate(QueryExecutionId=execution["QueryExecutionId"])
            for row in page["ResultSet"]["Rows"]
        ]
        return [[value.get("VarCharValue", "") for value in row["Data"]] for row in rows[1:]]

    def column(self, execution: dict[str, Any]) -> list[str]:
        """The first column of a finished query's rows (after the header row)."""
        return [row[0] for row in self.rows(execution)]

    def changes_table(self, table: str, fmt: str, columns: list[tuple[str, str]]) -> None:
        """The change log's Glue table, stored as ``fmt`` (json, parquet) under the prefix ``<table>/``."""
        stored = _storage(fmt)
        self.glue.create_table(
            DatabaseName=DATABASE,
            TableInput={
                "Name": table,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {"classification": stored["classification"]},
                "PartitionKeys": [{"Name": k, "Type": "string"} for k in ("year", "month", "day", "hour")],
                "StorageDescriptor": {
                    "Columns": [{"Name": n, "Type": t} for n, t in columns],
                    "Location": f"s3://{self.bucket}/{table}/",
                    "InputFormat": stored["InputFormat"],
                    "OutputFormat": stored["OutputFormat"],
                    "SerdeInfo": stored["SerdeInfo"],
                },
            },
        )

    def put_hour(self, table: str, fmt: str, hour: int, rows: list[dict]) -> None:
        """One hour's rows as one object of its hour partition (a JSON-lines file or a Parquet file with
        the table's columns), and the partition in the catalog."""
        moment = START + timedelta(hours=hour)
        values = _partition(moment)
        location = f"s3://{self.bucket}/{table}/" + "".join(f"{k}={v}/" for k, v in values.items())
        described = self.glue.get_table(DatabaseName=DATABASE, Name=table)["Table"]["StorageDescriptor"]
        if fmt == "parquet":
            body = parquet_body([(c["Name"], c["Type"]) for c in described["Columns"]], rows)
        else:
            body = "".join(json.dumps(row) + "\n" for row in rows).encode()
        key = location.split("/", 3)[3] + f"part-0.{fmt}"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        self.glue.create_partition(
            DatabaseName=DATABASE,
            TableName=table,
            PartitionInput={
                "Values": list(values.values()),
                "StorageDescriptor": {**described, "Location": location},
            },
        )


def _report(source: str, hour: datetime) -> str:
    end = hour + timedelta(hours=1)
    return (
        "SELECT count(*) AS orders, coalesce(sum(CAST(price AS DECIMAL(12, 2)) * quantity), 0) AS revenue "
        f"FROM {source} WHERE from_iso8601_timestamp(order_time) >= from_iso8601_timestamp('{_stamp(hour)}') "
        f"AND from_iso8601_timestamp(order_time) < from_iso8601_timestamp('{_stamp(end)}')"
    )


def _v1_current(table: str) -> str:
    names = ", ".join(n for n, _ in COLUMNS)
    return (
        f"(SELECT {names} FROM (SELECT *, row_number() OVER (PARTITION BY orderid "
        f"ORDER BY sequence_number DESC) AS recency FROM {table}) WHERE recency = 1 AND NOT is_deleted)"
    )


def _definition() -> Any:
    """sales_orders as the bench's narrower table declares it (its state partition is ``order_time``)."""
    import dataclasses

    from cdc_pipeline.definitions import get_pipeline

    return dataclasses.replace(get_pipeline("sales_orders"), columns=COLUMNS, state_partition="order_time")


def _dml_sql(
    name: str,
    table: str,
    columns: list[tuple[str, str]],
    state: str,
    hour: datetime,
    days: list[str] | None = None,
) -> str:
    """include/sql/dml/<name> rendered as the hourly DAG renders it (``days``: what the days query found;
    ``columns``: the change log's catalogued columns, which decide what ``state.source_columns`` casts)."""
    import jinja2

    from cdc_pipeline.definitions import normal_type
    from cdc_pipeline.provision.state_table import STATE_COLUMNS
    from cdc_pipeline.workflows.common import SQL_ROOT
    from cdc_pipeline.workflows.hourly.state import (
        as_of,
        merge_window,
        partition_expression,
        sequence_key,
        stored_days,
    )

    crawled = {n: normal_type(t) for n, t in columns}

    def source_columns(alias: str) -> str:
        return ", ".join(
            f'{alias}."{n}" AS "{n}"'
            if crawled[n] == normal_type(t)
            else f'CAST({alias}."{n}" AS {t}) AS "{n}"'
            for n, t in COLUMNS
        )

    declared = [n for n, _ in COLUMNS]
    state_macros = {
        "table": state,
        "key": "orderid",
        "declared": declared,
        "columns": declared + [n for n, _ in STATE_COLUMNS],
        "source_columns": source_columns,
        "partition_time": partition_expression(_definition()),
        "window": merge_window,
        "stored_days": stored_days,
        "sequence": sequence_key,
        "as_of": as_of(_definition(), state),
    }
    template = jinja2.Template((SQL_ROOT / "dml" / name).read_text())
    return template.render(state=state_macros, lake={"table": table}, data_interval_start=hour, days=days)


def _lake_columns(lake: Lake, table: str) -> Any:
    """``lake.columns(alias)`` for the change log ``table``, as `cdc_pipeline.workflows.common.table_columns`
    makes it from the Glue table: its columns, then its partition keys, quoted (and qualified)."""
    described = lake.glue.get_table(DatabaseName=DATABASE, Name=table)["Table"]
    names = [column["Name"] for column in described["StorageDescriptor"]["Columns"]]
    names += [key["Name"] for key in described.get("PartitionKeys", [])]

    def columns(alias: str = "") -> str:
        qualifier = f"{alias}." if alias else ""
        return ", ".join(f'{qualifier}"{name}"' for name in names)

    return columns


def _changes_view(lake: Lake, table: str) -> str:
    """The hourly DAG's changes view (include/sql/ddl/create_view_changes.sql, deduplicated per hour
    partition by event_id) created over the change log ``table``; its qualified name (setup, not measured)."""
    import jinja2

    from cdc_pipeline.workflows.common import SQL_ROOT

    view = f"{DATABASE}.{table}_changes"
    macros = {"table": f"{DATABASE}.{table}", "changes_view": view, "columns": _lake_columns(lake, table)}
    template = jinja2.Template((SQL_ROOT / "ddl" / "create_view_changes.sql").read_text())
    lake.run(template.render(lake=macros))
    return view


class _TaskInstance:
    """The ``ti`` the reconciliation's template reads: ``dynamodb_as_of_watermark``'s XCom, and no other."""

    def __init__(self, pushed: dict[str, Any]) -> None:
        self.pushed = pushed

    def xcom_pull(self, task_ids: str, **_: Any) -> dict[str, Any]:
        from cdc_pipeline.workflows.reconciliation import TASK_ID

        if task_ids != TASK_ID:
            raise KeyError(f"the bench pushes no XCom for {task_ids!r}")
        return self.pushed


def _reconcile_sql(view: str, last: datetime) -> str:
    """include/sql/quality/reconcile_with_table.sql rendered as the reconcile DAG renders it for the hour
    ``last`` over the changes view ``view``: the watermark is the hour's end, the window the 24 hours
    before it, both as ``dynamodb_as_of_watermark`` formats them (`reconciliation.lake_time`, the lake's
    ``approximate_creation_time`` text); items and changes are arbitrary (the bytes do not depend on them)."""
    import jinja2

    from cdc_pipeline.workflows.common import SQL_ROOT
    from cdc_pipeline.workflows.reconciliation import RECONCILE_SQL, lake_time

    watermark = last + timedelta(hours=1)
    pushed = {
        "watermark": lake_time(watermark),
        "window_start": lake_time(watermark - timedelta(hours=24)),
        "items": 0,
        "changes": 0,
    }
    template = jinja2.Template((SQL_ROOT / RECONCILE_SQL).read_text())
    return template.render(lake={"key": "orderid", "changes_view": view}, ti=_TaskInstance(pushed))


def _reconcile(lake: Lake, table: str, last: datetime) -> dict[str, Any]:
    """The hour ``last``'s reconciliation check over the change log ``table``: its bytes, and the lake's
    side of its answer (``lake_items``, ``lake_changes``: the same from either change log)."""
    execution = lake.run(_reconcile_sql(_changes_view(lake, table), last))
    detail = lake.rows(execution)[0][1]
    return {
        "bytes": execution["Statistics"]["DataScannedInBytes"],
        "answer": [part for part in detail.split() if part.startswith(("lake_items=", "lake_changes="))],
    }


def _scanned(lake: Lake, sql: str) -> int:
    return lake.run(sql)["Statistics"]["DataScannedInBytes"]


def _state_table(lake: Lake, table: str, state: str, last: datetime) -> None:
    """``state``, the table of versions, holding every change of ``table`` before the hour ``last``
    with its validity (setup, not measured: one statement, one file per partition)."""
    from cdc_pipeline.provision.state_table import STATE_COLUMNS
    from cdc_pipeline.workflows.hourly.state import sequence_key

    columns = ", ".join(f"{n} {t}" for n, t in [*COLUMNS, *STATE_COLUMNS])
    lake.run(
        f"CREATE TABLE {state} ({columns}) "
        "PARTITIONED BY (day(partition_time), bucket(16, orderid)) "
        f"LOCATION 's3://{lake.bucket}/iceberg/{state}/' "
        "TBLPROPERTIES ('table_type'='ICEBERG', 'format'='parquet')"
    )
    if last > START:  # every change of the hours before the last as a version, in one statement
        names = ", ".join(f"CAST({n} AS {t})" if t.startswith("decimal") else n for n, t in COLUMNS)
        order = sequence_key("sequence_number")
        lake.run(
            f"INSERT INTO {state} SELECT {names}, sequence_number, is_deleted, valid_from, "
            f"min(valid_from) OVER (PARTITION BY orderid ORDER BY {order} "
            "ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING), "
            "CAST(from_iso8601_timestamp(order_time) AS timestamp) "
            "FROM (SELECT *, CAST(from_iso8601_timestamp(event_time) AS timestamp) AS valid_from "
            f"FROM {table} WHERE from_iso8601_timestamp(event_time) < from_iso8601_timestamp('{_stamp(last)}'))"
        )


def _v2(lake: Lake, table: str, columns: list[tuple[str, str]], state: str, last: datetime) -> dict[str, Any]:
    """The hour ``last``'s v2 run over the change log ``table``: the days query, the MERGE into ``state``,
    the hour's report; their bytes, wall time and the report's answer."""
    from cdc_pipeline.workflows.hourly.state import as_of

    state_as_of = as_of(_definition(), state)
    end = last + timedelta(hours=1)
    began = time.perf_counter()
    days_execution = lake.run(_dml_sql("merge_state_days.sql", table, columns, state, last))
    days = lake.column(days_execution)
    merge = days_execution["Statistics"]["DataScannedInBytes"]
    merge += _scanned(lake, _dml_sql("merge_state.sql", table, columns, state, last, days))
    report_execution = lake.run(_report(state_as_of(end, since=last), last))
    wall = time.perf_counter() - began
    return {
        "merge": merge,
        "bytes": merge + report_execution["Statistics"]["DataScannedInBytes"],
        "wall": wall,
        "answer": lake.rows(report_execution),
        "state_as_of": state_as_of,
    }


def measure_age(lake: Lake, model: str, age: int, per_hour: int, seed: int) -> dict[str, Any]:
    """Build a lake of ``age`` hours of ``model``'s changes, as JSON and as Parquet, and measure the last
    hour's run in the three layouts."""
    changes, sequence = MODELS[model](random.Random(seed)), [0]
    hours = [changes.hour_rows(hour, per_hour, sequence) for hour in range(age)]
    last = START + timedelta(hours=age - 1)
    logs = {
        "json": (f"changes_{model}_{age}", RAW_COLUMNS, f"state_{model}_{age}"),
        "parquet": (f"changes_parquet_{model}_{age}", parquet_columns(), f"state_parquet_{model}_{age}"),
    }
    for fmt, (table, columns, state) in logs.items():
        lake.changes_table(table, fmt, columns)
        for hour, rows in enumerate(hours):
            lake.put_hour(table, fmt, hour, rows)
        _state_table(lake, table, state, last)

    table = logs["json"][0]
    current_v1 = _v1_current(table)
    began = time.perf_counter()
    v1 = _scanned(lake, f"SELECT count(*) FROM {current_v1}")
    v1_report = lake.run(_report(current_v1, last))
    v1 += v1_report["Statistics"]["DataScannedInBytes"]
    v1_wall = time.perf_counter() - began
    v2 = _v2(lake, *logs["json"], last)
    v2_parquet = _v2(lake, *logs["parquet"], last)
    population = _scanned(lake, f"SELECT count(*) FROM {v2['state_as_of'](last + timedelta(hours=1))}")
    answers = {"v1": lake.rows(v1_report), "v2": v2["answer"], "v2 Parquet": v2_parquet["answer"]}
    if len({json.dumps(answer) for answer in answers.values()}) > 1:
        raise SystemExit(f"{model} at {age} h: the hour reports disagree (orders, revenue): {answers}")
    reconciled = {fmt: _reconcile(lake, table, last) for fmt, (table, _, _) in logs.items()}
    lake_sides = {fmt: r["answer"] for fmt, r in reconciled.items()}
    if lake_sides["json"] != lake_sides["parquet"]:
        raise SystemExit(f"{model} at {age} h: the reconciliations' lake sides disagree: {lake_sides}")
    return {
        "age": age,
        "v1": v1,
        "v1_wall": v1_wall,
        "merge": v2["merge"],
        "v2": v2["bytes"],
        "v2_wall": v2["wall"],
        "merge_parquet": v2_parquet["merge"],
        "v2_parquet": v2_parquet["bytes"],
        "v2_parquet_wall": v2_parquet["wall"],
        "population": population,
        "reconcile": reconciled["json"]["bytes"],
        "reconcile_parquet": reconciled["parquet"]["bytes"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_lake_cost", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--orders-per-hour", type=int, default=1000)
    parser.add_argument("--ages", default="1,24,168", help="lake ages in hours, comma-separated")
    parser.add_argument("--models", default="lifecycle,uniform", help=f"update models: {', '.join(MODELS)}")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    models = args.models.split(",")
    if unknown := [m for m in models if m not in MODELS]:
        parser.error(f"unknown model {', '.join(unknown)}: choose from {', '.join(MODELS)}")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    from local_aws import LocalAWS

    with tempfile.TemporaryDirectory(prefix="bench-lake-cost-"):
        aws = LocalAWS(port=0).start()
        try:
            lake = Lake(aws.endpoint_url)
            print(
                "| model | lake age (h) | v1: bytes | v1 wall (s) | v2: MERGE + hour report, bytes "
                "| v2 wall (s) | v2 Parquet: MERGE + hour report, bytes | v2 Parquet wall (s) "
                "| of v2 the MERGE and its days | of v2 Parquet the MERGE and its days "
                "| whole-population count, as of the hour (v2) "
                "| reconciliation bytes, JSON change log | reconciliation bytes, Parquet change log |"
            )
            print("| --- |" + " ---: |" * 12)
            for model in models:
                for age in (int(a) for a in args.ages.split(",")):
                    r = measure_age(lake, model, age, args.orders_per_hour, args.seed)
                    print(
                        f"| {model} | {age} | {r['v1']:,} | {r['v1_wall']:.2f} | {r['v2']:,} "
                        f"| {r['v2_wall']:.2f} | {r['v2_parquet']:,} | {r['v2_parquet_wall']:.2f} "
                        f"| {r['merge']:,} | {r['merge_parquet']:,} | {r['population']:,} "
                        f"| {r['reconcile']:,} | {r['reconcile_parquet']:,} |",
                        flush=True,
                    )
        finally:
            aws.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
