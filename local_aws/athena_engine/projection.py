"""Partition projection: a table's partitions computed from its properties, as Athena computes them.

A table with ``projection.enabled`` = ``true`` ignores the partitions registered in Glue. Each
partition column has ``projection.<column>.type``:

- ``integer``: ``range`` (``a,b``, inclusive), optional ``interval`` (default 1) and ``digits``
  (zero-padded to that width);
- ``enum``: ``values``, a comma-separated list (white space is part of a value);
- ``date``: ``format`` (a Java DateTimeFormatter pattern), ``range`` of two dates in that format or
  ``NOW[+-<n><unit>]`` (``NOW`` truncated to the format's precision), optional ``interval`` and
  ``interval.unit`` (YEARS, MONTHS, WEEKS, DAYS, HOURS, MINUTES, SECONDS; the unit defaults to days
  or months for a format of day or month precision, and is required for a finer one);
- ``injected``: the values come from the query itself: the WHERE clause must hold static equality
  conditions (``=`` or ``IN`` with literals) on the column, else Athena's CONSTRAINT_VIOLATION.

Each column's values are narrowed first by the WHERE conjuncts that name that column alone (so a
minute-precision range over years is never multiplied out); the cross product is then pruned by
`binding.Binder._prune` like registered partitions. A partition's location is
``storage.location.template`` with ``${column}`` replaced by the value, or ``<location>/k=v/...``.

LIMITATIONS: date formats understand the pattern letters ``yyyy yy MM dd HH mm ss`` and quoted or
punctuation literals (another letter is INVALID_TABLE_PROPERTY naming it); a projection of more than
``MAX_PARTITIONS`` partitions (after the single-column narrowing) fails with
HIVE_EXCEEDED_PARTITION_LIMIT, where Athena has no documented cap; a bad projection property is
INVALID_TABLE_PROPERTY with Trino's wording of the problem (Athena's exact text for each bad
property is not documented); INSERT INTO a projected table still registers its partitions in Glue
(Athena does not, and reads them by projection either way); SHOW PARTITIONS lists Glue's partitions.
Date projections are computed in UTC. Each projected location is listed on its own, so reading every
partition of a fine projection is slow (three years of hours, 26,280 locations: about 7 s on a laptop;
a WHERE on the column narrows it before anything is listed).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

import duckdb
from sqlglot import exp

from local_aws.athena_engine.catalog import Partition, TableDef
from local_aws.athena_engine.errors import EngineError
from local_aws.athena_engine.types import hive_to_duckdb, parse_hive_type

MAX_PARTITIONS = 1_000_000
_NOW = re.compile(r"^\s*NOW\s*(?:([+-])\s*([0-9]+)\s*(YEAR|MONTH|WEEK|DAY|HOUR|MINUTE|SECOND)S?\s*)?$", re.I)
_UNITS = ("YEARS", "MONTHS", "WEEKS", "DAYS", "HOURS", "MINUTES", "SECONDS")
_PATTERN_LETTERS = {"yyyy": "%Y", "yy": "%y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}


def enabled(table: TableDef) -> bool:
    return table.parameters.get("projection.enabled", "").strip().lower() == "true"


def _invalid(message: str) -> EngineError:
    return EngineError("INVALID_TABLE_PROPERTY", message)


def _column_failed(column: str, message: str) -> EngineError:
    return _invalid(f"Column projection for column '{column}' failed. {message}")


# -- dates -----------------------------------------------------------------------------------------
def strftime_pattern(column: str, pattern: str) -> str:
    """A Java DateTimeFormatter pattern as strftime's, for the letters we know."""
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] == "'":
            end = pattern.find("'", i + 1)
            if end < 0:
                raise _column_failed(column, f"Unterminated quote in date format '{pattern}'")
            out.append(pattern[i + 1 : end].replace("%", "%%") or "'")
            i = end + 1
            continue
        token = next((t for t in _PATTERN_LETTERS if pattern.startswith(t, i)), None)
        if token is not None:
            out.append(_PATTERN_LETTERS[token])
            i += len(token)
        elif pattern[i].isalpha():
            raise _column_failed(
                column, f"Date format '{pattern}' uses '{pattern[i]}', which local_aws does not read"
            )
        else:
            out.append(pattern[i].replace("%", "%%"))
            i += 1
    return "".join(out)


def _add(moment: dt.datetime, amount: int, unit: str) -> dt.datetime:
    unit = unit.upper().rstrip("S") + "S"
    if unit in ("YEARS", "MONTHS"):
        months = moment.month - 1 + amount * (12 if unit == "YEARS" else 1)
        year, month = moment.year + months // 12, months % 12 + 1
        day = min(moment.day, _days_in_month(year, month))
        return moment.replace(year=year, month=month, day=day)
    return moment + dt.timedelta(**{unit.lower(): amount})


def _days_in_month(year: int, month: int) -> int:
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return (following - dt.timedelta(days=1)).day


