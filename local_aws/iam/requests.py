"""From one HTTP request to what IAM checks: the action, the resource ARNs and the condition keys.

- The action is ``<IAM prefix>:<Operation>``: the operation from ``X-Amz-Target`` (JSON), the
  ``Action`` parameter (query) or the botocore model's method and URI template (REST: Lambda,
  Pipes, S3, see `s3_operations`). The IAM prefix is the service's signing name (DynamoDB Streams
  signs as ``dynamodb``); Lambda's Invoke is checked as ``lambda:InvokeFunction``,
  GetLayerVersionByArn as ``lambda:GetLayerVersion``.
- The resources are the ARNs of the action's resource types in AWS's reference (`actions`),
  filled from the request's parameters: an ARN-valued parameter that fits the type's template is
  taken whole (``StreamARN``, ``TopicArn``, ``RoleArn``), else each ``${Placeholder}`` is taken
  from the parameter of that name (``TableName``), its camel-case form (``logGroupName``), or
  ``Name`` for ``<Something>Name``. Every required resource type is checked; one that cannot be
  filled is checked as "no resource" (only ``"Resource": "*"`` grants it: strict, never lenient).
- A request that passes a role to a service (``RoleArn``, ``Role``, ``RoleARN`` anywhere in the
  body of a Create/Update call) also needs ``iam:PassRole`` on that role, with
  ``iam:PassedToService`` set to the service's principal.
- A Lambda CreateFunction or UpdateFunctionConfiguration that names ``Layers`` also needs
  ``lambda:GetLayerVersion`` on each layer version ARN.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from local_aws.iam import actions, s3_operations

if TYPE_CHECKING:
    from local_aws.gateway import AwsRequest

# Operations whose action name differs from the operation's (AWS's Service Authorization Reference).
_RENAMED = {
    ("lambda", "Invoke"): "InvokeFunction",
    ("lambda", "InvokeAsync"): "InvokeFunction",
    ("lambda", "GetLayerVersionByArn"): "GetLayerVersion",
}
# Operations AWS runs without any permission ("No permissions are required to perform this operation").
UNCHECKED = frozenset({"sts:GetCallerIdentity"})
# The operations that set a function's Layers.
_LAYER_OPERATIONS = frozenset({"CreateFunction", "UpdateFunctionConfiguration"})
_ROLE_KEYS = frozenset({"RoleArn", "RoleARN", "Role", "ExecutionRoleArn", "ServiceRole"})


@dataclass
class Check:
    """One authorization IAM makes for a request."""

    action: str
    resource: str | None
    context: dict[str, Any] = field(default_factory=dict)
    bucket: str | None = None  # an S3 bucket whose policy takes part


@dataclass
class Described:
    """What a request asks, as IAM sees it."""

    checks: list[Check]
    region: str
    service: str


_ADDRESS = frozenset({"Partition", "Region", "Account"})


@functools.lru_cache(maxsize=4096)
def _shape(template: str) -> re.Pattern[str]:
    """A template as a regex: its literal parts in place, each placeholder within its segment."""
    parts = re.split(r"(\$\{[^}]+\})", template)
    last = max(i for i, part in enumerate(parts) if part.startswith("${")) if "${" in template else -1
    regex = ""
    for index, part in enumerate(parts):
        if not part.startswith("${"):
            regex += re.escape(part)
        elif part[2:-1] in _ADDRESS:
            regex += "[^:]*"
        elif index == last:
            regex += ".+" if part[2:-1] == "ObjectName" else "[^/]+"
        else:
            regex += "[^/:]+"
    return re.compile(regex)


def _flatten(value: Any, depth: int = 0) -> Iterator[tuple[str, Any]]:
    """Every (name, scalar value) of a request body, outer members first."""
    if not isinstance(value, dict) or depth > 4:
        return
    nested = []
    for key, member in value.items():
        if isinstance(member, dict):
            nested.append(member)
        elif isinstance(member, str | int | float):
            yield key, member
    for member in nested:
        yield from _flatten(member, depth + 1)


def _parameters(body: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in _flatten(body):
        found.setdefault(key, str(value))
    return found


def _fill(template: str, params: dict[str, str], region: str, account: str) -> str | None:
    service = template.split(":")[2]
    for value in params.values():
        if value.startswith(f"arn:aws:{service}:") and _shape(template).fullmatch(value):
            return value
    values = {"Partition": "aws", "Region": region, "Account": account}
    for placeholder in actions.placeholders(template):
        if placeholder in values:
            continue
        found = _parameter_for(placeholder, params)
        if found is None:
            return None
        values[placeholder] = found
    return actions.fill(template, values)


def _parameter_for(placeholder: str, params: dict[str, str]) -> str | None:
    candidates = [placeholder, placeholder[:1].lower() + placeholder[1:]]
    if placeholder.endswith("NameWithPath"):  # role/${RoleNameWithPath}: the request names RoleName
        candidates.append(placeholder.removesuffix("WithPath"))
    if placeholder.endswith("Name"):
        stem = placeholder.removesuffix("Name")
        candidates += [stem, "Name", "name"]
    for candidate in candidates:
        value = params.get(candidate)
        if value:
            if value.startswith("arn:"):
                return value.rsplit(":", 1)[-1].rsplit("/", 1)[-1]  # a name given as an ARN
            return value
    return None


#: Calls that read every table of the database they name: IAM checks them on ``table/<database>/*``
#: ("Specifying AWS Glue resource ARNs": GetTables needs the catalog, the database and all its tables).
_EVERY_TABLE = frozenset({"glue:gettables"})


def resources_for(action: str, params: dict[str, str], region: str, account: str) -> list[str | None]:
    """The ARNs IAM checks ``action`` on; [None] for an action without resource type."""
    if action.lower() in _EVERY_TABLE:
        params = {**params, "TableName": "*"}
    known = actions.lookup(action)
    if known is None or not known.resource_types:
        return [None]
    required = [t for t in known.resource_types if t.required]
    if required:
        return [_fill(t.arn_template, params, region, account) for t in required]
    for resource_type in known.resource_types:
        arn = _fill(resource_type.arn_template, params, region, account)
        if arn is not None:
            return [arn]
    return [None]


def _operation_name(service: str, operation: str) -> str:
    return _RENAMED.get((service, operation), operation)


def describe(request: AwsRequest, account: str) -> Described | None:
    """The checks ``request`` needs, or None when it is no AWS API call we can name."""
    from local_aws.validation.rest_json import operation_for
    from local_aws.validation.services import resolve

    target = request.headers.get("X-Amz-Target", "")
    service = resolve(request.service, target)
    if service is None:
        return None
    prefix = str(service.model.signing_name or service.name)
    region = request.region
    if service.protocol == "rest-xml" and service.name == "s3":
        return _describe_s3(request, region)
    body: dict[str, Any] = {}
    operation = request.operation
    if service.protocol in ("json",):
        body = _json(request.body)
    elif service.protocol == "rest-json":
        model = operation_for(service.model, request.method, request.path)
        if model is None:
            return None
        operation = model.name
        body = _json(request.body)
        body.update(_path_labels(model.http["requestUri"], request.path))
        body.update({k: v[0] for k, v in parse_qs(request.query_string).items()})
    elif service.protocol == "query":
        text = request.query_string
        if request.body and "x-www-form-urlencoded" in request.headers.get("Content-Type", ""):
            text = f"{text}&{request.body.decode('utf-8', 'replace')}"
        body = {k: v[0] for k, v in parse_qs(text).items() if k != "Action"}
        operation = operation or parse_qs(text).get("Action", [""])[0]
    if not operation:
        return None
    action = f"{prefix}:{_operation_name(prefix, operation)}"
    params = _parameters(body)
    if prefix == "athena":
        _athena_workgroup(operation, params)
    if "ShardIterator" in params:
        _iterator_stream(prefix, params)
    checks = [
        Check(action, arn, _action_context(action, params, account, region))
        for table_params in _batch_tables(prefix, operation, body, params)
        for arn in resources_for(action, table_params, region, account)
    ]
    checks += _pass_role_checks(prefix, operation, body, account)
    checks += _layer_checks(prefix, operation, body)
    return Described(checks, region, prefix)


def _batch_tables(
    prefix: str, operation: str, body: dict[str, Any], params: dict[str, str]
) -> list[dict[str, str]]:
    """DynamoDB's batch calls name their tables as the keys of ``RequestItems``: one check per table,
    as AWS authorizes them; any other request is checked once, with its own parameters."""
    items = body.get("RequestItems")
    if (
        prefix != "dynamodb"
        or operation not in ("BatchWriteItem", "BatchGetItem")
        or not isinstance(items, dict)
    ):
        return [params]
    return [{**params, "TableName": str(table)} for table in items] or [params]


def _json(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _path_labels(uri: str, path: str) -> dict[str, str]:
    template = uri.split("?", 1)[0]
    names = re.findall(r"\{([^}+]+)\+?\}", template)
    regex = re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(template).replace(r"\+\}", r"\}"))
    match = re.match(regex.rstrip("/") + "/?$", path)
    if not match:
        return {}
    return {name: unquote(value) for name, value in zip(names, match.groups(), strict=False)}


def _action_context(
    action: str, params: dict[str, str], account: str, region: str = "us-east-1"
) -> dict[str, Any]:
    """Condition keys the action itself carries (iam:PermissionsBoundary for role writes)."""
    context: dict[str, Any] = {}
    # CreateEventSourceMapping has no resource type: its lambda:FunctionArn key is how policies scope it.
    function = params.get("FunctionName")
    if action.lower() == "lambda:createeventsourcemapping" and function:
        name = (
            function
            if function.startswith("arn:")
            else f"arn:aws:lambda:{region}:{account}:function:{function}"
        )
        context["lambda:FunctionArn"] = name
    if action.lower().startswith("iam:") and "Role" in action:
        boundary = params.get("PermissionsBoundary") or _existing_boundary(params.get("RoleName"), account)
        if boundary:
            context["iam:PermissionsBoundary"] = boundary
    return context


def _existing_boundary(role_name: str | None, account: str) -> str | None:
    if not role_name:
        return None
    from moto.iam.models import iam_backends

    role = iam_backends[account]["aws"].roles.get(role_name) if account in iam_backends else None
    if role is None:
        for candidate in list(iam_backends[account]["aws"].roles.values()):
            if candidate.name == role_name:
                role = candidate
                break
    return getattr(role, "permissions_boundary_arn", None) or None


def _roles_passed(body: Any) -> Iterator[str]:
    if isinstance(body, dict):
        for key, value in body.items():
            if key in _ROLE_KEYS and isinstance(value, str) and value:
                yield value
            else:
                yield from _roles_passed(value)
    elif isinstance(body, list):
        for item in body:
            yield from _roles_passed(item)


def _pass_role_checks(prefix: str, operation: str, body: dict[str, Any], account: str) -> list[Check]:
    if prefix in ("iam", "sts") or not operation.startswith(("Create", "Update", "Put", "Start")):
        return []
    checks = []
    for role in dict.fromkeys(_roles_passed(body)):
        arn = role if role.startswith("arn:") else f"arn:aws:iam::{account}:role/{role}"
        checks.append(Check("iam:PassRole", arn, {"iam:PassedToService": f"{prefix}.amazonaws.com"}))
    return checks


def _layer_checks(prefix: str, operation: str, body: dict[str, Any]) -> list[Check]:
    """A function's ``Layers`` need lambda:GetLayerVersion on each layer version (Lambda developer
    guide, "Layer permissions"), another account's public layer included."""
    if prefix != "lambda" or operation not in _LAYER_OPERATIONS:
        return []
    layers = body.get("Layers") if isinstance(body, dict) else None
    if not isinstance(layers, list):
        return []
    return [Check("lambda:GetLayerVersion", arn, {}) for arn in dict.fromkeys(layers) if isinstance(arn, str)]


