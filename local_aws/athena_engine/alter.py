"""Hive table maintenance: MSCK REPAIR TABLE and ALTER TABLE ADD/DROP PARTITION, ADD/REPLACE COLUMNS.

These change only the Glue catalog, as in Athena: MSCK lists the table's location for Hive-style
``key=value/`` folders and registers those Glue does not know; ADD PARTITION registers the given
values (at ``LOCATION`` or the Hive folder under the table); DROP PARTITION removes them from Glue
and leaves the objects; ADD COLUMNS appends columns, REPLACE COLUMNS replaces the data columns. Each
statement is read by its own small grammar here (sqlglot does not read several PARTITION clauses),
and passes `sandbox.check_text` like every other statement.

LIMITATIONS: MSCK adds partitions but never removes any (as Athena's MSCK), reads only folders in the
table's own key order, and reports its work in our words; ALTER TABLE SET LOCATION / SET
TBLPROPERTIES / CHANGE COLUMN and RENAME are not supported (NOT_SUPPORTED).
"""

from __future__ import annotations

import re
from typing import Any

import sqlglot
from sqlglot import exp

from local_aws.athena_engine.binding import Binder
from local_aws.athena_engine.catalog import CatalogError, TableDef
from local_aws.athena_engine.ddl import column_def, text_column
from local_aws.athena_engine.errors import EngineError, Outcome
from local_aws.athena_engine.rewrite import READ_DIALECT

_NAME = r"(?P<name>(?:\"[^\"]+\"|`[^`]+`|[A-Za-z0-9_]+)(?:\s*\.\s*(?:\"[^\"]+\"|`[^`]+`|[A-Za-z0-9_]+))*)"
_MSCK = re.compile(rf"^\s*REPAIR\s+TABLE\s+{_NAME}\s*$", re.I | re.S)
_ALTER = re.compile(rf"^\s*ALTER\s+TABLE\s+{_NAME}\s+(?P<action>.*?)\s*;?\s*$", re.I | re.S)
_ADD_PARTITIONS = re.compile(r"^ADD\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?P<specs>PARTITION\b.*)$", re.I | re.S)
_DROP_PARTITIONS = re.compile(r"^DROP\s+(?P<ie>IF\s+EXISTS\s+)?(?P<specs>PARTITION\b.*)$", re.I | re.S)
_COLUMNS = re.compile(r"^(?P<how>ADD|REPLACE)\s+COLUMNS\s*\((?P<defs>.*)\)$", re.I | re.S)
_SPEC = re.compile(r"PARTITION\s*\((?P<pairs>[^)]*)\)(?:\s*LOCATION\s*'(?P<location>[^']*)')?\s*,?\s*", re.I)
_PAIR = re.compile(r"\s*([A-Za-z0-9_]+)\s*=\s*('(?:[^']|'')*'|[^,\s)]+)\s*,?")


def is_alter_table(sql: str) -> bool:
    return _ALTER.match(sql) is not None


