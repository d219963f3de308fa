"""The hourly DAG's views survive a crawler adding a column; a ``SELECT *`` view goes stale, as on Athena.

Athena stores a view's column list. Once the crawler adds a column to the lake table, a view
created with ``SELECT *`` fails every query with VIEW_IS_STALE until it is re-created, and with
overlapping hourly runs one run's crawl can do that while another run's checks read the view.
The pipeline's views name their columns (``lake.columns()`` at render time), so they stay valid.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jinja2
import pytest

from cdc_pipeline.definitions import get_pipeline
from cdc_pipeline.local_connections import connection_env
from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows.common import SQL_ROOT, sql_params
from tests.support import unique, wait_until

COLUMNS = [
    ("event_id", "string"),
    ("sequence_number", "string"),
    ("is_deleted", "boolean"),
    ("orderid", "string"),
    ("price", "double"),
]
PARTITIONS = ["year", "month", "day", "hour"]
ROWS = [
    {"event_id": "e1", "sequence_number": "100", "is_deleted": False, "orderid": "o1", "price": 5.0},
    {"event_id": "e1", "sequence_number": "100", "is_deleted": False, "orderid": "o1", "price": 5.0},
    {"event_id": "e2", "sequence_number": "200", "is_deleted": False, "orderid": "o1", "price": 7.5},
    {"event_id": "e3", "sequence_number": "300", "is_deleted": False, "orderid": "o2", "price": 1.0},
]


@pytest.fixture()
def lake(aws: Callable[..., Any], endpoint_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A crawled-looking sales_orders table with one hour of changes, and settings that point at it."""
    database, bucket = unique("views").replace("-", "_"), unique("views-lake")
    s3, glue = aws("s3"), aws("glue")
    s3.create_bucket(Bucket=bucket)
    glue.create_database(DatabaseInput={"Name": database})
    table_input = {
        "Name": "sales_orders",
        "TableType": "EXTERNAL_TABLE",
        "PartitionKeys": [{"Name": key, "Type": "string"} for key in PARTITIONS],
        "StorageDescriptor": {
            "Columns": [{"Name": name, "Type": kind} for name, kind in COLUMNS],
            "Location": f"s3://{bucket}/sales_orders/",
            "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
            "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"},
        },
    }
    glue.create_table(DatabaseName=database, TableInput=table_input)
    folder = "sales_orders/year=2026/month=11/day=30/hour=04/"
    body = "".join(json.dumps({**row, "coupon": "X"}) + "\n" for row in ROWS)
    s3.put_object(Bucket=bucket, Key=folder + "part-0.json", Body=body.encode())
    glue.create_partition(
        DatabaseName=database,
        TableName="sales_orders",
        PartitionInput={
            "Values": ["2026", "11", "30", "04"],
            "StorageDescriptor": {**table_input["StorageDescriptor"], "Location": f"s3://{bucket}/{folder}"},
        },
    )
    for name, value in connection_env(endpoint_url, "us-east-1", "primary").items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env({"CDC_LAKE_GLUE_DATABASE": database, "CDC_LAKE_REGION": "us-east-1"})
    return {"database": database, "bucket": bucket, "table_input": table_input, "settings": settings}


def athena(aws: Callable[..., Any], lake: dict[str, Any], sql: str) -> dict[str, Any]:
    """Run one statement; the finished execution, and its rows when it succeeded."""
    client = aws("athena")
    execution_id = client.start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": lake["database"]},
        ResultConfiguration={"OutputLocation": f"s3://{lake['bucket']}/athena/"},
    )["QueryExecutionId"]

    def finished() -> dict[str, Any] | None:
        execution = client.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
        return execution if execution["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED") else None

    execution = wait_until(finished, timeout=60, interval=0.05, what=sql[:40])
    if execution["Status"]["State"] == "SUCCEEDED" and execution["StatementType"] == "DML":
        rows = client.get_query_results(QueryExecutionId=execution_id)["ResultSet"]["Rows"]
        execution["rows"] = [[cell.get("VarCharValue") for cell in row["Data"]] for row in rows[1:]]
    return execution


def render(lake: dict[str, Any], name: str) -> str:
    """A view's SQL as the hourly DAG renders it (the same files, the same `lake` macro)."""
    template = jinja2.Template((SQL_ROOT / "ddl" / name).read_text())
    return template.render(lake=sql_params(get_pipeline("sales_orders"), lake["settings"]))


def add_column(aws: Callable[..., Any], lake: dict[str, Any], name: str) -> None:
    """What a crawler does when new objects carry a new field."""
    table_input = lake["table_input"]
    table_input["StorageDescriptor"]["Columns"].append({"Name": name, "Type": "string"})
    aws("glue").update_table(DatabaseName=lake["database"], TableInput=table_input)


def test_the_pipeline_views_name_their_columns_and_survive_a_new_column(aws, lake) -> None:
    for name in ("create_view_changes.sql", "create_view_current.sql"):
        sql = render(lake, name)
        assert "*" not in sql.split("AS", 1)[1], sql
        assert athena(aws, lake, sql)["Status"]["State"] == "SUCCEEDED"
    add_column(aws, lake, "coupon")
    changes = athena(aws, lake, "SELECT event_id FROM sales_orders_changes ORDER BY event_id")
    assert changes["Status"]["State"] == "SUCCEEDED", changes["Status"]
    assert changes["rows"] == [["e1"], ["e2"], ["e3"]]
    current = athena(aws, lake, "SELECT orderid, price FROM sales_orders_current ORDER BY orderid")
    assert current["Status"]["State"] == "SUCCEEDED", current["Status"]
    assert current["rows"] == [["o1", "7.5"], ["o2", "1.0"]]


def test_a_select_star_view_is_stale_after_the_crawler_adds_a_column(aws, lake) -> None:
    assert athena(aws, lake, "CREATE VIEW every_change AS SELECT * FROM sales_orders")["Status"]["State"] == (
        "SUCCEEDED"
    )
    assert athena(aws, lake, "SELECT count(*) FROM every_change")["rows"] == [["4"]]
    add_column(aws, lake, "coupon")
    failed = athena(aws, lake, "SELECT count(*) FROM every_change")
    assert failed["Status"]["State"] == "FAILED"
    reason = failed["Status"]["StateChangeReason"]
    assert "VIEW_IS_STALE" in reason or "is stale or in invalid state" in reason, reason
    # Re-created, it reads the new column.
    athena(aws, lake, "CREATE OR REPLACE VIEW every_change AS SELECT * FROM sales_orders")
    assert athena(aws, lake, "SELECT DISTINCT coupon FROM every_change")["rows"] == [["X"]]
