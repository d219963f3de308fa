"""How long local_aws's Athena takes for the hourly DAG's queries, asked again and again over one lake.

Run: ``python -m bench.bench_athena [--records 5000] [--hours 24] [--rounds 10] [--mode both]``.

An in-process `LocalAWS` gets a lake shaped like the pipeline's: change records of the sales-orders
dataset as newline-delimited JSON in hourly Hive partitions (a few objects per hour, named the way
Firehose names them, with a share of at-least-once duplicates), a Glue table with the types the
crawler infers, and the two views of ``include/sql/ddl`` rendered with plain names. Then every round
runs the DAG's query shapes once each, in order, through boto3 (StartQueryExecution, then
GetQueryExecution every 5 ms until the query ends) and records the wall time and Athena's
EngineExecutionTimeInMillis. The first round is reported apart as "cold"; p50/p95 are over the
other rounds.

``--mode both`` (the default) runs the baseline (the engine's object cache and shared database
switched off, as ``LOCAL_AWS_ATHENA_CACHE_MB=0`` does) and then the cached configuration in the same
process, over the same lake, and prints the ratio. ``--profile`` adds a cProfile of one round per
mode, run in this thread straight through the engine, so that the top entries say where time goes.

The numbers are for reading, never for asserting: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import random
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import jinja2
import pendulum

REPO = Path(__file__).resolve().parents[1]
SQL = REPO / "include" / "sql"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
DATABASE = "bench_lake"
TABLE = "sales_orders"
KEY = "orderid"
START = datetime(2024, 5, 1, 0, 0, tzinfo=UTC)

# The columns the Glue crawler infers from the transform's output for this dataset.
COLUMNS = [
    ("event_id", "string"),
    ("event_name", "string"),
    ("sequence_number", "string"),
    ("event_time", "string"),
    ("approximate_creation_time", "string"),
    ("processed_at", "string"),
    ("is_deleted", "boolean"),
    ("orderid", "string"),
    ("product_name", "string"),
    ("category", "string"),
    ("quantity", "int"),
    ("price", "double"),
    ("customer_id", "string"),
    ("customer_name", "string"),
    ("order_time", "string"),
    ("status", "string"),
    ("updated_at", "string"),
]
PARTITION_KEYS = ["year", "month", "day", "hour"]
PRODUCTS = [
    ("Laptop", "Computers", 499, 2499),
    ("Tablet", "Tablets", 129, 1199),
    ("Smartphone", "Phones", 199, 1399),
    ("Phone Case", "Accessories", 9, 59),
    ("Wireless Earbuds", "Audio", 29, 299),
    ("Smartwatch", "Wearables", 149, 799),
    ("4K Monitor", "Monitors", 249, 1299),
    ("Wireless Mouse", "Peripherals", 15, 149),
    ("External SSD", "Storage", 59, 399),
    ("Wi-Fi Router", "Networking", 49, 599),
    ("Drone", "Cameras", 299, 1999),
    ("Game Console", "Gaming", 299, 699),
]
NEXT_STATUS = {"placed": "paid", "paid": "shipped", "shipped": "delivered"}


# -- the lake -----------------------------------------------------------------------------------
def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def change_records(count: int, hours: int, seed: int) -> list[dict[str, Any]]:
    """``count`` change records as the transform writes them: inserts, updates, deletes, duplicates."""
    rng = random.Random(seed)
    span = hours * 3600
    orders: dict[str, dict[str, Any]] = {}
    records: list[dict[str, Any]] = []
    sequence = 10**20
    while len(records) < count:
        moment = START + timedelta(seconds=span * len(records) / count + rng.random())
        sequence += rng.randrange(1, 1000)
        live = [o for o in orders.values() if o["status"] != "delivered"]
        draw = rng.random()
        if records and draw < 0.02:
            records.append(dict(rng.choice(records[-50:])))  # at-least-once: a change lands twice
            continue
        if live and draw < 0.05:
            item, event_name, deleted = rng.choice(live), "REMOVE", True
            orders.pop(item[KEY])
        elif live and draw < 0.55:
            item, event_name, deleted = rng.choice(live), "MODIFY", False
            item["status"] = NEXT_STATUS[item["status"]]
            item["updated_at"] = _stamp(moment)
        else:
            name, category, low, high = rng.choice(PRODUCTS)
            item = {
                KEY: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "product_name": name,
                "category": category,
                "quantity": rng.randint(1, 10),
                "price": Decimal(rng.randrange(low * 100, high * 100)) / 100,
                "customer_id": f"C{rng.randrange(10**8):08d}",
                "customer_name": f"Customer {rng.randrange(5000)}",
                "order_time": _stamp(moment),
                "status": "placed",
                "updated_at": _stamp(moment),
            }
            orders[item[KEY]] = item
            event_name, deleted = "INSERT", False
        records.append(
            {
                "event_id": uuid.UUID(int=rng.getrandbits(128)).hex,
                "event_name": event_name,
                "sequence_number": f"{sequence:040d}",
                "event_time": _stamp(moment),
                "approximate_creation_time": _stamp(moment.replace(microsecond=0)),
                "processed_at": _stamp(moment + timedelta(seconds=3)),
                "is_deleted": deleted,
                **{k: (str(v) if isinstance(v, Decimal) else v) for k, v in item.items()},
            }
        )
    return records


def _line(record: dict[str, Any]) -> str:
    # Exact decimal text for the price, as the transform writes it.
    text = json.dumps(record)
    return text.replace(f'"price": "{record["price"]}"', f'"price": {record["price"]}') + "\n"


def build_lake(client: Callable[[str], Any], records: list[dict[str, Any]], objects_per_hour: int) -> str:
    """Bucket, Glue table and partitions like the crawler's, objects like Firehose's; returns the bucket."""
    s3, glue = client("s3"), client("glue")
    bucket = "bench-lake"
    s3.create_bucket(Bucket=bucket)
    s3.create_bucket(Bucket="bench-athena-results")
    glue.create_database(DatabaseInput={"Name": DATABASE})
    storage = {
        "Columns": [{"Name": n, "Type": t} for n, t in COLUMNS],
        "Location": f"s3://{bucket}/{TABLE}/",
        "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe", "Parameters": {}},
    }
    glue.create_table(
        DatabaseName=DATABASE,
        TableInput={
            "Name": TABLE,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"classification": "json"},
            "PartitionKeys": [{"Name": k, "Type": "string"} for k in PARTITION_KEYS],
            "StorageDescriptor": storage,
        },
    )
    by_hour: dict[datetime, list[dict[str, Any]]] = {}
    for record in records:
        moment = datetime.strptime(record["event_time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        by_hour.setdefault(moment.replace(minute=0, second=0, microsecond=0), []).append(record)
    for hour, rows in sorted(by_hour.items()):
        prefix = f"{TABLE}/year={hour:%Y}/month={hour:%m}/day={hour:%d}/hour={hour:%H}/"
        size = -(-len(rows) // objects_per_hour)
        for number, first in enumerate(range(0, len(rows), size)):
            written = hour + timedelta(minutes=number * 60 // objects_per_hour)
            key = f"{prefix}bench-delivery-1-{written:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}"
            body = "".join(_line(r) for r in rows[first : first + size]).encode()
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        glue.create_partition(
            DatabaseName=DATABASE,
            TableName=TABLE,
            PartitionInput={
                "Values": [f"{hour:%Y}", f"{hour:%m}", f"{hour:%d}", f"{hour:%H}"],
                "StorageDescriptor": {**storage, "Location": f"s3://{bucket}/{prefix}"},
            },
        )
    return bucket


# -- the queries --------------------------------------------------------------------------------
def _hour_partition(moment: datetime) -> str:
    return f"year = '{moment:%Y}' AND month = '{moment:%m}' AND day = '{moment:%d}' AND hour = '{moment:%H}'"


def render(relative: str, hour: datetime) -> str:
    """One of the pipeline's SQL files, rendered as the hourly DAG renders it for ``hour``."""
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    template = environment.from_string((SQL / relative).read_text())
    start = pendulum.instance(hour)
    lake = {
        "database": DATABASE,
        "table": f"{DATABASE}.{TABLE}",
        "changes_view": f"{DATABASE}.{TABLE}_changes",
        "current_view": f"{DATABASE}.{TABLE}_current",
        "key": KEY,
        "max_delay_seconds": 180,
        "max_price": 5000,
        "max_quantity": 10,
    }
    return template.render(
        lake=lake,
        hour_partition=_hour_partition,
        data_interval_start=start,
        data_interval_end=start.add(hours=1),
        ti=_NoUpstream(),
    )


