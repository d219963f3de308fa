"""S3 objects of one Glue table into a DuckDB view, read the way the table's SerDe reads them.

The catalog's column types drive the read. JSON (OpenX or Hive JsonSerDe, newline-delimited,
gzip or not) is normalised in Python first: keys are matched case-insensitively as the OpenX
SerDe does, and JSON numbers reach DuckDB as text so that ``decimal(p,s)`` columns are exact; a
line that is a top-level JSON array fills the columns by position and a line that is neither an
object nor an array is a row of NULLs, as Trino's OpenX reader does.
Parquet is read by name with casts; CSV/LazySimpleSerDe text as strings, then cast (a value that
does not parse becomes NULL, as in Hive). Partition columns come from the partition's values.
Objects are copied into the engine's private scratch directory and parsed by the loader database
(`cache.loader`), the only one that may read files; the query's own database gets the rows as Arrow
tables (`read_to_arrow`, then `create_snapshot`).
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from typing import Any

from local_aws.athena_engine.catalog import TableDef
from local_aws.athena_engine.types import HiveType, hive_to_duckdb, parse_hive_type

FILE_COLUMN = "__local_aws_file"


class LoadError(Exception):
    """Data the SerDe cannot read; ``code`` is Athena's error name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass
class DataFile:
    """One S3 object, copied to a local file, with the partition values it belongs to."""

    uri: str
    local_path: str
    partition_values: list[str]


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def table_format(table: TableDef) -> str:
    """``json``, ``parquet``, ``csv`` (OpenCSVSerde) or ``text`` (LazySimpleSerDe)."""
    serde = table.serde_library.lower()
    classification = (table.parameters.get("classification") or "").lower()
    if "json" in serde or (not serde and classification == "json"):
        return "json"
    if "parquet" in serde or "parquet" in table.input_format.lower() or classification == "parquet":
        return "parquet"
    if "orc" in serde or "avro" in serde or "orc" in table.input_format.lower():
        raise LoadError(
            "NOT_SUPPORTED", f"Tables stored as {table.serde_library} are not supported by local_aws"
        )
    if "opencsv" in serde:
        return "csv"
    return "text"


def _maybe_gunzip(data: bytes) -> bytes:
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _normalise_json(value: Any, tree: HiveType) -> Any:
    """Match struct field names case-insensitively; leave map keys (data) alone. As the OpenX SerDe
    (Trino's reader) does, a JSON array read as a struct fills its fields by position, and any other
    value read as an array is a one-element array (an empty string is NULL)."""
    name, _, children = tree
    if value is None:
        return None
    if name == "struct" and isinstance(value, list):
        return {
            str(field).lower(): _normalise_json(item, child)
            for (field, child), item in zip(children, value, strict=False)
        }
    if name == "struct" and isinstance(value, dict):
        lowered = {str(k).lower(): v for k, v in value.items()}
        return {
            str(field).lower(): _normalise_json(lowered[str(field).lower()], child)
            for field, child in children
            if str(field).lower() in lowered
        }
    if name == "array":
        if isinstance(value, list):
            return [_normalise_json(v, children[0][1]) for v in value]
        return None if value == "" else [_normalise_json(value, children[0][1])]
    if name == "map" and isinstance(value, dict):
        return {k: _normalise_json(v, children[1][1]) for k, v in value.items()}
    return value


def _json_row(
    line: str, number: int, columns: list[str], trees: list[HiveType], mapping: dict[str, str], lenient: bool
) -> dict[str, Any]:
    """One line as the OpenX SerDe reads it: an object by key; a top-level array by position (its
    first element is the first column); any other line is a row of NULLs."""
    text = line.strip()
    if not text.startswith(("{", "[")):
        return {}
    try:
        # Numbers stay text so DuckDB casts them exactly into decimal columns.
        record = json.loads(text, parse_float=str)
    except ValueError as error:
        if lenient:
            return {}
        raise LoadError(
            "HIVE_CURSOR_ERROR", f"Row is not a valid JSON Object - JSONException: {error} (line {number})"
        ) from error
    if isinstance(record, list):
        return {
            column: _normalise_json(item, tree)
            for column, tree, item in zip(columns, trees, record, strict=False)
        }
    lowered = {str(k).lower(): v for k, v in record.items()}
    row = {}
    for column, tree in zip(columns, trees, strict=True):
        key = mapping.get(column, column)
        if key in lowered:
            row[column] = _normalise_json(lowered[key], tree)
    return row


