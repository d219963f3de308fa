"""The Kinesis consumer against real Lambda Kinesis event shapes, with a stub S3 client."""

from __future__ import annotations

import base64
import copy
import importlib.util
import json
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
# In the zip, the handler's own modules (parquet_rows) sit beside it at the root.
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))


def _load_handler() -> Any:
    # By path: the function is deployed as a zip with handler.py at its root, not as a package.
    spec = importlib.util.spec_from_file_location("kinesis_consumer_handler", HERE.parent / "handler.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


handler = _load_handler()

PROCESSED = datetime(2024, 6, 1, 12, 0, 5, 250_000, tzinfo=UTC)
# AWS's documented sequence numbers have 56 digits.
SEQ_1 = "49590338271490256608559692538361571095921575989136588898"
SEQ_2 = "49590338271490256608559692540925702759324208523137515618"
SEQ_3 = "49590338271490256608559692541925702759324208523137515619"
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/cdc-lake-user-events-changes"


class StubS3:
    """The calls the handler makes, recorded; objects kept by key so an overwrite replaces."""

    def __init__(self, fail: bool = False) -> None:
        self.objects: dict[str, bytes] = {}
        self.calls: list[dict[str, Any]] = []
        self.fail = fail

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.fail:
            raise ConnectionError("S3 is unreachable")
        assert kwargs["Bucket"] == "lake"
        self.objects[kwargs["Key"]] = kwargs["Body"]
        return {"ETag": '"x"'}

    def rows(self, key: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.objects[key].decode().splitlines()]


def user_event(**changes: Any) -> dict[str, Any]:
    event = {
        "event_id": "6f1c0b7e-3d2a-4b8e-9a61-2f0d5c4e8b11",
        "user_id": "user-1",
        "session_id": "s-1",
        "event_type": "purchase",
        "page": "/checkout",
        "device": "mobile",
        "country": "DE",
        "event_time": "2024-06-01T11:59:58.123Z",
        "amount": "RAW",
    }
    event.update(changes)
    return event


def encode(payload: Any, raw_amount: str = "59.90") -> str:
    """base64 of the JSON the producer sends; `amount` is written as an exact JSON number."""
    text = payload if isinstance(payload, str) else json.dumps(payload).replace('"RAW"', raw_amount)
    return base64.b64encode(text.encode()).decode()


def record(
    data: str, sequence: str = SEQ_1, shard: str = "shardId-000000000000", arrival: float = 1717243199.5
):
    """One record of a Lambda Kinesis event, as the event source mapping sends it."""
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "user-1",
            "sequenceNumber": sequence,
            "data": data,
            "approximateArrivalTimestamp": arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard}:{sequence}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/cdc-lake-user-events-consumer-role",
        "awsRegion": "us-east-1",
        "eventSourceARN": STREAM_ARN,
    }


def run(records: list[dict[str, Any]], s3: StubS3 | None = None) -> tuple[StubS3, dict[str, Any]]:
    s3 = s3 or StubS3()
    result = handler.handle({"Records": records}, s3, bucket="lake", dataset="user_events")
    return s3, result


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(handler, "_now", lambda: PROCESSED)


def padded(sequence: str) -> str:
    return sequence.zfill(129)


def test_a_record_becomes_one_row_with_the_cdc_metadata_columns_under_its_event_hour():
    s3, result = run([record(encode(user_event()))])
    key = f"user_events/year=2024/month=06/day=01/hour=11/shardId-000000000000-{padded(SEQ_1)}-{padded(SEQ_1)}.json"
    assert result == {"rows": 1, "malformed": 0, "unconvertible": 0, "objects": [key]}
    assert list(s3.objects) == [key]
    assert s3.calls[0]["ContentType"] == "application/x-ndjson"
    body = s3.objects[key].decode()
    assert body.endswith("\n") and body.count("\n") == 1
    # The amount keeps its exact digits (never a float's 59.9).
    assert '"amount":59.90' in body
    assert s3.rows(key) == [
        {
            "event_id": "6f1c0b7e-3d2a-4b8e-9a61-2f0d5c4e8b11",
            "event_name": "INSERT",
            "sequence_number": padded(SEQ_1),
            "event_time": "2024-06-01T11:59:58.123Z",
            "approximate_creation_time": "2024-06-01T11:59:59.500Z",
            "processed_at": "2024-06-01T12:00:05.250Z",
            "is_deleted": False,
            "user_id": "user-1",
            "session_id": "s-1",
            "event_type": "purchase",
            "page": "/checkout",
            "device": "mobile",
            "country": "DE",
            "amount": 59.9,
        }
    ]


