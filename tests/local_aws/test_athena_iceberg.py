"""Iceberg tables in local Athena, as a boto3 user sees them: CREATE, INSERT, CTAS, SELECT, and pyiceberg interop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest

from tests.local_aws.test_athena_writes import failed, keys_under, run, select
from tests.support import unique


@pytest.fixture(scope="module")
def lake(aws: Callable[..., Any]) -> dict[str, Any]:
    return make_lake(aws)


def make_lake(aws: Callable[..., Any]) -> dict[str, Any]:
    """A Glue database, a lake bucket and a results bucket."""
    s3, glue = aws("s3"), aws("glue")
    bucket, results, database = unique("ice-lake"), unique("ice-results"), unique("ice").replace("-", "_")
    s3.create_bucket(Bucket=bucket)
    s3.create_bucket(Bucket=results)
    glue.create_database(DatabaseInput={"Name": database})
    return {"bucket": bucket, "results": results, "database": database}


def pyiceberg_catalog(endpoint_url: str) -> Any:
    """pyiceberg's Glue catalog against local_aws, as a user outside the server would configure it."""
    from pyiceberg.catalog.glue import GlueCatalog

    keys = {"access-key-id": "testing", "secret-access-key": "testing", "region": "us-east-1"}
    properties = {f"glue.{k}": v for k, v in keys.items()} | {f"s3.{k}": v for k, v in keys.items()}
    properties |= {"glue.endpoint": endpoint_url, "s3.endpoint": endpoint_url}
    return GlueCatalog("local", **properties)


def create_events(aws: Callable[..., Any], lake: dict[str, Any], name: str) -> None:
    run(
        aws,
        lake,
        f"CREATE TABLE {name} (id bigint, ts timestamp, region string, amount double) "
        "PARTITIONED BY (hour(ts), bucket(4, id), region) "
        f"LOCATION 's3://{lake['bucket']}/{name}/' TBLPROPERTIES ('table_type'='ICEBERG', 'format'='parquet')",
    )


EVENTS = (
    "(1, TIMESTAMP '2024-01-01 10:05:00', 'eu', 1.5), (2, TIMESTAMP '2024-01-01 10:30:00', 'us', 2.5), "
    "(3, TIMESTAMP '2024-01-01 11:10:00', 'eu', 3.5), (4, TIMESTAMP '2024-01-01 12:00:00', 'us', 4.5)"
)


