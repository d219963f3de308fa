"""Run one Athena statement: parse (Trino dialect), resolve Glue names, prune partitions, run DuckDB.

Statements: SELECT / WITH (and set operations), CREATE [OR REPLACE] VIEW, DROP VIEW, CREATE
EXTERNAL TABLE, DROP TABLE, SHOW TABLES / DATABASES / SCHEMAS / PARTITIONS / COLUMNS, DESCRIBE.

What the sandbox guarantees: Athena SQL reaches only the Glue catalog's tables and views (and
UNNEST, VALUES, CTEs in scope) and Trino's functions; never a host file, a URL, an engine setting,
an engine table function, another DuckDB database or an extension. Two walls stand in the way:

1. `sandbox` (``QueryEngine.run`` calls it for every statement, before anything else, and
   ``_view`` for every stored view body it expands): a statement Trino's grammar does not start is
   ``SYNTAX_ERROR``; a function that is not Trino's, in any position, is ``FUNCTION_NOT_FOUND``; a
   relation that is not a plain name is refused, and a plain name that is not a CTE in scope is
   looked up in the catalog (``TABLE_NOT_FOUND`` otherwise), whatever the nesting (subqueries,
   CTEs, set operations, views, values of ExecutionParameters once substituted). A statement
   family added later is dispatched from ``run``, after the gate.
2. DuckDB itself (`cache`): the database that runs the SQL has external access off (no file, no
   URL), no extension install or load (automatic or not), no Python replacement scans, and a
   locked configuration; S3 objects reach it as Arrow tables, parsed by a separate loader database
   that may read only this process's scratch directory and never runs a user's SQL.

The workgroup's BytesScannedCutoffPerQuery (``bytes_cutoff``) stops a query as soon as the objects
it has to read pass it (before they are parsed), with Athena's "Bytes scanned limit was exceeded".
"""

from __future__ import annotations

import base64
import functools
import json
import re
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from local_aws.athena_engine import cache, sandbox
from local_aws.athena_engine.cache import ObjectKey
from local_aws.athena_engine.catalog import Catalog, CatalogError, TableDef, split_s3_uri
from local_aws.athena_engine.loading import (
    DataFile,
    LoadError,
    create_snapshot,
    local_name,
    prepare_file,
    quote_identifier,
    read_to_arrow,
    schema_fingerprint,
    table_format,
)
from local_aws.athena_engine.rendering import render
from local_aws.athena_engine.types import (
    TypeParseError,
    duckdb_to_hive,
    duckdb_to_presto,
    duckdb_type_info,
    hive_to_duckdb,
    parse_hive_type,
)

READ_DIALECT = "athena"
_VIEW_TEXT = re.compile(r"/\*\s*Presto View:\s*(\S+)\s*\*/", re.DOTALL)
_MAX_VIEW_DEPTH = 32
_SHOW = re.compile(r"^\s*SHOW\s+(.*)$", re.IGNORECASE | re.DOTALL)

# ErrorType values from Athena's error catalog: 1000 is a user error, 1001 bad data, 100 internal.
USER_ERROR, DATA_ERROR, INTERNAL_ERROR = 1000, 1001, 100


class EngineError(Exception):
    """A query that fails; the message is what Athena puts in StateChangeReason."""

    def __init__(
        self, code: str, message: str, error_type: int = USER_ERROR, category: int = 2, plain: bool = False
    ) -> None:
        # Most reasons read "CODE: message"; a few of Athena's (a limit passed) are the message alone.
        super().__init__(message if plain else f"{code}: {message}")
        self.code = code
        self.error_type = error_type
        self.category = category


BYTES_SCANNED_EXCEEDED = "Bytes scanned limit was exceeded"


@dataclass
class Outcome:
    """What a statement produced."""

    statement_type: str  # DDL, DML or UTILITY
    substatement_type: str
    column_info: list[dict[str, Any]] = field(default_factory=list)
    rows: list[list[str | None]] = field(default_factory=list)
    data_scanned: int = 0

    @property
    def has_header(self) -> bool:
        return self.statement_type == "DML"


def classify(sql: str) -> tuple[str, str]:
    """(StatementType, SubstatementType) from the text alone, for a query not yet run."""
    words = re.sub(r"(--[^\n]*\n|/\*.*?\*/|\()", " ", sql, flags=re.DOTALL).split()
    first = words[0].upper() if words else ""
    second = words[1].upper() if len(words) > 1 else ""
    if first in ("SELECT", "WITH", "VALUES", "TABLE"):
        return "DML", "SELECT"
    if first in ("INSERT", "UPDATE", "DELETE", "MERGE", "UNLOAD"):
        return "DML", first
    if first in ("SHOW", "DESCRIBE", "DESC", "EXPLAIN"):
        return "UTILITY", f"{first}_{second}" if first == "SHOW" else "DESCRIBE"
    if first == "CREATE" and " AS SELECT" in sql.upper() and "VIEW" not in " ".join(words[:4]).upper():
        return "DML", "CREATE_TABLE_AS_SELECT"
    rest = [w.upper() for w in words[1:5]]
    obj = next((w for w in rest if w in ("VIEW", "TABLE", "DATABASE", "SCHEMA")), second)
    return "DDL", f"{first}_{obj}"


