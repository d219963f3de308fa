"""Query-protocol parameters (IAM, SNS, STS) checked against the operation's input shape.

Only top-level members are checked: required ones must be present (a list or structure counts as
present when any ``Name.…`` parameter is), and scalar values must parse as their type (integer,
boolean, timestamp) and fit the model's length and range constraints. moto otherwise raises on a
missing parameter or ``MaxItems=abc`` and the caller would get a 500.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from local_aws.validation.errors import AwsError

# The code each service answers a malformed or missing parameter with.
_CODES = {"sns": "InvalidParameter"}
_DEFAULT_CODE = "ValidationError"


def check_query_input(service: str, params: dict[str, list[str]], shape: Any) -> None:
    """Raise the service's validation error for the first problem with ``params``, or return."""
    if shape is None:
        return
    problems: list[str] = []
    for name in shape.required_members:
        if not _present(params, name):
            problems.append(
                f"Value null at '{_camel(name)}' failed to satisfy constraint: Member must not be null"
            )
    for name, member in shape.members.items():
        values = params.get(name)
        if values and member.type_name not in ("structure", "list", "map"):
            problems.extend(_scalar_problems(name, values[0], member))
    for name, values in params.items():
        parts = values[0].split(":") if name.endswith("Arn") and values else []
        if service == "sns" and parts and len(parts) < 6:
            raise AwsError(
                "InvalidParameter",
                f"Invalid parameter: {name} Reason: An ARN must have at least 6 elements, not {len(parts)}",
            )
    token = (params.get("NextToken") or [""])[0]
    if service == "sns" and token and not token.isdigit():
        # moto's SNS pages by position and parses the token as a number; AWS's tokens are opaque.
        raise AwsError("InvalidParameter", "Invalid parameter: NextToken")
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        raise AwsError(
            _CODES.get(service, _DEFAULT_CODE), f"{count} validation {noun} detected: " + "; ".join(problems)
        )


def _present(params: dict[str, list[str]], name: str) -> bool:
    prefix = name + "."
    return name in params or any(key.startswith(prefix) for key in params)


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _scalar_problems(name: str, value: str, shape: Any) -> list[str]:
    kind, path = shape.type_name, _camel(name)
    shown = value if len(value) <= 64 else value[:64] + "..."
    if kind in ("integer", "long"):
        try:
            number = int(value)
        except ValueError:
            return [f"Value '{shown}' at '{path}' failed to satisfy constraint: Member must be an integer"]
        return _bounds(number, shape, path, shown, "value")
    if kind in ("double", "float"):
        try:
            float(value)
        except ValueError:
            return [f"Value '{shown}' at '{path}' failed to satisfy constraint: Member must be a number"]
        return []
    if kind == "boolean" and value.lower() not in ("true", "false"):
        return [f"Value '{shown}' at '{path}' failed to satisfy constraint: Member must be true or false"]
    if kind == "timestamp" and not _timestamp(value):
        return [f"Value '{shown}' at '{path}' failed to satisfy constraint: Member must be a timestamp"]
    if kind == "string":
        return _bounds(len(value), shape, path, shown, "length")
    return []


def _timestamp(value: str) -> bool:
    try:
        float(value)
        return True
    except ValueError:
        pass
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


def _bounds(size: int, shape: Any, path: str, shown: str, what: str) -> list[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if high is not None and size > high:
        return [
            f"Value '{shown}' at '{path}' failed to satisfy constraint: Member must have {what} less than or equal to {high}"
        ]
    if low is not None and size < low:
        return [
            f"Value '{shown}' at '{path}' failed to satisfy constraint: Member must have {what} greater than or equal to {low}"
        ]
    return []
