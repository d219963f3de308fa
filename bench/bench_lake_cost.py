"""What one hourly run of sales_orders costs in Athena as the lake ages: the view over the whole change
history (lake v1) against the table of versions kept by an hourly MERGE (lake v2).

Run: ``python -m bench.bench_lake_cost [--orders-per-hour 1000] [--ages 1,24,168]
[--models lifecycle,uniform] [--seed 3]``.

An in-process `LocalAWS` gets a JSON change log like the transform's (one hour partition per hour),
catalogued as the crawler catalogs it (OpenX JSON SerDe, year/month/day/hour partitions). The changes
follow one of two models: ``lifecycle`` (orders live as the generator's do: placed, paid, shipped
within a day, delivered within two more; a few cancelled and deleted), ``uniform`` (each hour updates
orders of any age: every day of the state table is touched, the pessimistic case). For each lake
age A (hours of history), the run of the last hour is measured:

- v1: the hourly DAG's current-state reads before issue #10: the state of every key by a window
  over every partition (``row_number() OVER (PARTITION BY orderid ORDER BY sequence_number DESC)``),
  counted, and the hour's revenue report over it;
- v2: what the hourly DAG runs now: ``include/sql/dml/merge_state_days.sql`` then
  ``merge_state.sql`` (rendered for the hour: its partition and the two before; the days the first
  finds go to the second, as the DAG's merge_state task does) into ``sales_orders_state``, the table of versions
  holding every change of the first A-1 hours with its validity (written in one statement as setup,
  not measured: one file per partition, as the daily OPTIMIZE leaves them), then the hour's revenue
  report over the state as of the hour's end (``state.as_of``, pruned to the hour's ``order_time``
  day). Apart, a count of every key as of the hour (what a whole-population report reads).

Printed: Athena's DataScannedInBytes summed over each layout's statements, and the wall time. The
numbers are for reading, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
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
RAW_COLUMNS = [
    ("event_id", "string"),
    ("event_name", "string"),
    ("sequence_number", "string"),
    ("event_time", "string"),
    ("is_deleted", "boolean"),
    ("orderid", "string"),
    ("quantity", "bigint"),
    ("price", "double"),
    ("status", "string"),
    ("order_time", "string"),
    ("updated_at", "string"),
]


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

    def column(self, execution: dict[str, Any]) -> list[str]:
        """The first column of a finished query's rows (after the header row)."""
        pages = self.athena.get_paginator("get_query_results")
        rows = [
            row
            for page in pages.paginate(QueryExecutionId=execution["QueryExecutionId"])
            for row in page["ResultSet"]["Rows"]
        ]
        return [row["Data"][0].get("VarCharValue", "") for row in rows[1:]]

    def changes_table(self, table: str) -> None:
        self.glue.create_table(
            DatabaseName=DATABASE,
            TableInput={
                "Name": table,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {"classification": "json"},
                "PartitionKeys": [{"Name": k, "Type": "string"} for k in ("year", "month", "day", "hour")],
                "StorageDescriptor": {
                    "Columns": [{"Name": n, "Type": t} for n, t in RAW_COLUMNS],
                    "Location": f"s3://{self.bucket}/{table}/",
                    "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
                    "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                    "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"},
                },
            },
        )

    def put_hour(self, table: str, hour: int, rows: list[dict]) -> None:
        moment = START + timedelta(hours=hour)
        values = _partition(moment)
        location = f"s3://{self.bucket}/{table}/" + "".join(f"{k}={v}/" for k, v in values.items())
        body = "".join(json.dumps(row) + "\n" for row in rows).encode()
        self.s3.put_object(Bucket=self.bucket, Key=location.split("/", 3)[3] + "part-0.json", Body=body)
        described = self.glue.get_table(DatabaseName=DATABASE, Name=table)["Table"]["StorageDescriptor"]
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


