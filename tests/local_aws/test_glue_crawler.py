"""Contract tests for the Glue crawler: S3 data in, Data Catalog tables and partitions out."""

from __future__ import annotations

import gzip
import io
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from tests.support import unique, wait_until

TRUST_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "glue.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


class Lake:
    """One bucket, one database and one crawler role for a test, plus helpers to fill and crawl."""

    def __init__(self, aws: Callable[[str], Any]) -> None:
        self.s3, self.glue = aws("s3"), aws("glue")
        self.logs = aws("logs")
        self.bucket = unique("lake")
        self.database = unique("db").replace("-", "_")
        self.role_arn = aws("iam").create_role(
            RoleName=unique("crawler-role"), AssumeRolePolicyDocument=TRUST_POLICY
        )["Role"]["Arn"]
        # local_aws checks the crawler's role (local_aws.iam): let it read every object here.
        reads = {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}
        aws("iam").put_role_policy(
            RoleName=self.role_arn.rsplit("/", 1)[-1],
            PolicyName="reads",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [reads]}),
        )
        self.s3.create_bucket(Bucket=self.bucket)
        self.glue.create_database(DatabaseInput={"Name": self.database})

    def put_json(self, key: str, records: list[dict[str, Any]], compress: bool = False) -> None:
        body = "".join(json.dumps(record) + "\n" for record in records).encode()
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=gzip.compress(body) if compress else body)

    def put_raw(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)

    def put_parquet(self, key: str, table: pa.Table) -> None:
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=buffer.getvalue())

    def crawler(self, path: str = "lake/", **kwargs: Any) -> str:
        name = unique("crawler")
        target = {"Path": f"s3://{self.bucket}/{path}"}
        if "Exclusions" in kwargs:
            target["Exclusions"] = kwargs.pop("Exclusions")
        self.glue.create_crawler(
            Name=name,
            Role=kwargs.pop("Role", self.role_arn),
            DatabaseName=kwargs.pop("DatabaseName", self.database),
            Targets={"S3Targets": [target]},
            **kwargs,
        )
        return name

    def crawl(self, name: str) -> dict[str, Any]:
        """Start the crawler, wait for READY, return GetCrawler's Crawler."""
        self.glue.start_crawler(Name=name)

        def finished() -> dict[str, Any] | None:
            crawler = self.glue.get_crawler(Name=name)["Crawler"]
            return crawler if crawler["State"] == "READY" else None

        return wait_until(finished, timeout=30, what=f"crawler {name} to finish")

    def table(self, name: str) -> dict[str, Any]:
        return self.glue.get_table(DatabaseName=self.database, Name=name)["Table"]

    def columns(self, name: str) -> list[tuple[str, str]]:
        return [
            (column["Name"], column["Type"]) for column in self.table(name)["StorageDescriptor"]["Columns"]
        ]

    def partitions(self, name: str) -> dict[tuple[str, ...], dict[str, Any]]:
        found = self.glue.get_partitions(DatabaseName=self.database, TableName=name)["Partitions"]
        return {tuple(partition["Values"]): partition for partition in found}

    def metrics(self, name: str) -> dict[str, Any]:
        return self.glue.get_crawler_metrics(CrawlerNameList=[name])["CrawlerMetricsList"][0]

    def table_names(self) -> set[str]:
        return {table["Name"] for table in self.glue.get_tables(DatabaseName=self.database)["TableList"]}


@pytest.fixture
def lake(aws: Callable[[str], Any]) -> Lake:
    return Lake(aws)


@pytest.fixture
def held_crawls(local_aws: Any) -> Iterator[None]:
    """Keep crawls RUNNING until the test lets them go (for StopCrawler and concurrent starts)."""
    gate = local_aws.world.component("glue_crawler").crawl_gate
    gate.clear()
    try:
        yield
    finally:
        gate.set()


