"""Type names in the three vocabularies Athena touches: Hive (Glue), Presto/Trino, DuckDB.

The Glue catalog holds Hive names (``string``, ``int``, ``struct<a:int>``); Athena shows Trino
names in results (``varchar``, ``integer``, ``row``) and in stored views; DuckDB runs the query.
A parsed type is a small tuple tree: ``(name, params, children)`` where children are
``(field_name, type)`` pairs for structs and ``(None, type)`` for arrays and maps.
"""

from __future__ import annotations

import re
from typing import Any

HiveType = tuple[str, tuple[int, ...], tuple[tuple[str | None, "HiveType"], ...]]

_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_ ]*?(?=\s*[<>(),:]|\s*$)|\d+|[<>(),:])")

# Hive primitive name -> (DuckDB type, Trino name)
_PRIMITIVES: dict[str, tuple[str, str]] = {
    "string": ("VARCHAR", "varchar"),
    "varchar": ("VARCHAR", "varchar"),
    "char": ("VARCHAR", "varchar"),
    "int": ("INTEGER", "integer"),
    "integer": ("INTEGER", "integer"),
    "bigint": ("BIGINT", "bigint"),
    "smallint": ("SMALLINT", "smallint"),
    "tinyint": ("TINYINT", "tinyint"),
    "double": ("DOUBLE", "double"),
    "float": ("FLOAT", "real"),
    "real": ("FLOAT", "real"),
    "boolean": ("BOOLEAN", "boolean"),
    "date": ("DATE", "date"),
    "timestamp": ("TIMESTAMP", "timestamp"),
    "binary": ("BLOB", "varbinary"),
    "varbinary": ("BLOB", "varbinary"),
    "json": ("JSON", "json"),
}


class TypeParseError(ValueError):
    """A catalog type string this engine cannot read."""


def parse_hive_type(text: str) -> HiveType:
    """Parse a Glue column type such as ``struct<a:int,b:array<decimal(10,2)>>``."""
    tokens = [t.strip() for t in _TOKEN.findall(text) if t.strip()]
    position = 0

    def peek() -> str:
        return tokens[position] if position < len(tokens) else ""

    def take(expected: str | None = None) -> str:
        nonlocal position
        token = peek()
        if not token or (expected is not None and token != expected):
            raise TypeParseError(f"cannot read type {text!r}")
        position += 1
        return token

    def parse() -> HiveType:
        name = take().lower()
        if name == "array":
            take("<")
            child = parse()
            take(">")
            return ("array", (), ((None, child),))
        if name == "map":
            take("<")
            key = parse()
            take(",")
            value = parse()
            take(">")
            return ("map", (), ((None, key), (None, value)))
        if name == "struct":
            take("<")
            fields: list[tuple[str | None, HiveType]] = []
            while True:
                field = take()
                take(":")
                fields.append((field, parse()))
                if peek() == ",":
                    take(",")
                    continue
                take(">")
                return ("struct", (), tuple(fields))
        params: list[int] = []
        if peek() == "(":
            take("(")
            while True:
                params.append(int(take()))
                if peek() == ",":
                    take(",")
                    continue
                take(")")
                break
        if name == "decimal" and not params:
            params = [10, 0]  # Hive's default for a bare DECIMAL
        if name != "decimal" and name not in _PRIMITIVES:
            raise TypeParseError(f"unsupported column type {text!r}")
        return (name, tuple(params), ())

    result = parse()
    if position != len(tokens):
        raise TypeParseError(f"cannot read type {text!r}")
    return result


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def hive_to_duckdb(tree: HiveType) -> str:
    """The DuckDB type that reads a column of this Hive type."""
    name, params, children = tree
    if name == "decimal":
        return f"DECIMAL({params[0]},{params[1] if len(params) > 1 else 0})"
    if name == "array":
        return f"{hive_to_duckdb(children[0][1])}[]"
    if name == "map":
        return f"MAP({hive_to_duckdb(children[0][1])}, {hive_to_duckdb(children[1][1])})"
    if name == "struct":
        inner = ", ".join(f"{_quote(str(field).lower())} {hive_to_duckdb(t)}" for field, t in children)
        return f"STRUCT({inner})"
    return _PRIMITIVES[name][0]


