"""``check_schema_drift``'s comparison: the crawled change log against the declared columns."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq

from cdc_pipeline.definitions import get_pipeline
from cdc_pipeline.definitions.types import declared_tree, struct_field_types
from cdc_pipeline.workflows.hourly.delivery import measure_objects
from cdc_pipeline.workflows.hourly.schema_drift import (
    METADATA_COLUMNS,
    changed_type,
    drift,
    kind_of,
    location_of,
    struct_fields,
)

ADDRESS = "struct<street:string,city:string,state:string,postcode:string,country:string>"


def crawled(**columns: str) -> list[dict[str, str]]:
    return [{"Name": name, "Type": kind} for name, kind in columns.items()]


def test_a_crawl_of_the_declared_columns_and_the_transforms_metadata_is_no_drift() -> None:
    declared = get_pipeline("sales_orders").columns
    # The JSON crawler's readings: whole numbers as int, money as double, the rest as declared.
    readings = {"quantity": "int", "price": "double"}
    columns = {name: readings.get(name, kind) for name, kind in declared} | METADATA_COLUMNS
    found = drift(crawled(**columns), list(declared), [])
    assert found == {
        "undeclared_columns": 0,
        "changed_types": 0,
        "other_tables": 0,
        "undeclared": "none",
        "changed": "none",
        "tables": "none",
    }


def test_new_columns_new_struct_fields_changed_kinds_and_other_tables_are_named() -> None:
    declared = [("id", "string"), ("age", "bigint"), ("score", "decimal(5,2)"), ("address", ADDRESS)]
    columns = crawled(
        id="string",
        age="double",  # a fraction where whole years were declared
        score="string",  # text where a number was declared
        address=ADDRESS.replace("country:string", "country:string,unit:string"),
        coupon="string",
        event_id="string",
    )
    found = drift(columns, declared, ["user_profiles_csv"])
    assert found["undeclared"] == "address.unit,coupon"
    assert found["changed"] == "age:double/bigint,score:string/decimal(5,2)"
    assert (found["undeclared_columns"], found["changed_types"], found["other_tables"]) == (2, 2, 1)
    assert found["tables"] == "user_profiles_csv"


def test_a_declared_column_not_crawled_yet_is_not_drift() -> None:
    assert drift(crawled(id="string"), [("id", "string"), ("email", "string")], [])["undeclared_columns"] == 0


def test_kinds_and_struct_fields() -> None:
    assert kind_of("DECIMAL(12, 2)") == "fraction" and kind_of("varchar(10)") == "text"
    assert kind_of("array<struct<a:int>>") == "array"
    assert struct_fields("struct<a:int,b:struct<c:string,d:int>,e:map<string,int>>") == ["a", "b", "e"]
    assert struct_fields("string") == []
    assert not changed_type("decimal(12,2)", "int") and changed_type("bigint", "double")
    assert not changed_type("timestamp", "string") and changed_type("string", "bigint")


def test_a_tables_location_is_compared_with_one_trailing_slash() -> None:
    assert (
        location_of({"StorageDescriptor": {"Location": "s3://lake/sales_orders"}})
        == "s3://lake/sales_orders/"
    )
    assert location_of({"TableType": "VIRTUAL_VIEW", "StorageDescriptor": {}}) == ""


def test_attributes_a_parquet_change_log_kept_aside_are_undeclared_columns() -> None:
    """The crawl of converted Parquet files shows only declared columns: the hour's kept-aside paths
    are what names the drift."""
    declared = list(get_pipeline("sales_orders").columns)
    columns = dict(declared) | METADATA_COLUMNS
    found = drift(crawled(**columns), declared, [], ["coupon", "address.unit"])
    assert (found["undeclared_columns"], found["undeclared"]) == (2, "coupon,address.unit")
    assert drift(crawled(**columns), declared, [], [])["undeclared_columns"] == 0


def test_the_declared_tree_the_transform_gets() -> None:
    columns = [
        ("userid", "string"),
        ("address", ADDRESS),
        ("items", "array<struct<sku:string,options:struct<gift:boolean>>>"),
        ("tags", "array<string>"),
        ("attributes", "map<string,string>"),
        ("price", "decimal(12, 2)"),
    ]
    assert declared_tree(columns) == {
        "userid": None,
        "address": {"street": None, "city": None, "state": None, "postcode": None, "country": None},
        "items": [{"sku": None, "options": {"gift": None}}],
        "tags": None,
        "attributes": None,
        "price": None,
    }
    assert struct_field_types("struct<a:decimal(12,2),b:struct<c:int>>") == [
        ("a", "decimal(12,2)"),
        ("b", "struct<c:int>"),
    ]


def test_inspect_delivery_collects_the_hours_undeclared_paths_from_parquet() -> None:
    rows = [
        {
            "orderid": "o-1",
            "sequence_number": "1",
            "approximate_creation_time": "2026-11-30T10:00:00.000Z",
            "undeclared": '{"coupon":"X","items[0].gift":true}',
        },
        {
            "orderid": "o-2",
            "sequence_number": "2",
            "approximate_creation_time": "2026-11-30T10:00:00.000Z",
            "undeclared": '{"items[3].gift":false}',
        },
        {
            "orderid": "o-3",
            "sequence_number": "3",
            "approximate_creation_time": "2026-11-30T10:00:00.000Z",
            "undeclared": None,
        },
    ]
    body = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), body)
    arrived = datetime(2026, 11, 30, 10, 0, 5, tzinfo=UTC)
    found = measure_objects([(arrived, body.getvalue())], "orderid", 60)
    assert found["undeclared_attributes"] == ["coupon", "items[].gift"]
    assert found["delivered_rows"] == 3
    json_body = (
        b'{"orderid": "o-4", "coupon": "Y", "approximate_creation_time": "2026-11-30T10:00:00.000Z"}\n'
    )
    assert measure_objects([(arrived, json_body)], "orderid", 60)["undeclared_attributes"] == []