class TableMaintenance(Binder):
    """The MSCK and ALTER TABLE family (catalog only)."""

    def _msck(self, rest: str) -> Outcome:
        match = _MSCK.match(rest)
        if match is None:
            raise EngineError("SYNTAX_ERROR", "line 1:1: MSCK REPAIR TABLE needs a table name")
        table = self._table_named(match.group("name"))
        keys = [k for k, _ in table.partition_keys]
        if not keys:
            return Outcome("DDL", "MSCK_REPAIR_TABLE", [text_column("result")], [])
        known = {tuple(p.values) for p in table.partitions}
        base = table.location.rstrip("/") + "/"
        found: dict[tuple[str, ...], str] = {}
        for uri, _, _ in self.catalog.list_objects(base):
            values = _hive_values(uri[len(base) :], keys)
            if values is not None and tuple(values) not in known:
                found.setdefault(
                    tuple(values), base + "".join(f"{k}={v}/" for k, v in zip(keys, values, strict=True))
                )
        self.catalog.add_partitions(table.database, table.name, [(list(v), loc) for v, loc in found.items()])
        names = ["/".join(f"{k}={v}" for k, v in zip(keys, values, strict=True)) for values in found]
        rows = [[f"Partitions not in metastore:\t{table.name}:{n}"] for n in names]
        rows += [[f"Repair: Added partition to metastore {table.name}:{n}"] for n in names]
        return Outcome("DDL", "MSCK_REPAIR_TABLE", [text_column("result")], rows)

    def _alter_table(self, sql: str) -> Outcome:
        match = _ALTER.match(sql)
        assert match is not None
        table = self._table_named(match.group("name"))
        if table.is_view:
            raise EngineError("NOT_SUPPORTED", f"'{table.database}.{table.name}' is a view, not a table")
        action = match.group("action")
        for pattern, handler in (
            (_ADD_PARTITIONS, self._add_partitions),
            (_DROP_PARTITIONS, self._drop_partitions),
            (_COLUMNS, self._change_columns),
        ):
            found = pattern.match(action)
            if found:
                return handler(table, found)
        raise EngineError(
            "NOT_SUPPORTED",
            f"ALTER TABLE {action.split()[0] if action else ''} is not supported by local_aws",
        )

    def _add_partitions(self, table: TableDef, match: re.Match[str]) -> Outcome:
        specs = _specs(match.group("specs"), table)
        known = {tuple(p.values) for p in table.partitions}
        base = table.location.rstrip("/") + "/"
        keys = [k for k, _ in table.partition_keys]
        existing = [v for v, _ in specs if tuple(v) in known]
        if existing and not match.group("ine"):
            raise EngineError("ALREADY_EXISTS", f"Partition already exists: {_spec_text(keys, existing[0])}")
        new = [
            (values, location or base + "".join(f"{k}={v}/" for k, v in zip(keys, values, strict=True)))
            for values, location in specs
            if tuple(values) not in known
        ]
        self.catalog.add_partitions(table.database, table.name, new)
        return Outcome("DDL", "ALTER_TABLE_ADD_PARTITION")

    def _drop_partitions(self, table: TableDef, match: re.Match[str]) -> Outcome:
        specs = _specs(match.group("specs"), table)
        known = {tuple(p.values) for p in table.partitions}
        keys = [k for k, _ in table.partition_keys]
        missing = [v for v, _ in specs if tuple(v) not in known]
        if missing and not match.group("ie"):
            raise EngineError("PARTITION_NOT_FOUND", f"Partition not found: {_spec_text(keys, missing[0])}")
        self.catalog.drop_partitions(table.database, table.name, [v for v, _ in specs if tuple(v) in known])
        return Outcome("DDL", "ALTER_TABLE_DROP_PARTITION")

    def _change_columns(self, table: TableDef, match: re.Match[str]) -> Outcome:
        try:
            parsed = sqlglot.parse_one(f"CREATE TABLE t ({match.group('defs')})", read=READ_DIALECT)
        except sqlglot.errors.SqlglotError as error:
            raise EngineError("SYNTAX_ERROR", f"line 1:1: {str(error).splitlines()[0]}") from error
        schema = parsed.this if isinstance(parsed, exp.Create) else None
        if not isinstance(schema, exp.Schema):
            raise EngineError("SYNTAX_ERROR", "line 1:1: ADD/REPLACE COLUMNS needs a column list")
        given = [column_def(c) for c in schema.expressions if isinstance(c, exp.ColumnDef)]
        how = match.group("how").upper()
        current = [{"Name": n, "Type": t} for n, t in table.columns]
        names = {c["Name"] for c in current} | {k for k, _ in table.partition_keys}
        if how == "ADD":
            clash = [c["Name"] for c in given if c["Name"] in names]
            if clash:
                raise EngineError("COLUMN_ALREADY_EXISTS", f"Column '{clash[0]}' already exists")
            columns = current + given
        else:
            columns = given
        self.catalog.set_columns(table.database, table.name, columns)
        return Outcome("DDL", f"ALTER_TABLE_{how}_COLUMNS")

    def _table_named(self, text: str) -> TableDef:
        parts = [p.strip().strip('`"') for p in text.split(".")]
        if len(parts) == 3:
            parts = parts[1:]
        database, name = (parts[0], parts[1]) if len(parts) == 2 else (self.database, parts[0])
        try:
            return self.catalog.get_table(database, name)
        except CatalogError as error:
            raise EngineError(error.code, str(error).split(": ", 1)[-1]) from error


def _hive_values(relative: str, keys: list[str]) -> list[str] | None:
    """The partition values of an object's path under the table, if its folders are key=value in order."""
    folders = relative.split("/")[:-1]
    if len(folders) < len(keys):
        return None
    values = []
    for key, folder in zip(keys, folders, strict=False):
        name, sep, value = folder.partition("=")
        if not sep or name.lower() != key:
            return None
        values.append(value)
    return values


def _specs(text: str, table: TableDef) -> list[tuple[list[str], str | None]]:
    keys = [k for k, _ in table.partition_keys]
    specs: list[tuple[list[str], str | None]] = []
    position = 0
    while position < len(text):
        match = _SPEC.match(text, position)
        if match is None:
            raise EngineError(
                "SYNTAX_ERROR", f"line 1:1: cannot read partition specification: {text[position:][:60]}"
            )
        given = {k.lower(): _unquote(v) for k, v in _PAIR.findall(match.group("pairs"))}
        if sorted(given) != sorted(keys):
            raise EngineError(
                "HIVE_METASTORE_ERROR",
                f"Partition specification {sorted(given)} does not match the table's partition keys {keys}",
            )
        specs.append(([given[k] for k in keys], match.group("location")))
        position = match.end()
    return specs


def _unquote(value: str) -> str:
    return value[1:-1].replace("''", "'") if value.startswith("'") else value


def _spec_text(keys: list[str], values: list[str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in zip(keys, values, strict=True))


__all__: list[Any] = ["TableMaintenance", "is_alter_table"]