class _NoUpstream:
    """The ``ti`` a check template pulls upstream numbers from (rows_present: inspect_delivery's)."""

    def xcom_pull(self, task_ids: str) -> dict[str, int]:
        return {"delivered_rows": 0, "objects": 0}


QUERIES = [
    ("check_rows_present (table, 1 hour)", "quality/check_rows_present.sql"),
    ("check_duplicate_events (changes view, 1 hour)", "quality/check_duplicate_events.sql"),
    ("check_price_quantity_range (changes view)", "quality/sales_orders/check_price_quantity_range.sql"),
    ("count_current_state (current view)", "quality/count_current_state.sql"),
    ("report_totals (current view)", "report/sales_orders/report_totals.sql"),
    ("report_revenue_by_product (current view)", "report/sales_orders/report_revenue_by_product.sql"),
]


# -- running ------------------------------------------------------------------------------------
def run_query(athena: Any, sql: str) -> tuple[float, dict[str, Any]]:
    """Wall seconds from StartQueryExecution until GetQueryExecution shows it ended, and the execution."""
    began = time.perf_counter()
    execution_id = athena.start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": DATABASE},
        ResultConfiguration={"OutputLocation": "s3://bench-athena-results/bench/"},
    )["QueryExecutionId"]
    while True:
        execution = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
        if execution["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        time.sleep(0.005)
    elapsed = time.perf_counter() - began
    if execution["Status"]["State"] != "SUCCEEDED":
        raise RuntimeError(f"query failed: {execution['Status'].get('StateChangeReason')}\n{sql}")
    return elapsed, execution


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def configure_cache(enabled: bool) -> None:
    """Switch the engine's caches on or off (a version without them runs as it is)."""
    try:
        from local_aws.athena_engine import cache
    except ImportError:
        return
    cache.configure(enabled=enabled)


def describe_cache() -> str:
    try:
        from local_aws.athena_engine import cache
    except ImportError:
        return "this version of the engine has no cache"
    return f"cache {cache.describe()}"


def measure(athena: Any, hour: datetime, rounds: int) -> dict[str, Any]:
    """Each query once per round; the first round apart."""
    sqls = [(label, render(path, hour)) for label, path in QUERIES]
    walls: dict[str, list[float]] = {label: [] for label, _ in sqls}
    engines: dict[str, list[float]] = {label: [] for label, _ in sqls}
    scanned: dict[str, int] = {}
    for _ in range(rounds):
        for label, sql in sqls:
            wall, execution = run_query(athena, sql)
            walls[label].append(wall)
            engines[label].append(execution["Statistics"]["EngineExecutionTimeInMillis"] / 1000)
            scanned[label] = execution["Statistics"]["DataScannedInBytes"]
    return {"walls": walls, "engines": engines, "scanned": scanned}


def report(title: str, result: dict[str, Any]) -> dict[str, float]:
    print(f"\n== {title}")
    print(f"{'query':<48} {'cold':>7} {'p50':>7} {'p95':>7} {'engine p50':>11} {'scanned':>10}")
    p50s: dict[str, float] = {}
    for label, walls in result["walls"].items():
        warm = walls[1:] or walls
        p50s[label] = statistics.median(warm)
        print(
            f"{label:<48} {walls[0] * 1000:>6.0f}ms {p50s[label] * 1000:>5.0f}ms "
            f"{_percentile(warm, 0.95) * 1000:>5.0f}ms {statistics.median(result['engines'][label][1:] or result['engines'][label]) * 1000:>9.0f}ms "
            f"{result['scanned'][label]:>10}"
        )
    total = sum(sum(w) for w in result["walls"].values())
    count = sum(len(w) for w in result["walls"].values())
    print(f"{'all queries, mean wall':<48} {total / count * 1000:>30.0f}ms over {count} queries")
    return p50s


def profile_round(world: Any, hour: datetime, top: int) -> None:
    """One round straight through the engine in this thread, under cProfile."""
    from local_aws.athena_engine.catalog import Catalog
    from local_aws.athena_engine.engine import QueryEngine

    sqls = [render(path, hour) for _, path in QUERIES]
    profiler = cProfile.Profile()
    profiler.enable()
    for sql in sqls:
        QueryEngine(Catalog(world, ACCOUNT_ID, REGION), DATABASE).run(sql)
    profiler.disable()
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats(order).print_stats(top)
        lines = out.getvalue().splitlines()
        start = next(i for i, line in enumerate(lines) if "ncalls" in line)
        print(f"\n-- profile of one round, by {order}")
        print("\n".join(line[:150] for line in lines[start - 3 : start + top + 1]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=5000, help="change records in the lake")
    parser.add_argument("--hours", type=int, default=24, help="hourly partitions")
    parser.add_argument("--objects-per-hour", type=int, default=3, help="Firehose objects per partition")
    parser.add_argument("--rounds", type=int, default=10, help="rounds of every query (first is cold)")
    parser.add_argument("--mode", choices=("both", "baseline", "cached"), default="both")
    parser.add_argument("--profile", action="store_true", help="cProfile one round per mode")
    parser.add_argument("--top", type=int, default=25, help="profile lines to print")
    args = parser.parse_args(argv)

    import logging

    logging.basicConfig(level=logging.WARNING)
    from local_aws import LocalAWS

    server = LocalAWS(port=0).start()
    try:

        def client(service: str) -> Any:
            return boto3.client(
                service,
                endpoint_url=server.endpoint_url,
                region_name=REGION,
                aws_access_key_id="bench",
                aws_secret_access_key="bench",
            )

        records = change_records(args.records, args.hours, seed=7)
        began = time.perf_counter()
        build_lake(client, records, args.objects_per_hour)
        athena = client("athena")
        for ddl in ("ddl/create_view_changes.sql", "ddl/create_view_current.sql"):
            run_query(athena, render(ddl, START))
        hour = START + timedelta(hours=args.hours // 2)
        print(
            f"lake: {len(records)} change records, {args.hours} hourly partitions x "
            f"{args.objects_per_hour} objects, 2 views; built in {time.perf_counter() - began:.1f}s; "
            f"checks on hour {hour:%Y-%m-%d %H}:00; {args.rounds} rounds of {len(QUERIES)} queries"
        )
        modes = {"both": [False, True], "baseline": [False], "cached": [True]}[args.mode]
        results: dict[bool, dict[str, float]] = {}
        for enabled in modes:
            configure_cache(enabled)
            results[enabled] = report("cached" if enabled else "baseline", measure(athena, hour, args.rounds))
            print(f"after these rounds: {describe_cache()}")
            if args.profile:
                profile_round(server.world, hour, args.top)
        if len(results) == 2:
            print("\n== baseline p50 / cached p50 (higher is better)")
            for label in results[True]:
                print(f"{label:<48} {results[False][label] / results[True][label]:>6.1f}x")
            print(f"{'sum of p50s':<48} {sum(results[False].values()) / sum(results[True].values()):>6.1f}x")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
