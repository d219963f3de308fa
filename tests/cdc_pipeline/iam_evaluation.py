"""A small IAM policy evaluator for the tests: does one identity policy allow one request?

Enough of IAM's evaluation logic to judge the policies this project writes: an explicit Deny wins,
else an Allow whose Action, Resource and every Condition match, else the implicit deny. Actions
match case-insensitively with `*`/`?` wildcards, resources case-sensitively. Only the condition
operators the project's policies use are known; any other raises, so a new operator can never be
silently treated as matching.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

Document = dict[str, Any]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _condition_matches(operator: str, key: str, wanted: Any, context: dict[str, str]) -> bool:
    if operator in ("StringEquals", "ArnEquals"):
        return key in context and context[key] in _as_list(wanted)
    if operator in ("StringLike", "ArnLike"):
        return key in context and any(fnmatchcase(context[key], pattern) for pattern in _as_list(wanted))
    raise NotImplementedError(f"condition operator {operator} is not modelled by this evaluator")


def _statement_matches(statement: Document, action: str, resource: str, context: dict[str, str]) -> bool:
    if not any(fnmatchcase(action.lower(), pattern.lower()) for pattern in _as_list(statement["Action"])):
        return False
    if not any(fnmatchcase(resource, pattern) for pattern in _as_list(statement["Resource"])):
        return False
    for operator, keys in statement.get("Condition", {}).items():
        for key, wanted in keys.items():
            if not _condition_matches(operator, key, wanted, context):
                return False
    return True


def decision(policy: Document, action: str, resource: str, context: dict[str, str] | None = None) -> str:
    """`"Deny"` (explicit), `"Allow"` or `"NotAllowed"` (the implicit deny)."""
    context = context or {}
    matching = [s for s in policy["Statement"] if _statement_matches(s, action, resource, context)]
    if any(s["Effect"] == "Deny" for s in matching):
        return "Deny"
    return "Allow" if matching else "NotAllowed"


def allows(policy: Document, action: str, resource: str, context: dict[str, str] | None = None) -> bool:
    return decision(policy, action, resource, context) == "Allow"
