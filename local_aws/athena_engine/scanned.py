"""Bytes scanned, as Athena bills them: whole objects for text formats, column chunks for Parquet.

The one counting path: `binding.Binder` asks `billed_bytes` for every object it reads (cached or
not) and adds the answer to DataScannedInBytes before the object is parsed, so the workgroup's
BytesScannedCutoffPerQuery stops a query at the same figure. For a Parquet object the figure is its
footer (the Thrift metadata and the 8 bytes after it) plus, in every row group, the compressed size
of the chunks of the columns the statement reads: ``SELECT id`` bills less than ``SELECT *`` on the
same file, as on the bill. `parquet_scanned_bytes` does that sum for any Parquet footer (the
Iceberg engine calls it for its data files); `columns_read` works out which columns a statement reads.

A Parquet footer is read once per object version (URI, ETag, size) and its per-column sizes are kept
(`_FOOTERS`, bounded), so a cached object is billed without being read again.

Through a view, only what the statement uses of it is billed, as Trino prunes a view's columns: the
view's body is cut down to the output columns the statement mentions, and to what those and the
body's own filters, joins and windows need (`view_columns`, sqlglot's projection pushdown); a
``SELECT *`` of the view bills every column its body names.

LIMITATIONS: the columns a statement reads are the names of every column it mentions, in any table
of the statement (a name two tables share bills both; a view output column bills when the
statement mentions that name anywhere), and any ``*`` or ``t.*`` bills every column of every table
read; a view body sqlglot cannot qualify is billed for every column it names; every row group of a file is billed (Athena skips row groups whose statistics rule
out the WHERE clause; local_aws reads them all); a nested column bills all its leaves; an object
whose footer cannot be read is billed whole (its read then fails with its own error).
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection
from typing import Any

from sqlglot import exp

_FOOTERS: OrderedDict[tuple[str, str, int], tuple[int, dict[str, int]]] = OrderedDict()
_FOOTERS_LOCK = threading.Lock()
_MAX_FOOTERS = 4096


def _top_column(path_in_schema: str) -> str:
    return path_in_schema.split(".", 1)[0].lower()


def parquet_scanned_bytes(
    metadata: Any, columns: Collection[str] | None, row_groups: Collection[int] | None = None
) -> int:
    """Bytes read from a Parquet file for ``columns`` (None: all) in ``row_groups`` (None: all).

    ``metadata`` is a ``pyarrow.parquet.FileMetaData``: its footer plus the compressed sizes of the
    chosen column chunks.
    """
    wanted = None if columns is None else {c.lower() for c in columns}
    total = int(metadata.serialized_size) + 8
    for index in range(metadata.num_row_groups) if row_groups is None else row_groups:
        group = metadata.row_group(index)
        for position in range(group.num_columns):
            chunk = group.column(position)
            if wanted is None or _top_column(chunk.path_in_schema) in wanted:
                total += int(chunk.total_compressed_size)
    return total


def _footer_sizes(data: bytes) -> tuple[int, dict[str, int]] | None:
    """(footer bytes, compressed bytes per top-level column over all row groups), or None if unreadable."""
    import pyarrow.parquet as pq

    try:
        metadata = pq.ParquetFile(io.BytesIO(data)).metadata
    except Exception:  # not Parquet after all, or truncated: the read reports it
        return None
    per_column: dict[str, int] = {}
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        for position in range(group.num_columns):
            chunk = group.column(position)
            name = _top_column(chunk.path_in_schema)
            per_column[name] = per_column.get(name, 0) + int(chunk.total_compressed_size)
    return int(metadata.serialized_size) + 8, per_column


def billed_bytes(
    fmt: str, key: tuple[str, str, int], columns: Collection[str] | None, read: Callable[[], bytes]
) -> int:
    """What one object of format ``fmt`` costs: ``key`` is (URI, ETag, size); ``read()`` its bytes."""
    size = key[2]
    if fmt != "parquet":
        return size
    with _FOOTERS_LOCK:
        sizes = _FOOTERS.get(key)
        if sizes is not None:
            _FOOTERS.move_to_end(key)
    if sizes is None:
        sizes = _footer_sizes(read())
        if sizes is None:
            return size
        with _FOOTERS_LOCK:
            _FOOTERS[key] = sizes
            while len(_FOOTERS) > _MAX_FOOTERS:
                _FOOTERS.popitem(last=False)
    footer, per_column = sizes
    wanted = per_column.values() if columns is None else [per_column.get(c.lower(), 0) for c in set(columns)]
    return min(size, footer + sum(wanted))


def view_columns(body: exp.Expression, wanted: frozenset[str] | None) -> exp.Expression:
    """What of a view's ``body`` a statement that mentions the columns ``wanted`` (None: all, for a
    ``*``) reads: the body with every projection nothing needs pruned away, for `columns_read` to
    bill. The body itself (every column it names) when it cannot be pruned."""
    if wanted is None or not isinstance(body, exp.Query):
        return body
    from sqlglot.optimizer.pushdown_projections import pushdown_projections
    from sqlglot.optimizer.qualify import qualify

    outputs = [name for name in body.named_selects if name]
    if not outputs or "*" in outputs:
        return body
    used = [exp.column(name, quoted=True) for name in outputs if name.lower() in wanted]
    source = exp.Subquery(this=body.copy(), alias=exp.TableAlias(this=exp.to_identifier("__view")))
    probe = exp.select(*(used or [exp.Literal.number(1)])).from_(source)
    try:
        return pushdown_projections(
            qualify(probe, dialect="trino", validate_qualify_columns=False, quote_identifiers=False)
        )
    except Exception:  # sqlglot cannot follow it: bill what the body names
        return body


def columns_read(statement: exp.Expression, so_far: frozenset[str] | None) -> frozenset[str] | None:
    """``so_far`` with the column names ``statement`` mentions; None once any ``*`` asks for all."""
    if so_far is None:
        return None
    for select in statement.find_all(exp.Select):
        for expression in select.expressions:
            if isinstance(expression, exp.Star) or (
                isinstance(expression, exp.Column) and isinstance(expression.this, exp.Star)
            ):
                return None
    return so_far | {column.name.lower() for column in statement.find_all(exp.Column) if column.name}
