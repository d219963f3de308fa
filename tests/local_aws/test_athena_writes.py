"""Athena statements that write, as a boto3 user sees them: CTAS, INSERT INTO, and the refusals."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.local_aws.athena_helpers import create_table, new_lake, put_object
from tests.local_aws.test_athena import finish, rows_of
from tests.support import unique


@pytest.fixture(scope="module")
def lake(aws: Callable[..., Any]) -> dict[str, Any]:
    """A Glue database with a small CSV table of orders, a lake bucket and a results bucket."""
    lake = new_lake(aws, "wr")
    create_table(aws, lake, "orders", [("id", "int"), ("item", "string"), ("dt", "string")])
    put_object(aws, lake, "orders/part-0.csv", b"1,lamp,2024-01-01\n2,desk,2024-01-01\n3,pen,2024-01-02\n")
    return lake


def start(aws: Callable[..., Any], lake: dict[str, Any], sql: str) -> str:
    return aws("athena").start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": lake["database"]},
        ResultConfiguration={"OutputLocation": f"s3://{lake['results']}/q/"},
    )["QueryExecutionId"]


def run(aws: Callable[..., Any], lake: dict[str, Any], sql: str) -> dict[str, Any]:
    execution = finish(aws, start(aws, lake, sql))
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    return execution


def failed(aws: Callable[..., Any], lake: dict[str, Any], sql: str) -> str:
    execution = finish(aws, start(aws, lake, sql))
    assert execution["Status"]["State"] == "FAILED", execution["Status"]
    return execution["Status"]["StateChangeReason"]


def select(aws: Callable[..., Any], lake: dict[str, Any], sql: str) -> list[list[str | None]]:
    return rows_of(aws, run(aws, lake, sql)["QueryExecutionId"])[1:]


def keys_under(aws: Callable[..., Any], bucket: str, prefix: str) -> list[str]:
    listing = aws("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def test_ctas_parquet_partitioned_writes_objects_glue_table_and_manifest(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    bucket, table = lake["bucket"], unique("ctas_pq").replace("-", "_")
    location = f"s3://{bucket}/{table}/"
    execution = run(
        aws,
        lake,
        f"CREATE TABLE {table} WITH (format = 'PARQUET', external_location = '{location}', "
        "partitioned_by = ARRAY['dt'], write_compression = 'SNAPPY') AS SELECT id, item, dt FROM orders",
    )
    assert execution["SubstatementType"] == "CREATE_TABLE_AS_SELECT"
    # Hive folders per partition, objects named <Trino query id>_<uuid> without an extension.
    keys = keys_under(aws, bucket, f"{table}/")
    assert [k.rsplit("/", 1)[0] for k in keys] == [f"{table}/dt=2024-01-01", f"{table}/dt=2024-01-02"]
    assert all("." not in k.rsplit("/", 1)[1] for k in keys)
    first = aws("s3").get_object(Bucket=bucket, Key=keys[0])["Body"].read()
    parquet = pq.read_table(io.BytesIO(first))
    assert parquet.column_names == ["id", "item"]  # partition values live in the path, not the file
    assert sorted(parquet.column("id").to_pylist()) == [1, 2]
    assert pq.ParquetFile(io.BytesIO(first)).metadata.row_group(0).column(0).compression == "SNAPPY"
    glue_table = aws("glue").get_table(DatabaseName=lake["database"], Name=table)["Table"]
    storage = glue_table["StorageDescriptor"]
    assert glue_table["TableType"] == "EXTERNAL_TABLE"
    assert glue_table["Parameters"]["parquet.compression"] == "SNAPPY"
    assert glue_table["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    assert [c["Name"] for c in storage["Columns"]] == ["id", "item"]
    assert storage["Location"] == location
    assert storage["SerdeInfo"]["SerializationLibrary"] == (
        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    )
    assert storage["InputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    partitions = aws("glue").get_partitions(DatabaseName=lake["database"], TableName=table)["Partitions"]
    assert sorted(p["Values"][0] for p in partitions) == ["2024-01-01", "2024-01-02"]
    # The data manifest lists what was written; awswrangler reads the results through it.
    manifest_uri = execution["Statistics"]["DataManifestLocation"]
    assert manifest_uri == f"s3://{lake['results']}/q/{execution['QueryExecutionId']}-manifest.csv"
    manifest = aws("s3").get_object(Bucket=lake["results"], Key=manifest_uri.split("/", 3)[3])["Body"].read()
    assert sorted(manifest.decode().split()) == [f"s3://{bucket}/{k}" for k in keys]
    # Athena reads its own table back, partitions pruned.
    assert select(aws, lake, f"SELECT id, item FROM {table} WHERE dt = '2024-01-02'") == [["3", "pen"]]


def test_ctas_json_and_textfile_default_to_gzip_and_read_back(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    for fmt, serde in (
        ("JSON", "org.apache.hive.hcatalog.data.JsonSerDe"),
        ("TEXTFILE", "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"),
    ):
        table = unique(f"ctas_{fmt.lower()}").replace("-", "_")
        location = f"s3://{lake['bucket']}/{table}/"
        run(
            aws,
            lake,
            f"CREATE TABLE {table} WITH (format = '{fmt}', external_location = '{location}') "
            "AS SELECT id, upper(item) AS item FROM orders",
        )
        [key] = keys_under(aws, lake["bucket"], f"{table}/")
        assert key.endswith(".gz")
        text = gzip.decompress(aws("s3").get_object(Bucket=lake["bucket"], Key=key)["Body"].read()).decode()
        if fmt == "JSON":
            assert json.loads(text.splitlines()[0]).keys() == {"id", "item"}
        else:
            assert "\x01" in text.splitlines()[0]
        storage = aws("glue").get_table(DatabaseName=lake["database"], Name=table)["Table"][
            "StorageDescriptor"
        ]
        assert storage["SerdeInfo"]["SerializationLibrary"] == serde
        assert select(aws, lake, f"SELECT item FROM {table} ORDER BY id") == [["LAMP"], ["DESK"], ["PEN"]]


def test_ctas_default_location_and_with_no_data(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    table = unique("ctas_empty").replace("-", "_")
    execution = run(aws, lake, f"CREATE TABLE {table} AS SELECT id, item FROM orders WITH NO DATA")
    location = aws("glue").get_table(DatabaseName=lake["database"], Name=table)["Table"]["StorageDescriptor"][
        "Location"
    ]
    assert location == f"s3://{lake['results']}/q/tables/{execution['QueryExecutionId']}/"
    assert keys_under(aws, lake["results"], f"q/tables/{execution['QueryExecutionId']}/") == []
    assert select(aws, lake, f"SELECT count(*) FROM {table}") == [["0"]]


def test_insert_into_adds_files_beside_the_old_and_registers_partitions(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    table = unique("ins").replace("-", "_")
    location = f"s3://{lake['bucket']}/{table}/"
    run(
        aws,
        lake,
        f"CREATE TABLE {table} WITH (external_location = '{location}', partitioned_by = ARRAY['dt']) "
        "AS SELECT id, item, dt FROM orders WHERE id = 1",
    )
    before = keys_under(aws, lake["bucket"], f"{table}/")
    execution = run(aws, lake, f"INSERT INTO {table} SELECT id, item, dt FROM orders WHERE id > 1")
    assert execution["SubstatementType"] == "INSERT"
    run(aws, lake, f"INSERT INTO {table} (item, id, dt) VALUES ('cup', 9, '2024-02-01')")
    after = keys_under(aws, lake["bucket"], f"{table}/")
    assert set(before) < set(after) and len(after) == len(before) + 3
    partitions = aws("glue").get_partitions(DatabaseName=lake["database"], TableName=table)["Partitions"]
    assert sorted(p["Values"][0] for p in partitions) == ["2024-01-01", "2024-01-02", "2024-02-01"]
    assert select(aws, lake, f"SELECT id, item, dt FROM {table} ORDER BY id") == [
        ["1", "lamp", "2024-01-01"],
        ["2", "desk", "2024-01-01"],
        ["3", "pen", "2024-01-02"],
        ["9", "cup", "2024-02-01"],
    ]


def test_ctas_into_a_location_that_holds_objects_fails_and_writes_nothing(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    table = unique("ctas_busy").replace("-", "_")
    aws("s3").put_object(Bucket=lake["bucket"], Key=f"{table}/old.csv", Body=b"kept")
    reason = failed(
        aws,
        lake,
        f"CREATE TABLE {table} WITH (external_location = 's3://{lake['bucket']}/{table}/') AS SELECT 1 AS a",
    )
    assert reason.startswith("HIVE_PATH_ALREADY_EXISTS: Target directory for table"), reason
    assert keys_under(aws, lake["bucket"], f"{table}/") == [f"{table}/old.csv"]
    with pytest.raises(aws("glue").exceptions.EntityNotFoundException):
        aws("glue").get_table(DatabaseName=lake["database"], Name=table)


def test_bad_writes_get_athena_errors(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    view = unique("v").replace("-", "_")
    run(aws, lake, f"CREATE VIEW {view} AS SELECT id FROM orders")
    assert failed(aws, lake, f"INSERT INTO {view} VALUES (1)") == (
        "NOT_SUPPORTED: Inserting into views is not supported"
    )
    reason = failed(
        aws, lake, f"CREATE TABLE {unique('t').replace('-', '_')} WITH (format = 'XLS') AS SELECT 1 AS a"
    )
    assert reason.startswith("INVALID_TABLE_PROPERTY: "), reason
    reason = failed(aws, lake, "CREATE TABLE orders AS SELECT 1 AS a")
    assert reason.startswith("ALREADY_EXISTS: "), reason
    assert select(aws, lake, "SELECT count(*) FROM orders") == [["3"]]


def test_iceberg_statements_on_a_hive_table_are_refused_clearly(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    # Iceberg tables themselves are written by `athena_engine.iceberg*` (tests/local_aws/test_athena_iceberg*.py).
    for sql in (
        "MERGE INTO orders t USING orders s ON t.id = s.id WHEN MATCHED THEN DELETE",
        "UPDATE orders SET item = 'x'",
        "DELETE FROM orders WHERE id = 1",
    ):
        reason = failed(aws, lake, sql)
        assert (
            reason == "NOT_SUPPORTED: Modifying Hive table rows is only supported for transactional tables"
        ), sql
    for sql in ("OPTIMIZE orders REWRITE DATA USING BIN_PACK", "VACUUM orders"):
        reason = failed(aws, lake, sql)
        assert reason.startswith("NOT_SUPPORTED: ") and "Iceberg" in reason, (sql, reason)


def test_create_and_drop_database(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    glue, name = aws("glue"), unique("db").replace("-", "_")
    run(aws, lake, f"CREATE DATABASE {name}")
    assert glue.get_database(Name=name)["Database"]["Name"] == name
    assert failed(aws, lake, f"CREATE DATABASE {name}").startswith("ALREADY_EXISTS: ")
    run(aws, lake, f"CREATE DATABASE IF NOT EXISTS {name}")
    run(aws, lake, f"CREATE TABLE {name}.t (a int) LOCATION 's3://{lake['bucket']}/dbt/'")
    reason = failed(aws, lake, f"DROP DATABASE {name}")
    assert reason.startswith("SCHEMA_NOT_EMPTY: "), reason
    glue.get_table(DatabaseName=name, Name="t")  # still there
    run(aws, lake, f"DROP DATABASE {name} CASCADE")
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_database(Name=name)
    run(aws, lake, f"DROP DATABASE IF EXISTS {name}")


def test_unload_writes_objects_and_a_manifest_but_no_table(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    prefix = unique("unload")
    to = f"s3://{lake['bucket']}/{prefix}/"
    execution = run(
        aws,
        lake,
        f"UNLOAD (SELECT id, item FROM orders WHERE id < 3) TO '{to}' WITH (format = 'JSON', compression = 'NONE')",
    )
    assert execution["SubstatementType"] == "UNLOAD"
    [key] = keys_under(aws, lake["bucket"], f"{prefix}/")
    body = aws("s3").get_object(Bucket=lake["bucket"], Key=key)["Body"].read().decode()
    assert [json.loads(line) for line in body.splitlines()] == [
        {"id": 1, "item": "lamp"},
        {"id": 2, "item": "desk"},
    ]
    manifest_uri = execution["Statistics"]["DataManifestLocation"]
    manifest = aws("s3").get_object(Bucket=lake["results"], Key=manifest_uri.split("/", 3)[3])["Body"].read()
    assert manifest.decode().split() == [f"s3://{lake['bucket']}/{key}"]
    # Into a destination that holds data: refused before anything is written.
    reason = failed(aws, lake, f"UNLOAD (SELECT id FROM orders) TO '{to}' WITH (format = 'PARQUET')")
    assert reason.startswith("HIVE_PATH_ALREADY_EXISTS: "), reason
    assert keys_under(aws, lake["bucket"], f"{prefix}/") == [key]
    # The inner query passes the sandbox like any other.
    reason = failed(
        aws, lake, f"UNLOAD (SELECT * FROM read_text('/etc/passwd')) TO 's3://{lake['bucket']}/x/'"
    )
    assert reason.startswith("FUNCTION_NOT_FOUND: ") or reason.startswith("TABLE_NOT_FOUND: "), reason
