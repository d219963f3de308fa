"""Bad input gets the service's own error, in the service's own shape, never an HTML page or a traceback.

Requests no SDK would send (malformed JSON, unknown targets, invalid UTF-8) go out raw; each answer
is then parsed by botocore's own parser for that service, so the assertions see exactly what a
boto3 user would see in ``ClientError.response["Error"]``.
"""

from __future__ import annotations

import http.client
import logging
from collections.abc import Callable
from typing import Any

import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import create_parser

from tests.support import unique

SIGNED = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
_MODELS = botocore.session.get_session()


def send(
    endpoint_url: str,
    signing_name: str,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One raw request; the status, lower-cased headers and body of the answer."""
    host, port = endpoint_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        connection.request(
            method,
            path,
            body=body,
            headers={"Authorization": SIGNED.format(service=signing_name), **(headers or {})},
        )
        answer = connection.getresponse()
        return answer.status, {key.lower(): value for key, value in answer.getheaders()}, answer.read()
    finally:
        connection.close()


def seen_by_boto3(service: str, operation: str, answer: tuple[int, dict[str, str], bytes]) -> dict[str, str]:
    """``ClientError.response["Error"]`` for this answer, parsed by botocore as boto3 parses it."""
    status, headers, body = answer
    assert status >= 400, f"expected an error, got {status}: {body[:300]!r}"
    assert not headers.get("content-type", "").startswith("text/html"), body[:300]
    assert b"Traceback" not in body
    model = _MODELS.get_service_model(service)
    parsed = create_parser(model.protocol).parse(
        {"status_code": status, "headers": headers, "body": body},
        model.operation_model(operation).output_shape,
    )
    return parsed["Error"]


def json_call(endpoint_url: str, service: str, target: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    model = _MODELS.get_service_model(service)
    content_type = f"application/x-amz-json-{model.metadata['jsonVersion']}"
    return send(
        endpoint_url,
        model.signing_name,
        "POST",
        "/",
        body,
        {"X-Amz-Target": target, "Content-Type": content_type},
    )


JSON_SERVICES = [
    ("dynamodb", "ListTables"),
    ("dynamodbstreams", "ListStreams"),
    ("kinesis", "ListStreams"),
    ("firehose", "ListDeliveryStreams"),
    ("glue", "GetDatabases"),
    ("athena", "ListWorkGroups"),
    ("logs", "DescribeLogGroups"),
]


def target_of(service: str, operation: str) -> str:
    return f"{_MODELS.get_service_model(service).metadata['targetPrefix']}.{operation}"


# -- JSON protocols -----------------------------------------------------------------------------
@pytest.mark.parametrize(("service", "operation"), JSON_SERVICES)
def test_malformed_json_is_a_serialization_exception(endpoint_url: str, service: str, operation: str) -> None:
    answer = json_call(endpoint_url, service, target_of(service, operation), b'{"Limit": 1,')
    error = seen_by_boto3(service, operation, answer)
    assert answer[0] == 400
    assert error["Code"] == "SerializationException"
    assert error["Message"].startswith("Request body is not valid JSON")


@pytest.mark.parametrize(("service", "operation"), JSON_SERVICES)
def test_an_unknown_target_is_an_unknown_operation(endpoint_url: str, service: str, operation: str) -> None:
    target = target_of(service, "DropEverything")
    answer = json_call(endpoint_url, service, target, b"{}")
    error = seen_by_boto3(service, operation, answer)
    assert (answer[0], error["Code"]) == (400, "UnknownOperationException")
    assert error["Message"] == f"Unknown operation {target}"


@pytest.mark.parametrize(("service", "operation"), JSON_SERVICES[:3])
def test_invalid_utf8_and_non_objects_are_serialization_exceptions(
    endpoint_url: str, service: str, operation: str
) -> None:
    target = target_of(service, operation)
    error = seen_by_boto3(service, operation, json_call(endpoint_url, service, target, b'{"x": "\xff\xfe"}'))
    assert error == {"Code": "SerializationException", "Message": "Request body is not valid UTF-8 (byte 7)"}
    error = seen_by_boto3(service, operation, json_call(endpoint_url, service, target, b"[1, 2]"))
    assert error == {"Code": "SerializationException", "Message": "Start of list found where not expected"}


def test_members_of_the_wrong_type_or_missing_are_refused_as_aws_refuses_them(endpoint_url: str) -> None:
    target = target_of("dynamodb", "DescribeTable")
    error = seen_by_boto3(
        "dynamodb", "DescribeTable", json_call(endpoint_url, "dynamodb", target, b'{"TableName": 5}')
    )
    assert error == {
        "Code": "SerializationException",
        "Message": "NUMBER_VALUE can not be converted to a String",
    }
    error = seen_by_boto3("dynamodb", "DescribeTable", json_call(endpoint_url, "dynamodb", target, b"{}"))
    assert error == {
        "Code": "ValidationException",
        "Message": "1 validation error detected: Value null at 'tableName' failed to satisfy constraint: "
        "Member must not be null",
    }
    target = target_of("kinesis", "PutRecord")
    body = b'{"StreamName": "s", "PartitionKey": "p", "Data": {"not": "a blob"}}'
    error = seen_by_boto3("kinesis", "PutRecord", json_call(endpoint_url, "kinesis", target, body))
    assert error["Code"] == "SerializationException"


# -- REST-JSON and query protocols --------------------------------------------------------------
def test_malformed_json_to_lambda_and_pipes(endpoint_url: str) -> None:
    answer = send(
        endpoint_url,
        "lambda",
        "POST",
        "/2015-03-31/functions",
        b"{nope",
        {"Content-Type": "application/json"},
    )
    error = seen_by_boto3("lambda", "CreateFunction", answer)
    assert error["Code"] == "InvalidRequestContentException"
    assert error["Message"].startswith("Could not parse request body into json")
    answer = send(
        endpoint_url, "pipes", "POST", "/v1/pipes/p", b"\xff{", {"Content-Type": "application/json"}
    )
    error = seen_by_boto3("pipes", "CreatePipe", answer)
    assert error["Code"] == "ValidationException"
    assert error["Message"].startswith("Could not parse request body into json")


@pytest.mark.parametrize(
    ("service", "operation"), [("iam", "ListRoles"), ("sns", "ListTopics"), ("sts", "GetCallerIdentity")]
)
def test_query_protocol_actions_and_encodings(endpoint_url: str, service: str, operation: str) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    error = seen_by_boto3(
        service, operation, send(endpoint_url, service, "POST", "/", b"Action=DropEverything", form)
    )
    assert error["Code"] == "InvalidAction"
    assert error["Message"].startswith("The action or operation requested is invalid.")
    answer = send(endpoint_url, service, "POST", "/", f"Action={operation}&Name=%FF".encode(), form)
    assert answer[0] == 404
    error = seen_by_boto3(service, operation, answer)
    assert (error["Code"], error["Message"]) == (
        "MalformedQueryString",
        "The query string contains a syntax error.",
    )
    error = seen_by_boto3(service, operation, send(endpoint_url, service, "POST", "/", b"Version=1", form))
    assert error["Code"] == "MissingAction"


# -- S3 -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "operation"), [("delete", "DeleteObjects"), ("tagging", "PutBucketTagging")]
)
def test_malformed_xml_to_s3_is_malformed_xml(
    aws: Callable[..., Any], endpoint_url: str, query: str, operation: str
) -> None:
    bucket = unique("xml")
    aws("s3").create_bucket(Bucket=bucket)
    aws("s3").put_object(Bucket=bucket, Key="kept", Body=b"kept")
    method = "POST" if query == "delete" else "PUT"
    answer = send(endpoint_url, "s3", method, f"/{bucket}?{query}", b"<Delete><Object>")
    assert seen_by_boto3("s3", operation, answer) == {
        "Code": "MalformedXML",
        "Message": "The XML you provided was not well-formed or did not validate against our published schema",
    }
    assert aws("s3").get_object(Bucket=bucket, Key="kept")["Body"].read() == b"kept"


# -- failures that are not the caller's ---------------------------------------------------------
def no_retries(aws: Callable[..., Any], service: str) -> Any:
    return aws(service, config=Config(retries={"total_max_attempts": 1}))


def test_a_crash_in_moto_is_an_internal_failure_logged_on_the_server(
    aws: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from moto.dynamodb.responses import DynamoHandler
    from moto.s3.responses import S3Response

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret detail of a bug")

    monkeypatch.setattr(DynamoHandler, "list_tables", crash)
    monkeypatch.setattr(S3Response, "all_buckets", crash)
    with caplog.at_level(logging.ERROR, logger="local_aws.gateway"):
        with pytest.raises(ClientError) as caught:
            no_retries(aws, "dynamodb").list_tables()
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert caught.value.response["Error"] == {
            "Code": "InternalFailure",
            "Message": "The request processing has failed because of an unknown error, exception or failure.",
        }
        with pytest.raises(ClientError) as caught:
            no_retries(aws, "s3").list_buckets()
        assert caught.value.response["Error"]["Code"] == "InternalError"
        assert (
            caught.value.response["Error"]["Message"] == "We encountered an internal error. Please try again."
        )
    assert "secret detail of a bug" in caplog.text, "the traceback stays in the server's log"


def test_a_crash_in_a_component_is_an_internal_failure(local_aws: Any, aws: Callable[..., Any]) -> None:
    def crash(request: Any) -> None:
        if request.operation == "ListStreams":
            raise KeyError("component bug")

    local_aws.gateway.interceptors.append(crash)
    try:
        with pytest.raises(ClientError) as caught:
            no_retries(aws, "kinesis").list_streams()
    finally:
        local_aws.gateway.interceptors.remove(crash)
    assert caught.value.response["Error"]["Code"] == "InternalFailure"
    assert "component bug" not in str(caught.value.response)
    assert "StreamNames" in aws("kinesis").list_streams(), "the server goes on answering"


# -- what the fuzz test found -------------------------------------------------------------------
def test_query_parameters_of_the_wrong_type_or_missing(endpoint_url: str) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = send(
        endpoint_url, "iam", "POST", "/", b"Action=ListRoles&Version=2010-05-08&MaxItems=many", form
    )
    assert seen_by_boto3("iam", "ListRoles", answer) == {
        "Type": "Sender",
        "Code": "ValidationError",
        "Message": "1 validation error detected: Value 'many' at 'maxItems' failed to satisfy constraint: "
        "Member must be an integer",
    }
    answer = send(endpoint_url, "iam", "POST", "/", b"Action=GetRole&Version=2010-05-08", form)
    assert seen_by_boto3("iam", "GetRole", answer)["Message"] == (
        "1 validation error detected: Value null at 'roleName' failed to satisfy constraint: Member must not be null"
    )
    answer = send(
        endpoint_url, "sns", "POST", "/", b"Action=DeleteTopic&Version=2010-03-31&TopicArn=nope", form
    )
    error = seen_by_boto3("sns", "DeleteTopic", answer)
    assert (error["Code"], error["Message"]) == (
        "InvalidParameter",
        "Invalid parameter: TopicArn Reason: An ARN must have at least 6 elements, not 1",
    )


def test_rest_json_routes_and_bodies_are_checked_against_the_model(endpoint_url: str) -> None:
    json_body = {"Content-Type": "application/json"}
    answer = send(
        endpoint_url, "lambda", "POST", "/2015-03-31/functions", b'{"Runtime": "python3.11"}', json_body
    )
    error = seen_by_boto3("lambda", "CreateFunction", answer)
    assert error["Code"] == "ValidationException"
    assert (
        "Value null at 'functionName' failed to satisfy constraint: Member must not be null"
        in error["Message"]
    )
    answer = send(endpoint_url, "lambda", "PUT", "/2015-03-31/functions/f/configuration", b"", json_body)
    assert (
        seen_by_boto3("lambda", "UpdateFunctionConfiguration", answer)["Code"]
        == "InvalidRequestContentException"
    )
    answer = send(endpoint_url, "pipes", "PATCH", "/v1/pipes/p", b"{}", json_body)
    assert answer[0] == 404
    assert seen_by_boto3("pipes", "DescribePipe", answer) == {
        "Code": "UnknownOperationException",
        "Message": "Unknown operation PATCH /v1/pipes/p",
    }


def test_s3_posts_s3_does_not_take_and_xml_with_the_wrong_root(
    aws: Callable[..., Any], endpoint_url: str
) -> None:
    bucket = unique("post")
    aws("s3").create_bucket(Bucket=bucket)
    answer = send(endpoint_url, "s3", "POST", f"/{bucket}?versioning", b"")
    assert answer[0] == 405
    assert seen_by_boto3("s3", "PutBucketVersioning", answer)["Code"] == "MethodNotAllowed"
    wrong_root = b"<Delete><Object><Key>a</Key></Object></Delete>"
    answer = send(endpoint_url, "s3", "PUT", f"/{bucket}?tagging", wrong_root)
    assert seen_by_boto3("s3", "PutBucketTagging", answer)["Code"] == "MalformedXML"
    answer = send(endpoint_url, "s3", "POST", f"/{bucket}?delete", b"")
    assert seen_by_boto3("s3", "DeleteObjects", answer)["Code"] == "MalformedXML"
    answer = send(endpoint_url, "s3", "PUT", f"/{bucket}?acl", b"", {"x-amz-acl": "everyone-please"})
    assert seen_by_boto3("s3", "PutBucketAcl", answer) == {
        "Code": "InvalidArgument",
        "Message": "Argument x-amz-acl contains an invalid value: 'everyone-please'",
    }


def test_an_operation_moto_lacks_is_named_not_implemented(endpoint_url: str) -> None:
    answer = json_call(endpoint_url, "glue", target_of("glue", "UpdateSourceControlFromJob"), b"{}")
    assert answer[0] == 501
    error = seen_by_boto3("glue", "UpdateSourceControlFromJob", answer)
    assert error["Code"] == "NotImplemented"
    assert "update_source_control_from_job" in error["Message"]
    answer = json_call(endpoint_url, "dynamodb", target_of("dynamodb", "ListExports"), b"{}")
    assert answer[0] == 501
    assert seen_by_boto3("dynamodb", "ListExports", answer) == {
        "Code": "NotImplemented",
        "Message": "local_aws lists exports of one table only: give TableArn",
    }
