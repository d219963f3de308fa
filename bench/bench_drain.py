"""Drain rate and freshness of the CDC path in local_aws: DynamoDB stream -> Pipe -> Kinesis -> Firehose
(+ the project's cdc_transform Lambda, dynamic partitioning) -> S3.

Run: ``python -m bench.bench_drain [--records 100000] [--shards 5]``. The server runs as
``python -m local_aws serve`` in its own process, as a user would run it.

1. Drain: the pipe is created STOPPED, the records are written to the table (a backlog in the stream),
   then the pipe is started; the drain rate is records / (time until all are in S3). The baseline run
   side by side is the write phase itself (BatchWriteItem into the same server), so the ratio says how
   the whole data plane compares with plain moto request handling on this machine. The issue's target
   is 5,000 records/s on two cores.
2. Freshness: with the pipe running, items are written at a steady low rate, each stamped with its
   write time; latency is the time from the write until an S3 listing shows the object holding it.
   Target: within the Firehose buffering interval + 1 s. The S3 poll interval (0.1 s) is part of it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import boto3
from botocore.config import Config

from cdc_cli.local_server import start_local_aws

REPO = Path(__file__).resolve().parents[1]
REGION = "us-east-1"


def start_server(workdir: str) -> tuple[str, subprocess.Popen[bytes]]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    log_path = Path(workdir) / "server.log"
    return start_local_aws(log_path, cwd=REPO, args=("--log-level", "WARNING"), env=env)


def transform_zip() -> bytes:
    """The transform's zip as provisioning builds it (handler.py and the shared Lambda modules)."""
    sys.path.insert(0, str(REPO / "plugins"))
    from cdc_pipeline.provision.lambda_function import build_zip

    return build_zip(REPO / "lambda" / "cdc_transform")


def data_path_policy(name: str, bucket: str, table_stream_arn: str, kinesis_arn: str) -> dict[str, object]:
    """The one role's permissions: read the table's stream, write and read Kinesis, invoke, write S3."""
    region_account = kinesis_arn.split(":")[3:5]
    function_arn = f"arn:aws:lambda:{region_account[0]}:{region_account[1]}:function:{name}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "dynamodb:DescribeStream",
                    "dynamodb:GetRecords",
                    "dynamodb:GetShardIterator",
                ],
                "Resource": [table_stream_arn],
            },
            # ListStreams has no resource type: AWS matches it only against "*".
            {"Effect": "Allow", "Action": ["dynamodb:ListStreams"], "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": [
                    "kinesis:PutRecord",
                    "kinesis:PutRecords",
                    "kinesis:DescribeStream",
                    "kinesis:DescribeStreamSummary",
                    "kinesis:GetRecords",
                    "kinesis:GetShardIterator",
                    "kinesis:ListShards",
                ],
                "Resource": kinesis_arn,
            },
            {
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction", "lambda:GetFunctionConfiguration"],
                "Resource": [function_arn, function_arn + ":*"],
            },
            {
                "Effect": "Allow",
                "Action": [
                    "s3:PutObject",
                    "s3:GetObject",
                    "s3:AbortMultipartUpload",
                    "s3:GetBucketLocation",
                    "s3:ListBucket",
                    "s3:ListBucketMultipartUploads",
                ],
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            },
        ],
    }


def lambda_runtime() -> str:
    """The runtime provisioning deploys the transform on."""
    sys.path.insert(0, str(REPO / "plugins"))
    from cdc_pipeline.provision.lambda_function import RUNTIME

    return RUNTIME


