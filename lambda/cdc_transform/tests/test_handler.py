"""The Firehose transform against real DynamoDB stream record shapes, asserting the exact output."""

from __future__ import annotations

import base64
import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"


def _load_handler() -> Any:
    # By path: the function is deployed as a zip with handler.py at its root, not as a package.
    spec = importlib.util.spec_from_file_location("cdc_transform_handler", HERE.parent / "handler.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


handler = _load_handler()


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    """processed_at is the wall clock; pin it so outputs can be compared exactly."""
    from datetime import UTC, datetime

    monkeypatch.setattr(handler, "_now", lambda: datetime(2024, 6, 1, tzinfo=UTC))


def test_processed_at_is_when_the_transform_ran(monkeypatch):
    from datetime import UTC, datetime

    monkeypatch.setattr(handler, "_now", lambda: datetime(2031, 2, 3, 4, 5, 6, 789000, tzinfo=UTC))
    payload = json.loads((FIXTURES / "insert.json").read_text())
    row = json.loads(base64.b64decode(run(payload)[0]["data"]))
    assert row["processed_at"] == "2031-02-03T04:05:06.789Z"


ORDER_ID = "6f1c2a52-8d0e-4b7a-9a51-3b2f0d1e7c11"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def b64(payload: bytes | str) -> str:
    raw = payload.encode() if isinstance(payload, str) else payload
    return base64.b64encode(raw).decode()


def firehose_event(*payloads: dict[str, Any] | bytes | str) -> dict[str, Any]:
    """A Firehose processor invocation whose records carry ``payloads`` (dicts as a Pipe's JSON)."""
    records = []
    for i, payload in enumerate(payloads):
        raw = json.dumps(payload) if isinstance(payload, dict) else payload
        records.append(
            {
                "recordId": f"rec-{i}",
                "approximateArrivalTimestamp": 1714600000123,
                "data": b64(raw),
                "kinesisRecordMetadata": {
                    "shardId": "shardId-000000000000",
                    "partitionKey": ORDER_ID,
                    "approximateArrivalTimestamp": 1714600000123,
                    "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
                    "subsequenceNumber": 0,
                },
            }
        )
    return {
        "invocationId": "invocation-1",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/sales_orders",
        "region": "us-east-1",
        "records": records,
    }


def run(*payloads: dict[str, Any] | bytes | str) -> list[dict[str, Any]]:
    return handler.lambda_handler(firehose_event(*payloads), None)["records"]


def decoded(result: dict[str, Any]) -> str:
    return base64.b64decode(result["data"]).decode("utf-8")


def single_line(result: dict[str, Any]) -> str:
    text = decoded(result)
    assert text.endswith("\n") and text.count("\n") == 1
    return text[:-1]


ORDER_ATTRS = (
    '"order_time":"2024-05-01T12:34:56.789Z","orderid":"6f1c2a52-8d0e-4b7a-9a51-3b2f0d1e7c11",'
    '"price":349.99,"product_name":"Laptop"'
)


def test_insert_is_flattened_with_metadata_exact_decimals_and_partition_keys():
    (result,) = run(fixture("insert"))
    assert result["recordId"] == "rec-0"
    assert result["result"] == "Ok"
    assert single_line(result) == (
        '{"event_id":"c4ca4238a0b923820dcc509a6f75849b","event_name":"INSERT",'
        '"sequence_number":"0000000000000000000111100000000000000001",'
        '"event_time":"2024-05-01T12:34:56.789Z","approximate_creation_time":"2024-05-01T12:34:57.000Z",'
        f'"processed_at":"2024-06-01T00:00:00.000Z","is_deleted":false,{ORDER_ATTRS},"quantity":2,"status":"placed",'
        '"updated_at":"2024-05-01T12:34:56.789Z"}'
    )
    assert result["metadata"] == {"partitionKeys": {"year": "2024", "month": "05", "day": "01", "hour": "12"}}


def test_modify_takes_the_new_image_and_its_updated_at():
    (result,) = run(fixture("modify"))
    assert result["result"] == "Ok"
    assert single_line(result) == (
        '{"event_id":"c81e728d9d4c2f636f067f89cc14862c","event_name":"MODIFY",'
        '"sequence_number":"0000000000000000000111200000000000000002",'
        '"event_time":"2024-05-01T13:05:00.250Z","approximate_creation_time":"2024-05-01T13:26:40.000Z",'
        f'"processed_at":"2024-06-01T00:00:00.000Z","is_deleted":false,{ORDER_ATTRS},"quantity":3,"status":"paid",'
        '"updated_at":"2024-05-01T13:05:00.250Z"}'
    )
    assert result["metadata"]["partitionKeys"] == {"year": "2024", "month": "05", "day": "01", "hour": "13"}


def test_remove_takes_the_old_image_and_the_stream_time_not_the_old_updated_at():
    (result,) = run(fixture("remove"))
    assert result["result"] == "Ok"
    assert single_line(result) == (
        '{"event_id":"eccbc87e4b5ce2fe28308fd9f2a7baf3","event_name":"REMOVE",'
        '"sequence_number":"0000000000000000000111300000000000000003",'
        '"event_time":"2024-05-01T15:00:00.500Z","approximate_creation_time":"2024-05-01T15:00:00.500Z",'
        f'"processed_at":"2024-06-01T00:00:00.000Z","is_deleted":true,{ORDER_ATTRS},"quantity":3,"status":"paid",'
        '"updated_at":"2024-05-01T13:05:00.250Z"}'
    )
    assert result["metadata"]["partitionKeys"] == {"year": "2024", "month": "05", "day": "01", "hour": "15"}


def test_a_remove_is_never_older_than_the_write_it_deletes():
    # The stream time is rounded down to the second; the deleted item was last written 0.4 s later.
    record = fixture("remove")
    record["dynamodb"]["ApproximateCreationDateTime"] = 1714561500  # 2024-05-01T11:05:00Z
    record["dynamodb"]["OldImage"]["updated_at"] = {"S": "2024-05-01T11:05:00.400Z"}
    (result,) = run(record)
    row = json.loads(single_line(result))
    assert row["event_time"] == "2024-05-01T11:05:00.400Z"
    assert row["approximate_creation_time"] == "2024-05-01T11:05:00.000Z"
    assert result["metadata"]["partitionKeys"]["hour"] == "11"


def test_a_time_to_live_remove_is_a_delete_marked_removed_by_ttl():
    record = fixture("remove")
    record["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    record["dynamodb"]["OldImage"]["removed_by"] = {"S": "a clerk"}  # an item attribute of that name
    (result,) = run(record)
    assert result["result"] == "Ok"
    assert single_line(result) == (
        '{"event_id":"eccbc87e4b5ce2fe28308fd9f2a7baf3","event_name":"REMOVE",'
        '"sequence_number":"0000000000000000000111300000000000000003",'
        '"event_time":"2024-05-01T15:00:00.500Z","approximate_creation_time":"2024-05-01T15:00:00.500Z",'
        '"processed_at":"2024-06-01T00:00:00.000Z","is_deleted":true,"removed_by":"ttl",'
        f'{ORDER_ATTRS},"quantity":3,"item_removed_by":"a clerk","status":"paid",'
        '"updated_at":"2024-05-01T13:05:00.250Z"}'
    )
    # Only DynamoDB's own TTL process marks a delete; a user's delete has no userIdentity.
    others = [None, {"type": "Service", "principalId": "events.amazonaws.com"}, {"type": "User"}, "Service"]
    for identity in others:
        record = fixture("remove")
        if identity is not None:
            record["userIdentity"] = identity
        row = json.loads(single_line(run(record)[0]))
        assert row["is_deleted"] is True and "removed_by" not in row, identity


def test_remove_without_old_image_keeps_the_keys_alone():
    # The fixture is a TTL delete (DynamoDB's service identity), hence removed_by.
    (result,) = run(fixture("remove_keys_only"))
    assert result["result"] == "Ok"
    assert single_line(result) == (
        '{"event_id":"a87ff679a2f3e71d9181a67b7542122c","event_name":"REMOVE",'
        '"sequence_number":"0900000000000000000000000000000000000004",'
        '"event_time":"2024-05-02T00:00:00.000Z","approximate_creation_time":"2024-05-02T00:00:00.000Z",'
        '"processed_at":"2024-06-01T00:00:00.000Z","is_deleted":true,"removed_by":"ttl",'
        '"orderid":"0b5e1d2c-77aa-4f4e-8d3b-9c0e6a1f2b33"}'
    )
    assert result["metadata"]["partitionKeys"] == {"year": "2024", "month": "05", "day": "02", "hour": "00"}


def test_nested_maps_lists_sets_binary_null_bool_and_huge_precision_numbers():
    (result,) = run(fixture("nested_types"))
    assert result["result"] == "Ok"
    # No updated_at in this item: the event time is ApproximateCreationDateTime.
    assert single_line(result) == (
        '{"event_id":"e4da3b7fbbce2345d7772b0674a318d5","event_name":"INSERT",'
        '"sequence_number":"0000000000000000000111400000000000000005",'
        '"event_time":"2024-05-01T12:34:57.000Z","approximate_creation_time":"2024-05-01T12:34:57.000Z",'
        '"processed_at":"2024-06-01T00:00:00.000Z","is_deleted":false,'
        '"big":12345678901234567890.123456789012345678,'
        '"bins":[-2.5,3,10],'
        '"checksums":["AQE=","AgI="],'
        '"coupon":null,'
        '"is_gift":false,'
        '"lines":[{"sku":"A-1","qty":1},"gift wrap",0.1,null],'
        '"negative":-42,'
        '"orderid":"k-1",'
        '"shipping":{"address":{"city":"Zürich","zip":"8001"},"express":true,"weight_kg":1.250},'
        '"tags":["b2b","gift","sale"],'
        '"thumbnail":"iVBORw0KGgo=",'
        f'"tiny":0.{"0" * 129}1,'
        '"whole":1000}'
    )
    row = json.loads(single_line(result))
    assert base64.b64decode(row["thumbnail"]) == b"\x89PNG\r\n\x1a\n"
    assert isinstance(row["whole"], int) and isinstance(row["negative"], int)


def with_updated_at(value: dict[str, Any] | None) -> dict[str, Any]:
    record = fixture("insert")
    if value is None:
        del record["dynamodb"]["NewImage"]["updated_at"]
    else:
        record["dynamodb"]["NewImage"]["updated_at"] = value
    return record


@pytest.mark.parametrize(
    ("updated_at", "event_time", "hour"),
    [
        ({"S": "2024-05-01T23:30:00+02:00"}, "2024-05-01T21:30:00.000Z", "21"),
        ({"S": "2024-05-01T20:15:00.123456-05:00"}, "2024-05-02T01:15:00.123Z", "01"),
        ({"S": "2024-05-01T09:00:00"}, "2024-05-01T09:00:00.000Z", "09"),  # no offset: UTC
        ({"S": "2024-05-01"}, "2024-05-01T00:00:00.000Z", "00"),
        ({"S": "not a time"}, "2024-05-01T12:34:57.000Z", "12"),
        ({"S": "2024-13-45T99:00:00Z"}, "2024-05-01T12:34:57.000Z", "12"),
        ({"S": ""}, "2024-05-01T12:34:57.000Z", "12"),
        ({"N": "1714600000"}, "2024-05-01T12:34:57.000Z", "12"),  # not an ISO string
        ({"NULL": True}, "2024-05-01T12:34:57.000Z", "12"),
        (None, "2024-05-01T12:34:57.000Z", "12"),
    ],
)
def test_event_time_from_updated_at_or_the_stream_time(updated_at, event_time, hour):
    (result,) = run(with_updated_at(updated_at))
    assert result["result"] == "Ok"
    row = json.loads(single_line(result))
    assert row["event_time"] == event_time
    assert result["metadata"]["partitionKeys"]["hour"] == hour
    # The attribute itself is kept as written.
    if updated_at is not None and "S" in updated_at:
        assert row["updated_at"] == updated_at["S"]


def test_event_time_attribute_is_configurable(monkeypatch):
    record = fixture("insert")
    record["dynamodb"]["NewImage"]["changed"] = {"S": "2023-12-31T23:59:59.999Z"}
    monkeypatch.setenv("EVENT_TIME_ATTRIBUTE", "changed")
    (result,) = run(record)
    assert json.loads(single_line(result))["event_time"] == "2023-12-31T23:59:59.999Z"
    assert result["metadata"]["partitionKeys"] == {"year": "2023", "month": "12", "day": "31", "hour": "23"}


@pytest.mark.parametrize(
    ("creation", "expected"),
    [
        (1714566897123, "2024-05-01T12:34:57.123Z"),  # milliseconds, as Kinesis Data Streams for DynamoDB
        ("2024-05-01T12:34:57.5Z", "2024-05-01T12:34:57.500Z"),
    ],
)
def test_approximate_creation_time_in_other_encodings(creation, expected):
    record = fixture("remove_keys_only")
    record["dynamodb"]["ApproximateCreationDateTime"] = creation
    row = json.loads(single_line(run(record)[0]))
    assert row["event_time"] == row["approximate_creation_time"] == expected


def test_without_any_stream_time_the_firehose_arrival_time_is_used():
    record = fixture("remove")
    del record["dynamodb"]["ApproximateCreationDateTime"]
    (result,) = run(record)
    row = json.loads(single_line(result))
    assert row["event_time"] == "2024-05-01T21:46:40.123Z"  # approximateArrivalTimestamp 1714600000123
    assert row["approximate_creation_time"] is None


def test_an_attribute_named_like_a_metadata_field_is_kept_under_a_prefix():
    record = fixture("insert")
    record["dynamodb"]["NewImage"]["event_name"] = {"S": "birthday"}
    row = json.loads(single_line(run(record)[0]))
    assert row["event_name"] == "INSERT"
    assert row["item_event_name"] == "birthday"


def malformed_payloads() -> list[tuple[str, bytes | str | dict[str, Any]]]:
    def edited(edit) -> dict[str, Any]:
        record = copy.deepcopy(fixture("insert"))
        edit(record)
        return record

    return [
        ("not json", b"this is not json"),
        ("not utf-8", b"\xff\xfe\x00garbage"),
        ("json array", "[1, 2, 3]"),
        ("a Firehose-unrelated object", {"hello": "world"}),
        ("no eventName", edited(lambda r: r.pop("eventName"))),
        ("unknown eventName", edited(lambda r: r.update(eventName="UPSERT"))),
        ("no dynamodb", edited(lambda r: r.pop("dynamodb"))),
        ("no Keys", edited(lambda r: r["dynamodb"].pop("Keys"))),
        ("empty Keys", edited(lambda r: r["dynamodb"].update(Keys={}))),
        ("no SequenceNumber", edited(lambda r: r["dynamodb"].pop("SequenceNumber"))),
        ("bad SequenceNumber", edited(lambda r: r["dynamodb"].update(SequenceNumber="12ab"))),
        ("INSERT without NewImage", edited(lambda r: r["dynamodb"].pop("NewImage"))),
        ("unparsable number", edited(lambda r: r["dynamodb"]["NewImage"].update(price={"N": "12,50"}))),
        ("NaN number", edited(lambda r: r["dynamodb"]["NewImage"].update(price={"N": "NaN"}))),
        ("infinite number", edited(lambda r: r["dynamodb"]["NewImage"].update(price={"N": "Infinity"}))),
        (
            "more than 38 digits",
            edited(lambda r: r["dynamodb"]["NewImage"].update(price={"N": "1." + "1" * 40})),
        ),
        ("unknown type", edited(lambda r: r["dynamodb"]["NewImage"].update(price={"X": "1"}))),
        ("empty type", edited(lambda r: r["dynamodb"]["NewImage"].update(price={}))),
        ("bad binary", edited(lambda r: r["dynamodb"]["NewImage"].update(blob={"B": "**not base64**"}))),
    ]


@pytest.mark.parametrize(("why", "payload"), malformed_payloads(), ids=[m[0] for m in malformed_payloads()])
def test_a_malformed_record_fails_alone(why, payload):
    results = run(fixture("insert"), payload, fixture("modify"))
    assert [r["recordId"] for r in results] == ["rec-0", "rec-1", "rec-2"]
    assert [r["result"] for r in results] == ["Ok", "ProcessingFailed", "Ok"]
    # A failed record keeps its original data so the error prefix holds what arrived.
    assert results[1]["data"] == firehose_event(payload)["records"][0]["data"]
    assert json.loads(single_line(results[2]))["event_name"] == "MODIFY"


def test_bad_base64_fails_alone():
    event = firehose_event(fixture("insert"), fixture("remove"))
    event["records"][0]["data"] = "%%% not base64 %%%"
    results = handler.lambda_handler(event, None)["records"]
    assert [r["result"] for r in results] == ["ProcessingFailed", "Ok"]
    assert results[0]["recordId"] == "rec-0"


def test_a_batch_is_one_json_object_per_line_in_input_order():
    results = run(fixture("insert"), fixture("modify"), fixture("remove"), fixture("remove_keys_only"))
    assert [r["result"] for r in results] == ["Ok"] * 4
    joined = "".join(decoded(r) for r in results)
    rows = [json.loads(line) for line in joined.splitlines()]
    assert [r["event_name"] for r in rows] == ["INSERT", "MODIFY", "REMOVE", "REMOVE"]
    assert joined.count("\n") == 4
    # Zero padding makes the string order of sequence numbers their numeric order.
    sequences = [r["sequence_number"] for r in rows]
    assert sorted(sequences) == sorted(sequences, key=int)
    assert all(len(s) == 40 for s in sequences)


def test_an_empty_batch():
    assert handler.lambda_handler(firehose_event(), None) == {"records": []}
    assert handler.lambda_handler({"invocationId": "x", "records": []}, None) == {"records": []}


def test_a_float_is_refused_never_written_rounded():
    # DynamoDB numbers are exact; a float would round a price.
    from decimal import Decimal

    with pytest.raises(handler.MalformedRecord, match="floats are never written"):
        handler.encode_json({"price": 349.99})
    assert handler.encode_json({"price": Decimal("349.990")}, handler.dynamodb_number_text) == (
        '{"price":349.990}'
    )
    assert handler.encode_json({"quantity": Decimal("2.0")}, handler.dynamodb_number_text) == '{"quantity":2}'


def test_with_declared_columns_what_the_declaration_lacks_is_kept_as_undeclared(monkeypatch):
    """A Parquet change log keeps only declared columns: the rest goes to ``undeclared``, by path."""
    declared = {
        "orderid": None,
        "SHIPPING": {"address": {"city": None}, "express": None},  # names compare case-insensitively
        "lines": [{"sku": None}],
        "tags": None,
    }
    monkeypatch.setenv("DECLARED_COLUMNS", json.dumps(declared))
    (result,) = run(fixture("nested_types"))
    row = json.loads(single_line(result))
    kept = json.loads(row["undeclared"])
    assert kept["shipping.address.zip"] == "8001"
    assert kept["shipping.weight_kg"] == 1.25
    assert kept["lines[0].qty"] == 1
    assert {"big", "coupon", "is_gift", "thumbnail"} <= set(kept)
    assert not {"orderid", "tags", "shipping.express", "shipping.address.city", "lines[0].sku"} & set(kept)
    assert not {"event_id", "processed_at", "is_deleted"} & set(kept), "metadata is never undeclared"
    assert row["shipping"]["address"]["zip"] == "8001", "the row itself keeps every attribute"


def test_every_attribute_declared_leaves_undeclared_null_and_without_declaration_there_is_none(monkeypatch):
    record = fixture("insert")
    names = set(record["dynamodb"]["NewImage"])
    monkeypatch.setenv("DECLARED_COLUMNS", json.dumps(dict.fromkeys(names)))
    (result,) = run(record)
    assert json.loads(single_line(result))["undeclared"] is None
    monkeypatch.delenv("DECLARED_COLUMNS")
    (result,) = run(record)
    assert "undeclared" not in json.loads(single_line(result))
