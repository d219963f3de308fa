"""Lambda's 4 KB quota on a function's environment variables, through boto3 as a user meets it.

AWS measures the Variables object as JSON without white space (names, values, quotes, colons,
commas and braces), in UTF-8 bytes, against 4096 bytes; 4096 passes, 4097 fails with
InvalidParameterValueException. What is documented and what is assumed: `lambda_backend`.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.local_aws.lambda_helpers import create_function, role_arn, wait_updated
from tests.support import unique

# The module's fixtures: a role, and functions made from handler source.
__all__ = ["create_function", "role_arn"]

LIMIT = 4096
REFUSAL = (
    "Lambda was unable to configure your environment variables because the environment variables "
    "you have provided exceeded the 4KB limit. String measured: "
)
ECHO = """
    def handler(event, context):
        return event
"""
# {"BIG":"<value>"}: ten bytes around the value.
AROUND_BIG = len('{"BIG":""}')


def big(size: int, fill: str = "x") -> dict[str, str]:
    """One variable whose JSON text is ``size`` bytes, its value made of ASCII ``fill``."""
    return {"BIG": fill * (size - AROUND_BIG)}


def assert_refused(error: pytest.ExceptionInfo[ClientError], variables: dict[str, str]) -> None:
    response = error.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "InvalidParameterValueException"
    message = response["Error"]["Message"]
    assert message.startswith(REFUSAL)
    assert json.loads(message[len(REFUSAL) :]) == variables


def test_create_function_takes_4096_bytes_and_refuses_4097(aws, create_function):
    at_limit = big(LIMIT)
    name = create_function(ECHO, Environment={"Variables": at_limit})
    stored = aws("lambda").get_function_configuration(FunctionName=name)
    assert stored["Environment"]["Variables"] == at_limit

    over = big(LIMIT + 1)
    refused_name = unique("fn-env")
    with pytest.raises(ClientError) as error:
        create_function(ECHO, FunctionName=refused_name, Environment={"Variables": over})
    assert_refused(error, over)
    with pytest.raises(ClientError) as missing:
        aws("lambda").get_function(FunctionName=refused_name)
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_update_takes_4096_bytes_refuses_4097_and_keeps_what_was_stored(aws, create_function):
    client = aws("lambda")
    name = create_function(ECHO, Environment={"Variables": {"MODE": "first"}})
    at_limit = big(LIMIT)
    client.update_function_configuration(FunctionName=name, Environment={"Variables": at_limit})
    wait_updated(client, name)
    before = client.get_function_configuration(FunctionName=name)
    assert before["Environment"]["Variables"] == at_limit

    over = big(LIMIT + 1)
    with pytest.raises(ClientError) as error:
        client.update_function_configuration(
            FunctionName=name, Environment={"Variables": over}, Timeout=30, Description="refused"
        )
    assert_refused(error, over)
    after = client.get_function_configuration(FunctionName=name)
    assert after["Environment"]["Variables"] == at_limit
    assert (after["Timeout"], after["Description"]) == (before["Timeout"], before["Description"])
    assert after["LastModified"] == before["LastModified"]
    assert after["LastUpdateStatus"] == "Successful"

    # An update that leaves Environment alone is not measured again and keeps the variables.
    client.update_function_configuration(FunctionName=name, Timeout=30)
    wait_updated(client, name)
    assert client.get_function_configuration(FunctionName=name)["Environment"]["Variables"] == at_limit


def test_the_json_punctuation_counts_not_only_names_and_values(aws, create_function):
    # 100 variables: names and values add up to 3,600 bytes, their JSON text to 4,201.
    many = {f"V{index:02d}": "v" * 33 for index in range(100)}
    assert sum(len(key) + len(value) for key, value in many.items()) < LIMIT
    with pytest.raises(ClientError) as error:
        create_function(ECHO, Environment={"Variables": many})
    assert_refused(error, many)


def test_non_ascii_counts_its_utf8_bytes_and_a_quote_its_escape(aws, create_function):
    client = aws("lambda")
    # "é" is two bytes in UTF-8 (a \u00e9 escape would be six): 2,043 of them reach 4,096 exactly.
    accents = {"BIG": "é" * ((LIMIT - AROUND_BIG) // 2)}
    name = create_function(ECHO, Environment={"Variables": accents})
    assert client.get_function_configuration(FunctionName=name)["Environment"]["Variables"] == accents
    # One ASCII character more is 4,097 bytes, though only 2,054 characters.
    one_over = {"BIG": accents["BIG"] + "x"}
    with pytest.raises(ClientError) as error:
        client.update_function_configuration(FunctionName=name, Environment={"Variables": one_over})
    assert_refused(error, one_over)
    # A quote in a value is measured as its escape, two bytes: 2,043 quotes are 4,096 bytes too.
    quotes = {"BIG": '"' * ((LIMIT - AROUND_BIG) // 2)}
    client.update_function_configuration(FunctionName=name, Environment={"Variables": quotes})
    wait_updated(client, name)
    assert client.get_function_configuration(FunctionName=name)["Environment"]["Variables"] == quotes
    quote_over = {"BIG": quotes["BIG"] + "x"}
    with pytest.raises(ClientError) as error:
        client.update_function_configuration(FunctionName=name, Environment={"Variables": quote_over})
    assert_refused(error, quote_over)
