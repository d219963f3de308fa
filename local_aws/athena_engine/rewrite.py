"""Statement rewrites every family shares: parameters into placeholders, Trino's output names and fixups."""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from local_aws.athena_engine import trino_functions
from local_aws.athena_engine.errors import EngineError

READ_DIALECT = "athena"


def substitute_parameters(statement: exp.Expression, parameters: list[str]) -> exp.Expression:
    """Put ExecutionParameters into the ``?`` placeholders, in order, as Athena does."""
    placeholders = [p for p in statement.find_all(exp.Placeholder) if p.this is None]
    if len(placeholders) != len(parameters):
        raise EngineError(
            "INVALID_PARAMETER_USAGE",
            f"Incorrect number of parameters: expected {len(placeholders)} but found {len(parameters)}",
        )
    for placeholder, value in zip(placeholders, parameters, strict=True):
        try:
            parsed = sqlglot.parse_one(value, read=READ_DIALECT)
        except sqlglot.errors.SqlglotError as error:  # ParseError, or TokenError for an open quote
            message = str(error).split("\n")[0]
            raise EngineError(
                "INVALID_PARAMETER_USAGE", f"Cannot use parameter {value!r}: {message}"
            ) from error
        # A parameter is one value: never a second statement to smuggle in after it.
        if isinstance(parsed, exp.Block) or parsed is None:
            raise EngineError(
                "INVALID_PARAMETER_USAGE", f"Cannot use parameter {value!r}: not a single value"
            )
        for node in parsed.walk():
            node.meta.clear()  # its offsets are in the parameter's text, not the statement's
        placeholder.replace(parsed)
    return statement


def conjuncts(condition: exp.Expression) -> list[exp.Expression]:
    condition = condition.unnest()
    if isinstance(condition, exp.And):
        return [c for part in condition.flatten() for c in conjuncts(part)]
    return [condition]


def trino_fixups(statement: exp.Expression) -> exp.Expression:
    """Rewrites where DuckDB's answer differs from Trino's and the types are visible in the SQL."""
    for node in list(statement.find_all(exp.DateTrunc)):
        value = node.this
        # Trino truncates a date to a date; DuckDB widens it to a timestamp.
        if isinstance(value, exp.Cast) and value.to.is_type(exp.DataType.Type.DATE):
            node.replace(exp.cast(node.copy(), exp.DataType.Type.DATE))
    return trino_functions.apply(statement)


def name_output_columns(statement: exp.Expression) -> None:
    """Trino names an unaliased expression ``_colN``; DuckDB would name it after the expression.

    Derived tables and CTEs are named the same way, so ``SELECT *`` over them shows ``_colN`` too.
    """
    for inner in list(statement.find_all(exp.Subquery, exp.CTE)):
        if inner is not statement and isinstance(inner.this, exp.Query):
            _name_columns(inner.this)
    _name_columns(statement)


def _name_columns(statement: exp.Expression) -> None:
    select = statement
    while isinstance(select, exp.SetOperation):
        select = select.this
    if isinstance(select, exp.Subquery):
        select = select.this
    if not isinstance(select, exp.Select):
        return
    for index, expression in enumerate(list(select.expressions)):
        if isinstance(expression, exp.Alias):
            alias = expression.args.get("alias")
            if isinstance(alias, exp.Identifier) and not alias.quoted:
                alias.set("this", alias.name.lower())
            continue
        if isinstance(expression, (exp.Column, exp.Star)) or expression.find(exp.Star) is expression:
            continue
        if isinstance(expression, (exp.Dot, exp.Explode)):  # an UNNEST's columns keep their names
            continue
        expression.replace(exp.alias_(expression.copy(), f"_col{index}"))
