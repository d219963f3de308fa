"""Datasets as definitions: what a pipeline reads, how it is shaped, and the names of its resources.

Each pipeline is one TOML file in `pipelines/` at the repository root (read with `tomllib`, at import,
with no network call); `PIPELINES` maps each dataset name to its `PipelineDefinition`. Adding a
pipeline is one new file there, plus its SQL (`include/sql/quality/<name>/`, `include/sql/report/<name>/`)
and its generator's dataset class: the DAG files build every DAG from `PIPELINES`.

A definition file, with every field (``#`` marks the optional ones)::

    name = "sales_orders"             # the dataset: lake folder, Glue table, Athena table
    description = "..."               # (optional) one line for people
    topology = "cdc"                  # "cdc" or "direct"
    key_attribute = "orderid"         # the item key (a string attribute)
    generator = "cdc_pipeline.generators.orders:OrderDataset"   # module:Class, imported lazily
    count_noun = "orders"             # the generate DAG's how-many parameter (orders=2000)
    event_time_attribute = "updated_at"                  # (optional) ISO-8601 UTC event time
    partition_keys = ["year", "month", "day", "hour"]    # (optional) lake folders, in this order

    # topology = "cdc": DynamoDB table -> stream -> Pipe -> Kinesis -> Firehose + transform -> S3
    table = "orders"                  # the table's base name; the real one is <prefix>-<table>
    transform_folder = "cdc_transform"            # lambda/<folder>/ is the transform's zip
    transform_handler = "handler.lambda_handler"  # (optional)

    # topology = "direct": producer -> Kinesis -> Lambda consumer -> S3 (no table, no transform)
    consumer_folder = "kinesis_consumer"          # lambda/<folder>/ is the consumer's zip
    consumer_handler = "handler.lambda_handler"   # (optional)

    [check_params]      # (optional) numbers the dataset's checks read as {{ lake.<name> }}
    max_price = 5000

    [charts]            # (optional) hints for the report charts, passed through as they are

Every resource name is derived from the settings (prefix, region, account) and the dataset name, so
a second dataset gets its own table, stream, pipe, delivery stream, function, crawler and roles,
while the lake bucket, Glue database, Athena workgroup and alerts topic are shared.

A file that cannot be used raises `PipelineDefinitionError` naming the file and the field.
"""

from __future__ import annotations

import importlib
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from cdc_pipeline.settings import REPO_ROOT, Settings