def prepare_file(table: TableDef, fmt: str, data: bytes, local_path: str, trees: list[HiveType]) -> None:
    """Write one object's bytes where DuckDB will read them, normalised for its format."""
    if fmt == "parquet":
        with open(local_path, "wb") as handle:
            handle.write(data)
        return
    data = _maybe_gunzip(data)
    if fmt != "json":
        with open(local_path, "wb") as handle:
            handle.write(data)
        return
    ignore_malformed = table.serde_parameters.get("ignore.malformed.json", "").lower() == "true"
    # OpenX "mapping.<column>" renames a JSON key to a column.
    mapping = {
        key[len("mapping.") :].lower(): value.lower()
        for key, value in table.serde_parameters.items()
        if key.lower().startswith("mapping.")
    }
    columns = [name for name, _ in table.columns]
    with open(local_path, "w", encoding="utf-8") as out:
        for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
            if line.strip():
                row = _json_row(line, number, columns, trees, mapping, ignore_malformed)
                out.write(json.dumps(row) + "\n")


def _reader_sql(con: Any, table: TableDef, fmt: str, files: list[DataFile], trees: list[HiveType]) -> str:
    """SQL for the data columns of the table's files, plus the file column."""
    paths = "[" + ", ".join(_literal(f.local_path) for f in files) + "]"
    duck_types = [hive_to_duckdb(t) for t in trees]
    names = [name for name, _ in table.columns]
    if fmt == "json":
        spec = (
            "{"
            + ", ".join(f"{_literal(n)}: {_literal(t)}" for n, t in zip(names, duck_types, strict=True))
            + "}"
        )
        return (
            f"SELECT * FROM read_json({paths}, format='newline_delimited', columns={spec}, "
            f"filename={_literal(FILE_COLUMN)})"
        )
    if fmt == "parquet":
        source = f"read_parquet({paths}, union_by_name=true, filename={_literal(FILE_COLUMN)})"
        available = {
            row[0].lower(): row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
        }
        selects = []
        for name, duck_type in zip(names, duck_types, strict=True):
            if name in available:
                selects.append(
                    f"CAST({quote_identifier(available[name])} AS {duck_type}) AS {quote_identifier(name)}"
                )
            else:
                selects.append(f"CAST(NULL AS {duck_type}) AS {quote_identifier(name)}")
        selects.append(quote_identifier(FILE_COLUMN))
        return f"SELECT {', '.join(selects)} FROM {source}"
    # Delimited text: everything as strings first, then Hive-style lenient casts.
    params = table.serde_parameters
    if fmt == "csv":
        delimiter = params.get("separatorChar", ",")
        quote = params.get("quoteChar", '"')
        escape = params.get("escapeChar", "\\")
        null_option = ""
    else:
        delimiter = params.get("field.delim", params.get("serialization.format", "\x01"))
        if delimiter.isdigit() and len(delimiter) > 1:
            delimiter = chr(int(delimiter))
        quote, escape = "", ""
        null_option = f", nullstr={_literal(params.get('serialization.null.format', chr(92) + 'N'))}"
    skip_text = table.parameters.get("skip.header.line.count", "0") or "0"
    if not skip_text.strip().isdigit():
        raise LoadError(
            "HIVE_INVALID_METADATA", f"Invalid value for skip.header.line.count property: {skip_text}"
        )
    skip = int(skip_text)
    spec = "{" + ", ".join(f"{_literal(f'c{i}')}: 'VARCHAR'" for i in range(len(names))) + "}"
    source = (
        f"read_csv({paths}, delim={_literal(delimiter)}, quote={_literal(quote)}, escape={_literal(escape)}, "
        f"header=false, skip={skip}, columns={spec}, null_padding=true, auto_detect=false, "
        f"filename={_literal(FILE_COLUMN)}{null_option})"
    )
    selects = []
    for i, (name, duck_type) in enumerate(zip(names, duck_types, strict=True)):
        column = quote_identifier(f"c{i}")
        # NULLIF also keeps DuckDB from pushing the cast into the CSV reader, where a bad value fails.
        expression = column if duck_type == "VARCHAR" else f"TRY_CAST(NULLIF({column}, '') AS {duck_type})"
        selects.append(f"{expression} AS {quote_identifier(name)}")
    selects.append(quote_identifier(FILE_COLUMN))
    return f"SELECT {', '.join(selects)} FROM {source}"


def _empty_body(table: TableDef, hidden: bool) -> str:
    columns = [
        f"CAST(NULL AS {hive_to_duckdb(parse_hive_type(t))}) AS {quote_identifier(n)}"
        for n, t in table.columns + table.partition_keys
    ]
    if hidden:
        columns += ['CAST(NULL AS VARCHAR) AS "$path"', 'CAST(NULL AS BIGINT) AS "$file_size"']
    return f"SELECT {', '.join(columns)} WHERE false"


