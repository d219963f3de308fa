"""Writes to Iceberg tables: INSERT INTO, CTAS with ``table_type='ICEBERG'``, MERGE INTO, UPDATE, DELETE.

Rows come from the same binding path as every query (`binding` and `iceberg` for Iceberg sources);
pyiceberg writes the Parquet data files and commits a snapshot through Glue (`iceberg`).

Row-level changes are **copy-on-write**: the target's rows are read with their file and position,
DuckDB computes the changed rows, and every data file holding a changed row is replaced (in one
``overwrite`` snapshot) by a file of its surviving and updated rows; inserted rows go to new
files. Athena writes merge-on-read position-delete files instead; pyiceberg 0.12 can read delete
files but not write them, and copy-on-write gives the same rows to every reader (Athena, Trino,
Spark, pyiceberg), so it is the honest choice here: the difference is cost (a MERGE rewrites the
files it touches) and the snapshot's ``operation`` (``overwrite`` where Athena's is ``overwrite``
too, with delete files).

MERGE follows Athena (Trino): the WHEN clauses are tried in order and the first whose condition
holds applies (UPDATE SET / DELETE for a matched row, INSERT for a source row no target row
matches); a target row the ON condition matches to more than one source row fails the statement
with MERGE_TARGET_ROW_MULTIPLE_MATCHES before anything is written, so the table is unchanged.
UPDATE and DELETE prune the files they read by their WHERE (as a SELECT does). A commit that
finds the table changed since it was read (Glue's ``VersionId`` is stale) is run again on the new
snapshot, up to ``COMMIT_ATTEMPTS`` times (with Iceberg's default backoff), then fails with
ICEBERG_COMMIT_ERROR as Athena does.

A MERGE reads only the target files that may hold a source key: each ``target.col = source
expression`` conjunct of ON becomes ``col IN (the source's distinct values)`` for scan planning
(their range, from ``MAX_IN_KEYS`` values on).

LIMITATIONS: copy-on-write only (no delete files written); a MERGE prunes the target by integer,
string, date and timestamp values of ON's equalities only (up to ``MAX_PRUNING_KEYS`` distinct values; other ON shapes
read every file), and reads its source once more to learn the keys (billed once); data files
written by an attempt whose commit failed stay in S3 until VACUUM removes them as orphans; INSERT and CTAS cast the query's columns to the table's types with
Arrow's casts (TYPE_MISMATCH when one cannot be cast), not Trino's coercion rules; an UPDATE of a
partition column moves the row to its new partition (as Athena does) but is not checked further.
"""

from __future__ import annotations

import datetime
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from sqlglot import exp

from local_aws.athena_engine import sandbox
from local_aws.athena_engine.catalog import TableDef
from local_aws.athena_engine.errors import EngineError, Outcome
from local_aws.athena_engine.iceberg import (
    IcebergTables,
    as_trino_error,
    is_iceberg,
    parse_transform,
    to_filter,
)
from local_aws.athena_engine.rewrite import READ_DIALECT, conjuncts, trino_fixups

if TYPE_CHECKING:
    from pyiceberg.table import Table

# Iceberg's defaults: commit.retry.num-retries 4 (five attempts), waits from 100 ms, doubling.
COMMIT_ATTEMPTS = 5
COMMIT_WAIT_SECONDS = 0.1
FILE, POS, ACTION = "__iceberg_file", "__iceberg_pos", "__iceberg_action"
#: The row number of a target row among the touched files' rows (the copy-on-write survivors' anti-join).
ROW = "__iceberg_row"
_TARGET = "__iceberg_target"
MULTIPLE_MATCHES = "One MERGE target table row matched more than one source row"
# A MERGE prunes the target's files by the source's keys (up to this many distinct values): as an
# IN list up to MAX_IN_KEYS of them, as their range beyond.
MAX_PRUNING_KEYS = 1_000_000
MAX_IN_KEYS = 1_000


