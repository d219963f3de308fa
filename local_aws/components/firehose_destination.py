"""Firehose's S3 destination: sealing a flush into objects, writing them as the delivery role,
retrying failed writes, the CloudWatch Logs error records, acknowledging the source.

Objects are named ``<evaluated prefix><stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid>[.gz]``; with
dynamic partitioning there is one object per partition. Each object (and error-prefix object) is
written as the delivery role (the destination's RoleARN) over HTTPS: the bucket's policy is
evaluated for that role's session, ``s3:PutObject`` on ``arn:aws:s3:::<bucket>/<key>``, with the
context keys such a request carries (``aws:SecureTransport`` true, ``aws:PrincipalArn``,
``aws:PrincipalAccount``, ``aws:userid`` when IAM knows the role...; see `local_aws.bucket_policies`).
An explicit Deny refuses the write; a bucket of another account refuses it unless its policy allows
the role.

A failed S3 write (``S3.AccessDenied``, ``S3.NoSuchBucket``...) keeps the sealed flush and
everything behind it, in order, and is retried with a backoff (0.5 s doubling to 5 s, AWS's retry
interval; ``LOCAL_AWS_FIREHOSE_S3_RETRY_SECONDS`` / ``..._RETRY_MAX_SECONDS``). Each failure is
written to the CloudWatchLoggingOptions log group and stream as Firehose's error record
(deliveryStreamARN, destination, deliveryStreamVersionId, message, errorCode). Once the write
succeeds the data is delivered (at least once, never dropped); as in AWS, data that cannot be
delivered for 24 hours (the delivery stream's retention) is discarded, with an error log.

LIMITATIONS: error objects use the destination's compression. For a delivery role IAM knows,
`local_aws.iam` checks its trust policy, its policies and boundary; a role IAM does not know is not
refused for itself (tests and demos name roles they never create), but the bucket policy and the
bucket's owner still decide its writes. SCPs / RCPs, ACLs and S3 Object Ownership (objects written
to another account's bucket belong to its owner, as with BucketOwnerEnforced), Block Public Access,
VPC endpoint policies and KMS key policies are not evaluated. The requests carry no
``aws:SourceIp``, ``aws:SourceVpce`` or ``s3:x-amz-acl`` (so a Deny conditioned on ``NotIpAddress``
applies, as it does to Firehose's own addresses in AWS). Delivery errors are not counted in
DescribeDeliveryStream (nor in CloudWatch metrics): only the error log and the server log show
them. A log group or stream that does not exist gets no error record. The role session is named
``FirehoseSession`` here (AWS does not document its name; a policy naming an assumed-role session
ARN or an ``aws:userid`` session must use this one).
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from local_aws import bucket_policies, iam
from local_aws.components import firehose_prefixes as prefixes
from local_aws.components.firehose_model import Delivery, Settings, now_ms
from local_aws.world import World

RETENTION_S = 24 * 3600
# AWS retries a failed S3 write every 5 seconds; locally the first retry comes sooner and the wait
# doubles up to the cap, both overridable (tests and demos should not wait on AWS's pace).
S3_RETRY_S = float(os.environ.get("LOCAL_AWS_FIREHOSE_S3_RETRY_SECONDS", "0.5"))
S3_RETRY_MAX_S = float(os.environ.get("LOCAL_AWS_FIREHOSE_S3_RETRY_MAX_SECONDS", "5"))
# The role session name Firehose's S3 requests carry (assumed-role ARNs, aws:userid): the name
# local_aws.iam gives Firehose's sessions, so that both checks see the same session.
ROLE_SESSION_NAME = "FirehoseSession"
# Firehose's error codes and messages for S3 delivery, as its CloudWatch error logs show them.
S3_ACCESS_DENIED = (
    "S3.AccessDenied",
    "Access was denied. Ensure that the trust policy for the provided IAM role allows Firehose to "
    "assume the role, and the access policy allows access to the S3 bucket.",
)
S3_NO_SUCH_BUCKET = (
    "S3.NoSuchBucket",
    "The specified bucket does not exist. Create the bucket or use a different bucket that does exist.",
)


class AccessDenied(Exception):
    """The destination bucket does not let the delivery role write the object."""


def delivery_error(exc: Exception) -> tuple[str, str]:
    """Firehose's error code and message for a failed S3 write."""
    if isinstance(exc, AccessDenied):
        return S3_ACCESS_DENIED
    code = str(getattr(exc, "code", "") or getattr(exc, "error_type", "") or "")
    if code == "NoSuchBucket":
        return S3_NO_SUCH_BUCKET
    if code in ("AccessDenied", "AccessDeniedByLock"):
        return S3_ACCESS_DENIED
    return (f"S3.{code}" if code else "S3.InternalError", str(exc) or type(exc).__name__)


