"""A pipeline definition as the code uses it: the dataset, its topology, its SQL and its generator."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from cdc_pipeline.definitions.errors import PipelineDefinitionError
from cdc_pipeline.definitions.names import ResourceNames, resource_names
from cdc_pipeline.settings import REPO_ROOT, Settings

#: The partition keys the transform returns (from the event time), in folder order.
PARTITION_KEYS = ("year", "month", "day", "hour")


def normal_type(kind: str) -> str:
    """An Athena/Glue type name compared as Glue stores it: lower case, no spaces (``decimal(12,2)``)."""
    return "".join(kind.lower().split())


class Topology(StrEnum):
    """How changes reach the lake."""

    #: DynamoDB table -> stream -> EventBridge Pipe -> Kinesis -> Firehose (+ transform) -> S3.
    CDC = "cdc"
    #: producer -> Kinesis -> Lambda consumer (event source mapping) -> S3 (seed 001; a later issue).
    DIRECT = "direct"


@dataclass(frozen=True)
class SqlFolders:
    """Where a dataset's SQL lives, relative to the repository root."""

    views: str = "include/sql/ddl"
    checks: str = "include/sql/quality"
    reports: str = "include/sql/report"

    def path(self, kind: str) -> Path:
        """The absolute folder for `kind` (views, checks or reports)."""
        return REPO_ROOT / getattr(self, kind)


@dataclass(frozen=True, kw_only=True)
class PipelineDefinition:
    """One dataset's pipeline. Names of AWS resources come from `resources(settings)`."""

    #: The dataset: the lake folder, the Glue table and the Athena table are named after it.
    name: str
    #: `module:Class` of the data generator's `Dataset`, imported only when asked for.
    generator: str
    #: The table's partition key (a string attribute); also the Kinesis partition key.
    key_attribute: str
    topology: Topology = Topology.CDC
    #: The DynamoDB table's base name; the real table is `<prefix>-<table>` (`cdc` only).
    table: str | None = None
    #: The folder under `lambda/` holding the Firehose transform's `handler.py` (`cdc` only).
    transform_folder: str | None = None
    transform_handler: str = "handler.lambda_handler"
    #: The folder under `lambda/` holding the Kinesis consumer's handler (`direct` only).
    consumer_folder: str | None = None
    consumer_handler: str = "handler.lambda_handler"
    #: What one generated item is called: the generate DAG's how-many parameter (``orders=2000``).
    count_noun: str = "items"
    #: The item attribute that holds a change's event time (ISO-8601 UTC).
    event_time_attribute: str = "updated_at"
    #: Hive-style partition keys of the lake, from the event time (UTC), in folder order.
    partition_keys: tuple[str, ...] = PARTITION_KEYS
    #: Values the dataset's own quality checks use (`{{ lake.<name> }}` in its SQL), e.g. price bounds.
    check_params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    #: Hints for the report charts (free-form; the charts module reads them).
    charts: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    description: str = ""
    #: The dataset's business columns as (name, Athena type), declared in the file's ``[columns]``:
    #: the current-state Iceberg table is created with exactly these (a contract, not a crawl's guess).
    columns: tuple[tuple[str, str], ...] = ()
    #: The declared column the state table is partitioned by (by day): a time that never changes for a
    #: key (an order's ``order_time``), so each key's versions stay in one partition; required with
    #: ``[columns]``.
    state_partition: str | None = None
    sql: SqlFolders = field(default_factory=SqlFolders)
    #: The file this definition was read from (None when built in code).
    source: Path | None = field(default=None, compare=False)

    @property
    def slug(self) -> str:
        """The dataset name as AWS resource names like it (`sales_orders` -> `sales-orders`)."""
        return self.name.replace("_", "-")

    def generator_class(self) -> Any:
        """Import and return the generator's `Dataset` class (lazily: DAG parsing never imports Faker).

        The class must agree with the definition (its `name`, `key` and `noun`), so that a TOML typo
        fails here with the file named, not later inside a run.
        """
        module_name, _, class_name = self.generator.partition(":")
        where = self.source or self.name
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            raise PipelineDefinitionError(
                where, "generator", f"cannot import {self.generator!r}: {exc}"
            ) from exc
        for attribute, expected, field_name in (
            ("name", self.name, "name"),
            ("key", self.key_attribute, "key_attribute"),
            ("noun", self.count_noun, "count_noun"),
        ):
            actual = getattr(cls, attribute, None)
            if actual != expected:
                raise PipelineDefinitionError(
                    where,
                    field_name,
                    f"is {expected!r} but the generator {self.generator} has {attribute} = {actual!r}",
                )
        return cls

    def transform_dir(self, settings: Settings) -> Path:
        """The folder whose files are zipped into the transform function."""
        if not self.transform_folder:
            raise ValueError(f"pipeline {self.name!r} ({self.topology.value}) has no transform function")
        return Path(settings.lambda_dir) / self.transform_folder

    def consumer_dir(self, settings: Settings) -> Path:
        """The folder whose files are zipped into the Kinesis consumer function (`direct` only)."""
        if not self.consumer_folder:
            raise ValueError(f"pipeline {self.name!r} ({self.topology.value}) has no consumer function")
        return Path(settings.lambda_dir) / self.consumer_folder

    def transform_environment(self) -> dict[str, str]:
        """The transform Lambda's environment variables."""
        return {"EVENT_TIME_ATTRIBUTE": self.event_time_attribute}

    def resources(self, settings: Settings) -> ResourceNames:
        """Every resource name for this dataset under `settings` (needs the account id)."""
        # The one function is the Firehose transform (cdc) or the Kinesis consumer (direct).
        return resource_names(settings, self.name, self.table, direct=self.topology is Topology.DIRECT)

    @property
    def lake_prefix_expression(self) -> str:
        """The Firehose Prefix: Hive-style folders from the keys the transform returns."""
        return f"{self.name}/" + "".join(
            f"{key}=!{{partitionKeyFromLambda:{key}}}/" for key in self.partition_keys
        )
