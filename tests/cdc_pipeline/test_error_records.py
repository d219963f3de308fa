"""``check_error_records``' count: every error type under the error prefix, by the window of arrival."""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cdc_pipeline.definitions import get_pipeline
from cdc_pipeline.settings import REPO_ROOT
from cdc_pipeline.workflows.common import error_prefix
from cdc_pipeline.workflows.hourly.error_records import count_in_window
from tests.support import unique

HOUR = datetime(2026, 11, 30, 3, tzinfo=UTC)
#: The run's window: the hour shifted by the delivery wait.
START, END = HOUR + timedelta(minutes=5), HOUR + timedelta(hours=1, minutes=5)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def encoded(document: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


def put(s3: Any, bucket: str, key: str, *documents: dict[str, Any]) -> None:
    body = "".join(json.dumps(document) + "\n" for document in documents)
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode())


def test_a_format_conversion_failure_is_counted_beside_processing_failures_and_named_by_type(
    aws: Callable[..., Any],
) -> None:
    s3, bucket, orders = aws("s3"), unique("errors"), get_pipeline("sales_orders")
    s3.create_bucket(Bucket=bucket)
    # What the Pipe put on the stream, the transform refused: its rawData is the stream record.
    stream_record = {
        "eventName": "MODIFY",
        "dynamodb": {"NewImage": {"updated_at": {"S": stamp(HOUR + timedelta(minutes=2))}}},
    }
    processing = {
        "attemptsMade": 4,
        "arrivalTimestamp": int((HOUR + timedelta(minutes=10)).timestamp() * 1000),
        "errorCode": "Lambda.ProcessingFailed",
        "errorMessage": "The Lambda function was successfully invoked but it returned an error result.",
        "rawData": encoded(stream_record),
    }
    # A row the conversion could not write: a REMOVE of this hour, whose old image's updated_at is the
    # hour before (its event_time is the hour it belongs to).
    removed = {
        "event_name": "REMOVE",
        "event_time": stamp(HOUR + timedelta(minutes=50)),
        "updated_at": stamp(HOUR - timedelta(minutes=20)),
        "quantity": "not a number",
    }

    def conversion(arrived: datetime) -> dict[str, Any]:
        return {
            "attemptsMade": 1,
            "arrivalTimestamp": int(arrived.timestamp() * 1000),
            "ErrorCode": "DataFormatConversion.MalformedData",
            "ErrorMessage": "quantity: not a number is not a bigint",
            "attemptEndingTimestamp": int(arrived.timestamp() * 1000) + 5,
            "rawData": encoded(removed),
            "dataCatalogTable": {"databaseName": "cdc_lake", "tableName": "sales_orders"},
        }

    next_hour = HOUR + timedelta(hours=1)
    processing_key = error_prefix(orders, HOUR, "processing-failed") + "delivery-1"
    put(s3, bucket, processing_key, processing)
    put(
        s3,
        bucket,
        error_prefix(orders, HOUR, "format-conversion-failed") + "delivery-1",
        conversion(HOUR + timedelta(minutes=2)),  # before the window: the previous run counted it
    )
    put(
        s3,
        bucket,
        error_prefix(orders, next_hour, "format-conversion-failed") + "delivery-2",
        conversion(next_hour + timedelta(minutes=1)),
    )
    unpartitioned = {
        **conversion(next_hour + timedelta(minutes=3)),
        "ErrorCode": "DynamicPartitioning.MetadataExtractionFailed",
    }
    put(
        s3,
        bucket,
        error_prefix(orders, next_hour, "dynamic-partitioning-failed") + "delivery-3",
        unpartitioned,
    )
    found = count_in_window(s3, bucket, orders, START, END, HOUR)
    assert found["error_records"] == 3, found
    assert (found["processing_failed"], found["format_conversion_failed"]) == (1, 1), found
    assert found["dynamic_partitioning_failed"] == 1, found
    assert (found["of_this_hour"], found["of_other_hours"], found["unknown_hour"]) == (3, 0, 0), found
    assert found["first"] == processing_key


def load_consumer() -> Any:
    """The Kinesis consumer's handler, by path as its tests load it (its shared modules beside it)."""
    shared = str(REPO_ROOT / "lambda" / "shared")
    if shared not in sys.path:
        sys.path.insert(0, shared)
    path = REPO_ROOT / "lambda" / "kinesis_consumer" / "handler.py"
    spec = importlib.util.spec_from_file_location("kinesis_consumer_handler_errors", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_kinesis_consumers_malformed_records_are_counted_as_processing_failed(
    aws: Callable[..., Any],
) -> None:
    s3, bucket, events = aws("s3"), unique("consumer-errors"), get_pipeline("user_events")
    s3.create_bucket(Bucket=bucket)
    now = datetime.now(UTC)
    sequence = "49590338271490256608559692538361571095921575989136588898"
    record = {
        "kinesis": {
            "partitionKey": "user-1",
            "sequenceNumber": sequence,
            "data": base64.b64encode(b"not json").decode(),
            "approximateArrivalTimestamp": now.timestamp(),
        },
        "eventSource": "aws:kinesis",
        "eventID": f"shardId-000000000000:{sequence}",
    }
    written = load_consumer().handle({"Records": [record]}, s3, bucket=bucket, dataset=events.name)
    assert written["malformed"] == 1 and written["objects"][0].startswith(
        error_prefix(events, now, "processing-failed")
    ), written
    # The consumer's arrival is ISO text, not a number: the object's LastModified (now) stands for it.
    hour = now.replace(minute=0, second=0, microsecond=0)
    found = count_in_window(s3, bucket, events, now - timedelta(hours=1), now + timedelta(hours=1), hour)
    assert found["error_records"] == 1, found
    assert (found["processing_failed"], found["format_conversion_failed"]) == (1, 0), found
    assert found["unknown_hour"] == 1  # "not json" has no event time
    assert found["first"] == written["objects"][0]
