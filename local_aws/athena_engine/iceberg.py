"""Iceberg tables in the embedded Athena: CREATE TABLE, reads (pruned, time travel), metadata tables.

The Iceberg library is pyiceberg, on the Glue catalog local_aws serves: its ``GlueCatalog`` talks to
this server's own endpoint with boto3 (the account's default keys, as local_aws's internal paths
use), so a table is a Glue table of Athena's shape (``TableType`` EXTERNAL_TABLE, ``Parameters``
``table_type=ICEBERG`` and ``metadata_location``) whose metadata, manifests and Parquet data files
are S3 objects written through the same endpoint (journalled like any client's writes). A commit is
Glue's ``UpdateTable`` with the ``VersionId`` read, which `components.glue_table_versions` makes
Glue check, so a stale commit fails and is retried (`iceberg_dml`).

Reads: a reference to an Iceberg table is bound here instead of through `binding._load`. The WHERE
clause's conjuncts on the table's own columns become a pyiceberg row filter; pyiceberg's scan
planning prunes manifests by partition and data files by their column statistics, and only the
planned files are read (pyarrow, through pyiceberg's ``ArrowScan``: schema evolution by field id,
delete files applied). ``DataScannedInBytes`` counts, in the planned files, what Athena bills for
Parquet (`scanned`): the footer and the chunks of the columns the statement reads, from the
manifests' ``column_sizes``; a row-level change (`iceberg_dml`) bills whole files, which it reads.
DuckDB sees one Arrow table the engine registers, never a path. ``FOR VERSION AS OF <snapshot id>`` and ``FOR TIMESTAMP
AS OF <timestamp>`` read that snapshot (with that snapshot's schema); ``"t$snapshots"``,
``"t$history"``, ``"t$files"`` and ``"t$partitions"`` are the metadata tables, with Trino's columns.

LIMITATIONS: the catalog is reached over HTTP as the account's root keys, whoever started the
query (Athena uses the caller's credentials for the table's S3 objects), and only in the default
account; DataScannedInBytes counts every row group of a planned file (Athena skips row groups
whose statistics rule out the WHERE) and a file without ``column_sizes`` whole; a
table's format must be Parquet (ORC and Avro data files are refused); row filters are pushed down
for comparisons of a column with a literal (=, <>, <, <=, >, >=, IN, BETWEEN, IS [NOT] NULL,
joined by AND): anything else is still applied by DuckDB but does not prune; ``t$files`` and
``t$partitions`` carry the columns pyiceberg computes that Trino also has (content, file_path,
file_format, spec_id, partition, record_count, file_size_in_bytes, value/null counts and bounds;
partition, record_count, file_count, total_size), not Trino's ``data`` statistics row; a table
created here is format-version 2 (Athena's default) with pyiceberg's default Parquet compression
(ZSTD, as Athena's default ``write_compression``); CREATE TABLE without LOCATION fails with
HIVE_DATABASE_LOCATION_ERROR whatever the database's location (as Athena was seen to); the messages
for a snapshot id or timestamp with no snapshot, and for a pyiceberg failure (ICEBERG_BAD_DATA), are
our wording.
"""

from __future__ import annotations

import datetime
import re
import threading
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlglot import exp

from local_aws.athena_engine import cache, sandbox, scanned
from local_aws.athena_engine.binding import Binder
from local_aws.athena_engine.catalog import TableDef
from local_aws.athena_engine.errors import EngineError, Outcome
from local_aws.athena_engine.loading import quote_identifier
from local_aws.athena_engine.rewrite import conjuncts

if TYPE_CHECKING:
    from pyiceberg.catalog.glue import GlueCatalog
    from pyiceberg.table import Table