def _date_values(column: str, props: dict[str, str], now: dt.datetime) -> list[str]:
    pattern = props.get("format")
    if not pattern:
        raise _column_failed(column, f"Missing required property: 'projection.{column}.format'")
    python = strftime_pattern(column, pattern)
    bad_range = (
        f"Property: 'projection.{column}.range' needs to be a list of 2 valid dates formatted as "
        f"'{pattern}' or 'NOW[+-<n><unit>]' that are sequential"
    )
    bounds = [part.strip() for part in props.get("range", "").split(",")]
    if len(bounds) != 2 or not all(bounds):
        raise _column_failed(column, bad_range)
    parsed = []
    for bound in bounds:
        relative = _NOW.match(bound)
        if relative:
            moment = now
            if relative.group(1):
                sign = 1 if relative.group(1) == "+" else -1
                moment = _add(moment, sign * int(relative.group(2)), relative.group(3))
            # NOW is truncated to the format's precision, as Athena does.
            moment = dt.datetime.strptime(moment.strftime(python), python)
        else:
            try:
                moment = dt.datetime.strptime(bound, python)
            except ValueError as error:
                raise _column_failed(column, f"{bad_range}: {error}") from error
        parsed.append(moment)
    if parsed[0] > parsed[1]:
        raise _column_failed(column, bad_range)
    interval, unit = _date_step(column, props, pattern)
    values: dict[str, None] = {}
    moment, step = parsed[0], 0
    while moment <= parsed[1]:
        values[moment.strftime(python)] = None
        if len(values) > MAX_PARTITIONS:
            raise _too_many(column)
        step += interval
        moment = _add(parsed[0], step, unit)  # from the start, so month ends do not drift
    return list(values)


def _date_step(column: str, props: dict[str, str], pattern: str) -> tuple[int, str]:
    interval = _positive(column, "interval", props.get("interval", "1"))
    unit = props.get("interval.unit", "").strip().upper()
    if not unit:
        letters = re.sub(r"'[^']*'", "", pattern)
        if any(c in letters for c in "SsmH"):
            raise _column_failed(
                column,
                f"Property: 'projection.{column}.interval.unit' needs to be set when the provided "
                f"'projection.{column}.format' is less than single-day precision",
            )
        unit = "DAYS" if "d" in letters else "MONTHS"
    if unit.rstrip("S") + "S" not in _UNITS:
        raise _column_failed(
            column,
            f"Property: 'projection.{column}.interval.unit' value '{unit}' is invalid. "
            f"Available options: {', '.join(_UNITS)}",
        )
    return interval, unit