class IcebergWrites(IcebergTables):
    """INSERT, CTAS, MERGE, UPDATE and DELETE on Iceberg tables."""

    # -- INSERT / CTAS ------------------------------------------------------------------------
    def _insert_iceberg(self, table: TableDef, named: list[str] | None, statement: exp.Insert) -> Outcome:
        label = f"{table.database}.{table.name}"
        names, _, rows = self._rows_of(statement.expression, schema_only=False)  # type: ignore[attr-defined]

        def attempt(tbl: Table) -> int:
            columns = [f.name for f in tbl.schema().fields]
            order = named if named is not None else columns
            unknown = [n for n in order if n not in columns]
            if unknown:
                raise EngineError(
                    "COLUMN_NOT_FOUND", f"Insert column name does not exist in target table: {unknown[0]}"
                )
            if len(names) != len(order):
                raise EngineError(
                    "TYPE_MISMATCH",
                    f"Insert query has {len(names)} columns, target table has {len(order)} columns",
                )
            given = dict(zip(order, rows.columns, strict=True))
            arranged = pa.table(
                [given[c] if c in given else pa.nulls(rows.num_rows) for c in columns], names=columns
            )
            self._rewrite(tbl, [], arranged)
            return rows.num_rows

        return self._written(self._commit(table.database, table.name, label, attempt), "INSERT")  # type: ignore[attr-defined]

    def _ctas_iceberg(
        self, statement: exp.Create, database: str, name: str, props: dict[str, Any]
    ) -> Outcome:
        if str(props.get("is_external", "false")).lower() == "true":
            raise EngineError(
                "NOT_SUPPORTED", "External tables are not supported for Iceberg: set is_external=false"
            )
        fields = [parse_transform(text) for text in _partitioning(statement)]
        location = props.get("location") or props.get("external_location") or ""
        with_data = all(
            not (isinstance(p, exp.WithDataProperty) and p.args.get("no"))
            for p in (statement.args.get("properties") or exp.Properties()).expressions
        )
        _, _, rows = self._rows_of(statement.expression, schema_only=not with_data)  # type: ignore[attr-defined]
        parameters = {k: str(v) for k, v in props.items()}
        self._new_iceberg_table(database, name, rows.schema, fields, location, parameters, statement)

        def attempt(tbl: Table) -> int:
            self._rewrite(tbl, [], rows.rename_columns([f.name for f in tbl.schema().fields]))
            return rows.num_rows

        written = self._commit(database, name, f"{database}.{name}", attempt) if with_data else 0
        return self._written(written, "CREATE_TABLE_AS_SELECT")  # type: ignore[attr-defined]

    # -- commits ------------------------------------------------------------------------------
    def _commit(self, database: str, name: str, label: str, attempt: Callable[[Table], int]) -> int:
        """Run ``attempt`` on the current snapshot; again on a newer one when the commit was stale."""
        from pyiceberg.exceptions import CommitFailedException

        for number in range(COMMIT_ATTEMPTS):
            tbl = self._iceberg_table(database, name)
            try:
                return attempt(tbl)
            except CommitFailedException:
                # Iceberg's own backoff (commit.retry.min-wait-ms 100, doubling), jittered.
                time.sleep(COMMIT_WAIT_SECONDS * 2**number * random.uniform(0.5, 1.5))  # noqa: S311
                continue
            except EngineError:
                raise
            except Exception as error:
                raise as_trino_error(error, label) from error
        raise EngineError("ICEBERG_COMMIT_ERROR", f"Failed to commit Iceberg update to table: {label}")

    def _rewrite(self, tbl: Table, removed: list[Any], rows: pa.Table) -> None:
        """One snapshot: ``removed`` data files replaced by files of ``rows`` (appended when none)."""
        from pyiceberg.io.pyarrow import _dataframe_to_data_files

        if not removed and rows.num_rows == 0:
            return
        schema = tbl.schema().as_arrow()
        try:
            rows = rows.select(schema.names).cast(schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, KeyError) as error:
            raise EngineError(
                "TYPE_MISMATCH",
                f"Insert query has mismatched column types: Table: {schema}, Query: {rows.schema}",
            ) from error
        files = list(_dataframe_to_data_files(tbl.metadata, rows, tbl.io)) if rows.num_rows else []
        self.manifest.extend(f.file_path for f in files)  # type: ignore[attr-defined]
        tx = tbl.transaction()
        producer = tx.update_snapshot().overwrite() if removed else tx.update_snapshot().fast_append()
        with producer as snapshot:
            for data_file in removed:
                snapshot.delete_data_file(data_file)
            for data_file in files:
                snapshot.append_data_file(data_file)
        tx.commit_transaction()

    def _target_rows(self, tbl: Table, row_filter: Any) -> tuple[pa.Table, list[Any]]:
        """The rows of the planned files, each with its file (an index into the list returned) and position."""
        from pyiceberg.io.pyarrow import ArrowScan

        schema = tbl.schema()
        tasks = list(tbl.scan(row_filter=row_filter).plan_files())
        parts = []
        for index, task in enumerate(tasks):
            self._count_scanned(task.file.file_size_in_bytes)
            rows = ArrowScan(tbl.metadata, tbl.io, schema, row_filter_all()).to_table([task])
            rows = rows.append_column(FILE, pa.array(np.full(rows.num_rows, index, dtype=np.int32)))
            parts.append(rows.append_column(POS, pa.array(np.arange(rows.num_rows, dtype=np.int64))))
        if not parts:
            empty = schema.as_arrow().empty_table()
            parts = [
                empty.append_column(FILE, pa.array([], pa.int32())).append_column(
                    POS, pa.array([], pa.int64())
                )
            ]
        return pa.concat_tables(parts), [task.file for task in tasks]

    def _apply_changes(self, tbl: Table, target: pa.Table, files: list[Any], changed: pa.Table) -> int:
        """Replace the files holding changed rows: survivors + updated rows; inserted rows appended.

        ``changed`` has FILE, POS (NULL for an insert), ACTION ('U', 'D', 'I') and the table's columns.
        """
        columns = [f.name for f in tbl.schema().fields]
        touched = changed.filter(pc.is_valid(changed.column(FILE))).select([FILE, POS])
        indexes = pc.unique(touched.column(FILE)).cast(pa.int32())
        in_touched = target.filter(pc.is_in(target.column(FILE), indexes))
        # Arrow joins carry no struct/list columns: anti-join row numbers, then take the rows.
        numbered = pa.table({FILE: in_touched.column(FILE), POS: in_touched.column(POS)})
        numbered = numbered.append_column(ROW, pa.array(range(in_touched.num_rows), pa.int64()))
        kept = numbered.join(touched, keys=[FILE, POS], join_type="left anti").column(ROW)
        survivors = in_touched.take(pc.take(kept, pc.sort_indices(kept))).select(columns)
        written = changed.filter(pc.not_equal(changed.column(ACTION), "D")).select(columns)
        schema = tbl.schema().as_arrow()
        new_rows = pa.concat_tables([survivors.cast(schema), written.cast(schema)])
        self._rewrite(tbl, [files[i] for i in sorted(indexes.to_pylist())], new_rows)
        return changed.num_rows

    # -- MERGE / UPDATE / DELETE ----------------------------------------------------------------
    def _iceberg_target(self, node: exp.Expression, what: str) -> TableDef:
        if not isinstance(node, exp.Table):
            raise EngineError("SYNTAX_ERROR", f"{what} needs a table name")
        table = self.catalog.get_table(node.db or self.database, node.name)
        if table.is_view:
            raise EngineError("NOT_SUPPORTED", f"{what} of a view is not supported")
        if not is_iceberg(table):
            raise EngineError(
                "NOT_SUPPORTED", "Modifying Hive table rows is only supported for transactional tables"
            )
        return table

    def _changes(self, target: pa.Table, query: str) -> pa.Table:
        """Run ``query`` (Trino SQL over the target, registered as ``_TARGET``) through the binder."""
        parsed = sqlglot.parse_one(f'WITH "{_TARGET}" AS (SELECT 1) {query}', read=READ_DIALECT)
        try:  # built from pieces of a statement the gate passed; gated again as the query it now is
            sandbox.check(parsed)
        except sandbox.SandboxError as error:
            raise EngineError(error.code, error.message) from error
        bound = trino_fixups(self._bind(parsed, self.database, ()))
        bound.set("with_", None)
        bound.set("with", None)
        self._con.register(_TARGET, target)
        try:
            result = self._con.sql(bound.sql(dialect="duckdb")).to_arrow_table()
        finally:
            self._con.unregister(_TARGET)
        return result.rename_columns([n.lower() for n in result.column_names])

    def _merge(self, statement: exp.Merge) -> Outcome:
        table = self._iceberg_target(statement.this, "MERGE")
        alias = statement.this.alias_or_name
        source = statement.args["using"].sql(dialect=READ_DIALECT)
        on = statement.args["on"].sql(dialect=READ_DIALECT)
        whens = statement.args["whens"].expressions

        def attempt(tbl: Table) -> int:
            columns = [f.name for f in tbl.schema().fields]
            keys = self._merge_filter(statement.args["on"], alias, source, columns)
            target, files = self._target_rows(tbl, keys)
            select = _merge_select(alias, columns, whens)
            query = f'SELECT {select} FROM "{_TARGET}" AS "{alias}" RIGHT JOIN {source} ON {on}'
            result = self._changes(target, query)
            matched = result.filter(pc.is_valid(result.column(FILE)))
            pairs = matched.group_by([FILE, POS]).aggregate([([], "count_all")])
            if pairs.num_rows and pc.max(pairs.column("count_all")).as_py() > 1:
                raise EngineError("MERGE_TARGET_ROW_MULTIPLE_MATCHES", MULTIPLE_MATCHES)
            changed = result.filter(pc.is_valid(result.column(ACTION)))
            return self._apply_changes(tbl, target, files, changed)

        count = self._commit(table.database, table.name, f"{table.database}.{table.name}", attempt)
        return self._written(count, "MERGE")  # type: ignore[attr-defined]

    def _merge_filter(self, on: exp.Expression, alias: str, source: str, columns: list[str]) -> Any:
        """The target files a MERGE must read: ``target.col = <source expression>`` conjuncts of ON
        become ``col IN (the source's values)``, which scan planning checks against each file's
        partition and column bounds (a file whose keys match no source row cannot change)."""
        from pyiceberg.expressions import (
            AlwaysFalse,
            AlwaysTrue,
            And,
            GreaterThanOrEqual,
            In,
            LessThanOrEqual,
        )

        found: Any = AlwaysTrue()
        for conjunct in conjuncts(on):
            if not isinstance(conjunct, exp.EQ):
                continue
            sides = [conjunct.this, conjunct.expression]
            for mine, other in (sides, sides[::-1]):
                if not (isinstance(mine, exp.Column) and mine.table.lower() == alias.lower()):
                    continue
                if mine.name.lower() not in columns or any(
                    c.table.lower() in ("", alias.lower()) for c in other.find_all(exp.Column)
                ):
                    continue
                values = self._source_keys(other.sql(dialect=READ_DIALECT), source)
                name = mine.name.lower()
                if values is not None and len(values) > MAX_IN_KEYS:
                    # pyiceberg checks an IN list against every file's bounds one value at a time.
                    low, high = min(values), max(values)
                    found = And(found, And(GreaterThanOrEqual(name, low), LessThanOrEqual(name, high)))
                elif values is not None:
                    found = And(found, In(name, values) if values else AlwaysFalse())
                break
        return found

    def _source_keys(self, expression: str, source: str) -> list[Any] | None:
        """The distinct non-NULL values of ``expression`` over the MERGE's source (None: too many, or of a
        type file pruning does not compare: only integers, strings, dates and timestamps are used)."""
        parsed = sqlglot.parse_one(f"SELECT DISTINCT {expression} FROM {source}", read=READ_DIALECT)
        try:
            sandbox.check(parsed)
        except sandbox.SandboxError as error:
            raise EngineError(error.code, error.message) from error
        # Athena reads the source once: this planning read is not billed (or counted) a second time.
        billed, rows_read = self.data_scanned, self.rows_read
        bound = trino_fixups(self._bind(parsed, self.database, ()))
        values = self._con.sql(bound.sql(dialect="duckdb")).to_arrow_table().column(0)
        self.data_scanned, self.rows_read = billed, rows_read
        if len(values) > MAX_PRUNING_KEYS:
            return None
        found = [v for v in values.to_pylist() if v is not None]
        # Keys, and times (a partition column such as day(ts) is pruned by its timestamps too).
        prunable = (int, str, datetime.date)
        return found if all(isinstance(v, prunable) and not isinstance(v, bool) for v in found) else None

    def _update(self, statement: exp.Update) -> Outcome:
        table = self._iceberg_target(statement.this, "UPDATE")
        alias = statement.this.alias_or_name
        where = statement.args.get("where")
        condition = where.this.sql(dialect=READ_DIALECT) if where is not None else "TRUE"
        sets = {e.this.name.lower(): e.expression.sql(dialect=READ_DIALECT) for e in statement.expressions}

        def attempt(tbl: Table) -> int:
            columns = [f.name for f in tbl.schema().fields]
            unknown = [c for c in sets if c not in columns]
            if unknown:
                raise EngineError("COLUMN_NOT_FOUND", f"Column '{unknown[0]}' cannot be resolved")
            target, files = self._target_rows(tbl, self._where_filter(where, columns))
            values = ", ".join(f'{sets.get(c, _q(alias, c))} AS "{c}"' for c in columns)
            query = (
                f'SELECT "{alias}"."{FILE}", "{alias}"."{POS}", \'U\' AS "{ACTION}", {values} '
                f'FROM "{_TARGET}" AS "{alias}" WHERE {condition}'
            )
            return self._apply_changes(tbl, target, files, self._changes(target, query))

        count = self._commit(table.database, table.name, f"{table.database}.{table.name}", attempt)
        return self._written(count, "UPDATE")  # type: ignore[attr-defined]

    def _delete(self, statement: exp.Delete) -> Outcome:
        table = self._iceberg_target(statement.this, "DELETE")
        alias = statement.this.alias_or_name
        where = statement.args.get("where")
        condition = where.this.sql(dialect=READ_DIALECT) if where is not None else "TRUE"

        def attempt(tbl: Table) -> int:
            columns = [f.name for f in tbl.schema().fields]
            target, files = self._target_rows(tbl, self._where_filter(where, columns))
            values = ", ".join(_q(alias, c) for c in columns)
            query = (
                f'SELECT "{alias}"."{FILE}", "{alias}"."{POS}", \'D\' AS "{ACTION}", {values} '
                f'FROM "{_TARGET}" AS "{alias}" WHERE {condition}'
            )
            return self._apply_changes(tbl, target, files, self._changes(target, query))

        count = self._commit(table.database, table.name, f"{table.database}.{table.name}", attempt)
        return self._written(count, "DELETE")  # type: ignore[attr-defined]

    def _where_filter(self, where: exp.Expression | None, columns: list[str]) -> Any:
        """A row filter from a WHERE's conjuncts that name only target columns (files to read)."""
        from pyiceberg.expressions import AlwaysTrue, And

        found: Any = AlwaysTrue()
        if where is None:
            return found
        for conjunct in conjuncts(where.this):
            names = [c.name.lower() for c in conjunct.find_all(exp.Column)]
            if conjunct.find(exp.Select, exp.Subquery) or not names or any(n not in columns for n in names):
                continue
            condition = conjunct.copy()
            for column in condition.find_all(exp.Column):
                column.set("table", None)
            converted = to_filter(condition)
            if converted is not None:
                found = And(found, converted)
        return found