# The keys every internal path of local_aws signs with: the account's own, unrestricted.
_INTERNAL_KEY = "testing"
_CATALOGS: dict[tuple[str, str], Any] = {}
_CATALOGS_LOCK = threading.Lock()
METADATA_TABLES = ("snapshots", "history", "files", "partitions")
_TRANSFORM = re.compile(
    r"^\s*(?:(?P<fn>year|month|day|hour|bucket|truncate)\s*\(\s*(?:(?P<n1>\d+)\s*,\s*)?"
    r"(?P<col>[A-Za-z_][A-Za-z0-9_]*)\s*(?:,\s*(?P<n2>\d+)\s*)?\)|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))\s*$",
    re.I,
)


def is_iceberg(table: TableDef) -> bool:
    return table.parameters.get("table_type", "").upper() == "ICEBERG"


def glue_catalog(world: Any, region: str) -> GlueCatalog:
    """pyiceberg's Glue catalog on this server's endpoint (one per endpoint and region)."""
    from pyiceberg.catalog.glue import GlueCatalog

    endpoint = getattr(world, "endpoint_url", None)
    if not endpoint:
        raise EngineError("NOT_SUPPORTED", "Iceberg tables need local_aws's server running (no endpoint)")
    with _CATALOGS_LOCK:
        found = _CATALOGS.get((endpoint, region))
        if found is None:
            keys = {"access-key-id": _INTERNAL_KEY, "secret-access-key": _INTERNAL_KEY, "region": region}
            properties = {f"glue.{k}": v for k, v in keys.items()}
            properties.update({f"s3.{k}": v for k, v in keys.items()})
            properties.update({"glue.endpoint": endpoint, "s3.endpoint": endpoint})
            properties["s3.force-virtual-addressing"] = "false"
            found = GlueCatalog("awsdatacatalog", **properties)
            _CATALOGS[(endpoint, region)] = found
        return found


def parse_transform(text: str) -> tuple[str, str, int | None]:
    """``day(ts)``, ``bucket(16, id)``, ``region`` -> (transform, column, parameter)."""
    match = _TRANSFORM.match(text)
    if match is None:
        raise EngineError("INVALID_TABLE_PROPERTY", f"Unable to parse partitioning value: {text}")
    if match.group("plain"):
        return "identity", match.group("plain").lower(), None
    number = match.group("n1") or match.group("n2")
    fn = match.group("fn").lower()
    if fn in ("bucket", "truncate") and number is None:
        raise EngineError("INVALID_TABLE_PROPERTY", f"Unable to parse partitioning value: {text}")
    return fn, match.group("col").lower(), int(number) if number else None


def transform_of_node(node: exp.Expression) -> tuple[str, str, int | None]:
    """A PARTITIONED BY item as sqlglot parsed it (``Day(...)``, ``PartitionedByBucket`` ...)."""
    if isinstance(node, (exp.Identifier, exp.Column)):
        return "identity", node.name.lower(), None
    columns = [c.name.lower() for c in node.find_all(exp.Column)]
    if not columns:
        raise EngineError("INVALID_TABLE_PROPERTY", f"Unable to parse partitioning value: {node.sql()}")
    if isinstance(node, (exp.PartitionedByBucket, exp.PartitionByTruncate)):
        size = node.args.get("expression")
        fn = "bucket" if isinstance(node, exp.PartitionedByBucket) else "truncate"
        return fn, columns[0], int(size.name) if size is not None else None
    fn = type(node).__name__.lower()
    if fn not in ("year", "month", "day", "hour"):
        raise EngineError("INVALID_TABLE_PROPERTY", f"Unable to parse partitioning value: {node.sql()}")
    return fn, columns[0], None


