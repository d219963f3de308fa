"""What Firehose's bucket-policy check costs per object, and how soon a blocked stream recovers.

Run: ``python -m bench.bench_firehose_access [--decisions 20000] [--blocked 12]``.

1. `local_aws.bucket_policies.decide` for the delivery role's ``s3:PutObject``, timed over many
   calls for: no policy, the project's TLS-only policy (one Deny on ``aws:SecureTransport``), and
   a 12-statement policy with principals, wildcards and conditions. Firehose makes one decision per
   object it writes, so this is the check's whole cost on the delivery path.
2. An in-process `LocalAWS`: a DirectPut stream whose bucket denies the role; records are sent,
   the stream stays blocked for ``--blocked`` seconds (its retries back off to the 5 s cap), then
   the policy is deleted and the time until every record is in S3 is printed, with the number of
   S3.AccessDenied error-log entries the blocked period produced.

The numbers are for reading, never for asserting: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from typing import Any

import boto3

from local_aws import bucket_policies

ROLE = "arn:aws:iam::123456789012:role/firehose-delivery"


def wait_active(firehose: Any, name: str, timeout: float = 60.0) -> None:
    """A new delivery stream is CREATING, and refuses records, until it is ACTIVE."""
    deadline = time.monotonic() + timeout
    while True:
        status = firehose.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"][
            "DeliveryStreamStatus"
        ]
        if status == "ACTIVE":
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"delivery stream {name} is still {status} after {timeout:.0f} s")
        time.sleep(0.05)


def _policies(bucket: str) -> dict[str, dict[str, Any] | None]:
    tls_only = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    busy = [tls_only]
    for i in range(5):
        busy.append(
            {
                "Effect": "Deny",
                "Principal": {"AWS": f"arn:aws:iam::{100000000000 + i}:root"},
                "Action": ["s3:Delete*", "s3:Put*"],
                "Resource": f"arn:aws:s3:::{bucket}/team-{i}/*",
            }
        )
        busy.append(
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
                "Condition": {
                    "StringEquals": {"aws:PrincipalAccount": "123456789012"},
                    "ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::*:role/reader-{i}-*"},
                    "IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
                },
            }
        )
    busy.append(
        {
            "Effect": "Deny",
            "NotPrincipal": {"AWS": [ROLE, "123456789012"]},
            "Action": "s3:PutObject",
            "NotResource": f"arn:aws:s3:::{bucket}/public/*",
        }
    )
    return {
        "no policy": None,
        "TLS-only (1 statement)": {"Statement": [tls_only]},
        f"mixed ({len(busy)} statements)": {"Statement": busy},
    }


def bench_decisions(count: int) -> None:
    print(f"bucket_policies.decide, {count:,} calls each (the role's s3:PutObject):")
    bucket = "lake"
    for label, policy in _policies(bucket).items():
        text = json.dumps(policy) if policy is not None else None
        samples = []
        for _ in range(5):
            start = time.perf_counter()
            for n in range(count // 5):
                request = bucket_policies.role_request(
                    ROLE, "s3:PutObject", f"arn:aws:s3:::{bucket}/data/{n}", "FirehoseSession"
                )
                bucket_policies.decide(text, "123456789012", request)
            samples.append((time.perf_counter() - start) / (count // 5))
        print(f"  {label:<26} {statistics.median(samples) * 1e6:8.1f} us per decision (median of 5 runs)")


def bench_recovery(blocked_s: float) -> None:
    from local_aws import LocalAWS

    server = LocalAWS(port=0).start()
    try:

        def client(service: str) -> Any:
            return boto3.client(
                service,
                endpoint_url=server.endpoint_url,
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )

        s3, firehose, logs = client("s3"), client("firehose"), client("logs")
        bucket, name = f"bench-{uuid.uuid4().hex[:8]}", f"bench-{uuid.uuid4().hex[:8]}"
        group = f"/aws/kinesisfirehose/{name}"
        s3.create_bucket(Bucket=bucket)
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="S3Delivery")
        deny = {
            "Effect": "Deny",
            "Principal": {"AWS": ROLE},
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{bucket}/*",
        }
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Statement": [deny]}))
        firehose.create_delivery_stream(
            DeliveryStreamName=name,
            ExtendedS3DestinationConfiguration={
                "BucketARN": f"arn:aws:s3:::{bucket}",
                "RoleARN": ROLE,
                "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0},
                "CloudWatchLoggingOptions": {
                    "Enabled": True,
                    "LogGroupName": group,
                    "LogStreamName": "S3Delivery",
                },
            },
        )
        wait_active(firehose, name)
        records = [f"r{i}\n".encode() for i in range(2000)]
        for start in range(0, len(records), 500):
            firehose.put_record_batch(
                DeliveryStreamName=name, Records=[{"Data": r} for r in records[start : start + 500]]
            )
        time.sleep(blocked_s)  # a benchmark may wait on the clock; it measures, never asserts
        errors = len(logs.get_log_events(logGroupName=group, logStreamName="S3Delivery")["events"])
        s3.delete_bucket_policy(Bucket=bucket)
        unblocked = time.monotonic()
        while True:
            listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
            lines = sum(
                s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().count(b"\n") for item in listed
            )
            if lines >= len(records):
                break
            time.sleep(0.05)
        print(
            f"blocked {blocked_s:.0f} s: {errors} S3.AccessDenied log entries; all {len(records):,} records "
            f"in S3 {time.monotonic() - unblocked:.2f} s after the policy was deleted "
            f"({len(listed)} objects, {lines:,} lines)"
        )
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=20000)
    parser.add_argument("--blocked", type=float, default=12.0)
    args = parser.parse_args(argv)
    bench_decisions(args.decisions)
    bench_recovery(args.blocked)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