def test_padded_sequence_numbers_order_as_the_numbers_do():
    short, long = "9", SEQ_1
    assert int(short) < int(long)
    assert padded(short) < padded(long) and len(padded(long)) == handler.SEQUENCE_DIGITS
    s3, _ = run([record(encode(user_event()), sequence=short), record(encode(user_event()), sequence=long)])
    (key,) = s3.objects
    assert [row["sequence_number"] for row in s3.rows(key)] == [padded(short), padded(long)]


def test_one_object_per_partition_named_by_shard_and_the_batch_sequence_range():
    records = [
        record(
            encode(user_event(event_id="a", event_time="2024-06-01T10:15:00Z")), SEQ_1, "shardId-000000000003"
        ),
        record(
            encode(user_event(event_id="b", event_time="2024-06-01T11:00:00.000Z")),
            SEQ_2,
            "shardId-000000000003",
        ),
        record(
            encode(user_event(event_id="c", event_time="2024-06-01T10:59:59.999Z")),
            SEQ_3,
            "shardId-000000000003",
        ),
    ]
    s3, result = run(records)
    name = f"shardId-000000000003-{padded(SEQ_1)}-{padded(SEQ_3)}.json"
    hour_10 = f"user_events/year=2024/month=06/day=01/hour=10/{name}"
    hour_11 = f"user_events/year=2024/month=06/day=01/hour=11/{name}"
    assert sorted(s3.objects) == [hour_10, hour_11]
    assert [row["event_id"] for row in s3.rows(hour_10)] == ["a", "c"]  # record order kept
    assert [row["event_id"] for row in s3.rows(hour_11)] == ["b"]
    assert result["rows"] == 3


def test_a_retried_batch_overwrites_its_own_objects():
    records = [record(encode(user_event(event_id=f"e{i}")), seq) for i, seq in enumerate((SEQ_1, SEQ_2))]
    s3, first = run(records)
    before = dict(s3.objects)
    _, second = run(copy.deepcopy(records), s3)
    assert second["objects"] == first["objects"]
    assert s3.objects.keys() == before.keys()
    assert len(s3.calls) == 2 * len(before)
    # Only processed_at could differ; with the same clock the bytes are the same.
    assert s3.objects == before


def test_event_time_is_converted_to_utc_and_falls_back_to_the_arrival_time():
    records = [
        record(encode(user_event(event_id="offset", event_time="2024-06-01T13:30:00.5+02:00")), SEQ_1),
        record(encode(user_event(event_id="naive", event_time="2024-06-01T11:20:00")), SEQ_2),
        record(encode(user_event(event_id="garbled", event_time="yesterday")), SEQ_3),
        record(encode({k: v for k, v in user_event(event_id="missing").items() if k != "event_time"}), "7"),
    ]
    s3, _ = run(records)
    rows = {row["event_id"]: row for key in s3.objects for row in s3.rows(key)}
    assert rows["offset"]["event_time"] == "2024-06-01T11:30:00.500Z"
    assert rows["naive"]["event_time"] == "2024-06-01T11:20:00.000Z"
    assert rows["garbled"]["event_time"] == "2024-06-01T11:59:59.500Z"  # approximateArrivalTimestamp
    assert rows["missing"]["event_time"] == "2024-06-01T11:59:59.500Z"