def test_create_table_makes_a_glue_table_of_athenas_shape_and_metadata_in_s3(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    create_events(aws, lake, "created")
    table = aws("glue").get_table(DatabaseName=lake["database"], Name="created")["Table"]
    assert table["TableType"] == "EXTERNAL_TABLE"
    assert table["Parameters"]["table_type"] == "ICEBERG"
    metadata = table["Parameters"]["metadata_location"]
    assert metadata.startswith(f"s3://{lake['bucket']}/created/metadata/") and metadata.endswith(
        ".metadata.json"
    )
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == ["id", "ts", "region", "amount"]
    assert keys_under(aws, lake["bucket"], "created/metadata/") == [metadata.split("/", 3)[3]]
    assert select(aws, lake, "SELECT count(*) FROM created") == [["0"]]


def test_create_table_without_location_fails_as_athena_does_and_creates_nothing(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    reason = failed(aws, lake, "CREATE TABLE nowhere (id int) TBLPROPERTIES ('table_type'='ICEBERG')")
    assert reason.startswith("HIVE_DATABASE_LOCATION_ERROR: Schema")
    names = [t["Name"] for t in aws("glue").get_tables(DatabaseName=lake["database"])["TableList"]]
    assert "nowhere" not in names


def test_insert_then_select_prunes_by_partition_and_bills_only_the_files_read(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    create_events(aws, lake, "events")
    execution = run(aws, lake, f"INSERT INTO events VALUES {EVENTS}")
    assert execution["StatementType"] == "DML"
    data = keys_under(aws, lake["bucket"], "events/data/")
    assert len(data) == 4 and all(k.endswith(".parquet") for k in data)
    assert any("ts_hour=2024-01-01-10" in k for k in data)
    assert select(aws, lake, "SELECT id, region, amount FROM events ORDER BY id") == [
        ["1", "eu", "1.5"], ["2", "us", "2.5"], ["3", "eu", "3.5"], ["4", "us", "4.5"],
    ]  # fmt: skip
    whole = run(aws, lake, "SELECT * FROM events")["Statistics"]["DataScannedInBytes"]
    one_hour = run(
        aws,
        lake,
        "SELECT * FROM events WHERE ts >= TIMESTAMP '2024-01-01 10:00:00' AND ts < TIMESTAMP '2024-01-01 11:00:00'",
    )
    assert 0 < one_hour["Statistics"]["DataScannedInBytes"] < whole
    # Parquet is billed by the column chunks read, as on Athena's bill.
    one_column = run(aws, lake, "SELECT id FROM events")["Statistics"]["DataScannedInBytes"]
    assert 0 < one_column < whole
    rows = select(
        aws,
        lake,
        "SELECT id FROM events WHERE ts >= TIMESTAMP '2024-01-01 10:00:00' AND ts < TIMESTAMP '2024-01-01 11:00:00' ORDER BY id",
    )
    assert rows == [["1"], ["2"]]


def test_ctas_iceberg_writes_a_partitioned_table_pyiceberg_reads_back(
    aws: Callable[..., Any], lake: dict[str, Any], endpoint_url: str
) -> None:
    create_events(aws, lake, "source_events")
    run(aws, lake, f"INSERT INTO source_events VALUES {EVENTS}")
    execution = run(
        aws,
        lake,
        "CREATE TABLE by_region WITH (table_type='ICEBERG', is_external=false, "
        f"location='s3://{lake['bucket']}/by_region/', partitioning=ARRAY['region']) "
        "AS SELECT region, count(*) AS n, sum(amount) AS total FROM source_events GROUP BY region",
    )
    assert execution["Statistics"]["DataScannedInBytes"] > 0
    table = aws("glue").get_table(DatabaseName=lake["database"], Name="by_region")["Table"]
    assert table["Parameters"]["table_type"] == "ICEBERG"
    assert any("region=eu" in k for k in keys_under(aws, lake["bucket"], "by_region/data/"))
    # Read back with pyiceberg directly, as another engine would.
    rows = pyiceberg_catalog(endpoint_url).load_table(f"{lake['database']}.by_region").scan().to_arrow()
    assert sorted(rows.to_pylist(), key=lambda r: r["region"]) == [
        {"region": "eu", "n": 2, "total": 5.0},
        {"region": "us", "n": 2, "total": 7.0},
    ]


def test_a_table_pyiceberg_writes_reads_back_in_local_athena(
    aws: Callable[..., Any], lake: dict[str, Any], endpoint_url: str
) -> None:
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.transforms import IdentityTransform
    from pyiceberg.types import LongType, NestedField, StringType

    catalog = pyiceberg_catalog(endpoint_url)
    schema = Schema(
        NestedField(1, "id", LongType(), required=False), NestedField(2, "kind", StringType(), required=False)
    )
    spec = PartitionSpec(PartitionField(2, 1000, IdentityTransform(), "kind"))
    table = catalog.create_table(
        f"{lake['database']}.written_by_pyiceberg",
        schema,
        location=f"s3://{lake['bucket']}/by_pyiceberg",
        partition_spec=spec,
    )
    table.append(pa.table({"id": pa.array([1, 2, 3], pa.int64()), "kind": ["a", "b", "a"]}))
    assert select(
        aws, lake, "SELECT kind, count(*) FROM written_by_pyiceberg GROUP BY kind ORDER BY kind"
    ) == [
        ["a", "2"],
        ["b", "1"],
    ]


def test_awswrangler_to_iceberg_writes_and_merges_through_local_athena(
    aws: Callable[..., Any], lake: dict[str, Any], endpoint_url: str
) -> None:
    """awswrangler's to_iceberg with its defaults: CREATE TABLE, a temporary table, INSERT (then MERGE)."""
    import awswrangler as wr
    import boto3
    import pandas as pd

    saved = {
        name: getattr(wr.config, name)
        for name in ("athena_endpoint_url", "s3_endpoint_url", "glue_endpoint_url", "sts_endpoint_url")
    }
    session = boto3.Session(region_name="us-east-1")
    common = {
        "database": lake["database"],
        "table": "wrangled",
        "table_location": f"s3://{lake['bucket']}/wrangled/",
        "temp_path": f"s3://{lake['bucket']}/wrangled-temp/",
        "s3_output": f"s3://{lake['results']}/wr/",
        "boto3_session": session,
        "keep_files": False,  # else the second call's temporary table still holds the first call's rows
    }
    try:
        for name in saved:
            setattr(wr.config, name, endpoint_url)
        wr.athena.to_iceberg(pd.DataFrame({"id": [1, 2], "v": ["a", "b"]}), **common)
        wr.athena.to_iceberg(pd.DataFrame({"id": [2, 3], "v": ["B", "c"]}), merge_cols=["id"], **common)
    finally:
        for name, value in saved.items():
            setattr(wr.config, name, value)
    table = aws("glue").get_table(DatabaseName=lake["database"], Name="wrangled")["Table"]
    assert table["Parameters"]["table_type"] == "ICEBERG"
    assert select(aws, lake, "SELECT id, v FROM wrangled ORDER BY id") == [["1", "a"], ["2", "B"], ["3", "c"]]
