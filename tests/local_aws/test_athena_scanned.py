"""DataScannedInBytes for Parquet counts the column chunks a query reads, so column pruning shows."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.local_aws.test_athena import finish
from tests.support import unique

ROWS = 2000


@pytest.fixture(scope="module")
def lake(aws: Callable[..., Any]) -> dict[str, Any]:
    """A Parquet table (two row groups) with a small int column and a wide text column."""
    s3, glue = aws("s3"), aws("glue")
    bucket, database = unique("scan-lake"), unique("scan").replace("-", "_")
    s3.create_bucket(Bucket=bucket)
    glue.create_database(DatabaseInput={"Name": database})
    glue.create_table(
        DatabaseName=database,
        TableInput={
            "Name": "events",
            "TableType": "EXTERNAL_TABLE",
            "StorageDescriptor": {
                "Columns": [{"Name": "id", "Type": "bigint"}, {"Name": "payload", "Type": "string"}],
                "Location": f"s3://{bucket}/events/",
                "SerdeInfo": {
                    "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
                },
                "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            },
        },
    )
    table = pa.table(
        {
            "id": pa.array(range(ROWS), pa.int64()),
            "payload": pa.array([f"{i:08d}-" + "x" * (i % 97) + str(i * 7919) for i in range(ROWS)]),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=ROWS // 2)
    body = sink.getvalue()
    s3.put_object(Bucket=bucket, Key="events/part-0.parquet", Body=body)
    metadata = pq.ParquetFile(io.BytesIO(body)).metadata
    chunks: dict[str, int] = {}
    for group in range(metadata.num_row_groups):
        for position in range(metadata.row_group(group).num_columns):
            chunk = metadata.row_group(group).column(position)
            chunks[chunk.path_in_schema] = chunks.get(chunk.path_in_schema, 0) + chunk.total_compressed_size
    return {
        "bucket": bucket,
        "database": database,
        "size": len(body),
        "footer": metadata.serialized_size + 8,
        "chunks": chunks,
    }


def _scanned(
    aws: Callable[..., Any], lake: dict[str, Any], sql: str, workgroup: str = "primary"
) -> dict[str, Any]:
    execution_id = aws("athena").start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": lake["database"]},
        ResultConfiguration={"OutputLocation": f"s3://{lake['bucket']}/results/"},
        WorkGroup=workgroup,
    )["QueryExecutionId"]
    return finish(aws, execution_id)


def test_parquet_bills_the_column_chunks_read(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    footer, chunks = lake["footer"], lake["chunks"]
    one = _scanned(aws, lake, "SELECT sum(id) FROM events")
    assert one["Status"]["State"] == "SUCCEEDED", one["Status"]
    assert one["Statistics"]["DataScannedInBytes"] == footer + chunks["id"]
    everything = _scanned(aws, lake, "SELECT * FROM events WHERE id < 10")
    assert everything["Statistics"]["DataScannedInBytes"] == min(lake["size"], footer + sum(chunks.values()))
    counted = _scanned(aws, lake, "SELECT count(*) FROM events")
    assert counted["Statistics"]["DataScannedInBytes"] == footer  # no column is read, only the footer
    # The object is cached now; it bills the same, as Athena bills every read.
    again = _scanned(aws, lake, "SELECT max(payload) FROM events")
    assert again["Statistics"]["DataScannedInBytes"] == footer + chunks["payload"]
    assert footer + chunks["id"] < footer + chunks["payload"] <= lake["size"]


def test_through_a_view_only_the_columns_the_query_uses_are_billed(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    """A view that names both columns (a dedupe by window, as the changes view does): a query that
    uses only ``id`` pays for ``id``, not for the wide column the view also names; ``SELECT *`` pays
    for both, and a column the view's window needs is billed even when the query does not name it."""
    footer, chunks = lake["footer"], lake["chunks"]
    view = unique("deduped").replace("-", "_")
    created = _scanned(
        aws,
        lake,
        f"CREATE VIEW {view} AS SELECT id, payload FROM (SELECT id, payload, row_number() OVER "
        "(PARTITION BY id ORDER BY id) AS copy_number FROM events) WHERE copy_number = 1",
    )
    assert created["Status"]["State"] == "SUCCEEDED", created["Status"]
    narrow = _scanned(aws, lake, f"SELECT sum(id) FROM {view}")
    assert narrow["Status"]["State"] == "SUCCEEDED", narrow["Status"]
    assert narrow["Statistics"]["DataScannedInBytes"] == footer + chunks["id"]
    wide = _scanned(aws, lake, f"SELECT * FROM {view} WHERE id < 10")
    assert wide["Statistics"]["DataScannedInBytes"] == min(lake["size"], footer + sum(chunks.values()))
    # The window partitions by id: reading payload alone through the view still reads id.
    payload_only = _scanned(aws, lake, f"SELECT max(payload) FROM {view}")
    assert payload_only["Statistics"]["DataScannedInBytes"] == min(
        lake["size"], footer + sum(chunks.values())
    )
    # And the answers are the view's, whatever is billed.
    rows = aws("athena").get_query_results(QueryExecutionId=narrow["QueryExecutionId"])["ResultSet"]["Rows"]
    assert rows[1]["Data"][0]["VarCharValue"] == str(sum(range(ROWS)))


def test_the_bytes_cutoff_counts_the_same_figure(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    """A file past the 10 MB cutoff: reading its small column passes, reading its wide one stops."""
    import os

    glue, s3 = aws("glue"), aws("s3")
    storage = glue.get_table(DatabaseName=lake["database"], Name="events")["Table"]["StorageDescriptor"]
    glue.create_table(
        DatabaseName=lake["database"],
        TableInput={
            "Name": "wide",
            "StorageDescriptor": {**storage, "Location": f"s3://{lake['bucket']}/wide/"},
        },
    )
    payload = os.urandom(6_000_000).hex()  # 12 MB that no codec shrinks, and written uncompressed
    table = pa.table(
        {
            "id": pa.array(range(1000), pa.int64()),
            "payload": pa.array([payload[i * 12_000 : (i + 1) * 12_000] for i in range(1000)]),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="none", use_dictionary=False)
    s3.put_object(Bucket=lake["bucket"], Key="wide/part-0.parquet", Body=sink.getvalue())
    workgroup = unique("scan-wg")
    aws("athena").create_work_group(Name=workgroup, Configuration={"BytesScannedCutoffPerQuery": 10_000_000})
    narrow = _scanned(aws, lake, "SELECT sum(id) FROM wide", workgroup)
    assert narrow["Status"]["State"] == "SUCCEEDED", narrow["Status"]
    assert 0 < narrow["Statistics"]["DataScannedInBytes"] < 100_000
    wide = _scanned(aws, lake, "SELECT max(payload) FROM wide", workgroup)
    assert wide["Status"]["State"] == "FAILED", wide["Status"]
    assert wide["Status"]["StateChangeReason"] == "Bytes scanned limit was exceeded"
