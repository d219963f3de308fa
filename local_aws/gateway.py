"""The WSGI front of the embedded AWS: names each request, serialises it, journals it.

Every request is run by moto's dispatcher while holding the world lock. When a state
directory is set, requests that change state are kept: data writes (PutItem, PutRecord, S3 object
writes...) are appended to the journal before the response goes out; control-plane changes
(CreateTable, CreatePipe...) trigger a snapshot instead, because replaying them would mint new
ARNs, stream labels and ids that other resources already refer to.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from local_aws.world import World

if TYPE_CHECKING:
    from local_aws.persistence import Persistence

READ, DATA, CONTROL, VOLATILE = "read", "data", "control", "volatile"

_CREDENTIAL = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")

_READ_PREFIXES = (
    "Get",
    "List",
    "Describe",
    "Scan",
    "Query",
    "BatchGet",
    "Head",
    "Search",
    "Lookup",
    "Select",
    "Check",
    "Validate",
    "Test",
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "ReEncrypt",
    "Sign",
    "Verify",
)
_DATA_OPERATIONS = {
    "dynamodb": {
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "ExecuteStatement",
        "BatchExecuteStatement",
        "ExecuteTransaction",
    },
    "kinesis": {"PutRecord", "PutRecords"},
    "firehose": {"PutRecord", "PutRecordBatch"},
    "sqs": {"SendMessage", "SendMessageBatch", "DeleteMessage", "DeleteMessageBatch"},
    "sns": {"Publish", "PublishBatch"},
    "logs": {"PutLogEvents"},
}
# Changes whose effect the periodic snapshot keeps; after a crash they may be lost (documented).
_VOLATILE_OPERATIONS = {
    "athena": {"StartQueryExecution", "StopQueryExecution"},
    "glue": {"StartCrawler", "StopCrawler"},
    "sqs": {"ReceiveMessage", "ChangeMessageVisibility", "ChangeMessageVisibilityBatch"},
    "sts": {"AssumeRole", "GetSessionToken", "AssumeRoleWithWebIdentity", "GetCallerIdentity"},
    "kinesis": {"RegisterStreamConsumer", "DeregisterStreamConsumer", "SubscribeToShard"},
}


@dataclass
class AwsRequest:
    """One incoming request, named the way the AWS documentation names it."""

    method: str
    path: str
    query_string: str
    headers: dict[str, str]
    body: bytes
    service: str | None = None
    region: str = "us-east-1"
    operation: str = ""
    kind: str = READ
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def journal_entry(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query_string": self.query_string,
            "headers": self.headers,
            "body": self.body,
        }


def describe(environ: dict[str, Any], body: bytes) -> AwsRequest:
    """Work out service, region, operation and kind of change from the raw request."""
    headers = {
        key[5:].replace("_", "-").title(): value for key, value in environ.items() if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["Content-Type"] = environ["CONTENT_TYPE"]
    method = environ.get("REQUEST_METHOD", "GET").upper()
    query_string = environ.get("QUERY_STRING", "")
    request = AwsRequest(
        method=method,
        path=environ.get("PATH_INFO", "/"),
        query_string=query_string,
        headers=headers,
        body=body,
    )
    credential = _CREDENTIAL.search(headers.get("Authorization", "")) or _CREDENTIAL.search(
        "Credential=" + (parse_qs(query_string).get("X-Amz-Credential", [""])[0])
    )
    if credential:
        request.region, request.service = credential.group(1), credential.group(2)
    target = headers.get("X-Amz-Target", "")
    if target:
        request.operation = target.rsplit(".", 1)[-1]
    else:
        params = parse_qs(query_string)
        if "x-www-form-urlencoded" in headers.get("Content-Type", "") and body:
            params.update(parse_qs(body.decode("utf-8", "replace")))
        if "Action" in params:
            request.operation = params["Action"][0]
    request.kind = _classify(request)
    return request


def _classify(request: AwsRequest) -> str:
    service, operation, method = request.service or "", request.operation, request.method
    if request.path.startswith("/moto-api"):
        return VOLATILE
    if not operation:  # REST protocols: S3, Lambda, Pipes
        if method in ("GET", "HEAD", "OPTIONS"):
            return READ
        if service == "s3":
            return DATA
        if service == "lambda" and request.path.endswith("/invocations"):
            return VOLATILE
        return CONTROL
    if operation in _VOLATILE_OPERATIONS.get(service, ()):
        return VOLATILE
    if operation in _DATA_OPERATIONS.get(service, ()):
        return DATA
    if operation.startswith(_READ_PREFIXES):
        return READ
    return CONTROL


Interceptor = Callable[[AwsRequest], "tuple[str, list[tuple[str, str]], bytes] | None"]


class Gateway:
    """WSGI middleware around moto's dispatcher."""

    def __init__(self, world: World, app: Callable[..., Iterable[bytes]]) -> None:
        self.world = world
        self.app = app
        self.persistence: Persistence | None = None
        self.interceptors: list[Interceptor] = []

    def add_interceptor(self, interceptor: Interceptor) -> None:
        """Let a component answer a request itself (return status, headers, body) or pass (None)."""
        self.interceptors.append(interceptor)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = _read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        request = describe(environ, body)
        for interceptor in self.interceptors:
            answer = interceptor(request)
            if answer is not None:
                status, headers, payload = answer
                start_response(status, headers)
                return [payload]
        with self.world.lock:
            status, headers, payload = self.call_app(environ)
            if self.persistence is not None and int(status.split()[0]) < 400:
                self.persistence.after_request(request)
        start_response(status, headers)
        return [payload]

    def call_app(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        """Run moto's app to completion and return its whole response."""
        captured: dict[str, Any] = {}

        def capture(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, headers
            return lambda chunk: None

        chunks = self.app(environ, capture)
        try:
            payload = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()
        return captured["status"], captured["headers"], payload


def _read_body(environ: dict[str, Any]) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = environ.get("CONTENT_LENGTH")
    if length:
        return stream.read(int(length))
    if environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked" or environ.get("wsgi.input_terminated"):
        return stream.read()
    return b""
