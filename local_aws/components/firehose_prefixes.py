"""Firehose S3 prefix expressions: validation at CreateDeliveryStream/UpdateDestination, evaluation at delivery.

A prefix may hold ``!{namespace:value}`` expressions: ``timestamp`` (a Java DateTimeFormatter pattern,
evaluated at the approximate arrival time of the oldest record in the object, UTC), ``firehose``
(``error-output-type``, ``random-string``), ``partitionKeyFromQuery`` and ``partitionKeyFromLambda``
(dynamic partitioning). The rules follow the Firehose developer guide's "Custom prefixes for Amazon
S3 objects" page; the messages of rejected prefixes are the ones AWS answers where they are known.
"""

from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass
from datetime import datetime

_EXPRESSION = re.compile(r"!\{([^:{}]*):([^{}]*)\}")
NAMESPACES = ("timestamp", "firehose", "partitionKeyFromQuery", "partitionKeyFromLambda")
DYNAMIC_NAMESPACES = ("partitionKeyFromQuery", "partitionKeyFromLambda")
FIREHOSE_VALUES = ("error-output-type", "random-string")

# What Firehose uses when a prefix has no timestamp expression (and no dynamic partitioning).
DEFAULT_TIME_PREFIX = "!{timestamp:yyyy/MM/dd/HH/}"

# AWS words every rejected prefix this way (its typo included, so clients that match on it still do).
_CONSTRAINT = "Ths supplied prefix(es) do not satisfy the following constraint: "
DYNAMIC_DISABLED_MESSAGE = "Dynamic Partitioning Namespaces can only be part of a prefix expression when Dynamic Partitioning is enabled."

_RANDOM_ALPHABET = string.ascii_lowercase + string.digits
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_SUPPORTED_LETTERS = set("yuMdHmsSD")


class PrefixError(ValueError):
    """A prefix Firehose would reject; the message is what the API answers."""


class MissingPartitionKey(KeyError):
    """A record lacks a partition key the prefix needs (a dynamic-partitioning failure)."""


@dataclass(frozen=True)
class Expression:
    namespace: str
    value: str


def expressions(prefix: str) -> list[Expression]:
    return [Expression(ns, value) for ns, value in _EXPRESSION.findall(prefix or "")]


# -- timestamps -------------------------------------------------------------------------------
def _tokenize_pattern(pattern: str) -> list[tuple[str, str]]:
    """Split a DateTimeFormatter pattern into ("letter", run) and ("text", literal) tokens."""
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "'":
            end = pattern.find("'", i + 1)
            if end == i + 1:  # '' is a literal quote
                tokens.append(("text", "'"))
                i += 2
                continue
            if end < 0:
                raise PrefixError(
                    _CONSTRAINT + f"Invalid timestamp pattern: unterminated quote in {pattern!r}"
                )
            tokens.append(("text", pattern[i + 1 : end]))
            i = end + 1
        elif char.isalpha():
            j = i
            while j < len(pattern) and pattern[j] == char:
                j += 1
            if char not in _SUPPORTED_LETTERS:
                raise PrefixError(
                    _CONSTRAINT + f"Unsupported timestamp pattern letter {char!r} in {pattern!r}"
                )
            tokens.append(("letter", pattern[i:j]))
            i = j
        else:
            tokens.append(("text", char))
            i += 1
    return tokens


def format_timestamp(pattern: str, instant: datetime) -> str:
    """Format ``instant`` with a Java DateTimeFormatter pattern (the letters Firehose users use)."""
    out: list[str] = []
    for kind, token in _tokenize_pattern(pattern):
        if kind == "text":
            out.append(token)
            continue
        letter, width = token[0], len(token)
        if letter in "yu":
            out.append(f"{instant.year % 100:02d}" if width == 2 else f"{instant.year:0{width}d}")
        elif letter == "M":
            if width >= 4:
                out.append(_MONTHS[instant.month - 1])
            elif width == 3:
                out.append(_MONTHS[instant.month - 1][:3])
            else:
                out.append(f"{instant.month:0{width}d}")
        elif letter == "d":
            out.append(f"{instant.day:0{width}d}")
        elif letter == "D":
            out.append(f"{instant.timetuple().tm_yday:0{width}d}")
        elif letter == "H":
            out.append(f"{instant.hour:0{width}d}")
        elif letter == "m":
            out.append(f"{instant.minute:0{width}d}")
        elif letter == "s":
            out.append(f"{instant.second:0{width}d}")
        elif letter == "S":
            out.append(f"{instant.microsecond:06d}"[:width].ljust(width, "0"))
    return "".join(out)


