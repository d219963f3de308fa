"""Service roles checked on the data plane: a service acts as the customer's role, as on AWS.

The role must trust the service (with the context keys that service sends) and its policies must
allow each step; a denied step fails the way the service fails it, and recovers once fixed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from local_aws import iam
from tests.local_aws.firehose_helpers import (
    TRANSFORM,
    error_log,
    function,
    lambda_processor,
    lambda_role,
    lines,
    logged_errors,
    objects,
    send,
    wait_active,
    wait_for_errors,
    wait_objects,
)
from tests.local_aws.test_pipes import read_stream, stream, table
from tests.support import unique, wait_until

__all__ = [
    "error_log",
    "function",
    "lambda_role",
    "stream",
    "table",
]  # fixtures shared with test_firehose_access.py, test_pipes.py

ACCOUNT_ID = "123456789012"
FAST = {"SizeInMBs": 1, "IntervalInSeconds": 0}


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def trust(service: str, **condition: Any) -> str:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if condition:
        statement["Condition"] = condition
    return document(statement)


def make_role(aws: Callable[..., Any], trust_policy: str, *statements: dict[str, Any]) -> tuple[str, str]:
    name = unique("svc-role")
    arn = aws("iam").create_role(RoleName=name, AssumeRolePolicyDocument=trust_policy)["Role"]["Arn"]
    if statements:
        aws("iam").put_role_policy(RoleName=name, PolicyName="access", PolicyDocument=document(*statements))
    return name, arn


@pytest.fixture
def bucket(aws: Callable[..., Any]) -> str:
    name = unique("svc-bkt")
    aws("s3").create_bucket(Bucket=name)
    return name


def delivery_stream(aws: Callable[..., Any], bucket: str, role_arn: str, log: dict[str, Any]) -> str:
    name = unique("svc-hose")
    aws("firehose").create_delivery_stream(
        DeliveryStreamName=name,
        ExtendedS3DestinationConfiguration={
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "RoleARN": role_arn,
            "Prefix": "data/",
            "BufferingHints": FAST,
            "CloudWatchLoggingOptions": log,
        },
    )
    wait_active(aws("firehose"), name)
    return name


def test_a_delivery_role_without_put_object_logs_access_denied_and_delivers_once_fixed(
    aws: Callable[..., Any], bucket: str, error_log: dict[str, Any]
):
    read_only = {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}
    role_name, role_arn = make_role(aws, trust("firehose.amazonaws.com"), read_only)
    name = delivery_stream(aws, bucket, role_arn, error_log)
    records = [f"record-{i}\n".encode() for i in range(30)]
    send(aws, name, records)

    (entry, *_) = wait_for_errors(aws, error_log)
    assert entry["errorCode"] == "S3.AccessDenied"
    assert objects(aws, bucket) == {}, "nothing lands while the role may not write"
    seen = len(logged_errors(aws, error_log))
    wait_for_errors(aws, error_log, count=seen + 1)  # retried, still denied
    assert objects(aws, bucket) == {}

    writer = {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/data/*"}
    aws("iam").put_role_policy(
        RoleName=role_name, PolicyName="access", PolicyDocument=document(read_only, writer)
    )
    wait_until(
        lambda: sum(body.count(b"\n") for body in objects(aws, bucket).values()) >= len(records),
        timeout=60,
        what="every record once the role may write",
    )
    delivered = [
        line for body in objects(aws, bucket, "data/").values() for line in body.splitlines(keepends=True)
    ]
    assert sorted(delivered) == sorted(records)


def test_a_delivery_role_that_trusts_another_service_cannot_be_used_by_firehose(
    aws: Callable[..., Any], bucket: str, error_log: dict[str, Any]
):
    everything = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    _, role_arn = make_role(aws, trust("glue.amazonaws.com"), everything)
    name = delivery_stream(aws, bucket, role_arn, error_log)
    send(aws, name, [b"x\n"])
    assert wait_for_errors(aws, error_log)[0]["errorCode"] == "S3.AccessDenied"
    assert objects(aws, bucket) == {}


# -- the check itself, as the components call it --------------------------------------------------
def test_check_service_role_trust_context_keys(aws: Callable[..., Any], local_aws: Any):
    world = local_aws.world
    pipe_arn = f"arn:aws:pipes:us-east-1:{ACCOUNT_ID}:pipe/p"
    allow_all = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    # Pipes sends aws:SourceAccount and aws:SourceArn: a trust conditioned on them holds.
    _, pipes_role = make_role(
        aws,
        trust(
            "pipes.amazonaws.com",
            StringEquals={"aws:SourceAccount": ACCOUNT_ID, "aws:SourceArn": pipe_arn},
        ),
        allow_all,
    )
    assert (
        iam.check_service_role(
            world,
            pipes_role,
            "kinesis:PutRecords",
            "arn:aws:kinesis:us-east-1:123456789012:stream/s",
            service_principal="pipes.amazonaws.com",
            source_arn=pipe_arn,
        )
        is None
    )
    # ... and another pipe's ARN is not this one's: the trust does not hold for it.
    denied = iam.check_service_role(
        world,
        pipes_role,
        "kinesis:PutRecords",
        "arn:aws:kinesis:us-east-1:123456789012:stream/s",
        service_principal="pipes.amazonaws.com",
        source_arn=f"{pipe_arn}-other",
    )
    assert denied is not None and denied.action == "sts:AssumeRole"
    # Glue sends neither when a crawler assumes its role: the same condition fails, as on AWS.
    _, glue_role = make_role(
        aws, trust("glue.amazonaws.com", StringEquals={"aws:SourceAccount": ACCOUNT_ID}), allow_all
    )
    denied = iam.check_service_role(
        world, glue_role, "s3:GetObject", "arn:aws:s3:::b/k", service_principal="glue.amazonaws.com"
    )
    assert denied is not None and denied.action == "sts:AssumeRole" and denied.code == "AccessDenied"
    assert denied.message == (
        f"User: glue.amazonaws.com is not authorized to perform: sts:AssumeRole on resource: {glue_role} "
        "because no resource-based policy allows the sts:AssumeRole action"
    )
    # Firehose's documented trust: sts:ExternalId is the account.
    _, firehose_role = make_role(
        aws, trust("firehose.amazonaws.com", StringEquals={"sts:ExternalId": ACCOUNT_ID}), allow_all
    )
    assert (
        iam.check_service_role(
            world,
            firehose_role,
            "s3:PutObject",
            "arn:aws:s3:::b/k",
            service_principal="firehose.amazonaws.com",
        )
        is None
    )


def test_check_service_role_applies_the_role_policies_and_boundary(aws: Callable[..., Any], local_aws: Any):
    world = local_aws.world
    boundary = aws("iam").create_policy(
        PolicyName=unique("svc-boundary"),
        PolicyDocument=document({"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}),
    )["Policy"]["Arn"]
    name = unique("svc-bounded")
    role_arn = aws("iam").create_role(
        RoleName=name, AssumeRolePolicyDocument=trust("pipes.amazonaws.com"), PermissionsBoundary=boundary
    )["Role"]["Arn"]
    aws("iam").put_role_policy(
        RoleName=name,
        PolicyName="access",
        PolicyDocument=document(
            {"Effect": "Allow", "Action": ["dynamodb:GetRecords", "kinesis:PutRecords"], "Resource": "*"}
        ),
    )
    stream = f"arn:aws:dynamodb:us-east-1:{ACCOUNT_ID}:table/t/stream/2026-01-01T00:00:00.000"
    assert (
        iam.check_service_role(
            world, role_arn, "dynamodb:GetRecords", stream, service_principal="pipes.amazonaws.com"
        )
        is None
    )
    denied = iam.check_service_role(
        world, role_arn, "dynamodb:ListStreams", None, service_principal="pipes.amazonaws.com"
    )
    assert denied is not None and denied.code == "AccessDeniedException"
    assert denied.message.endswith("because no identity-based policy allows the dynamodb:ListStreams action")
    target = f"arn:aws:kinesis:us-east-1:{ACCOUNT_ID}:stream/out"
    denied = iam.check_service_role(
        world, role_arn, "kinesis:PutRecords", target, service_principal="pipes.amazonaws.com"
    )
    assert denied is not None
    assert denied.message.endswith("because no permissions boundary allows the kinesis:PutRecords action")
    assert ":assumed-role/" + name + "/" in denied.caller_arn


# -- Pipes ------------------------------------------------------------------------------------------
PIPE_READS = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]


def create_pipe(aws: Callable[..., Any], table: dict[str, str], stream: dict[str, str], role_arn: str) -> str:
    name = unique("svc-pipe")
    aws("pipes").create_pipe(
        Name=name,
        Source=table["stream_arn"],
        Target=stream["arn"],
        RoleArn=role_arn,
        SourceParameters={"DynamoDBStreamParameters": {"StartingPosition": "TRIM_HORIZON", "BatchSize": 10}},
        TargetParameters={"KinesisStreamParameters": {"PartitionKey": "$.dynamodb.Keys.orderid.S"}},
    )
    return name


def settled(aws: Callable[..., Any], name: str) -> dict[str, Any]:
    return wait_until(
        lambda: (
            (d := aws("pipes").describe_pipe(Name=name))["CurrentState"] not in ("CREATING", "STARTING") and d
        ),
        timeout=30,
        what=f"pipe {name} past CREATING",
    )


def test_a_pipe_whose_role_trusts_another_service_fails_to_create(aws, table, stream):
    everything = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    _, role_arn = make_role(aws, trust("firehose.amazonaws.com"), everything)
    description = settled(aws, create_pipe(aws, table, stream, role_arn))
    assert description["CurrentState"] == "CREATE_FAILED"
    assert "pipes.amazonaws.com is not authorized to perform: sts:AssumeRole" in description["StateReason"]


def test_a_pipe_role_without_list_streams_fails_to_create_and_one_with_it_moves_records(aws, table, stream):
    scoped = [
        {"Effect": "Allow", "Action": PIPE_READS, "Resource": table["stream_arn"]},
        {"Effect": "Allow", "Action": ["kinesis:PutRecord", "kinesis:PutRecords"], "Resource": stream["arn"]},
    ]
    _, without = make_role(aws, trust("pipes.amazonaws.com"), *scoped)
    description = settled(aws, create_pipe(aws, table, stream, without))
    assert description["CurrentState"] == "CREATE_FAILED"
    assert "dynamodb:ListStreams because no identity-based policy allows" in description["StateReason"]

    list_streams = {"Effect": "Allow", "Action": "dynamodb:ListStreams", "Resource": "*"}
    _, complete = make_role(aws, trust("pipes.amazonaws.com"), *scoped, list_streams)
    assert settled(aws, create_pipe(aws, table, stream, complete))["CurrentState"] == "RUNNING"
    aws("dynamodb").put_item(TableName=table["name"], Item={"orderid": {"S": "o-1"}})
    wait_until(lambda: read_stream(aws("kinesis"), stream["name"]), timeout=30, what="the change in Kinesis")


def test_a_running_pipe_whose_role_loses_put_records_holds_its_records_until_it_is_back(aws, table, stream):
    reads = {"Effect": "Allow", "Action": [*PIPE_READS, "dynamodb:ListStreams"], "Resource": "*"}
    writes = {
        "Effect": "Allow",
        "Action": ["kinesis:PutRecord", "kinesis:PutRecords"],
        "Resource": stream["arn"],
    }
    role_name, role_arn = make_role(aws, trust("pipes.amazonaws.com"), reads, writes)
    name = create_pipe(aws, table, stream, role_arn)
    assert settled(aws, name)["CurrentState"] == "RUNNING"
    aws("iam").put_role_policy(RoleName=role_name, PolicyName="access", PolicyDocument=document(reads))
    ddb = aws("dynamodb")
    for index in range(5):
        ddb.put_item(TableName=table["name"], Item={"orderid": {"S": f"o-{index}"}})
    held = wait_until(
        lambda: "kinesis:PutRecord" in (aws("pipes").describe_pipe(Name=name).get("StateReason") or ""),
        timeout=30,
        what="the pipe's StateReason naming the denied write",
    )
    assert held
    assert read_stream(aws("kinesis"), stream["name"]) == []
    aws("iam").put_role_policy(
        RoleName=role_name, PolicyName="access", PolicyDocument=document(reads, writes)
    )
    moved = wait_until(
        lambda: len(found := read_stream(aws("kinesis"), stream["name"])) >= 5 and found,
        timeout=30,
        what="the five held changes",
    )
    assert sorted(r["key"] for r in moved) == [f"o-{i}" for i in range(5)]


# -- Glue crawler -----------------------------------------------------------------------------------
def test_a_crawler_whose_role_may_not_read_the_objects_fails_naming_the_denied_read(aws, bucket):
    from tests.local_aws.test_glue_crawler import Lake

    lake = Lake(aws)
    lake.put_json("lake/orders/part-0.json", [{"id": 1}])
    list_only = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{lake.bucket}"}
    _, role_arn = make_role(aws, trust("glue.amazonaws.com"), list_only)
    crawler = lake.crawl(lake.crawler(Role=role_arn))
    assert crawler["LastCrawl"]["Status"] == "FAILED"
    assert crawler["LastCrawl"]["ErrorMessage"] == (
        f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role_arn.rsplit('/', 1)[-1]}/GlueSession"
        f' is not authorized to perform: s3:GetObject on resource: "arn:aws:s3:::{lake.bucket}/lake/orders/part-0.json"'
        " because no identity-based policy allows the s3:GetObject action"
        " (Service: Amazon S3; Status Code: 403; Error Code: AccessDenied)"
    )
    _, pipes_role = make_role(
        aws, trust("pipes.amazonaws.com"), {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    )
    crawler = lake.crawl(lake.crawler(Role=pipes_role))
    assert crawler["LastCrawl"]["Status"] == "FAILED"
    assert crawler["LastCrawl"]["ErrorMessage"] == (
        f"Service is unable to assume provided role {pipes_role}. Please verify role's TrustPolicy."
    )


# -- Lambda event source mappings ------------------------------------------------------------------
def test_an_event_source_mapping_needs_an_execution_role_that_can_read_the_stream(aws):
    import io
    import zipfile

    from botocore.exceptions import ClientError

    kinesis = aws("kinesis")
    stream_name = unique("svc-events")
    kinesis.create_stream(StreamName=stream_name, ShardCount=1)
    stream_arn = kinesis.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return None\n")
    role_name, role_arn = make_role(aws, trust("lambda.amazonaws.com"))
    function = aws("lambda").create_function(
        FunctionName=unique("svc-fn"),
        Runtime="python3.12",
        Role=role_arn,
        Handler="app.handler",
        Code={"ZipFile": buffer.getvalue()},
    )["FunctionArn"]

    def create() -> dict[str, Any]:
        return aws("lambda").create_event_source_mapping(
            FunctionName=function, EventSourceArn=stream_arn, StartingPosition="TRIM_HORIZON"
        )

    with pytest.raises(ClientError) as caught:
        create()
    error = caught.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert error["Message"].startswith(
        f"Cannot access stream {stream_arn}. Please ensure the role can perform the GetRecords, "
        "GetShardIterator, DescribeStream, and ListStreams Actions on your stream in IAM."
    )
    reads = {
        "Effect": "Allow",
        "Action": [
            "kinesis:DescribeStream",
            "kinesis:DescribeStreamSummary",
            "kinesis:GetRecords",
            "kinesis:GetShardIterator",
            "kinesis:ListShards",
            "kinesis:ListStreams",
        ],
        "Resource": "*",
    }
    aws("iam").put_role_policy(RoleName=role_name, PolicyName="access", PolicyDocument=document(reads))
    mapping = create()
    aws("lambda").delete_event_source_mapping(UUID=mapping["UUID"])


def test_a_kinesis_source_role_that_may_not_read_the_stream_logs_access_denied_until_fixed(
    aws: Callable[..., Any], bucket: str, error_log: dict[str, Any]
):
    kinesis = aws("kinesis")
    stream_name = unique("svc-source")
    kinesis.create_stream(StreamName=stream_name, ShardCount=1)
    stream_arn = kinesis.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    writes = {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
    role_name, role_arn = make_role(aws, trust("firehose.amazonaws.com"), writes)
    aws("firehose").create_delivery_stream(
        DeliveryStreamName=unique("svc-hose"),
        DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": stream_arn, "RoleARN": role_arn},
        ExtendedS3DestinationConfiguration={
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "RoleARN": role_arn,
            "Prefix": "data/",
            "BufferingHints": FAST,
            "CloudWatchLoggingOptions": error_log,
        },
    )
    records = [f"change-{i}\n".encode() for i in range(10)]
    for record in records:
        kinesis.put_record(StreamName=stream_name, Data=record, PartitionKey="k")
    (entry, *_) = wait_for_errors(aws, error_log, code="Kinesis.AccessDenied")
    assert entry["message"].endswith(
        "because no identity-based policy allows the kinesis:DescribeStream action"
    )
    assert objects(aws, bucket) == {}

    reads = {
        "Effect": "Allow",
        "Action": [
            "kinesis:DescribeStream",
            "kinesis:GetShardIterator",
            "kinesis:GetRecords",
            "kinesis:ListShards",
        ],
        "Resource": stream_arn,
    }
    aws("iam").put_role_policy(
        RoleName=role_name, PolicyName="access", PolicyDocument=document(writes, reads)
    )
    wait_until(
        lambda: sum(body.count(b"\n") for body in objects(aws, bucket).values()) >= len(records),
        timeout=60,
        what="the held changes once the role may read the stream",
    )
    delivered = [
        line for body in objects(aws, bucket, "data/").values() for line in body.splitlines(keepends=True)
    ]
    assert delivered == records


def test_a_delivery_role_that_may_not_invoke_the_processor_fails_records_as_invoke_access_denied(
    aws: Callable[..., Any], bucket: str, function
):
    transform = function(TRANSFORM)
    writes = {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
    other_function = {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": f"{transform}-other"}
    _, role_arn = make_role(aws, trust("firehose.amazonaws.com"), writes, other_function)
    name = unique("svc-hose")
    aws("firehose").create_delivery_stream(
        DeliveryStreamName=name,
        ExtendedS3DestinationConfiguration={
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "RoleARN": role_arn,
            "Prefix": "ok/",
            "ErrorOutputPrefix": "failed/!{firehose:error-output-type}/",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 1},
            "ProcessingConfiguration": {
                "Enabled": True,
                "Processors": [lambda_processor(transform, retries=1)],
            },
        },
    )
    wait_active(aws("firehose"), name)
    send(aws, name, [b'{"a": 1}'])
    (body,) = wait_objects(aws, bucket, prefix="failed/processing-failed/").values()
    (error,) = lines(body)
    assert error["errorCode"] == "Lambda.InvokeAccessDenied"
    assert error["errorMessage"].endswith(
        f"lambda:InvokeFunction on resource: {transform} because no identity-based policy allows the "
        "lambda:InvokeFunction action"
    )
    assert objects(aws, bucket, "ok/") == {}