def substitute_parameters(statement: exp.Expression, parameters: list[str]) -> exp.Expression:
    """Put ExecutionParameters into the ``?`` placeholders, in order, as Athena does."""
    placeholders = [p for p in statement.find_all(exp.Placeholder) if p.this is None]
    if len(placeholders) != len(parameters):
        raise EngineError(
            "INVALID_PARAMETER_USAGE",
            f"Incorrect number of parameters: expected {len(placeholders)} but found {len(parameters)}",
        )
    for placeholder, value in zip(placeholders, parameters, strict=True):
        try:
            parsed = sqlglot.parse_one(value, read=READ_DIALECT)
        except sqlglot.errors.SqlglotError as error:  # ParseError, or TokenError for an open quote
            message = str(error).split("\n")[0]
            raise EngineError(
                "INVALID_PARAMETER_USAGE", f"Cannot use parameter {value!r}: {message}"
            ) from error
        # A parameter is one value: never a second statement to smuggle in after it.
        if isinstance(parsed, exp.Block) or parsed is None:
            raise EngineError(
                "INVALID_PARAMETER_USAGE", f"Cannot use parameter {value!r}: not a single value"
            )
        for node in parsed.walk():
            node.meta.clear()  # its offsets are in the parameter's text, not the statement's
        placeholder.replace(parsed)
    return statement


def _conjuncts(condition: exp.Expression) -> list[exp.Expression]:
    condition = condition.unnest()
    if isinstance(condition, exp.And):
        return [c for part in condition.flatten() for c in _conjuncts(part)]
    return [condition]


def _trino_fixups(statement: exp.Expression) -> exp.Expression:
    """Rewrites where DuckDB's answer differs from Trino's and the types are visible in the SQL."""
    for node in list(statement.find_all(exp.DateTrunc)):
        value = node.this
        # Trino truncates a date to a date; DuckDB widens it to a timestamp.
        if isinstance(value, exp.Cast) and value.to.is_type(exp.DataType.Type.DATE):
            node.replace(exp.cast(node.copy(), exp.DataType.Type.DATE))
    return statement


def _name_output_columns(statement: exp.Expression) -> None:
    """Trino names an unaliased expression ``_colN``; DuckDB would name it after the expression."""
    select = statement
    while isinstance(select, exp.SetOperation):
        select = select.this
    if isinstance(select, exp.Subquery):
        select = select.this
    if not isinstance(select, exp.Select):
        return
    for index, expression in enumerate(list(select.expressions)):
        if isinstance(expression, exp.Alias):
            alias = expression.args.get("alias")
            if isinstance(alias, exp.Identifier) and not alias.quoted:
                alias.set("this", alias.name.lower())
            continue
        if isinstance(expression, (exp.Column, exp.Star)) or expression.find(exp.Star) is expression:
            continue
        if isinstance(expression, exp.Dot):
            continue
        expression.replace(exp.alias_(expression.copy(), f"_col{index}"))


