"""Run one Athena statement: parse (Trino dialect), resolve Glue names, prune partitions, run DuckDB.

One module per statement family, each a mixin over `binding.Binder` (the one path from a catalog
name to rows: binding, pruning, loading, billing): `query` (SELECT), `ddl` (CREATE/DROP/SHOW/
DESCRIBE), `writes` (CTAS, INSERT INTO, UNLOAD), `alter` (MSCK REPAIR, ALTER TABLE), and the Iceberg
family (`iceberg` reads and CREATE, `iceberg_dml` INSERT/CTAS/MERGE/UPDATE/DELETE,
`iceberg_maintenance` OPTIMIZE/VACUUM/ADD COLUMNS; listed first so that it binds Iceberg tables). This module parses, gates and dispatches; `errors` holds the codes every family shares.

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

import re
import tempfile
import threading
from collections.abc import Callable
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from local_aws.athena_engine import cache, sandbox
from local_aws.athena_engine.alter import TableMaintenance, is_alter_table
from local_aws.athena_engine.catalog import Catalog, CatalogError
from local_aws.athena_engine.ddl import DdlStatements
from local_aws.athena_engine.errors import (
    BYTES_SCANNED_EXCEEDED,
    DATA_ERROR,
    INTERNAL_ERROR,
    USER_ERROR,
    EngineError,
    Outcome,
    error_type,
    translate_duckdb_error,
)
from local_aws.athena_engine.iceberg_maintenance import IcebergMaintenance, is_maintenance
from local_aws.athena_engine.loading import LoadError
from local_aws.athena_engine.query import QueryStatements
from local_aws.athena_engine.rewrite import READ_DIALECT, substitute_parameters
from local_aws.athena_engine.writes import HiveWrites

__all__ = [
    "BYTES_SCANNED_EXCEEDED",
    "DATA_ERROR",
    "INTERNAL_ERROR",
    "USER_ERROR",
    "EngineError",
    "Outcome",
    "QueryEngine",
    "classify",
    "substitute_parameters",
]

_SHOW = re.compile(r"^\s*SHOW\s+(.*)$", re.IGNORECASE | re.DOTALL)


def classify(sql: str) -> tuple[str, str]:
    """(StatementType, SubstatementType) from the text alone, for a query not yet run."""
    words = re.sub(r"(--[^\n]*\n|/\*.*?\*/|\()", " ", sql, flags=re.DOTALL).split()
    first = words[0].upper() if words else ""
    second = words[1].upper() if len(words) > 1 else ""
    if first in ("SELECT", "WITH", "VALUES", "TABLE"):
        return "DML", "SELECT"
    if first in ("INSERT", "UPDATE", "DELETE", "MERGE", "UNLOAD"):
        return "DML", first
    if first == "EXPLAIN":
        return "UTILITY", "EXPLAIN"
    if first == "MSCK":
        return "DDL", "MSCK_REPAIR_TABLE"
    if first in ("SHOW", "DESCRIBE", "DESC"):
        return "UTILITY", f"{first}_{second}" if first == "SHOW" else "DESCRIBE"
    if first == "CREATE" and " AS SELECT" in sql.upper() and "VIEW" not in " ".join(words[:4]).upper():
        return "DML", "CREATE_TABLE_AS_SELECT"
    rest = [w.upper() for w in words[1:5]]
    obj = next((w for w in rest if w in ("VIEW", "TABLE", "DATABASE", "SCHEMA")), second)
    return "DDL", f"{first}_{obj}"


class QueryEngine(IcebergMaintenance, QueryStatements, DdlStatements, HiveWrites, TableMaintenance):
    """Runs one statement on a DuckDB connection of its own (a cursor of the shared database, see `cache`)."""

    def __init__(
        self,
        catalog: Catalog,
        database: str | None,
        on_connection: Callable[[Any], None] | None = None,
        cancelled: threading.Event | None = None,
        bytes_cutoff: int | None = None,
        execution_id: str | None = None,
        output_location: str | None = None,
    ) -> None:
        # Where statements that write put their default table location and data manifest.
        self.execution_id = execution_id
        self.output_location = output_location  # the query result location (a folder)
        self.manifest: list[str] = []
        self.catalog = catalog
        self.bytes_cutoff = bytes_cutoff  # the workgroup's BytesScannedCutoffPerQuery
        # Athena takes the context's database quoted too (awswrangler sends `name`).
        self.database = (database or "default").strip().strip('`"').lower()
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
        wrapped = _WRAPPERS.match(sql)
        try:
            if is_maintenance(sql):  # OPTIMIZE / VACUUM, read by their own grammar (`iceberg_maintenance`)
                return self._iceberg_maintenance(sql)
            # Catalog-only maintenance, read by its own grammar (see `alter`).
            if wrapped and wrapped.group("word").upper() == "MSCK":
                return self._msck(wrapped.group("rest"))
            if is_alter_table(sql):
                return self._alter_table(sql)
        except CatalogError as error:
            raise EngineError(error.code, str(error).split(": ", 1)[-1]) from error
        # UNLOAD and EXPLAIN wrap a query: the query is parsed, gated and bound like any other.
        wrapper: tuple[str, str, str] | None = None
        if wrapped and wrapped.group("word").upper() == "UNLOAD":
            unload = _UNLOAD.match(sql)
            if unload is None:
                raise EngineError(
                    "SYNTAX_ERROR", "line 1:1: UNLOAD needs (SELECT ...) TO 's3://...' [WITH (...)]"
                )
            wrapper = ("UNLOAD", unload.group("to"), unload.group("props") or "")
            sql = unload.group("query")
        elif wrapped and wrapped.group("word").upper() == "EXPLAIN":
            wrapper = ("EXPLAIN", "", "")
            sql = wrapped.group("rest")
        statement = self._parse(sql)
        self._sql = sql
        if wrapper is not None and not isinstance(statement, exp.Query):
            raise EngineError(
                "NOT_SUPPORTED", f"{wrapper[0]} of this statement is not supported by local_aws"
            )
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
                if wrapper is not None and wrapper[0] == "UNLOAD":
                    outcome = self._unload(statement, wrapper[1], wrapper[2])
                elif wrapper is not None:
                    outcome = self._explain(statement)
                else:
                    outcome = self._dispatch(statement, sql)
                if outcome.statement_type == "DML" and outcome.substatement_type != "SELECT":
                    outcome.manifest_location = self._write_manifest()
                return outcome
            except (CatalogError, LoadError) as error:
                raise EngineError(
                    error.code, str(error).split(": ", 1)[-1], error_type(error.code)
                ) from error
            except duckdb.Error as error:
                if self.cancelled.is_set():
                    raise EngineError("USER_CANCELLED", "Query cancelled by user") from error
                raise translate_duckdb_error(error) from error
            finally:
                self._con.close()
                self._con = None
                cache.release(self._pinned)
                self._pinned = []

    def _write_manifest(self) -> str | None:
        """Athena's data manifest: the objects a statement wrote, one URI a line, beside its results."""
        if not self.output_location or not self.execution_id:
            return None
        uri = f"{self.output_location.rstrip('/')}/{self.execution_id}-manifest.csv"
        self.catalog.put_object(uri, "".join(f"{u}\n" for u in self.manifest).encode("utf-8"))
        return uri

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
        if isinstance(statement, exp.Values):  # a bare VALUES is a query in Trino: its columns are _colN
            statement = _values_query(statement)
        if isinstance(statement, (exp.Query,)) and not isinstance(statement, exp.Create):
            return self._select(statement)
        if isinstance(statement, exp.Create):
            kind = (statement.args.get("kind") or "").upper()
            if kind == "VIEW":
                return self._create_view(statement, sql)
            if kind == "TABLE" and statement.expression is None:
                return self._create_table(statement)
            if kind == "TABLE":
                return self._ctas(statement)
            if kind in ("DATABASE", "SCHEMA"):
                return self._create_database(statement)
            raise EngineError("NOT_SUPPORTED", f"CREATE {kind} is not supported by local_aws")
        if isinstance(statement, exp.Insert):
            return self._insert(statement)
        if isinstance(statement, exp.Merge):  # Iceberg row-level changes (`iceberg_dml`)
            return self._merge(statement)
        if isinstance(statement, exp.Update):
            return self._update(statement)
        if isinstance(statement, exp.Delete):
            return self._delete(statement)
        if isinstance(statement, exp.Drop):
            return self._drop(statement)
        if isinstance(statement, exp.Describe):
            return self._describe(statement.this)
        if isinstance(statement, exp.Command) and statement.name.upper() == "SHOW":
            return self._show(statement.expression.name if statement.expression else "")
        if isinstance(statement, exp.Show):
            return self._show(statement.sql(READ_DIALECT)[len("SHOW ") :])
        raise EngineError("NOT_SUPPORTED", f"Statement is not supported by local_aws: {sql.strip()[:80]}")


def _values_query(values: exp.Values) -> exp.Select:
    """``VALUES ...`` as ``SELECT * FROM (VALUES ...) AS _values(_col0, ...)``: Trino's column names."""
    first = values.expressions[0] if values.expressions else None
    width = len(first.expressions) if isinstance(first, exp.Tuple) else 1
    alias = exp.TableAlias(
        this=exp.to_identifier("_values"), columns=[exp.to_identifier(f"_col{i}") for i in range(width)]
    )
    values.set("alias", alias)
    return exp.select("*").from_(values)


_WRAPPERS = re.compile(
    r"^\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*)*(?P<word>MSCK|UNLOAD|EXPLAIN)\b(?P<rest>.*?)\s*;?\s*$", re.I | re.S
)
_UNLOAD = re.compile(
    r"^\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*)*UNLOAD\s*\((?P<query>.*)\)\s*TO\s*'(?P<to>[^']*)'"
    r"\s*(?:WITH\s*\((?P<props>.*)\))?\s*;?\s*$",
    re.I | re.S,
)
