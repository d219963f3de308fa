"""The consumer's Parquet objects: the change table's schema, declared types, what the declaration lacks."""

from __future__ import annotations

import base64
import io
import json
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from .test_handler import SEQ_1, SEQ_2, SEQ_3, StubS3, encode, handler, record, user_event

DECLARED = [
    ["event_id", "string"],
    ["user_id", "string"],
    ["event_type", "string"],
    ["country", "string"],
    ["event_time", "string"],
    ["amount", "decimal(12,2)"],
    ["items", "bigint"],
]


def schema():
    from parquet_rows import ChangeSchema

    return ChangeSchema.from_env(json.dumps(DECLARED))


def run_parquet(records, s3=None):
    s3 = s3 or StubS3()
    result = handler.handle({"Records": records}, s3, bucket="lake", dataset="user_events", schema=schema())
    return s3, result


def read(s3: StubS3, key: str) -> pa.Table:
    return pq.read_table(io.BytesIO(s3.objects[key]))


def test_rows_are_one_parquet_object_per_partition_with_the_change_tables_columns_and_types():
    s3, result = run_parquet(
        [record(encode(user_event(items=2)), SEQ_1), record(encode(user_event()), SEQ_2)]
    )
    (key,) = result["objects"]
    assert key.startswith("user_events/year=2024/month=06/day=01/hour=11/shardId-000000000000-")
    assert key.endswith(".parquet")
    table = read(s3, key)
    assert table.schema.names == [
        "event_id",
        "event_name",
        "sequence_number",
        "event_time",
        "approximate_creation_time",
        "processed_at",
        "is_deleted",
        "removed_by",
        "undeclared",
        "user_id",
        "event_type",
        "country",
        "amount",
        "items",
    ]
    assert table.schema.field("amount").type == pa.decimal128(12, 2)
    assert table.schema.field("items").type == pa.int64()
    rows = table.to_pylist()
    assert [r["amount"] for r in rows] == [Decimal("59.90"), Decimal("59.90")]
    assert [r["items"] for r in rows] == [2, None]
    assert rows[0]["event_time"] == "2024-06-01T11:59:58.123Z"
    assert rows[0]["is_deleted"] is False and rows[0]["removed_by"] is None


def test_fields_the_declaration_lacks_are_kept_in_undeclared_as_json_text():
    s3, result = run_parquet([record(encode(user_event(coupon="SPRING", page_rank=3)))])
    (row,) = read(s3, result["objects"][0]).to_pylist()
    # page, device and session_id are not declared in this test's schema either.
    assert json.loads(row["undeclared"]) == {
        "session_id": "s-1",
        "page": "/checkout",
        "device": "mobile",
        "coupon": "SPRING",
        "page_rank": 3,
    }


def test_a_field_fills_its_declared_column_in_any_case_as_firehose_lowercases_json_keys():
    converted = schema().convert(
        {"event_id": "e-1", "Country": "DE", "AMOUNT": "12.345", "Items": 2, "Coupon": "SPRING"}
    )
    assert (converted["country"], converted["amount"], converted["items"]) == ("DE", Decimal("12.35"), 2)
    # What the declaration lacks keeps the name it arrived with.
    assert json.loads(converted["undeclared"]) == {"Coupon": "SPRING"}


def test_a_value_the_declared_type_cannot_hold_goes_to_format_conversion_failed_and_the_batch_goes_on():
    s3, result = run_parquet(
        [record(encode(user_event(items="lots")), SEQ_1), record(encode(user_event(event_id="e-2")), SEQ_2)]
    )
    assert (result["rows"], result["malformed"], result["unconvertible"]) == (1, 0, 1)
    (error_key,) = [k for k in result["objects"] if k.startswith("errors/")]
    assert error_key.startswith(
        "errors/user_events/format-conversion-failed/year=2024/month=06/day=01/hour=11/"
    )
    assert error_key.endswith(".json")
    (line,) = s3.objects[error_key].decode().splitlines()
    document = json.loads(line)
    assert document["ErrorCode"] == "DataFormatConversion.MalformedData"
    assert "items" in document["ErrorMessage"] and "lots" in document["ErrorMessage"]
    raw_row = json.loads(base64.b64decode(document["rawData"]))
    assert raw_row["event_time"] == "2024-06-01T11:59:58.123Z" and raw_row["items"] == "lots"
    (data_key,) = [k for k in result["objects"] if not k.startswith("errors/")]
    assert [r["event_id"] for r in read(s3, data_key).to_pylist()] == ["e-2"]


@pytest.mark.parametrize(
    ("value", "fits"),
    [("12.345", True), ("1234567890123.00", False), ({"a": 1}, False), (True, False), ("x", False)],
)
def test_decimal_columns_round_to_their_scale_and_refuse_what_does_not_fit(value, fits):
    from parquet_rows import DoesNotFit

    row = {"event_id": "e", "amount": value}
    if fits:
        assert schema().convert(row)["amount"] == Decimal("12.35")
    else:
        with pytest.raises(DoesNotFit, match="amount"):
            schema().convert(row)


def test_a_retried_batch_overwrites_its_own_parquet_object():
    batch = [record(encode(user_event()), SEQ_1), record(encode(user_event(event_id="e-3")), SEQ_3)]
    s3, first = run_parquet(batch)
    _, second = run_parquet(batch, s3)
    assert first["objects"] == second["objects"] and len(s3.objects) == 1


def test_struct_types_are_refused_by_name():
    from parquet_rows import arrow_type

    with pytest.raises(ValueError, match="struct<a:string>"):
        arrow_type("struct<a:string>")
    assert arrow_type("varchar(20)") == pa.string()


def test_lambda_handler_writes_parquet_when_parquet_columns_is_set(monkeypatch):
    s3 = StubS3()
    monkeypatch.setattr(handler, "_client", s3)
    monkeypatch.setattr(handler, "_schema", None)
    monkeypatch.setenv("BUCKET", "lake")
    monkeypatch.setenv("DATASET", "user_events")
    monkeypatch.setenv("PARQUET_COLUMNS", json.dumps(DECLARED))
    result = handler.lambda_handler({"Records": [record(encode(user_event()))]}, None)
    (key,) = result["objects"]
    assert key.endswith(".parquet") and read(s3, key).num_rows == 1
