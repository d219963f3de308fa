"""EventBridge event patterns: validate them and match events against them.

Used by EventBridge Pipes filters (``SourceParameters.FilterCriteria``) and by event source mapping
filters, which share the EventBridge pattern language. A pattern is a JSON object whose leaves are
arrays of matchers; an event matches when every field named by the pattern matches (AND), and a
leaf matches when any of its matchers does (OR). Where the event holds an array, the pattern
matches if any element does.

Supported matchers: exact values (string, number compared numerically, boolean, null), ``prefix``
and ``suffix`` (each also as ``{"equals-ignore-case": ...}``), ``anything-but`` (a value, a list of
values, or ``prefix`` / ``suffix`` / ``equals-ignore-case`` / ``wildcard``), ``exists`` (true /
false), ``numeric`` ranges, ``equals-ignore-case``, ``wildcard``, ``cidr`` and ``$or``.

Patterns are compiled once (cached by their JSON text) into closures, because a pipe filters every
record it reads and the benchmark pushes tens of thousands of records a second through it.

LIMITATIONS: AWS's limits on pattern complexity (the number of combinations ``$or`` may expand to)
and on numeric precision are not enforced; error messages are descriptive but not AWS's wording.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import operator as _op
import re
from collections.abc import Callable
from typing import Any

__all__ = ["InvalidPatternError", "compile_pattern", "matches", "validate"]


class InvalidPatternError(ValueError):
    """The pattern is not a valid EventBridge event pattern."""


_MISSING = object()  # the event has no such field
_NUMERIC_OPERATORS = {"<", "<=", "=", ">", ">="}
_LOWER_BOUNDS = {">", ">="}
_UPPER_BOUNDS = {"<", "<="}
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": _op.lt,
    "<=": _op.le,
    "=": _op.eq,
    ">": _op.gt,
    ">=": _op.ge,
}

Matcher = Callable[[Any], bool]  # applied to one scalar event value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same_value(expected: Any, actual: Any) -> bool:
    """Exact match with JSON typing: 5 matches 5.0, but true never matches 1 nor "true"."""
    if expected is None or isinstance(expected, bool):
        return actual is expected
    if _is_number(expected):
        return _is_number(actual) and float(actual) == float(expected)
    return isinstance(actual, str) and actual == expected


# -- leaf matchers -----------------------------------------------------------------------------


def _string_operand(operator: str, operand: Any) -> tuple[str, bool]:
    """The text of prefix/suffix/equals-ignore-case, and whether case is ignored."""
    if isinstance(operand, str):
        return operand, False
    if isinstance(operand, dict) and set(operand) == {"equals-ignore-case"}:
        inner = operand["equals-ignore-case"]
        if isinstance(inner, str):
            return inner, True
    raise InvalidPatternError(f"{operator} match pattern must be a string or an equals-ignore-case object")


def _prefix(operand: Any) -> Matcher:
    text, ignore_case = _string_operand("prefix", operand)
    if ignore_case:
        folded = text.casefold()
        return lambda value: isinstance(value, str) and value.casefold().startswith(folded)
    return lambda value: isinstance(value, str) and value.startswith(text)


def _suffix(operand: Any) -> Matcher:
    text, ignore_case = _string_operand("suffix", operand)
    if ignore_case:
        folded = text.casefold()
        return lambda value: isinstance(value, str) and value.casefold().endswith(folded)
    return lambda value: isinstance(value, str) and value.endswith(text)


def _equals_ignore_case(operand: Any) -> Matcher:
    if not isinstance(operand, str):
        raise InvalidPatternError("equals-ignore-case match pattern must be a string")
    folded = operand.casefold()
    return lambda value: isinstance(value, str) and value.casefold() == folded


def _wildcard(operand: Any) -> Matcher:
    if not isinstance(operand, str):
        raise InvalidPatternError("wildcard match pattern must be a string")
    if "**" in operand:
        raise InvalidPatternError("wildcard match pattern must not contain consecutive '*' characters")
    # "\*" is a literal star; every other character is literal.
    parts, literal = [], []
    index = 0
    while index < len(operand):
        char = operand[index]
        if char == "\\" and index + 1 < len(operand) and operand[index + 1] in "*\\":
            literal.append(operand[index + 1])
            index += 2
            continue
        if char == "*":
            parts.append(re.escape("".join(literal)))
            parts.append(".*")
            literal = []
        else:
            literal.append(char)
        index += 1
    parts.append(re.escape("".join(literal)))
    regex = re.compile("".join(parts), re.DOTALL)
    return lambda value: isinstance(value, str) and regex.fullmatch(value) is not None


def _numeric(operand: Any) -> Matcher:
    if not isinstance(operand, list) or len(operand) not in (2, 4):
        raise InvalidPatternError("numeric match pattern must be a list of one or two operator/value pairs")
    checks: list[tuple[str, float]] = []
    for position in range(0, len(operand), 2):
        operator, bound = operand[position], operand[position + 1]
        if operator not in _NUMERIC_OPERATORS:
            raise InvalidPatternError(f"unrecognized numeric range operator: {operator!r}")
        if not _is_number(bound):
            raise InvalidPatternError(f"value of numeric operator {operator} must be a number")
        checks.append((operator, float(bound)))
    if len(checks) == 2:
        kinds = {checks[0][0] in _LOWER_BOUNDS, checks[1][0] in _LOWER_BOUNDS}
        if "=" in (checks[0][0], checks[1][0]) or kinds != {True, False}:
            raise InvalidPatternError("a numeric range needs one lower bound (> or >=) and one upper bound")
        lower = next(c for c in checks if c[0] in _LOWER_BOUNDS)
        upper = next(c for c in checks if c[0] in _UPPER_BOUNDS)
        if lower[1] > upper[1]:
            raise InvalidPatternError("the lower bound of a numeric range must not exceed its upper bound")

    def match(value: Any) -> bool:
        if not _is_number(value):
            return False
        number = float(value)
        return all(_COMPARE[op](number, bound) for op, bound in checks)

    return match


def _cidr(operand: Any) -> Matcher:
    if not isinstance(operand, str):
        raise InvalidPatternError("cidr match pattern must be a string")
    try:
        network = ipaddress.ip_network(operand, strict=False)
    except ValueError as err:
        raise InvalidPatternError(f"invalid cidr {operand!r}: {err}") from None

    def match(value: Any) -> bool:
        if not isinstance(value, str):
            return False
        try:
            return ipaddress.ip_address(value) in network
        except ValueError:
            return False

    return match


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool, int, float))


def _anything_but(operand: Any) -> Matcher:
    if isinstance(operand, dict):
        if len(operand) != 1:
            raise InvalidPatternError("anything-but object must hold exactly one of prefix, suffix, ...")
        ((operator, inner),) = operand.items()
        builders = {
            "prefix": _prefix,
            "suffix": _suffix,
            "equals-ignore-case": _anything_but_ignore_case,
            "wildcard": _wildcard_list,
        }
        if operator not in builders:
            raise InvalidPatternError(f"unsupported operator inside anything-but: {operator!r}")
        positive = builders[operator](inner)
        # Negated string operators only ever match strings.
        return lambda value: isinstance(value, str) and not positive(value)
    values = operand if isinstance(operand, list) else [operand]
    if not values:
        raise InvalidPatternError("anything-but list must not be empty")
    for value in values:
        if not (isinstance(value, str) or _is_number(value)):
            raise InvalidPatternError("anything-but values must be strings or numbers")
    return lambda value: not any(_same_value(expected, value) for expected in values)


def _anything_but_ignore_case(operand: Any) -> Matcher:
    values = operand if isinstance(operand, list) else [operand]
    if not values or not all(isinstance(value, str) for value in values):
        raise InvalidPatternError("anything-but equals-ignore-case takes a string or a list of strings")
    folded = {value.casefold() for value in values}
    return lambda value: isinstance(value, str) and value.casefold() in folded


def _wildcard_list(operand: Any) -> Matcher:
    values = operand if isinstance(operand, list) else [operand]
    if not values:
        raise InvalidPatternError("anything-but wildcard list must not be empty")
    matchers = [_wildcard(value) for value in values]
    return lambda value: any(match(value) for match in matchers)


_OPERATORS: dict[str, Callable[[Any], Matcher]] = {
    "prefix": _prefix,
    "suffix": _suffix,
    "anything-but": _anything_but,
    "numeric": _numeric,
    "equals-ignore-case": _equals_ignore_case,
    "wildcard": _wildcard,
    "cidr": _cidr,
}


# -- leaves and objects ------------------------------------------------------------------------


def _compile_leaf(matchers: list[Any], path: str) -> Callable[[Any], bool]:
    """A leaf: a list of matchers, any of which may match the field (or absence of it)."""
    value_matchers: list[Matcher] = []
    exists: list[bool] = []
    for item in matchers:
        if isinstance(item, dict):
            if len(item) != 1:
                raise InvalidPatternError(f"{path}: a matcher object must have exactly one key")
            ((operator, operand),) = item.items()
            if operator == "exists":
                if not isinstance(operand, bool):
                    raise InvalidPatternError(f"{path}: exists match pattern must be true or false")
                exists.append(operand)
                continue
            if operator not in _OPERATORS:
                raise InvalidPatternError(f"{path}: unrecognized match type {operator!r}")
            try:
                value_matchers.append(_OPERATORS[operator](operand))
            except InvalidPatternError as err:
                raise InvalidPatternError(f"{path}: {err}") from None
        elif _is_scalar(item):
            value_matchers.append(functools.partial(_same_value, item))
        else:
            raise InvalidPatternError(
                f"{path}: match values must be strings, numbers, booleans, null or objects"
            )
    exists_true, exists_false = True in exists, False in exists

    def match(value: Any) -> bool:
        if value is _MISSING:
            return exists_false
        if isinstance(value, dict):
            # exists only applies to leaf values, as in AWS; an object never equals a matcher.
            return False
        if isinstance(value, list):
            if exists_true and value:
                return True
            return any(
                m(element)
                for element in value
                if not isinstance(element, (dict, list))
                for m in value_matchers
            )
        if exists_true:
            return True
        return any(m(value) for m in value_matchers)

    return match


def _child(event: Any, key: str) -> Any:
    if isinstance(event, dict):
        return event.get(key, _MISSING)
    return _MISSING


def _compile_object(pattern: dict[str, Any], path: str) -> Callable[[Any], bool]:
    if not pattern:
        raise InvalidPatternError(f"{path or 'pattern'}: empty objects are not allowed")
    checks: list[Callable[[Any], bool]] = []
    for key, sub in pattern.items():
        where = f"{path}.{key}" if path else key
        if key == "$or":
            if not isinstance(sub, list) or len(sub) < 2 or not all(isinstance(alt, dict) for alt in sub):
                raise InvalidPatternError(f"{where}: $or must be a list of at least two pattern objects")
            alternatives = [_compile_object(alt, where) for alt in sub]
            checks.append(lambda event, alts=alternatives: any(alt(event) for alt in alts))
        elif isinstance(sub, dict):
            inner = _compile_object(sub, where)
            checks.append(_object_field(key, inner))
        elif isinstance(sub, list):
            leaf = _compile_leaf(sub, where)
            checks.append(lambda event, k=key, leaf=leaf: leaf(_child(event, k)))
        else:
            raise InvalidPatternError(f"{where}: match value must be an array or an object")
    return lambda event: all(check(event) for check in checks)


def _object_field(key: str, inner: Callable[[Any], bool]) -> Callable[[Any], bool]:
    def check(event: Any) -> bool:
        value = _child(event, key)
        if isinstance(value, list):
            return any(inner(element) for element in value if isinstance(element, dict))
        if isinstance(value, dict):
            return inner(value)
        # Missing or scalar: only patterns satisfied by absent fields (exists: false) can match.
        return inner(_MISSING)

    return check


# -- public API --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _compile_text(text: str) -> Callable[[Any], bool]:
    try:
        pattern = json.loads(text)
    except (TypeError, ValueError) as err:
        raise InvalidPatternError(f"pattern is not valid JSON: {err}") from None
    if not isinstance(pattern, dict):
        raise InvalidPatternError("pattern must be a JSON object")
    return _compile_object(pattern, "")


def compile_pattern(pattern: str | dict[str, Any]) -> Callable[[Any], bool]:
    """Validate ``pattern`` (JSON text or a parsed object) and return ``event -> bool``.

    :raises InvalidPatternError: if the pattern is not a valid EventBridge event pattern.
    """
    if isinstance(pattern, str):
        return _compile_text(pattern)
    if not isinstance(pattern, dict):
        raise InvalidPatternError("pattern must be a JSON object")
    return _compile_text(json.dumps(pattern, sort_keys=True))


def validate(pattern: str | dict[str, Any]) -> None:
    """Raise `InvalidPatternError` if ``pattern`` is not a valid event pattern."""
    compile_pattern(pattern)


def matches(pattern: str | dict[str, Any], event: Any) -> bool:
    """Whether ``event`` (a parsed JSON value) matches the EventBridge ``pattern``."""
    return compile_pattern(pattern)(event)
