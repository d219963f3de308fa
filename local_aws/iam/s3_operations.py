"""S3's REST requests: which operation (from botocore's model), which IAM action, which bucket and key.

The operation comes from the model's method, URI template and the query-string markers in it
(``?uploads``, ``?list-type=2``, ``?x-id=PutObject``), plus the required query and header members
that tell operations on one URI apart (UploadPart's ``uploadId``, CopyObject's
``x-amz-copy-source``). The IAM action is mostly ``s3:<Operation>``; the exceptions below come from
AWS's "Required permissions for Amazon S3 API operations" (ListObjectsV2 needs s3:ListBucket,
HeadObject needs s3:GetObject...).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

_LABEL = re.compile(r"\{([^}+]+)(\+?)\}")

# Operation -> the action AWS checks, where the two differ.
_ACTIONS = {
    "ListObjects": "ListBucket",
    "ListObjectsV2": "ListBucket",
    "HeadBucket": "ListBucket",
    "HeadObject": "GetObject",
    "ListBuckets": "ListAllMyBuckets",
    "ListObjectVersions": "ListBucketVersions",
    "ListMultipartUploads": "ListBucketMultipartUploads",
    "ListParts": "ListMultipartUploadParts",
    "DeleteObjects": "DeleteObject",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "UploadPartCopy": "PutObject",
    "CompleteMultipartUpload": "PutObject",
    "CopyObject": "PutObject",
    "GetObjectAttributes": "GetObject",
    "PutBucketNotificationConfiguration": "PutBucketNotification",
    "GetBucketNotificationConfiguration": "GetBucketNotification",
    "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
    "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
    "DeleteBucketLifecycle": "PutLifecycleConfiguration",
    "PutBucketEncryption": "PutEncryptionConfiguration",
    "GetBucketEncryption": "GetEncryptionConfiguration",
    "DeleteBucketEncryption": "PutEncryptionConfiguration",
    "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
    "DeletePublicAccessBlock": "PutBucketPublicAccessBlock",
    "DeleteBucketOwnershipControls": "PutBucketOwnershipControls",
    "DeleteBucketTagging": "PutBucketTagging",
    "DeleteBucketCors": "PutBucketCORS",
    "PutBucketCors": "PutBucketCORS",
    "GetBucketCors": "GetBucketCORS",
    "DeleteBucketWebsite": "DeleteBucketWebsite",
    "PutBucketAcl": "PutBucketAcl",
    "PutBucketLogging": "PutBucketLogging",
    "GetBucketLogging": "GetBucketLogging",
    "DeleteObjectTagging": "DeleteObjectTagging",
}


@dataclass(frozen=True)
class S3Target:
    operation: str
    action: str
    bucket: str | None
    key: str | None
    params: dict[str, str]


@dataclass(frozen=True)
class _Route:
    name: str
    method: str
    path: re.Pattern[str]
    query: dict[str, str | None]  # literal markers of the URI template
    required_query: tuple[str, ...]
    required_headers: tuple[str, ...]
    score: int


@functools.cache
def _routes() -> tuple[_Route, ...]:
    import botocore.session

    model = botocore.session.get_session().get_service_model("s3")
    routes = []
    for name in model.operation_names:
        operation = model.operation_model(name)
        uri = operation.http["requestUri"]
        path, _, query_text = uri.partition("?")
        query: dict[str, str | None] = {}
        for part in filter(None, query_text.split("&")):
            key, has_value, value = part.partition("=")
            query[key] = value if has_value else None
        pattern, last = "", 0
        for label in _LABEL.finditer(path):
            pattern += re.escape(path[last : label.start()]) + (".*" if label.group(2) else "[^/]+")
            last = label.end()
        pattern += re.escape(path[last:])
        shape = operation.input_shape
        required_query: list[str] = []
        required_headers: list[str] = []
        if shape is not None:
            for member_name in shape.required_members:
                member = shape.members[member_name]
                location = member.serialization.get("location")
                wire = member.serialization.get("name", member_name)
                if location == "querystring":
                    required_query.append(wire)
                elif location == "header":
                    required_headers.append(wire.lower())
        score = 10 * len(query) + len(required_query) + len(required_headers)
        compiled = re.compile(f"^{pattern.rstrip('/') or ''}/?$", re.DOTALL)
        routes.append(
            _Route(
                name,
                operation.http["method"],
                compiled,
                query,
                tuple(required_query),
                tuple(required_headers),
                score,
            )
        )
    routes.sort(key=lambda route: -route.score)
    return tuple(routes)


def resolve(
    method: str,
    path: str,
    query_string: str,
    headers: dict[str, str],
    bucket_and_key: tuple[str | None, str | None] | None = None,
) -> S3Target | None:
    """The S3 operation of a path-style request, its IAM action, bucket and key.

    :param bucket_and_key: the request's bucket and key when the caller has them (a
        virtual-hosted request names its bucket in Host); else they are read from ``path``
    """
    params = {key: values[0] for key, values in parse_qs(query_string, keep_blank_values=True).items()}
    lowered = {key.lower() for key in headers}
    for route in _routes():
        if route.method != method and not (method == "HEAD" and route.method == "HEAD"):
            continue
        if not route.path.match(path):
            continue
        if any(
            key not in params or (value is not None and params[key] != value)
            for key, value in route.query.items()
        ):
            continue
        if any(key not in params for key in route.required_query):
            continue
        if any(header not in lowered for header in route.required_headers):
            continue
        bucket, key = bucket_and_key or _bucket_and_key(path)
        action = "s3:" + _ACTIONS.get(route.name, route.name)
        return S3Target(route.name, action, bucket, key, params)
    return None


def _bucket_and_key(path: str) -> tuple[str | None, str | None]:
    parts = path.lstrip("/").split("/", 1)
    bucket = unquote(parts[0]) if parts and parts[0] else None
    key = unquote(parts[1]) if len(parts) > 1 and parts[1] else None
    return bucket, key


def resources(target: S3Target, body_keys: list[str] | None = None) -> list[str | None]:
    """The ARNs the action is checked on: the object (``bucket/key``), else the bucket."""
    if target.bucket is None:
        return [None]  # ListBuckets: no resource type
    if target.action in ("s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload") or (
        target.key is not None and "Object" in target.action
    ):
        if target.operation == "DeleteObjects":
            return [f"arn:aws:s3:::{target.bucket}/{key}" for key in (body_keys or [])] or [None]
        if target.key is not None:
            return [f"arn:aws:s3:::{target.bucket}/{target.key}"]
    if target.operation in ("ListParts", "AbortMultipartUpload") and target.key is not None:
        return [f"arn:aws:s3:::{target.bucket}/{target.key}"]
    return [f"arn:aws:s3:::{target.bucket}"]


def context_of(target: S3Target) -> dict[str, Any]:
    """S3's own condition keys for a listing (s3:prefix, s3:delimiter, s3:max-keys)."""
    context: dict[str, Any] = {}
    for key in ("prefix", "delimiter", "max-keys"):
        if key in target.params and target.action == "s3:ListBucket":
            context[f"s3:{key}"] = target.params[key]
    return context
