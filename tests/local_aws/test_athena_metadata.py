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
                    "Columns": [{"Name": "id", "Type": "bigint"}],
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
    assert table["Columns"] == [{"Name": "id", "Type": "bigint"}]
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
