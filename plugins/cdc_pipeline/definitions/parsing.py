"""Reading one definition file: every field checked, each error naming the file and the field."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cdc_pipeline.definitions.errors import PipelineDefinitionError
from cdc_pipeline.definitions.model import PARTITION_KEYS, PipelineDefinition, Topology
from cdc_pipeline.ranges import is_finite_number

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
    {"database", "table", "changes_view", "current_view", "key", "max_delay_seconds"}
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
    "columns",
    "state_partition",
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

_DATASET_RULE = "use 1-28 lower-case letters, digits and '_', starting with a letter and not ending with '_'"
_ATTRIBUTE_RULE = "use lower-case letters, digits and '_' (the crawler lower-cases column names)"
_FOLDER_RULE = "name one folder under lambda/ (letters, digits, '_' and '-')"
_HANDLER_RULE = "use 'module.function', e.g. 'handler.lambda_handler'"
_DEFAULT_HANDLER = "handler.lambda_handler"


class _Fields:
    """One parsed document and the file it came from, read field by field."""

    def __init__(self, data: Mapping[str, Any], source: Path | str) -> None:
        self.data, self.source = data, source

    def error(self, name: str | None, message: str) -> PipelineDefinitionError:
        return PipelineDefinitionError(self.source, name, message)

    def text(self, name: str, pattern: re.Pattern[str] | None, rule: str, default: str | None = None) -> str:
        """The string field `name` (or `default`; required when there is none), matching `pattern`."""
        if name not in self.data:
            if default is None:
                raise self.error(name, "is required")
            return default
        value = self.data[name]
        if not isinstance(value, str):
            raise self.error(name, f"must be a string, got {type(value).__name__}")
        if pattern is not None and not pattern.match(value):
            raise self.error(name, f"{value!r}: {rule}")
        return value


def parse_definition(data: Mapping[str, Any], source: Path | str = "<definition>") -> PipelineDefinition:
    """Validate one definition's fields (a parsed TOML document) and build the `PipelineDefinition`."""
    fields = _Fields(data, source)
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise fields.error(unknown[0], f"unknown field; the fields are: {', '.join(_FIELDS)}")
    name = fields.text("name", _DATASET_RE, _DATASET_RULE)
    topology = _topology(fields)
    key_attribute = fields.text("key_attribute", _ATTRIBUTE_RE, _ATTRIBUTE_RULE)
    event_time_attribute = fields.text("event_time_attribute", _ATTRIBUTE_RE, _ATTRIBUTE_RULE, "updated_at")
    if event_time_attribute == key_attribute:
        raise fields.error("event_time_attribute", "must differ from key_attribute")
    generator = fields.text("generator", _GENERATOR_RE, "use 'package.module:ClassName'")
    count_noun = _count_noun(fields)
    description = fields.text("description", None, "", "")
    topology_values = _topology_values(fields, topology)
    columns = _columns(fields, key_attribute, topology)
    return PipelineDefinition(
        name=name,
        description=description,
        topology=topology,
        key_attribute=key_attribute,
        generator=generator,
        count_noun=count_noun,
        event_time_attribute=event_time_attribute,
        partition_keys=_partition_keys(fields),
        check_params=_check_params(fields),
        charts=_charts(fields),
        columns=columns,
        state_partition=_state_partition(fields, columns, topology),
        source=Path(source) if not isinstance(source, Path) else source,
        **topology_values,
    )


def _topology(fields: _Fields) -> Topology:
    raw = fields.text("topology", None, "")
    try:
        return Topology(raw)
    except ValueError:
        choices = ", ".join(repr(t.value) for t in Topology)
        raise fields.error("topology", f"{raw!r}: use one of {choices}") from None


def _count_noun(fields: _Fields) -> str:
    noun = fields.text("count_noun", _NOUN_RE, "use 1-32 lower-case letters, digits and '_' (e.g. 'users')")
    if noun in GENERATE_PARAMS:
        raise fields.error("count_noun", f"{noun!r} is already a generate parameter; use the items' noun")
    return noun


def _topology_values(fields: _Fields, topology: Topology) -> dict[str, str]:
    """The fields of `topology`'s own resources; another topology's fields are an error."""
    for other, names in _TOPOLOGY_FIELDS.items():
        if other is topology:
            continue
        for name in names:
            if name in fields.data:
                raise fields.error(name, f"belongs to topology {other.value!r}, not {topology.value!r}")
    for name in _TOPOLOGY_REQUIRED[topology]:
        if name not in fields.data:
            raise fields.error(name, f"is required for topology {topology.value!r}")
    if topology is Topology.CDC:
        return {
            "table": fields.text(
                "table", _TABLE_RE, "use letters, digits, '_', '.' and '-' (DynamoDB's rule)"
            ),
            "transform_folder": fields.text("transform_folder", _FOLDER_RE, _FOLDER_RULE),
            "transform_handler": fields.text(
                "transform_handler", _HANDLER_RE, _HANDLER_RULE, _DEFAULT_HANDLER
            ),
        }
    return {
        "consumer_folder": fields.text("consumer_folder", _FOLDER_RE, _FOLDER_RULE),
        "consumer_handler": fields.text("consumer_handler", _HANDLER_RE, _HANDLER_RULE, _DEFAULT_HANDLER),
    }


