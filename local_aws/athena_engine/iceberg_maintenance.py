"""Iceberg table maintenance: OPTIMIZE ... REWRITE DATA USING BIN_PACK, VACUUM, ADD COLUMNS, DROP TABLE.

OPTIMIZE t REWRITE DATA USING BIN_PACK [WHERE predicate] plans the files the predicate may touch
(pruned as a SELECT is) and, in every partition where they are more than one file or carry delete
files, rewrites them into as few files as the table's target file size allows, in one ``replace``
of the data (an ``overwrite`` snapshot; the rows are unchanged). VACUUM t expires the snapshots
older than the table property ``vacuum_max_snapshot_age_seconds`` (default 432000, five days, as
Athena's), keeping the current one and at least ``vacuum_min_snapshots_to_retain`` (default 1),
then deletes the objects under the table's location that no remaining snapshot or metadata file
references (orphans) and that are older than the same age, so a write under way is never removed.
DROP TABLE of an Iceberg table deletes its data and metadata files with the Glue table (Athena
treats Iceberg tables as managed tables). ALTER TABLE t ADD COLUMNS (...) evolves the Iceberg schema (new field ids; old files read the new
columns as NULL); Glue's column list follows, as pyiceberg's Glue catalog writes it. Each statement
is read by its own small grammar (sqlglot reads OPTIMIZE and VACUUM only as opaque commands); a
WHERE predicate is parsed and passes `sandbox.check` as part of a SELECT before it is used.

LIMITATIONS: BIN_PACK picks partitions by file count, not Athena's size thresholds
(``optimize_rewrite_min_data_file_size_bytes`` and friends are not read); a WHERE that is not a
comparison of columns with literals does not narrow the files rewritten (all planned files are);
VACUUM deletes orphans through the S3 endpoint one object at a time; ALTER TABLE on an Iceberg
table supports ADD COLUMNS only (DROP / CHANGE / RENAME COLUMN are NOT_SUPPORTED).
"""

from __future__ import annotations

import datetime
import re
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from local_aws.athena_engine import sandbox
from local_aws.athena_engine.alter import _ALTER, _COLUMNS
from local_aws.athena_engine.errors import EngineError, Outcome
from local_aws.athena_engine.iceberg import as_trino_error, is_iceberg
from local_aws.athena_engine.iceberg_dml import IcebergWrites
from local_aws.athena_engine.rewrite import READ_DIALECT

if TYPE_CHECKING:
    from pyiceberg.table import Table

_NAME = r"(?P<name>(?:\"[^\"]+\"|`[^`]+`|[A-Za-z0-9_]+)(?:\s*\.\s*(?:\"[^\"]+\"|`[^`]+`|[A-Za-z0-9_]+))*)"
_LEAD = r"^\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*)*"
_OPTIMIZE = re.compile(
    rf"{_LEAD}OPTIMIZE\s+{_NAME}\s+REWRITE\s+DATA\s+USING\s+BIN_PACK(?:\s+WHERE\s+(?P<where>.*?))?\s*;?\s*$",
    re.I | re.S,
)
_VACUUM = re.compile(rf"{_LEAD}VACUUM\s+{_NAME}\s*;?\s*$", re.I | re.S)
_MAINTENANCE = re.compile(rf"{_LEAD}(OPTIMIZE|VACUUM)\b", re.I | re.S)
DEFAULT_MAX_SNAPSHOT_AGE_SECONDS = 432000
DEFAULT_MIN_SNAPSHOTS_TO_RETAIN = 1


def is_maintenance(sql: str) -> bool:
    return _MAINTENANCE.match(sql) is not None


