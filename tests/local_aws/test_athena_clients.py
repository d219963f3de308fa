"""Athena on DuckDB through the clients people use: PyAthena (default and Pandas cursors), awswrangler."""

from __future__ import annotations

import decimal
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support import unique

ROWS = [
    {"orderid": 1, "product_name": "Lamp", "price": 19.99, "dt": "2024-01-01"},
    {"orderid": 2, "product_name": None, "price": 0.1, "dt": "2024-01-01"},
    {"orderid": 3, "product_name": 'Desk "XL"', "price": 250.0, "dt": "2024-01-02"},
]


@pytest.fixture(scope="module")
def orders(aws: Callable[..., Any]) -> dict[str, str]:
    """A partitioned JSON table in a Glue database, and a bucket for results."""
    s3, glue = aws("s3"), aws("glue")
    bucket, database = unique("client-lake"), unique("clients").replace("-", "_")
    s3.create_bucket(Bucket=bucket)
    glue.create_database(DatabaseInput={"Name": database})
    glue.create_table(
        DatabaseName=database,
        TableInput={
            "Name": "orders",
            "TableType": "EXTERNAL_TABLE",
            "PartitionKeys": [{"Name": "dt", "Type": "string"}],
            "StorageDescriptor": {
                "Columns": [
                    {"Name": "orderid", "Type": "bigint"},
                    {"Name": "product_name", "Type": "string"},
                    {"Name": "price", "Type": "decimal(10,2)"},
                ],
                "Location": f"s3://{bucket}/orders/",
                "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"},
            },
        },
    )
    for dt in sorted({row["dt"] for row in ROWS}):
        body = "".join(
            json.dumps({k: v for k, v in row.items() if k != "dt"}) + "\n" for row in ROWS if row["dt"] == dt
        )
        s3.put_object(Bucket=bucket, Key=f"orders/dt={dt}/data.json", Body=body.encode())
        glue.create_partition(
            DatabaseName=database,
            TableName="orders",
            PartitionInput={
                "Values": [dt],
                "StorageDescriptor": {"Location": f"s3://{bucket}/orders/dt={dt}/"},
            },
        )
    return {"bucket": bucket, "database": database, "staging": f"s3://{bucket}/athena-results/"}


