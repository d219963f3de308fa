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
# Sub-resources whose request body is an XML document.
_XML_SUBRESOURCES = {
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "delete",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "legal-hold",
    "lifecycle",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "ownershipControls",
    "publicAccessBlock",
    "replication",
    "requestPayment",
    "restore",
    "retention",
    "select",
    "tagging",
    "versioning",
    "website",
}
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
    if request.method in ("PUT", "POST") and request.body and _takes_xml(request, bucket, key, params):
        try:
            ElementTree.fromstring(request.body)
        except ElementTree.ParseError as exc:
            raise AwsError(
                "MalformedXML",
                "The XML you provided was not well-formed or did not validate against our published schema",
            ) from exc


def _takes_xml(request: AwsRequest, bucket: str, key: bytes, params: dict[str, list[str]]) -> bool:
    if _XML_SUBRESOURCES & params.keys():
        return True
    if request.method == "POST" and "uploadId" in params:
        return True  # CompleteMultipartUpload
    return bool(bucket and not key and request.method == "PUT" and not params)  # CreateBucketConfiguration