class QueryEngine:
    """Runs one statement on a DuckDB connection of its own (a cursor of the shared database, see `cache`)."""

    def __init__(
        self,
        catalog: Catalog,
        database: str | None,
        on_connection: Callable[[Any], None] | None = None,
        cancelled: threading.Event | None = None,
        bytes_cutoff: int | None = None,
    ) -> None:
        self.catalog = catalog
        self.bytes_cutoff = bytes_cutoff  # the workgroup's BytesScannedCutoffPerQuery
        self.database = (database or "default").lower()
        self.on_connection = on_connection
        self.cancelled = cancelled or threading.Event()
        self.data_scanned = 0
        self._counter = 0
        self._workdir: str | None = None
        self._con: Any = None
        self._schema_only = False
        self._pinned: list[str] = []  # snapshot tables this query reads (see `cache`)
        self._sql: str | None = None  # the statement's text, for the line:column of an error

    # -- entry ------------------------------------------------------------------------------
    def run(self, sql: str, parameters: list[str] | None = None) -> Outcome:
        """Run one statement. Every statement, of any family, passes `sandbox` first (here, once)."""
        try:
            return self._run(sql, parameters)
        except RecursionError as error:
            # Nesting deeper than Python's stack (a few hundred levels); Trino words its limit so.
            raise EngineError(
                "SYNTAX_ERROR", "line 1:1: statement is too large (stack overflow while parsing)"
            ) from error

    def _run(self, sql: str, parameters: list[str] | None) -> Outcome:
        try:
            sandbox.check_text(sql)
        except sandbox.SandboxError as error:
            raise EngineError(error.code, error.message) from error
        show = _SHOW.match(sql)
        if show:
            # sqlglot reads SHOW only as an opaque command; take it apart here instead.
            try:
                return self._show(show.group(1).strip().rstrip(";").strip())
            except CatalogError as error:
                raise EngineError(error.code, str(error).split(": ", 1)[-1]) from error
        statement = self._parse(sql)
        self._sql = sql
        if parameters is not None or any(True for _ in statement.find_all(exp.Placeholder)):
            statement = substitute_parameters(statement, list(parameters or []))
        try:
            sandbox.check(statement, sql)
        except sandbox.SandboxError as error:
            raise EngineError(error.code, error.message) from error
        # Object copies go to the one directory the loader database may read (see `cache.loader`).
        with tempfile.TemporaryDirectory(prefix="query-", dir=cache.scratch_dir()) as workdir:
            self._workdir = workdir
            # Integer division and UTC are settings of the locked database itself (see `cache`).
            self._con = cache.connect()
            try:
                if self.on_connection is not None:
                    self.on_connection(self._con)
                return self._dispatch(statement, sql)
            except (CatalogError, LoadError) as error:
                raise EngineError(
                    error.code, str(error).split(": ", 1)[-1], _error_type(error.code)
                ) from error
            except duckdb.Error as error:
                if self.cancelled.is_set():
                    raise EngineError("USER_CANCELLED", "Query cancelled by user") from error
                raise _translate_duckdb_error(error) from error
            finally:
                self._con.close()
                self._con = None
                cache.release(self._pinned)
                self._pinned = []

    def _parse(self, sql: str) -> exp.Expression:
        try:
            statements = [s for s in sqlglot.parse(sql, read=READ_DIALECT) if s is not None]
        except sqlglot.errors.ParseError as error:
            detail = error.errors[0] if error.errors else {}
            line, col = detail.get("line", 1), detail.get("col", 1)
            message = str(detail.get("description") or error).split("\n")[0]
            raise EngineError("SYNTAX_ERROR", f"line {line}:{col}: {message}") from error
        except sqlglot.errors.SqlglotError as error:  # a TokenError: an unterminated string or comment
            raise EngineError("SYNTAX_ERROR", f"line 1:1: {str(error).splitlines()[0]}") from error
        if not statements:
            raise EngineError("SYNTAX_ERROR", "line 1:1: empty statement")
        if len(statements) > 1:
            raise EngineError("SYNTAX_ERROR", "Only one sql statement is allowed")
        return statements[0]

    def _dispatch(self, statement: exp.Expression, sql: str) -> Outcome:
        if isinstance(statement, (exp.Query,)) and not isinstance(statement, exp.Create):
            return self._select(statement)
        if isinstance(statement, exp.Create):
            kind = (statement.args.get("kind") or "").upper()
            if kind == "VIEW":
                return self._create_view(statement, sql)
            if kind == "TABLE" and statement.expression is None:
                return self._create_table(statement)
            raise EngineError("NOT_SUPPORTED", f"CREATE {kind} AS SELECT is not supported by local_aws")
        if isinstance(statement, exp.Drop):
            return self._drop(statement)
        if isinstance(statement, exp.Describe):
            return self._describe(statement.this)
        if isinstance(statement, exp.Command) and statement.name.upper() == "SHOW":
            return self._show(statement.expression.name if statement.expression else "")
        if isinstance(statement, exp.Show):
            return self._show(statement.sql(READ_DIALECT)[len("SHOW ") :])
        raise EngineError("NOT_SUPPORTED", f"Statement is not supported by local_aws: {sql.strip()[:80]}")

    # -- SELECT -----------------------------------------------------------------------------
    def _select(self, statement: exp.Expression) -> Outcome:
        statement = _trino_fixups(self._bind(statement, self.database, ()))
        _name_output_columns(statement)
        if self.cancelled.is_set():
            raise EngineError("USER_CANCELLED", "Query cancelled by user")
        relation = self._con.sql(statement.sql(dialect="duckdb"))
        names, types = relation.columns, relation.types
        type_ids = [str(t.id).lower() for t in types]
        rows = [[render(v, type_ids[i]) for i, v in enumerate(row)] for row in relation.fetchall()]
        column_info = [
            {
                "CatalogName": "hive",
                "SchemaName": "",
                "TableName": "",
                "Name": name,
                "Label": name,
                **duckdb_type_info(dtype),
                "Nullable": "UNKNOWN",
                "CaseSensitive": duckdb_type_info(dtype)["Type"] == "varchar",
            }
            for name, dtype in zip(names, types, strict=True)
        ]
        return Outcome("DML", "SELECT", column_info, rows, self.data_scanned)

    def _duck_name(self, kind: str, name: str) -> str:
        self._counter += 1
        return f"__{kind}_{self._counter}_{re.sub(r'[^a-z0-9_]', '_', name.lower())}"

    def _bind(self, statement: exp.Expression, database: str, stack: tuple[str, ...]) -> exp.Expression:
        """Replace every catalog table or view in ``statement`` with a DuckDB view of it."""
        references: list[tuple[exp.Table, TableDef]] = []
        for node in list(statement.find_all(exp.Table)):
            if not isinstance(node.this, exp.Identifier):
                raise EngineError(
                    "NOT_SUPPORTED", f"Relation is not supported: {node.sql(READ_DIALECT)[:80]}"
                )
            # Only a CTE in scope shadows the catalog; any other name is the catalog's (as in Trino).
            if sandbox.is_cte_reference(node):
                continue
            catalog_name = node.catalog.lower() if node.catalog else "awsdatacatalog"
            if catalog_name != "awsdatacatalog":
                raise EngineError("CATALOG_NOT_FOUND", f"Catalog '{catalog_name}' does not exist")
            try:
                references.append((node, self.catalog.get_table(node.db or database, node.name)))
            except CatalogError as error:
                # Trino places the error at the name in the statement; a view body's text is not the statement.
                place = sandbox.where(node, self._sql) if not stack else ""
                raise EngineError(error.code, place + str(error).split(": ", 1)[-1]) from error
        # Tables first grouped, so that each is read once with the union of what its references need.
        grouped: dict[tuple[str, str], list[tuple[exp.Table, TableDef]]] = {}
        for node, table in references:
            grouped.setdefault((table.database.lower(), table.name.lower()), []).append((node, table))
        for key, group in grouped.items():
            table = group[0][1]
            if table.is_view:
                duck_name = self._view(table, stack)
            else:
                allowed: set[int] | None = set()
                for node, _ in group:
                    wanted = self._prune(node, table)
                    if wanted is None or allowed is None:
                        allowed = None
                    else:
                        allowed |= wanted
                duck_name = self._load(table, allowed)
            for node, _ in group:
                alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(node.name))
                node.replace(exp.Table(this=exp.to_identifier(duck_name, quoted=True), alias=alias))
            del key
        return statement

    def _view(self, table: TableDef, stack: tuple[str, ...]) -> str:
        key = f"{table.database}.{table.name}".lower()
        if key in stack or len(stack) > _MAX_VIEW_DEPTH:
            raise EngineError("VIEW_IS_RECURSIVE", f"View is recursive: {' -> '.join((*stack, key))}")
        definition = decode_view(table)
        try:
            body = _parse_view_body(definition["originalSql"])
        except sqlglot.errors.ParseError as error:
            raise EngineError("INVALID_VIEW", f"Failed analyzing stored view '{key}': {error}") from error
        # A view body is SQL from the catalog, written by anyone with glue:CreateTable: gate it too.
        try:
            if not isinstance(body, exp.Query):
                raise sandbox.SandboxError("INVALID_VIEW", f"Failed analyzing stored view '{key}'")
            sandbox.check(body, definition["originalSql"])
        except sandbox.SandboxError as error:
            raise EngineError(error.code, error.message) from error
        body = _trino_fixups(
            self._bind(body, (definition.get("schema") or table.database).lower(), (*stack, key))
        )
        _name_output_columns(body)
        duck_name = self._duck_name("view", table.name)
        self._con.execute(f"CREATE TEMP VIEW {quote_identifier(duck_name)} AS {body.sql(dialect='duckdb')}")
        return duck_name

    def _prune(self, node: exp.Table, table: TableDef) -> set[int] | None:
        """Indexes of the partitions this reference can touch; None for all of them."""
        if not table.partition_keys or not table.partitions or self._schema_only:
            return None
        select = node.parent.parent if node.parent is not None else None
        parent = node.parent
        if not isinstance(select, exp.Select):
            return None
        joins = select.args.get("joins") or []
        if isinstance(parent, exp.From):
            if any((j.args.get("side") or "").upper() in ("RIGHT", "FULL") for j in joins):
                return None
        elif isinstance(parent, exp.Join):
            if parent.args.get("side"):
                return None  # the nullable side of an outer join: filters do not prune it
        else:
            return None
        where = select.args.get("where")
        if where is None:
            return None
        names = {node.alias_or_name.lower(), node.name.lower()}
        keys = {name for name, _ in table.partition_keys}
        single_source = not joins
        usable = []
        for conjunct in _conjuncts(where.this):
            if conjunct.find(exp.Select, exp.Subquery):
                continue
            columns = list(conjunct.find_all(exp.Column))
            if columns and all(
                c.name.lower() in keys
                and ((c.table and c.table.lower() in names) or (not c.table and single_source))
                for c in columns
            ):
                usable.append(conjunct)
        if not usable:
            return None
        partition_view = self._partition_values(table)
        allowed: set[int] | None = None
        for conjunct in usable:
            condition = conjunct.copy()
            for column in condition.find_all(exp.Column):
                column.set("table", None)
            try:
                found = {
                    row[0]
                    for row in self._con.execute(
                        f"SELECT __index FROM {quote_identifier(partition_view)} "
                        f"WHERE {condition.sql(dialect='duckdb')}"
                    ).fetchall()
                }
            except duckdb.Error:
                continue  # DuckDB could not judge this conjunct alone; read without it
            allowed = found if allowed is None else allowed & found
        return allowed

    def _partition_values(self, table: TableDef) -> str:
        name = self._duck_name("partitions", table.name)
        keys = table.partition_keys
        values = ", ".join(
            "(" + ", ".join([str(i)] + ["'" + v.replace("'", "''") + "'" for v in p.values]) + ")"
            for i, p in enumerate(table.partitions)
            if len(p.values) == len(keys)
        )
        selects = ["__index"] + [
            f"TRY_CAST(p{i} AS {hive_to_duckdb(parse_hive_type(t))}) AS {quote_identifier(k)}"
            for i, (k, t) in enumerate(keys)
        ]
        aliases = ", ".join(["__index"] + [f"p{i}" for i in range(len(keys))])
        source = f"(VALUES {values}) AS v({aliases})" if values else "(SELECT 0 AS __index WHERE false) AS v"
        if not values:
            selects = ["__index"] + [f"NULL AS {quote_identifier(k)}" for k, _ in keys]
        self._con.execute(
            f"CREATE TEMP VIEW {quote_identifier(name)} AS SELECT {', '.join(selects)} FROM {source}"
        )
        return name

    def _load(self, table: TableDef, allowed: set[int] | None) -> str:
        """Read the table's objects (only the allowed partitions') into a DuckDB view."""
        try:
            for _, type_text in table.columns + table.partition_keys:
                parse_hive_type(type_text)
        except TypeParseError as error:
            raise EngineError("HIVE_INVALID_METADATA", str(error)) from error
        locations: list[tuple[str, list[str]]] = []
        if self._schema_only:
            pass
        elif table.partition_keys:
            base = table.location.rstrip("/")
            for index, partition in enumerate(table.partitions):
                if allowed is not None and index not in allowed:
                    continue
                location = partition.location or (
                    base
                    + "/"
                    + "/".join(
                        f"{k}={v}" for (k, _), v in zip(table.partition_keys, partition.values, strict=False)
                    )
                )
                locations.append((location, partition.values))
        elif table.location:
            locations.append((table.location, []))
        if cache.enabled():
            return self._load_cached(table, locations)
        files: list[DataFile] = []
        trees = [parse_hive_type(t) for _, t in table.columns]
        fmt = table_format(table) if locations else ""
        for location, values in locations:
            for uri, size, _ in self.catalog.list_objects(location):
                if self.cancelled.is_set():
                    raise EngineError("USER_CANCELLED", "Query cancelled by user")
                self._count_scanned(size)
                data = self.catalog.read_object(uri)
                assert self._workdir is not None
                path = local_name(self._workdir, len(files) + self._counter * 100000, table)
                prepare_file(table, fmt, data, path, trees)
                files.append(DataFile(uri=uri, local_path=path, partition_values=values))
        # The query's database reads no file: the loader parses the copies, the rows come as Arrow.
        read = self._read_files(table, files)
        duck_name = self._duck_name("table", table.name)
        create_snapshot(
            self._con, duck_name, table, [(read[f.local_path], f.partition_values) for f in files]
        )
        return duck_name

    def _count_scanned(self, size: int) -> None:
        """Bill an object's bytes; past the workgroup's cutoff the query stops, as Athena's does."""
        self.data_scanned += size
        if self.bytes_cutoff is not None and self.data_scanned > self.bytes_cutoff:
            raise EngineError("BYTES_SCANNED_LIMIT_EXCEEDED", BYTES_SCANNED_EXCEEDED, plain=True)

    def _read_files(self, table: TableDef, files: list[DataFile]) -> dict[str, Any]:
        loader = cache.loader()
        try:
            return read_to_arrow(loader, table, files)
        finally:
            loader.close()

    def _load_cached(self, table: TableDef, locations: list[tuple[str, list[str]]]) -> str:
        """`_load` through the object cache: only objects not seen in this version are read and parsed."""
        objects = cache.objects()
        schema = schema_fingerprint(table)
        fmt = table_format(table) if locations else ""
        trees = [parse_hive_type(t) for _, t in table.columns]
        parts: list[tuple[Any, list[str]]] = []
        missing: list[tuple[int, str]] = []  # (index in parts, uri)
        listed: list[ObjectKey] = []
        for location, values in locations:
            listing = self.catalog.list_objects(location)
            bucket, prefix = split_s3_uri(location)
            if prefix and not prefix.endswith("/"):
                prefix += "/"
            # Objects deleted or overwritten since they were cached are dropped as soon as they are missed.
            objects.forget_changed(bucket, prefix, {split_s3_uri(u)[1]: (e, n) for u, n, e in listing})
            for uri, size, etag in listing:
                if self.cancelled.is_set():
                    raise EngineError("USER_CANCELLED", "Query cancelled by user")
                # Athena bills the bytes of every object read, cached here or not.
                self._count_scanned(size)
                object_key = ObjectKey(bucket, split_s3_uri(uri)[1], etag, size, schema)
                listed.append(object_key)
                rows = objects.get(object_key)
                if rows is None:
                    missing.append((len(parts), uri))
                parts.append((rows, values))
        part_keys: list[ObjectKey | None] = [None] * len(parts)
        if missing:
            assert self._workdir is not None
            files: list[DataFile] = []
            keys: list[ObjectKey] = []
            for number, (_, uri) in enumerate(missing):
                if self.cancelled.is_set():
                    raise EngineError("USER_CANCELLED", "Query cancelled by user")
                # The version read may be newer than the one listed: cache it under its own ETag.
                data, etag, size = self.catalog.read_object_version(uri)
                path = local_name(self._workdir, number + self._counter * 100000, table)
                prepare_file(table, fmt, data, path, trees)
                files.append(DataFile(uri=uri, local_path=path, partition_values=[]))
                bucket, key = split_s3_uri(uri)
                keys.append(ObjectKey(bucket, key, etag, size, schema))
            read = self._read_files(table, files)
            for (index, _), file, key in zip(missing, files, keys, strict=True):
                rows = read[file.local_path]
                objects.put(key, rows)
                parts[index] = (rows, parts[index][1])
                part_keys[index] = key
        snapshots = cache.snapshots()
        snapshot_key = (
            schema,
            tuple(table.partition_keys),  # partition columns are typed in the snapshot, not in the objects
            tuple((part_keys[i] or listed[i], tuple(values)) for i, (_, values) in enumerate(parts)),
        )
        name = snapshots.acquire(snapshot_key)
        if name is None:
            name = snapshots.new_name()
            self._pinned.append(name)
            try:
                create_snapshot(self._con, name, table, parts)
            except BaseException:
                snapshots.abandon(name)
                raise
            snapshots.add(snapshot_key, name, sum(int(rows.nbytes) for rows, _ in parts))
        else:
            self._pinned.append(name)
        return name

    # -- views ------------------------------------------------------------------------------
    def _create_view(self, statement: exp.Create, sql: str) -> Outcome:
        target = statement.this
        if isinstance(target, exp.Schema):
            target = target.this
        database = (target.db or self.database).lower()
        name = target.name.lower()
        body = statement.expression
        original = _original_view_sql(sql) or body.sql(dialect=READ_DIALECT)
        self._schema_only = True
        bound = _trino_fixups(self._bind(body.copy(), database, (f"{database}.{name}",)))
        _name_output_columns(bound)
        relation = self._con.sql(bound.sql(dialect="duckdb"))
        columns = list(zip(relation.columns, relation.types, strict=True))
        definition = {
            "originalSql": original,
            "catalog": "awsdatacatalog",
            "schema": database,
            "columns": [{"name": n, "type": duckdb_to_presto(t)} for n, t in columns],
            "owner": "local_aws",
            "runAsInvoker": False,
            "properties": {},
        }
        encoded = base64.b64encode(json.dumps(definition).encode("utf-8")).decode("ascii")
        table_input = {
            "Name": name,
            "TableType": "VIRTUAL_VIEW",
            "Parameters": {"presto_view": "true", "comment": "Presto View"},
            "ViewOriginalText": f"/* Presto View: {encoded} */",
            "ViewExpandedText": "/* Presto View */",
            "PartitionKeys": [],
            "StorageDescriptor": {
                "Columns": [{"Name": n, "Type": duckdb_to_hive(t)} for n, t in columns],
                "Location": "",
                "SerdeInfo": {},
                "Compressed": False,
                "NumberOfBuckets": 0,
                "StoredAsSubDirectories": False,
            },
        }
        replace = bool(statement.args.get("replace"))
        if replace:
            try:
                existing = self.catalog.get_table(database, name)
            except CatalogError:
                existing = None
            if existing is not None and not existing.is_view:
                raise EngineError(
                    "TABLE_ALREADY_EXISTS", f"Table 'awsdatacatalog.{database}.{name}' is not a view"
                )
        try:
            self.catalog.put_table(database, name, table_input, replace=replace)
        except CatalogError as error:
            if error.code == "ALREADY_EXISTS":
                raise EngineError(
                    "ALREADY_EXISTS", f"View 'awsdatacatalog.{database}.{name}' already exists"
                ) from error
            raise
        return Outcome("DDL", "CREATE_VIEW")

    def _drop(self, statement: exp.Drop) -> Outcome:
        kind = (statement.args.get("kind") or "").upper()
        targets = statement.args.get("tables") or [statement.this]
        target = targets[0]
        if not isinstance(target, exp.Table):
            raise EngineError("SYNTAX_ERROR", f"DROP {kind} needs a name")
        database = (target.db or self.database).lower()
        name = target.name.lower()
        if kind not in ("VIEW", "TABLE"):
            raise EngineError("NOT_SUPPORTED", f"DROP {kind} is not supported by local_aws")
        try:
            existing: TableDef | None = self.catalog.get_table(database, name)
        except CatalogError:
            existing = None
        noun = "View" if kind == "VIEW" else "Table"
        if existing is None or (kind == "VIEW" and not existing.is_view):
            if statement.args.get("exists"):
                return Outcome("DDL", f"DROP_{kind}")
            raise EngineError("TABLE_NOT_FOUND", f"{noun} 'awsdatacatalog.{database}.{name}' does not exist")
        self.catalog.drop_table(database, name)
        return Outcome("DDL", f"DROP_{kind}")

    # -- CREATE EXTERNAL TABLE ----------------------------------------------------------------
    def _create_table(self, statement: exp.Create) -> Outcome:
        schema = statement.this
        if not isinstance(schema, exp.Schema):
            raise EngineError("SYNTAX_ERROR", "CREATE TABLE needs a column list")
        target = schema.this
        database = (target.db or self.database).lower()
        name = target.name.lower()
        columns = [_column_def(c) for c in schema.expressions if isinstance(c, exp.ColumnDef)]
        partition_keys: list[dict[str, str]] = []
        serde_library = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
        serde_parameters: dict[str, str] = {}
        input_format = "org.apache.hadoop.mapred.TextInputFormat"
        output_format = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
        location = ""
        parameters: dict[str, str] = {"EXTERNAL": "TRUE"}
        for prop in (statement.args.get("properties") or exp.Properties()).expressions:
            if isinstance(prop, exp.PartitionedByProperty):
                partition_keys = [
                    _column_def(c) for c in prop.this.expressions if isinstance(c, exp.ColumnDef)
                ]
            elif isinstance(prop, exp.RowFormatSerdeProperty):
                serde_library = prop.this.name
                serde_props = prop.args.get("serde_properties")
                if serde_props is not None:
                    serde_parameters.update({p.name: p.text("value") for p in serde_props.expressions})
            elif isinstance(prop, exp.RowFormatDelimitedProperty):
                if prop.args.get("fields"):
                    serde_parameters["field.delim"] = prop.args["fields"].name
            elif isinstance(prop, exp.FileFormatProperty):
                inner = prop.this
                if isinstance(inner, exp.InputOutputFormat):
                    input_format = inner.args["input_format"].name
                    output_format = inner.args["output_format"].name
                elif inner is not None and inner.name.upper() == "PARQUET":
                    serde_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
                    input_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
                    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
            elif isinstance(prop, exp.LocationProperty):
                location = prop.this.name
            elif isinstance(prop, exp.Property):
                parameters[prop.name] = prop.text("value")
        table_input = {
            "Name": name,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": parameters,
            "PartitionKeys": partition_keys,
            "StorageDescriptor": {
                "Columns": columns,
                "Location": location,
                "InputFormat": input_format,
                "OutputFormat": output_format,
                "SerdeInfo": {"SerializationLibrary": serde_library, "Parameters": serde_parameters},
                "Compressed": False,
                "NumberOfBuckets": -1,
                "StoredAsSubDirectories": False,
            },
        }
        try:
            self.catalog.put_table(database, name, table_input, replace=False)
        except CatalogError as error:
            if error.code == "ALREADY_EXISTS" and statement.args.get("exists"):
                return Outcome("DDL", "CREATE_TABLE")
            if error.code == "ALREADY_EXISTS":
                raise EngineError("ALREADY_EXISTS", f"Table {database}.{name} already exists") from error
            raise
        return Outcome("DDL", "CREATE_TABLE")

    # -- SHOW / DESCRIBE ----------------------------------------------------------------------
    def _show(self, rest: str) -> Outcome:
        words = rest.split()
        what = words[0].upper() if words else ""
        if what in ("DATABASES", "SCHEMAS"):
            names = self.catalog.database_names()
            pattern = _like_pattern(words[1:])
            rows = [[n] for n in names if pattern is None or pattern.fullmatch(n)]
            return Outcome("UTILITY", "SHOW_DATABASES", [_text_column("database_name")], rows)
        if what == "TABLES":
            database = self.database
            tail = words[1:]
            if len(tail) >= 2 and tail[0].upper() in ("IN", "FROM"):
                database = tail[1].strip('`"').lower()
                tail = tail[2:]
            pattern = _like_pattern(tail)
            names = self.catalog.table_names(database)
            rows = [[n] for n in names if pattern is None or pattern.fullmatch(n)]
            return Outcome("UTILITY", "SHOW_TABLES", [_text_column("tab_name")], rows)
        if what == "PARTITIONS" and len(words) >= 2:
            table = self._named_table(words[1])
            if not table.partition_keys:
                raise EngineError("NOT_SUPPORTED", f"Table {table.database}.{table.name} is not partitioned")
            rows = [
                ["/".join(f"{k}={v}" for (k, _), v in zip(table.partition_keys, p.values, strict=False))]
                for p in table.partitions
            ]
            return Outcome("UTILITY", "SHOW_PARTITIONS", [_text_column("partition")], rows)
        if what == "COLUMNS" and len(words) >= 3 and words[1].upper() in ("IN", "FROM"):
            table = self._named_table(words[2])
            rows = [[n] for n, _ in table.columns + table.partition_keys]
            return Outcome("UTILITY", "SHOW_COLUMNS", [_text_column("field")], rows)
        raise EngineError("NOT_SUPPORTED", f"SHOW {rest} is not supported by local_aws")

    def _named_table(self, text: str) -> TableDef:
        parts = [p.strip('`"') for p in text.split(".")]
        if len(parts) == 3:
            parts = parts[1:]
        database, name = (parts[0], parts[1]) if len(parts) == 2 else (self.database, parts[0])
        return self.catalog.get_table(database, name)

    def _describe(self, target: exp.Expression) -> Outcome:
        if not isinstance(target, exp.Table):
            raise EngineError("NOT_SUPPORTED", "DESCRIBE needs a table name")
        table = self.catalog.get_table(target.db or self.database, target.name)
        rows = [[f"{n:<20}\t{t:<20}\t"] for n, t in table.columns + table.partition_keys]
        if table.partition_keys:
            rows += [
                [""],
                ["# Partition Information"],
                [f"{'# col_name':<20}\t{'data_type':<20}\t{'comment':<20}"],
                [""],
            ]
            rows += [[f"{n:<20}\t{t:<20}\t"] for n, t in table.partition_keys]
        return Outcome("UTILITY", "DESCRIBE", [_text_column("col_name")], rows)


