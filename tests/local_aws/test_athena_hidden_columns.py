"""Trino's hidden columns of Hive tables: ``"$path"`` and ``"$file_size"``, on every read path.

As in Athena (Trino's Hive connector), each row of a JSON, text or Parquet table can be asked for
the S3 URI of the object it came from and that object's size; the columns can be filtered on, and
``SELECT *`` never shows them.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from local_aws.athena_engine import cache
from tests.local_aws.athena_helpers import (
    JSON_SERDE,
    add_partition,
    create_table,
    ndjson,
    new_lake,
    put_object,
)
from tests.local_aws.test_athena import query, rows_of, run

PARQUET_SERDE = {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
COLUMNS = [("id", "int"), ("name", "string")]


def _parquet(rows: list[tuple[int, str]]) -> bytes:
    sink = io.BytesIO()
    table = pa.table({"id": [r[0] for r in rows], "name": [r[1] for r in rows]})
    pq.write_table(table, sink)
    return sink.getvalue()


def _encode(fmt: str, rows: list[tuple[int, str]]) -> bytes:
    if fmt == "json":
        return ndjson([{"id": i, "name": n} for i, n in rows])
    if fmt == "parquet":
        return _parquet(rows)
    return "".join(f"{i},{n}\n" for i, n in rows).encode()


@pytest.fixture(scope="module")
def lake(aws: Callable[..., Any]) -> dict[str, Any]:
    """One table per format, each of two objects (a.* with ids 1-2, b.* with id 3); sizes recorded."""
    lake = new_lake(aws, "hidden")
    sizes: dict[str, dict[str, int]] = {}
    for fmt in ("json", "text", "parquet"):
        create_table(
            aws,
            lake,
            fmt,
            COLUMNS,
            **(
                {"serde": JSON_SERDE}
                if fmt == "json"
                else {"serde": PARQUET_SERDE, "input_format": PARQUET_INPUT}
                if fmt == "parquet"
                else {}
            ),
        )
        sizes[fmt] = {
            "a": put_object(aws, lake, f"{fmt}/a.dat", _encode(fmt, [(1, "lamp"), (2, "desk")])),
            "b": put_object(aws, lake, f"{fmt}/b.dat", _encode(fmt, [(3, "sofa")])),
        }
    create_table(aws, lake, "parted", COLUMNS, partition_keys=[("day", "string")])
    add_partition(aws, lake, "parted", "day", "2026-01-01")
    put_object(aws, lake, "parted/day=2026-01-01/p.csv", b"7,rug\n")
    return {**lake, "sizes": sizes}


@pytest.fixture(params=[True, False], ids=["cached", "uncached"])
def read_path(request: pytest.FixtureRequest) -> Iterator[bool]:
    """Run the test through the object cache and without it (the server is in this process)."""
    was = cache.enabled()
    cache.configure(enabled=request.param)
    try:
        yield request.param
    finally:
        cache.configure(enabled=was)


@pytest.mark.parametrize("fmt", ["json", "text", "parquet"])
def test_hidden_columns_give_each_rows_object_uri_and_size(
    aws: Callable[..., Any], lake: dict[str, Any], read_path: bool, fmt: str
) -> None:
    found = query(aws, lake, f'SELECT id, "$path", "$file_size" FROM {fmt} ORDER BY id')
    base = f"s3://{lake['bucket']}/{fmt}/"
    sizes = lake["sizes"][fmt]
    assert found == [
        ["id", "$path", "$file_size"],
        ["1", f"{base}a.dat", str(sizes["a"])],
        ["2", f"{base}a.dat", str(sizes["a"])],
        ["3", f"{base}b.dat", str(sizes["b"])],
    ]


@pytest.mark.parametrize("fmt", ["json", "text", "parquet"])
def test_hidden_columns_filter_rows(
    aws: Callable[..., Any], lake: dict[str, Any], read_path: bool, fmt: str
) -> None:
    assert query(aws, lake, f"SELECT name FROM {fmt} WHERE \"$path\" LIKE '%/b.dat'") == [["name"], ["sofa"]]
    size = lake["sizes"][fmt]["a"]
    by_size = f'SELECT count(*) FROM {fmt} WHERE "$file_size" = {size}'
    assert query(aws, lake, by_size) == [["_col0"], ["2"]]


def test_select_star_never_shows_hidden_columns(
    aws: Callable[..., Any], lake: dict[str, Any], read_path: bool
) -> None:
    assert query(aws, lake, "SELECT * FROM text WHERE id = 3") == [["id", "name"], ["3", "sofa"]]
    named = query(aws, lake, 'SELECT *, "$file_size" AS size FROM text t WHERE id = 3')
    assert named == [["id", "name", "size"], ["3", "sofa", str(lake["sizes"]["text"]["b"])]]
    qualified = query(aws, lake, "SELECT t.* FROM text t WHERE \"$path\" LIKE '%/b.dat'")
    assert qualified == [["id", "name"], ["3", "sofa"]]


def test_hidden_columns_of_a_partitioned_table_and_their_types(
    aws: Callable[..., Any], lake: dict[str, Any], read_path: bool
) -> None:
    execution = run(aws, lake, 'SELECT *, "$path", "$file_size" FROM parted')
    rows = rows_of(aws, execution["QueryExecutionId"])
    uri = f"s3://{lake['bucket']}/parted/day=2026-01-01/p.csv"
    assert rows == [["id", "name", "day", "$path", "$file_size"], ["7", "rug", "2026-01-01", uri, "6"]]
    metadata = aws("athena").get_query_results(QueryExecutionId=execution["QueryExecutionId"])
    types = [c["Type"] for c in metadata["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]]
    assert types[3:] == ["varchar", "bigint"]


def test_an_unknown_dollar_column_is_still_an_error(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    execution_id = aws("athena").start_query_execution(
        QueryString='SELECT "$nope" FROM text',
        QueryExecutionContext={"Database": lake["database"]},
        ResultConfiguration={"OutputLocation": f"s3://{lake['results']}/queries/"},
    )["QueryExecutionId"]
    from tests.local_aws.test_athena import finish

    status = finish(aws, execution_id)["Status"]
    assert status["State"] == "FAILED"
    assert status["StateChangeReason"].startswith("COLUMN_NOT_FOUND")
