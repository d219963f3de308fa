"""The IAM policy language: statements, Action/Resource matching, principals and conditions.

Nothing here knows a service or moto; `evaluation.py` applies these pieces to a request.

- Action / NotAction: ``service:Action`` with ``*`` and ``?``, case-insensitive.
- Resource / NotResource: ARNs compared segment by segment (the parts between colons), case
  sensitive; a wildcard stays inside its segment unless it ends the segment, in which case it
  may run past colons (IAM's documented rule, so ``arn:aws:s3:::*`` covers every object). A
  request resource of None stands for an action without a resource type: only ``"*"`` names it.
- Condition operators: String(Not)Equals(IgnoreCase), String(Not)Like, Arn(Not)Equals,
  Arn(Not)Like, Bool, Null, (Not)IpAddress, Numeric*, Date*, BinaryEquals, each with
  ``...IfExists`` and the ``ForAnyValue:`` / ``ForAllValues:`` set qualifiers. Key names are
  case-insensitive, values of one key are ORed (a negated operator needs none to match), keys and
  operators are ANDed; a key missing from the request makes a positive operator false and a
  negated one true (``...IfExists`` makes it true, ``Null`` tests it).
- Policy variables (``${aws:username}``, ``${aws:PrincipalAccount}``...) in Resource and in
  condition values of policies with ``"Version": "2012-10-17"``; ``${*}``, ``${?}``, ``${$}`` are
  the literal characters. A variable missing from the request makes its value match nothing.

Parsed documents are cached by their text, so a policy is parsed once however often it is read.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

ALLOW = "Allow"
DENY = "Deny"
Context = Mapping[str, "str | list[str]"]


class PolicyError(ValueError):
    """The text is not a JSON policy document."""


class UnknownOperator(ValueError):
    """A condition operator this evaluator does not implement."""


# -- reading a policy -------------------------------------------------------------------------
@functools.lru_cache(maxsize=1024)
def parse(text: str) -> tuple[tuple[dict[str, Any], ...], bool]:
    """(statements, variables allowed?) of a policy's text, parsed once per text.

    The statements are shared between callers and must not be changed.
    """
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise PolicyError(f"the policy is not valid JSON: {exc}") from exc
    return tuple(statements_of(document)), _allows_variables(document)


def document_statements(policy: str | bytes | Mapping[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """The statements of a policy given as text, bytes or a parsed document."""
    if isinstance(policy, bytes | str):
        text = policy if isinstance(policy, str) else policy.decode("utf-8", "replace")
        found, variables = parse(text)
        return list(found), variables
    return statements_of(policy), _allows_variables(policy)


def statements_of(policy: Any) -> list[dict[str, Any]]:
    if not isinstance(policy, Mapping):
        raise PolicyError("the policy is not a JSON object")
    found = policy.get("Statement", [])
    found = [found] if isinstance(found, Mapping) else found
    if not isinstance(found, list) or not all(isinstance(s, Mapping) for s in found):
        raise PolicyError("the policy's Statement is not a list of objects")
    return [dict(s) for s in found]


def _allows_variables(document: Any) -> bool:
    # Policy variables exist only in the 2012-10-17 language; older policies compare them literally.
    return isinstance(document, Mapping) and document.get("Version") == "2012-10-17"


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


# -- wildcards ------------------------------------------------------------------------------
@functools.lru_cache(maxsize=8192)
def _wildcard_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    # Policies are matched on every request and every object a delivery writes: compile once.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def wildcard(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM's wildcards: ``*`` any run of characters, ``?`` one character, nothing else special."""
    return _wildcard_regex(pattern, ignore_case).fullmatch(value) is not None


@functools.lru_cache(maxsize=8192)
def _arn_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for index, char in enumerate(pattern):
        if char == "*":
            ends_segment = index + 1 == len(pattern) or pattern[index + 1] == ":"
            parts.append(".*" if ends_segment else "[^:]*")
        elif char == "?":
            parts.append("[^:]")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


def arn_matches(pattern: str, arn: str | None) -> bool:
    """Whether a Resource pattern names ``arn`` (None: an action without resource type)."""
    if pattern == "*":
        return True
    if arn is None:
        return False
    return _arn_regex(pattern).fullmatch(arn) is not None


@functools.lru_cache(maxsize=4096)
def _any_of(patterns: tuple[str, ...]) -> re.Pattern[str]:
    # One regex per Action list: a statement's actions are tested with one match, not one per entry.
    alternatives = "|".join(_wildcard_regex(p, True).pattern for p in patterns)
    return re.compile(f"(?:{alternatives})", re.IGNORECASE | re.DOTALL)


def action_matches(patterns: Any, action: str) -> bool:
    key = (patterns,) if isinstance(patterns, str) else tuple(str(p) for p in as_list(patterns))
    return _any_of(key).fullmatch(action) is not None


# -- policy variables -----------------------------------------------------------------------
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_LITERALS = {"*": "*", "?": "?", "$": "$"}


class _Missing(Exception):
    pass


def substitute(value: str, context: Context) -> str | None:
    """``value`` with its ``${key}`` variables replaced from ``context``; None when one is missing."""
    if "${" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1)
        if inner in _LITERALS:
            return _LITERALS[inner]
        key, _, default = inner.partition(",")
        found = lookup(context, key.strip())
        if found:
            return found[0]
        default = default.strip()
        if len(default) >= 2 and default[0] == default[-1] == "'":
            return default[1:-1]
        raise _Missing(key)

    try:
        return _VARIABLE.sub(replace, value)
    except _Missing:
        return None


# -- conditions -----------------------------------------------------------------------------
def _string_equals(pattern: str, value: str) -> bool:
    return pattern == value