class Pipeline:
    def __init__(
        self, endpoint: str, shards: int, buffer_seconds: int, name: str, processor_seconds: int = 1
    ) -> None:
        config = Config(retries={"max_attempts": 10, "mode": "standard"}, max_pool_connections=20)
        self.c = lambda service: boto3.client(
            service, endpoint_url=endpoint, region_name=REGION, config=config
        )
        self.name = name
        self.bucket = f"bench-{name}"
        ddb, kinesis, s3 = self.c("dynamodb"), self.c("kinesis"), self.c("s3")
        s3.create_bucket(Bucket=self.bucket)
        self.stream_arn = ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "orderid", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "orderid", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )["TableDescription"]["LatestStreamArn"]
        kinesis.create_stream(StreamName=name, ShardCount=shards)
        kinesis_arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
            "StreamARN"
        ]
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Principal": {
                        "Service": ["lambda.amazonaws.com", "firehose.amazonaws.com", "pipes.amazonaws.com"]
                    },
                }
            ],
        }
        role = self.c("iam").create_role(
            RoleName=f"bench-{name}", AssumeRolePolicyDocument=json.dumps(trust)
        )["Role"]["Arn"]
        # local_aws enforces IAM on the service roles: what the Pipe, Firehose and the transform do.
        self.c("iam").put_role_policy(
            RoleName=f"bench-{name}",
            PolicyName="data-path",
            PolicyDocument=json.dumps(data_path_policy(name, self.bucket, self.stream_arn, kinesis_arn)),
        )
        function_arn = self.c("lambda").create_function(
            FunctionName=name,
            Runtime=lambda_runtime(),
            Role=role,
            Handler="handler.lambda_handler",
            Code={"ZipFile": transform_zip()},
            Timeout=60,
        )["FunctionArn"]
        self.c("firehose").create_delivery_stream(
            DeliveryStreamName=name,
            DeliveryStreamType="KinesisStreamAsSource",
            KinesisStreamSourceConfiguration={"KinesisStreamARN": kinesis_arn, "RoleARN": role},
            ExtendedS3DestinationConfiguration={
                "RoleARN": role,
                "BucketARN": f"arn:aws:s3:::{self.bucket}",
                "Prefix": "data/year=!{partitionKeyFromLambda:year}/month=!{partitionKeyFromLambda:month}/"
                "day=!{partitionKeyFromLambda:day}/hour=!{partitionKeyFromLambda:hour}/",
                "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/",
                "BufferingHints": {"IntervalInSeconds": buffer_seconds, "SizeInMBs": 64},
                "DynamicPartitioningConfiguration": {"Enabled": True},
                "ProcessingConfiguration": {
                    "Enabled": True,
                    "Processors": [
                        {
                            "Type": "Lambda",
                            "Parameters": [
                                {"ParameterName": "LambdaArn", "ParameterValue": function_arn},
                                {"ParameterName": "BufferSizeInMBs", "ParameterValue": "1"},
                                {
                                    "ParameterName": "BufferIntervalInSeconds",
                                    "ParameterValue": str(processor_seconds),
                                },
                            ],
                        }
                    ],
                },
            },
        )
        # Both answer before they are ready (Pending, CREATING): the measurements start once they are.
        self.c("lambda").get_waiter("function_active_v2").wait(
            FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 600}
        )
        while (
            self.c("firehose").describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"][
                "DeliveryStreamStatus"
            ]
            != "ACTIVE"
        ):
            time.sleep(0.05)
        self.kinesis_arn = kinesis_arn
        self.role = role

    def create_pipe(self, desired: str, window_seconds: int = 1) -> None:
        self.c("pipes").create_pipe(
            Name=self.name,
            RoleArn=self.role,
            Source=self.stream_arn,
            Target=self.kinesis_arn,
            DesiredState=desired,
            SourceParameters={
                "DynamoDBStreamParameters": {
                    "StartingPosition": "TRIM_HORIZON",
                    # The most a Pipe with a Kinesis target takes (AWS refuses more; so does local_aws).
                    "BatchSize": 500,
                    "MaximumBatchingWindowInSeconds": window_seconds,
                }
            },
            TargetParameters={"KinesisStreamParameters": {"PartitionKey": "$.dynamodb.Keys.orderid.S"}},
        )

    def write(self, first: int, count: int, stamp: bool = False) -> None:
        ddb = self.c("dynamodb")
        for start in range(first, first + count, 25):
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            requests = [
                {
                    "PutRequest": {
                        "Item": {
                            "orderid": {"S": f"o{i:07d}"},
                            "price": {"N": "19.99"},
                            "quantity": {"N": "2"},
                            "updated_at": {"S": now},
                            "written_at": {"N": repr(time.time())},
                        }
                    }
                }
                for i in range(start, min(start + 25, first + count))
            ]
            pending = {self.name: requests}
            while pending:
                pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    def delivered_keys(self) -> list[str]:
        s3 = self.c("s3")
        keys = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix="data/"):
            keys += [item["Key"] for item in page.get("Contents", [])]
        return keys


