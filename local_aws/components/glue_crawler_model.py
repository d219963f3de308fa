"""The crawler's plans and outcomes: what a crawl found, as tables and partitions, and how it ends."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from local_aws.components import glue_schema as gs

NAME = "glue_crawler"
LOG_GROUP = "/aws-glue/crawlers"
READY, RUNNING, STOPPING = "READY", "RUNNING", "STOPPING"

JSON_FORMAT = {
    "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
    "SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe",
}
PARQUET_FORMAT = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
}
SIMILARITY_THRESHOLD = 0.7
NEW_FOLDERS_ONLY_MESSAGE = (
    'The SchemaChangePolicy for "Crawl new folders only" Amazon S3 target can have only LOG '
    "DeleteBehavior value and LOG UpdateBehavior value."
)


def catalog_name(text: str) -> str:
    """A name as the crawler writes it to the catalog: lower case, other characters as ``_``."""
    return re.sub(r"[^a-z0-9_]", "_", text.lower())


def hive_pair(folder: str) -> tuple[str, str] | None:
    """A Hive-style ``key=value`` folder as (key, value), else None."""
    key, sep, value = folder.partition("=")
    return (key, value) if sep and key else None


# -- plans ---------------------------------------------------------------------------------
@dataclass
class CrawlerConfig:
    """What a crawl needs from the crawler, copied under the lock at the start of the crawl."""

    account: str
    region: str
    name: str
    role: str
    database: str
    s3_targets: list[dict[str, Any]]
    other_targets: list[str]
    json_path: str | None
    table_prefix: str
    update_behavior: str
    delete_behavior: str
    new_folders_only: bool
    table_level: int | None
    combine_compatible: bool = False  # Grouping.TableGroupingPolicy: CombineCompatibleSchemas
    inherit_partitions: bool = False  # CrawlerOutput.Partitions.AddOrUpdateBehavior: InheritFromTable


@dataclass
class ObjectRef:
    bucket: str
    key: str
    rel: str  # relative to the include path
    etag: str
    size: int
    info: gs.ObjectInfo | None = None


@dataclass
class PartitionPlan:
    values: list[str]
    location: str
    objects: int = 0
    size: int = 0
    records: int = 0
    fields: tuple[tuple[str, Any], ...] = ()  # the partition's own schema (partition keys dropped)


@dataclass
class TablePlan:
    """One table the crawl found: where it lives, its schema, its partitions, its statistics."""

    name: str
    bucket: str
    root: str  # key prefix of the table, ending in "/" unless it is the bucket root
    classification: str
    compression: str
    json_path: str | None
    fields: tuple[tuple[str, Any], ...] = ()
    partition_keys: list[str] = field(default_factory=list)
    partitions: dict[tuple[str, ...], PartitionPlan] = field(default_factory=dict)
    objects: int = 0
    size: int = 0
    records: int = 0

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.root}"


class CrawlCancelled(Exception):
    """StopCrawler was called."""


class CrawlAbandoned(Exception):
    """The server is stopping; the crawl stays RUNNING and is done again after a restart."""


class CrawlFailed(Exception):
    """The crawl cannot complete; the message becomes LastCrawl.ErrorMessage."""