def test_fields_named_like_metadata_columns_are_kept_under_another_name():
    s3, _ = run([record(encode(user_event(event_name="signup", is_deleted=True, processed_at="x")))])
    (row,) = s3.rows(next(iter(s3.objects)))
    assert (row["event_name"], row["is_deleted"], row["processed_at"]) == (
        "INSERT",
        False,
        "2024-06-01T12:00:05.250Z",
    )
    assert (row["item_event_name"], row["item_is_deleted"], row["item_processed_at"]) == ("signup", True, "x")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("not base64!!", "not base64"),
        (base64.b64encode(b"{not json").decode(), "not JSON"),
        (base64.b64encode(b"[1, 2]").decode(), "not an object"),
        (base64.b64encode(b'{"user_id": "u"}').decode(), "no 'event_id'"),
        (base64.b64encode(b'{"event_id": "", "user_id": "u"}').decode(), "no 'event_id'"),
        (base64.b64encode(b'{"event_id": "x", "amount": NaN}').decode(), "not JSON"),
    ],
)
def test_a_malformed_record_goes_to_the_error_prefix_by_arrival_hour_and_the_batch_goes_on(data, message):
    good = record(encode(user_event()), SEQ_1)
    bad = record(data, SEQ_2, arrival=1717250400.25)  # 2024-06-01T14:00:00.250Z
    s3, result = run([good, bad])
    name = f"shardId-000000000000-{padded(SEQ_1)}-{padded(SEQ_2)}.json"
    error_key = f"errors/user_events/processing-failed/year=2024/month=06/day=01/hour=14/{name}"
    assert result["rows"] == 1 and result["malformed"] == 1
    assert sorted(s3.objects) == [error_key, f"user_events/year=2024/month=06/day=01/hour=11/{name}"]
    (error,) = s3.rows(error_key)
    assert error["rawData"] == data
    assert error["errorCode"] == "Lambda.ProcessingFailed"
    assert message in error["errorMessage"]
    assert (error["sequenceNumber"], error["partitionKey"]) == (SEQ_2, "user-1")
    assert error["approximateArrivalTimestamp"] == "2024-06-01T14:00:00.250Z"


def test_an_s3_failure_raises_so_the_mapping_retries_the_batch():
    s3 = StubS3(fail=True)
    with pytest.raises(ConnectionError, match="unreachable"):
        run([record(encode(user_event()))], s3)


def test_an_empty_event_writes_nothing():
    s3, result = run([])
    assert result == {"rows": 0, "malformed": 0, "unconvertible": 0, "objects": []}
    assert s3.calls == []


def test_lambda_handler_reads_its_configuration_from_the_environment(monkeypatch):
    s3 = StubS3()
    monkeypatch.setattr(handler, "_client", s3)
    monkeypatch.setattr(handler, "_schema", None)
    monkeypatch.delenv("PARQUET_COLUMNS", raising=False)
    monkeypatch.setenv("BUCKET", "lake")
    monkeypatch.setenv("DATASET", "clicks")
    monkeypatch.setenv("KEY_ATTRIBUTE", "click_id")
    monkeypatch.setenv("EVENT_TIME_ATTRIBUTE", "ts")
    payload = {"click_id": "c-9", "ts": "2024-06-01T09:00:00Z", "event_id": "other"}
    result = handler.lambda_handler({"Records": [record(encode(payload))]}, None)
    (key,) = result["objects"]
    assert key.startswith("clicks/year=2024/month=06/day=01/hour=09/")
    (row,) = s3.rows(key)
    assert (row["event_id"], row["event_time"], row["click_id"], row["ts"]) == (
        "c-9",
        "2024-06-01T09:00:00.000Z",
        "c-9",
        "2024-06-01T09:00:00Z",
    )
    assert row["item_event_id"] == "other"


def test_a_float_is_refused_never_written_rounded():
    # DynamoDB and the producer's JSON numbers are exact; a float would round a price.
    with pytest.raises(handler.MalformedRecord, match="floats are never written"):
        handler.encode_json({"amount": 59.9})
    assert handler.encode_json({"amount": Decimal("59.90")}) == '{"amount":59.90}'
