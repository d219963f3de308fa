"""AWS's answers to bad input, given before moto sees the request, so a refused request changes nothing.

`check(request, world)` is the one entry point; the gateway calls it for every request that names
a service. In order:

1. the envelope of the service's protocol: a JSON protocol needs a known ``X-Amz-Target``
   (``UnknownOperationException``) and a body that is a UTF-8 JSON object
   (``SerializationException``); REST-JSON bodies must parse (Lambda's
   ``InvalidRequestContentException``); a query-protocol request needs a known ``Action``
   (``InvalidAction``, ``MissingAction``) and a UTF-8 query (``MalformedQueryString``);
2. the JSON body against the operation's input shape from botocore's model (``shapes.py``);
3. the service's own limits: ``kinesis.py``, ``dynamodb.py``, ``s3.py``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from local_aws.validation import dynamodb, kinesis, s3
from local_aws.validation.errors import JSON, QUERY, REST_JSON, REST_XML, AwsError
from local_aws.validation.query import check_query_input
from local_aws.validation.rest_json import body_shape, operation_for
from local_aws.validation.services import Service, protocol_of, resolve
from local_aws.validation.shapes import check_json_input
from local_aws.world import DEFAULT_ACCOUNT_ID

if TYPE_CHECKING:
    from local_aws.gateway import AwsRequest
    from local_aws.world import World

__all__ = ["AwsError", "check", "protocol_for"]


def protocol_for(request: AwsRequest) -> str:
    """The wire protocol a request's errors must be written in."""
    target = request.headers.get("X-Amz-Target", "")
    service = resolve(request.service, target)
    if service is None and not target:
        # Unsigned and untargeted: a query Action (STS's AssumeRoleWithWebIdentity / WithSAML),
        # else an anonymous or presigned S3 request.
        return QUERY if request.operation else REST_XML
    return protocol_of(service)


def check(request: AwsRequest, world: World) -> None:
    """Raise the AwsError AWS would answer ``request`` with, or return when it may go to moto."""
    target = request.headers.get("X-Amz-Target", "")
    service = resolve(request.service, target)
    if service is None:
        return
    if service.protocol == JSON:
        document = _json_envelope(request, service, target)
        operation = service.model.operation_model(request.operation)
        try:
            check_json_input(document, operation.input_shape)
        except AwsError as error:
            # A service without ValidationException in its model (Athena) answers InvalidRequestException.
            names = {shape.name for shape in service.model.error_shapes}
            if (
                error.code == "ValidationException"
                and error.code not in names
                and "InvalidRequestException" in names
            ):
                raise AwsError("InvalidRequestException", error.message, error.status) from error
            raise
        _service_limits(service.name, request, document, world)
    elif service.protocol == REST_JSON:
        _rest_json_envelope(request, service)
    elif service.protocol == QUERY:
        _query_envelope(request, service)
    elif service.protocol == REST_XML and service.name == "s3":
        s3.check(request)


# -- envelopes ------------------------------------------------------------------------------
def _json_envelope(request: AwsRequest, service: Service, target: str) -> dict[str, Any]:
    prefix, _, operation = target.rpartition(".")
    if not target or prefix != service.target_prefix or operation not in service.operations:
        shown = target or "(no X-Amz-Target header)"
        raise AwsError("UnknownOperationException", f"Unknown operation {shown}")
    request.operation = operation
    document = _parse_json(request.body, "SerializationException")
    if not isinstance(document, dict):
        raise AwsError("SerializationException", "Start of list found where not expected")
    return document


def _parse_json(body: bytes, code: str) -> Any:
    """The JSON document in ``body``, or ``code`` with what is wrong with it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AwsError(code, f"Request body is not valid UTF-8 (byte {exc.start})") from exc
    if not text.strip():
        raise AwsError(code, "Request body is empty; a JSON object was expected")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise AwsError(code, f"Request body is not valid JSON: {exc}") from exc


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _rest_json_envelope(request: AwsRequest, service: Service) -> None:
    operation = operation_for(service.model, request.method, request.path)
    if operation is None:
        raise AwsError("UnknownOperationException", f"Unknown operation {request.method} {request.path}", 404)
    code = "InvalidRequestContentException" if service.name == "lambda" else "ValidationException"
    shape = body_shape(operation)
    document: Any = {}
    if (
        shape is not None
        and shape.members
        and request.method in ("POST", "PUT", "PATCH")
        and not request.body
    ):
        raise AwsError(code, "Could not parse request body into json: the body is empty")  # boto3 sends {}
    if request.body:
        try:
            document = _parse_json(request.body, code)
        except AwsError as error:
            error.message = "Could not parse request body into json: " + error.message
            raise
    if shape is None:
        return  # a raw payload (an invocation's event): any JSON value
    if not isinstance(document, dict):
        raise AwsError(code, "Could not parse request body into json: a JSON object was expected")
    try:
        check_json_input(document, shape)
    except AwsError as error:
        if error.code == "SerializationException":
            error.code = code
        raise


def _query_envelope(request: AwsRequest, service: Service) -> None:
    text = request.query_string
    if request.body and "x-www-form-urlencoded" in request.headers.get("Content-Type", ""):
        text = f"{text}&{request.body.decode('latin-1')}" if text else request.body.decode("latin-1")
    try:
        text.encode("latin-1").decode("utf-8")
        params = parse_qs(text, keep_blank_values=True, errors="strict")
    except (UnicodeError, ValueError) as exc:
        raise AwsError("MalformedQueryString", "The query string contains a syntax error.", 404) from exc
    actions = params.get("Action")
    if not actions or not actions[0]:
        raise AwsError("MissingAction", "The request is missing an action or a required parameter.")
    if actions[0] not in service.operations:
        raise AwsError(
            "InvalidAction",
            f"The action or operation requested is invalid. Verify that the action is typed correctly: "
            f"{actions[0]} is not an action of {service.name}",
        )
    shape = service.model.operation_model(actions[0]).input_shape
    check_query_input(service.name, {key: values for key, values in params.items() if key != "Action"}, shape)


# -- limits ---------------------------------------------------------------------------------
def _service_limits(name: str, request: AwsRequest, document: dict[str, Any], world: World) -> None:
    if name == "kinesis":
        kinesis.check(
            request.operation,
            document,
            lambda: _open_shards(world, request.region),
            DEFAULT_ACCOUNT_ID,
            request.region,
        )
    elif name == "dynamodb":
        known: dict[str, tuple[str, ...]] = {}  # a batch names its table once per item: look it up once

        def key_names(table: str) -> tuple[str, ...]:
            if table not in known:
                known[table] = _key_names(world, request.region, table)
            return known[table]

        dynamodb.check(request.operation, document, key_names)


def _open_shards(world: World, region: str) -> int:
    """The shards of the account's streams in a region, for the quota's message."""
    try:
        with world.lock:
            streams = world.backend("kinesis", region=region).streams.values()
            return sum(len(stream.shards) for stream in streams)
    except Exception:  # an unknown region: moto answers that itself
        return 0


def _key_names(world: World, region: str, table_name: str) -> tuple[str, ...]:
    """A table's key attribute names, from moto's backend (empty when there is no such table)."""
    name = str(table_name).rsplit("table/", 1)[-1] if str(table_name).startswith("arn:") else str(table_name)
    try:
        with world.lock:
            table = world.backend("dynamodb", region=region).tables.get(name)
            if table is None:
                return ()
            return tuple(key for key in (table.hash_key_attr, table.range_key_attr) if key)
    except Exception:  # an unknown region: moto answers that itself
        return ()