def partition_spec(schema: Any, fields: list[tuple[str, str, int | None]]) -> Any:
    """An Iceberg partition spec from (transform, column, parameter) triples, bound to ``schema``."""
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.transforms import (
        BucketTransform,
        DayTransform,
        HourTransform,
        IdentityTransform,
        MonthTransform,
        TruncateTransform,
        YearTransform,
    )

    simple = {"identity": IdentityTransform, "year": YearTransform, "month": MonthTransform}
    simple.update({"day": DayTransform, "hour": HourTransform})
    built = []
    for number, (fn, column, size) in enumerate(fields):
        try:
            source = schema.find_field(column)
        except ValueError as error:
            raise EngineError(
                "COLUMN_NOT_FOUND", f"Column '{column}' specified in partitioning does not exist"
            ) from error
        if fn == "bucket":
            transform: Any = BucketTransform(size)
        elif fn == "truncate":
            transform = TruncateTransform(size)
        else:
            transform = simple[fn]()
        name = column if fn == "identity" else f"{column}_{fn}"
        built.append(PartitionField(source.field_id, 1000 + number, transform, name))
    return PartitionSpec(*built)


def to_filter(condition: exp.Expression) -> Any | None:
    """A pyiceberg row filter for one conjunct (columns unqualified), or None when it cannot be one."""
    from pyiceberg import expressions as ie

    def literal(node: exp.Expression) -> Any:
        if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal):
            node = node.this
        if isinstance(node, exp.Literal):
            if node.is_string:
                return node.name.replace(" ", "T", 1) if _looks_like_timestamp(node.name) else node.name
            return float(node.name) if any(c in node.name for c in ".eE") else int(node.name)
        if isinstance(node, exp.Boolean):
            return bool(node.this)
        raise ValueError("not a literal")

    compare = {exp.EQ: ie.EqualTo, exp.NEQ: ie.NotEqualTo, exp.GT: ie.GreaterThan}
    compare.update({exp.GTE: ie.GreaterThanOrEqual, exp.LT: ie.LessThan, exp.LTE: ie.LessThanOrEqual})
    flipped = {exp.GT: ie.LessThan, exp.GTE: ie.LessThanOrEqual, exp.LT: ie.GreaterThan}
    flipped.update({exp.LTE: ie.GreaterThanOrEqual, exp.EQ: ie.EqualTo, exp.NEQ: ie.NotEqualTo})
    try:
        if isinstance(condition, exp.Paren):
            return to_filter(condition.this)
        if isinstance(condition, exp.And):
            left, right = to_filter(condition.this), to_filter(condition.expression)
            return ie.And(left, right) if left is not None and right is not None else left or right
        kind = type(condition)
        if kind in compare and isinstance(condition.this, exp.Column):
            return compare[kind](condition.this.name.lower(), literal(condition.expression))
        if kind in flipped and isinstance(condition.expression, exp.Column):
            return flipped[kind](condition.expression.name.lower(), literal(condition.this))
        if isinstance(condition, exp.In) and isinstance(condition.this, exp.Column):
            if condition.args.get("query") is not None:
                return None
            return ie.In(condition.this.name.lower(), [literal(v) for v in condition.expressions])
        if isinstance(condition, exp.Between) and isinstance(condition.this, exp.Column):
            name = condition.this.name.lower()
            low, high = literal(condition.args["low"]), literal(condition.args["high"])
            return ie.And(ie.GreaterThanOrEqual(name, low), ie.LessThanOrEqual(name, high))
        is_column = isinstance(condition, exp.Is) and isinstance(condition.this, exp.Column)
        if is_column and isinstance(condition.expression, exp.Null):
            return ie.IsNull(condition.this.name.lower())
        if isinstance(condition, exp.Not) and isinstance(condition.this, exp.Is):
            inner = condition.this
            if isinstance(inner.this, exp.Column) and isinstance(inner.expression, exp.Null):
                return ie.NotNull(inner.this.name.lower())
    except (ValueError, TypeError):
        return None
    return None


def _looks_like_timestamp(text: str) -> bool:
    return bool(re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}", text))


