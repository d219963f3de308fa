"""DDL and catalog utilities: CREATE [OR REPLACE] VIEW, DROP VIEW/TABLE, CREATE EXTERNAL TABLE,
SHOW TABLES / DATABASES / SCHEMAS / PARTITIONS / COLUMNS, DESCRIBE, all answered from the Glue catalog.

Views are stored the way Athena stores them (VIRTUAL_VIEW, a base64 "Presto View" in
ViewOriginalText); CREATE EXTERNAL TABLE and DROP TABLE change only the catalog, as Athena does for
external tables.

Also CREATE DATABASE / DROP DATABASE [CASCADE], SHOW CREATE TABLE / VIEW and SHOW TBLPROPERTIES.
CREATE TABLE with ``table_type='ICEBERG'`` makes an Iceberg table (`iceberg`, through pyiceberg).

LIMITATIONS: SHOW and DESCRIBE answer in Hive's plain-text layout without comments (DESCRIBE's
ColumnInfo names col_name, data_type and comment while each row is one tab-separated cell, as
Athena's); SHOW CREATE TABLE is Hive's layout built from Glue (column comments and bucketing are
not shown), an Iceberg table's is Athena's Iceberg DDL from its metadata (`iceberg_show`); table properties are stored as written (none is validated); DROP DATABASE CASCADE
drops the tables from Glue and leaves their objects (as Athena does for external tables).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from sqlglot import exp

from local_aws.athena_engine.binding import Binder, decode_view
from local_aws.athena_engine.catalog import CatalogError, TableDef
from local_aws.athena_engine.errors import EngineError, Outcome
from local_aws.athena_engine.rewrite import READ_DIALECT, name_output_columns, trino_fixups
from local_aws.athena_engine.types import duckdb_to_hive, duckdb_to_presto


class DdlStatements(Binder):
    """The DDL and SHOW / DESCRIBE family."""

    def _create_view(self, statement: exp.Create, sql: str) -> Outcome:
        target = statement.this
        if isinstance(target, exp.Schema):
            target = target.this
        database = (target.db or self.database).lower()
        name = target.name.lower()
        body = statement.expression
        original = _original_view_sql(sql) or body.sql(dialect=READ_DIALECT)
        self._schema_only = True
        bound = trino_fixups(self._bind(body.copy(), database, (f"{database}.{name}",)))
        name_output_columns(bound)
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
        if kind in ("DATABASE", "SCHEMA"):
            return self._drop_database(statement, database=name)
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
        columns = [column_def(c) for c in schema.expressions if isinstance(c, exp.ColumnDef)]
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
                    column_def(c) for c in prop.this.expressions if isinstance(c, exp.ColumnDef)
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
            elif isinstance(prop, exp.SchemaCommentProperty):
                parameters["comment"] = prop.name
            elif type(prop) is exp.Property:  # TBLPROPERTIES; EXTERNAL and the like are keyless subclasses
                parameters[prop.name] = prop.text("value")
        if parameters.get("table_type", "").upper() == "ICEBERG":  # pyiceberg writes it (`iceberg`)
            defs = [c for c in schema.expressions if isinstance(c, exp.ColumnDef)]
            return self._create_iceberg(statement, parameters, location, defs)  # type: ignore[attr-defined]
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

    # -- databases ------------------------------------------------------------------------------
    def _create_database(self, statement: exp.Create) -> Outcome:
        name = statement.this.name.lower()
        parameters: dict[str, str] = {}
        location = None
        for prop in (statement.args.get("properties") or exp.Properties()).expressions:
            if isinstance(prop, exp.LocationProperty):
                location = prop.this.name
            elif isinstance(prop, exp.Property) and prop.name:  # a keyless property is no parameter
                parameters[prop.name] = prop.text("value")
        if not self.catalog.create_database(name, parameters, location) and not statement.args.get("exists"):
            raise EngineError("ALREADY_EXISTS", f"Schema '{name}' already exists")
        return Outcome("DDL", "CREATE_DATABASE")

    def _drop_database(self, statement: exp.Drop, database: str) -> Outcome:
        if database not in self.catalog.database_names() and statement.args.get("exists"):
            return Outcome("DDL", "DROP_DATABASE")
        self.catalog.drop_database(database, cascade=bool(statement.args.get("cascade")))
        return Outcome("DDL", "DROP_DATABASE")

    # -- SHOW / DESCRIBE ----------------------------------------------------------------------
    def _show(self, rest: str) -> Outcome:
        words = rest.split()
        what = words[0].upper() if words else ""
        if what in ("DATABASES", "SCHEMAS"):
            names = self.catalog.database_names()
            pattern = _like_pattern(words[1:])
            rows = [[n] for n in names if pattern is None or pattern.fullmatch(n)]
            return Outcome("UTILITY", "SHOW_DATABASES", [text_column("database_name")], rows)
        if what == "TABLES":
            database = self.database
            tail = words[1:]
            if len(tail) >= 2 and tail[0].upper() in ("IN", "FROM"):
                database = tail[1].strip('`"').lower()
                tail = tail[2:]
            pattern = _like_pattern(tail)
            names = self.catalog.table_names(database)
            rows = [[n] for n in names if pattern is None or pattern.fullmatch(n)]
            return Outcome("UTILITY", "SHOW_TABLES", [text_column("tab_name")], rows)
        if what == "PARTITIONS" and len(words) >= 2:
            table = self._named_table(words[1])
            if not table.partition_keys:
                raise EngineError("NOT_SUPPORTED", f"Table {table.database}.{table.name} is not partitioned")
            rows = [
                ["/".join(f"{k}={v}" for (k, _), v in zip(table.partition_keys, p.values, strict=False))]
                for p in table.partitions
            ]
            return Outcome("UTILITY", "SHOW_PARTITIONS", [text_column("partition")], rows)
        if what == "CREATE" and len(words) >= 3 and words[1].upper() in ("TABLE", "VIEW"):
            return self._show_create(words[1].upper(), self._named_table(words[2]))
        if what == "TBLPROPERTIES" and len(words) >= 2:
            table = self._named_table(words[1].split("(")[0])
            wanted = re.search(r"\(\s*'([^']*)'\s*\)", rest)
            items = sorted(table.parameters.items())
            if wanted:
                items = [(k, v) for k, v in items if k == wanted.group(1)]
            return Outcome(
                "UTILITY", "SHOW_TBLPROPERTIES", [text_column("prpt_name")], [[f"{k}\t{v}"] for k, v in items]
            )
        if what == "COLUMNS" and len(words) >= 3 and words[1].upper() in ("IN", "FROM"):
            table = self._named_table(words[2])
            rows = [[n] for n, _ in table.columns + table.partition_keys]
            return Outcome("UTILITY", "SHOW_COLUMNS", [text_column("field")], rows)
        raise EngineError("NOT_SUPPORTED", f"SHOW {rest} is not supported by local_aws")

    def _show_create(self, kind: str, table: TableDef) -> Outcome:
        if kind == "VIEW":
            if not table.is_view:
                raise EngineError(
                    "NOT_SUPPORTED", f"Relation '{table.database}.{table.name}' is a table, not a view"
                )
            body = decode_view(table)["originalSql"]
            lines = [f'CREATE VIEW "awsdatacatalog"."{table.database}"."{table.name}" AS', *body.split("\n")]
            return Outcome(
                "UTILITY", "SHOW_CREATE_VIEW", [text_column("Create View")], [[line] for line in lines]
            )
        if table.is_view:
            raise EngineError(
                "NOT_SUPPORTED", f"Relation '{table.database}.{table.name}' is a view, not a table"
            )
        lines = _show_create_table(table)
        return Outcome(
            "UTILITY", "SHOW_CREATE_TABLE", [text_column("createtab_stmt")], [[line] for line in lines]
        )

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
        # Three columns, as Athena describes them; each line of the text is one tab-separated row.
        columns = [text_column("col_name"), text_column("data_type"), text_column("comment")]
        return Outcome("UTILITY", "DESCRIBE", columns, rows)


def _original_view_sql(sql: str) -> str | None:
    match = re.match(
        r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+(?:\"[^\"]+\"|`[^`]+`|[^\s(]+)(?:\s*\.\s*(?:\"[^\"]+\"|`[^`]+`|[^\s(]+))*\s+AS\s+(.*)$",
        sql,
        re.IGNORECASE | re.DOTALL,
    )
    if not match:
        return None
    return match.group(1).strip().rstrip(";").strip()


def column_def(column: exp.ColumnDef) -> dict[str, str]:
    kind = column.args.get("kind")
    type_text = kind.sql(dialect="hive").lower().replace(": ", ":").replace(", ", ",") if kind else "string"
    return {"Name": column.name.lower(), "Type": type_text}


def text_column(name: str) -> dict[str, Any]:
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


def _show_create_table(table: TableDef) -> list[str]:
    """Hive's DDL for a table, laid out as Athena's SHOW CREATE TABLE lays it out."""
    columns = ", \n".join(f"  `{n}` {t}" for n, t in table.columns)
    lines = [f"CREATE EXTERNAL TABLE `{table.database}`.`{table.name}`(", *f"{columns})".split("\n")]
    if table.partition_keys:
        keys = ", \n".join(f"  `{n}` {t}" for n, t in table.partition_keys)
        lines += ["PARTITIONED BY ( ", *f"{keys})".split("\n")]
    lines += ["ROW FORMAT SERDE ", f"  '{table.serde_library}' "]
    if table.serde_parameters:
        props = ", \n".join(f"  '{k}'='{v}'" for k, v in sorted(table.serde_parameters.items()))
        lines += ["WITH SERDEPROPERTIES ( ", *f"{props}) ".split("\n")]
    lines += [
        "STORED AS INPUTFORMAT ",
        f"  '{table.input_format}' ",
        "OUTPUTFORMAT ",
        f"  '{table.output_format}'",
    ]
    lines += ["LOCATION", f"  '{table.location}'"]
    if table.parameters:
        props = ", \n".join(f"  '{k}'='{v}'" for k, v in sorted(table.parameters.items()))
        lines += ["TBLPROPERTIES (", *f"{props})".split("\n")]
    return lines