def row_filter_all() -> Any:
    from pyiceberg.expressions import AlwaysTrue

    return AlwaysTrue()


def _q(alias: str, column: str) -> str:
    return f'"{alias}"."{column}"'


def _merge_select(alias: str, columns: list[str], whens: list[exp.When]) -> str:
    """The SELECT list of a MERGE: file, position, the action of the first WHEN that holds, new values."""
    matched, inserts = [], []
    for index, when in enumerate(whens):
        condition = when.args.get("condition")
        test = condition.sql(dialect=READ_DIALECT) if condition is not None else "TRUE"
        then = when.args["then"]
        if when.args.get("matched"):
            if isinstance(then, exp.Update):
                sets = {e.this.name.lower(): e.expression.sql(dialect=READ_DIALECT) for e in then.expressions}
                unknown = [c for c in sets if c not in columns]
                if unknown:
                    raise EngineError("COLUMN_NOT_FOUND", f"Column '{unknown[0]}' cannot be resolved")
                matched.append((test, "U", sets))
            elif isinstance(then, exp.Var) and then.name.upper() == "DELETE":
                matched.append((test, "D", {}))
            else:
                raise EngineError("SYNTAX_ERROR", f"WHEN MATCHED clause {index + 1} must UPDATE or DELETE")
        else:
            if not isinstance(then, exp.Insert):
                raise EngineError("SYNTAX_ERROR", f"WHEN NOT MATCHED clause {index + 1} must INSERT")
            named = [c.name.lower() for c in then.this.expressions] if then.this is not None else columns
            values = [v.sql(dialect=READ_DIALECT) for v in then.expression.expressions]
            if len(named) != len(values) or any(n not in columns for n in named):
                raise EngineError(
                    "SYNTAX_ERROR", "MERGE INSERT must name target columns and give one value for each"
                )
            inserts.append((test, dict(zip(named, values, strict=True))))

    def case(pairs: list[tuple[str, str]], otherwise: str) -> str:
        if not pairs:
            return otherwise
        return "CASE " + " ".join(f"WHEN {t} THEN {v}" for t, v in pairs) + f" ELSE {otherwise} END"

    missing = f'"{alias}"."{FILE}" IS NULL'
    on_match = case([(t, f"'{a}'") for t, a, _ in matched], "NULL")
    on_insert = case([(t, "'I'") for t, _ in inserts], "NULL")
    parts = [
        _q(alias, FILE),
        _q(alias, POS),
        f'CASE WHEN {missing} THEN {on_insert} ELSE {on_match} END AS "{ACTION}"',
    ]
    for column in columns:
        kept = _q(alias, column)
        updated = case([(t, sets.get(column, kept)) for t, _, sets in matched], kept)
        inserted = case([(t, values.get(column, "NULL")) for t, values in inserts], "NULL")
        parts.append(f'CASE WHEN {missing} THEN {inserted} ELSE {updated} END AS "{column}"')
    return ", ".join(parts)


def _partitioning(statement: exp.Create) -> list[str]:
    """A CTAS's ``partitioning = ARRAY['day(ts)', 'region']`` as its strings."""
    for prop in (statement.args.get("properties") or exp.Properties()).expressions:
        if isinstance(prop, exp.Property) and prop.name.lower() == "partitioning":
            value = prop.args.get("value")
            items = value.expressions if isinstance(value, exp.Array) else [value]
            return [
                item.name if isinstance(item, exp.Literal) else item.sql()
                for item in items
                if item is not None
            ]
    return []
