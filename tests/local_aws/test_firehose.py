"""Firehose against local_aws, as a boto3 user sees it: buffering, prefixes, processors, S3 objects."""

from __future__ import annotations

import base64
import contextlib
import gzip
import io
import json
import re
import textwrap
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import unique, wait_until

ACCOUNT_ID = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/firehose-delivery"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
STAMP = r"\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}"

# A transformation function that follows Firehose's contract and reports what it was sent.
TRANSFORM = """
import base64, json

def handler(event, context):
    out = []
    for record in event["records"]:
        doc = json.loads(base64.b64decode(record["data"]))
        action = doc.get("action", "ok")
        if action == "drop":
            out.append({"recordId": record["recordId"], "result": "Dropped", "data": record["data"]})
        elif action == "fail":
            out.append({"recordId": record["recordId"], "result": "ProcessingFailed", "data": record["data"]})
        else:
            doc["seen"] = {
                "invocationId": bool(event.get("invocationId")),
                "deliveryStreamArn": event["deliveryStreamArn"],
                "region": event["region"],
                "source": event.get("sourceKinesisStreamArn"),
                "kinesis": record.get("kinesisRecordMetadata"),
                "arrival": record["approximateArrivalTimestamp"],
            }
            data = base64.b64encode(json.dumps(doc).encode()).decode()
            keys = {"tenant": doc.get("tenant", "none")}
            out.append({"recordId": record["recordId"], "result": "Ok", "data": data,
                        "metadata": {"partitionKeys": keys}})
    return {"records": out}
"""
ANSWERS_FIRST_ONLY = """
def handler(event, context):
    first = event["records"][0]
    return {"records": [{"recordId": first["recordId"], "result": "Ok", "data": first["data"]}]}
"""
RAISES = """
def handler(event, context):
    raise ValueError("transform exploded")
"""


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture
def bucket(aws: Callable[..., Any]) -> str:
    name = unique("firehose-bkt")
    aws("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture
def create_stream(aws: Callable[..., Any]) -> Iterator[Callable[..., str]]:
    """Create a delivery stream (ExtendedS3 by default); deletes it afterwards."""
    created: list[str] = []

    def create(bucket: str | None = None, name: str | None = None, **kwargs: Any) -> str:
        name = name or unique("hose")
        if bucket is not None:
            destination = {"BucketARN": f"arn:aws:s3:::{bucket}", "RoleARN": ROLE}
            destination.update(kwargs.pop("destination", {}))
            kwargs.setdefault("ExtendedS3DestinationConfiguration", destination)
        aws("firehose").create_delivery_stream(DeliveryStreamName=name, **kwargs)
        created.append(name)
        return name

    yield create
    for name in created:
        with contextlib.suppress(ClientError):
            aws("firehose").delete_delivery_stream(DeliveryStreamName=name)


def make_zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.py", textwrap.dedent(source))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def lambda_role(aws: Callable[..., Any]) -> str:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = aws("iam").create_role(RoleName=unique("fh-lambda"), AssumeRolePolicyDocument=json.dumps(policy))
    return role["Role"]["Arn"]


@pytest.fixture
def function(aws: Callable[..., Any], lambda_role: str) -> Iterator[Callable[[str], str]]:
    """Create a Python function from source; returns its ARN."""
    created: list[str] = []

    def create(source: str) -> str:
        name = unique("fh-transform")
        answer = aws("lambda").create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=lambda_role,
            Handler="app.handler",
            Code={"ZipFile": make_zip(source)},
            Timeout=30,
        )
        created.append(name)
        return answer["FunctionArn"]

    yield create
    for name in created:
        with contextlib.suppress(ClientError):
            aws("lambda").delete_function(FunctionName=name)


def lambda_processor(arn: str, retries: int = 1, **extra: str) -> dict[str, Any]:
    params = {"LambdaArn": arn, "NumberOfRetries": str(retries), "BufferIntervalInSeconds": "60", **extra}
    return {
        "Type": "Lambda",
        "Parameters": [{"ParameterName": k, "ParameterValue": v} for k, v in params.items()],
    }


