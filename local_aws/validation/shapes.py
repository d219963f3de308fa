"""A JSON request body checked against its operation's input shape, as AWS's front end checks it.

A value of the wrong JSON type is a ``SerializationException`` (AWS cannot even deserialise it);
a missing required member or a length or range outside the model's constraints is a
``ValidationException`` listing every problem in AWS's words ("1 validation error detected: Value
null at 'tableName' failed to satisfy constraint: Member must not be null"). Patterns and enums are
not checked (see the gateway's LIMITATIONS).
"""

from __future__ import annotations

import re
from typing import Any

from local_aws.validation.errors import AwsError

# Far deeper than any AWS document allows (DynamoDB's 32 levels take about 70 shape levels); a
# body nested deeper is not walked further, so a hostile body cannot exhaust the stack.
_MAX_SHAPE_DEPTH = 100
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def blob_length(text: str) -> int | None:
    """The decoded length of a base64 string, or None when it is not base64 (without decoding it:
    strict decoding costs ~30 us per KiB, which a 500-record PutRecords would pay on every call)."""
    if len(text) % 4 or not _BASE64.fullmatch(text):
        return None
    return len(text) // 4 * 3 - (len(text) - len(text.rstrip("=")))


def check_json_input(document: dict[str, Any], shape: Any) -> None:
    """Raise the AwsError AWS would give for ``document`` as input of ``shape`` (or return)."""
    if shape is None:
        return
    problems: list[str] = []
    _check_structure(document, shape, "", problems, 0)
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        raise AwsError("ValidationException", f"{count} validation {noun} detected: " + "; ".join(problems))


def _member_path(parent: str, name: str) -> str:
    camel = name[:1].lower() + name[1:]
    return f"{parent}.{camel}" if parent else camel


def _type_error(value: Any, wanted: str) -> AwsError:
    if isinstance(value, dict):
        return AwsError("SerializationException", "Start of structure or map found where not expected.")
    if isinstance(value, list):
        return AwsError("SerializationException", "Start of list found where not expected")
    kind = (
        "BOOLEAN_VALUE"
        if isinstance(value, bool)
        else "NUMBER_VALUE"
        if isinstance(value, int | float)
        else "STRING_VALUE"
    )
    return AwsError("SerializationException", f"{kind} can not be converted to {wanted}")


def _check(value: Any, shape: Any, path: str, problems: list[str], depth: int) -> None:
    if depth > _MAX_SHAPE_DEPTH:
        return
    kind = shape.type_name
    if kind == "structure":
        if shape.metadata.get("document"):
            return
        if not isinstance(value, dict):
            raise _type_error(value, "a Structure")
        _check_structure(value, shape, path, problems, depth)
    elif kind == "list":
        if not isinstance(value, list):
            raise _type_error(value, "a List")
        _check_length(len(value), shape, path, "Value", problems)
        for index, item in enumerate(value):
            if item is not None:
                _check(item, shape.member, f"{path}.{index + 1}.member", problems, depth + 1)
    elif kind == "map":
        if not isinstance(value, dict):
            raise _type_error(value, "a Map")
        _check_length(len(value), shape, path, "Value", problems)
        for key, item in value.items():
            _check_scalar_length(key, shape.key, f"{path}.{key}.key", problems)
            if item is not None:
                _check(item, shape.value, f"{path}.{key}.member", problems, depth + 1)
    else:
        _check_scalar(value, shape, path, problems)


def _check_structure(value: dict[str, Any], shape: Any, path: str, problems: list[str], depth: int) -> None:
    members = shape.members
    for name in shape.required_members:
        if value.get(name) is None:
            problems.append(
                f"Value null at '{_member_path(path, name)}' failed to satisfy constraint: "
                "Member must not be null"
            )
    for name, item in value.items():
        member = members.get(name)
        if member is None or item is None:
            continue  # AWS ignores members it does not know, and null is the same as absent
        _check(item, member, _member_path(path, name), problems, depth + 1)


def _check_scalar(value: Any, shape: Any, path: str, problems: list[str]) -> None:
    kind = shape.type_name
    if kind == "string":
        if not isinstance(value, str):
            raise _type_error(value, "a String")
        _check_scalar_length(value, shape, path, problems)
    elif kind == "blob":
        if not isinstance(value, str):
            raise _type_error(value, "a Blob")
        size = blob_length(value)
        if size is None:
            raise AwsError("SerializationException", f"Base64 encoded value at '{path}' is invalid")
        shown = f"'java.nio.HeapByteBuffer[pos=0 lim={size} cap={size}]'"
        _check_length(size, shape, path, f"Value {shown}", problems)
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise _type_error(value, "a Boolean")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(value, "an Integer" if kind == "integer" else "a Long")
        _check_range(value, shape, path, problems)
    elif kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _type_error(value, "a Double")
        _check_range(value, shape, path, problems)
    elif kind == "timestamp" and (isinstance(value, bool) or not isinstance(value, int | float | str)):
        raise _type_error(value, "a Date")


def _check_scalar_length(value: Any, shape: Any, path: str, problems: list[str]) -> None:
    if isinstance(value, str):
        shown = value if len(value) <= 64 else value[:64] + "..."
        _check_length(len(value), shape, path, f"Value '{shown}'", problems)


def _check_length(size: int, shape: Any, path: str, shown: str, problems: list[str]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if high is not None and size > high:
        problems.append(
            f"{shown} at '{path}' failed to satisfy constraint: "
            f"Member must have length less than or equal to {high}"
        )
    elif low is not None and size < low:
        problems.append(
            f"{shown} at '{path}' failed to satisfy constraint: "
            f"Member must have length greater than or equal to {low}"
        )


def _check_range(value: float, shape: Any, path: str, problems: list[str]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if high is not None and value > high:
        problems.append(
            f"Value '{value}' at '{path}' failed to satisfy constraint: "
            f"Member must have value less than or equal to {high}"
        )
    elif low is not None and value < low:
        problems.append(
            f"Value '{value}' at '{path}' failed to satisfy constraint: "
            f"Member must have value greater than or equal to {low}"
        )
