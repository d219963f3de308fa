"""Iceberg in local_aws's Athena: a MERGE of change records into a large table, and what pruning saves.

Run: ``python -m bench.bench_iceberg [--rows 1000000] [--changes 10000] [--hours 24] [--seed 7]``.

An in-process `LocalAWS` gets an Iceberg table of the current state of ``--rows`` orders (id, ts,
status, amount), partitioned by ``hour(ts)`` over ``--hours`` hours, written by pyiceberg through
the server's Glue catalog (setup, not measured); and a Hive Parquet table of ``--changes`` change
records (nine in ten update an existing order, one in ten is a new order), as the hourly DAG's
change log would hold. Then, through boto3 as a user would:

- ``MERGE INTO current_state USING changes`` (update when matched, insert when not): wall time
  from StartQueryExecution until GetQueryExecution says SUCCEEDED (polled every 20 ms), and
  Athena's EngineExecutionTimeInMillis and DataScannedInBytes;
- ``SELECT count(*), sum(amount), max(ts)`` of one hour's partition against the whole table:
  DataScannedInBytes of each (the same columns, so only partition pruning differs), and their
  ratio (the pruning the hourly report relies on).

The numbers are for reading, never for asserting: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq

REGION = "us-east-1"
DATABASE = "bench_iceberg"
START = datetime(2024, 5, 1, tzinfo=UTC).replace(tzinfo=None)


def _clients(endpoint: str) -> dict[str, Any]:
    return {s: boto3.client(s, endpoint_url=endpoint, region_name=REGION) for s in ("s3", "glue", "athena")}


def _run(athena: Any, sql: str, results: str) -> tuple[float, dict[str, Any]]:
    began = time.perf_counter()
    execution_id = athena.start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": DATABASE},
        ResultConfiguration={"OutputLocation": results},
    )["QueryExecutionId"]
    while True:
        execution = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
        if execution["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        time.sleep(0.02)
    wall = time.perf_counter() - began
    if execution["Status"]["State"] != "SUCCEEDED":
        raise SystemExit(f"{sql[:60]}... {execution['Status']}")
    return wall, execution


def _current_state(rows: int, hours: int, rng: random.Random) -> pa.Table:
    span = hours * 3600
    return pa.table(
        {
            "id": pa.array(range(rows), pa.int64()),
            "ts": pa.array(
                [START + timedelta(seconds=span * i // rows) for i in range(rows)], pa.timestamp("us")
            ),
            "status": pa.array([rng.choice(("placed", "paid", "shipped")) for _ in range(rows)]),
            "amount": pa.array([round(rng.uniform(5, 500), 2) for _ in range(rows)], pa.float64()),
        }
    )


def _changes(rows: int, changes: int, hours: int, rng: random.Random) -> pa.Table:
    updated = rng.sample(range(rows), changes - changes // 10)
    fresh = list(range(rows, rows + changes // 10))
    ids = updated + fresh
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "ts": pa.array(
                [START + timedelta(seconds=rng.randrange(hours * 3600)) for _ in ids], pa.timestamp("us")
            ),
            "status": pa.array(["delivered"] * len(ids)),
            "amount": pa.array([round(rng.uniform(5, 500), 2) for _ in ids], pa.float64()),
        }
    )


def _setup(aws: Any, endpoint: str, args: argparse.Namespace) -> str:
    from local_aws.athena_engine.iceberg import glue_catalog

    s3, glue = _clients(endpoint)["s3"], _clients(endpoint)["glue"]
    bucket = "bench-iceberg-lake"
    s3.create_bucket(Bucket=bucket)
    glue.create_database(DatabaseInput={"Name": DATABASE})
    rng = random.Random(args.seed)
    began = time.perf_counter()
    state = _current_state(args.rows, args.hours, rng)
    _, execution = _run(
        _clients(endpoint)["athena"],
        "CREATE TABLE current_state (id bigint, ts timestamp, status string, amount double) "
        f"PARTITIONED BY (hour(ts)) LOCATION 's3://{bucket}/current_state/' TBLPROPERTIES ('table_type'='ICEBERG')",
        f"s3://{bucket}/results/",
    )
    table = glue_catalog(aws.world, REGION).load_table(f"{DATABASE}.current_state")
    table.append(state)
    body = pa.BufferOutputStream()
    pq.write_table(_changes(args.rows, args.changes, args.hours, rng), body)
    s3.put_object(Bucket=bucket, Key="changes/part-0.parquet", Body=body.getvalue().to_pybytes())
    glue.create_table(
        DatabaseName=DATABASE,
        TableInput={
            "Name": "changes",
            "TableType": "EXTERNAL_TABLE",
            "StorageDescriptor": {
                "Columns": [
                    {"Name": n, "Type": t}
                    for n, t in (
                        ("id", "bigint"),
                        ("ts", "timestamp"),
                        ("status", "string"),
                        ("amount", "double"),
                    )
                ],
                "Location": f"s3://{bucket}/changes/",
                "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "SerdeInfo": {
                    "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
                },
            },
        },
    )
    print(
        f"setup: {args.rows:,} rows in {args.hours} hour partitions, {args.changes:,} changes ({time.perf_counter() - began:.1f} s)"
    )
    return bucket


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_iceberg", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="rows of the Iceberg table (default 1,000,000)"
    )
    parser.add_argument("--changes", type=int, default=10_000, help="change records merged (default 10,000)")
    parser.add_argument("--hours", type=int, default=24, help="hour partitions the rows span (default 24)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    from local_aws import LocalAWS

    with tempfile.TemporaryDirectory(prefix="bench-iceberg-"):
        aws = LocalAWS(port=0).start()
        try:
            athena = _clients(aws.endpoint_url)["athena"]
            bucket = _setup(aws, aws.endpoint_url, args)
            results = f"s3://{bucket}/results/"
            merge = (
                "MERGE INTO current_state t USING changes c ON t.id = c.id "
                "WHEN MATCHED THEN UPDATE SET status = c.status, amount = c.amount "
                "WHEN NOT MATCHED THEN INSERT (id, ts, status, amount) VALUES (c.id, c.ts, c.status, c.amount)"
            )
            wall, execution = _run(athena, merge, results)
            stats = execution["Statistics"]
            print(
                f"MERGE {args.changes:,} changes into {args.rows:,} rows: wall {wall:.2f} s, "
                f"engine {stats['EngineExecutionTimeInMillis'] / 1000:.2f} s, scanned {stats['DataScannedInBytes']:,} bytes"
            )
            # The same columns in both (Parquet is billed by the column chunks a query reads).
            measure = "SELECT count(*), sum(amount), max(ts) FROM current_state"
            _, counted = _run(athena, measure, results)
            whole = counted["Statistics"]["DataScannedInBytes"]
            hour = START + timedelta(hours=args.hours // 2)
            one_hour = (
                f"{measure} WHERE ts >= TIMESTAMP '{hour:%Y-%m-%d %H:%M:%S}' "
                f"AND ts < TIMESTAMP '{hour + timedelta(hours=1):%Y-%m-%d %H:%M:%S}'"
            )
            _, pruned = _run(athena, one_hour, results)
            part = pruned["Statistics"]["DataScannedInBytes"]
            print(
                f"scan of the whole table: {whole:,} bytes; of one hour's partition: {part:,} bytes ({whole / max(part, 1):.1f}x less)"
            )
        finally:
            aws.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