@functools.lru_cache(maxsize=128)
def _parsed_view_body(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read=READ_DIALECT)


def _parse_view_body(sql: str) -> exp.Expression:
    """A stored view's body, parsed once per text when caching is on; each caller gets its own copy.

    Raises sqlglot's ParseError for any text it cannot read (a TokenError included).
    """
    try:
        return _parse_view_text(sql)
    except sqlglot.errors.SqlglotError as error:
        if isinstance(error, sqlglot.errors.ParseError):
            raise
        raise sqlglot.errors.ParseError(str(error).splitlines()[0]) from error


def _parse_view_text(sql: str) -> exp.Expression:
    if not cache.enabled():
        return sqlglot.parse_one(sql, read=READ_DIALECT)
    return _parsed_view_body(sql).copy()


def decode_view(table: TableDef) -> dict[str, Any]:
    """The JSON inside a stored Presto view's ViewOriginalText."""
    match = _VIEW_TEXT.search(table.view_original_text)
    if not match:
        raise EngineError("INVALID_VIEW", f"View '{table.database}.{table.name}' is not a Presto view")
    try:
        return json.loads(base64.b64decode(match.group(1)))
    except ValueError as error:
        raise EngineError(
            "INVALID_VIEW", f"View '{table.database}.{table.name}' cannot be read: {error}"
        ) from error


