"""Athena's metadata APIs as a boto3 user sees them, answered from the Glue catalog."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import unique


@pytest.fixture(scope="module")
def catalog(aws: Callable[..., Any]) -> dict[str, Any]:
    glue, database = aws("glue"), unique("meta").replace("-", "_")
    glue.create_database(DatabaseInput={"Name": database, "Description": "orders"})
    for index in range(3):
        glue.create_table(
            DatabaseName=database,
            TableInput={
                "Name": f"orders_{index}",
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {"classification": "json"},
                "PartitionKeys": [{"Name": "dt", "Type": "string"}],
                "StorageDescriptor": {
                    "Columns": [{"Name": "id", "Type": "bigint", "Comment": "the order"}],
                    "Location": f"s3://somewhere/orders_{index}/",
                    "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"},
                },
            },
        )
    glue.create_table(
        DatabaseName=database, TableInput={"Name": "other", "StorageDescriptor": {"Columns": []}}
    )
    return {"database": database}


def test_catalogs_and_databases_come_from_glue(aws: Callable[..., Any], catalog: dict[str, Any]) -> None:
    athena = aws("athena")
    summaries = athena.list_data_catalogs()["DataCatalogsSummary"]
    assert {"CatalogName": "AwsDataCatalog", "Type": "GLUE"} in summaries
    assert athena.get_data_catalog(Name="AwsDataCatalog")["DataCatalog"]["Type"] == "GLUE"
    database = athena.get_database(CatalogName="AwsDataCatalog", DatabaseName=catalog["database"])["Database"]
    assert database["Name"] == catalog["database"] and database["Description"] == "orders"
    names: list[str] = []
    token: dict[str, str] = {}
    while True:
        page = athena.list_databases(CatalogName="AwsDataCatalog", MaxResults=1, **token)
        names += [d["Name"] for d in page["DatabaseList"]]
        if "NextToken" not in page:
            break
        token = {"NextToken": page["NextToken"]}
    assert catalog["database"] in names and len(names) == len(set(names))
    with pytest.raises(ClientError) as caught:
        athena.get_database(CatalogName="AwsDataCatalog", DatabaseName=unique("nope"))
    assert caught.value.response["Error"]["Code"] == "MetadataException"
    assert "not found" in caught.value.response["Error"]["Message"]


def test_table_metadata_with_expression_and_paging(aws: Callable[..., Any], catalog: dict[str, Any]) -> None:
    athena = aws("athena")
    table = athena.get_table_metadata(
        CatalogName="AwsDataCatalog", DatabaseName=catalog["database"], TableName="orders_1"
    )["TableMetadata"]
    assert table["TableType"] == "EXTERNAL_TABLE"
    assert table["Columns"] == [{"Name": "id", "Type": "bigint", "Comment": "the order"}]
    assert table["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    assert table["Parameters"]["classification"] == "json"
    assert table["Parameters"]["location"] == "s3://somewhere/orders_1/"
    first = athena.list_table_metadata(
        CatalogName="AwsDataCatalog", DatabaseName=catalog["database"], Expression="orders*", MaxResults=2
    )
    second = athena.list_table_metadata(
        CatalogName="AwsDataCatalog",
        DatabaseName=catalog["database"],
        Expression="orders*",
        MaxResults=2,
        NextToken=first["NextToken"],
    )
    assert [t["Name"] for t in first["TableMetadataList"] + second["TableMetadataList"]] == [
        "orders_0",
        "orders_1",
        "orders_2",
    ]
    assert "NextToken" not in second
    with pytest.raises(ClientError) as caught:
        athena.get_table_metadata(
            CatalogName="AwsDataCatalog", DatabaseName=catalog["database"], TableName="nope"
        )
    assert caught.value.response["Error"]["Code"] == "MetadataException"


@pytest.fixture(scope="module")
def results(aws: Callable[..., Any]) -> str:
    bucket = unique("meta-results")
    aws("s3").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/q/"


def _query(
    aws: Callable[..., Any], database: str, output: str, sql: str
) -> tuple[str, list[list[str | None]]]:
    from tests.local_aws.test_athena import finish, rows_of

    execution_id = aws("athena").start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": database},
        ResultConfiguration={"OutputLocation": output},
    )["QueryExecutionId"]
    execution = finish(aws, execution_id)
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    return execution_id, rows_of(aws, execution_id)[1:]


def test_missing_table_is_glues_entity_not_found_inside_a_metadata_exception(
    aws: Callable[..., Any], catalog: dict[str, Any]
) -> None:
    with pytest.raises(ClientError) as caught:
        aws("athena").get_table_metadata(
            CatalogName="AwsDataCatalog", DatabaseName=catalog["database"], TableName="nope"
        )
    message = caught.value.response["Error"]["Message"]
    assert message.startswith(
        "Entity Not Found (Service: AmazonDataCatalog; Status Code: 400; Error Code: EntityNotFoundException;"
    ), message


def test_information_schema_tables_columns_views_and_schemata(
    aws: Callable[..., Any], catalog: dict[str, Any], results: str
) -> None:
    database = catalog["database"]
    _query(aws, database, results, "CREATE VIEW ids AS SELECT id FROM orders_0 WHERE id > 1")
    _, rows = _query(
        aws,
        database,
        results,
        f"SELECT table_catalog, table_name, table_type FROM information_schema.tables "
        f"WHERE table_schema = '{database}' ORDER BY table_name",
    )
    assert rows == [
        ["awsdatacatalog", "ids", "VIEW"],
        ["awsdatacatalog", "orders_0", "BASE TABLE"],
        ["awsdatacatalog", "orders_1", "BASE TABLE"],
        ["awsdatacatalog", "orders_2", "BASE TABLE"],
        ["awsdatacatalog", "other", "BASE TABLE"],
    ]
    _, rows = _query(
        aws,
        database,
        results,
        "SELECT column_name, ordinal_position, data_type, is_nullable, extra_info, comment "
        "FROM information_schema.columns "
        f"WHERE table_schema = '{database}' AND table_name = 'orders_1' ORDER BY ordinal_position",
    )
    assert rows == [
        ["id", "1", "bigint", "YES", None, "the order"],
        ["dt", "2", "varchar", "YES", "partition key", None],
    ]
    _, rows = _query(
        aws,
        database,
        results,
        f"SELECT table_name, view_definition FROM information_schema.views WHERE table_schema = '{database}'",
    )
    assert rows == [["ids", "SELECT id FROM orders_0 WHERE id > 1"]]
    _, rows = _query(
        aws,
        database,
        results,
        "SELECT count(*) FROM information_schema.schemata "
        f"WHERE schema_name IN ('{database}', 'information_schema')",
    )
    assert rows == [["2"]]
    # A relation information_schema does not have is Athena's TABLE_NOT_FOUND, not DuckDB's own.
    from tests.local_aws.test_athena import finish

    execution_id = aws("athena").start_query_execution(
        QueryString="SELECT * FROM information_schema.duckdb_settings",
        QueryExecutionContext={"Database": database},
        ResultConfiguration={"OutputLocation": results},
    )["QueryExecutionId"]
    status = finish(aws, execution_id)["Status"]
    assert status["State"] == "FAILED"
    assert status["StateChangeReason"].startswith("TABLE_NOT_FOUND: "), status


def test_query_runtime_statistics_count_rows_and_bytes(aws: Callable[..., Any], results: str) -> None:
    s3, glue = aws("s3"), aws("glue")
    bucket, database = results.split("/")[2], unique("rts").replace("-", "_")
    glue.create_database(DatabaseInput={"Name": database})
    glue.create_table(
        DatabaseName=database,
        TableInput={
            "Name": "t",
            "StorageDescriptor": {
                "Columns": [{"Name": "n", "Type": "int"}],
                "Location": f"s3://{bucket}/{database}/t/",
                "SerdeInfo": {
                    "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                    "Parameters": {"field.delim": ","},
                },
            },
        },
    )
    body = b"1\n2\n3\n4\n5\n"
    s3.put_object(Bucket=bucket, Key=f"{database}/t/a.csv", Body=body)
    execution_id, rows = _query(aws, database, results, "SELECT n FROM t WHERE n > 3 ORDER BY n")
    assert rows == [["4"], ["5"]]
    statistics = aws("athena").get_query_runtime_statistics(QueryExecutionId=execution_id)[
        "QueryRuntimeStatistics"
    ]
    result_file = s3.get_object(Bucket=bucket, Key=f"q/{execution_id}.csv")["Body"].read()
    assert statistics["Rows"] == {
        "InputRows": 5,
        "InputBytes": len(body),
        "OutputRows": 2,
        "OutputBytes": len(result_file),
    }
    timeline = statistics["Timeline"]
    assert timeline["TotalExecutionTimeInMillis"] >= timeline["EngineExecutionTimeInMillis"] >= 0
    with pytest.raises(ClientError) as caught:
        aws("athena").get_query_runtime_statistics(QueryExecutionId="00000000-0000-0000-0000-000000000000")
    assert caught.value.response["Error"]["Code"] == "InvalidRequestException"
