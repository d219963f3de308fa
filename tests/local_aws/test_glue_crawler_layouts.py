"""Crawler layouts as Glue documents them, and what Glue refuses, as a boto3 user sees them (issue #11).

Firehose's default ``YYYY/MM/DD/HH/`` prefix under an include path, the crawler ``Configuration``
(grouping policy, table level, partition output), classifier names that must exist, files whose
lines are top-level JSON arrays (cataloged and read by Athena), and the parameter keys Glue refuses.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.local_aws.test_athena_writes import failed, run, select
from tests.local_aws.test_glue_crawler import Lake
from tests.support import unique


@pytest.fixture
def lake(aws: Callable[[str], Any]) -> Lake:
    return Lake(aws)


def athena_lake(aws: Callable[[str], Any], lake: Lake) -> dict[str, Any]:
    """The dict the Athena helpers take, over the crawler lake's bucket and database."""
    results = unique("layout-results")
    aws("s3").create_bucket(Bucket=results)
    return {"bucket": lake.bucket, "results": results, "database": lake.database}


def put_hours(lake: Lake, prefix: str, hours: list[str], records: list[dict[str, Any]]) -> None:
    for hour in hours:
        lake.put_json(f"{prefix}{hour}/stream-1-{hour.replace('/', '-')}-abc", records)


# -- 1. Firehose's default prefix -----------------------------------------------------------
def test_firehose_default_prefix_is_one_table_named_after_the_include_path(lake: Lake) -> None:
    put_hours(lake, "data/", ["2026/11/30/05", "2026/11/30/06"], [{"id": 1, "kind": "click"}])
    crawler = lake.crawl(lake.crawler("data/"))

    assert crawler["LastCrawl"]["Status"] == "SUCCEEDED", crawler["LastCrawl"]
    assert lake.table_names() == {"data"}
    table = lake.table("data")
    assert table["StorageDescriptor"]["Location"] == f"s3://{lake.bucket}/data/"
    assert [key["Name"] for key in table["PartitionKeys"]] == [f"partition_{i}" for i in range(4)]
    assert lake.columns("data") == [("id", "int"), ("kind", "string")]
    partitions = lake.partitions("data")
    assert set(partitions) == {("2026", "11", "30", "05"), ("2026", "11", "30", "06")}
    location = partitions[("2026", "11", "30", "06")]["StorageDescriptor"]["Location"]
    assert location == f"s3://{lake.bucket}/data/2026/11/30/06/"

    # The same layout with Hive-style folders keeps the folders' key names.
    put_hours(lake, "hive/", ["year=2026/month=11/day=30/hour=05"], [{"id": 1}])
    lake.crawl(lake.crawler("hive/"))
    assert lake.table_names() == {"data", "hive"}
    assert [key["Name"] for key in lake.table("hive")["PartitionKeys"]] == ["year", "month", "day", "hour"]
    assert set(lake.partitions("hive")) == {("2026", "11", "30", "05")}


def test_firehose_prefix_of_a_single_hour_is_still_the_include_path_table(lake: Lake) -> None:
    put_hours(lake, "events/", ["2026/11/30/05"], [{"id": 1}])
    lake.crawl(lake.crawler("events/"))
    assert lake.table_names() == {"events"}
    assert set(lake.partitions("events")) == {("2026", "11", "30", "05")}