#: Where the definition files are: one `<name>.toml` per pipeline.
#: The definition files' folder; CDC_LAKE_PIPELINES_DIR points elsewhere (a test, a deployment's own set).
PIPELINES_DIR = Path(os.environ.get("CDC_LAKE_PIPELINES_DIR") or REPO_ROOT / "pipelines")

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
    #: The DynamoDB table (empty for a `direct` pipeline, which has none).
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
    partition_keys: tuple[str, ...] = ("year", "month", "day", "hour")
    #: Values the dataset's own quality checks use (`{{ lake.<name> }}` in its SQL), e.g. price bounds.
    check_params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    #: Hints for the report charts (free-form; the charts module reads them).
    charts: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    description: str = ""
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
        account_id = settings.require_account_id()
        base = f"{settings.prefix}-{self.slug}"
        # The one function is the Firehose transform (cdc) or the Kinesis consumer (direct).
        direct = self.topology is Topology.DIRECT
        function = "consumer" if direct else "transform"
        names = ResourceNames(
            dataset=self.name,
            table=f"{settings.prefix}-{self.table}" if self.table else "",
            stream=f"{base}-events" if direct else f"{base}-changes",
            pipe=f"{base}-pipe",
            delivery_stream=f"{base}-delivery",
            function=f"{base}-{function}",
            crawler=f"{base}-crawler",
            lambda_role=f"{base}-{function}-role",
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


# -- loading the definition files ---------------------------------------------------------------


class PipelineDefinitionError(ValueError):
    """A definition file cannot be used; the message names the file and, when there is one, the field."""

    def __init__(self, source: Path | str, field_name: str | None, message: str) -> None:
        self.source = _shown(source)
        self.field = field_name
        where = f"{self.source}: field {field_name!r}" if field_name else self.source
        super().__init__(f"{where}: {message}")


#: The partition keys the transform returns (from the event time), in folder order.
PARTITION_KEYS = ("year", "month", "day", "hour")
#: Generate-DAG parameters every dataset has: a count noun must not shadow one of them.
GENERATE_PARAMS = frozenset(
    {
        "duration_seconds",
        "rate_per_second",
        "update_share",
        "delete_share",
        "seed",
        "spread_hours",
        "end_time",
        "progress_every",
        "count",
    }
)
#: Names the SQL macro `lake` already has (`workflows.common.sql_params`); check params must not shadow them.
SQL_IDENTIFIER_PARAMS = frozenset(
    {"database", "table", "changes_view", "current_view", "key", "columns", "max_delay_seconds"}
)

_FIELDS = (
    "name",
    "description",
    "topology",
    "key_attribute",
    "generator",
    "count_noun",
    "event_time_attribute",
    "partition_keys",
    "table",
    "transform_folder",
    "transform_handler",
    "consumer_folder",
    "consumer_handler",
    "check_params",
    "charts",
)
_TOPOLOGY_FIELDS = {
    Topology.CDC: ("table", "transform_folder", "transform_handler"),
    Topology.DIRECT: ("consumer_folder", "consumer_handler"),
}
_TOPOLOGY_REQUIRED = {Topology.CDC: ("table", "transform_folder"), Topology.DIRECT: ("consumer_folder",)}

# The dataset name is a Glue table and an Athena identifier (lower case, no quoting needed) and, with
# '_' as '-', part of role names: 28 characters leave room for a 20-character prefix and the longest
# suffix ("-transform-role") inside IAM's 64.
_DATASET_RE = re.compile(r"^[a-z](?:[a-z0-9_]{0,26}[a-z0-9])?$")
# DynamoDB allows [A-Za-z0-9_.-]{3,255}; the prefix and '-' come first.
_TABLE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
# The Glue crawler lower-cases column names, and the SQL and the Pipe's JSONPath name them unquoted.
_ATTRIBUTE_RE = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
_FOLDER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")
_HANDLER_RE = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+$")
_GENERATOR_RE = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")
_NOUN_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_PARAM_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def parse_definition(data: Mapping[str, Any], source: Path | str = "<definition>") -> PipelineDefinition:
    """Validate one definition's fields (a parsed TOML document) and build the `PipelineDefinition`."""
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise PipelineDefinitionError(
            source, unknown[0], f"unknown field; the fields are: {', '.join(_FIELDS)}"
        )

    def text(name: str, pattern: re.Pattern[str] | None, rule: str, default: str | None = None) -> str:
        if name not in data:
            if default is None:
                raise PipelineDefinitionError(source, name, "is required")
            return default
        value = data[name]
        if not isinstance(value, str):
            raise PipelineDefinitionError(source, name, f"must be a string, got {type(value).__name__}")
        if pattern is not None and not pattern.match(value):
            raise PipelineDefinitionError(source, name, f"{value!r}: {rule}")
        return value

    name = text(
        "name",
        _DATASET_RE,
        "use 1-28 lower-case letters, digits and '_', starting with a letter and not ending with '_'",
    )
    raw_topology = text("topology", None, "")
    try:
        topology = Topology(raw_topology)
    except ValueError:
        choices = ", ".join(repr(t.value) for t in Topology)
        raise PipelineDefinitionError(source, "topology", f"{raw_topology!r}: use one of {choices}") from None
    attribute_rule = "use lower-case letters, digits and '_' (the crawler lower-cases column names)"
    key_attribute = text("key_attribute", _ATTRIBUTE_RE, attribute_rule)
    event_time_attribute = text("event_time_attribute", _ATTRIBUTE_RE, attribute_rule, "updated_at")
    if event_time_attribute == key_attribute:
        raise PipelineDefinitionError(source, "event_time_attribute", "must differ from key_attribute")
    generator = text("generator", _GENERATOR_RE, "use 'package.module:ClassName'")
    count_noun = text("count_noun", _NOUN_RE, "use 1-32 lower-case letters, digits and '_' (e.g. 'users')")
    if count_noun in GENERATE_PARAMS:
        raise PipelineDefinitionError(
            source, "count_noun", f"{count_noun!r} is already a generate parameter; use the items' noun"
        )
    description = text("description", None, "", "")

    for other, fields in _TOPOLOGY_FIELDS.items():
        if other is topology:
            continue
        for field_name in fields:
            if field_name in data:
                raise PipelineDefinitionError(
                    source, field_name, f"belongs to topology {other.value!r}, not {topology.value!r}"
                )
    for field_name in _TOPOLOGY_REQUIRED[topology]:
        if field_name not in data:
            raise PipelineDefinitionError(source, field_name, f"is required for topology {topology.value!r}")
    folder_rule = "name one folder under lambda/ (letters, digits, '_' and '-')"
    handler_rule = "use 'module.function', e.g. 'handler.lambda_handler'"
    topology_values: dict[str, Any] = {}
    if topology is Topology.CDC:
        topology_values = {
            "table": text("table", _TABLE_RE, "use letters, digits, '_', '.' and '-' (DynamoDB's rule)"),
            "transform_folder": text("transform_folder", _FOLDER_RE, folder_rule),
            "transform_handler": text(
                "transform_handler", _HANDLER_RE, handler_rule, "handler.lambda_handler"
            ),
        }
    else:
        topology_values = {
            "consumer_folder": text("consumer_folder", _FOLDER_RE, folder_rule),
            "consumer_handler": text("consumer_handler", _HANDLER_RE, handler_rule, "handler.lambda_handler"),
        }

    return PipelineDefinition(
        name=name,
        description=description,
        topology=topology,
        key_attribute=key_attribute,
        generator=generator,
        count_noun=count_noun,
        event_time_attribute=event_time_attribute,
        partition_keys=_partition_keys(data, source),
        check_params=_check_params(data, source),
        charts=_charts(data, source),
        source=Path(source) if not isinstance(source, Path) else source,
        **topology_values,
    )


def _partition_keys(data: Mapping[str, Any], source: Path | str) -> tuple[str, ...]:
    if "partition_keys" not in data:
        return PARTITION_KEYS
    keys = data["partition_keys"]
    allowed = ", ".join(PARTITION_KEYS)
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        raise PipelineDefinitionError(
            source, "partition_keys", f"must be a non-empty list of strings from {allowed}"
        )
    for key in keys:
        if key not in PARTITION_KEYS:
            raise PipelineDefinitionError(
                source, "partition_keys", f"{key!r} is not a key the transform returns ({allowed})"
            )
    if len(set(keys)) != len(keys):
        raise PipelineDefinitionError(source, "partition_keys", f"{keys!r} repeats a key")
    if keys != sorted(keys, key=PARTITION_KEYS.index):
        raise PipelineDefinitionError(
            source, "partition_keys", f"{keys!r}: keep the order {allowed} (coarse to fine folders)"
        )
    return tuple(keys)


def _check_params(data: Mapping[str, Any], source: Path | str) -> dict[str, Any]:
    params = data.get("check_params", {})
    if not isinstance(params, dict):
        raise PipelineDefinitionError(source, "check_params", "must be a table ([check_params])")
    for name, value in params.items():
        where = f"check_params.{name}"
        if not _PARAM_NAME_RE.match(name):
            raise PipelineDefinitionError(source, where, "use lower-case letters, digits and '_'")
        if name in SQL_IDENTIFIER_PARAMS:
            raise PipelineDefinitionError(
                source, where, "is a name the SQL macro `lake` already has; choose another"
            )
        # Values are pasted into SQL: numbers only, so no text from a file ever becomes SQL.
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise PipelineDefinitionError(source, where, f"must be a finite number, got {value!r}")
    return dict(params)


def _charts(data: Mapping[str, Any], source: Path | str) -> dict[str, Any]:
    charts = data.get("charts", {})
    if not isinstance(charts, dict):
        raise PipelineDefinitionError(source, "charts", "must be a table ([charts])")
    return dict(charts)


def load_definition(path: Path) -> PipelineDefinition:
    """Read and validate one definition file."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise PipelineDefinitionError(path, None, f"not valid TOML: {exc}") from None
    except OSError as exc:
        raise PipelineDefinitionError(path, None, f"cannot be read: {exc.strerror or exc}") from None
    return parse_definition(data, path)


def load_pipelines(folder: Path = PIPELINES_DIR) -> dict[str, PipelineDefinition]:
    """Every `*.toml` definition in `folder`, by name; names and tables must be unique."""
    if not folder.is_dir():
        raise PipelineDefinitionError(folder, None, "the pipelines folder does not exist")
    paths = sorted(folder.glob("*.toml"))
    if not paths:
        raise PipelineDefinitionError(folder, None, "holds no pipeline definition (*.toml)")
    pipelines: dict[str, PipelineDefinition] = {}
    tables: dict[str, PipelineDefinition] = {}
    for path in paths:
        definition = load_definition(path)
        if definition.name in pipelines:
            first = _shown(pipelines[definition.name].source or "")
            raise PipelineDefinitionError(
                path, "name", f"{definition.name!r} is already the name of the pipeline in {first}"
            )
        if definition.table is not None:
            if definition.table in tables:
                first = _shown(tables[definition.table].source or "")
                raise PipelineDefinitionError(
                    path, "table", f"{definition.table!r} is already the table of the pipeline in {first}"
                )
            tables[definition.table] = definition
        pipelines[definition.name] = definition
    return pipelines


def _shown(path: Path | str) -> str:
    """A path as people read it: relative to the repository when it is inside it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def load_usable_pipelines(
    folder: Path = PIPELINES_DIR,
) -> tuple[dict[str, PipelineDefinition], dict[str, PipelineDefinitionError]]:
    """Every definition that loads, and each broken file's error by its path.

    One file with a typo must not take the other pipelines down: the good ones load, and the DAG
    file `dags/pipeline_definitions.py` shows the broken ones to Airflow as its import error.
    A file whose name or table repeats an earlier file's is the broken one.
    """
    pipelines: dict[str, PipelineDefinition] = {}
    broken: dict[str, PipelineDefinitionError] = {}
    if not folder.is_dir():
        broken[_shown(folder)] = PipelineDefinitionError(folder, None, "the pipelines folder does not exist")
        return pipelines, broken
    tables: dict[str, PipelineDefinition] = {}
    for path in sorted(folder.glob("*.toml")):
        try:
            definition = load_definition(path)
            _check_unique(definition, path, pipelines, tables)
        except PipelineDefinitionError as error:
            broken[_shown(path)] = error
            continue
        pipelines[definition.name] = definition
        if definition.table is not None:
            tables[definition.table] = definition
    return pipelines, broken


def _check_unique(
    definition: PipelineDefinition,
    path: Path,
    pipelines: Mapping[str, PipelineDefinition],
    tables: Mapping[str, PipelineDefinition],
) -> None:
    if definition.name in pipelines:
        first = _shown(pipelines[definition.name].source or "")
        raise PipelineDefinitionError(
            path, "name", f"{definition.name!r} is already the name of the pipeline in {first}"
        )
    if definition.table is not None and definition.table in tables:
        first = _shown(tables[definition.table].source or "")
        raise PipelineDefinitionError(
            path, "table", f"{definition.table!r} is already the table of the pipeline in {first}"
        )


PIPELINES: dict[str, PipelineDefinition]
#: The definition files that cannot be used, by path, with the error naming the file and field.
BROKEN_PIPELINES: dict[str, PipelineDefinitionError]
PIPELINES, BROKEN_PIPELINES = load_usable_pipelines()


def __getattr__(name: str) -> Any:
    """`SALES_ORDERS`, kept for code that names the first dataset directly; looked up when used, so
    a broken sales_orders file fails only that code, not every import of this module."""
    if name == "SALES_ORDERS":
        return get_pipeline("sales_orders")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class UnknownPipelineError(KeyError):
    """No pipeline has that name."""

    def __str__(self) -> str:
        return str(self.args[0])


def get_pipeline(name: str) -> PipelineDefinition:
    """The definition named `name`, or an error listing the valid names."""
    try:
        return PIPELINES[name]
    except KeyError:
        for error in BROKEN_PIPELINES.values():
            if Path(error.source).stem == name:
                raise UnknownPipelineError(f"the pipeline {name!r} cannot be used: {error}") from None
        raise UnknownPipelineError(
            f"no pipeline named {name!r}; valid names: {', '.join(sorted(PIPELINES))}"
        ) from None