ORDERS_JAN = [
    {"orderId": 1, "price": 10, "customer": {"name": "ann"}, "tags": ["a"], "code": 7, "paid": True},
    {
        "orderId": 2,
        "price": 12.5,
        "customer": {"name": "bob", "age": 40},
        "tags": [],
        "code": "x7",
        "paid": False,
    },
]
ORDERS_FEB = [
    {"orderId": 3_000_000_000, "price": 3, "customer": {"name": "cy"}, "tags": ["b", "c"], "note": "late"},
]


def test_json_lines_under_hive_folders_become_a_partitioned_table(lake: Lake) -> None:
    lake.put_json("lake/orders/year=2024/month=01/part-0.json", ORDERS_JAN)
    lake.put_json("lake/orders/year=2024/month=02/part-0.json", ORDERS_FEB)
    crawler = lake.crawl(lake.crawler())

    assert crawler["LastCrawl"]["Status"] == "SUCCEEDED"
    assert crawler["LastCrawl"]["LogGroup"] == "/aws-glue/crawlers"
    assert crawler["LastCrawl"]["LogStream"] == crawler["Name"]
    assert lake.table_names() == {"orders"}
    table = lake.table("orders")
    # First-seen column order; widening: int+bigint -> bigint, int+double -> double, int+string -> string.
    assert lake.columns("orders") == [
        ("orderid", "bigint"),
        ("price", "double"),
        ("customer", "struct<name:string,age:int>"),
        ("tags", "array<string>"),
        ("code", "string"),
        ("paid", "boolean"),
        ("note", "string"),
    ]
    assert table["PartitionKeys"] == [{"Name": "year", "Type": "string"}, {"Name": "month", "Type": "string"}]
    assert table["TableType"] == "EXTERNAL_TABLE"
    descriptor = table["StorageDescriptor"]
    assert descriptor["Location"] == f"s3://{lake.bucket}/lake/orders/"
    assert descriptor["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"
    assert descriptor["OutputFormat"] == "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
    assert descriptor["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert descriptor["SerdeInfo"]["Parameters"]["paths"] == "code,customer,note,orderid,paid,price,tags"
    assert descriptor["Compressed"] is False
    params = table["Parameters"]
    assert params["classification"] == "json"
    assert params["compressionType"] == "none"
    assert params["typeOfData"] == "file"
    assert params["UPDATED_BY_CRAWLER"] == crawler["Name"]
    assert params["objectCount"] == "2"
    assert params["recordCount"] == "3"
    assert int(params["sizeKey"]) > 0
    assert int(params["averageRecordSize"]) == int(params["sizeKey"]) // 3

    partitions = lake.partitions("orders")
    assert set(partitions) == {("2024", "01"), ("2024", "02")}
    assert (
        partitions[("2024", "02")]["StorageDescriptor"]["Location"]
        == f"s3://{lake.bucket}/lake/orders/year=2024/month=02/"
    )
    assert partitions[("2024", "01")]["StorageDescriptor"]["Parameters"]["recordCount"] == "2"

    metrics = lake.metrics(crawler["Name"])
    assert (metrics["TablesCreated"], metrics["TablesUpdated"], metrics["TablesDeleted"]) == (1, 0, 0)
    events = lake.logs.get_log_events(logGroupName="/aws-glue/crawlers", logStreamName=crawler["Name"])[
        "events"
    ]
    assert any(crawler["LastCrawl"]["MessagePrefix"] in event["message"] for event in events)


def test_recrawl_changes_nothing_but_adds_new_partitions(lake: Lake) -> None:
    lake.put_json("lake/orders/year=2024/month=01/part-0.json", ORDERS_JAN)
    name = lake.crawler()
    lake.crawl(name)
    version = lake.table("orders")["VersionId"]

    lake.crawl(name)
    assert lake.table("orders")["VersionId"] == version
    metrics = lake.metrics(name)
    assert (metrics["TablesCreated"], metrics["TablesUpdated"], metrics["TablesDeleted"]) == (0, 0, 0)

    lake.put_json("lake/orders/year=2024/month=03/part-0.json", ORDERS_JAN[:1])
    crawler = lake.crawl(name)
    assert crawler["LastCrawl"]["Status"] == "SUCCEEDED"
    assert set(lake.partitions("orders")) == {("2024", "01"), ("2024", "03")}
    assert lake.table("orders")["VersionId"] == version
    assert lake.metrics(name)["TablesUpdated"] == 0


def test_recrawl_reads_only_new_objects(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    from local_aws.components import glue_schema

    classified: list[bytes] = []
    original = glue_schema.classify

    def counting(body: bytes, json_path: str | None = None) -> Any:
        classified.append(body)
        return original(body, json_path)

    monkeypatch.setattr(glue_schema, "classify", counting)
    for month in ("01", "02", "03"):
        lake.put_json(f"lake/orders/year=2024/month={month}/part-0.json", ORDERS_JAN)
    name = lake.crawler()
    lake.crawl(name)
    assert len(classified) == 3

    lake.put_json("lake/orders/year=2024/month=04/part-0.json", ORDERS_FEB)
    lake.crawl(name)
    assert len(classified) == 4
    assert lake.columns("orders")[0] == ("orderid", "bigint")  # cached and new schemas still merge


def test_update_in_database_merges_new_columns(lake: Lake) -> None:
    lake.put_json("lake/orders/year=2024/month=01/part-0.json", [{"id": 1, "qty": 2}])
    name = lake.crawler()
    lake.crawl(name)
    version = lake.table("orders")["VersionId"]

    lake.put_json("lake/orders/year=2024/month=02/part-0.json", [{"id": 2, "qty": 2.5, "status": "new"}])
    lake.crawl(name)
    assert lake.columns("orders") == [("id", "int"), ("qty", "double"), ("status", "string")]
    assert int(lake.table("orders")["VersionId"]) == int(version) + 1
    assert lake.metrics(name)["TablesUpdated"] == 1
    # Glue's default partition output: each partition keeps its own data's schema
    # (CrawlerOutput.Partitions.AddOrUpdateBehavior InheritFromTable gives them the table's).
    own = {values: p["StorageDescriptor"]["Columns"] for values, p in lake.partitions("orders").items()}
    assert [column["Name"] for column in own[("2024", "01")]] == ["id", "qty"]
    assert [column["Name"] for column in own[("2024", "02")]] == ["id", "qty", "status"]


def test_update_behavior_log_keeps_the_table_but_adds_partitions(lake: Lake) -> None:
    lake.put_json("lake/orders/year=2024/month=01/part-0.json", [{"id": 1}])
    name = lake.crawler()
    lake.crawl(name)
    lake.glue.update_crawler(Name=name, SchemaChangePolicy={"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"})
    assert lake.glue.get_crawler(Name=name)["Crawler"]["SchemaChangePolicy"]["UpdateBehavior"] == "LOG"
    version = lake.table("orders")["VersionId"]

    lake.put_json("lake/orders/year=2024/month=02/part-0.json", [{"id": 2, "status": "new"}])
    lake.crawl(name)
    assert lake.columns("orders") == [("id", "int")]
    assert lake.table("orders")["VersionId"] == version
    assert set(lake.partitions("orders")) == {("2024", "01"), ("2024", "02")}
    assert lake.metrics(name)["TablesUpdated"] == 0


@pytest.mark.parametrize("behavior", ["DELETE_FROM_DATABASE", "DEPRECATE_IN_DATABASE", "LOG"])
def test_delete_behavior_for_a_table_whose_data_vanished(lake: Lake, behavior: str) -> None:
    lake.put_json("lake/orders/year=2024/month=01/part-0.json", [{"id": 1}])
    lake.put_json("lake/customers/part-0.json", [{"name": "ann", "city": "Oslo"}])
    name = lake.crawler(
        SchemaChangePolicy={"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": behavior}
    )
    lake.crawl(name)
    assert lake.table_names() == {"orders", "customers"}

    lake.s3.delete_object(Bucket=lake.bucket, Key="lake/customers/part-0.json")
    crawler = lake.crawl(name)
    assert crawler["LastCrawl"]["Status"] == "SUCCEEDED"
    if behavior == "DELETE_FROM_DATABASE":
        assert lake.table_names() == {"orders"}
        assert lake.metrics(name)["TablesDeleted"] == 1
    elif behavior == "DEPRECATE_IN_DATABASE":
        assert lake.table_names() == {"orders", "customers"}
        assert "DEPRECATED_BY_CRAWLER" in lake.table("customers")["Parameters"]
        assert lake.metrics(name)["TablesDeleted"] == 1
        lake.put_json("lake/customers/part-1.json", [{"name": "bo", "city": "Rome"}])
        lake.crawl(name)
        assert "DEPRECATED_BY_CRAWLER" not in lake.table("customers")["Parameters"]
    else:
        assert "DEPRECATED_BY_CRAWLER" not in lake.table("customers")["Parameters"]
        assert lake.metrics(name)["TablesDeleted"] == 0


def test_delete_from_database_drops_vanished_partitions(lake: Lake) -> None:
    lake.put_json("lake/orders/day=1/part-0.json", [{"id": 1}])
    lake.put_json("lake/orders/day=2/part-0.json", [{"id": 2}])
    name = lake.crawler(
        SchemaChangePolicy={"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "DELETE_FROM_DATABASE"}
    )
    lake.crawl(name)
    lake.s3.delete_object(Bucket=lake.bucket, Key="lake/orders/day=1/part-0.json")
    lake.crawl(name)
    assert set(lake.partitions("orders")) == {("2",)}


def test_unnamed_folder_levels_become_partition_n(lake: Lake) -> None:
    lake.put_json("lake/events/2024/01/a.json", [{"kind": "click"}])
    lake.put_json("lake/events/2024/02/b.json", [{"kind": "view"}])
    lake.crawl(lake.crawler())
    table = lake.table("events")
    assert [key["Name"] for key in table["PartitionKeys"]] == ["partition_0", "partition_1"]
    assert set(lake.partitions("events")) == {("2024", "01"), ("2024", "02")}


def test_include_path_holding_the_data_names_the_table_after_its_folder(lake: Lake) -> None:
    lake.put_json("raw/My-Data.Set/dt=2024-01-01/a.json", [{"k": 1}])
    lake.put_json("raw/My-Data.Set/dt=2024-01-02/b.json", [{"k": 2}])
    lake.crawl(lake.crawler("raw/My-Data.Set/", TablePrefix="Raw_"))
    assert lake.table_names() == {"raw_my_data_set"}
    table = lake.table("raw_my_data_set")
    assert table["StorageDescriptor"]["Location"] == f"s3://{lake.bucket}/raw/My-Data.Set/"
    assert table["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    assert set(lake.partitions("raw_my_data_set")) == {("2024-01-01",), ("2024-01-02",)}


def test_folders_under_the_include_path_are_separate_tables_unless_similar(lake: Lake) -> None:
    lake.put_json("lake/orders/a.json", [{"orderid": 1, "price": 2.0}])
    lake.put_json("lake/customers/a.json", [{"name": "ann", "city": "Oslo"}])
    lake.put_json("similar/east/a.json", [{"id": 1, "amount": 2, "region": "e"}])
    lake.put_json("similar/west/a.json", [{"id": 2, "amount": 3, "region": "w"}])
    lake.crawl(lake.crawler("lake/"))
    lake.crawl(lake.crawler("similar/"))
    assert lake.table_names() == {"orders", "customers", "similar"}
    assert lake.table("similar")["PartitionKeys"] == [{"Name": "partition_0", "Type": "string"}]
    assert set(lake.partitions("similar")) == {("east",), ("west",)}


def test_table_level_configuration_sets_the_table_root(lake: Lake) -> None:
    lake.put_json("lake/sales/2024/eu/a.json", [{"id": 1}])
    lake.put_json("lake/sales/2024/us/a.json", [{"id": 2}])
    configuration = json.dumps({"Version": 1.0, "Grouping": {"TableLevelConfiguration": 4}})
    lake.crawl(lake.crawler(Configuration=configuration))
    assert lake.table_names() == {"2024"}
    assert lake.table("2024")["StorageDescriptor"]["Location"] == f"s3://{lake.bucket}/lake/sales/2024/"
    assert set(lake.partitions("2024")) == {("eu",), ("us",)}


def test_exclusions_hidden_and_empty_files_are_skipped(lake: Lake) -> None:
    lake.put_json("lake/orders/day=1/part-0.json", [{"id": 1}])
    lake.put_json("lake/orders/day=1/tmp/scratch.json", [{"scratch": True}])
    lake.put_json("lake/orders/day=1/part-0.json.bak", [{"backup": True}])
    lake.put_json("lake/orders/day=1/.hidden.json", [{"hidden": True}])
    lake.put_json("lake/orders/day=1/_temporary/x.json", [{"temporary": True}])
    lake.put_raw("lake/orders/day=1/_SUCCESS", b"")
    lake.put_raw("lake/orders/day=1/empty.json", b"")
    lake.crawl(lake.crawler(Exclusions=["**/tmp/**", "**.bak"]))
    assert lake.columns("orders") == [("id", "int")]
    assert lake.table("orders")["Parameters"]["objectCount"] == "1"
    assert set(lake.partitions("orders")) == {("1",)}


def test_star_in_an_exclusion_does_not_cross_folders(lake: Lake) -> None:
    lake.put_json("lake/orders/keep/a.json", [{"id": 1}])
    lake.put_json("lake/orders/top.json", [{"top": 1}])
    lake.crawl(lake.crawler(Exclusions=["orders/*.json"]))
    assert lake.columns("orders") == [("id", "int")]


def test_gzip_compressed_json(lake: Lake) -> None:
    lake.put_json("lake/clicks/day=1/a.json.gz", [{"url": "/", "ms": 12}], compress=True)
    lake.crawl(lake.crawler())
    table = lake.table("clicks")
    assert lake.columns("clicks") == [("url", "string"), ("ms", "int")]
    assert table["Parameters"]["compressionType"] == "gzip"
    assert table["StorageDescriptor"]["Compressed"] is True


def test_parquet_files_get_parquet_formats_and_types(lake: Lake) -> None:
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("qty", pa.int32()),
            ("price", pa.float64()),
            ("name", pa.string()),
            ("ok", pa.bool_()),
            ("tags", pa.list_(pa.string())),
            ("dims", pa.struct([("w", pa.int32()), ("h", pa.float64())])),
        ]
    )
    rows = {
        "id": [1, 2],
        "qty": [1, 2],
        "price": [1.5, 2.5],
        "name": ["a", "b"],
        "ok": [True, False],
        "tags": [["x"], []],
        "dims": [{"w": 1, "h": 2.0}, {"w": 3, "h": 4.0}],
    }
    lake.put_parquet("lake/items/region=eu/a.parquet", pa.table(rows, schema=schema))
    lake.put_parquet("lake/items/region=us/a.parquet", pa.table(rows, schema=schema))
    lake.crawl(lake.crawler())
    table = lake.table("items")
    assert lake.columns("items") == [
        ("id", "bigint"),
        ("qty", "int"),
        ("price", "double"),
        ("name", "string"),
        ("ok", "boolean"),
        ("tags", "array<string>"),
        ("dims", "struct<w:int,h:double>"),
    ]
    descriptor = table["StorageDescriptor"]
    assert descriptor["InputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    assert descriptor["OutputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
    assert (
        descriptor["SerdeInfo"]["SerializationLibrary"]
        == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    )
    assert table["Parameters"]["classification"] == "parquet"
    assert table["Parameters"]["recordCount"] == "4"
    assert set(lake.partitions("items")) == {("eu",), ("us",)}


def test_json_classifier_path_selects_the_records(lake: Lake) -> None:
    classifier = unique("json-array")
    lake.glue.create_classifier(JsonClassifier={"Name": classifier, "JsonPath": "$[*]"})
    got = lake.glue.get_classifier(Name=classifier)["Classifier"]["JsonClassifier"]
    assert (got["Name"], got["JsonPath"], got["Version"]) == (classifier, "$[*]", 1)
    with pytest.raises(ClientError) as err:
        lake.glue.create_classifier(JsonClassifier={"Name": classifier, "JsonPath": "$[*]"})
    assert err.value.response["Error"]["Code"] == "AlreadyExistsException"

    body = json.dumps([{"sku": "a", "n": 1}, {"sku": "b", "n": 2.5}], indent=2).encode()
    lake.put_raw("with/arrays/a.json", body)
    lake.put_raw("without/arrays/a.json", body)
    lake.crawl(lake.crawler("with/", Classifiers=[classifier]))
    lake.crawl(lake.crawler("without/"))
    tables = {
        table["StorageDescriptor"]["Location"]: table
        for table in lake.glue.get_tables(DatabaseName=lake.database)["TableList"]
    }
    with_classifier = tables[f"s3://{lake.bucket}/with/arrays/"]
    without_classifier = tables[f"s3://{lake.bucket}/without/arrays/"]
    assert [(c["Name"], c["Type"]) for c in with_classifier["StorageDescriptor"]["Columns"]] == [
        ("sku", "string"),
        ("n", "double"),
    ]
    assert with_classifier["Parameters"]["recordCount"] == "2"
    # The built-in classifier sees one record holding the whole array.
    assert [(c["Name"], c["Type"]) for c in without_classifier["StorageDescriptor"]["Columns"]] == [
        ("array", "array<struct<sku:string,n:double>>")
    ]


def test_starting_a_running_crawler_and_stopping_it(lake: Lake, held_crawls: None, local_aws: Any) -> None:
    lake.put_json("lake/orders/a.json", [{"id": 1}])
    name = lake.crawler()
    with pytest.raises(ClientError) as err:
        lake.glue.stop_crawler(Name=name)
    assert err.value.response["Error"]["Code"] == "CrawlerNotRunningException"

    lake.glue.start_crawler(Name=name)
    assert lake.glue.get_crawler(Name=name)["Crawler"]["State"] == "RUNNING"
    with pytest.raises(ClientError) as err:
        lake.glue.start_crawler(Name=name)
    assert err.value.response["Error"]["Code"] == "CrawlerRunningException"

    with pytest.raises(ClientError) as err:
        lake.glue.delete_crawler(Name=name)
    assert err.value.response["Error"]["Code"] == "CrawlerRunningException"

    lake.glue.stop_crawler(Name=name)
    assert lake.glue.get_crawler(Name=name)["Crawler"]["State"] == "STOPPING"
    with pytest.raises(ClientError) as err:
        lake.glue.stop_crawler(Name=name)
    assert err.value.response["Error"]["Code"] == "CrawlerStoppingException"
    local_aws.world.component("glue_crawler").crawl_gate.set()
    crawler = wait_until(
        lambda: (c := lake.glue.get_crawler(Name=name)["Crawler"])["State"] == "READY" and c,
        what="the stopped crawler to be READY",
    )
    assert crawler["LastCrawl"]["Status"] == "CANCELLED"
    assert lake.table_names() == set()
    crawls = lake.glue.list_crawls(CrawlerName=name)["Crawls"]
    assert [crawl["State"] for crawl in crawls] == ["STOPPED"]


@pytest.mark.parametrize("missing", ["role", "database", "bucket"])
def test_a_crawler_with_missing_resources_fails_its_crawl(lake: Lake, missing: str) -> None:
    lake.put_json("lake/orders/a.json", [{"id": 1}])
    kwargs: dict[str, Any] = {}
    path = "lake/"
    if missing == "role":
        kwargs["Role"] = "arn:aws:iam::123456789012:role/no-such-role"
    elif missing == "database":
        kwargs["DatabaseName"] = "no_such_database"
    name = lake.crawler(path, **kwargs)
    if missing == "bucket":
        lake.glue.update_crawler(
            Name=name, Targets={"S3Targets": [{"Path": f"s3://{unique('nobucket')}/x/"}]}
        )
    crawler = lake.crawl(name)
    assert crawler["LastCrawl"]["Status"] == "FAILED"
    expected = {"role": "role", "database": "no_such_database", "bucket": "bucket does not exist"}[missing]
    assert expected in crawler["LastCrawl"]["ErrorMessage"]

    # The worker survives a failed crawl: fix the crawler and crawl again.
    lake.glue.update_crawler(
        Name=name,
        Role=lake.role_arn,
        DatabaseName=lake.database,
        Targets={"S3Targets": [{"Path": f"s3://{lake.bucket}/lake/"}]},
    )
    assert lake.crawl(name)["LastCrawl"]["Status"] == "SUCCEEDED"
    assert lake.table_names() == {"orders"}


def timed(action: Callable[[], Any]) -> float:
    """Seconds ``action`` took on the test's clock (an upper bound for what it measures itself)."""
    started = time.monotonic()
    action()
    return time.monotonic() - started


def test_crawler_metrics_after_runs(lake: Lake) -> None:
    lake.put_json("lake/orders/a.json", [{"id": 1}])
    name = lake.crawler()
    before = lake.metrics(name)
    assert before["CrawlerName"] == name
    assert (before["TablesCreated"], before["LastRuntimeSeconds"]) == (0, 0.0)
    first_took = timed(lambda: lake.crawl(name))
    first = lake.metrics(name)
    assert first["TablesCreated"] == 1
    second_took = timed(lambda: lake.crawl(name))
    metrics = lake.metrics(name)
    assert metrics["StillEstimating"] is False
    assert metrics["TimeLeftSeconds"] == 0.0
    # Each crawl's own runtime (at most the time the test waited for it; rounded to 1 ms), and the
    # median of the two, which is their mean. A crawl may round to 0 ms: no lower bound.
    assert first["LastRuntimeSeconds"] <= first_took + 0.001
    assert metrics["LastRuntimeSeconds"] <= second_took + 0.001
    assert metrics["MedianRuntimeSeconds"] == pytest.approx(
        (first["LastRuntimeSeconds"] + metrics["LastRuntimeSeconds"]) / 2
    )
    assert {m["CrawlerName"] for m in lake.glue.get_crawler_metrics()["CrawlerMetricsList"]} >= {name}
    with pytest.raises(ClientError) as err:
        lake.glue.get_crawler_metrics(CrawlerNameList=[unique("nobody")])
    assert err.value.response["Error"]["Code"] == "EntityNotFoundException"


def test_crawl_new_folders_only(lake: Lake) -> None:
    with pytest.raises(ClientError) as err:
        lake.crawler(RecrawlPolicy={"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"})
    assert err.value.response["Error"]["Code"] == "InvalidInputException"

    lake.put_json("lake/orders/day=1/a.json", [{"id": 1}])
    name = lake.crawler(
        RecrawlPolicy={"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"},
        SchemaChangePolicy={"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"},
    )
    lake.crawl(name)
    lake.put_json("lake/orders/day=2/a.json", [{"id": 2, "extra": "x"}])
    lake.s3.delete_object(Bucket=lake.bucket, Key="lake/orders/day=1/a.json")
    assert lake.crawl(name)["LastCrawl"]["Status"] == "SUCCEEDED"
    assert set(lake.partitions("orders")) == {("1",), ("2",)}
    assert lake.columns("orders") == [("id", "int")]