def object_name(settings: Settings, prefix: str, oldest_ms: int) -> str:
    instant = datetime.fromtimestamp(oldest_ms / 1000, UTC)
    suffix = ".gz" if settings.gzip else ""
    return f"{prefix}{settings.name}-{settings.version}-{instant:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}{suffix}"


def seal(delivery: Delivery, settings: Settings) -> None:
    """Turn the ready buffer into the objects of one flush."""
    outbox: list[tuple[str, bytes]] = []
    oldest = []
    for group in delivery.ready.values():
        if not group.chunks:
            continue
        instant = datetime.fromtimestamp(group.oldest_ms / 1000, UTC)
        query_keys, lambda_keys = group.keys
        prefix = prefixes.evaluate(settings.success_template, instant, None, query_keys, lambda_keys)
        outbox.append((object_name(settings, prefix, group.oldest_ms), b"".join(group.chunks)))
        oldest.append(group.oldest_ms)
    for error_type, group in delivery.errors.items():
        instant = datetime.fromtimestamp(group.oldest_ms / 1000, UTC)
        prefix = prefixes.evaluate(settings.error_template, instant, error_type)
        outbox.append((object_name(settings, prefix, group.oldest_ms), b"".join(group.chunks)))
        oldest.append(group.oldest_ms)
    if settings.gzip:
        outbox = [(key, gzip.compress(body, compresslevel=6)) for key, body in outbox]
    delivery.outbox = outbox
    delivery.outbox_positions = delivery.positions
    delivery.outbox_oldest_ms = min(oldest) if oldest else now_ms()
    delivery.outbox_bucket = settings.bucket or ""
    delivery.ready, delivery.errors, delivery.positions = {}, {}, {}
    delivery.ready_bytes = 0
    delivery.window_start = delivery.pending[0].pulled_at if delivery.pending else None


def write_outbox(world: World, log: logging.Logger, streams: dict[str, Any], delivery: Delivery) -> None:
    """Write what is left of the sealed flush; acknowledge the source once all of it is in S3.

    ``streams`` is the component's store of delivery streams. A write that fails (the bucket is
    missing, or its policy denies the delivery role) keeps the flush, and everything behind it,
    for a retry with backoff: nothing overtakes it and nothing is dropped before the retention
    period ends.
    """
    settings = delivery.settings
    assert settings is not None
    with world.lock:
        if delivery.arn not in streams:
            delivery.outbox = []
            return
        while delivery.outbox:
            key, body = delivery.outbox[0]
            try:
                _authorize_put(world, settings, delivery.outbox_bucket, key)
                world.put_s3_object(settings.account_id, delivery.outbox_bucket, key, body)
            except Exception as exc:
                if _write_failed(world, log, delivery, settings, key, exc):
                    continue  # the retention period is over: the flush is dropped, and acknowledged
                return
            delivery.outbox.pop(0)
            delivery.failures = 0
        _acknowledge(world, streams, delivery)


def _write_failed(
    world: World, log: logging.Logger, delivery: Delivery, settings: Settings, key: str, exc: Exception
) -> bool:
    """Report one failed S3 write and schedule the retry; True once the retention period is over.

    Then, as in AWS, the flush is discarded (the caller acknowledges its source records).
    """
    code, message = delivery_error(exc)
    age_s = time.time() - delivery.outbox_oldest_ms / 1000
    if age_s >= RETENTION_S:
        log.error(
            "firehose %s: discarding %d objects undeliverable to s3://%s for 24 hours: %s %s",
            settings.name,
            len(delivery.outbox),
            delivery.outbox_bucket,
            code,
            exc,
        )
        log_error(world, log, settings, delivery.outbox_bucket, code, message)
        delivery.outbox = []
        delivery.failures = 0
        return True
    delivery.failures += 1
    backoff = min(S3_RETRY_S * 2 ** (delivery.failures - 1), S3_RETRY_MAX_S)
    delivery.next_attempt = time.monotonic() + backoff
    log.warning(
        "firehose %s: writing s3://%s/%s failed (%s), retrying in %.1fs: %s",
        settings.name,
        delivery.outbox_bucket,
        key,
        code,
        backoff,
        exc,
    )
    log_error(world, log, settings, delivery.outbox_bucket, code, message)
    return False