def _describe_s3(request: AwsRequest, region: str) -> Described | None:
    from local_aws.validation.s3 import split_path

    bucket, raw_key = split_path(request)  # path-style or virtual-hosted, the key's bytes as UTF-8
    key = raw_key.decode("utf-8", "replace")
    path = f"/{bucket}/{key}" if key else f"/{bucket}" if bucket else "/"
    target = s3_operations.resolve(
        request.method, path, request.query_string, request.headers, (bucket or None, key or None)
    )
    if target is None:
        return None
    keys = _delete_keys(request.body) if target.operation == "DeleteObjects" else None
    context = s3_operations.context_of(target)
    checks = [
        Check(target.action, arn, dict(context), target.bucket)
        for arn in s3_operations.resources(target, keys)
    ]
    source = request.headers.get("X-Amz-Copy-Source") or request.headers.get("x-amz-copy-source")
    if source:  # CopyObject and UploadPartCopy read the source object too
        source_path = unquote(source.split("?", 1)[0]).lstrip("/")
        source_bucket = source_path.split("/", 1)[0]
        checks.append(Check("s3:GetObject", f"arn:aws:s3:::{source_path}", {}, source_bucket))
    return Described(checks, region, "s3")


def _delete_keys(body: bytes) -> list[str]:
    import xml.etree.ElementTree as ElementTree

    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return []
    return [element.text or "" for element in root.iter() if element.tag.rsplit("}", 1)[-1] == "Key"]