# -- validation -------------------------------------------------------------------------------
def _check_syntax(prefix: str) -> list[Expression]:
    found = expressions(prefix)
    if "!{" in _EXPRESSION.sub("", prefix):
        raise PrefixError(_CONSTRAINT + "The sequence !{ can only appear in !{namespace:value} expressions")
    for expression in found:
        if expression.namespace not in NAMESPACES:
            raise PrefixError(_CONSTRAINT + f"Unknown namespace {expression.namespace!r} in {prefix!r}")
        if expression.namespace == "firehose" and expression.value not in FIREHOSE_VALUES:
            raise PrefixError(_CONSTRAINT + f"Unknown firehose namespace value {expression.value!r}")
        if expression.namespace == "timestamp":
            _tokenize_pattern(expression.value)
        if expression.namespace in DYNAMIC_NAMESPACES and not expression.value:
            raise PrefixError(_CONSTRAINT + f"{expression.namespace} needs a key name")
    return found


def check_prefixes(
    prefix: str | None,
    error_prefix: str | None,
    dynamic_partitioning: bool = False,
    query_keys: set[str] | None = None,
    lambda_processor: bool = False,
) -> None:
    """Raise `PrefixError` for a Prefix/ErrorOutputPrefix pair that Firehose rejects."""
    prefix = prefix or ""
    error_prefix = error_prefix or ""
    found = _check_syntax(prefix)
    error_found = _check_syntax(error_prefix)
    if any(e.namespace == "firehose" and e.value == "error-output-type" for e in found):
        raise PrefixError(_CONSTRAINT + "Prefix cannot contain !{firehose:error-output-type}")
    if found and not error_prefix:
        raise PrefixError(
            _CONSTRAINT + "ErrorOutputPrefix cannot be null or empty when Prefix contains expressions"
        )
    if error_found and not any(
        e.namespace == "firehose" and e.value == "error-output-type" for e in error_found
    ):
        raise PrefixError(
            _CONSTRAINT
            + "ErrorOutputPrefix must contain !{firehose:error-output-type} when it contains expressions"
        )
    if any(e.namespace in DYNAMIC_NAMESPACES for e in error_found):
        raise PrefixError(_CONSTRAINT + "ErrorOutputPrefix cannot contain dynamic partitioning namespaces")
    dynamic = [e for e in found if e.namespace in DYNAMIC_NAMESPACES]
    if dynamic and not dynamic_partitioning:
        raise PrefixError(DYNAMIC_DISABLED_MESSAGE)
    if dynamic_partitioning and not dynamic:
        raise PrefixError(
            "When Dynamic Partitioning is enabled, the Prefix must contain at least one "
            "partitionKeyFromQuery or partitionKeyFromLambda expression."
        )
    for expression in dynamic:
        if expression.namespace == "partitionKeyFromQuery":
            if query_keys is None:
                raise PrefixError(
                    "partitionKeyFromQuery expressions require a MetadataExtraction processor "
                    "in the ProcessingConfiguration."
                )
            if expression.value not in query_keys:
                raise PrefixError(
                    f"The partitionKeyFromQuery key {expression.value!r} is not defined by the "
                    "MetadataExtractionQuery."
                )
        if expression.namespace == "partitionKeyFromLambda" and not lambda_processor:
            raise PrefixError(
                "partitionKeyFromLambda expressions require a Lambda processor in the ProcessingConfiguration."
            )


# -- evaluation -------------------------------------------------------------------------------
def success_template(prefix: str | None, dynamic_partitioning: bool) -> str:
    """The template objects of delivered records are named with (AWS appends the default time)."""
    prefix = prefix or ""
    if dynamic_partitioning or any(e.namespace == "timestamp" for e in expressions(prefix)):
        return prefix
    return prefix + DEFAULT_TIME_PREFIX


def error_template(prefix: str | None, error_prefix: str | None) -> str:
    """The template failed records are written under; AWS's default when ErrorOutputPrefix is unset."""
    if error_prefix:
        return error_prefix
    return (prefix or "") + "!{firehose:error-output-type}/" + DEFAULT_TIME_PREFIX


def random_string() -> str:
    return "".join(random.choices(_RANDOM_ALPHABET, k=11))


def evaluate(
    template: str,
    instant: datetime,
    error_output_type: str | None = None,
    query_keys: dict[str, str] | None = None,
    lambda_keys: dict[str, str] | None = None,
) -> str:
    """Expand every expression; raises `MissingPartitionKey` when a partition key is absent."""

    def expand(match: re.Match[str]) -> str:
        namespace, value = match.group(1), match.group(2)
        if namespace == "timestamp":
            return format_timestamp(value, instant)
        if namespace == "firehose":
            if value == "random-string":
                return random_string()
            return error_output_type or ""
        keys = query_keys if namespace == "partitionKeyFromQuery" else lambda_keys
        if not keys or value not in keys:
            raise MissingPartitionKey(f"{namespace}:{value}")
        return keys[value]

    return _EXPRESSION.sub(expand, template)


def dynamic_keys_needed(prefix: str | None) -> tuple[list[str], list[str]]:
    """(query keys, lambda keys) that a prefix refers to."""
    query, from_lambda = [], []
    for expression in expressions(prefix or ""):
        if expression.namespace == "partitionKeyFromQuery":
            query.append(expression.value)
        elif expression.namespace == "partitionKeyFromLambda":
            from_lambda.append(expression.value)
    return query, from_lambda