def duckdb_type_info(dtype: Any) -> dict[str, Any]:
    """Describe a DuckDB result type as Athena's ColumnInfo does (Type, Precision, Scale)."""
    type_id = str(dtype.id).lower()
    simple: dict[str, tuple[str, int, int]] = {
        "varchar": ("varchar", 2147483647, 0),
        "integer": ("integer", 10, 0),
        "bigint": ("bigint", 19, 0),
        "hugeint": ("bigint", 19, 0),  # DuckDB widens SUM(bigint); Trino keeps bigint
        "ubigint": ("bigint", 19, 0),
        "uinteger": ("bigint", 19, 0),
        "smallint": ("smallint", 5, 0),
        "usmallint": ("integer", 10, 0),
        "tinyint": ("tinyint", 3, 0),
        "utinyint": ("smallint", 5, 0),
        "double": ("double", 17, 0),
        "float": ("float", 17, 0),
        "boolean": ("boolean", 0, 0),
        "date": ("date", 0, 0),
        "timestamp": ("timestamp", 3, 0),
        "timestamp_ms": ("timestamp", 3, 0),
        "timestamp_s": ("timestamp", 3, 0),
        "timestamp_ns": ("timestamp", 3, 0),
        "timestamp with time zone": ("timestamp with time zone", 3, 0),
        "time": ("time", 3, 0),
        "blob": ("varbinary", 1073741824, 0),
        "uuid": ("varchar", 2147483647, 0),
        "interval": ("interval day to second", 0, 0),
        "json": ("json", 0, 0),
        "list": ("array", 0, 0),
        "array": ("array", 0, 0),
        "struct": ("row", 0, 0),
        "map": ("map", 0, 0),
        '"null"': ("unknown", 0, 0),
        "null": ("unknown", 0, 0),
    }
    if type_id == "decimal":
        children = dict(dtype.children)
        return {"Type": "decimal", "Precision": int(children["precision"]), "Scale": int(children["scale"])}
    if type_id == "varchar" and str(dtype).upper() == "JSON":  # DuckDB's JSON is a VARCHAR alias
        type_id = "json"
    name, precision, scale = simple.get(type_id, ("varchar", 2147483647, 0))
    return {"Type": name, "Precision": precision, "Scale": scale}


def duckdb_to_hive(dtype: Any) -> str:
    """The Hive name Glue stores for a view column of this DuckDB type."""
    type_id = str(dtype.id).lower()
    if type_id == "decimal":
        children = dict(dtype.children)
        return f"decimal({children['precision']},{children['scale']})"
    if type_id in ("list", "array"):
        return f"array<{duckdb_to_hive(dict(dtype.children)['child'])}>"
    if type_id == "map":
        children = dict(dtype.children)
        return f"map<{duckdb_to_hive(children['key'])},{duckdb_to_hive(children['value'])}>"
    if type_id == "struct":
        return "struct<" + ",".join(f"{name}:{duckdb_to_hive(t)}" for name, t in dtype.children) + ">"
    return {
        "varchar": "string",
        "integer": "int",
        "hugeint": "bigint",
        "uinteger": "bigint",
        "ubigint": "bigint",
        "usmallint": "int",
        "utinyint": "smallint",
        "float": "float",
        "blob": "binary",
        "uuid": "string",
        "timestamp_ms": "timestamp",
        "timestamp_s": "timestamp",
        "timestamp_ns": "timestamp",
        "timestamp with time zone": "timestamp",
    }.get(type_id, type_id)


def duckdb_to_presto(dtype: Any) -> str:
    """The Trino name Athena writes into a stored view's column list."""
    type_id = str(dtype.id).lower()
    if type_id == "decimal":
        children = dict(dtype.children)
        return f"decimal({children['precision']},{children['scale']})"
    if type_id in ("list", "array"):
        return f"array({duckdb_to_presto(dict(dtype.children)['child'])})"
    if type_id == "map":
        children = dict(dtype.children)
        return f"map({duckdb_to_presto(children['key'])},{duckdb_to_presto(children['value'])})"
    if type_id == "struct":
        return "row(" + ",".join(f"{name} {duckdb_to_presto(t)}" for name, t in dtype.children) + ")"
    info = duckdb_type_info(dtype)["Type"]
    return {"float": "real", "timestamp": "timestamp(3)"}.get(info, info)
