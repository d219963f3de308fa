"""S3's rules on bucket names, key lengths and XML bodies, refused before moto stores anything.

- CreateBucket with a name that breaks the general purpose bucket naming rules (3 to 63
  characters of lowercase letters, digits, dots and hyphens; a letter or digit at each end; no
  ``..``; not an IP address; none of the reserved prefixes and suffixes): ``InvalidBucketName``;
- an object key longer than 1,024 bytes of UTF-8: ``KeyTooLongError``;
- a configuration body (``?delete``, ``?tagging``, ``?lifecycle``, CompleteMultipartUpload...)
  that is not well-formed XML: ``MalformedXML``.

Only path-style requests (``/bucket/key``, what boto3 sends to a custom endpoint) and
virtual-hosted ones addressed to ``<bucket>.s3...`` or ``<bucket>.localhost`` are parsed.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from local_aws.validation.errors import AwsError

if TYPE_CHECKING:
    from local_aws.gateway import AwsRequest

MAX_KEY_BYTES = 1024

_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_ADDRESS = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
# Sub-resources whose request body is an XML document, and the root element S3 expects.
_XML_ROOTS = {
    "accelerate": "AccelerateConfiguration",
    "acl": "AccessControlPolicy",
    "analytics": "AnalyticsConfiguration",
    "cors": "CORSConfiguration",
    "delete": "Delete",
    "encryption": "ServerSideEncryptionConfiguration",
    "intelligent-tiering": "IntelligentTieringConfiguration",
    "inventory": "InventoryConfiguration",
    "legal-hold": "LegalHold",
    "lifecycle": "LifecycleConfiguration",
    "logging": "BucketLoggingStatus",
    "metrics": "MetricsConfiguration",
    "notification": "NotificationConfiguration",
    "object-lock": "ObjectLockConfiguration",
    "ownershipControls": "OwnershipControls",
    "publicAccessBlock": "PublicAccessBlockConfiguration",
    "replication": "ReplicationConfiguration",
    "requestPayment": "RequestPaymentConfiguration",
    "restore": "RestoreRequest",
    "retention": "Retention",
    "select": "SelectObjectContentRequest",
    "tagging": "Tagging",
    "versioning": "VersioningConfiguration",
    "website": "WebsiteConfiguration",
}
# An ACL may come in headers instead of a body; a restore may have no body.
_BODY_OPTIONAL = {"acl", "restore"}
_CANNED_ACLS = {
    "private",
    "public-read",
    "public-read-write",
    "aws-exec-read",
    "authenticated-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
    "log-delivery-write",
}
_MALFORMED_XML = "The XML you provided was not well-formed or did not validate against our published schema"
# What S3 does with POST: DeleteObjects and browser uploads on a bucket; multipart uploads,
# restores and selects on an object.
_OBJECT_POSTS = {"uploads", "uploadId", "restore", "select"}
_VIRTUAL_HOST = re.compile(r"^(?P<bucket>.+?)\.(s3[.-]|localhost)", re.IGNORECASE)


def bucket_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid general purpose bucket name, or None when it is."""
    if not 3 <= len(name) <= 63:
        return "must be between 3 and 63 characters long"
    if not _NAME.match(name):
        return "may contain only lowercase letters, numbers, dots and hyphens, and must begin and end with a letter or number"
    if ".." in name:
        return "must not contain two adjacent periods"
    if _IP_ADDRESS.match(name):
        return "must not be formatted as an IP address"
    for prefix in _RESERVED_PREFIXES:
        if name.startswith(prefix):
            return f"must not start with the reserved prefix {prefix}"
    for suffix in _RESERVED_SUFFIXES:
        if name.endswith(suffix):
            return f"must not end with the reserved suffix {suffix}"
    return None


def split_path(request: AwsRequest) -> tuple[str, bytes]:
    """The bucket and the key's raw bytes a request addresses (empty when absent)."""
    # PATH_INFO carries the request's bytes as latin-1 characters, one per byte.
    raw = request.path.encode("latin-1", "replace").lstrip(b"/")
    host = request.headers.get("Host", "").split(":")[0]
    virtual = _VIRTUAL_HOST.match(host)
    if virtual and not host.lower().startswith("s3."):
        return virtual.group("bucket"), raw
    bucket, _, key = raw.partition(b"/")
    return bucket.decode("utf-8", "replace"), key


def check(request: AwsRequest) -> None:
    """Raise S3's error for a request that breaks a naming rule or carries malformed XML."""
    bucket, key = split_path(request)
    params = parse_qs(request.query_string, keep_blank_values=True)
    if bucket and not key and request.method == "PUT" and not params and bucket_name_problem(bucket):
        raise AwsError("InvalidBucketName", "The specified bucket is not valid.")
    if len(key) > MAX_KEY_BYTES:
        raise AwsError("KeyTooLongError", "Your key is too long")
    acl = next((value for name, value in request.headers.items() if name.lower() == "x-amz-acl"), None)
    if acl is not None and acl not in _CANNED_ACLS:
        raise AwsError("InvalidArgument", f"Argument x-amz-acl contains an invalid value: {acl[:64]!r}")
    if request.method == "POST" and bucket and not _post_allowed(request, key, params):
        raise AwsError("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)
    if request.method in ("PUT", "POST"):
        _check_xml_body(request, bucket, key, params)


def _check_xml_body(request: AwsRequest, bucket: str, key: bytes, params: dict[str, list[str]]) -> None:
    """A configuration body must be well-formed XML with the root element S3 expects."""
    subresources = [name for name in _XML_ROOTS if name in params]
    if not request.body:
        acl_headers = any(
            name.lower().startswith("x-amz-acl") or "grant" in name.lower() for name in request.headers
        )
        if subresources and subresources[0] not in _BODY_OPTIONAL:
            raise AwsError("MalformedXML", _MALFORMED_XML)
        if subresources == ["acl"] and not acl_headers:
            raise AwsError("MalformedXML", _MALFORMED_XML)
        return
    if not _takes_xml(request, bucket, key, params):
        return
    try:
        root = ElementTree.fromstring(request.body)
    except ElementTree.ParseError as exc:
        raise AwsError("MalformedXML", _MALFORMED_XML) from exc
    expected = _XML_ROOTS.get(subresources[0]) if subresources else None
    if expected and root.tag.rsplit("}", 1)[-1] != expected:
        raise AwsError("MalformedXML", _MALFORMED_XML)


def _post_allowed(request: AwsRequest, key: bytes, params: dict[str, list[str]]) -> bool:
    if key:
        return bool(_OBJECT_POSTS & params.keys())
    if "delete" in params:
        return True
    return not params and request.headers.get("Content-Type", "").startswith("multipart/form-data")


def _takes_xml(request: AwsRequest, bucket: str, key: bytes, params: dict[str, list[str]]) -> bool:
    if _XML_ROOTS.keys() & params.keys():
        return True
    if request.method == "POST" and "uploadId" in params:
        return True  # CompleteMultipartUpload
    # Every bucket-level PUT body is XML (CreateBucketConfiguration and the sub-resources) but a policy.
    return bool(bucket and not key and request.method == "PUT" and "policy" not in params)
