"""AWS errors in each wire protocol's own shape, so boto3 parses code and message as from AWS.

- JSON 1.0 / 1.1 (DynamoDB, Kinesis, Firehose, Glue, Athena, Logs): ``{"__type": ..., "message": ...}``
  with ``x-amzn-ErrorType``;
- REST-JSON (Lambda, Pipes): ``x-amzn-ErrorType`` header and ``{"Type": ..., "message": ...}``;
- REST-XML (S3): ``<Error><Code>..</Code><Message>..</Message><RequestId>..</RequestId></Error>``;
- query (IAM, SNS, STS): ``<ErrorResponse><Error><Type>Sender</Type><Code>..</Code>...``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from xml.sax.saxutils import escape

JSON, REST_JSON, REST_XML, QUERY = "json", "rest-json", "rest-xml", "query"

_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
}

Answer = tuple[str, list[tuple[str, str]], bytes]


@dataclass
class AwsError(Exception):
    """An error the way AWS reports it: a code, a message and an HTTP status."""

    code: str
    message: str
    status: int = 400

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def internal_error(protocol: str) -> AwsError:
    """What AWS answers when it fails for a reason that is not the caller's: never a traceback."""
    if protocol == REST_XML:
        return AwsError("InternalError", "We encountered an internal error. Please try again.", 500)
    return AwsError(
        "InternalFailure",
        "The request processing has failed because of an unknown error, exception or failure.",
        500,
    )


def render(error: AwsError, protocol: str, request_id: str | None = None) -> Answer:
    """The status line, headers and body that carry ``error`` in ``protocol``'s shape."""
    request_id = request_id or str(uuid.uuid4())
    status = f"{error.status} {_REASONS.get(error.status, 'Error')}"
    headers = [("x-amzn-RequestId", request_id)]
    if protocol == REST_XML:
        body = _xml_error(error, request_id)
        headers += [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
    elif protocol == QUERY:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error>'
            f"<Type>{'Receiver' if error.status >= 500 else 'Sender'}</Type>"
            f"<Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers.append(("Content-Type", "text/xml"))
    elif protocol == REST_JSON:
        kind = "Service" if error.status >= 500 else "User"
        body = json.dumps({"Type": kind, "message": error.message}).encode()
        headers += [("Content-Type", "application/json"), ("x-amzn-ErrorType", error.code)]
    else:
        body = json.dumps({"__type": error.code, "message": error.message}).encode()
        headers += [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", error.code)]
    headers.append(("Content-Length", str(len(body))))
    return status, headers, body


def _xml_error(error: AwsError, request_id: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error>'
        f"<Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message>"
        f"<RequestId>{request_id}</RequestId></Error>"
    ).encode()
