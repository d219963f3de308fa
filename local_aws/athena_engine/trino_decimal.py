"""Trino's decimal arithmetic where DuckDB's differs: the result types of decimal division.

DuckDB divides two decimals in double; Trino keeps a decimal, ``decimal(p1,s1) / decimal(p2,s2)``
being ``decimal(min(38, p1 + s2 + max(0, s2 - s1)), max(s1, s2))`` rounded half up (Trino's
decimal documentation and its DecimalOperators). The rewrite applies where both operands' types
are written in the SQL (a DECIMAL literal, read as its own precision and scale by
`trino_functions.decimal_literal`, or a CAST to decimal(p,s)); it runs after that rewrite,
bottom-up, so the operands are already typed.

LIMITATIONS: a division whose operand is a column or an expression of a decimal type not written
in the SQL still gives double (the rewrite sees SQL, not types), and so does avg(decimal); the
quotient is rounded from a double, exact up to about 15 significant digits.
"""

from __future__ import annotations

from sqlglot import exp


def decimal_params(node: exp.Expression) -> tuple[int, int] | None:
    """(precision, scale) of CAST(... AS DECIMAL(p[, s])), else None."""
    if not isinstance(node, exp.Cast) or not node.to.is_type(exp.DataType.Type.DECIMAL):
        return None
    params = [p.this for p in node.to.expressions if isinstance(p, exp.DataTypeParam)]
    numbers = [int(p.name) for p in params if isinstance(p, exp.Literal)]
    if not numbers:
        return None
    return numbers[0], numbers[1] if len(numbers) > 1 else 0


def decimal_divide(node: exp.Expression) -> exp.Expression | None:
    """``decimal / decimal`` typed as Trino types it, not DuckDB's double."""
    if not isinstance(node, exp.Div):
        return None
    left, right = decimal_params(node.this), decimal_params(node.expression)
    if left is None or right is None:
        return None
    (p1, s1), (p2, s2) = left, right
    del p2
    scale = max(s1, s2)
    precision = max(min(38, p1 + s2 + max(0, s2 - s1)), scale, 1)
    # DuckDB's cast of the double quotient rounds to the nearest (half away from zero, as Trino's HALF_UP).
    return exp.cast(node.copy(), exp.DataType.build(f"DECIMAL({precision}, {scale})"))