def _dml_sql(name: str, table: str, state: str, hour: datetime, days: list[str] | None = None) -> str:
    """include/sql/dml/<name> rendered as the hourly DAG renders it (``days``: what the days query found)."""
    import jinja2

    from cdc_pipeline.provision.state_table import STATE_COLUMNS
    from cdc_pipeline.workflows.common import SQL_ROOT
    from cdc_pipeline.workflows.hourly.state import (
        as_of,
        merge_window,
        partition_expression,
        sequence_key,
        stored_days,
    )

    crawled = dict(RAW_COLUMNS)

    def source_columns(alias: str) -> str:
        return ", ".join(
            f'{alias}."{n}" AS "{n}"' if crawled[n] == t else f'CAST({alias}."{n}" AS {t}) AS "{n}"'
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


def _scanned(lake: Lake, sql: str) -> int:
    return lake.run(sql)["Statistics"]["DataScannedInBytes"]


def measure_age(lake: Lake, model: str, age: int, per_hour: int, seed: int) -> dict[str, Any]:
    """Build a lake of ``age`` hours of ``model``'s changes and measure the last hour's run in both layouts."""
    changes, sequence = MODELS[model](random.Random(seed)), [0]
    table, state = f"changes_{model}_{age}", f"state_{model}_{age}"
    lake.changes_table(table)
    for hour in range(age):
        lake.put_hour(table, hour, changes.hour_rows(hour, per_hour, sequence))
    from cdc_pipeline.provision.state_table import STATE_COLUMNS
    from cdc_pipeline.workflows.hourly.state import as_of, sequence_key

    columns = ", ".join(f"{n} {t}" for n, t in [*COLUMNS, *STATE_COLUMNS])
    lake.run(
        f"CREATE TABLE {state} ({columns}) "
        "PARTITIONED BY (day(partition_time), bucket(16, orderid)) "
        f"LOCATION 's3://{lake.bucket}/iceberg/{state}/' "
        "TBLPROPERTIES ('table_type'='ICEBERG', 'format'='parquet')"
    )
    last = START + timedelta(hours=age - 1)
    if age > 1:  # setup: every change of the hours before the last as a version, in one statement
        names = ", ".join(n for n, _ in COLUMNS).replace("price", "CAST(price AS decimal(12,2))")
        order = sequence_key("sequence_number")
        lake.run(
            f"INSERT INTO {state} SELECT {names}, sequence_number, is_deleted, valid_from, "
            f"min(valid_from) OVER (PARTITION BY orderid ORDER BY {order} "
            "ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING), "
            "CAST(from_iso8601_timestamp(order_time) AS timestamp) "
            "FROM (SELECT *, CAST(from_iso8601_timestamp(event_time) AS timestamp) AS valid_from "
            f"FROM {table} WHERE from_iso8601_timestamp(event_time) < from_iso8601_timestamp('{_stamp(last)}'))"
        )
    current_v1 = _v1_current(table)
    began = time.perf_counter()
    v1 = _scanned(lake, f"SELECT count(*) FROM {current_v1}") + _scanned(lake, _report(current_v1, last))
    v1_wall = time.perf_counter() - began
    state_as_of = as_of(_definition(), state)
    end = last + timedelta(hours=1)
    began = time.perf_counter()
    days_execution = lake.run(_dml_sql("merge_state_days.sql", table, state, last))
    days = lake.column(days_execution)
    merge = days_execution["Statistics"]["DataScannedInBytes"]
    merge += _scanned(lake, _dml_sql("merge_state.sql", table, state, last, days))
    report = _scanned(lake, _report(state_as_of(end, since=last), last))
    v2_wall = time.perf_counter() - began
    population = _scanned(lake, f"SELECT count(*) FROM {state_as_of(end)}")
    return {
        "age": age,
        "v1": v1,
        "v1_wall": v1_wall,
        "merge": merge,
        "report": report,
        "v2_wall": v2_wall,
        "population": population,
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
                "| v2 wall (s) | of it the MERGE and its days | whole-population count, as of the hour (v2) |"
            )
            print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
            for model in models:
                for age in (int(a) for a in args.ages.split(",")):
                    r = measure_age(lake, model, age, args.orders_per_hour, args.seed)
                    print(
                        f"| {model} | {age} | {r['v1']:,} | {r['v1_wall']:.2f} | {r['merge'] + r['report']:,} "
                        f"| {r['v2_wall']:.2f} | {r['merge']:,} | {r['population']:,} |",
                        flush=True,
                    )
        finally:
            aws.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
