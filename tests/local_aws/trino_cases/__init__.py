"""Trino conformance cases, taken from the examples in Trino's function documentation.

Each case is one query run through the Athena API: ``value`` cases select one expression (Trino names
it ``_col0``) and expect its rendered text and Athena's ColumnInfo type; ``rows`` cases run a whole
query and expect its header and rows; ``error`` cases expect the query to fail with a Trino error
code. Every case names the documentation page its example comes from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DOCS = "https://trino.io/docs/current/"


@dataclass(frozen=True)
class Case:
    id: str
    sql: str
    page: str
    value: str | None = None  # the one value of an expression case (None: NULL)
    type: str | None = None  # Athena's ColumnInfo Type, when the case checks it
    rows: list[list[str | None]] | None = None  # a query case's rows, header first
    error: str | None = None  # the error code a failing case must give
    meta: dict[str, str] = field(default_factory=dict)


def value(case_id: str, expression: str, expected: str | None, kind: str | None, page: str) -> Case:
    return Case(case_id, f"SELECT {expression}", DOCS + page, value=expected, type=kind)


def rows(case_id: str, sql: str, expected: list[list[str | None]], page: str) -> Case:
    return Case(case_id, sql, DOCS + page, rows=expected)


def error(case_id: str, sql: str, code: str, page: str) -> Case:
    if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
        sql = f"SELECT {sql}"
    return Case(case_id, sql, DOCS + page, error=code)