# -- integers, enums, injected ---------------------------------------------------------------------
def _positive(column: str, name: str, text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        value = 0
    if value < 1:
        raise _column_failed(column, f"Property: 'projection.{column}.{name}' must be a positive integer")
    return value


def _integer_values(column: str, props: dict[str, str]) -> list[str]:
    bounds = [part.strip() for part in props.get("range", "").split(",")]
    try:
        low, high = (int(b) for b in bounds) if len(bounds) == 2 else (None, None)
    except ValueError:
        low = high = None
    if low is None or high is None or low > high:
        raise _column_failed(
            column, f"Property: 'projection.{column}.range' needs to be a list of 2 integers"
        )
    interval = _positive(column, "interval", props.get("interval", "1"))
    digits = _positive(column, "digits", props["digits"]) if props.get("digits") else 0
    if (high - low) // interval + 1 > MAX_PARTITIONS:
        raise _too_many(column)
    return [
        str(v).zfill(digits) if v >= 0 else "-" + str(-v).zfill(digits)
        for v in range(low, high + 1, interval)
    ]


def _too_many(column: str) -> EngineError:
    return EngineError(
        "HIVE_EXCEEDED_PARTITION_LIMIT",
        f"Partition projection of column '{column}' gives more than {MAX_PARTITIONS} partitions in local_aws",
    )


def injected_values(column: str, conditions: Iterable[exp.Expression]) -> list[str]:
    """The literal values static equality conditions give the column; Athena's error without one."""
    found: set[str] | None = None
    for condition in conditions:
        literals: list[exp.Expression] = []
        if isinstance(condition, exp.EQ):
            literals = [condition.expression if isinstance(condition.this, exp.Column) else condition.this]
        elif isinstance(condition, exp.In) and not condition.args.get("query"):
            literals = list(condition.expressions)
        if not literals or not all(isinstance(v, exp.Literal) for v in literals):
            continue
        values = {v.name for v in literals}
        found = values if found is None else found & values
    if found is None:
        raise EngineError(
            "CONSTRAINT_VIOLATION",
            f"For the injected projected partition column {column}, the WHERE clause must contain only "
            "static equality conditions, and at least one such condition must be present.",
        )
    return sorted(found)


# -- the table's partitions ------------------------------------------------------------------------
def column_properties(table: TableDef, column: str) -> dict[str, str]:
    prefix = f"projection.{column}."
    return {k[len(prefix) :].lower(): v for k, v in table.parameters.items() if k.lower().startswith(prefix)}


def column_values(
    table: TableDef, column: str, conditions: list[exp.Expression], now: dt.datetime
) -> list[str]:
    """Every value the projection gives one partition column (before any WHERE filter)."""
    props = column_properties(table, column)
    kind = props.get("type", "").strip().lower()
    if kind == "integer":
        return _integer_values(column, props)
    if kind == "enum":
        if "values" not in props:
            raise _column_failed(column, f"Missing required property: 'projection.{column}.values'")
        return list(dict.fromkeys(props["values"].split(",")))
    if kind == "date":
        return _date_values(column, props, now)
    if kind == "injected":
        return injected_values(column, conditions)
    raise _invalid(
        f"Column projection for column '{column}' failed. Unsupported projection type: "
        f"'{props.get('type', '')}' (enum, integer, date or injected)"
        if kind
        else f"Table {table.database}.{table.name} is configured for partition projection, but the "
        f"following partition columns are missing projection configuration: [{column}]"
    )


def location_of(table: TableDef, values: list[str]) -> str:
    keys = [name for name, _ in table.partition_keys]
    template = table.parameters.get("storage.location.template")
    if not template:
        return (
            table.location.rstrip("/") + "/" + "/".join(f"{k}={v}" for k, v in zip(keys, values, strict=True))
        )
    location = template
    for key, value in zip(keys, values, strict=True):
        location = re.sub(r"\$\{" + re.escape(key) + r"\}", lambda _m, v=value: v, location, flags=re.I)
    return location


def check_template(table: TableDef) -> None:
    template = table.parameters.get("storage.location.template")
    if template is None:
        return
    for key, _ in table.partition_keys:
        if not re.search(r"\$\{" + re.escape(key) + r"\}", template, re.I):
            raise _invalid(
                "The 'storage.location.template' table property must contain templates for all partition columns!"
            )


def narrow(
    con: Any, table: TableDef, column: str, values: list[str], conditions: list[exp.Expression]
) -> list[str]:
    """The values a column's own WHERE conjuncts keep, judged by DuckDB on the column's type."""
    if not conditions or not values:
        return values
    import pyarrow as pa

    type_text = dict(table.partition_keys)[column]
    duck_type = hive_to_duckdb(parse_hive_type(type_text))
    name = f"__projection_{re.sub(r'[^a-z0-9_]', '_', column.lower())}_{id(values)}"
    con.register(name, pa.table({"__raw": pa.array(values, pa.string())}))
    try:
        typed = '"__raw"' if duck_type == "VARCHAR" else f'TRY_CAST("__raw" AS {duck_type})'
        where = " AND ".join(f"({c.sql(dialect='duckdb')})" for c in conditions)
        quoted = '"' + column.replace('"', '""') + '"'
        kept = {
            row[0]
            for row in con.execute(
                f"SELECT __raw FROM (SELECT __raw, {typed} AS {quoted} FROM {name}) WHERE {where}"
            ).fetchall()
        }
    except duckdb.Error:  # DuckDB could not judge the conjuncts alone: keep every value, prune later
        return values
    finally:
        con.unregister(name)
    return [v for v in values if v in kept]


def project(
    con: Any, table: TableDef, conditions: list[exp.Expression], now: dt.datetime | None = None
) -> list[Partition]:
    """The table's partitions by projection, narrowed by ``conditions`` (WHERE conjuncts on its keys)."""
    check_template(table)
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    per_column: list[list[tuple[str, str]]] = []  # (the column's value, its text in the location)
    for column, _ in table.partition_keys:
        own = [c for c in conditions if {col.name.lower() for col in c.find_all(exp.Column)} == {column}]
        stripped = [c.copy() for c in own]
        for condition in stripped:
            for col in condition.find_all(exp.Column):
                col.set("table", None)
        in_location = _typed_values(table, column, column_values(table, column, stripped, now))
        kept = narrow(con, table, column, list(in_location), stripped)
        per_column.append([(value, in_location[value]) for value in kept])
    total = 1
    for values in per_column:
        total *= len(values)
    if total > MAX_PARTITIONS:
        raise _too_many(", ".join(name for name, _ in table.partition_keys))
    combos: list[list[tuple[str, str]]] = [[]]
    for values in per_column:
        combos = [[*combo, pair] for combo in combos for pair in values]
    return [
        Partition(values=[v for v, _ in combo], location=location_of(table, [t for _, t in combo]))
        for combo in combos
        if combo
    ]


def _typed_values(table: TableDef, column: str, formatted: list[str]) -> dict[str, str]:
    """Each projected value as the column's own text, mapped to its text in the location.

    A date projection on a ``date`` or ``timestamp`` column gives the column the date itself (its
    ISO text), while the location holds it in the projection's format, as in Athena.
    """
    column_type = dict(table.partition_keys)[column].strip().lower()
    props = column_properties(table, column)
    if props.get("type", "").strip().lower() != "date" or column_type not in ("date", "timestamp"):
        return {value: value for value in formatted}
    python = strftime_pattern(column, props["format"])
    shape = "%Y-%m-%d" if column_type == "date" else "%Y-%m-%d %H:%M:%S"
    return {dt.datetime.strptime(value, python).strftime(shape): value for value in formatted}
