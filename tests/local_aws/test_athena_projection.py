"""Partition projection as a boto3 user sees it: partitions computed from table properties, not Glue."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from tests.local_aws.test_athena import finish, rows_of
from tests.support import unique

CSV_SERDE = {
    "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
    "Parameters": {"field.delim": ","},
}


@pytest.fixture(scope="module")
def lake(aws: Callable[..., Any]) -> dict[str, Any]:
    s3, glue = aws("s3"), aws("glue")
    bucket, results, database = unique("pj-lake"), unique("pj-results"), unique("pj").replace("-", "_")
    s3.create_bucket(Bucket=bucket)
    s3.create_bucket(Bucket=results)
    glue.create_database(DatabaseInput={"Name": database})
    return {"bucket": bucket, "results": results, "database": database}


def _table(
    aws: Callable[..., Any], lake: dict[str, Any], keys: list[tuple[str, str]], props: dict[str, str]
) -> str:
    name = unique("proj").replace("-", "_")
    aws("glue").create_table(
        DatabaseName=lake["database"],
        TableInput={
            "Name": name,
            "TableType": "EXTERNAL_TABLE",
            "PartitionKeys": [{"Name": k, "Type": t} for k, t in keys],
            "Parameters": {"projection.enabled": "true", **props},
            "StorageDescriptor": {
                "Columns": [{"Name": "id", "Type": "int"}],
                "Location": f"s3://{lake['bucket']}/{name}/",
                "SerdeInfo": CSV_SERDE,
            },
        },
    )
    return name


def _put(aws: Callable[..., Any], lake: dict[str, Any], key: str, body: bytes) -> int:
    aws("s3").put_object(Bucket=lake["bucket"], Key=key, Body=body)
    return len(body)


def _run(aws: Callable[..., Any], lake: dict[str, Any], sql: str) -> dict[str, Any]:
    execution_id = aws("athena").start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": lake["database"]},
        ResultConfiguration={"OutputLocation": f"s3://{lake['results']}/q/"},
    )["QueryExecutionId"]
    return finish(aws, execution_id)


def _rows(aws: Callable[..., Any], lake: dict[str, Any], sql: str) -> tuple[list[list[str | None]], int]:
    execution = _run(aws, lake, sql)
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    return rows_of(aws, execution["QueryExecutionId"])[1:], execution["Statistics"]["DataScannedInBytes"]


def _failure(aws: Callable[..., Any], lake: dict[str, Any], sql: str) -> str:
    execution = _run(aws, lake, sql)
    assert execution["Status"]["State"] == "FAILED", execution["Status"]
    return execution["Status"]["StateChangeReason"]


def test_integer_enum_and_date_projection_with_a_template_ignores_glue_and_prunes(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    table = _table(
        aws,
        lake,
        [("region", "string"), ("day", "string"), ("hour", "int")],
        {
            "projection.region.type": "enum",
            "projection.region.values": "eu,us",
            "projection.day.type": "date",
            "projection.day.format": "yyyy/MM/dd",
            "projection.day.range": "2024/01/30,2024/02/02",
            "projection.hour.type": "integer",
            "projection.hour.range": "0,23",
            "projection.hour.digits": "2",
            "storage.location.template": f"s3://{lake['bucket']}/data/${{region}}/${{day}}/h${{hour}}",
        },
    )
    sizes = {
        ("eu", "2024/01/31", "07"): _put(aws, lake, "data/eu/2024/01/31/h07/a.csv", b"1\n2\n"),
        ("us", "2024/02/01", "23"): _put(aws, lake, "data/us/2024/02/01/h23/a.csv", b"3\n"),
        ("us", "2024/02/02", "00"): _put(aws, lake, "data/us/2024/02/02/h00/a.csv", b"40\n41\n42\n"),
    }
    _put(aws, lake, "data/xx/2024/02/01/h01/a.csv", b"99\n")  # not an enum value: never read
    _put(aws, lake, "data/eu/2024/02/03/h00/a.csv", b"98\n")  # past the range: never read
    # A partition registered in Glue is ignored by a projected table, as in Athena.
    aws("glue").create_partition(
        DatabaseName=lake["database"],
        TableName=table,
        PartitionInput={
            "Values": ["xx", "2024/02/01", "1"],
            "StorageDescriptor": {"Location": f"s3://{lake['bucket']}/data/xx/2024/02/01/h01/"},
        },
    )
    rows, scanned = _rows(aws, lake, f"SELECT region, day, hour, id FROM {table} ORDER BY id")
    assert rows == [
        ["eu", "2024/01/31", "7", "1"],
        ["eu", "2024/01/31", "7", "2"],
        ["us", "2024/02/01", "23", "3"],
        ["us", "2024/02/02", "0", "40"],
        ["us", "2024/02/02", "0", "41"],
        ["us", "2024/02/02", "0", "42"],
    ]
    assert scanned == sum(sizes.values())
    rows, scanned = _rows(
        aws, lake, f"SELECT id FROM {table} WHERE region = 'us' AND day >= '2024/02/01' AND hour > 12"
    )
    assert rows == [["3"]]
    assert scanned == sizes[("us", "2024/02/01", "23")]  # only the one partition's object is read


def test_date_range_relative_to_now_and_hive_layout_by_default(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    table = _table(
        aws,
        lake,
        [("dt", "string")],
        {
            "projection.dt.type": "date",
            "projection.dt.format": "yyyy-MM-dd",
            "projection.dt.range": "NOW-3DAYS,NOW",
            "projection.dt.interval": "1",
            "projection.dt.interval.unit": "DAYS",
        },
    )
    today = dt.datetime.now(dt.UTC).date()
    recent, old = (today - dt.timedelta(days=1)).isoformat(), (today - dt.timedelta(days=9)).isoformat()
    _put(aws, lake, f"{table}/dt={recent}/a.csv", b"1\n")
    _put(aws, lake, f"{table}/dt={old}/a.csv", b"2\n")  # nine days back: outside NOW-3DAYS
    rows, _ = _rows(aws, lake, f"SELECT dt, id FROM {table}")
    assert rows == [[recent, "1"]]


def test_injected_needs_an_equality_and_reads_the_values_given(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    table = _table(
        aws,
        lake,
        [("device", "string")],
        {
            "projection.device.type": "injected",
            "storage.location.template": f"s3://{lake['bucket']}/devices/${{device}}/",
        },
    )
    _put(aws, lake, "devices/a1/x.csv", b"1\n")
    _put(aws, lake, "devices/b2/x.csv", b"2\n")
    _put(aws, lake, "devices/c3/x.csv", b"3\n")
    for sql in (f"SELECT count(*) FROM {table}", f"SELECT count(*) FROM {table} WHERE device > 'a'"):
        assert _failure(aws, lake, sql) == (
            "CONSTRAINT_VIOLATION: For the injected projected partition column device, the WHERE clause "
            "must contain only static equality conditions, and at least one such condition must be present."
        )
    rows, _ = _rows(aws, lake, f"SELECT device, id FROM {table} WHERE device IN ('a1', 'c3') ORDER BY id")
    assert rows == [["a1", "1"], ["c3", "3"]]
    rows, _ = _rows(aws, lake, f"SELECT id FROM {table} WHERE device = 'b2'")
    assert rows == [["2"]]


def test_bad_projection_properties_get_athena_errors(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    bad_range = _table(
        aws,
        lake,
        [("dt", "string")],
        {
            "projection.dt.type": "date",
            "projection.dt.format": "yyyy-MM-dd",
            "projection.dt.range": "2024-02-01",
        },
    )
    reason = _failure(aws, lake, f"SELECT * FROM {bad_range}")
    assert reason.startswith(
        "INVALID_TABLE_PROPERTY: Column projection for column 'dt' failed. Property: 'projection.dt.range' "
        "needs to be a list of 2 valid dates formatted as 'yyyy-MM-dd'"
    ), reason
    reversed_range = _table(
        aws, lake, [("n", "int")], {"projection.n.type": "integer", "projection.n.range": "9,1"}
    )
    reason = _failure(aws, lake, f"SELECT * FROM {reversed_range}")
    assert reason.startswith("INVALID_TABLE_PROPERTY: Column projection for column 'n' failed."), reason
    missing = _table(
        aws,
        lake,
        [("a", "string"), ("b", "string")],
        {"projection.a.type": "enum", "projection.a.values": "x"},
    )
    reason = _failure(aws, lake, f"SELECT * FROM {missing}")
    assert reason == (
        f"INVALID_TABLE_PROPERTY: Table {lake['database']}.{missing} is configured for partition projection, "
        "but the following partition columns are missing projection configuration: [b]"
    )
    template = _table(
        aws,
        lake,
        [("a", "string"), ("b", "string")],
        {
            "projection.a.type": "enum",
            "projection.a.values": "x",
            "projection.b.type": "enum",
            "projection.b.values": "y",
            "storage.location.template": f"s3://{lake['bucket']}/t/${{a}}/",
        },
    )
    assert _failure(aws, lake, f"SELECT * FROM {template}") == (
        "INVALID_TABLE_PROPERTY: The 'storage.location.template' table property must contain templates "
        "for all partition columns!"
    )


def test_date_projection_on_a_date_column_keeps_the_format_in_the_location_only(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    table = _table(
        aws,
        lake,
        [("day", "date")],
        {
            "projection.day.type": "date",
            "projection.day.format": "yyyyMMdd",
            "projection.day.range": "20240101,20240110",
            "storage.location.template": f"s3://{lake['bucket']}/compact/${{day}}/",
        },
    )
    _put(aws, lake, "compact/20240103/a.csv", b"3\n")
    _put(aws, lake, "compact/20240109/a.csv", b"9\n")
    rows, _ = _rows(aws, lake, f"SELECT day, id FROM {table} WHERE day > DATE '2024-01-05'")
    assert rows == [["2024-01-09", "9"]]
    rows, _ = _rows(aws, lake, f"SELECT count(*) FROM {table}")
    assert rows == [["2"]]
