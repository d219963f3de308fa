"""Filters on a view pushed into its body, down to the table it reads, so partition pruning reaches it.

Trino plans a view as part of the query, so a ``WHERE`` on the view's columns is pushed through the
view's projections and filters, and through a window function when the filtered columns are in the
window's ``PARTITION BY`` (a filter on those keeps or drops whole window partitions, so the rows left
get the same window values). That is what lets ``SELECT ... FROM changes_view WHERE year = '2026' AND
... hour = '04'`` read one hour's partition of a table whose view deduplicates with
``row_number() OVER (PARTITION BY year, month, day, hour, event_id ...)``.

`push` does the same on the view's parsed body before `binding` binds it: a conjunct of the outer
``WHERE`` that names only the view's columns goes down through each ``SELECT`` whose output columns
it names are plain columns of that select's one source, past every window whose ``PARTITION BY``
holds those columns, and is added (AND) to the ``WHERE`` of the select that reads a catalog table
(or another view, which then pushes it further). The outer ``WHERE`` keeps the conjunct: the copy
only leaves out rows that could not have passed it, so results are the same and only what is read
changes. A conjunct that cannot reach a table is not pushed at all.

Not pushed (the view reads every partition, as before): past a GROUP BY, HAVING, an aggregate without
GROUP BY, LIMIT or OFFSET, a join, a set operation (UNION ...), a named WINDOW, a CTE of the body, a
computed output column, or a window whose PARTITION BY lacks one of the columns; nor a conjunct with
a subquery or a non-deterministic function (rand, random, uuid, shuffle), which must be evaluated
once. Trino pushes through some of these too (grouping keys, each branch of a UNION ALL).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from local_aws.athena_engine import sandbox

# Functions whose value may differ between two evaluations: a filter with one is never duplicated.
_NON_DETERMINISTIC = frozenset({"rand", "random", "uuid", "shuffle"})
# Clauses of a SELECT that a filter on its output cannot be moved below.
_BLOCKING = ("group", "having", "qualify", "windows", "limit", "offset", "joins", "laterals", "pivots")


def pushable(conjunct: exp.Expression) -> bool:
    """Whether a conjunct may be evaluated a second time, lower in the plan, with the same answer."""
    if conjunct.find(exp.Select, exp.Subquery, exp.AggFunc, exp.Window, exp.Rand):
        return False
    for function in conjunct.find_all(exp.Func):
        name = function.name if isinstance(function, exp.Anonymous) else function.sql_name()
        if name.lower() in _NON_DETERMINISTIC:
            return False
    return True


def _unqualified(conjunct: exp.Expression) -> exp.Expression:
    """A copy naming the view's columns without the reference's name or alias (``v.hour`` -> ``hour``)."""
    copy = conjunct.copy()
    for column in copy.find_all(exp.Column):
        column.set("table", None)
    return copy


def common(per_reference: Sequence[Sequence[exp.Expression]]) -> list[exp.Expression]:
    """The conjuncts every reference to one view filters by (the view is bound once for all of them),
    over the view's unqualified column names."""
    if not per_reference:
        return []
    others = [{_unqualified(c).sql() for c in conjuncts} for conjuncts in per_reference[1:]]
    found = [_unqualified(c) for c in per_reference[0]]
    return [c for c in found if all(c.sql() in texts for texts in others)]


def push(body: exp.Expression, conjuncts: Sequence[exp.Expression]) -> None:
    """Add each conjunct (from `common`) to the view's body where it reaches a table (`_push_into`)."""
    for conjunct in conjuncts:
        if pushable(conjunct):
            _push_into(body, conjunct)


def _outputs(select: exp.Select) -> tuple[dict[str, exp.Column | None], bool]:
    """Each output name -> the plain column it passes through (None if computed); and whether ``*`` is there."""
    outputs: dict[str, exp.Column | None] = {}
    star = False
    for item in select.expressions:
        if isinstance(item, exp.Star) or (isinstance(item, exp.Column) and isinstance(item.this, exp.Star)):
            star = True
            continue
        name = item.alias_or_name.lower()
        source = item.this if isinstance(item, exp.Alias) else item
        column = (
            source if isinstance(source, exp.Column) and isinstance(source.this, exp.Identifier) else None
        )
        # The same name twice is ambiguous: never pushed.
        outputs[name] = None if name in outputs else column
    return outputs, star


def _clauses(select: exp.Select) -> list[exp.Expression]:
    """The parts of a select that may hold its own aggregates and windows: the outputs and ORDER BY."""
    order = select.args.get("order")
    return [*select.expressions, *([order] if order is not None else [])]


def _aggregates(select: exp.Select) -> bool:
    """Whether the select aggregates (an aggregate function outside any window)."""
    for item in _clauses(select):
        for function in item.find_all(exp.AggFunc):
            if not function.find_ancestor(exp.Window):
                return True
    return False


def _within_windows(select: exp.Select, names: set[str]) -> bool:
    """Whether every window of the select partitions by each of ``names`` (plain columns)."""
    for item in _clauses(select):
        for window in item.find_all(exp.Window):
            keys = {
                key.name.lower()
                for key in window.args.get("partition_by") or []
                if isinstance(key, exp.Column)
            }
            if not names <= keys:
                return False
    return True


def _push_into(query: exp.Expression, conjunct: exp.Expression) -> bool:
    """Add ``conjunct`` (unqualified output names of ``query``) where it reaches a table; False if it cannot."""
    if not isinstance(query, exp.Select) or any(query.args.get(clause) for clause in _BLOCKING):
        return False
    if _aggregates(query):
        return False
    source = query.args.get("from_")
    source = source.this if isinstance(source, exp.From) else None
    outputs, star = _outputs(query)
    mapped: dict[str, exp.Column] = {}
    for column in conjunct.find_all(exp.Column):
        name = column.name.lower()
        if name in outputs:
            if outputs[name] is None:
                return False
            mapped[name] = outputs[name]  # type: ignore[assignment]
        elif star:
            mapped[name] = exp.Column(this=column.this.copy())
        else:
            return False
    if not mapped or not _within_windows(query, set(mapped)):
        return False
    lowered = conjunct.transform(
        lambda node: mapped[node.name.lower()].copy() if isinstance(node, exp.Column) else node
    )
    if isinstance(source, exp.Subquery):
        alias = source.alias.lower()
        inner = lowered.copy()
        for column in inner.find_all(exp.Column):
            if column.table and column.table.lower() != alias:
                return False  # a struct field (address.city), not a column of the subquery
            column.set("table", None)
        return _push_into(source.this, inner)
    if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier):
        if sandbox.is_cte_reference(source):
            return False
        query.where(lowered, copy=False)
        return True
    return False