def _partition_keys(fields: _Fields) -> tuple[str, ...]:
    if "partition_keys" not in fields.data:
        return PARTITION_KEYS
    keys = fields.data["partition_keys"]
    allowed = ", ".join(PARTITION_KEYS)
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        raise fields.error("partition_keys", f"must be a non-empty list of strings from {allowed}")
    for key in keys:
        if key not in PARTITION_KEYS:
            raise fields.error("partition_keys", f"{key!r} is not a key the transform returns ({allowed})")
    if len(set(keys)) != len(keys):
        raise fields.error("partition_keys", f"{keys!r} repeats a key")
    if keys != sorted(keys, key=PARTITION_KEYS.index):
        raise fields.error("partition_keys", f"{keys!r}: keep the order {allowed} (coarse to fine folders)")
    return tuple(keys)


def _check_params(fields: _Fields) -> dict[str, Any]:
    params = fields.data.get("check_params", {})
    if not isinstance(params, dict):
        raise fields.error("check_params", "must be a table ([check_params])")
    for name, value in params.items():
        where = f"check_params.{name}"
        if not _PARAM_NAME_RE.match(name):
            raise fields.error(where, "use lower-case letters, digits and '_'")
        if name in SQL_IDENTIFIER_PARAMS:
            raise fields.error(where, "is a name the SQL macro `lake` already has; choose another")
        # Values are pasted into SQL: numbers only, so no text from a file ever becomes SQL.
        if not is_finite_number(value, (int, float)):
            raise fields.error(where, f"must be a finite number, got {value!r}")
    return dict(params)


def _charts(fields: _Fields) -> dict[str, Any]:
    charts = fields.data.get("charts", {})
    if not isinstance(charts, dict):
        raise fields.error("charts", "must be a table ([charts])")
    return dict(charts)


# Athena DDL types a column may be declared with: primitives, decimal(p, s), and struct/array/map of them.
_PRIMITIVE_TYPES = r"(?:string|bigint|int|smallint|tinyint|double|float|boolean|date|timestamp|decimal\(\d{1,2},\s*\d{1,2}\))"
_TYPE_TOKEN_RE = re.compile(rf"^(?:{_PRIMITIVE_TYPES}|struct<|array<|map<|[a-z_][a-z0-9_]*:|,|>)")
#: Columns the state table adds to the declared ones; a declared column must not take their names.
STATE_COLUMNS = ("sequence_number", "is_deleted", "valid_from", "valid_to", "partition_time")
#: The declared types a ``state_partition`` column may have: ISO-8601 text, or a timestamp or date.
_PARTITION_TYPES = ("string", "timestamp", "date")


def _column_type(fields: _Fields, where: str, value: Any) -> str:
    """``value`` if it is an Athena DDL type this project writes (nested types checked token by token)."""
    if not isinstance(value, str) or not value.strip():
        raise fields.error(
            where, f"must be an Athena type such as 'string' or 'decimal(12,2)', got {value!r}"
        )
    rest, depth = value.strip().lower(), 0
    while rest:
        token = _TYPE_TOKEN_RE.match(rest)
        if token is None:
            raise fields.error(where, f"{value!r}: {rest!r} is not a type this project knows")
        depth += token.group().endswith("<") - (token.group() == ">")
        if depth < 0:
            raise fields.error(where, f"{value!r}: unbalanced '>'")
        rest = rest[token.end() :].lstrip()
    if depth:
        raise fields.error(where, f"{value!r}: unbalanced '<'")
    return value.strip().lower()


def _columns(fields: _Fields, key_attribute: str, topology: Topology) -> tuple[tuple[str, str], ...]:
    """``[columns]``: name = Athena type, in file order; the key must be one of them (when any are given).
    A ``direct`` pipeline's consumer writes scalar columns only (no struct, array or map)."""
    columns = fields.data.get("columns", {})
    if not isinstance(columns, dict):
        raise fields.error("columns", "must be a table ([columns]) of name = Athena type")
    declared: list[tuple[str, str]] = []
    for name, value in columns.items():
        where = f"columns.{name}"
        if not _ATTRIBUTE_RE.match(name):
            raise fields.error(where, _ATTRIBUTE_RULE)
        if name in STATE_COLUMNS:
            raise fields.error(where, f"is a column the state table adds ({', '.join(STATE_COLUMNS)})")
        kind = _column_type(fields, where, value)
        if topology is Topology.DIRECT and "<" in kind:
            raise fields.error(
                where,
                f"{kind!r}: a direct pipeline's consumer writes scalar types only (no struct, array or map)",
            )
        declared.append((name, kind))
    if declared and key_attribute not in dict(declared):
        raise fields.error("columns", f"must declare the key attribute {key_attribute!r}")
    return tuple(declared)


def _state_partition(fields: _Fields, columns: tuple[tuple[str, str], ...], topology: Topology) -> str | None:
    """``state_partition``: the declared time column the state table is partitioned by (by day); a
    ``direct`` pipeline keeps no state table, so it has none."""
    if topology is Topology.DIRECT:
        if "state_partition" in fields.data:
            raise fields.error("state_partition", "a direct pipeline keeps no state table: remove it")
        return None
    if "state_partition" not in fields.data:
        if columns:
            raise fields.error(
                "state_partition",
                "is required with [columns]: name the declared time column that never changes for a key "
                "(e.g. the order's creation time); the state table is partitioned by its day",
            )
        return None
    name = fields.text("state_partition", _ATTRIBUTE_RE, _ATTRIBUTE_RULE)
    declared = dict(columns)
    if name not in declared:
        raise fields.error("state_partition", f"{name!r} is not one of the columns declared in [columns]")
    if declared[name] not in _PARTITION_TYPES:
        raise fields.error(
            "state_partition",
            f"{name!r} is declared {declared[name]!r}; it must be a time: {', '.join(_PARTITION_TYPES)}",
        )
    return name


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
