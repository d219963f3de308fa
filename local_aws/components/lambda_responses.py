"""Lambda Invoke's wire format: request headers and qualifier, payload checks, Lambda's errors.

moto's `responses.py` parses Invoke and calls `LambdaFunction.invoke`; what it gets wrong or
leaves out is put right here: the real ``?Qualifier=`` (moto reads a lower-case "qualifier",
and from the event itself when the query has none), Lambda's payload quotas and JSON check with
Lambda's messages, the errors Invoke answers with their HTTP status, and a response body moto
must not re-measure.

LIMITATIONS: the asynchronous payload message's wording follows AWS's 256 KB-era message with the
documented 1 MB figure.
"""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import parse_qs

from moto.awslambda.exceptions import LambdaClientError

from local_aws.components.lambda_model import ASYNC_PAYLOAD_LIMIT, SYNC_PAYLOAD_LIMIT
from local_aws.gateway import AwsRequest


class InvalidRuntimeException(LambdaClientError):
    """Invoke's answer for a runtime this Lambda cannot run, as AWS names it."""

    code = 502

    def __init__(self, message: str) -> None:
        super().__init__("InvalidRuntimeException", message)


class RequestEntityTooLargeException(LambdaClientError):
    """Invoke's answer for a payload over Lambda's quota for that invocation type."""

    code = 413

    def __init__(self, message: str) -> None:
        super().__init__("RequestEntityTooLargeException", message)


class InvalidRequestContentException(LambdaClientError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("InvalidRequestContentException", message)


class CheckedPayload(bytes):
    """A response whose size this runtime has already checked against Lambda's limit.

    moto's Invoke response replaces any payload whose ``sys.getsizeof`` passes 6,000,000 with a
    ResponseSizeTooLarge error: a smaller limit than Lambda's 6,291,556 bytes, and counted with
    Python's object overhead. Reporting no size keeps moto from second-guessing the real check.
    """

    def __sizeof__(self) -> int:
        return 0


def request_header(headers: Any, name: str) -> str | None:
    """A request header from werkzeug's headers or from a plain dict (moto's internal calls)."""
    if not headers:
        return None
    value = headers.get(name)
    if value is None and isinstance(headers, dict):
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def check_payload_size(payload: bytes, invocation_type: str) -> None:
    """Refuse a payload over Lambda's quota, with the message Lambda gives."""
    if invocation_type == "Event":
        if len(payload) > ASYNC_PAYLOAD_LIMIT:
            raise RequestEntityTooLargeException(
                f"{len(payload)} byte payload is too large for the Event invocation type "
                f"(limit {ASYNC_PAYLOAD_LIMIT} bytes)"
            )
    elif len(payload) > SYNC_PAYLOAD_LIMIT:
        raise RequestEntityTooLargeException(
            f"Request must be smaller than {SYNC_PAYLOAD_LIMIT} bytes for the InvokeFunction operation"
        )


def validate_payload(payload: bytes) -> None:
    if not payload.strip():
        return
    try:
        json.loads(payload)
    except ValueError as error:
        raise InvalidRequestContentException(
            f"Could not parse request body into json: Could not parse payload into json: {error}"
        ) from error


# moto reads Invoke's qualifier as "qualifier" (lower case) from the query string or, failing
# that, from the JSON payload itself; the gateway hands the real ?Qualifier= over per thread.
_request_qualifier = threading.local()


def note_invoke_qualifier(request: AwsRequest) -> None:
    if request.method == "POST" and request.path.rstrip("/").endswith("/invocations"):
        _request_qualifier.value = parse_qs(request.query_string).get("Qualifier", [None])[0]
        _request_qualifier.pending = True
    else:
        _request_qualifier.pending = False
    return None


def take_request_qualifier(qualifier: str | None) -> str | None:
    """The ``?Qualifier=`` of the Invoke request this thread serves (once), else ``qualifier``."""
    if getattr(_request_qualifier, "pending", False):
        _request_qualifier.pending = False
        return _request_qualifier.value
    return qualifier