def billed_bytes(data_file: Any, schema: Any, columns: frozenset[str] | None) -> int:
    """A data file's bytes as Athena bills Parquet (`scanned`): its footer and the chunks of ``columns``.

    The manifest's ``column_sizes`` (compressed bytes per leaf field id) say what each column's chunks
    take; the rest of the file is its footer and magic numbers. ``columns`` None: every column.
    """
    sizes = dict(data_file.column_sizes or {})
    if columns is None or not sizes:
        return int(data_file.file_size_in_bytes)
    overhead = int(data_file.file_size_in_bytes) - sum(sizes.values())
    wanted = 0
    for field_id, size in sizes.items():
        name = schema.find_column_name(field_id)
        if name is not None and name.split(".", 1)[0].lower() in columns:
            wanted += size
    return max(overhead, 0) + wanted


def as_trino_error(error: Exception, table: str) -> EngineError:
    """A pyiceberg failure in Athena's words."""
    from pyiceberg.exceptions import CommitFailedException, NoSuchTableError

    if isinstance(error, EngineError):
        return error
    if isinstance(error, NoSuchTableError):
        return EngineError("TABLE_NOT_FOUND", f"Table 'awsdatacatalog.{table}' does not exist")
    if isinstance(error, CommitFailedException):
        return EngineError("ICEBERG_COMMIT_ERROR", f"Failed to commit Iceberg update to table: {table}")
    return EngineError("ICEBERG_BAD_DATA", f"{type(error).__name__}: {str(error).splitlines()[0][:300]}")