def _original_view_sql(sql: str) -> str | None:
    match = re.match(
        r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+(?:\"[^\"]+\"|`[^`]+`|[^\s(]+)(?:\s*\.\s*(?:\"[^\"]+\"|`[^`]+`|[^\s(]+))*\s+AS\s+(.*)$",
        sql,
        re.IGNORECASE | re.DOTALL,
    )
    if not match:
        return None
    return match.group(1).strip().rstrip(";").strip()


def _column_def(column: exp.ColumnDef) -> dict[str, str]:
    kind = column.args.get("kind")
    type_text = kind.sql(dialect="hive").lower().replace(": ", ":").replace(", ", ",") if kind else "string"
    return {"Name": column.name.lower(), "Type": type_text}


def _text_column(name: str) -> dict[str, Any]:
    return {
        "CatalogName": "hive",
        "SchemaName": "",
        "TableName": "",
        "Name": name,
        "Label": name,
        "Type": "varchar",
        "Precision": 0,
        "Scale": 0,
        "Nullable": "UNKNOWN",
        "CaseSensitive": False,
    }


def _like_pattern(words: list[str]) -> re.Pattern[str] | None:
    """SHOW ... [LIKE] 'pattern': Hive's pattern, ``*`` any characters and ``|`` alternatives."""
    if words and words[0].upper() == "LIKE":
        words = words[1:]
    if not words:
        return None
    pattern = " ".join(words).strip("'\"")
    alternatives = [re.escape(p).replace(r"\*", ".*") for p in pattern.split("|")]
    return re.compile("|".join(alternatives), re.IGNORECASE)


def _error_type(code: str) -> int:
    return DATA_ERROR if code.startswith("HIVE_") and code != "HIVE_INVALID_METADATA" else USER_ERROR


_COLUMN = re.compile(r'(?:Referenced column|column) "?([^"\s]+)"? not found', re.IGNORECASE)


def _translate_duckdb_error(error: Exception) -> EngineError:
    """A DuckDB error in the words Athena (Trino) uses for the same mistake."""
    message = str(error).strip()
    first_line = message.split("\n")[0]
    first_line = re.sub(r"^[A-Za-z ]+ Error: ", "", first_line)
    column = _COLUMN.search(message)
    if isinstance(error, duckdb.BinderException) and column:
        return EngineError(
            "COLUMN_NOT_FOUND",
            f"Column '{column.group(1)}' cannot be resolved or requester is not authorized to access requested resources",
        )
    if isinstance(error, duckdb.CatalogException) and "Function" in first_line:
        return EngineError("FUNCTION_NOT_FOUND", first_line)
    if isinstance(error, duckdb.ConversionException):
        return EngineError("INVALID_CAST_ARGUMENT", first_line, DATA_ERROR)
    if isinstance(error, duckdb.InvalidInputException):
        return EngineError("HIVE_BAD_DATA", first_line, DATA_ERROR)
    if isinstance(error, duckdb.ParserException):
        return EngineError("SYNTAX_ERROR", first_line)
    if isinstance(error, (duckdb.BinderException, duckdb.CatalogException)):
        return EngineError("SEMANTIC_ERROR", first_line)
    if isinstance(error, duckdb.OutOfRangeException):
        return EngineError("NUMERIC_VALUE_OUT_OF_RANGE", first_line, DATA_ERROR)
    if isinstance(error, duckdb.InterruptException):
        return EngineError("USER_CANCELLED", "Query cancelled by user")
    return EngineError("GENERIC_INTERNAL_ERROR", first_line, INTERNAL_ERROR, category=1)
