"""Stale views: a stored view whose query no longer gives the columns it was created with.

Athena (Trino) stores a view's output columns with its SQL. When a query reads the view, the SQL is
analysed again against today's tables; if the result has a different number of columns, a column
with another name, or a type that cannot be coerced to the stored one, the query fails with
``VIEW_IS_STALE`` ("View '...' is stale or in invalid state") and the view must be re-created. The
usual cause is ``SELECT *`` over a table whose columns changed (a crawler added one): the stored
list has the old columns, the query now yields one more.

LIMITATIONS: the coercions accepted are Trino's implicit widenings among the numeric types and
bounded/unbounded varchar; Trino also coerces inside nested row/array/map types, which is checked
here only for equality.
"""

from __future__ import annotations

import re
from typing import Any

from local_aws.athena_engine.errors import EngineError
from local_aws.athena_engine.types import duckdb_to_presto

# (type the query yields, type the view declares) pairs Trino coerces implicitly.
_WIDENINGS = {
    ("tinyint", "smallint"),
    ("tinyint", "integer"),
    ("tinyint", "bigint"),
    ("smallint", "integer"),
    ("smallint", "bigint"),
    ("integer", "bigint"),
    ("tinyint", "real"),
    ("smallint", "real"),
    ("integer", "real"),
    ("bigint", "real"),
    ("tinyint", "double"),
    ("smallint", "double"),
    ("integer", "double"),
    ("bigint", "double"),
    ("real", "double"),
    ("date", "timestamp(3)"),
}


def _normal(type_name: str) -> str:
    text = re.sub(r"\s+", "", type_name.lower())
    return "varchar" if text.startswith("varchar") else text


def coercible(actual: str, declared: str) -> bool:
    """Whether a column the query yields as ``actual`` can stand for a declared ``declared`` one."""
    actual, declared = _normal(actual), _normal(declared)
    if actual == declared or (actual, declared) in _WIDENINGS:
        return True
    return actual.startswith("decimal") and declared in ("real", "double")


def check_not_stale(name: str, declared: list[dict[str, Any]], columns: list[str], types: list[Any]) -> None:
    """Fail with VIEW_IS_STALE when the view's query no longer yields its declared columns."""
    stale = len(declared) != len(columns) or any(
        column.lower() != str(spec.get("name", "")).lower()
        or not coercible(duckdb_to_presto(dtype), str(spec.get("type", "")))
        for spec, column, dtype in zip(declared, columns, types, strict=False)
    )
    if stale:
        raise EngineError("VIEW_IS_STALE", f"View 'awsdatacatalog.{name}' is stale or in invalid state")
