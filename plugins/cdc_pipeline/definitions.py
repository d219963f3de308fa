"""Datasets as definitions: what a pipeline reads, how it is shaped, and the names of its resources.

A dataset is one `PipelineDefinition` in `PIPELINES`; every AWS resource name is derived from the
settings (prefix, region, account) and the dataset name, so a second dataset gets its own table,
stream, pipe, delivery stream, function, crawler and roles, while the lake bucket, Glue database,
Athena workgroup and alerts topic are shared.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from cdc_pipeline.settings import REPO_ROOT, Settings

# AWS name limits (IAM role and Lambda function names: 64; Pipe and Firehose names: 64).
_MAX_NAME = 64
_LIMITED_NAMES = (
    "stream",
    "pipe",
    "delivery_stream",
    "function",
    "crawler",
    "lambda_role",
    "pipe_role",
    "firehose_role",
    "crawler_role",
)


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


@dataclass(frozen=True)
class ResourceNames:
    """Every AWS name and ARN of one dataset's pipeline under one set of settings."""

    dataset: str
    table: str
    stream: str
    pipe: str
    delivery_stream: str
    function: str
    crawler: str
    lambda_role: str
    pipe_role: str
    firehose_role: str
    crawler_role: str
    lake_bucket: str
    athena_results_bucket: str
    glue_database: str
    athena_workgroup: str
    alerts_topic: str
    lake_prefix: str
    error_prefix: str
    partition: str
    region: str
    account_id: str

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        """`arn:<partition>:<service>:<region>:<account>:<resource>` (IAM/S3 ARNs are global)."""
        if service == "s3":
            return f"arn:{self.partition}:s3:::{resource}"
        region = self.region if regional else ""
        return f"arn:{self.partition}:{service}:{region}:{self.account_id}:{resource}"

    @property
    def table_arn(self) -> str:
        return self.arn("dynamodb", f"table/{self.table}")

    @property
    def table_streams_arn(self) -> str:
        """Every stream of the table (the stream label is a timestamp only known after creation)."""
        return f"{self.table_arn}/stream/*"

    @property
    def stream_arn(self) -> str:
        return self.arn("kinesis", f"stream/{self.stream}")

    @property
    def function_arn(self) -> str:
        return self.arn("lambda", f"function:{self.function}")

    @property
    def delivery_stream_arn(self) -> str:
        return self.arn("firehose", f"deliverystream/{self.delivery_stream}")

    @property
    def lake_bucket_arn(self) -> str:
        return self.arn("s3", self.lake_bucket)

    @property
    def alerts_topic_arn(self) -> str:
        return self.arn("sns", self.alerts_topic)

    @property
    def function_log_group(self) -> str:
        return f"/aws/lambda/{self.function}"

    def role_arn(self, role_name: str) -> str:
        return self.arn("iam", f"role/{role_name}", regional=False)


@dataclass(frozen=True)
class PipelineDefinition:
    """One dataset's pipeline. Names of AWS resources come from `resources(settings)`."""

    #: The dataset: the lake folder, the Glue table and the Athena table are named after it.
    name: str
    #: The DynamoDB table's base name; the real table is `<prefix>-<table>`.
    table: str
    #: The table's partition key (a string attribute); also the Kinesis partition key.
    key_attribute: str
    #: The folder under `lambda/` holding the Firehose transform's `handler.py`.
    transform_folder: str
    #: `module:Class` of the data generator, imported only when asked for.
    generator: str
    topology: Topology = Topology.CDC
    #: The item attribute that holds a change's event time (ISO-8601 UTC).
    event_time_attribute: str = "updated_at"
    #: Hive-style partition keys of the lake, from the event time (UTC), in folder order.
    partition_keys: tuple[str, ...] = ("year", "month", "day", "hour")
    transform_handler: str = "handler.lambda_handler"
    #: Values the dataset's own quality checks use (`{{ lake.<name> }}` in its SQL), e.g. price bounds.
    check_params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    sql: SqlFolders = field(default_factory=SqlFolders)

    @property
    def slug(self) -> str:
        """The dataset name as AWS resource names like it (`sales_orders` -> `sales-orders`)."""
        return self.name.replace("_", "-")

    def generator_class(self) -> Any:
        """Import and return the generator class (lazily: DAG parsing never imports Faker)."""
        module_name, _, class_name = self.generator.partition(":")
        return getattr(importlib.import_module(module_name), class_name)

    def transform_dir(self, settings: Settings) -> Path:
        """The folder whose files are zipped into the transform function."""
        return Path(settings.lambda_dir) / self.transform_folder

    def transform_environment(self) -> dict[str, str]:
        """The transform Lambda's environment variables."""
        return {"EVENT_TIME_ATTRIBUTE": self.event_time_attribute}

    def resources(self, settings: Settings) -> ResourceNames:
        """Every resource name for this dataset under `settings` (needs the account id)."""
        account_id = settings.require_account_id()
        base = f"{settings.prefix}-{self.slug}"
        names = ResourceNames(
            dataset=self.name,
            table=f"{settings.prefix}-{self.table}",
            stream=f"{base}-changes",
            pipe=f"{base}-pipe",
            delivery_stream=f"{base}-delivery",
            function=f"{base}-transform",
            crawler=f"{base}-crawler",
            lambda_role=f"{base}-transform-role",
            pipe_role=f"{base}-pipe-role",
            firehose_role=f"{base}-firehose-role",
            crawler_role=f"{base}-crawler-role",
            lake_bucket=settings.lake_bucket,
            athena_results_bucket=settings.athena_results_bucket,
            glue_database=settings.glue_database,
            athena_workgroup=settings.athena_workgroup,
            alerts_topic=settings.alerts_topic,
            lake_prefix=f"{self.name}/",
            error_prefix=(
                f"errors/{self.name}/!{{firehose:error-output-type}}/year=!{{timestamp:yyyy}}/"
                "month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
            ),
            partition=settings.partition,
            region=settings.region,
            account_id=account_id,
        )
        for attr in _LIMITED_NAMES:
            if len(getattr(names, attr)) > _MAX_NAME:
                raise ValueError(
                    f"{attr} name {getattr(names, attr)!r} is longer than AWS's {_MAX_NAME} characters: "
                    "use a shorter CDC_LAKE_PREFIX or dataset name"
                )
        return names

    @property
    def lake_prefix_expression(self) -> str:
        """The Firehose Prefix: Hive-style folders from the keys the transform returns."""
        return f"{self.name}/" + "".join(
            f"{key}=!{{partitionKeyFromLambda:{key}}}/" for key in self.partition_keys
        )


SALES_ORDERS = PipelineDefinition(
    name="sales_orders",
    table="orders",
    key_attribute="orderid",
    transform_folder="cdc_transform",
    generator="cdc_pipeline.generators.orders:OrderDataset",
    # The catalogue's dearest product is 3,299.00 and an order holds at most 10 units; anything beyond
    # these bounds is a data error, not a big sale.
    check_params={"max_price": 5000, "max_quantity": 10},
)

PIPELINES: dict[str, PipelineDefinition] = {d.name: d for d in (SALES_ORDERS,)}


class UnknownPipelineError(KeyError):
    """No pipeline has that name."""

    def __str__(self) -> str:
        return str(self.args[0])


def get_pipeline(name: str) -> PipelineDefinition:
    """The definition named `name`, or an error listing the valid names."""
    try:
        return PIPELINES[name]
    except KeyError:
        raise UnknownPipelineError(
            f"no pipeline named {name!r}; valid names: {', '.join(sorted(PIPELINES))}"
        ) from None