def _string_equals_ignore_case(pattern: str, value: str) -> bool:
    return pattern.lower() == value.lower()


def _string_like(pattern: str, value: str) -> bool:
    return wildcard(pattern, value)


def _arn_like(pattern: str, value: str) -> bool:
    # ARNs are compared component by component, so a wildcard never spans a colon-separated part.
    pattern_parts, value_parts = pattern.split(":", 5), value.split(":", 5)
    if len(pattern_parts) != 6 or len(value_parts) != 6:
        return False
    return all(wildcard(p, v) for p, v in zip(pattern_parts, value_parts, strict=True))


def _bool(pattern: str, value: str) -> bool:
    return pattern.lower() == value.lower()


def _ip_address(pattern: str, value: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(pattern, strict=False)
    except ValueError:
        return False


def _number(text: str) -> float:
    return float(text)


def _date(text: str) -> float:
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)  # epoch seconds
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).timestamp()


def _compare(parse_value: Callable[[str], float], test: Callable[[float, float], bool]) -> Any:
    def compare(pattern: str, value: str) -> bool:
        try:
            return bool(test(parse_value(value), parse_value(pattern)))
        except (ValueError, TypeError, OverflowError):
            return False

    return compare


# operator -> (comparison of one policy value with one request value, negated?)
OPERATORS: dict[str, tuple[Any, bool]] = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_equals_ignore_case, False),
    "StringNotEqualsIgnoreCase": (_string_equals_ignore_case, True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "ArnEquals": (_arn_like, False),  # IAM treats ArnEquals like ArnLike
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
    "Bool": (_bool, False),
    "IpAddress": (_ip_address, False),
    "NotIpAddress": (_ip_address, True),
    "BinaryEquals": (_string_equals, False),
    "NumericEquals": (_compare(_number, lambda v, p: v == p), False),
    "NumericNotEquals": (_compare(_number, lambda v, p: v == p), True),
    "NumericLessThan": (_compare(_number, lambda v, p: v < p), False),
    "NumericLessThanEquals": (_compare(_number, lambda v, p: v <= p), False),
    "NumericGreaterThan": (_compare(_number, lambda v, p: v > p), False),
    "NumericGreaterThanEquals": (_compare(_number, lambda v, p: v >= p), False),
    "DateEquals": (_compare(_date, lambda v, p: v == p), False),
    "DateNotEquals": (_compare(_date, lambda v, p: v == p), True),
    "DateLessThan": (_compare(_date, lambda v, p: v < p), False),
    "DateLessThanEquals": (_compare(_date, lambda v, p: v <= p), False),
    "DateGreaterThan": (_compare(_date, lambda v, p: v > p), False),
    "DateGreaterThanEquals": (_compare(_date, lambda v, p: v >= p), False),
}


def lookup(context: Context, key: str) -> list[str] | None:
    """The request's values of one condition key (names compared case-insensitively)."""
    value = context.get(key)
    if value is None:
        wanted = key.lower()
        for name, candidate in context.items():
            if name.lower() == wanted:
                value = candidate
                break
        else:
            return None
    return [_text(v) for v in as_list(value)]


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _key_holds(operator: str, patterns: list[str], values: list[str] | None) -> bool:
    """One operator and one condition key against the request's values of that key."""
    qualifier, _, base = operator.rpartition(":")
    if base == "Null":
        return any((values is None) == (p.lower() == "true") for p in patterns)
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if base not in OPERATORS:
        raise UnknownOperator(operator)
    compare, negated = OPERATORS[base]
    if values is None or (qualifier and not values):
        if qualifier == "ForAllValues":
            return True  # vacuously true for an absent or empty set, as IAM documents
        return if_exists or negated

    def one(value: str) -> bool:
        hit = any(compare(p, value) for p in patterns)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(v) for v in values)
    return any(one(v) for v in values)


def conditions_hold(condition: Mapping[str, Any] | None, context: Context, variables: bool = False) -> bool:
    """Whether a statement's Condition block is satisfied by the request context.

    Raises `UnknownOperator` for an operator this module does not implement.
    """
    for operator, keys in (condition or {}).items():
        if not isinstance(keys, Mapping):
            raise UnknownOperator(operator)
        for key, raw in keys.items():
            patterns = [_text(p) for p in as_list(raw)]
            if variables:
                patterns = [s for s in (substitute(p, context) for p in patterns) if s is not None]
            if not _key_holds(operator, patterns, lookup(context, key)):
                return False
    return True


def resource_matches(
    statement: Mapping[str, Any], resource: str | None, context: Context, variables: bool
) -> bool:
    """Resource/NotResource against one resource ARN; an absent pair matches everything."""

    def named(patterns: Any) -> bool:
        for pattern in as_list(patterns):
            text = str(pattern)
            if variables:
                text = substitute(text, context)  # type: ignore[assignment]
                if text is None:
                    continue
            if arn_matches(text, resource):
                return True
        return False

    if "Resource" in statement:
        return named(statement["Resource"])
    if "NotResource" in statement:
        return not named(statement["NotResource"])
    return True


def action_in(statement: Mapping[str, Any], action: str) -> bool:
    if "Action" in statement:
        return action_matches(statement["Action"], action)
    if "NotAction" in statement:
        return not action_matches(statement["NotAction"], action)
    return False


def with_statements(policy: str | bytes | Mapping[str, Any], keep: list[Mapping[str, Any]]) -> dict[str, Any]:
    """A copy of ``policy`` whose Statement is ``keep`` (for callers that filter statements)."""
    document = json.loads(policy) if isinstance(policy, bytes | str) else dict(policy)
    document["Statement"] = list(keep)
    return document
