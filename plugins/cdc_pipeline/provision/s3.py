"""S3 buckets: SSE-S3 by default, public access blocked, TLS-only; emptied (every version) on teardown."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from cdc_pipeline.provision.context import Deployment
from cdc_pipeline.provision.outcome import Outcome
from cdc_pipeline.provision.waiting import error_code

KIND = "s3:bucket"

ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
_MISSING = {"404", "NoSuchBucket", "NotFound"}


def tls_only_policy(bucket: str, partition: str = "aws") -> dict[str, Any]:
    """Deny every request that does not use TLS."""
    arn = f"arn:{partition}:s3:::{bucket}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def bucket_exists(s3: Any, bucket: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        if error_code(error) in _MISSING:
            return False
        # 403: the name is taken by another account (bucket names are global).
        raise RuntimeError(
            f"bucket {bucket!r} exists but is not ours ({error_code(error)}): choose another name with "
            "CDC_LAKE_LAKE_BUCKET / CDC_LAKE_ATHENA_RESULTS_BUCKET"
        ) from error
    return True


def ensure_bucket(deployment: Deployment, resource: str, bucket: str) -> Outcome:
    """Create the bucket if missing, then bring encryption, public access block and policy in line."""
    s3 = deployment.client("s3")
    if not bucket_exists(s3, bucket):
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if deployment.settings.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": deployment.settings.region}
        s3.create_bucket(**kwargs)
        _apply(s3, bucket, deployment.names.partition, everything=True)
        return Outcome(resource, KIND, bucket, "created")
    changed = _apply(s3, bucket, deployment.names.partition, everything=False)
    return Outcome(resource, KIND, bucket, "updated" if changed else "unchanged")


def _apply(s3: Any, bucket: str, partition: str, everything: bool) -> bool:
    """Put each setting that differs from what we want (all of them for a new bucket)."""
    changed = False
    if everything or _encryption(s3, bucket) != ENCRYPTION["Rules"][0]["ApplyServerSideEncryptionByDefault"]:
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=ENCRYPTION)
        changed = True
    if everything or _public_access_block(s3, bucket) != PUBLIC_ACCESS_BLOCK:
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK)
        changed = True
    policy = tls_only_policy(bucket, partition)
    if everything or _policy(s3, bucket) != policy:
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
        changed = True
    return changed


def _encryption(s3: Any, bucket: str) -> dict[str, Any] | None:
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except ClientError as error:
        if error_code(error) == "ServerSideEncryptionConfigurationNotFoundError":
            return None
        raise
    default = dict(rules[0].get("ApplyServerSideEncryptionByDefault", {})) if rules else {}
    return default or None


def _public_access_block(s3: Any, bucket: str) -> dict[str, Any] | None:
    try:
        return s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except ClientError as error:
        if error_code(error) == "NoSuchPublicAccessBlockConfiguration":
            return None
        raise


def _policy(s3: Any, bucket: str) -> dict[str, Any] | None:
    try:
        return json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError as error:
        if error_code(error) == "NoSuchBucketPolicy":
            return None
        raise


def delete_bucket(deployment: Deployment, resource: str, bucket: str) -> Outcome:
    """Delete every object version and delete marker, then the bucket."""
    s3 = deployment.client("s3")
    if not bucket_exists(s3, bucket):
        return Outcome(resource, KIND, bucket, "absent")
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        keys = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for item in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        # A page holds at most 1,000 entries, DeleteObjects' limit.
        if keys:
            result = s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            if result.get("Errors"):
                raise RuntimeError(f"could not empty bucket {bucket!r}: {result['Errors'][:3]}")
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for upload in page.get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    s3.delete_bucket(Bucket=bucket)
    return Outcome(resource, KIND, bucket, "deleted")