def _body_with_partitions(
    table: TableDef, selects: list[str], source: str, files: list[tuple[str, list[str]]]
) -> str:
    """``source`` (data columns and the file column) joined to each file's partition values."""
    if not table.partition_keys:
        return f"SELECT {', '.join(selects)} FROM ({source}) AS d"
    selects = list(selects)
    names = [FILE_COLUMN] + [f"p{i}" for i in range(len(table.partition_keys))]
    values = ", ".join(
        "(" + ", ".join([file, *(_literal(v) for v in partition_values)]) + ")"
        for file, partition_values in files
    )
    for i, (name, type_text) in enumerate(table.partition_keys):
        duck_type = hive_to_duckdb(parse_hive_type(type_text))
        cast = f"f.p{i}" if duck_type == "VARCHAR" else f"TRY_CAST(f.p{i} AS {duck_type})"
        selects.append(f"{cast} AS {quote_identifier(name)}")
    return (
        f"SELECT {', '.join(selects)} FROM ({source}) AS d "
        f"JOIN (VALUES {values}) AS f({', '.join(quote_identifier(n) for n in names)}) "
        f"ON d.{quote_identifier(FILE_COLUMN)} = f.{quote_identifier(FILE_COLUMN)}"
    )


# -- parsed objects kept between queries (see `cache`) --------------------------------------------
def schema_fingerprint(table: TableDef) -> str:
    """Everything about a table that changes how its objects parse: part of an object's cache key."""
    return json.dumps(
        [
            table_format(table),
            table.columns,
            table.serde_library,
            sorted(table.serde_parameters.items()),
            table.input_format,
            table.parameters.get("skip.header.line.count", ""),
        ]
    )


def read_to_arrow(con: Any, table: TableDef, files: list[DataFile]) -> dict[str, Any]:
    """Each prepared file's data columns as an Arrow table, keyed by its local path; one DuckDB read."""
    import pyarrow.compute as pc

    if not files:
        return {}
    trees = [parse_hive_type(t) for _, t in table.columns]
    reader = _reader_sql(con, table, table_format(table), files, trees)
    names = [quote_identifier(n) for n, _ in table.columns]
    rows = con.sql(
        f"SELECT {', '.join(names + [quote_identifier(FILE_COLUMN)])} FROM ({reader})"
    ).to_arrow_table()
    paths = rows.column(FILE_COLUMN)
    data = rows.drop_columns([FILE_COLUMN])
    if len(files) == 1:
        return {files[0].local_path: data}
    return {f.local_path: data.filter(pc.equal(paths, f.local_path)) for f in files}


def create_snapshot(
    con: Any,
    snapshot: str,
    table: TableDef,
    parts: list[tuple[Any, list[str]]],
    objects: list[tuple[str, int]] | None = None,
) -> None:
    """Create table ``snapshot`` in the shared database: the table's rows from cached Arrow tables,
    each with its partition values, cast to the catalog's types.

    With ``objects`` (each part's S3 URI and size) the rows also carry Trino's hidden columns
    ``"$path"`` and ``"$file_size"``."""
    import numpy as np
    import pyarrow as pa

    if not parts:
        con.execute(f"CREATE TABLE {quote_identifier(snapshot)} AS {_empty_body(table, objects is not None)}")
        return
    tables = [rows for rows, _ in parts]
    combined = pa.concat_tables(tables, promote_options="permissive")
    lengths = [t.num_rows for t in tables]
    file_ids = np.repeat(np.arange(len(parts), dtype=np.int32), lengths)
    combined = combined.append_column(FILE_COLUMN, pa.array(file_ids, type=pa.int32()))
    extra: list[str] = []
    if objects is not None:
        for name, values, kind in (
            ("$path", [uri for uri, _ in objects], pa.string()),
            ("$file_size", [size for _, size in objects], pa.int64()),
        ):
            combined = combined.append_column(name, pa.array(np.repeat(values, lengths).tolist(), type=kind))
            extra.append(f"d.{quote_identifier(name)}")
    rows_name = f"{snapshot}__rows"
    # Registered Arrow is visible to this query's cursor only; the table it fills is shared.
    con.register(rows_name, combined)
    try:
        selects = [
            f"CAST(d.{quote_identifier(n)} AS {hive_to_duckdb(parse_hive_type(t))}) AS {quote_identifier(n)}"
            for n, t in table.columns
        ] + extra
        body = _body_with_partitions(
            table,
            selects,
            f"SELECT * FROM {quote_identifier(rows_name)}",
            [(str(i), values) for i, (_, values) in enumerate(parts)],
        )
        con.execute(f"CREATE TABLE {quote_identifier(snapshot)} AS {body}")
    finally:
        con.unregister(rows_name)


def local_name(directory: str, index: int, table: TableDef) -> str:
    extension = {"json": ".json", "parquet": ".parquet"}.get(table_format(table), ".txt")
    return os.path.join(directory, f"object-{index}{extension}")
