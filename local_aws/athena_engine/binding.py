"""The one path every statement family takes from a name to rows: bind catalog names, prune, load, count.

`Binder._bind` replaces each catalog table or view in a parsed statement with a DuckDB relation:
a view's stored body is decoded, gated by `sandbox` and bound in turn; a table's partitions are
pruned by the WHERE clause (`_prune`), its objects listed, billed (`_count_scanned`, which also
enforces the workgroup's BytesScannedCutoffPerQuery) and parsed through the object cache (`cache`).
SELECT, CTAS, INSERT, UNLOAD and EXPLAIN all read through here, so pruning and billing are the same
for each of them.

A view's body is bound per statement with the statement's filters on the view's columns pushed
into it (`view_pushdown`), so a partition filter on a view prunes the table under it as Trino's
planner does, through windows partitioned by the filtered columns too.

LIMITATIONS: partition filters are not pushed into the nullable side of outer joins (that side reads
every partition), nor through a view's GROUP BY, UNION, joins or LIMIT (`view_pushdown` lists
them); DataScannedInBytes counts whole objects, or for Parquet the column chunks read (`scanned`,
with its own LIMITATIONS);
a partition not registered in Glue is not read, as in Athena (a table with partition projection
computes its partitions instead: `projection`). Of Trino's hidden columns a Hive table offers
``"$path"`` and ``"$file_size"`` (read only when a statement names them; ``*`` leaves them out of
the SELECT that reads the table); ``"$file_modified_time"`` and ``"$partition"`` are not provided,
nor are hidden columns of Iceberg tables.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import re
import threading
from collections.abc import Sequence
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from local_aws.athena_engine import cache, information_schema, projection, sandbox, scanned, view_pushdown
from local_aws.athena_engine.cache import ObjectKey
from local_aws.athena_engine.catalog import Catalog, CatalogError, Partition, TableDef, split_s3_uri
from local_aws.athena_engine.errors import BYTES_SCANNED_EXCEEDED, EngineError
from local_aws.athena_engine.loading import (
    DataFile,
    create_snapshot,
    local_name,
    prepare_file,
    quote_identifier,
    read_to_arrow,
    schema_fingerprint,
    table_format,
)
from local_aws.athena_engine.rewrite import READ_DIALECT, conjuncts, name_output_columns, trino_fixups
from local_aws.athena_engine.types import TypeParseError, hive_to_duckdb, parse_hive_type
from local_aws.athena_engine.view_staleness import check_not_stale

_VIEW_TEXT = re.compile(r"/\*\s*Presto View:\s*(\S+)\s*\*/", re.DOTALL)
_MAX_VIEW_DEPTH = 32


# Trino's hidden columns of a Hive table: selectable and filterable by name, never part of ``*``.
HIDDEN_COLUMNS = ("$path", "$file_size")


def _wants_hidden(statement: exp.Expression) -> bool:
    return any(c.name in HIDDEN_COLUMNS for c in statement.find_all(exp.Column))


def _hide_from_stars(node: exp.Table) -> None:
    """``*`` (or ``alias.*``) of the SELECT reading ``node`` leaves its hidden columns out, as Trino's does."""
    select = node.parent.parent if node.parent is not None else None
    if not isinstance(select, exp.Select):
        return
    alias = node.alias_or_name.lower()
    for item in select.expressions:
        star = item
        if isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
            star = item.this if item.table.lower() == alias else None
        if isinstance(star, exp.Star):
            hidden = [exp.column(exp.to_identifier(n, quoted=True)) for n in HIDDEN_COLUMNS]
            star.set("except_", [*(star.args.get("except_") or []), *hidden])


