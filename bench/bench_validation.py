"""What the gateway's input validation costs per request, and what the crawler holds for a gzip bomb.

Run: ``python -m bench.bench_validation [--repeat 200]``. In process, no server: each request the
pipeline sends most (PutItem, BatchWriteItem of 25 items, PutRecords of 500 records of 1 KiB,
Firehose PutRecordBatch, an S3 PutObject) is built as the gateway sees it and checked
``--repeat`` times; the figures are the median CPU and wall microseconds per check (CPU time is
the steadier one on a shared machine). Then a 200 MiB gzip bomb of
zeros is classified as the crawler classifies it, with tracemalloc's peak as the memory figure.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import statistics
import time
import tracemalloc
from typing import Any

from local_aws.components import glue_schema
from local_aws.gateway import AwsRequest
from local_aws.validation import check
from local_aws.world import World

SIGNED = (
    "AWS4-HMAC-SHA256 Credential=t/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
)


def json_request(service: str, signing: str, target: str, document: dict[str, Any]) -> AwsRequest:
    return AwsRequest(
        method="POST",
        path="/",
        query_string="",
        headers={"Authorization": SIGNED.format(service=signing), "X-Amz-Target": target},
        body=json.dumps(document).encode(),
        service=signing,
    )


def item(index: int) -> dict[str, Any]:
    return {
        "orderid": {"S": f"order-{index}"},
        "product_name": {"S": "Ergonomic Granite Chair"},
        "quantity": {"N": str(index % 7 + 1)},
        "price": {"N": "129.99"},
        "tags": {"L": [{"S": "a"}, {"S": "b"}]},
        "address": {"M": {"city": {"S": "Lyon"}, "zip": {"S": "69001"}}},
    }


def requests() -> dict[str, AwsRequest]:
    blob = base64.b64encode(b"x" * 1024).decode()
    return {
        "DynamoDB PutItem": json_request(
            "dynamodb", "dynamodb", "DynamoDB_20120810.PutItem", {"TableName": "orders", "Item": item(1)}
        ),
        "DynamoDB BatchWriteItem x25": json_request(
            "dynamodb",
            "dynamodb",
            "DynamoDB_20120810.BatchWriteItem",
            {"RequestItems": {"orders": [{"PutRequest": {"Item": item(i)}} for i in range(25)]}},
        ),
        "Kinesis PutRecords 500 x 1 KiB": json_request(
            "kinesis",
            "kinesis",
            "Kinesis_20131202.PutRecords",
            {"StreamName": "s", "Records": [{"Data": blob, "PartitionKey": f"k{i}"} for i in range(500)]},
        ),
        "Firehose PutRecordBatch 500 x 1 KiB": json_request(
            "firehose",
            "firehose",
            "Firehose_20150804.PutRecordBatch",
            {"DeliveryStreamName": "d", "Records": [{"Data": blob} for _ in range(500)]},
        ),
        "S3 PutObject 1 MiB": AwsRequest(
            method="PUT",
            path="/lake/changes/hour=2026-11-30T01/part-0001.json",
            query_string="",
            headers={"Authorization": SIGNED.format(service="s3")},
            body=b"x" * (1024 * 1024),
            service="s3",
        ),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_validation")
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args(argv)
    world = World()
    print(f"{'request':38} {'cpu us/check':>13} {'wall us/check':>14} {'body bytes':>11}")
    for name, request in requests().items():
        check(request, world)  # load botocore's models once, as the first request does
        cpu, wall = [], []
        for _ in range(args.repeat):
            started, started_cpu = time.perf_counter(), time.process_time()
            check(request, world)
            cpu.append(time.process_time() - started_cpu)
            wall.append(time.perf_counter() - started)
        print(
            f"{name:38} {statistics.median(cpu) * 1e6:13.0f} {statistics.median(wall) * 1e6:14.0f} "
            f"{len(request.body):11,}"
        )
    bomb = gzip.compress(b"\0" * (200 * 1024 * 1024), compresslevel=9)
    tracemalloc.start()
    started = time.perf_counter()
    info = glue_schema.classify(bomb)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        f"crawler on a 200 MiB gzip bomb ({len(bomb):,} bytes gzipped): {info.classification}, "
        f"peak traced memory {peak / 2**20:.0f} MiB, {elapsed:.2f} s"
    )


if __name__ == "__main__":
    main()