class IcebergMaintenance(IcebergWrites):
    """OPTIMIZE, VACUUM and schema evolution of Iceberg tables."""

    def _iceberg_maintenance(self, sql: str) -> Outcome:
        optimize = _OPTIMIZE.match(sql)
        if optimize:
            return self._optimize(optimize.group("name"), optimize.group("where"))
        vacuum = _VACUUM.match(sql)
        if vacuum:
            return self._vacuum(vacuum.group("name"))
        word = _MAINTENANCE.match(sql).group(1).upper()  # type: ignore[union-attr]
        expected = (
            "OPTIMIZE <table> REWRITE DATA USING BIN_PACK [WHERE <predicate>]"
            if word == "OPTIMIZE"
            else "VACUUM <table>"
        )
        raise EngineError("SYNTAX_ERROR", f"line 1:1: {word} needs the form {expected}")

    def _named_iceberg(self, text: str, what: str) -> Any:
        table = self._table_named(text)  # type: ignore[attr-defined]
        if not is_iceberg(table):
            raise EngineError("NOT_SUPPORTED", f"{what} is supported only for Iceberg tables")
        return table

    # -- OPTIMIZE -------------------------------------------------------------------------------
    def _optimize(self, name: str, where_text: str | None) -> Outcome:
        table = self._named_iceberg(name, "OPTIMIZE")
        where = None
        if where_text:
            try:
                parsed = sqlglot.parse_one(f'SELECT * FROM "t" WHERE {where_text}', read=READ_DIALECT)
            except sqlglot.errors.SqlglotError as error:
                raise EngineError("SYNTAX_ERROR", f"line 1:1: {str(error).splitlines()[0]}") from error
            try:
                sandbox.check(parsed, where_text)
            except sandbox.SandboxError as error:
                raise EngineError(error.code, error.message) from error
            where = parsed.args.get("where")

        def attempt(tbl: Table) -> int:
            from pyiceberg.io.pyarrow import ArrowScan

            columns = [f.name for f in tbl.schema().fields]
            unknown = [
                c.name
                for c in (where.find_all(exp.Column) if where is not None else [])
                if c.name.lower() not in columns
            ]
            if unknown:
                raise EngineError("COLUMN_NOT_FOUND", f"Column '{unknown[0]}' cannot be resolved")
            groups: dict[tuple[Any, ...], list[Any]] = {}
            for task in tbl.scan(row_filter=self._where_filter(where, columns)).plan_files():
                key = (task.file.spec_id, tuple(task.file.partition))
                groups.setdefault(key, []).append(task)
            chosen = [
                t
                for tasks in groups.values()
                if len(tasks) > 1 or any(t.delete_files for t in tasks)
                for t in tasks
            ]
            if not chosen:
                return 0
            for task in chosen:
                self._count_scanned(task.file.file_size_in_bytes)
            rows = ArrowScan(tbl.metadata, tbl.io, tbl.schema(), _always()).to_table(chosen)
            self._rewrite(tbl, [t.file for t in chosen], rows)
            return rows.num_rows

        self._commit(table.database, table.name, f"{table.database}.{table.name}", attempt)
        return Outcome("DDL", "OPTIMIZE")

    # -- VACUUM ---------------------------------------------------------------------------------
    def _vacuum(self, name: str) -> Outcome:
        table = self._named_iceberg(name, "VACUUM")
        label = f"{table.database}.{table.name}"

        def attempt(tbl: Table) -> int:
            age = _int_property(tbl, "vacuum_max_snapshot_age_seconds", DEFAULT_MAX_SNAPSHOT_AGE_SECONDS)
            keep = max(
                1, _int_property(tbl, "vacuum_min_snapshots_to_retain", DEFAULT_MIN_SNAPSHOTS_TO_RETAIN)
            )
            cutoff_ms = int(datetime.datetime.now(datetime.UTC).timestamp() * 1000) - age * 1000
            current = tbl.current_snapshot()
            newest = sorted(tbl.snapshots(), key=lambda s: s.timestamp_ms, reverse=True)
            protected = {s.snapshot_id for s in newest[:keep]} | ({current.snapshot_id} if current else set())
            expired = [
                s.snapshot_id for s in newest if s.timestamp_ms < cutoff_ms and s.snapshot_id not in protected
            ]
            if expired:
                tbl.maintenance.expire_snapshots().by_ids(expired).commit()
            return len(expired)

        self._commit(table.database, table.name, label, attempt)
        tbl = self._iceberg_table(table.database, table.name)
        age = _int_property(tbl, "vacuum_max_snapshot_age_seconds", DEFAULT_MAX_SNAPSHOT_AGE_SECONDS)
        self._remove_orphans(tbl, age)
        return Outcome("DDL", "VACUUM")

    def _remove_orphans(self, tbl: Table, age_seconds: int) -> int:
        """Delete objects under the table's location that no metadata reaches, older than the age."""
        reachable = _reachable(tbl)
        cutoff = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=age_seconds)
        removed = 0
        for uri, modified in self._objects_under(tbl.metadata.location):
            if uri not in reachable and not uri.endswith("/") and modified <= cutoff:
                tbl.io.delete(uri)
                removed += 1
        return removed

    def _objects_under(self, location: str) -> list[tuple[str, datetime.datetime]]:
        from local_aws.athena_engine.catalog import split_s3_uri

        bucket, prefix = split_s3_uri(location.rstrip("/") + "/")
        world = self.catalog.world
        with world.lock:
            s3 = world.backend("s3", self.catalog.account_id, self.catalog.region)
            keys = s3.get_bucket(bucket).keys
            found = [
                (f"s3://{bucket}/{name}", key.last_modified)
                for name, key in keys.items()
                if name.startswith(prefix) and hasattr(key, "last_modified")
            ]
        return [(uri, _aware(modified)) for uri, modified in found]

    # -- ALTER TABLE ADD COLUMNS ----------------------------------------------------------------
    def _alter_table(self, sql: str) -> Outcome:
        match = _ALTER.match(sql)
        table = self._table_named(match.group("name")) if match else None  # type: ignore[attr-defined]
        if table is None or not is_iceberg(table):
            return super()._alter_table(sql)  # type: ignore[misc]
        columns = _COLUMNS.match(match.group("action"))  # type: ignore[union-attr]
        if columns is None or columns.group("how").upper() != "ADD":
            action = match.group("action").split()[0].upper() if match.group("action") else ""  # type: ignore[union-attr]
            raise EngineError(
                "NOT_SUPPORTED", f"ALTER TABLE {action} of an Iceberg table is not supported by local_aws"
            )
        try:
            parsed = sqlglot.parse_one(f"CREATE TABLE t ({columns.group('defs')})", read=READ_DIALECT)
        except sqlglot.errors.SqlglotError as error:
            raise EngineError("SYNTAX_ERROR", f"line 1:1: {str(error).splitlines()[0]}") from error
        defs = [c for c in parsed.this.expressions if isinstance(c, exp.ColumnDef)]
        arrow = self._arrow_schema([(c.name.lower(), c.args["kind"].sql(dialect="duckdb")) for c in defs])

        def attempt(tbl: Table) -> int:
            from pyiceberg.catalog import Catalog as IcebergCatalog

            existing = {f.name for f in tbl.schema().fields}
            clash = [n for n in arrow.names if n in existing]
            if clash:
                raise EngineError("COLUMN_ALREADY_EXISTS", f"Column '{clash[0]}' already exists")
            added = IcebergCatalog._convert_schema_if_needed(arrow)
            with tbl.update_schema() as update:
                for field in added.fields:
                    update.add_column(field.name, field.field_type)
            return len(added.fields)

        self._commit(table.database, table.name, f"{table.database}.{table.name}", attempt)
        return Outcome("DDL", "ALTER_TABLE_ADD_COLUMNS")

    # -- DROP TABLE -------------------------------------------------------------------------------
    def _drop(self, statement: exp.Drop) -> Outcome:
        """DROP TABLE of an Iceberg table removes its data too: Athena treats Iceberg tables as managed."""
        target = (statement.args.get("tables") or [statement.this])[0]
        kind = (statement.args.get("kind") or "").upper()
        if kind == "TABLE" and isinstance(target, exp.Table):
            database = (target.db or self.database).lower()
            if (self._table_type(database, target.name) or "").upper() == "ICEBERG":
                label = f"{database}.{target.name.lower()}"
                try:
                    tbl = self._iceberg_table(database, target.name)
                    files = _reachable(tbl, live_only=False)
                    self._iceberg().drop_table(label)
                    for uri in sorted(files):
                        tbl.io.delete(uri)
                except EngineError:
                    raise
                except Exception as error:
                    raise as_trino_error(error, label) from error
                return Outcome("DDL", "DROP_TABLE")
        return super()._drop(statement)  # type: ignore[misc]


def _always() -> Any:
    from pyiceberg.expressions import AlwaysTrue

    return AlwaysTrue()


def _int_property(tbl: Table, key: str, default: int) -> int:
    try:
        return int(tbl.properties.get(key, default))
    except (TypeError, ValueError):
        return default


def _aware(moment: Any) -> datetime.datetime:
    if isinstance(moment, str):
        moment = datetime.datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def _reachable(tbl: Table, live_only: bool = True) -> set[str]:
    """Every object the table's metadata reaches: metadata files, manifest lists, manifests, live data.

    A data file a retained snapshot marks DELETED is not live in it: once the snapshots that read it
    are expired, nothing needs it (Iceberg's expiry deletes such files; pyiceberg's does not).
    ``live_only`` False: those too (every file the table ever wrote that its metadata still names).
    """
    io, metadata = tbl.io, tbl.metadata
    found = {tbl.metadata_location, *(entry.metadata_file for entry in metadata.metadata_log)}
    found |= {s.statistics_path for s in metadata.statistics}
    for snapshot in metadata.snapshots:
        found.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(io):
            found.add(manifest.manifest_path)
            for entry in manifest.fetch_manifest_entry(io, discard_deleted=live_only):
                found.add(entry.data_file.file_path)
    return found