# -- 2. Configuration -----------------------------------------------------------------------
def test_combine_compatible_schemas_makes_one_table_of_dissimilar_folders(lake: Lake) -> None:
    lake.put_json("mixed/orders/a.json", [{"orderid": 1, "price": 2.0}])
    lake.put_json("mixed/customers/a.json", [{"name": "ann", "city": "Oslo"}])
    lake.crawl(lake.crawler("mixed/"))
    assert lake.table_names() == {"orders", "customers"}  # the default: not similar, two tables

    combine = json.dumps({"Version": 1.0, "Grouping": {"TableGroupingPolicy": "CombineCompatibleSchemas"}})
    database = unique("db").replace("-", "_")
    lake.glue.create_database(DatabaseInput={"Name": database})
    lake.crawl(lake.crawler("mixed/", DatabaseName=database, Configuration=combine))
    tables = lake.glue.get_tables(DatabaseName=database)["TableList"]
    assert [table["Name"] for table in tables] == ["mixed"]
    columns = [(c["Name"], c["Type"]) for c in tables[0]["StorageDescriptor"]["Columns"]]
    assert columns == [("name", "string"), ("city", "string"), ("orderid", "int"), ("price", "double")]
    assert tables[0]["PartitionKeys"] == [{"Name": "partition_0", "Type": "string"}]


def test_partitions_keep_their_own_schema_unless_they_inherit_from_the_table(lake: Lake) -> None:
    lake.put_json("own/day=1/a.json", [{"id": 1, "qty": 2}])
    lake.put_json("own/day=2/a.json", [{"id": 2, "qty": 3, "status": "new"}])
    inherit = json.dumps(
        {"Version": 1.0, "CrawlerOutput": {"Partitions": {"AddOrUpdateBehavior": "InheritFromTable"}}}
    )
    lake.crawl(lake.crawler("own/"))
    own = {values: p["StorageDescriptor"]["Columns"] for values, p in lake.partitions("own").items()}
    assert [c["Name"] for c in own[("1",)]] == ["id", "qty"]
    assert [c["Name"] for c in own[("2",)]] == ["id", "qty", "status"]

    lake.glue.delete_table(DatabaseName=lake.database, Name="own")
    lake.crawl(lake.crawler("own/", Configuration=inherit))
    inherited = {values: p["StorageDescriptor"]["Columns"] for values, p in lake.partitions("own").items()}
    assert [c["Name"] for c in inherited[("1",)]] == ["id", "qty", "status"]
    assert inherited[("1",)] == lake.table("own")["StorageDescriptor"]["Columns"]


@pytest.mark.parametrize(
    ("configuration", "words"),
    [
        ('{"Version": 1.0, "Grouping": {"TableGroupingPolicy": "CombineEverything"}}', "TableGroupingPolicy"),
        ('{"Version": 1.0, "Grouping": {"TableLevelConfiguration": 0}}', "TableLevelConfiguration"),
        ('{"Version": 1.0, "Grouping": {"TableLevelConfiguration": "deep"}}', "TableLevelConfiguration"),
        (
            '{"Version": 1.0, "CrawlerOutput": {"Partitions": {"UpdateBehavior": "InheritFromTable"}}}',
            "CrawlerOutput.Partitions contains unsupported keys: UpdateBehavior.",
        ),
        (
            '{"Version": 1.0, "CrawlerOutput": {"Partitions": {"AddOrUpdateBehavior": "Merge"}}}',
            "AddOrUpdateBehavior",
        ),
        ('{"Version": 1.0, "Grouping": ', "not valid JSON"),
    ],
)
def test_invalid_configuration_is_refused_at_create_and_update(
    lake: Lake, configuration: str, words: str
) -> None:
    with pytest.raises(ClientError) as created:
        lake.crawler("data/", Configuration=configuration)
    assert created.value.response["Error"]["Code"] == "InvalidInputException"
    assert words in created.value.response["Error"]["Message"]

    name = lake.crawler("data/")
    with pytest.raises(ClientError) as updated:
        lake.glue.update_crawler(Name=name, Configuration=configuration)
    assert updated.value.response["Error"]["Code"] == "InvalidInputException"
    assert words in updated.value.response["Error"]["Message"]
    assert "Configuration" not in lake.glue.get_crawler(Name=name)["Crawler"]