def _athena_workgroup(operation: str, params: dict[str, str]) -> None:
    """Athena checks a query's workgroup: the one it ran in (by QueryExecutionId), else ``primary``
    for a query started without one, as Athena does."""
    if "WorkGroup" in params:
        return
    query_id = params.get("QueryExecutionId")
    if query_id:
        from local_aws.world import current

        try:
            execution = current().store("athena").get("executions", {}).get(query_id) or {}
        except RuntimeError:  # no local_aws in this process
            return
        if execution.get("WorkGroup"):
            params["WorkGroup"] = str(execution["WorkGroup"])
    elif operation == "StartQueryExecution":
        params["WorkGroup"] = "primary"


def _iterator_stream(prefix: str, params: dict[str, str]) -> None:
    """GetRecords names its stream only inside the shard iterator (moto's encodings): recover it."""
    iterator = params["ShardIterator"]
    if prefix == "dynamodb" and iterator.startswith("arn:") and "StreamArn" not in params:
        params["StreamArn"] = iterator.split("|", 1)[0]
    elif prefix == "kinesis" and "StreamARN" not in params and "StreamName" not in params:
        from moto.kinesis.utils import decompose_shard_iterator

        try:
            params["StreamName"] = decompose_shard_iterator(iterator)[0]
        except (ValueError, UnicodeDecodeError, IndexError):
            return  # not one of ours: the stream stays unknown (only "*" grants it)