class IcebergTables(Binder):
    """CREATE TABLE ... 'table_type'='ICEBERG', and every read of an Iceberg table."""

    def _iceberg(self) -> GlueCatalog:
        from local_aws.world import DEFAULT_ACCOUNT_ID

        # The internal keys are the default account's: another account's catalog would be the wrong one.
        if self.catalog.account_id != DEFAULT_ACCOUNT_ID:
            raise EngineError(
                "NOT_SUPPORTED",
                f"Iceberg tables are supported in account {DEFAULT_ACCOUNT_ID} only by local_aws",
            )
        return glue_catalog(self.catalog.world, self.catalog.region)

    def _iceberg_table(self, database: str, name: str) -> Table:
        try:
            return self._iceberg().load_table(f"{database.lower()}.{name.lower()}")
        except Exception as error:  # pyiceberg's NoSuchTableError, a bad metadata file
            raise as_trino_error(error, f"{database.lower()}.{name.lower()}") from error

    def _show_create(self, kind: str, table: TableDef) -> Outcome:
        """SHOW CREATE TABLE of an Iceberg table is Athena's Iceberg DDL (`iceberg_show`), not Hive's."""
        if kind != "TABLE" or not is_iceberg(table):
            return super()._show_create(kind, table)  # type: ignore[misc]
        from local_aws.athena_engine.ddl import text_column
        from local_aws.athena_engine.iceberg_show import show_create_lines

        tbl = self._iceberg_table(table.database, table.name)
        lines = show_create_lines(table.database.lower(), table.name.lower(), tbl)
        return Outcome("UTILITY", "SHOW_CREATE_TABLE", [text_column("createtab_stmt")], [[x] for x in lines])

    # -- CREATE TABLE -------------------------------------------------------------------------
    def _create_iceberg(
        self, statement: exp.Create, parameters: dict[str, str], location: str, columns: list[exp.ColumnDef]
    ) -> Outcome:
        target = statement.this.this if isinstance(statement.this, exp.Schema) else statement.this
        database, name = (target.db or self.database).lower(), target.name.lower()
        fmt = parameters.get("format", "parquet").lower()
        if fmt != "parquet":
            raise EngineError("NOT_SUPPORTED", f"Iceberg format '{fmt}' is not supported by local_aws")
        if not location:
            raise EngineError(
                "HIVE_DATABASE_LOCATION_ERROR",
                f"Schema '{database}' location cannot be determined. Either set the 'location' property when "
                "creating the schema, or set the 'hive.metastore.glue.default-warehouse-dir' catalog property.",
            )
        fields = []
        for prop in (statement.args.get("properties") or exp.Properties()).expressions:
            if isinstance(prop, exp.PartitionedByProperty):
                fields = [transform_of_node(e) for e in prop.this.expressions]
        arrow = self._arrow_schema([(c.name.lower(), c.args["kind"].sql(dialect="duckdb")) for c in columns])
        return self._new_iceberg_table(database, name, arrow, fields, location, parameters, statement)

    def _arrow_schema(self, columns: list[tuple[str, str]]) -> pa.Schema:
        """The Arrow schema of (name, DuckDB type) columns, as DuckDB itself maps the types."""
        selects = ", ".join(f"CAST(NULL AS {t}) AS {quote_identifier(n)}" for n, t in columns)
        # ALTER TABLE runs before the statement's connection exists: a cursor of its own then.
        con = self._con if self._con is not None else cache.connect()
        try:
            return con.sql(f"SELECT {selects}").limit(0).to_arrow_table().schema
        except Exception as error:  # duckdb's parser or binder: a type it does not know
            raise EngineError("NOT_SUPPORTED", f"Unknown type in column list: {error}") from error
        finally:
            if con is not self._con:
                con.close()

    def _new_iceberg_table(
        self,
        database: str,
        name: str,
        arrow: pa.Schema,
        fields: list[tuple[str, str, int | None]],
        location: str,
        parameters: dict[str, str],
        statement: exp.Create,
    ) -> Outcome:
        from pyiceberg.catalog import Catalog as IcebergCatalog
        from pyiceberg.exceptions import TableAlreadyExistsError
        from pyiceberg.schema import assign_fresh_schema_ids

        from local_aws.athena_engine.writes import _table_exists

        if _table_exists(self, database, name):
            if statement.args.get("exists"):
                return Outcome("DDL", "CREATE_TABLE")
            raise EngineError("ALREADY_EXISTS", f"Table 'awsdatacatalog.{database}.{name}' already exists")
        schema = assign_fresh_schema_ids(IcebergCatalog._convert_schema_if_needed(arrow))
        spec = partition_spec(schema, fields)
        properties = {"write.format.default": "parquet", "format-version": "2"}
        for key in ("vacuum_max_snapshot_age_seconds", "vacuum_min_snapshots_to_retain"):
            if key in parameters:
                properties[key] = parameters[key]
        try:
            self._iceberg().create_table(
                f"{database}.{name}", schema, location=location.rstrip("/"), partition_spec=spec,
                properties=properties,
            )  # fmt: skip
        except TableAlreadyExistsError as error:
            raise EngineError(
                "ALREADY_EXISTS", f"Table 'awsdatacatalog.{database}.{name}' already exists"
            ) from error
        except Exception as error:
            raise as_trino_error(error, f"{database}.{name}") from error
        return Outcome("DDL", "CREATE_TABLE")

    # -- reads --------------------------------------------------------------------------------
    def _bind(
        self,
        statement: exp.Expression,
        database: str,
        stack: tuple[str, ...],
        billed: exp.Expression | None = None,
    ) -> exp.Expression:
        """Bind Iceberg tables (and their ``"t$..."`` metadata tables) here, then the rest as `Binder` does."""
        bound: list[tuple[exp.Expression, exp.Table]] = []
        # The columns Parquet bills, as `Binder._bind` works them out (it does again, to the same set).
        self._columns_read = scanned.columns_read(statement if billed is None else billed, self._columns_read)
        for node in list(statement.find_all(exp.Table)):
            if not isinstance(node.this, exp.Identifier) or sandbox.is_cte_reference(node):
                continue
            if node.catalog and node.catalog.lower() != "awsdatacatalog":
                continue  # `Binder` names the unknown catalog
            duck_name = self._bind_iceberg_reference(node, node.db or database)
            if duck_name is not None:
                alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(node.name))
                relation = exp.Table(this=exp.to_identifier(duck_name, quoted=True), alias=alias)
                # Held out of the tree while `Binder` binds the rest: it would look the name up in Glue.
                placeholder = exp.Var(this=duck_name)
                node.replace(placeholder)
                bound.append((placeholder, relation))
        statement = super()._bind(statement, database, stack, billed)
        for placeholder, relation in bound:
            placeholder.replace(relation)
        return statement

    def _bind_iceberg_reference(self, node: exp.Table, database: str) -> str | None:
        if "$" in node.name and self._table_type(database, node.name) is None:
            return self._bind_metadata_table(node, database)
        if (self._table_type(database, node.name) or "").upper() != "ICEBERG":
            return None
        return self._bind_iceberg(node, self.catalog.get_table(database, node.name))

    def _table_type(self, database: str, name: str) -> str | None:
        """The Glue table's ``table_type`` parameter ("" for none); None when there is no such table."""
        world = self.catalog.world
        with world.lock:
            glue = world.backend("glue", self.catalog.account_id, self.catalog.region)
            db = next((d for n, d in glue.databases.items() if n.lower() == database.lower()), None)
            tables = db.tables if db is not None else {}
            table = next((t for n, t in tables.items() if n.lower() == name.lower()), None)
            if table is None:
                return None
            return str(
                (table.get_version(str(table._current_version)).get("Parameters") or {}).get("table_type", "")
            )

    def _bind_iceberg(self, node: exp.Table, table: TableDef) -> str:
        """Read the snapshot a reference asks for (pruned by its WHERE) into a registered Arrow table."""
        tbl = self._iceberg_table(table.database, table.name)
        snapshot_id = self._snapshot_for(node, tbl, f"{table.database}.{table.name}")
        rows = self._scan(tbl, snapshot_id, self._row_filter(node, tbl))
        return self._register(rows, table.name)

    def _register(self, rows: pa.Table, name: str) -> str:
        duck_name = self._duck_name("iceberg", name)
        self._con.register(duck_name, rows)
        return duck_name

    def _snapshot_for(self, node: exp.Table, tbl: Table, label: str) -> int | None:
        version = node.args.get("version")
        if version is None:
            return None
        node.set("version", None)
        kind = str(version.this).upper()
        value = version.expression
        if kind == "VERSION":
            try:
                found = self._con.execute(f"SELECT CAST({value.sql(dialect='duckdb')} AS BIGINT)").fetchall()
                snapshot_id = int(found[0][0])
            except Exception as error:
                raise EngineError(
                    "TYPE_MISMATCH", "Unsupported type for table version: expected bigint"
                ) from error
            if tbl.metadata.snapshot_by_id(snapshot_id) is None:
                raise EngineError("INVALID_ARGUMENT", f"Iceberg snapshot ID does not exists: {snapshot_id}")
            return snapshot_id
        try:
            moment = self._con.execute(
                f"SELECT epoch_ms(CAST({value.sql(dialect='duckdb')} AS TIMESTAMPTZ))"
            ).fetchall()[0][0]
        except Exception as error:
            raise EngineError(
                "TYPE_MISMATCH", "Type of FOR TIMESTAMP AS OF must be a timestamp with time zone"
            ) from error
        snapshot = tbl.snapshot_as_of_timestamp(int(moment))
        if snapshot is None:
            when = datetime.datetime.fromtimestamp(moment / 1000, datetime.UTC).isoformat()
            raise EngineError("INVALID_ARGUMENT", f"No version history table {label} at or before {when}")
        return snapshot.snapshot_id

    def _row_filter(self, node: exp.Table, tbl: Table) -> Any:
        """The conjuncts of the reference's WHERE that name only its own columns, as a row filter."""
        from pyiceberg.expressions import AlwaysTrue, And

        select = node.parent.parent if node.parent is not None else None
        if self._schema_only or not isinstance(select, exp.Select) or not isinstance(node.parent, exp.From):
            return AlwaysTrue()
        where = select.args.get("where")
        if where is None or select.args.get("joins"):
            return AlwaysTrue()
        names = {f.name.lower() for f in tbl.schema().fields}
        found: Any = AlwaysTrue()
        for conjunct in conjuncts(where.this):
            if conjunct.find(exp.Select, exp.Subquery):
                continue
            columns = list(conjunct.find_all(exp.Column))
            if not columns or any(c.name.lower() not in names for c in columns):
                continue
            condition = conjunct.copy()
            for column in condition.find_all(exp.Column):
                column.set("table", None)
            converted = to_filter(condition)
            if converted is not None:
                found = And(found, converted)
        return found

    def _scan(self, tbl: Table, snapshot_id: int | None, row_filter: Any) -> pa.Table:
        """The rows of a snapshot that the filter may keep, reading only the files planning keeps."""
        from pyiceberg.io.pyarrow import ArrowScan, schema_to_pyarrow

        snapshot = (
            tbl.metadata.snapshot_by_id(snapshot_id) if snapshot_id is not None else tbl.current_snapshot()
        )
        schema = (
            tbl.metadata.schema_by_id(snapshot.schema_id)
            if snapshot and snapshot.schema_id is not None
            else None
        )
        schema = schema or tbl.schema()
        if self._schema_only or snapshot is None:
            return schema_to_pyarrow(schema, include_field_ids=False).empty_table()
        try:
            tasks = list(tbl.scan(row_filter=row_filter, snapshot_id=snapshot.snapshot_id).plan_files())
            for task in tasks:
                if task.file.file_format.name != "PARQUET":
                    raise EngineError(
                        "NOT_SUPPORTED", f"Iceberg data file format {task.file.file_format.name}"
                    )
                deletes = sum(d.file_size_in_bytes for d in task.delete_files)
                self._count_scanned(billed_bytes(task.file, schema, self._columns_read) + deletes)
            if self.cancelled.is_set():
                raise EngineError("USER_CANCELLED", "Query cancelled by user")
            rows = ArrowScan(tbl.metadata, tbl.io, schema, row_filter).to_table(tasks)
            self.rows_read += rows.num_rows
        except EngineError:
            raise
        except Exception as error:
            raise as_trino_error(error, tbl.name()[-1]) from error
        return rows.rename_columns([n.lower() for n in rows.column_names])

    # -- metadata tables ----------------------------------------------------------------------
    def _bind_metadata_table(self, node: exp.Table, database: str) -> str | None:
        """``"t$snapshots"`` and friends; None when the name is no metadata table's."""
        base, _, kind = node.name.rpartition("$")
        if not base or kind.lower() not in METADATA_TABLES:
            return None
        table = self.catalog.get_table(node.db or database, base)
        if not is_iceberg(table):
            raise EngineError(
                "TABLE_NOT_FOUND", f"Table 'awsdatacatalog.{table.database}.{node.name}' does not exist"
            )
        tbl = self._iceberg_table(table.database, table.name)
        rows = metadata_rows(tbl, kind.lower())
        return self._register(rows, f"{base}_{kind}")


def metadata_rows(tbl: Table, kind: str) -> pa.Table:
    """One of Trino's Iceberg metadata tables, from pyiceberg's inspection of the table."""
    inspect = tbl.inspect
    if kind == "snapshots":
        return inspect.snapshots().select(
            ["committed_at", "snapshot_id", "parent_id", "operation", "manifest_list", "summary"]
        )
    if kind == "history":
        return inspect.history().select(
            ["made_current_at", "snapshot_id", "parent_id", "is_current_ancestor"]
        )
    if kind == "files":
        files = inspect.files()
        wanted = [
            "content", "file_path", "file_format", "spec_id", "partition", "record_count", "file_size_in_bytes",
            "value_counts", "null_value_counts", "lower_bounds", "upper_bounds",
        ]  # fmt: skip
        return files.select([c for c in wanted if c in files.column_names])
    partitions = inspect.partitions()
    columns = {"record_count": "record_count", "file_count": "file_count"}
    columns["total_data_file_size_in_bytes"] = "total_size"
    picked = [c for c in ["partition", *columns] if c in partitions.column_names]
    rows = partitions.select(picked)
    return rows.rename_columns([columns.get(c, c) for c in picked])
