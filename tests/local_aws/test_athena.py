"""Contract tests for Athena on DuckDB, written as a boto3 user would use Athena."""

from __future__ import annotations

import base64
import decimal
import gzip
import io
import json
import re
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from tests.local_aws.athena_helpers import (
    JSON_SERDE,
    TEXT_INPUT_FORMAT,
    add_partition,
    create_table,
    ndjson,
    new_lake,
    put_object,
)
from tests.support import unique, wait_until

FINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
# A query DuckDB needs a long while for: 10^10 rows through a filter. Tests stop it, never time it.
SLOW_QUERY = (
    "SELECT count(*) FROM UNNEST(sequence(1, 100000)) AS a(x) "
    "CROSS JOIN UNNEST(sequence(1, 100000)) AS b(y) WHERE (x * y) % 7 = 3"
)

ORDERS = {
    "2024-01-01": [
        {"OrderId": 1, "product_name": "Lamp", "quantity": 2, "price": 19.99, "paid": True,
         "created": "2024-01-01 10:00:00", "tags": ["home", "light"],
         "address": {"City": "Oslo", "zip": "0150"}, "attrs": {"color": "red"}},
        {"orderid": 2, "product_name": 'Desk "XL"', "quantity": 1, "price": 0.1, "paid": False,
         "created": "2024-01-01T11:30:00Z", "tags": [], "address": None, "attrs": {}},
    ],
    "2024-01-02": [
        {"orderid": 3, "product_name": "Pen", "quantity": 10, "price": "0.2", "paid": True,
         "created": "2024-01-02 09:15:00", "tags": ["office"], "address": {"city": "Bergen"}},
        {"orderid": 4, "product_name": None, "quantity": 7, "price": 12345678.91},
    ],
    "2024-01-03": [
        {"orderid": 5, "product_name": "", "quantity": 3, "price": 0.7},
    ],
}  # fmt: skip
ORDER_COLUMNS = [
    ("orderid", "bigint"),
    ("product_name", "string"),
    ("quantity", "int"),
    ("price", "decimal(10,2)"),
    ("paid", "boolean"),
    ("created", "timestamp"),
    ("tags", "array<string>"),
    ("address", "struct<city:string,zip:string>"),
    ("attrs", "map<string,string>"),
]


@pytest.fixture(scope="module")
def lake(aws: Callable[..., Any]) -> dict[str, Any]:
    """A Glue database with a partitioned JSON orders table (one partition gzipped), and buckets."""
    lake = new_lake(aws, "sales")
    create_table(
        aws,
        lake,
        "orders",
        ORDER_COLUMNS,
        serde=JSON_SERDE,
        partition_keys=[("dt", "string")],
        input_format=TEXT_INPUT_FORMAT,
    )
    sizes: dict[str, int] = {}
    for dt, rows in ORDERS.items():
        body, name = ndjson(rows), "part-0.json"
        if dt == "2024-01-02":
            body, name = gzip.compress(body), name + ".gz"
        sizes[dt] = put_object(aws, lake, add_partition(aws, lake, "orders", "dt", dt) + name, body)
    # Hidden files are not data, as in Hive.
    put_object(aws, lake, "orders/dt=2024-01-01/_SUCCESS", b"")
    return {**lake, "sizes": sizes}


def start(aws: Callable[..., Any], lake: dict[str, Any], sql: str, **kwargs: Any) -> str:
    kwargs.setdefault("QueryExecutionContext", {"Database": lake["database"]})
    kwargs.setdefault("ResultConfiguration", {"OutputLocation": f"s3://{lake['results']}/queries/"})
    return aws("athena").start_query_execution(QueryString=sql, **kwargs)["QueryExecutionId"]


