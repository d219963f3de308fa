"""EventBridge event patterns: one test per operator, plus the shapes that must be rejected."""

from __future__ import annotations

import pytest

from local_aws.event_patterns import InvalidPatternError, matches, validate

RECORD = {
    "eventName": "MODIFY",
    "awsRegion": "us-east-1",
    "dynamodb": {
        "Keys": {"orderid": {"S": "o-17"}},
        "NewImage": {
            "orderid": {"S": "o-17"},
            "product_name": {"S": "Blue Widget"},
            "quantity": {"N": "3"},
            "tags": {"L": [{"S": "red"}, {"S": "sale"}]},
        },
        "SizeBytes": 120,
        "ip": "10.0.3.7",
    },
    "flags": ["a", "b"],
    "price": 12.5,
    "paid": True,
    "note": None,
}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"eventName": ["MODIFY"]}, True),
        ({"eventName": ["INSERT", "REMOVE"]}, False),
        ({"eventName": ["modify"]}, False),
        ({"price": [12.5]}, True),
        ({"price": [12.50000]}, True),
        ({"price": ["12.5"]}, False),
        ({"paid": [True]}, True),
        ({"paid": [1]}, False),
        ({"note": [None]}, True),
        ({"flags": ["b"]}, True),  # an array in the event matches if any element does
        ({"flags": ["c"]}, False),
        ({"dynamodb": {"Keys": {"orderid": {"S": ["o-17"]}}}}, True),
        ({"dynamodb": {"Keys": {"orderid": {"S": ["o-18"]}}}}, False),
        ({"missing": ["x"]}, False),
    ],
)
def test_exact_values(pattern, expected):
    assert matches(pattern, RECORD) is expected


def test_prefix_and_suffix():
    assert matches({"dynamodb": {"Keys": {"orderid": {"S": [{"prefix": "o-"}]}}}}, RECORD)
    assert not matches({"dynamodb": {"Keys": {"orderid": {"S": [{"prefix": "x-"}]}}}}, RECORD)
    assert matches({"dynamodb": {"NewImage": {"product_name": {"S": [{"suffix": "Widget"}]}}}}, RECORD)
    assert not matches({"dynamodb": {"NewImage": {"product_name": {"S": [{"suffix": "widget"}]}}}}, RECORD)
    assert matches(
        {"dynamodb": {"NewImage": {"product_name": {"S": [{"suffix": {"equals-ignore-case": "WIDGET"}}]}}}},
        RECORD,
    )
    assert matches({"eventName": [{"prefix": {"equals-ignore-case": "mod"}}]}, RECORD)
    assert not matches({"price": [{"prefix": "12"}]}, RECORD), "prefix only matches strings"


def test_anything_but():
    assert matches({"eventName": [{"anything-but": "REMOVE"}]}, RECORD)
    assert not matches({"eventName": [{"anything-but": ["MODIFY", "REMOVE"]}]}, RECORD)
    assert matches({"price": [{"anything-but": [1, 2]}]}, RECORD)
    assert not matches({"price": [{"anything-but": 12.5}]}, RECORD)
    assert matches({"eventName": [{"anything-but": {"prefix": "INS"}}]}, RECORD)
    assert not matches({"eventName": [{"anything-but": {"prefix": "MOD"}}]}, RECORD)
    assert not matches({"eventName": [{"anything-but": {"suffix": "IFY"}}]}, RECORD)
    assert not matches({"eventName": [{"anything-but": {"equals-ignore-case": ["modify"]}}]}, RECORD)
    assert not matches({"missing": [{"anything-but": "x"}]}, RECORD), "a missing field is not 'anything but'"


def test_exists():
    assert matches({"dynamodb": {"NewImage": {"quantity": {"N": [{"exists": True}]}}}}, RECORD)
    assert not matches({"dynamodb": {"OldImage": {"quantity": {"N": [{"exists": True}]}}}}, RECORD)
    assert matches({"dynamodb": {"OldImage": {"quantity": {"N": [{"exists": False}]}}}}, RECORD)
    assert not matches({"dynamodb": {"NewImage": {"quantity": {"N": [{"exists": False}]}}}}, RECORD)
    assert matches({"note": [{"exists": True}]}, RECORD), "a null value exists"
    # As in AWS, exists applies to leaves only, not to objects.
    assert not matches({"dynamodb": {"NewImage": [{"exists": True}]}}, RECORD)