def drain(endpoint: str, records: int, shards: int) -> dict[str, float]:
    pipeline = Pipeline(endpoint, shards, buffer_seconds=1, name="drain")
    pipeline.create_pipe("STOPPED")
    started = time.monotonic()
    pipeline.write(0, records)
    write_seconds = time.monotonic() - started
    print(
        f"  wrote {records:,} items in {write_seconds:.1f} s ({records / write_seconds:,.0f}/s)", flush=True
    )

    pipeline.c("pipes").start_pipe(Name="drain")
    started = time.monotonic()
    seen: dict[str, int] = {}
    while True:
        keys = pipeline.delivered_keys()
        new = [k for k in keys if k not in seen]
        if new:
            s3 = pipeline.c("s3")
            for key in new:
                seen[key] = s3.get_object(Bucket=pipeline.bucket, Key=key)["Body"].read().count(b"\n")
        total = sum(seen.values())
        if total >= records:
            break
        if time.monotonic() - started > 1800:
            raise RuntimeError(f"only {total:,} of {records:,} records reached S3 in 30 minutes")
        pipe = pipeline.c("pipes").describe_pipe(Name="drain")
        if pipe["CurrentState"].endswith("FAILED"):
            raise RuntimeError(f"the pipe is {pipe['CurrentState']}: {pipe.get('StateReason')}")
        time.sleep(0.5)
    drain_seconds = time.monotonic() - started
    return {
        "records": records,
        "write_seconds": write_seconds,
        "drain_seconds": drain_seconds,
        "objects": len(seen),
    }


def freshness(
    endpoint: str,
    rate: float,
    seconds: float,
    buffer_seconds: int,
    window_seconds: int,
    processor_seconds: int,
) -> dict[str, float]:
    name = f"fresh-w{window_seconds}-p{processor_seconds}"
    pipeline = Pipeline(
        endpoint, 1, buffer_seconds=buffer_seconds, name=name, processor_seconds=processor_seconds
    )
    pipeline.create_pipe("RUNNING", window_seconds=window_seconds)
    time.sleep(1.0)
    s3 = pipeline.c("s3")
    latencies: list[float] = []
    seen: set[str] = set()
    interval = 1.0 / rate
    deadline = time.monotonic() + seconds
    n = 0
    next_write = time.monotonic()

    def poll() -> None:
        for key in pipeline.delivered_keys():
            if key in seen:
                continue
            seen.add(key)
            arrived = time.time()
            for line in s3.get_object(Bucket=pipeline.bucket, Key=key)["Body"].read().splitlines():
                row = json.loads(line)
                latencies.append(arrived - float(row["written_at"]))

    while time.monotonic() < deadline:
        if time.monotonic() >= next_write:
            pipeline.write(n, 1)
            n += 1
            next_write += interval
        poll()
        time.sleep(0.1)
    end = time.monotonic() + buffer_seconds + 30
    while len(latencies) < n and time.monotonic() < end:
        poll()
        time.sleep(0.1)
    latencies.sort()
    return {
        "written": n,
        "delivered": len(latencies),
        "p50": statistics.median(latencies),
        "p95": latencies[int(0.95 * (len(latencies) - 1))],
        "max": latencies[-1],
        "buffer_seconds": buffer_seconds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--shards", type=int, default=5)
    parser.add_argument("--rate", type=float, default=20.0, help="writes per second for freshness")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to write for freshness")
    parser.add_argument("--buffer", type=int, default=2, help="Firehose buffering interval for freshness")
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    with tempfile.TemporaryDirectory() as workdir:
        endpoint, server = start_server(workdir)
        try:
            print(f"drain: {args.records:,} change records, {args.shards} Kinesis shards", flush=True)
            result = drain(endpoint, args.records, args.shards)
            rate = result["records"] / result["drain_seconds"]
            baseline = result["records"] / result["write_seconds"]
            print(
                f"  drained in {result['drain_seconds']:.1f} s into {result['objects']} objects: "
                f"{rate:,.0f} records/s"
            )
            print(f"  ratio to the baseline (BatchWriteItem into the same server): {rate / baseline:.2f}")
            print(f"  ratio to the target of 5,000 records/s: {rate / 5000:.2f}")
            print(
                f"freshness: {args.rate:g} writes/s for {args.seconds:g} s, Firehose buffering {args.buffer} s"
            )
            # The target speaks of Firehose's buffering interval; the Pipe's batching window and the
            # processor's own buffer add to it, so both settings are measured.
            for window, processor in ((0, 0), (1, 1)):
                fresh = freshness(endpoint, args.rate, args.seconds, args.buffer, window, processor)
                print(
                    f"  pipe window {window} s, processor buffer {processor} s: delivered "
                    f"{fresh['delivered']}/{fresh['written']}; latency p50 {fresh['p50']:.2f} s, "
                    f"p95 {fresh['p95']:.2f} s, max {fresh['max']:.2f} s "
                    f"(target: p95 <= {args.buffer + 1 + window + processor} s)",
                    flush=True,
                )
        finally:
            server.terminate()
            server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
