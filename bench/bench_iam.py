"""What enforcing IAM costs each request: the authorization check alone, and a served PutItem.

Run: ``python -m bench.bench_iam [--calls 2000]``.

1. `local_aws.iam.authorize` on one DynamoDB PutItem request (no HTTP), for the account's own
   keys (no check), an IAM user with a one-statement policy, and an IAM user whose policy is the
   project's generated deployer policy (dozens of statements, conditions, a boundary on roles),
   timed over ``--calls`` decisions.
2. `local_aws.iam.check_service_role` for a pipe's role (trust policy and a 3-statement policy)
   and for a role IAM does not know: what each data-plane step pays per check.
3. Served PutItem calls through boto3 against an in-process `LocalAWS`, signed with the default
   keys and with the deployer user's keys: requests per second each way.

The numbers are for reading, never for asserting: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

import boto3

from local_aws.gateway import AwsRequest

ACCOUNT = "123456789012"
REGION = "us-east-1"


def _deployer_policy() -> dict[str, Any]:
    """The project's deployer policy, or a stand-in of similar size when the plugin is not importable."""
    try:
        import sys

        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "plugins"))
        from cdc_pipeline.deployer_policy import deployer_policy
        from cdc_pipeline.settings import Settings

        return deployer_policy(Settings.from_env({"CDC_LAKE_ACCOUNT_ID": ACCOUNT, "CDC_LAKE_REGION": REGION}))
    except Exception:  # the benchmark measures the evaluator, not the plugin
        pass
    statements = [
        {
            "Sid": f"S{i}",
            "Effect": "Allow",
            "Action": [f"dynamodb:Describe{i}", "dynamodb:PutItem", f"kinesis:Get{i}*"],
            "Resource": [f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/cdc-lake-{i}*"],
            "Condition": {"StringEquals": {"aws:RequestedRegion": REGION}},
        }
        for i in range(30)
    ]
    statements.append({"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": statements}


def _request(key_id: str, table: str) -> AwsRequest:
    body = json.dumps({"TableName": table, "Item": {"k": {"S": "x"}}}).encode()
    return AwsRequest(
        method="POST",
        path="/",
        query_string="",
        headers={
            "Authorization": f"AWS4-HMAC-SHA256 Credential={key_id}/20260101/{REGION}/dynamodb/aws4_request",
            "X-Amz-Target": "DynamoDB_20120810.PutItem",
            "Content-Type": "application/x-amz-json-1.0",
        },
        body=body,
        service="dynamodb",
        region=REGION,
        operation="PutItem",
    )


def _user(iam: Any, name: str, policy: dict[str, Any]) -> dict[str, str]:
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


def _time_authorize(world: Any, request: AwsRequest, calls: int) -> float:
    from local_aws import iam

    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        iam.authorize(world, request)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


def _time_service_role(world: Any, iam_client: Any, calls: int) -> dict[str, float]:
    """check_service_role for a role IAM knows (trust + 3-statement policy) and one it does not."""
    from local_aws import iam

    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "pipes.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    access = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["dynamodb:DescribeStream", "dynamodb:GetRecords"],
                "Resource": "*",
            },
            {"Effect": "Allow", "Action": "dynamodb:ListStreams", "Resource": "*"},
            {"Effect": "Allow", "Action": ["kinesis:PutRecord", "kinesis:PutRecords"], "Resource": "*"},
        ],
    }
    role = iam_client.create_role(RoleName="bench-pipe-role", AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]
    iam_client.put_role_policy(RoleName=role["RoleName"], PolicyName="p", PolicyDocument=json.dumps(access))
    target = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/out"
    found = {}
    for label, arn in (
        ("role IAM knows", role["Arn"]),
        ("role IAM does not know", f"arn:aws:iam::{ACCOUNT}:role/none"),
    ):
        samples = []
        for _ in range(calls):
            start = time.perf_counter()
            iam.check_service_role(
                world, arn, "kinesis:PutRecords", target, service_principal="pipes.amazonaws.com"
            )
            samples.append(time.perf_counter() - start)
        found[label] = statistics.median(samples) * 1e6
    return found


def _served(client: Any, table: str, calls: int) -> float:
    start = time.perf_counter()
    for index in range(calls):
        client.put_item(TableName=table, Item={"k": {"S": str(index)}})
    return calls / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    from local_aws import LocalAWS

    with LocalAWS(port=0) as server:
        endpoint = server.endpoint_url
        iam = boto3.client("iam", endpoint_url=endpoint, region_name=REGION)
        table = "cdc-lake-bench"
        boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION).create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        small = _user(
            iam,
            "bench-small",
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": "*"}],
            },
        )
        deployer_document = _deployer_policy()
        deployer_document["Statement"] = list(deployer_document["Statement"]) + [
            {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": "*"}
        ]
        deployer = _user(iam, "bench-deployer", deployer_document)
        print(f"iam.authorize, median of {args.calls:,} calls (one PutItem request, no HTTP):")
        for label, key_id in (
            ("account's own keys", "testing"),
            ("user, 1 statement", small["aws_access_key_id"]),
            (f"user, {len(deployer_document['Statement'])} statements", deployer["aws_access_key_id"]),
        ):
            micros = _time_authorize(server.world, _request(key_id, table), args.calls)
            print(f"  {label:<28} {micros:8.1f} us")
        print(f"iam.check_service_role, median of {args.calls:,} calls (a pipe's role, kinesis:PutRecords):")
        for label, micros in _time_service_role(server.world, iam, args.calls).items():
            print(f"  {label:<28} {micros:8.1f} us")
        calls = max(100, args.calls // 4)
        print(f"served PutItem through boto3, {calls:,} calls each:")
        for label, credentials in (("account's own keys", {}), ("deployer user", deployer)):
            client = boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION, **credentials)
            client.put_item(TableName=table, Item={"k": {"S": "warm"}})
            print(f"  {label:<28} {_served(client, table, calls):8.0f} requests/s")


if __name__ == "__main__":
    main()
