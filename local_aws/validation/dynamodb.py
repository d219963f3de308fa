"""DynamoDB's limits on attribute values and items, refused before moto stores anything.

- numbers: magnitude at most 9.9999999999999999999999999999999999999E+125 and at least 1E-130
  (zero aside), at most 38 significant digits, and parseable at all;
- documents (maps and lists) nested at most 32 levels;
- an item written by PutItem, BatchWriteItem or TransactWriteItems at most 400 KB (409,600 bytes),
  counted as DynamoDB counts it: UTF-8 names plus values;
- key attributes that are empty strings or empty binaries.

Messages are DynamoDB's own, as boto3 users see them in ``ValidationException``.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Iterator
from typing import Any

from local_aws.validation.errors import AwsError
from local_aws.validation.shapes import blob_length

MAX_ITEM_BYTES = 400 * 1024
MAX_NESTING = 32
MAX_DIGITS = 38
MAX_EXPONENT = 125  # adjusted exponent of 9.99...E+125
MIN_EXPONENT = -130  # adjusted exponent of 1E-130

ItemSource = Callable[[dict[str, Any]], Iterator[tuple[str | None, dict[str, Any], bool]]]


def _invalid(message: str) -> AwsError:
    return AwsError("ValidationException", message)


# -- where a request carries attribute values -------------------------------------------------
def _put_item(doc: dict[str, Any]) -> Iterator[tuple[str | None, dict[str, Any], bool]]:
    yield doc.get("TableName"), doc.get("Item") or {}, True


def _keyed(doc: dict[str, Any]) -> Iterator[tuple[str | None, dict[str, Any], bool]]:
    yield doc.get("TableName"), doc.get("Key") or {}, False
    yield None, doc.get("ExpressionAttributeValues") or {}, False


def _batch_write(doc: dict[str, Any]) -> Iterator[tuple[str | None, dict[str, Any], bool]]:
    for table, writes in (doc.get("RequestItems") or {}).items():
        for write in writes or []:
            if not isinstance(write, dict):
                continue
            if isinstance(write.get("PutRequest"), dict):
                yield table, write["PutRequest"].get("Item") or {}, True
            if isinstance(write.get("DeleteRequest"), dict):
                yield table, write["DeleteRequest"].get("Key") or {}, False


def _transact_write(doc: dict[str, Any]) -> Iterator[tuple[str | None, dict[str, Any], bool]]:
    for entry in doc.get("TransactItems") or []:
        if not isinstance(entry, dict):
            continue
        for kind, part in entry.items():
            if not isinstance(part, dict):
                continue
            if kind == "Put":
                yield part.get("TableName"), part.get("Item") or {}, True
            else:
                yield part.get("TableName"), part.get("Key") or {}, False
            yield None, part.get("ExpressionAttributeValues") or {}, False


def _values_only(doc: dict[str, Any]) -> Iterator[tuple[str | None, dict[str, Any], bool]]:
    yield None, doc.get("ExpressionAttributeValues") or {}, False
    for index, value in enumerate(doc.get("Parameters") or []):
        yield None, {str(index): value}, False


_SOURCES: dict[str, ItemSource] = {
    "PutItem": _put_item,
    "UpdateItem": _keyed,
    "DeleteItem": _keyed,
    "GetItem": _keyed,
    "BatchWriteItem": _batch_write,
    "TransactWriteItems": _transact_write,
    "Query": _values_only,
    "Scan": _values_only,
    "ExecuteStatement": _values_only,
}


def check(operation: str, document: dict[str, Any], key_names: Callable[[str], tuple[str, ...]]) -> None:
    """Raise DynamoDB's error for the first attribute value or item over a limit.

    ``key_names(table)`` gives a table's key attribute names (empty when the table is unknown:
    then moto answers ResourceNotFoundException as AWS does).
    """
    if operation == "ListExports" and not document.get("TableArn"):
        # AWS lists every export of the account; moto only one table's (and crashes without it).
        raise AwsError("NotImplemented", "local_aws lists exports of one table only: give TableArn", 501)
    source = _SOURCES.get(operation)
    if source is None:
        return
    for table, attributes, whole_item in source(document):
        if not isinstance(attributes, dict):
            continue
        size = 0
        for name, value in attributes.items():
            size += len(str(name).encode("utf-8")) + _check_value(value, 1)
        if whole_item and size > MAX_ITEM_BYTES:
            raise _invalid("Item size has exceeded the maximum allowed size")
        if table:
            _check_keys(attributes, key_names(table))


def _check_keys(attributes: dict[str, Any], keys: tuple[str, ...]) -> None:
    for name in keys:
        value = attributes.get(name)
        if not isinstance(value, dict):
            continue
        if value.get("S") == "":
            raise _invalid(
                "One or more parameter values are not valid. The AttributeValue for a key attribute "
                f"cannot contain an empty string value. Key: {name}"
            )
        if value.get("B") == "":
            raise _invalid(
                "One or more parameter values are not valid. The AttributeValue for a key attribute "
                f"cannot contain an empty binary value. Key: {name}"
            )


def _check_value(value: Any, depth: int) -> int:
    """Check one attribute value; return its size in bytes as DynamoDB counts it."""
    if not isinstance(value, dict):
        return 0  # the shape check has refused it already
    if "M" in value or "L" in value:
        if depth > MAX_NESTING:
            raise _invalid("Nesting Levels have exceeded supported limits")
        size = 3
        if isinstance(value.get("M"), dict):
            for name, inner in value["M"].items():
                size += 1 + len(str(name).encode("utf-8")) + _check_value(inner, depth + 1)
        if isinstance(value.get("L"), list):
            for inner in value["L"]:
                size += 1 + _check_value(inner, depth + 1)
        return size
    size = 0
    if isinstance(value.get("S"), str):
        size += len(value["S"].encode("utf-8"))
    if isinstance(value.get("N"), str):
        size += _number_size(value["N"])
    if isinstance(value.get("B"), str):
        size += _binary_size(value["B"])
    for text in value.get("SS") or []:
        size += len(str(text).encode("utf-8"))
    for number in value.get("NS") or []:
        size += _number_size(str(number))
    for blob in value.get("BS") or []:
        size += _binary_size(str(blob))
    if "BOOL" in value or "NULL" in value:
        size += 1
    return size


def _number_size(text: str) -> int:
    """Check a DynamoDB number; return its stored size (about one byte per two digits, plus one)."""
    try:
        number = decimal.Decimal(text.strip())
    except (decimal.InvalidOperation, ValueError) as exc:
        raise _invalid("A value provided cannot be converted into a number") from exc
    if not number.is_finite():
        raise _invalid("A value provided cannot be converted into a number")
    if number.is_zero():
        return 1
    digits = "".join(map(str, number.as_tuple().digits)).strip("0")
    if len(digits) > MAX_DIGITS:
        raise _invalid("Attempting to store more than 38 significant digits in a Number")
    exponent = number.adjusted()
    if exponent > MAX_EXPONENT:
        raise _invalid(
            "Number overflow. Attempting to store a number with magnitude larger than supported range"
        )
    if exponent < MIN_EXPONENT:
        raise _invalid(
            "Number underflow. Attempting to store a number with magnitude smaller than supported range"
        )
    return 1 + (len(digits) + 1) // 2


def _binary_size(text: str) -> int:
    size = blob_length(text)
    return len(text) if size is None else size