def _authorize_put(world: World, settings: Settings, bucket_name: str, key: str) -> None:
    """Raise `AccessDenied` unless the bucket lets the delivery role put this object.

    Firehose writes as its delivery role (RoleARN), over HTTPS, so the bucket policy is
    evaluated for that role's session; a bucket of another account must allow it explicitly.
    """
    bucket = world.backend("s3", settings.account_id).get_bucket(bucket_name)
    role_arn = settings.role_arn or f"arn:aws:iam::{settings.account_id}:root"
    # The delivery role's trust, policies and boundary (local_aws.iam), then the bucket's policy.
    denied = iam.check_service_role(
        world,
        role_arn,
        "s3:PutObject",
        f"arn:aws:s3:::{bucket_name}/{key}",
        service_principal="firehose.amazonaws.com",
        source_arn=settings.arn,
    )
    if denied is not None:
        raise AccessDenied(denied.message)
    request = bucket_policies.role_request(
        role_arn,
        "s3:PutObject",
        f"arn:aws:s3:::{bucket_name}/{key}",
        ROLE_SESSION_NAME,
        _role_keys(world, role_arn),
    )
    policy = bucket.policy.decode() if isinstance(bucket.policy, bytes) else bucket.policy
    try:
        decision = bucket_policies.decide(policy, bucket.account_id, request)
    except bucket_policies.PolicyError as exc:
        raise AccessDenied(str(exc)) from exc
    if not decision.allowed:
        raise AccessDenied(f"{role_arn} may not s3:PutObject on {request.resource}: {decision.reason}")


def _role_keys(world: World, role_arn: str) -> dict[str, str]:
    """``aws:userid`` of the role's session (``<role id>:<session>``), when IAM knows the role.

    Policies that exempt a role by its unique id (``StringNotLike aws:userid AROA...:*``)
    need it; without the role, the key is absent, as its id is unknowable.
    """
    try:
        account = role_arn.split(":")[4]
        role = world.backend("iam", account).get_role_by_arn(role_arn)
    except Exception:  # no such role (or account): IAM enforcement is not modelled, see LIMITATIONS
        return {}
    return {"aws:userid": f"{role.id}:{ROLE_SESSION_NAME}"}


def log_error(
    world: World, log: logging.Logger, settings: Settings, bucket_name: str, code: str, message: str
) -> None:
    """Append Firehose's error record to the stream's CloudWatch Logs error log, if one is set.

    The delivery role writes it, so a log group or stream that does not exist gets nothing
    (Firehose does not create them when the stream is made through the API).
    """
    if not settings.log_group or not settings.log_stream:
        return
    entry = {
        "deliveryStreamARN": settings.arn,
        "destination": f"arn:aws:s3:::{bucket_name}",
        "deliveryStreamVersionId": int(settings.version) if settings.version.isdigit() else settings.version,
        "message": message,
        "errorCode": code,
    }
    try:
        logs = world.backend("logs", settings.account_id, settings.region)
        logs.put_log_events(
            settings.log_group,
            settings.log_stream,
            [{"timestamp": now_ms(), "message": json.dumps(entry)}],
        )
    except Exception as exc:  # a missing log group or stream: the error stays in the server log
        log.info(
            "firehose %s: cannot write to log group %s stream %s: %s",
            settings.name,
            settings.log_group,
            settings.log_stream,
            exc,
        )
        return
    world.mark_dirty()


def _acknowledge(world: World, streams: dict[str, Any], delivery: Delivery) -> None:
    """Advance checkpoints / drop DirectPut records now in S3 (caller holds the lock)."""
    state = streams.get(delivery.arn)
    if state is None:
        return
    for shard, seq in delivery.outbox_positions.items():
        if shard == "direct":
            direct = state["direct"]
            if direct:
                cut = seq + 1 - direct[0][0]
                if cut > 0:
                    del direct[:cut]
        elif state["shards"].get(shard, 0) < seq:
            state["shards"][shard] = seq
    delivery.outbox_positions = {}
    world.mark_dirty()
