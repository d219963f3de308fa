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

This package: `model` (the `PipelineDefinition` the code uses), `names` (every AWS name a
definition gets under the settings), `parsing` (one file's fields, checked), `errors`; this module
loads the folder and keeps the registry (`PIPELINES`, `BROKEN_PIPELINES`, `get_pipeline`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cdc_pipeline.definitions.errors import PipelineDefinitionError, UnknownPipelineError, shown
from cdc_pipeline.definitions.model import (
    PARTITION_KEYS,
    PipelineDefinition,
    SqlFolders,
    Topology,
    normal_type,
)
from cdc_pipeline.definitions.names import ResourceNames
from cdc_pipeline.definitions.parsing import (
    GENERATE_PARAMS,
    SQL_IDENTIFIER_PARAMS,
    load_definition,
    parse_definition,
)
from cdc_pipeline.settings import REPO_ROOT

__all__ = [
    "BROKEN_PIPELINES",
    "GENERATE_PARAMS",
    "PARTITION_KEYS",
    "PIPELINES",
    "PIPELINES_DIR",
    "SQL_IDENTIFIER_PARAMS",
    "PipelineDefinition",
    "PipelineDefinitionError",
    "ResourceNames",
    "SqlFolders",
    "Topology",
    "UnknownPipelineError",
    "get_pipeline",
    "load_definition",
    "load_pipelines",
    "load_usable_pipelines",
    "normal_type",
    "parse_definition",
]

#: The definition files' folder; CDC_LAKE_PIPELINES_DIR points elsewhere (a test, a deployment's own set).
PIPELINES_DIR = Path(os.environ.get("CDC_LAKE_PIPELINES_DIR") or REPO_ROOT / "pipelines")


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
        _check_unique(definition, path, pipelines, tables)
        pipelines[definition.name] = definition
        if definition.table is not None:
            tables[definition.table] = definition
    return pipelines


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
        broken[shown(folder)] = PipelineDefinitionError(folder, None, "the pipelines folder does not exist")
        return pipelines, broken
    tables: dict[str, PipelineDefinition] = {}
    for path in sorted(folder.glob("*.toml")):
        try:
            definition = load_definition(path)
            _check_unique(definition, path, pipelines, tables)
        except PipelineDefinitionError as error:
            broken[shown(path)] = error
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
        first = shown(pipelines[definition.name].source or "")
        raise PipelineDefinitionError(
            path, "name", f"{definition.name!r} is already the name of the pipeline in {first}"
        )
    if definition.table is not None and definition.table in tables:
        first = shown(tables[definition.table].source or "")
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