def test_numeric():
    assert matches({"price": [{"numeric": [">", 10]}]}, RECORD)
    assert matches({"price": [{"numeric": [">", 10, "<=", 12.5]}]}, RECORD)
    assert not matches({"price": [{"numeric": [">", 10, "<", 12.5]}]}, RECORD)
    assert matches({"price": [{"numeric": ["=", 12.5]}]}, RECORD)
    assert not matches({"price": [{"numeric": [">=", 13]}]}, RECORD)
    assert matches({"dynamodb": {"SizeBytes": [{"numeric": ["<", 1000]}]}}, RECORD)
    # DynamoDB numbers are strings in the stream record: numeric never matches a string.
    assert not matches({"dynamodb": {"NewImage": {"quantity": {"N": [{"numeric": [">", 1]}]}}}}, RECORD)


def test_equals_ignore_case_wildcard_and_cidr():
    assert matches({"eventName": [{"equals-ignore-case": "modify"}]}, RECORD)
    assert not matches({"eventName": [{"equals-ignore-case": "insert"}]}, RECORD)
    assert matches({"dynamodb": {"NewImage": {"product_name": {"S": [{"wildcard": "Blue*get"}]}}}}, RECORD)
    assert not matches({"dynamodb": {"NewImage": {"product_name": {"S": [{"wildcard": "Red*"}]}}}}, RECORD)
    assert matches({"dynamodb": {"ip": [{"cidr": "10.0.0.0/16"}]}}, RECORD)
    assert not matches({"dynamodb": {"ip": [{"cidr": "10.1.0.0/16"}]}}, RECORD)


def test_or_and_arrays_of_objects():
    assert matches({"$or": [{"eventName": ["INSERT"]}, {"price": [{"numeric": [">", 10]}]}]}, RECORD)
    assert not matches({"$or": [{"eventName": ["INSERT"]}, {"price": [{"numeric": [">", 20]}]}]}, RECORD)
    # Fields beside $or must also match.
    assert not matches({"paid": [False], "$or": [{"eventName": ["MODIFY"]}, {"price": [1]}]}, RECORD)
    assert matches({"dynamodb": {"NewImage": {"tags": {"L": {"S": ["sale"]}}}}}, RECORD)


def test_string_patterns_are_parsed():
    assert matches(
        '{"eventName": ["MODIFY"], "dynamodb": {"Keys": {"orderid": {"S": [{"prefix": "o"}]}}}}', RECORD
    )


@pytest.mark.parametrize(
    "pattern",
    [
        "not json",
        "[1, 2]",
        "{}",
        {"eventName": "MODIFY"},  # leaves must be arrays
        {"eventName": [["MODIFY"]]},
        {"eventName": [{"prefix": 5}]},
        {"eventName": [{"suffix": ["a"]}]},
        {"eventName": [{"exists": "yes"}]},
        {"eventName": [{"numeric": [">"]}]},
        {"eventName": [{"numeric": ["!=", 5]}]},
        {"eventName": [{"numeric": [">", "5"]}]},
        {"eventName": [{"numeric": [">", 5, ">", 6]}]},
        {"eventName": [{"numeric": [">", 9, "<", 5]}]},
        {"eventName": [{"anything-but": []}]},
        {"eventName": [{"anything-but": {"exists": True}}]},
        {"eventName": [{"equals-ignore-case": 3}]},
        {"eventName": [{"wildcard": "a**b"}]},
        {"eventName": [{"cidr": "not-an-ip"}]},
        {"eventName": [{"regex": ".*"}]},
        {"eventName": [{"prefix": "a", "suffix": "b"}]},
        {"$or": [{"eventName": ["A"]}]},
        {"$or": {"eventName": ["A"]}},
        {"dynamodb": {}},
    ],
)
def test_invalid_patterns_are_rejected(pattern):
    with pytest.raises(InvalidPatternError):
        validate(pattern)