def finish(aws: Callable[..., Any], execution_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        execution = aws("athena").get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
        return execution if execution["Status"]["State"] in FINAL else None

    # Generous: statements that contend for one Iceberg table queue behind each other on a busy machine.
    return wait_until(done, timeout=120, interval=0.05, what=f"query {execution_id}")


def run(aws: Callable[..., Any], lake: dict[str, Any], sql: str, **kwargs: Any) -> dict[str, Any]:
    execution = finish(aws, start(aws, lake, sql, **kwargs))
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    return execution


def rows_of(aws: Callable[..., Any], execution_id: str) -> list[list[str | None]]:
    rows: list[list[str | None]] = []
    for page in aws("athena").get_paginator("get_query_results").paginate(QueryExecutionId=execution_id):
        rows += [[cell.get("VarCharValue") for cell in row["Data"]] for row in page["ResultSet"]["Rows"]]
    return rows


def query(aws: Callable[..., Any], lake: dict[str, Any], sql: str) -> list[list[str | None]]:
    return rows_of(aws, run(aws, lake, sql)["QueryExecutionId"])


def test_select_returns_the_rows_written_with_catalog_types(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    execution = run(aws, lake, "SELECT * FROM orders ORDER BY orderid")
    assert execution["StatementType"] == "DML"
    assert execution["Statistics"]["DataScannedInBytes"] == sum(lake["sizes"].values())
    assert execution["Status"]["CompletionDateTime"] >= execution["Status"]["SubmissionDateTime"]
    result = aws("athena").get_query_results(QueryExecutionId=execution["QueryExecutionId"])
    columns = result["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
    assert [(c["Name"], c["Type"]) for c in columns] == [
        ("orderid", "bigint"),
        ("product_name", "varchar"),
        ("quantity", "integer"),
        ("price", "decimal"),
        ("paid", "boolean"),
        ("created", "timestamp"),
        ("tags", "array"),
        ("address", "row"),
        ("attrs", "map"),
        ("dt", "varchar"),
    ]
    price = columns[3]
    assert (price["Precision"], price["Scale"], price["Nullable"], price["CatalogName"]) == (
        10,
        2,
        "UNKNOWN",
        "hive",
    )
    assert columns[1]["CaseSensitive"] is True and columns[0]["CaseSensitive"] is False
    rows = [[cell.get("VarCharValue") for cell in row["Data"]] for row in result["ResultSet"]["Rows"]]
    assert rows[0] == [c["Name"] for c in columns]  # the header row
    assert rows[1:] == [
        ["1", "Lamp", "2", "19.99", "true", "2024-01-01 10:00:00.000", "[home, light]", "{city=Oslo, zip=0150}",
         "{color=red}", "2024-01-01"],
        ["2", 'Desk "XL"', "1", "0.10", "false", "2024-01-01 11:30:00.000", "[]", None, "{}", "2024-01-01"],
        ["3", "Pen", "10", "0.20", "true", "2024-01-02 09:15:00.000", "[office]", "{city=Bergen, zip=null}", None,
         "2024-01-02"],
        ["4", None, "7", "12345678.91", None, None, None, None, None, "2024-01-02"],
        ["5", "", "3", "0.70", None, None, None, None, None, "2024-01-03"],
    ]  # fmt: skip


def test_decimal_sums_are_exact_to_the_cent(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    expected = sum(
        decimal.Decimal(str(r["price"])).quantize(decimal.Decimal("0.01")) * r["quantity"]
        for rows in ORDERS.values()
        for r in rows
    )
    rows = query(
        aws, lake, "SELECT sum(price * quantity) AS revenue, sum(CAST(price AS DECIMAL(10,2))) FROM orders"
    )
    assert rows[0] == ["revenue", "_col1"]
    assert rows[1][0] == str(expected)
    assert rows[1][1] == str(sum(decimal.Decimal(str(r["price"])) for v in ORDERS.values() for r in v).quantize(
        decimal.Decimal("0.01")
    ))  # fmt: skip


def test_where_on_partition_columns_reads_only_those_partitions(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    sizes = lake["sizes"]
    one = run(aws, lake, "SELECT count(*) FROM orders WHERE dt = '2024-01-02' AND quantity > 0")
    assert one["Statistics"]["DataScannedInBytes"] == sizes["2024-01-02"]
    assert rows_of(aws, one["QueryExecutionId"])[1] == ["2"]
    two = run(
        aws, lake, "SELECT o.orderid FROM orders o WHERE o.dt IN ('2024-01-01', '2024-01-03') ORDER BY 1"
    )
    assert two["Statistics"]["DataScannedInBytes"] == sizes["2024-01-01"] + sizes["2024-01-03"]
    assert rows_of(aws, two["QueryExecutionId"])[1:] == [["1"], ["2"], ["5"]]
    ranged = run(aws, lake, "SELECT count(*) FROM orders WHERE CAST(dt AS DATE) > DATE '2024-01-01'")
    assert ranged["Statistics"]["DataScannedInBytes"] == sizes["2024-01-02"] + sizes["2024-01-03"]
    none = run(aws, lake, "SELECT count(*) FROM orders WHERE dt = '1999-01-01'")
    assert none["Statistics"]["DataScannedInBytes"] == 0
    assert rows_of(aws, none["QueryExecutionId"])[1] == ["0"]
    # An OR with a data column cannot prune: every partition is read.
    mixed = run(aws, lake, "SELECT count(*) FROM orders WHERE dt = '2024-01-01' OR quantity = 7")
    assert mixed["Statistics"]["DataScannedInBytes"] == sum(sizes.values())
    assert rows_of(aws, mixed["QueryExecutionId"])[1] == ["3"]


def test_trino_semantics_and_qualified_names(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    database = lake["database"]
    rows = query(
        aws,
        lake,
        f"SELECT 7 / 2, 7.0 / 2, 'a' || 'b', count(DISTINCT dt), max(length(product_name)) "
        f'FROM "awsdatacatalog"."{database}"."orders" WHERE dt = \'2024-01-01\'',
    )
    assert rows == [["_col0", "_col1", "_col2", "_col3", "_col4"], ["3", "3.5", "ab", "1", "9"]]
    rows = query(
        aws,
        lake,
        f"WITH daily AS (SELECT dt, sum(quantity) AS units FROM {database}.orders GROUP BY dt) "
        "SELECT dt, units, date_trunc('month', CAST(dt AS DATE)) AS month FROM daily ORDER BY dt",
    )
    assert rows[1:] == [
        ["2024-01-01", "3", "2024-01-01"],
        ["2024-01-02", "17", "2024-01-01"],
        ["2024-01-03", "3", "2024-01-01"],
    ]


def test_execution_parameters_fill_placeholders(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    execution = run(
        aws,
        lake,
        "SELECT orderid FROM orders WHERE dt = ? AND quantity >= ? ORDER BY orderid",
        ExecutionParameters=["'2024-01-01'", "2"],
    )
    assert execution["ExecutionParameters"] == ["'2024-01-01'", "2"]
    assert execution["Statistics"]["DataScannedInBytes"] == lake["sizes"]["2024-01-01"]
    assert rows_of(aws, execution["QueryExecutionId"])[1:] == [["1"]]


def test_parquet_and_csv_tables(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    s3, glue, database, bucket = aws("s3"), aws("glue"), lake["database"], lake["bucket"]
    table = pa.table(
        {
            "Id": pa.array([1, 2], pa.int64()),
            "amount": pa.array([decimal.Decimal("1.25"), None], pa.decimal128(10, 2)),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    s3.put_object(Bucket=bucket, Key="payments/part-0.parquet", Body=buffer.getvalue())
    glue.create_table(
        DatabaseName=database,
        TableInput={
            "Name": "payments",
            "StorageDescriptor": {
                "Columns": [{"Name": "id", "Type": "bigint"}, {"Name": "amount", "Type": "decimal(10,2)"},
                            {"Name": "note", "Type": "string"}],
                "Location": f"s3://{bucket}/payments/",
                "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
            },
        },
    )  # fmt: skip
    assert query(aws, lake, "SELECT * FROM payments ORDER BY id")[1:] == [
        ["1", "1.25", None],
        ["2", None, None],
    ]

    s3.put_object(Bucket=bucket, Key="rates/rates.csv", Body=b"code,rate\nEUR,1.1\nNOK,abc\n")
    glue.create_table(
        DatabaseName=database,
        TableInput={
            "Name": "rates",
            "Parameters": {"skip.header.line.count": "1"},
            "StorageDescriptor": {
                "Columns": [{"Name": "code", "Type": "string"}, {"Name": "rate", "Type": "double"}],
                "Location": f"s3://{bucket}/rates/",
                "SerdeInfo": {
                    "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                    "Parameters": {"field.delim": ","},
                },
            },
        },
    )
    # Hive reads a value that does not parse as NULL.
    assert query(aws, lake, "SELECT code, rate FROM rates ORDER BY code")[1:] == [
        ["EUR", "1.1"],
        ["NOK", None],
    ]


def test_views_are_stored_as_athena_stores_them_and_reused(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    glue, database = aws("glue"), lake["database"]
    view_sql = "SELECT orderid, price * quantity AS total, dt FROM orders WHERE quantity > 1"
    execution = run(aws, lake, f"CREATE OR REPLACE VIEW big_orders AS {view_sql}")
    assert execution["StatementType"] == "DDL"
    stored = glue.get_table(DatabaseName=database, Name="big_orders")["Table"]
    assert stored["TableType"] == "VIRTUAL_VIEW"
    assert stored["Parameters"] == {"presto_view": "true", "comment": "Presto View"}
    assert stored["ViewExpandedText"] == "/* Presto View */"
    stored_columns = [(c["Name"], c["Type"]) for c in stored["StorageDescriptor"]["Columns"]]
    assert [name for name, _ in stored_columns] == ["orderid", "total", "dt"]
    assert stored_columns[0][1] == "bigint" and stored_columns[2][1] == "string"
    assert re.fullmatch(r"decimal\(\d+,2\)", stored_columns[1][1])
    match = re.fullmatch(r"/\* Presto View: (\S+) \*/", stored["ViewOriginalText"])
    assert match
    definition = json.loads(base64.b64decode(match.group(1)))
    assert definition["originalSql"] == view_sql
    assert (definition["catalog"], definition["schema"]) == ("awsdatacatalog", database)
    assert definition["columns"] == [
        {"name": "orderid", "type": "bigint"},
        {"name": "total", "type": stored_columns[1][1]},
        {"name": "dt", "type": "varchar"},
    ]
    assert query(aws, lake, "SELECT * FROM big_orders ORDER BY orderid")[1:] == [
        ["1", "39.98", "2024-01-01"],
        ["3", "2.00", "2024-01-02"],
        ["4", "86419752.37", "2024-01-02"],
        ["5", "2.10", "2024-01-03"],
    ]
    # A view over a view, then replaced in place.
    run(aws, lake, "CREATE VIEW daily_totals AS SELECT dt, sum(total) AS total FROM big_orders GROUP BY dt")
    assert query(aws, lake, "SELECT total FROM daily_totals WHERE dt = '2024-01-02'")[1:] == [["86419754.37"]]
    run(aws, lake, "CREATE OR REPLACE VIEW big_orders AS SELECT orderid, price AS total, dt FROM orders")
    assert query(aws, lake, "SELECT total FROM daily_totals WHERE dt = '2024-01-03'")[1:] == [["0.70"]]
    # CREATE VIEW without OR REPLACE fails when it exists.
    failed = finish(aws, start(aws, lake, "CREATE VIEW big_orders AS SELECT 1 AS x"))
    assert failed["Status"]["State"] == "FAILED"
    assert "already exists" in failed["Status"]["StateChangeReason"]
    run(aws, lake, "DROP VIEW daily_totals")
    run(aws, lake, "DROP VIEW IF EXISTS daily_totals")
    with pytest.raises(ClientError) as error:
        glue.get_table(DatabaseName=database, Name="daily_totals")
    assert error.value.response["Error"]["Code"] == "EntityNotFoundException"
    missing = finish(aws, start(aws, lake, "DROP VIEW daily_totals"))
    assert missing["Status"]["State"] == "FAILED"
    assert "daily_totals" in missing["Status"]["StateChangeReason"]


@pytest.mark.parametrize(
    ("sql", "code", "name"),
    [
        ("SELECT * FROM no_such_table", "TABLE_NOT_FOUND", "no_such_table"),
        ("SELECT no_such_column FROM orders", "COLUMN_NOT_FOUND", "no_such_column"),
        ("SELECT * FROM no_such_db.orders", "SCHEMA_NOT_FOUND", "no_such_db"),
        ("SELEC 1", "SYNTAX_ERROR", ""),
    ],
)
def test_bad_queries_fail_with_athena_reasons(
    aws: Callable[..., Any], lake: dict[str, Any], sql: str, code: str, name: str
) -> None:
    execution_id = start(aws, lake, sql)
    status = finish(aws, execution_id)["Status"]
    assert status["State"] == "FAILED"
    assert status["StateChangeReason"].startswith(f"{code}: ")
    assert name in status["StateChangeReason"]
    assert status["AthenaError"]["ErrorCategory"] == 2
    assert status["AthenaError"]["ErrorMessage"] == status["StateChangeReason"]
    assert status["AthenaError"]["Retryable"] is False
    with pytest.raises(ClientError) as error:
        aws("athena").get_query_results(QueryExecutionId=execution_id)
    assert error.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "FAILED" in error.value.response["Error"]["Message"]


def test_results_are_paginated_with_the_header_on_the_first_page_only(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    athena = aws("athena")
    execution_id = run(aws, lake, "SELECT x FROM UNNEST(sequence(1, 2500)) AS t(x) ORDER BY x")[
        "QueryExecutionId"
    ]
    first = athena.get_query_results(QueryExecutionId=execution_id, MaxResults=1000)
    values = [row["Data"][0]["VarCharValue"] for row in first["ResultSet"]["Rows"]]
    assert values[:3] == ["x", "1", "2"] and len(values) == 1000
    second = athena.get_query_results(
        QueryExecutionId=execution_id, MaxResults=1000, NextToken=first["NextToken"]
    )
    assert second["ResultSet"]["Rows"][0]["Data"][0]["VarCharValue"] == "1000"
    assert second["ResultSet"]["ResultSetMetadata"]["ColumnInfo"][0]["Type"] == "bigint"
    every = rows_of(aws, execution_id)
    assert every == [["x"]] + [[str(i)] for i in range(1, 2501)]
    with pytest.raises(ClientError) as error:
        athena.get_query_results(QueryExecutionId=execution_id, MaxResults=1001)
    assert error.value.response["Error"]["Code"] == "InvalidRequestException"
    with pytest.raises(ClientError) as error:
        athena.get_query_results(QueryExecutionId="00000000-0000-0000-0000-000000000000")
    assert error.value.response["Error"]["Code"] == "InvalidRequestException"


def test_result_files_are_athena_csv_in_the_output_location(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    s3 = aws("s3")
    execution = run(
        aws, lake, "SELECT orderid, product_name FROM orders WHERE dt = '2024-01-03' OR orderid = 2"
    )
    execution_id = execution["QueryExecutionId"]
    location = f"s3://{lake['results']}/queries/{execution_id}.csv"
    assert execution["ResultConfiguration"]["OutputLocation"] == location
    body = s3.get_object(Bucket=lake["results"], Key=f"queries/{execution_id}.csv")["Body"].read()
    lines = sorted(body.decode().splitlines())
    assert lines == sorted(['"orderid","product_name"', '"2","Desk ""XL"""', '"5",""'])
    assert (
        s3.head_object(Bucket=lake["results"], Key=f"queries/{execution_id}.csv.metadata")["ContentLength"]
        > 0
    )
    nulls = run(aws, lake, "SELECT product_name FROM orders WHERE orderid = 4")["QueryExecutionId"]
    assert (
        s3.get_object(Bucket=lake["results"], Key=f"queries/{nulls}.csv")["Body"].read()
        == b'"product_name"\n\n'
    )
    assert rows_of(aws, nulls) == [["product_name"], [None]]


def test_ddl_and_utility_statements(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    s3, database = aws("s3"), lake["database"]
    shown = run(aws, lake, "SHOW TABLES")
    assert shown["StatementType"] == "UTILITY"
    assert shown["ResultConfiguration"]["OutputLocation"].endswith(f"{shown['QueryExecutionId']}.txt")
    assert ["orders"] in rows_of(aws, shown["QueryExecutionId"])  # no header row for DDL output
    key = f"queries/{shown['QueryExecutionId']}.txt"
    assert "orders\n" in s3.get_object(Bucket=lake["results"], Key=key)["Body"].read().decode()
    assert [database] in query(aws, lake, "SHOW DATABASES")
    assert query(aws, lake, "SHOW PARTITIONS orders") == [
        ["dt=2024-01-01"],
        ["dt=2024-01-02"],
        ["dt=2024-01-03"],
    ]
    described = query(aws, lake, "DESCRIBE orders")
    assert described[0][0].split("\t")[0].strip() == "orderid"
    assert described[3][0].split("\t")[1].strip() == "decimal(10,2)"

    s3.put_object(
        Bucket=lake["bucket"], Key="events/2024/e.json", Body=b'{"id": "a", "n": 1}\n{"id": "b", "n": 2}\n'
    )
    created = run(
        aws,
        lake,
        "CREATE EXTERNAL TABLE events (id string, n int) "
        "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' "
        f"LOCATION 's3://{lake['bucket']}/events/'",
    )
    assert created["StatementType"] == "DDL"
    table = aws("glue").get_table(DatabaseName=database, Name="events")["Table"]
    assert (
        table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]
        == "org.openx.data.jsonserde.JsonSerDe"
    )
    assert query(aws, lake, "SELECT sum(n) FROM events") == [["_col0"], ["3"]]
    run(aws, lake, "DROP TABLE events")
    failed = finish(aws, start(aws, lake, "SELECT * FROM events"))
    assert failed["Status"]["StateChangeReason"].startswith("TABLE_NOT_FOUND")


def test_output_location_comes_from_the_workgroup_when_enforced_or_missing(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    athena, results = aws("athena"), lake["results"]
    enforced, loose = unique("enforced"), unique("loose")
    athena.create_work_group(
        Name=enforced,
        Configuration={
            "ResultConfiguration": {"OutputLocation": f"s3://{results}/enforced/"},
            "EnforceWorkGroupConfiguration": True,
        },
    )
    athena.create_work_group(
        Name=loose,
        Configuration={
            "ResultConfiguration": {"OutputLocation": f"s3://{results}/loose/"},
            "EnforceWorkGroupConfiguration": False,
        },
    )
    forced = run(aws, lake, "SELECT 1", WorkGroup=enforced)
    assert forced["WorkGroup"] == enforced
    assert (
        forced["ResultConfiguration"]["OutputLocation"]
        == f"s3://{results}/enforced/{forced['QueryExecutionId']}.csv"
    )
    mine = run(aws, lake, "SELECT 1", WorkGroup=loose)
    assert mine["ResultConfiguration"]["OutputLocation"].startswith(f"s3://{results}/queries/")
    default = run(aws, lake, "SELECT 1", WorkGroup=loose, ResultConfiguration={})
    assert default["ResultConfiguration"]["OutputLocation"].startswith(f"s3://{results}/loose/")
    assert forced["QueryExecutionId"] in athena.list_query_executions(WorkGroup=enforced)["QueryExecutionIds"]

    with pytest.raises(ClientError) as error:
        athena.start_query_execution(QueryString="SELECT 1")  # primary has no output location
    assert error.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "No output location provided" in error.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as error:
        athena.start_query_execution(QueryString="SELECT 1", WorkGroup=unique("nope"))
    assert error.value.response["Error"]["Code"] == "InvalidRequestException"


def test_unknown_names_are_placed_at_their_line_and_column_as_trino_does(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    database = lake["database"]
    for sql, reason in (
        (
            "SELECT * FROM nope",
            f"TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.{database}.nope' does not exist",
        ),
        (
            "SELECT o.orderid\nFROM orders AS o\n  JOIN no_such_db.items AS i ON true",
            "SCHEMA_NOT_FOUND: line 3:8: Schema 'no_such_db' does not exist",
        ),
    ):
        execution = finish(aws, start(aws, lake, sql))
        assert execution["Status"]["State"] == "FAILED"
        assert execution["Status"]["StateChangeReason"] == reason


def test_a_long_query_blocks_nobody_and_can_be_stopped(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    athena = aws("athena")
    slow = start(aws, lake, SLOW_QUERY)
    wait_until(
        lambda: (
            athena.get_query_execution(QueryExecutionId=slow)["QueryExecution"]["Status"]["State"]
            == "RUNNING"
        ),
        what="the slow query to run",
    )
    with pytest.raises(ClientError) as error:
        athena.get_query_results(QueryExecutionId=slow)
    assert error.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "RUNNING" in error.value.response["Error"]["Message"]
    # Another query, and other services, still answer while DuckDB is busy.
    quick = run(aws, lake, "SELECT count(*) FROM orders WHERE dt = '2024-01-03'")
    assert rows_of(aws, quick["QueryExecutionId"])[1] == ["1"]
    assert athena.get_query_execution(QueryExecutionId=slow)["QueryExecution"]["Status"]["State"] == "RUNNING"
    athena.stop_query_execution(QueryExecutionId=slow)
    stopped = finish(aws, slow)
    assert stopped["Status"]["State"] == "CANCELLED"
    assert "CompletionDateTime" in stopped["Status"]
    batch = athena.batch_get_query_execution(QueryExecutionIds=[slow, quick["QueryExecutionId"], "missing"])
    states = {e["QueryExecutionId"]: e["Status"]["State"] for e in batch["QueryExecutions"]}
    assert states == {slow: "CANCELLED", quick["QueryExecutionId"]: "SUCCEEDED"}
    assert [u["QueryExecutionId"] for u in batch["UnprocessedQueryExecutionIds"]] == ["missing"]


# -- repeated queries over changing objects (the engine caches parsed objects between queries) -----
def _json_table(
    aws: Callable[..., Any], lake: dict[str, Any], columns: list[tuple[str, str]]
) -> tuple[str, str]:
    """A partitioned JSON table of its own (partitions ``p=a`` and ``p=b``); returns (name, prefix)."""
    name = unique("events").replace("-", "_")
    storage = create_table(
        aws,
        lake,
        name,
        columns,
        serde=JSON_SERDE,
        partition_keys=[("p", "string")],
        input_format=TEXT_INPUT_FORMAT,
    )
    for value in ("a", "b"):
        add_partition(aws, lake, name, "p", value, storage)
    return name, f"{name}/"


def test_an_overwritten_object_is_read_again(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    s3, bucket = aws("s3"), lake["bucket"]
    table, prefix = _json_table(aws, lake, [("id", "int"), ("name", "string")])
    first = ndjson([{"id": 1, "name": "one"}, {"id": 2, "name": "two"}])
    second = ndjson([{"id": 3, "name": "three"}])
    s3.put_object(Bucket=bucket, Key=f"{prefix}p=a/part-0", Body=first)
    s3.put_object(Bucket=bucket, Key=f"{prefix}p=b/part-0", Body=second)
    sql = f"SELECT id, name, p FROM {table} ORDER BY id"
    for _ in range(2):  # the second time from what the first one parsed
        execution = run(aws, lake, sql)
        # Athena bills every object a query reads, whether or not local_aws kept its rows.
        assert execution["Statistics"]["DataScannedInBytes"] == len(first) + len(second)
        assert rows_of(aws, execution["QueryExecutionId"])[1:] == [
            ["1", "one", "a"],
            ["2", "two", "a"],
            ["3", "three", "b"],
        ]
    # Same key, same size, other bytes: the new version is read.
    same_size = ndjson([{"id": 1, "name": "uno"}, {"id": 2, "name": "dos"}])
    assert len(same_size) == len(first)
    s3.put_object(Bucket=bucket, Key=f"{prefix}p=a/part-0", Body=same_size)
    assert query(aws, lake, sql)[1:] == [["1", "uno", "a"], ["2", "dos", "a"], ["3", "three", "b"]]
    # A longer version, read through a partition filter and through a view over the table.
    longer = ndjson([{"id": 1, "name": "eins"}, {"id": 2, "name": "zwei"}, {"id": 4, "name": "vier"}])
    s3.put_object(Bucket=bucket, Key=f"{prefix}p=a/part-0", Body=longer)
    pruned = run(aws, lake, f"SELECT count(*), max(name) FROM {table} WHERE p = 'a'")
    assert pruned["Statistics"]["DataScannedInBytes"] == len(longer)
    assert rows_of(aws, pruned["QueryExecutionId"])[1] == ["3", "zwei"]
    view = unique("names").replace("-", "_")
    run(aws, lake, f"CREATE VIEW {view} AS SELECT id, upper(name) AS name FROM {table}")
    assert query(aws, lake, f"SELECT name FROM {view} ORDER BY id")[1:] == [
        ["EINS"],
        ["ZWEI"],
        ["THREE"],
        ["VIER"],
    ]
    s3.put_object(Bucket=bucket, Key=f"{prefix}p=b/part-0", Body=ndjson([{"id": 3, "name": "drei"}]))
    assert query(aws, lake, f"SELECT name FROM {view} ORDER BY id")[1:] == [
        ["EINS"],
        ["ZWEI"],
        ["DREI"],
        ["VIER"],
    ]


def test_a_deleted_object_is_no_longer_read(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    s3, bucket = aws("s3"), lake["bucket"]
    table, prefix = _json_table(aws, lake, [("id", "int")])
    bodies = {
        f"{prefix}p=a/part-0": ndjson([{"id": 1}, {"id": 2}]),
        f"{prefix}p=a/part-1": ndjson([{"id": 3}]),
        f"{prefix}p=b/part-0": ndjson([{"id": 4}]),
    }
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    sql = f"SELECT count(*), coalesce(sum(id), 0) FROM {table}"
    assert query(aws, lake, sql)[1] == ["4", "10"]
    s3.delete_object(Bucket=bucket, Key=f"{prefix}p=a/part-1")
    gone = run(aws, lake, sql)
    assert rows_of(aws, gone["QueryExecutionId"])[1] == ["3", "7"]
    assert gone["Statistics"]["DataScannedInBytes"] == len(bodies[f"{prefix}p=a/part-0"]) + len(
        bodies[f"{prefix}p=b/part-0"]
    )
    s3.delete_object(Bucket=bucket, Key=f"{prefix}p=b/part-0")
    assert query(aws, lake, f"SELECT count(*) FROM {table} WHERE p = 'b'")[1] == ["0"]
    s3.delete_object(Bucket=bucket, Key=f"{prefix}p=a/part-0")
    empty = run(aws, lake, sql)
    assert rows_of(aws, empty["QueryExecutionId"])[1] == ["0", "0"]
    assert empty["Statistics"]["DataScannedInBytes"] == 0
    # Written again under the same key: read again.
    s3.put_object(Bucket=bucket, Key=f"{prefix}p=a/part-1", Body=bodies[f"{prefix}p=a/part-1"])
    assert query(aws, lake, sql)[1] == ["1", "3"]


def test_a_changed_table_definition_rereads_the_same_objects(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    s3, glue, bucket = aws("s3"), aws("glue"), lake["bucket"]
    table, prefix = _json_table(aws, lake, [("id", "string"), ("amount", "string")])
    s3.put_object(
        Bucket=bucket, Key=f"{prefix}p=a/part-0", Body=ndjson([{"id": 7, "amount": 1.5, "note": "x"}])
    )
    execution = run(aws, lake, f"SELECT * FROM {table}")
    result = aws("athena").get_query_results(QueryExecutionId=execution["QueryExecutionId"])
    assert [c["Type"] for c in result["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]] == [
        "varchar",
        "varchar",
        "varchar",
    ]
    stored = glue.get_table(DatabaseName=lake["database"], Name=table)["Table"]
    storage = stored["StorageDescriptor"]
    storage["Columns"] = [
        {"Name": "id", "Type": "bigint"},
        {"Name": "amount", "Type": "decimal(5,2)"},
        {"Name": "note", "Type": "string"},
    ]
    glue.update_table(
        DatabaseName=lake["database"],
        TableInput={
            "Name": table,
            "TableType": stored["TableType"],
            "PartitionKeys": stored["PartitionKeys"],
            "StorageDescriptor": storage,
        },
    )
    execution = run(aws, lake, f"SELECT id + 1, amount, note, p FROM {table}")
    result = aws("athena").get_query_results(QueryExecutionId=execution["QueryExecutionId"])
    assert [c["Type"] for c in result["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]] == [
        "bigint",
        "decimal",
        "varchar",
        "varchar",
    ]
    assert rows_of(aws, execution["QueryExecutionId"])[1] == ["8", "1.50", "x", "a"]
    # The partition column's type changes too: 'a' is no int, so it reads as NULL, as in Hive.
    glue.update_table(
        DatabaseName=lake["database"],
        TableInput={
            "Name": table,
            "TableType": stored["TableType"],
            "PartitionKeys": [{"Name": "p", "Type": "int"}],
            "StorageDescriptor": storage,
        },
    )
    execution = run(aws, lake, f"SELECT id + 1, amount, note, p FROM {table}")
    result = aws("athena").get_query_results(QueryExecutionId=execution["QueryExecutionId"])
    assert result["ResultSet"]["ResultSetMetadata"]["ColumnInfo"][3]["Type"] == "integer"
    assert rows_of(aws, execution["QueryExecutionId"])[1] == ["8", "1.50", "x", None]


def test_the_object_cache_is_bounded_by_bytes_and_keeps_the_latest_version() -> None:
    import pyarrow as pa

    from local_aws.athena_engine.cache import ObjectCache, ObjectKey

    rows = pa.table({"id": list(range(100))})
    cache = ObjectCache(max_bytes=int(rows.nbytes * 2.5))
    keys = [ObjectKey("b", f"k{i}", '"e"', 10, "s") for i in range(3)]
    for key in keys:
        cache.put(key, rows)
    assert cache.get(keys[0]) is None  # the least recently used went first
    assert cache.get(keys[1]) is rows and cache.get(keys[2]) is rows
    assert cache.bytes <= cache.max_bytes
    newer = ObjectKey("b", "k1", '"f"', 10, "s")
    cache.put(newer, rows)
    assert cache.get(keys[1]) is None and cache.get(newer) is rows
    assert cache.forget_changed("b", "", {"k1": ('"f"', 10)}) == 1  # k2 is gone from the listing
    assert cache.get(keys[2]) is None and len(cache) == 1


def test_concurrent_queries_over_objects_not_yet_read_agree(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    s3, bucket = aws("s3"), lake["bucket"]
    table, prefix = _json_table(aws, lake, [("id", "int")])
    for value, ids in (("a", range(0, 50)), ("b", range(50, 80))):
        s3.put_object(Bucket=bucket, Key=f"{prefix}p={value}/part-0", Body=ndjson([{"id": i} for i in ids]))
    sqls = [
        f"SELECT count(*), sum(id) FROM {table}",
        f"SELECT count(*), sum(id) FROM {table} WHERE p = 'b'",
    ] * 4
    started = [start(aws, lake, sql) for sql in sqls]  # every worker busy, all missing the same objects
    answers = []
    for execution_id in started:
        execution = finish(aws, execution_id)
        assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
        answers.append(rows_of(aws, execution_id)[1])
    assert answers == [["80", str(sum(range(80)))], ["30", str(sum(range(50, 80)))]] * 4


def test_table_metadata_that_cannot_be_read_fails_as_bad_metadata(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    s3, glue = aws("s3"), aws("glue")
    name = unique("headers").replace("-", "_")
    s3.put_object(Bucket=lake["bucket"], Key=f"{name}/data.csv", Body=b"code,rate\nEUR,1.1\n")
    glue.create_table(
        DatabaseName=lake["database"],
        TableInput={
            "Name": name,
            "Parameters": {"skip.header.line.count": "one"},
            "StorageDescriptor": {
                "Columns": [{"Name": "code", "Type": "string"}, {"Name": "rate", "Type": "double"}],
                "Location": f"s3://{lake['bucket']}/{name}/",
                "SerdeInfo": {
                    "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                    "Parameters": {"field.delim": ","},
                },
            },
        },
    )
    execution = finish(aws, start(aws, lake, f"SELECT * FROM {name}"))
    assert execution["Status"]["State"] == "FAILED"
    assert execution["Status"]["StateChangeReason"] == (
        "HIVE_INVALID_METADATA: Invalid value for skip.header.line.count property: one"
    )
