"""``information_schema`` of the AwsDataCatalog: virtual relations the engine builds from the Glue catalog.

``information_schema.schemata``, ``.tables``, ``.columns`` and ``.views`` are answered the way
Athena (Trino) answers them: rows computed from Glue's databases, tables and views when a statement
names them, loaded into the query's own DuckDB connection as a temporary table. DuckDB's own
``information_schema`` is never reached: `binding.Binder._bind` replaces the reference before the
statement runs (and the sandbox refuses any relation that is not a catalog name).

Columns: ``schemata`` (catalog_name, schema_name); ``tables`` (table_catalog, table_schema,
table_name, table_type: ``BASE TABLE`` or ``VIEW``); ``views`` (table_catalog, table_schema,
table_name, view_definition: the view's original SQL); ``columns`` (table_catalog, table_schema,
table_name, column_name, ordinal_position, column_default, is_nullable, data_type (Trino's name),
comment, extra_info: ``partition key`` for a partition column).

LIMITATIONS: every table of every database is read from Glue for each reference (no pushdown of
``table_schema = ...`` into the catalog walk); ``information_schema`` itself is listed in
``schemata`` and its own relations in ``tables``/``columns`` are not; other ``information_schema``
relations Trino has (``table_privileges``, ``roles``, ``applicable_roles``...) are TABLE_NOT_FOUND.
"""

from __future__ import annotations

from typing import Any

from local_aws.athena_engine.catalog import Catalog, CatalogError, TableDef
from local_aws.athena_engine.errors import EngineError
from local_aws.athena_engine.types import _PRIMITIVES, HiveType, TypeParseError, parse_hive_type

SCHEMA = "information_schema"
CATALOG = "awsdatacatalog"

_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "schemata": [("catalog_name", "string"), ("schema_name", "string")],
    "tables": [
        ("table_catalog", "string"),
        ("table_schema", "string"),
        ("table_name", "string"),
        ("table_type", "string"),
    ],
    "views": [
        ("table_catalog", "string"),
        ("table_schema", "string"),
        ("table_name", "string"),
        ("view_definition", "string"),
    ],
    "columns": [
        ("table_catalog", "string"),
        ("table_schema", "string"),
        ("table_name", "string"),
        ("column_name", "string"),
        ("ordinal_position", "bigint"),
        ("column_default", "string"),
        ("is_nullable", "string"),
        ("data_type", "string"),
        ("comment", "string"),
        ("extra_info", "string"),
    ],
}


def is_reference(db: str | None, database: str) -> bool:
    """Whether a relation named with schema ``db`` (or in the context ``database``) is ours."""
    return (db or database).lower() == SCHEMA


def trino_type(tree: HiveType) -> str:
    """A parsed Hive type in Trino's words (``string`` -> ``varchar``, ``struct`` -> ``row``)."""
    name, params, children = tree
    if name == "array":
        return f"array({trino_type(children[0][1])})"
    if name == "map":
        return f"map({trino_type(children[0][1])}, {trino_type(children[1][1])})"
    if name == "struct":
        return "row(" + ", ".join(f"{field} {trino_type(child)}" for field, child in children) + ")"
    if name == "decimal":
        return f"decimal({', '.join(str(p) for p in params)})" if params else "decimal(10, 0)"
    if name in ("varchar", "char") and params:
        return f"{name}({params[0]})"
    return _PRIMITIVES.get(name, (name, name))[1]


def _display_type(type_text: str) -> str:
    try:
        return trino_type(parse_hive_type(type_text))
    except TypeParseError:
        return type_text


def _tables(catalog: Catalog) -> list[TableDef]:
    found = []
    for database in catalog.database_names():
        for name in catalog.table_names(database):
            try:
                found.append(catalog.get_table(database, name))
            except CatalogError:
                continue  # dropped while we listed: not there any more
    return found


def _view_sql(table: TableDef) -> str:
    from local_aws.athena_engine.binding import decode_view

    try:
        return str(decode_view(table).get("originalSql") or "")
    except EngineError:
        return table.view_original_text


def rows(catalog: Catalog, relation: str) -> list[tuple[Any, ...]]:
    """The relation's rows, computed from the catalog now."""
    if relation == "schemata":
        return [(CATALOG, name.lower()) for name in [*catalog.database_names(), SCHEMA]]
    tables = _tables(catalog)
    if relation == "tables":
        return [
            (CATALOG, t.database.lower(), t.name.lower(), "VIEW" if t.is_view else "BASE TABLE")
            for t in tables
        ]
    if relation == "views":
        return [(CATALOG, t.database.lower(), t.name.lower(), _view_sql(t)) for t in tables if t.is_view]
    out: list[tuple[Any, ...]] = []
    for table in tables:
        keys = {name for name, _ in table.partition_keys}
        for position, (name, type_text) in enumerate(table.columns + table.partition_keys, start=1):
            out.append(
                (
                    CATALOG,
                    table.database.lower(),
                    table.name.lower(),
                    name,
                    position,
                    None,
                    "YES",
                    _display_type(type_text),
                    table.column_comments.get(name),
                    "partition key" if name in keys else None,
                )
            )
    return out


def load(con: Any, catalog: Catalog, relation: str, duck_name: str) -> str:
    """Create ``duck_name`` in the query's connection holding the relation's rows; TABLE_NOT_FOUND else."""
    import pyarrow as pa

    relation = relation.lower()
    if relation not in _COLUMNS:
        raise EngineError("TABLE_NOT_FOUND", f"Table '{CATALOG}.{SCHEMA}.{relation}' does not exist")
    columns = _COLUMNS[relation]
    data = rows(catalog, relation)
    arrow = pa.table(
        {
            name: pa.array([row[i] for row in data], pa.int64() if kind == "bigint" else pa.string())
            for i, (name, kind) in enumerate(columns)
        }
    )
    staging = f"{duck_name}__rows"
    con.register(staging, arrow)
    try:
        con.execute(f'CREATE TEMP TABLE "{duck_name}" AS SELECT * FROM "{staging}"')
    finally:
        con.unregister(staging)
    return duck_name