class Binder:
    """State one statement's run shares across families: the catalog, the connection, the bill."""

    catalog: Catalog
    database: str
    cancelled: threading.Event
    bytes_cutoff: int | None
    data_scanned: int
    _counter: int
    _workdir: str | None
    _con: Any
    _schema_only: bool
    _pinned: list[str]
    _sql: str | None
    rows_read: int = 0  # rows of the tables' objects read (GetQueryRuntimeStatistics' InputRows)
    _columns_read: frozenset[str] | None = frozenset()  # what Parquet bills (`scanned`); None: all

    def _duck_name(self, kind: str, name: str) -> str:
        self._counter += 1
        return f"__{kind}_{self._counter}_{re.sub(r'[^a-z0-9_]', '_', name.lower())}"

    def _bind(
        self,
        statement: exp.Expression,
        database: str,
        stack: tuple[str, ...],
        billed: exp.Expression | None = None,
    ) -> exp.Expression:
        """Replace every catalog table or view in ``statement`` with a DuckDB view of it; the columns
        ``billed`` (a view body's pruned form; default ``statement``) names are what Parquet bills."""
        self._columns_read = scanned.columns_read(statement if billed is None else billed, self._columns_read)
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
            if information_schema.is_reference(node.db, database):
                duck = information_schema.load(
                    self._con, self.catalog, node.name, self._duck_name("information_schema", node.name)
                )
                alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(node.name))
                node.replace(exp.Table(this=exp.to_identifier(duck, quoted=True), alias=alias))
                continue
            try:
                references.append((node, self.catalog.get_table(node.db or database, node.name)))
            except CatalogError as error:
                # Trino places the error at the name in the statement; a view body's text is not the statement.
                place = sandbox.where(node, self._sql) if not stack else ""
                raise EngineError(error.code, place + str(error).split(": ", 1)[-1]) from error
        # Tables first grouped, so that each is read once with the union of what its references need.
        grouped: dict[tuple[str, str], list[tuple[exp.Table, TableDef]]] = {}
        hidden = _wants_hidden(statement)
        for node, table in references:
            grouped.setdefault((table.database.lower(), table.name.lower()), []).append((node, table))
        for key, group in grouped.items():
            table = group[0][1]
            if table.is_view:
                # Each reference's filters on the view's columns, pushed into its body (`view_pushdown`).
                pushed = view_pushdown.common([self._conjuncts_on(node, None) for node, _ in group])
                duck_name = self._view(table, stack, pushed)
            else:
                if projection.enabled(table) and not self._schema_only:
                    table = self._projected(table, [node for node, _ in group])
                allowed: set[int] | None = set()
                for node, _ in group:
                    wanted = self._prune(node, table)
                    if wanted is None or allowed is None:
                        allowed = None
                    else:
                        allowed |= wanted
                duck_name = self._load(table, allowed, hidden)
            for node, _ in group:
                alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(node.name))
                bound = exp.Table(this=exp.to_identifier(duck_name, quoted=True), alias=alias)
                node.replace(bound)
                if hidden and not table.is_view:
                    _hide_from_stars(bound)
            del key
        return statement

    def _view(self, table: TableDef, stack: tuple[str, ...], pushed: Sequence[exp.Expression] = ()) -> str:
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
        view_pushdown.push(body, pushed)
        # Only what the statement uses of the view is billed (`scanned.view_columns`).
        billed = scanned.view_columns(body, self._columns_read)
        body = trino_fixups(
            self._bind(body, (definition.get("schema") or table.database).lower(), (*stack, key), billed)
        )
        name_output_columns(body)
        duck_name = self._duck_name("view", table.name)
        self._con.execute(f"CREATE TEMP VIEW {quote_identifier(duck_name)} AS {body.sql(dialect='duckdb')}")
        shape = self._con.sql(f"SELECT * FROM {quote_identifier(duck_name)} LIMIT 0")
        if "columns" in definition:
            check_not_stale(key, definition["columns"], shape.columns, shape.types)
        return duck_name

    def _projected(self, table: TableDef, nodes: list[exp.Table]) -> TableDef:
        """The table with its projected partitions (the union of what each reference's WHERE allows)."""
        found: dict[tuple[str, ...], Partition] = {}
        for node in nodes:
            for partition in projection.project(self._con, table, self._pruning_conjuncts(node, table)):
                found.setdefault(tuple(partition.values), partition)
        return dataclasses.replace(table, partitions=list(found.values()))

    def _prune(self, node: exp.Table, table: TableDef) -> set[int] | None:
        """Indexes of the partitions this reference can touch; None for all of them."""
        if not table.partition_keys or not table.partitions or self._schema_only:
            return None
        usable = self._pruning_conjuncts(node, table)
        if not usable:
            return None
        return self._allowed_partitions(table, usable)

    def _pruning_conjuncts(self, node: exp.Table, table: TableDef) -> list[exp.Expression]:
        """The WHERE conjuncts that name only this reference's partition columns (and can prune it)."""
        return self._conjuncts_on(node, {name for name, _ in table.partition_keys})

    def _conjuncts_on(self, node: exp.Table, keys: set[str] | None) -> list[exp.Expression]:
        """The WHERE conjuncts that name only this reference's columns (of ``keys``; None: any)."""
        select = node.parent.parent if node.parent is not None else None
        parent = node.parent
        if not isinstance(select, exp.Select):
            return []
        joins = select.args.get("joins") or []
        if isinstance(parent, exp.From):
            if any((j.args.get("side") or "").upper() in ("RIGHT", "FULL") for j in joins):
                return []
        elif isinstance(parent, exp.Join):
            if parent.args.get("side"):
                return []  # the nullable side of an outer join: filters do not prune it
        else:
            return []
        where = select.args.get("where")
        if where is None:
            return []
        names = {node.alias_or_name.lower(), node.name.lower()}
        single_source = not joins
        usable = []
        for conjunct in conjuncts(where.this):
            if conjunct.find(exp.Select, exp.Subquery):
                continue
            columns = list(conjunct.find_all(exp.Column))
            if columns and all(
                (keys is None or c.name.lower() in keys)
                and ((c.table and c.table.lower() in names) or (not c.table and single_source))
                for c in columns
            ):
                usable.append(conjunct)
        return usable

    def _allowed_partitions(self, table: TableDef, usable: list[exp.Expression]) -> set[int] | None:
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

    def _load(self, table: TableDef, allowed: set[int] | None, hidden: bool = False) -> str:
        """Read the table's objects (only the allowed partitions') into a DuckDB view.

        With ``hidden`` the view also has the hidden columns (`HIDDEN_COLUMNS`) of each row's object.
        """
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
            return self._load_cached(table, locations, hidden)
        files: list[DataFile] = []
        objects: list[tuple[str, int]] = []
        trees = [parse_hive_type(t) for _, t in table.columns]
        fmt = table_format(table) if locations else ""
        for location, values in locations:
            for uri, size, etag in self.catalog.list_objects(location):
                if self.cancelled.is_set():
                    raise EngineError("USER_CANCELLED", "Query cancelled by user")
                self._count_scanned(self._billed(table, uri, size, etag))
                data = self.catalog.read_object(uri)
                assert self._workdir is not None
                path = local_name(self._workdir, len(files) + self._counter * 100000, table)
                prepare_file(table, fmt, data, path, trees)
                files.append(DataFile(uri=uri, local_path=path, partition_values=values))
                objects.append((uri, size))
        # The query's database reads no file: the loader parses the copies, the rows come as Arrow.
        read = self._read_files(table, files)
        self.rows_read += sum(int(rows.num_rows) for rows in read.values())
        duck_name = self._duck_name("table", table.name)
        create_snapshot(
            self._con,
            duck_name,
            table,
            [(read[f.local_path], f.partition_values) for f in files],
            objects if hidden else None,
        )
        return duck_name

    def _count_scanned(self, size: int) -> None:
        """Bill an object's bytes; past the workgroup's cutoff the query stops, as Athena's does."""
        self.data_scanned += size
        if self.bytes_cutoff is not None and self.data_scanned > self.bytes_cutoff:
            raise EngineError("BYTES_SCANNED_LIMIT_EXCEEDED", BYTES_SCANNED_EXCEEDED, plain=True)

    def _billed(self, table: TableDef, uri: str, size: int, etag: str) -> int:
        """An object's bytes as Athena bills them (`scanned`: for Parquet, the column chunks read)."""
        return scanned.billed_bytes(
            table_format(table), (uri, etag, size), self._columns_read, lambda: self.catalog.read_object(uri)
        )

    def _read_files(self, table: TableDef, files: list[DataFile]) -> dict[str, Any]:
        loader = cache.loader()
        try:
            return read_to_arrow(loader, table, files)
        finally:
            loader.close()

    def _load_cached(self, table: TableDef, locations: list[tuple[str, list[str]]], hidden: bool) -> str:
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
                self._count_scanned(self._billed(table, uri, size, etag))
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
        self.rows_read += sum(int(rows.num_rows) for rows, _ in parts)
        snapshots = cache.snapshots()
        used = [part_keys[i] or listed[i] for i in range(len(parts))]
        objects_read = [(f"s3://{k.bucket}/{k.key}", k.size) for k in used] if hidden else None
        snapshot_key = (
            schema,
            hidden,
            tuple(table.partition_keys),  # partition columns are typed in the snapshot, not in the objects
            tuple((used[i], tuple(values)) for i, (_, values) in enumerate(parts)),
        )
        name = snapshots.acquire(snapshot_key)
        if name is None:
            name = snapshots.new_name()
            self._pinned.append(name)
            try:
                create_snapshot(self._con, name, table, parts, objects_read)
            except BaseException:
                snapshots.abandon(name)
                raise
            snapshots.add(snapshot_key, name, sum(int(rows.nbytes) for rows, _ in parts))
        else:
            self._pinned.append(name)
        return name


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