# -- 3. Classifiers that must exist ---------------------------------------------------------
def test_a_classifier_that_does_not_exist_is_refused(lake: Lake) -> None:
    missing = unique("no-such-classifier")
    with pytest.raises(ClientError) as created:
        lake.crawler("data/", Classifiers=[missing])
    assert created.value.response["Error"]["Code"] == "InvalidInputException"
    assert missing in created.value.response["Error"]["Message"]

    name = lake.crawler("data/")
    with pytest.raises(ClientError) as updated:
        lake.glue.update_crawler(Name=name, Classifiers=[missing])
    assert updated.value.response["Error"]["Code"] == "InvalidInputException"

    existing = unique("classifier")
    lake.glue.create_classifier(JsonClassifier={"Name": existing, "JsonPath": "$[*]"})
    lake.glue.update_crawler(Name=name, Classifiers=[existing])
    assert lake.glue.get_crawler(Name=name)["Crawler"]["Classifiers"] == [existing]


# -- 4. Top-level JSON arrays ---------------------------------------------------------------
def test_lines_that_are_json_arrays_are_cataloged_and_read_by_athena(
    aws: Callable[[str], Any], lake: Lake
) -> None:
    lake.put_raw("arrays/part-0.json", b"[1, 2, 3]\n[4]\n[]\n")
    lake.crawl(lake.crawler("arrays/"))
    assert lake.columns("arrays") == [("array", "array<int>")]

    athena = athena_lake(aws, lake)
    # The OpenX SerDe maps an array line onto the columns by position: the `array` column is the
    # line's first element, which an array column reads as a one-element array; [] is NULL.
    rows = select(aws, athena, 'SELECT "array", cardinality("array") FROM arrays ORDER BY 2 NULLS LAST')
    assert rows == [["[1]", "1"], ["[4]", "1"], [None, None]]


def test_array_lines_fill_declared_columns_by_position(aws: Callable[[str], Any], lake: Lake) -> None:
    lake.put_raw("pairs/part-0.json", b'["ann", 3, {"city": "Oslo"}]\n["bo"]\n"scalar"\n')
    athena = athena_lake(aws, lake)
    run(
        aws,
        athena,
        "CREATE EXTERNAL TABLE pairs (name string, visits int, home struct<city:string>) "
        "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' "
        f"LOCATION 's3://{lake.bucket}/pairs/'",
    )
    rows = select(aws, athena, "SELECT name, visits, home.city FROM pairs ORDER BY name NULLS LAST")
    assert rows == [["ann", "3", "Oslo"], ["bo", None, None], [None, None, None]]
    lake.put_raw("pairs/part-1.json", b'["cy", 1\n')
    assert "HIVE_CURSOR_ERROR" in failed(aws, athena, "SELECT count(*) FROM pairs")


# -- 5. Parameter keys Glue refuses ---------------------------------------------------------
def test_athena_ddl_tables_carry_no_empty_parameter_key(aws: Callable[[str], Any], lake: Lake) -> None:
    athena = athena_lake(aws, lake)
    run(
        aws,
        athena,
        "CREATE EXTERNAL TABLE ddl_made (id int) COMMENT 'made by DDL' "
        f"ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' LOCATION 's3://{lake.bucket}/ddl_made/' "
        "TBLPROPERTIES ('has_encrypted_data' = 'false')",
    )
    parameters = lake.table("ddl_made")["Parameters"]
    assert parameters == {"EXTERNAL": "TRUE", "comment": "made by DDL", "has_encrypted_data": "false"}


def test_athena_ddl_with_an_empty_property_key_is_refused_as_glue_refuses_it(
    aws: Callable[[str], Any], lake: Lake
) -> None:
    athena = athena_lake(aws, lake)
    reason = failed(
        aws,
        athena,
        "CREATE EXTERNAL TABLE empty_key (id int) ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' "
        f"LOCATION 's3://{lake.bucket}/empty_key/' TBLPROPERTIES ('' = 'x')",
    )
    assert "ValidationException" in reason
    assert "tableInput.parameters" in reason
    assert "empty_key" not in lake.table_names()