@pytest.fixture
def s3_endpoint(endpoint_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """PyAthena builds its S3 client without Athena's endpoint_url; boto3 reads S3's from the env."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint_url)
    yield


def _connect(endpoint_url: str, orders: dict[str, str], **kwargs: Any) -> Any:
    from pyathena import connect

    return connect(
        s3_staging_dir=orders["staging"],
        region_name="us-east-1",
        schema_name=orders["database"],
        endpoint_url=endpoint_url,
        poll_interval=0.05,
        **kwargs,
    )


def test_pyathena_default_cursor(endpoint_url: str, orders: dict[str, str], s3_endpoint: None) -> None:
    with _connect(endpoint_url, orders) as connection:
        cursor = connection.cursor()
        cursor.execute(
            "SELECT orderid, product_name, price FROM orders WHERE dt = %(dt)s ORDER BY orderid",
            {"dt": "2024-01-01"},
        )
        assert [d[0] for d in cursor.description] == ["orderid", "product_name", "price"]
        assert [d[1] for d in cursor.description] == ["bigint", "varchar", "decimal"]
        assert cursor.fetchall() == [
            (1, "Lamp", decimal.Decimal("19.99")),
            (2, None, decimal.Decimal("0.10")),
        ]
        assert cursor.data_scanned_in_bytes > 0
        assert cursor.output_location.endswith(f"{cursor.query_id}.csv")
        cursor.execute("SHOW PARTITIONS orders")
        assert cursor.fetchall() == [("dt=2024-01-01",), ("dt=2024-01-02",)]


def test_pyathena_pandas_cursor(endpoint_url: str, orders: dict[str, str], s3_endpoint: None) -> None:
    from pyathena.pandas.cursor import PandasCursor

    with _connect(endpoint_url, orders, cursor_class=PandasCursor) as connection:
        frame = (
            connection.cursor()
            .execute("SELECT orderid, product_name, price FROM orders ORDER BY orderid")
            .as_pandas()
        )
    assert frame["orderid"].tolist() == [1, 2, 3]
    assert frame["product_name"].tolist()[0] == "Lamp" and frame["product_name"].isna().tolist()[1]
    assert frame["product_name"].tolist()[2] == 'Desk "XL"'
    assert [decimal.Decimal(str(v)) for v in frame["price"]] == [
        decimal.Decimal("19.99"),
        decimal.Decimal("0.1"),
        decimal.Decimal("250"),
    ]


def test_awswrangler_read_sql_query(endpoint_url: str, orders: dict[str, str]) -> None:
    import awswrangler as wr
    import boto3

    saved = {
        name: getattr(wr.config, name)
        for name in ("athena_endpoint_url", "s3_endpoint_url", "glue_endpoint_url", "sts_endpoint_url")
    }
    try:
        for name in saved:
            setattr(wr.config, name, endpoint_url)
        session = boto3.Session(region_name="us-east-1")
        frame = wr.athena.read_sql_query(
            "SELECT dt, count(*) AS orders, sum(price) AS revenue FROM orders GROUP BY dt ORDER BY dt",
            database=orders["database"],
            ctas_approach=False,
            s3_output=orders["staging"],
            boto3_session=session,
        )
    finally:
        for name, value in saved.items():
            setattr(wr.config, name, value)
    assert frame["dt"].tolist() == ["2024-01-01", "2024-01-02"]
    assert frame["orders"].tolist() == [2, 1]
    assert [decimal.Decimal(str(v)) for v in frame["revenue"]] == [
        decimal.Decimal("20.09"),
        decimal.Decimal("250"),
    ]


def test_awswrangler_read_sql_query_with_its_default_ctas(endpoint_url: str, orders: dict[str, str]) -> None:
    """awswrangler's default: a temporary Parquet CTAS, read through its data manifest, then dropped."""
    import awswrangler as wr
    import boto3

    saved = {
        name: getattr(wr.config, name)
        for name in ("athena_endpoint_url", "s3_endpoint_url", "glue_endpoint_url", "sts_endpoint_url")
    }
    session = boto3.Session(region_name="us-east-1")
    try:
        for name in saved:
            setattr(wr.config, name, endpoint_url)
        frame = wr.athena.read_sql_query(
            "SELECT orderid, product_name, price, dt FROM orders ORDER BY orderid",
            database=orders["database"],
            s3_output=orders["staging"],
            boto3_session=session,
        )
        tables = wr.catalog.get_tables(database=orders["database"], boto3_session=session)
        names = [t["Name"] for t in tables]
    finally:
        for name, value in saved.items():
            setattr(wr.config, name, value)
    assert frame["orderid"].tolist() == [1, 2, 3]
    assert frame["dt"].tolist() == ["2024-01-01", "2024-01-01", "2024-01-02"]
    assert [decimal.Decimal(str(v)) for v in frame["price"]] == [
        decimal.Decimal("19.99"),
        decimal.Decimal("0.10"),
        decimal.Decimal("250.00"),
    ]
    assert names == ["orders"]  # the temporary CTAS table is gone again


def test_awswrangler_unload_repair_table_and_describe_table(
    endpoint_url: str, orders: dict[str, str]
) -> None:
    import awswrangler as wr
    import boto3

    saved = {
        name: getattr(wr.config, name)
        for name in ("athena_endpoint_url", "s3_endpoint_url", "glue_endpoint_url", "sts_endpoint_url")
    }
    session = boto3.Session(region_name="us-east-1")
    try:
        for name in saved:
            setattr(wr.config, name, endpoint_url)
        workgroup = unique("wr-unload")
        session.client("athena", endpoint_url=endpoint_url).create_work_group(
            Name=workgroup, Configuration={"ResultConfiguration": {"OutputLocation": orders["staging"]}}
        )
        target = f"s3://{orders['bucket']}/{unique('unload')}/"
        unloaded = wr.athena.unload(
            "SELECT orderid, price FROM orders WHERE dt = '2024-01-01'",
            path=target,
            database=orders["database"],
            workgroup=workgroup,
            boto3_session=session,
        )
        frame = wr.s3.read_parquet(target, boto3_session=session)
        repaired = wr.athena.repair_table(
            "orders", database=orders["database"], s3_output=orders["staging"], boto3_session=session
        )
        described = wr.athena.describe_table(
            "orders", database=orders["database"], s3_output=orders["staging"], boto3_session=session
        )
    finally:
        for name, value in saved.items():
            setattr(wr.config, name, value)
    assert sorted(frame["orderid"].tolist()) == [1, 2]
    assert unloaded.manifest_location and unloaded.manifest_location.endswith("-manifest.csv")
    assert repaired == "SUCCEEDED"
    assert described["Column Name"].tolist()[:3] == ["orderid", "product_name", "price"]


def test_pyathena_sqlalchemy_inspector(endpoint_url: str, orders: dict[str, str], s3_endpoint: None) -> None:
    """SQLAlchemy's inspector on PyAthena's dialect reads the catalog through Athena's metadata APIs."""
    from urllib.parse import quote_plus

    import sqlalchemy

    url = (
        f"awsathena+rest://:@athena.us-east-1.amazonaws.com:443/{orders['database']}"
        f"?s3_staging_dir={quote_plus(orders['staging'])}"
    )
    engine = sqlalchemy.create_engine(
        url, connect_args={"endpoint_url": endpoint_url, "region_name": "us-east-1", "poll_interval": 0.05}
    )
    try:
        inspector = sqlalchemy.inspect(engine)
        assert inspector.get_table_names(schema=orders["database"]) == ["orders"]
        assert orders["database"] in inspector.get_schema_names()
        columns = inspector.get_columns("orders", schema=orders["database"])
        assert [c["name"] for c in columns] == ["orderid", "product_name", "price", "dt"]
        assert [str(c["type"]) for c in columns] == ["BIGINT", "VARCHAR", "DECIMAL(10, 2)", "VARCHAR"]
        assert inspector.has_table("orders", schema=orders["database"])
        assert not inspector.has_table("no_such_table", schema=orders["database"])
        with engine.connect() as connection:
            count = connection.execute(sqlalchemy.text("SELECT count(*) FROM orders")).scalar()
        assert count == 3
    finally:
        engine.dispose()


def test_pyathena_pandas_cursor_with_unload(
    endpoint_url: str, orders: dict[str, str], s3_endpoint: None
) -> None:
    """PandasCursor(unload=True) wraps the query in UNLOAD to Parquet and reads the manifest's objects."""
    from pyathena.pandas.cursor import PandasCursor

    with _connect(endpoint_url, orders, cursor_class=PandasCursor) as connection:
        cursor = connection.cursor(unload=True)
        frame = cursor.execute(
            "SELECT orderid, product_name, price, dt FROM orders ORDER BY orderid"
        ).as_pandas()
        assert cursor.query.lstrip().upper().startswith("UNLOAD")
    assert sorted(frame["orderid"].tolist()) == [1, 2, 3]
    by_id = frame.set_index("orderid")
    assert by_id.loc[3, "product_name"] == 'Desk "XL"' and by_id.loc[3, "dt"] == "2024-01-02"
    assert decimal.Decimal(str(by_id.loc[1, "price"])) == decimal.Decimal("19.99")