def objects(aws: Callable[..., Any], bucket: str, prefix: str = "") -> dict[str, bytes]:
    """Every object under ``prefix``, gunzipped where the key says so."""
    found: dict[str, bytes] = {}
    pages = aws("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for item in page.get("Contents", []):
            body = aws("s3").get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            found[item["Key"]] = gzip.decompress(body) if item["Key"].endswith(".gz") else body
    return found


def wait_objects(aws: Callable[..., Any], bucket: str, count: int = 1, prefix: str = "") -> dict[str, bytes]:
    return wait_until(
        lambda: (found := objects(aws, bucket, prefix)) and len(found) >= count and found,
        timeout=30,
        what=f"{count} objects under s3://{bucket}/{prefix}",
    )


def lines(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def error_code(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


# -- DirectPut buffering, naming, compression ---------------------------------------------------
def test_put_record_batch_buffers_until_the_size_hint_is_reached(
    aws: Callable[..., Any], bucket: str, create_stream
):
    name = create_stream(bucket, destination={"BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 900}})
    record = b"x" * 1023 + b"\n"
    first = aws("firehose").put_record_batch(DeliveryStreamName=name, Records=[{"Data": record}] * 400)
    assert first["FailedPutCount"] == 0
    assert first["Encrypted"] is False
    assert len(first["RequestResponses"]) == 400
    assert len({r["RecordId"] for r in first["RequestResponses"]}) == 400
    time.sleep(1.0)
    assert objects(aws, bucket) == {}, "400 KiB is below the 1 MiB hint: nothing may be delivered yet"

    for _ in range(2):  # 1,200 KiB in all: the size hint is passed, the 900 s interval is not
        aws("firehose").put_record_batch(DeliveryStreamName=name, Records=[{"Data": record}] * 400)
    delivered = wait_objects(aws, bucket)
    body = b"".join(delivered.values())
    assert len(body) >= 1024 * 1024
    assert set(body.splitlines()) == {b"x" * 1023}


def test_put_record_is_delivered_after_the_interval_with_the_default_prefix_and_aws_object_name(
    aws: Callable[..., Any], bucket: str, create_stream
):
    name = create_stream(bucket, destination={"BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 1}})
    before = datetime.now(UTC)
    answer = aws("firehose").put_record(DeliveryStreamName=name, Record={"Data": b"one\n"})
    aws("firehose").put_record(DeliveryStreamName=name, Record={"Data": b"two\n"})
    after = datetime.now(UTC)
    assert answer["RecordId"] and answer["Encrypted"] is False

    delivered = wait_objects(aws, bucket)
    assert list(delivered.values()) == [b"one\ntwo\n"]
    key = next(iter(delivered))
    hours = {f"{moment:%Y/%m/%d/%H}/" for moment in (before, after)}
    assert key[:14] in hours, key
    assert re.fullmatch(rf"\d{{4}}/\d{{2}}/\d{{2}}/\d{{2}}/{re.escape(name)}-1-{STAMP}-{UUID}", key), key


def test_gzip_objects_are_real_gzip_with_a_gz_suffix(aws: Callable[..., Any], bucket: str, create_stream):
    name = create_stream(
        bucket,
        destination={"CompressionFormat": "GZIP", "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}},
    )
    aws("firehose").put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"a\n"}, {"Data": b"b\n"}])
    wait_objects(aws, bucket)
    keys = [item["Key"] for item in aws("s3").list_objects_v2(Bucket=bucket)["Contents"]]
    assert len(keys) == 1 and keys[0].endswith(".gz")
    raw = aws("s3").get_object(Bucket=bucket, Key=keys[0])["Body"].read()
    assert raw[:2] == b"\x1f\x8b"
    assert gzip.decompress(raw) == b"a\nb\n"


def test_prefix_expressions_are_evaluated(aws: Callable[..., Any], bucket: str, create_stream):
    name = create_stream(
        bucket,
        destination={
            "Prefix": "data/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
            "hour=!{timestamp:HH}/!{firehose:random-string}/",
            "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0},
        },
    )
    now = datetime.now(UTC)
    aws("firehose").put_record(DeliveryStreamName=name, Record={"Data": b"hello"})
    key = next(iter(wait_objects(aws, bucket)))
    match = re.fullmatch(
        rf"data/year=(\d{{4}})/month=(\d{{2}})/day=(\d{{2}})/hour=(\d{{2}})/([a-z0-9]{{11}})/"
        rf"{re.escape(name)}-1-{STAMP}-{UUID}",
        key,
    )
    assert match, key
    assert match.group(1) == f"{now:%Y}" and match.group(2) == f"{now:%m}"


def test_a_static_prefix_gets_the_default_time_appended(aws: Callable[..., Any], bucket: str, create_stream):
    name = create_stream(
        bucket, destination={"Prefix": "static/", "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}}
    )
    aws("firehose").put_record(DeliveryStreamName=name, Record={"Data": b"x"})
    key = next(iter(wait_objects(aws, bucket)))
    assert re.fullmatch(rf"static/\d{{4}}/\d{{2}}/\d{{2}}/\d{{2}}/{re.escape(name)}-1-{STAMP}-{UUID}", key), (
        key
    )


def test_describe_shows_active_and_update_destination_bumps_version_and_changes_buffering_in_place(
    aws: Callable[..., Any], bucket: str, create_stream
):
    name = create_stream(bucket, destination={"BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 900}})
    description = aws("firehose").describe_delivery_stream(DeliveryStreamName=name)[
        "DeliveryStreamDescription"
    ]
    assert description["DeliveryStreamStatus"] == "ACTIVE"
    assert description["VersionId"] == "1"
    extended = description["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert extended["BufferingHints"] == {"SizeInMBs": 5, "IntervalInSeconds": 900}
    assert extended["CompressionFormat"] == "UNCOMPRESSED"

    aws("firehose").put_record(DeliveryStreamName=name, Record={"Data": b"waiting\n"})
    time.sleep(0.5)
    assert objects(aws, bucket) == {}
    aws("firehose").update_destination(
        DeliveryStreamName=name,
        CurrentDeliveryStreamVersionId="1",
        DestinationId=description["Destinations"][0]["DestinationId"],
        ExtendedS3DestinationUpdate={"BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}},
    )
    updated = aws("firehose").describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    assert updated["VersionId"] == "2"
    delivered = wait_objects(aws, bucket)
    assert list(delivered.values()) == [b"waiting\n"]
    # The object name carries the version that delivered it.
    assert re.search(rf"/{re.escape(name)}-2-{STAMP}-{UUID}$", next(iter(delivered)))


# -- validation ------------------------------------------------------------------------------
def test_put_validation_errors_use_aws_codes(aws: Callable[..., Any], bucket: str, create_stream):
    name = create_stream(bucket)
    firehose = aws("firehose")
    code, message = error_code(
        lambda: firehose.put_record(DeliveryStreamName=unique("nope"), Record={"Data": b"x"})
    )
    assert code == "ResourceNotFoundException" and "not found" in message
    code, _ = error_code(
        lambda: firehose.put_record_batch(DeliveryStreamName=unique("nope"), Records=[{"Data": b"x"}])
    )
    assert code == "ResourceNotFoundException"

    code, message = error_code(
        lambda: firehose.put_record(DeliveryStreamName=name, Record={"Data": b"x" * 1_024_001})
    )
    assert code == "ValidationException" and "1024000" in message and "'record.data'" in message
    code, message = error_code(
        lambda: firehose.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"x"}] * 501)
    )
    assert code == "ValidationException" and "500" in message
    code, message = error_code(
        lambda: firehose.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"x" * 1_000_000}] * 5)
    )
    assert code == "InvalidArgumentException" and "4 MB" in message


@pytest.mark.parametrize(
    ("destination", "fragment"),
    [
        ({"Prefix": "p/!{timestamp:yyyy}/"}, "ErrorOutputPrefix cannot be null or empty"),
        ({"Prefix": "p/!{firehose:error-output-type}/", "ErrorOutputPrefix": "e/"}, "error-output-type"),
        (
            {"Prefix": "p/!{nonsense:x}/", "ErrorOutputPrefix": "e/!{firehose:error-output-type}/"},
            "namespace",
        ),
        (
            {"Prefix": "p/!{timestamp:yyyy}/", "ErrorOutputPrefix": "e/!{timestamp:yyyy}/"},
            "error-output-type",
        ),
        (
            {
                "Prefix": "p/!{partitionKeyFromQuery:c}/",
                "ErrorOutputPrefix": "e/!{firehose:error-output-type}/",
            },
            "Dynamic Partitioning Namespaces can only be part of a prefix expression when Dynamic Partitioning",
        ),
        (
            {
                "Prefix": "p/!{timestamp:yyyy}/",
                "ErrorOutputPrefix": "e/!{firehose:error-output-type}/",
                "DynamicPartitioningConfiguration": {"Enabled": True},
            },
            "partitionKeyFromQuery or partitionKeyFromLambda",
        ),
    ],
)
def test_create_rejects_prefixes_as_aws_does(
    bucket: str, create_stream, destination: dict[str, Any], fragment: str
):
    code, message = error_code(lambda: create_stream(bucket, destination=destination))
    assert code == "InvalidArgumentException"
    assert fragment in message


def test_update_destination_validates_prefixes_too(aws: Callable[..., Any], bucket: str, create_stream):
    name = create_stream(bucket)
    code, message = error_code(
        lambda: aws("firehose").update_destination(
            DeliveryStreamName=name,
            CurrentDeliveryStreamVersionId="1",
            DestinationId="destinationId-000000000001",
            ExtendedS3DestinationUpdate={"Prefix": "p/!{timestamp:yyyy}/"},
        )
    )
    assert code == "InvalidArgumentException" and "ErrorOutputPrefix" in message
    description = aws("firehose").describe_delivery_stream(DeliveryStreamName=name)[
        "DeliveryStreamDescription"
    ]
    assert description["VersionId"] == "1"


# -- Kinesis source ------------------------------------------------------------------------
@pytest.fixture
def kinesis_stream(aws: Callable[..., Any]) -> Iterator[tuple[str, str]]:
    name = unique("fh-source")
    aws("kinesis").create_stream(StreamName=name, ShardCount=2)
    arn = aws("kinesis").describe_stream(StreamName=name)["StreamDescription"]["StreamARN"]
    yield name, arn
    aws("kinesis").delete_stream(StreamName=name)


def test_kinesis_source_reads_from_latest_and_checkpoints_only_after_s3_accepts(
    aws: Callable[..., Any], local_aws: Any, create_stream, kinesis_stream: tuple[str, str]
):
    stream_name, stream_arn = kinesis_stream
    aws("kinesis").put_record(StreamName=stream_name, Data=b"before-the-delivery-stream\n", PartitionKey="k0")
    bucket = unique("fh-late-bkt")  # does not exist yet: the first writes fail and must be retried
    name = create_stream(
        bucket,
        DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": stream_arn, "RoleARN": ROLE},
        destination={"Prefix": "cdc/", "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}},
    )
    description = aws("firehose").describe_delivery_stream(DeliveryStreamName=name)[
        "DeliveryStreamDescription"
    ]
    assert description["DeliveryStreamType"] == "KinesisStreamAsSource"
    assert description["Source"]["KinesisStreamSourceDescription"]["KinesisStreamARN"] == stream_arn

    code, message = error_code(
        lambda: aws("firehose").put_record(DeliveryStreamName=name, Record={"Data": b"x"})
    )
    assert (code, message) == (
        "InvalidArgumentException",
        "This operation is not permitted on KinesisStreamAsSource delivery stream type.",
    )

    sent = [f"change-{i}\n".encode() for i in range(40)]
    aws("kinesis").put_records(
        StreamName=stream_name,
        Records=[{"Data": data, "PartitionKey": f"k{i}"} for i, data in enumerate(sent)],
    )
    store = local_aws.world.store("firehose")["streams"][description["DeliveryStreamARN"]]
    time.sleep(1.0)
    shards = aws("kinesis").list_shards(StreamName=stream_name)["Shards"]
    latest = {
        shard["ShardId"]: int(
            aws("kinesis").get_records(
                ShardIterator=aws("kinesis").get_shard_iterator(
                    StreamName=stream_name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            )["Records"][-1]["SequenceNumber"]
        )
        for shard in shards
    }
    assert all(store["shards"][shard] < latest[shard] for shard in latest), (
        "no checkpoint before S3 has the data"
    )

    aws("s3").create_bucket(Bucket=bucket)
    wait_until(
        lambda: store["shards"] == latest, timeout=30, what="checkpoints at the last delivered records"
    )
    delivered = b"".join(objects(aws, bucket, "cdc/").values())
    assert sorted(delivered.splitlines(keepends=True)) == sorted(sent), (
        "every record exactly once, none older"
    )


# -- dynamic partitioning with inline parsing (no Lambda) ----------------------------------
def test_dynamic_partitioning_from_query_groups_one_object_per_partition(
    aws: Callable[..., Any], bucket: str, create_stream
):
    name = create_stream(
        bucket,
        destination={
            "Prefix": "orders/customer=!{partitionKeyFromQuery:customer}/region=!{partitionKeyFromQuery:region}/",
            "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/",
            "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 1},
            "DynamicPartitioningConfiguration": {"Enabled": True},
            "ProcessingConfiguration": {
                "Enabled": True,
                "Processors": [
                    {
                        "Type": "MetadataExtraction",
                        "Parameters": [
                            {
                                "ParameterName": "MetadataExtractionQuery",
                                "ParameterValue": "{customer: .customer, region: .address.region}",
                            },
                            {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"},
                        ],
                    },
                    {"Type": "AppendDelimiterToRecord", "Parameters": []},
                ],
            },
        },
    )
    docs = [
        {"customer": "c1", "address": {"region": "eu"}, "n": 1},
        {"customer": "c2", "address": {"region": "us"}, "n": 2},
        {"customer": "c1", "address": {"region": "eu"}, "n": 3},
        {"customer": "c3", "n": 4},  # no region: cannot be partitioned
    ]
    aws("firehose").put_record_batch(
        DeliveryStreamName=name, Records=[{"Data": json.dumps(d).encode()} for d in docs]
    )
    delivered = wait_objects(aws, bucket, count=3)
    by_partition = {key.rsplit("/", 1)[0]: body for key, body in delivered.items()}
    assert set(by_partition) == {
        "orders/customer=c1/region=eu",
        "orders/customer=c2/region=us",
        "errors/dynamic-partitioning-failed",
    }
    assert [d["n"] for d in lines(by_partition["orders/customer=c1/region=eu"])] == [1, 3]
    assert [d["n"] for d in lines(by_partition["orders/customer=c2/region=us"])] == [2]
    (failure,) = lines(by_partition["errors/dynamic-partitioning-failed"])
    assert failure["errorCode"] == "DynamicPartitioning.MetadataExtractionFailed"
    assert json.loads(base64.b64decode(failure["rawData"])) == docs[3]


# -- the Lambda processor --------------------------------------------------------------------
def test_lambda_processor_contract_ok_dropped_and_processing_failed_with_kinesis_source(
    aws: Callable[..., Any], bucket: str, create_stream, function, kinesis_stream: tuple[str, str]
):
    stream_name, stream_arn = kinesis_stream
    transform = function(TRANSFORM)
    name = create_stream(
        bucket,
        DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": stream_arn, "RoleARN": ROLE},
        destination={
            "Prefix": "good/",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 1},
            "ProcessingConfiguration": {
                "Enabled": True,
                "Processors": [
                    lambda_processor(transform),
                    {"Type": "AppendDelimiterToRecord", "Parameters": []},
                ],
            },
        },
    )
    delivery_arn = aws("firehose").describe_delivery_stream(DeliveryStreamName=name)[
        "DeliveryStreamDescription"
    ]["DeliveryStreamARN"]
    docs = [{"n": 1}, {"n": 2, "action": "drop"}, {"n": 3, "action": "fail"}, {"n": 4}]
    for doc in docs:
        aws("kinesis").put_record(StreamName=stream_name, Data=json.dumps(doc).encode(), PartitionKey="same")

    good = wait_objects(aws, bucket, prefix="good/")
    failed = wait_objects(aws, bucket, prefix="good/processing-failed/")
    ok = [d for key, body in good.items() if "/processing-failed/" not in key for d in lines(body)]
    assert [d["n"] for d in ok] == [1, 4]
    seen = ok[0]["seen"]
    assert seen["invocationId"] is True
    assert seen["deliveryStreamArn"] == delivery_arn
    assert seen["region"] == "us-east-1"
    assert seen["source"] == stream_arn
    assert set(seen["kinesis"]) >= {
        "shardId",
        "partitionKey",
        "approximateArrivalTimestamp",
        "sequenceNumber",
    }
    assert seen["kinesis"]["partitionKey"] == "same"
    assert isinstance(seen["arrival"], int)

    key, body = next(iter(failed.items()))
    assert re.fullmatch(
        rf"good/processing-failed/\d{{4}}/\d{{2}}/\d{{2}}/\d{{2}}/{re.escape(name)}-1-{STAMP}-{UUID}", key
    )
    (error,) = lines(body)
    assert set(error) == {
        "attemptsMade",
        "arrivalTimestamp",
        "errorCode",
        "errorMessage",
        "attemptEndingTimestamp",
        "rawData",
        "lambdaArn",
    }
    assert error["errorCode"] == "Lambda.ProcessingFailed"
    assert error["lambdaArn"] == transform
    assert error["attemptsMade"] == 1
    assert error["attemptEndingTimestamp"] >= error["arrivalTimestamp"]
    assert json.loads(base64.b64decode(error["rawData"])) == docs[2]


@pytest.mark.parametrize(
    ("source", "expected_code"),
    [(ANSWERS_FIRST_ONLY, "Lambda.MissingRecordId"), (RAISES, "Lambda.FunctionError")],
)
def test_a_failing_transformation_is_retried_then_every_record_goes_to_the_error_prefix(
    aws: Callable[..., Any], bucket: str, create_stream, function, source: str, expected_code: str
):
    transform = function(source)
    name = create_stream(
        bucket,
        destination={
            "Prefix": "ok/",
            "ErrorOutputPrefix": "failed/!{firehose:error-output-type}/!{timestamp:yyyy}/",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 1},
            "ProcessingConfiguration": {
                "Enabled": True,
                "Processors": [lambda_processor(transform, retries=2)],
            },
        },
    )
    raws = [b'{"a": 1}', b'{"a": 2}', b'{"a": 3}']
    aws("firehose").put_record_batch(DeliveryStreamName=name, Records=[{"Data": raw} for raw in raws])
    failed = wait_objects(aws, bucket, prefix="failed/")
    key, body = next(iter(failed.items()))
    assert key.startswith(f"failed/processing-failed/{datetime.now(UTC):%Y}/")
    errors = lines(body)
    assert [base64.b64decode(e["rawData"]) for e in errors] == raws
    assert {e["errorCode"] for e in errors} == {expected_code}
    assert {e["attemptsMade"] for e in errors} == {3}  # the first try and NumberOfRetries=2
    assert all(e["errorMessage"] and e["lambdaArn"] == transform for e in errors)
    assert objects(aws, bucket, "ok/") == {}


def test_dynamic_partitioning_from_lambda_partition_keys(
    aws: Callable[..., Any], bucket: str, create_stream, function
):
    transform = function(TRANSFORM)
    name = create_stream(
        bucket,
        destination={
            "Prefix": "t/tenant=!{partitionKeyFromLambda:tenant}/",
            "ErrorOutputPrefix": "e/!{firehose:error-output-type}/",
            "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 1},
            "DynamicPartitioningConfiguration": {"Enabled": True},
            "ProcessingConfiguration": {
                "Enabled": True,
                "Processors": [
                    lambda_processor(transform),
                    {"Type": "AppendDelimiterToRecord", "Parameters": []},
                ],
            },
        },
    )
    docs = [{"tenant": "north", "n": 1}, {"tenant": "south", "n": 2}, {"tenant": "north", "n": 3}]
    aws("firehose").put_record_batch(
        DeliveryStreamName=name, Records=[{"Data": json.dumps(d).encode()} for d in docs]
    )
    delivered = wait_objects(aws, bucket, count=2, prefix="t/")
    by_tenant = {key.split("/")[1]: [d["n"] for d in lines(body)] for key, body in delivered.items()}
    assert by_tenant == {"tenant=north": [1, 3], "tenant=south": [2]}
