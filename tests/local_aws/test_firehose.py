"""Firehose against local_aws, as a boto3 user sees it: buffering, prefixes, processors, S3 objects."""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.local_aws.firehose_helpers import (
    APPEND_DELIMITER,
    ROLE,
    STAMP,
    TRANSFORM,
    UUID,
    bucket,
    create_stream,
    error_code,
    error_log,
    function,
    kinesis_stream,
    lambda_processor,
    lambda_role,
    lines,
    metadata_extraction,
    objects,
    processing,
    wait_for_errors,
    wait_objects,
)
from tests.support import unique, wait_until

__all__ = ["bucket", "create_stream", "error_log", "function", "kinesis_stream", "lambda_role"]  # fixtures

ANSWERS_FIRST_ONLY = """
def handler(event, context):
    first = event["records"][0]
    return {"records": [{"recordId": first["recordId"], "result": "Ok", "data": first["data"]}]}
"""
RAISES = """
def handler(event, context):
    raise ValueError("transform exploded")
"""


# -- DirectPut buffering, naming, compression ---------------------------------------------------
def test_put_record_batch_buffers_until_the_size_hint_is_reached(
    aws: Callable[..., Any], bucket: str, create_stream
):
    name = create_stream(bucket, destination={"BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 900}})
    below, above = b"a" * 1023 + b"\n", b"b" * 1023 + b"\n"
    first = aws("firehose").put_record_batch(DeliveryStreamName=name, Records=[{"Data": below}] * 400)
    assert first["FailedPutCount"] == 0
    assert first["Encrypted"] is False
    assert len(first["RequestResponses"]) == 400
    assert len({r["RecordId"] for r in first["RequestResponses"]}) == 400

    # 1,200 KiB in all: the size hint is passed, the 900 s interval is not. These later records
    # are the marker: had the first 400 KiB (below the 1 MiB hint) been delivered on their own,
    # the first object would hold them alone.
    for _ in range(2):
        aws("firehose").put_record_batch(DeliveryStreamName=name, Records=[{"Data": above}] * 400)
    delivered = wait_objects(aws, bucket)
    sizes = sorted(len(body) for body in delivered.values())
    assert len(delivered) == 1, f"one object of the size hint, not objects of {sizes} bytes"
    (body,) = delivered.values()
    assert len(body) >= 1024 * 1024, "an object is written once the size hint is reached, not before"
    assert body.startswith(below * 400) and set(body[400 * 1024 :].splitlines()) == {b"b" * 1023}


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
    name = create_stream(bucket, destination={"BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 900}})
    description = aws("firehose").describe_delivery_stream(DeliveryStreamName=name)[
        "DeliveryStreamDescription"
    ]
    assert description["DeliveryStreamStatus"] == "ACTIVE"
    assert description["VersionId"] == "1"
    extended = description["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert extended["BufferingHints"] == {"SizeInMBs": 1, "IntervalInSeconds": 900}
    assert extended["CompressionFormat"] == "UNCOMPRESSED"

    # 1 MiB of filler, then "waiting" in the same request as the filler's last records: the
    # filler's object (the size hint) is the marker that the worker has "waiting" in its buffer,
    # where the 900 s interval must keep it.
    filler = b"f" * 1023 + b"\n"
    for count in (500, 500):
        aws("firehose").put_record_batch(DeliveryStreamName=name, Records=[{"Data": filler}] * count)
    last = [{"Data": filler}] * 24 + [{"Data": b"waiting\n"}]
    aws("firehose").put_record_batch(DeliveryStreamName=name, Records=last)
    ((full_key, full),) = wait_objects(aws, bucket).items()
    assert full == filler * 1024
    assert re.search(rf"/{re.escape(name)}-1-{STAMP}-{UUID}$", full_key)

    aws("firehose").update_destination(
        DeliveryStreamName=name,
        CurrentDeliveryStreamVersionId="1",
        DestinationId=description["Destinations"][0]["DestinationId"],
        ExtendedS3DestinationUpdate={"BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}},
    )
    updated = aws("firehose").describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    assert updated["VersionId"] == "2"
    delivered = wait_objects(aws, bucket, count=2)
    del delivered[full_key]
    assert list(delivered.values()) == [b"waiting\n"]
    # The object name carries the version that delivered it: version 2, with the new interval.
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
def test_kinesis_source_reads_from_latest_and_checkpoints_only_after_s3_accepts(
    aws: Callable[..., Any],
    local_aws: Any,
    create_stream,
    kinesis_stream: tuple[str, str],
    error_log: dict[str, Any],
):
    stream_name, stream_arn = kinesis_stream
    aws("kinesis").put_record(StreamName=stream_name, Data=b"before-the-delivery-stream\n", PartitionKey="k0")
    bucket = unique("fh-late-bkt")  # does not exist yet: the first writes fail and must be retried
    name = create_stream(
        bucket,
        DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": stream_arn, "RoleARN": ROLE},
        destination={
            "Prefix": "cdc/",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0},
            "CloudWatchLoggingOptions": error_log,
        },
    )
    description = aws("firehose").describe_delivery_stream(DeliveryStreamName=name)[
        "DeliveryStreamDescription"
    ]
    store = local_aws.world.store("firehose")["streams"][description["DeliveryStreamARN"]]
    checkpoints = dict(store["shards"])  # LATEST when the delivery stream was created
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
    # Two failed writes in the error log: the records were read, a flush was tried and retried.
    wait_for_errors(aws, error_log, count=2, code="S3.NoSuchBucket")
    assert store["shards"] == checkpoints, "no checkpoint moves before S3 has the data"

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
            "ProcessingConfiguration": processing(
                metadata_extraction("{customer: .customer, region: .address.region}"), APPEND_DELIMITER
            ),
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
            "ProcessingConfiguration": processing(lambda_processor(transform), APPEND_DELIMITER),
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
            "ProcessingConfiguration": processing(lambda_processor(transform, retries=2)),
        },
    )
    raws = [b'{"a": 1}', b'{"a": 2}', b'{"a": 3}']
    before = datetime.now(UTC)
    aws("firehose").put_record_batch(DeliveryStreamName=name, Records=[{"Data": raw} for raw in raws])
    after = datetime.now(UTC)
    failed = wait_objects(aws, bucket, prefix="failed/")
    key, body = next(iter(failed.items()))
    assert key.split("/", 3)[:3] in [
        ["failed", "processing-failed", f"{moment:%Y}"] for moment in (before, after)
    ]
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
            "ProcessingConfiguration": processing(lambda_processor(transform), APPEND_DELIMITER),
        },
    )
    docs = [{"tenant": "north", "n": 1}, {"tenant": "south", "n": 2}, {"tenant": "north", "n": 3}]
    aws("firehose").put_record_batch(
        DeliveryStreamName=name, Records=[{"Data": json.dumps(d).encode()} for d in docs]
    )
    delivered = wait_objects(aws, bucket, count=2, prefix="t/")
    by_tenant = {key.split("/")[1]: [d["n"] for d in lines(body)] for key, body in delivered.items()}
    assert by_tenant == {"tenant=north": [1, 3], "tenant=south": [2]}
