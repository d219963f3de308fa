"""The WSGI front of the embedded AWS: names each request, serialises it, journals it.

Every request is run by moto's dispatcher while holding the world lock. When a state
directory is set, requests that change state are kept: data writes (PutItem, PutRecord, S3 object
writes...) are appended to the journal before the response goes out; control-plane changes
(CreateTable, CreatePipe...) trigger a snapshot instead, because replaying them would mint new
ARNs, stream labels and ids that other resources already refer to.

Bad input is answered before moto runs, so a refused request changes nothing: the body is read
with a cap (``MAX_BODY_BYTES``) and under the server's socket timeout, then ``validation.check``
answers in the service's own error shape (``SerializationException``, ``UnknownOperationException``,
``ValidationException``, ``InvalidAction``, S3's XML errors...) with AWS's codes and limits. An
exception in moto, a component or this module is logged with its traceback and answered as the
service's ``InternalFailure`` / ``InternalError``; an operation moto lacks is ``NotImplemented``
(501), naming it.

LIMITATIONS: what local_aws still accepts, or answers differently, where AWS refuses:
- request bodies are capped at 64 MiB (``RequestEntityTooLarge``, 413; S3's ``EntityTooLarge``):
  a single S3 PutObject of up to 5 GB, which AWS takes, is refused here (use multipart uploads);
- the read timeout (``--request-timeout``, 60 s) bounds each silent read, not a whole slow body;
- JSON bodies are checked for types, required members, lengths and numeric ranges from botocore's
  model, but not for patterns or enum values (an invalid ARN or an unknown ``StreamMode`` reaches
  moto, which may accept it); query-protocol (IAM, SNS, STS) parameters are checked only at the top
  level; REST-JSON bodies (Lambda, Pipes) are checked, URI and query-string members are not;
- messages follow AWS's wording where it is documented or well known (coral's "1 validation error
  detected: ..."); SerializationException and UnknownOperationException messages are our own, as
  AWS's vary by service;
- Kinesis: the 1 MiB record limit is the default one; a stream's ``MaxRecordSizeInKiB`` (up to
  10 MiB) is not honoured; the 500-shard quota is checked per CreateStream or UpdateShardCount, not
  summed over the account's streams; Firehose's 4 MiB PutRecordBatch total is not checked (its
  per-record 1,000 KiB and 500 records are, from the model);
- DynamoDB: the 400 KB item size is checked on items written whole (PutItem, BatchWriteItem,
  TransactWriteItems), not on the item an UpdateItem would produce; secondary-index key
  attributes may still be empty strings; the number and nesting limits apply to every attribute
  value in a request;
- S3: bucket names are checked on CreateBucket only (other operations on a badly named bucket
  answer NoSuchBucket); keys and bucket names are read from path-style requests and from
  virtual-hosted ones addressed to ``<bucket>.s3...`` or ``<bucket>.localhost``; configuration
  XML is checked for well-formedness and its root element, not against S3's schema;
- SNS NextToken values must be moto's (numbers), not AWS's opaque tokens; DynamoDB ListExports
  needs a TableArn (501 NotImplemented without one).
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from local_aws import iam, validation
from local_aws.validation.errors import JSON, QUERY, REST_XML, AwsError, internal_error, render
from local_aws.world import World

if TYPE_CHECKING:
    from local_aws.persistence import Persistence

log = logging.getLogger(__name__)

READ, DATA, CONTROL, VOLATILE = "read", "data", "control", "volatile"

# Well above the largest body the pipeline sends (a Lambda zip, a Firehose batch, a DuckDB
# result upload) and small enough to hold in memory; S3's 5 GB single PUT is not emulated.
MAX_BODY_BYTES = 64 * 1024 * 1024
_READ_CHUNK = 1024 * 1024

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
        self.max_body_bytes = MAX_BODY_BYTES

    def add_interceptor(self, interceptor: Interceptor) -> None:
        """Let a component answer a request itself (return status, headers, body) or pass (None)."""
        self.interceptors.append(interceptor)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            status, headers, payload = self.handle(environ)
        except NotImplementedError as missing:  # moto's "The X action has not been implemented"
            protocol = _protocol_or_json(describe(environ, b""))
            error = AwsError("NotImplemented", f"local_aws does not implement this operation: {missing}", 501)
            status, headers, payload = render(error, protocol)
        except Exception:
            # A fault of ours or moto's, never the caller's: the traceback stays in the server log.
            log.exception("internal error on %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            protocol = _protocol_or_json(describe(environ, b""))
            status, headers, payload = render(internal_error(protocol), protocol)
        start_response(status, headers)
        return [payload]

    def handle(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        """Read, check and answer one request; raises only on a bug (answered as InternalFailure)."""
        protocol = _protocol_or_json(describe(environ, b""))
        try:
            body = _read_body(environ, self.max_body_bytes, s3=protocol == REST_XML)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            request = describe(environ, body)
            protocol = _protocol_or_json(request)  # a form body may name the query Action
            validation.check(request, self.world)
            denied = iam.authorize(self.world, request)  # as the signer's IAM policies allow
            if denied is not None:
                raise denied.as_error()
        except AwsError as error:
            return render(error, protocol)
        for interceptor in self.interceptors:
            answer = interceptor(request)
            if answer is not None:
                return answer
        with self.world.lock:
            status, headers, payload = self.call_app(environ)
            if self.persistence is not None and int(status.split()[0]) < 400:
                self.persistence.after_request(request)
        return _reshape_html_error(status, headers, payload, protocol, request)

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


def _read_body(environ: dict[str, Any], cap: int, s3: bool) -> bytes:
    """The request body, refused unread when over ``cap`` and read in bounded chunks.

    The handler's socket timeout bounds every read, so a client that stops sending gets
    RequestTimeout instead of holding a server thread.
    """
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length_header = environ.get("CONTENT_LENGTH") or ""
    chunked = environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked" or environ.get(
        "wsgi.input_terminated"
    )
    if length_header:
        if not length_header.strip().isdigit():
            raise AwsError(
                "InvalidArgument", f"Content-Length {length_header[:40]!r} is not a number of bytes"
            )
        length = int(length_header)
        if length > cap:
            raise _too_large(length, cap, s3)
    elif chunked:
        length = -1
    else:
        return b""
    chunks: list[bytes] = []
    received = 0
    while length < 0 or received < length:
        want = _READ_CHUNK if length < 0 else min(_READ_CHUNK, length - received)
        try:
            chunk = stream.read(want)
        except TimeoutError as exc:
            raise _timed_out(received, s3) from exc
        except (OSError, ValueError) as exc:  # werkzeug's dechunker on a malformed chunk header
            raise AwsError("InvalidRequest", f"The request body could not be read: {exc}") from exc
        if not chunk:
            if length < 0:
                break
            raise AwsError(
                "IncompleteBody",
                f"You did not provide the number of bytes specified by the Content-Length HTTP header "
                f"({received} of {length} bytes received)",
            )
        received += len(chunk)
        if received > cap:
            raise _too_large(received, cap, s3)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, cap: int, s3: bool) -> AwsError:
    if s3:
        return AwsError(
            "EntityTooLarge",
            f"Your proposed upload exceeds the maximum allowed object size ({size} bytes; "
            f"local_aws accepts request bodies of at most {cap} bytes)",
        )
    return AwsError(
        "RequestEntityTooLarge",
        f"Request body of {size} bytes exceeds the maximum of {cap} bytes",
        413,
    )


def _timed_out(received: int, s3: bool) -> AwsError:
    message = (
        "Your socket connection to the server was not read from or written to within the timeout "
        f"period ({received} bytes of the body received)"
    )
    if s3:
        return AwsError("RequestTimeout", message)
    return AwsError("RequestTimeoutException", message, 408)


def _protocol_or_json(request: AwsRequest) -> str:
    try:
        return validation.protocol_for(request)
    except Exception:  # botocore's models unreadable: still answer in some AWS shape
        log.exception("cannot tell the protocol of %s %s", request.method, request.path)
        return JSON


def _reshape_html_error(
    status: str, headers: list[tuple[str, str]], payload: bytes, protocol: str, request: AwsRequest
) -> tuple[str, list[tuple[str, str]], bytes]:
    """An error moto answered without an AWS error in it (werkzeug's HTML page, a bare ``{}``) in
    the service's shape; AWS errors that moto merely labels text/html pass through untouched."""
    code = int(status.split()[0])
    if code < 400 or request.method == "HEAD":
        return status, headers, payload
    if _names_an_aws_error(headers, payload):
        return status, _aws_content_type(headers, payload, protocol), payload
    if code >= 500:
        log.error("moto answered %s %s with %s: %r", request.method, request.path, status, payload[:500])
        return render(internal_error(protocol), protocol)
    if code != 404 or protocol == REST_XML:
        return status, headers, payload
    if protocol == QUERY:
        error = AwsError("InvalidAction", "The action or operation requested is invalid.")
    else:
        kind = "NotFoundException" if request.service == "pipes" else "ResourceNotFoundException"
        error = AwsError(kind, "The resource you requested does not exist.", 404)
    return render(error, protocol)


def _aws_content_type(headers: list[tuple[str, str]], payload: bytes, protocol: str) -> list[tuple[str, str]]:
    """moto labels many of its errors text/html: give them the type their body has."""
    if not any(key.lower() == "content-type" and value.startswith("text/html") for key, value in headers):
        return headers
    kind = "application/xml" if payload.lstrip().startswith(b"<") else "application/json"
    if kind == "application/json" and protocol == JSON:
        kind = "application/x-amz-json-1.1"
    return [(key, kind if key.lower() == "content-type" else value) for key, value in headers]


def _names_an_aws_error(headers: list[tuple[str, str]], payload: bytes) -> bool:
    if any(key.lower() == "x-amzn-errortype" for key, _ in headers):
        return True
    body = payload.lstrip()
    if body.startswith((b"<?xml", b"<Error")):
        return True
    if body.startswith(b"{"):
        try:
            document = json.loads(body)
        except ValueError:
            return False
        return isinstance(document, dict) and any(key in document for key in ("__type", "code", "Code"))
    return False
