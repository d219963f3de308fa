"""Firehose delivery: buffering, the Lambda processor, prefix expressions and S3 objects.

moto stores delivery streams and, for DirectPut, writes each PutRecord straight to S3. Here a
delivery stream behaves as in AWS:

- PutRecord / PutRecordBatch (DirectPut) are validated as AWS does and the records are kept in this
  component's store until they are in S3; a KinesisStreamAsSource stream is read by a worker from
  moto's Kinesis shards, starting at LATEST when the delivery stream is created, with one checkpoint
  per shard in the store. Checkpoints and DirectPut records are dropped only once the data (or its
  error record) is written to S3, so a restart from ``--state-dir`` redelivers, never loses.
- Records pass through the ProcessingConfiguration: a Lambda processor (invoked through the Lambda
  runtime component with Firehose's transformation contract, batched by its BufferSizeInMBs /
  BufferIntervalInSeconds, retried NumberOfRetries times, up to three batches at once with their
  results applied in order), MetadataExtraction (inline JSON parsing) and AppendDelimiterToRecord.
  Failures go under the error prefix in AWS's error-record format.
- The destination buffer is flushed when SizeInMBs of output is reached or IntervalInSeconds have
  passed since its first record arrived (0 allowed). When the destination interval is due, records
  still waiting for the processor are processed at once, so a record reaches S3 within the
  destination interval plus processing time. Objects are named ``<evaluated prefix><stream>-<version>-
  <yyyy-MM-dd-HH-mm-ss>-<uuid>[.gz]``; with dynamic partitioning there is one object per partition.
- Each object (and error-prefix object) is written as the delivery role (the destination's
  RoleARN) over HTTPS: the bucket's policy is evaluated for that role's session, ``s3:PutObject``
  on ``arn:aws:s3:::<bucket>/<key>``, with the context keys such a request carries
  (``aws:SecureTransport`` true, ``aws:PrincipalArn``, ``aws:PrincipalAccount``, ``aws:userid``
  when IAM knows the role...; see `local_aws.bucket_policies`). An explicit Deny refuses the
  write; a bucket of another account refuses it unless its policy allows the role.
- A failed S3 write (``S3.AccessDenied``, ``S3.NoSuchBucket``...) keeps the sealed flush and
  everything behind it, in order, and is retried with a backoff (0.5 s doubling to 5 s, AWS's
  retry interval; ``LOCAL_AWS_FIREHOSE_S3_RETRY_SECONDS`` / ``..._RETRY_MAX_SECONDS``). Each
  failure is written to the CloudWatchLoggingOptions log group and stream as Firehose's error
  record (deliveryStreamARN, destination, deliveryStreamVersionId, message, errorCode). Once the
  write succeeds the data is delivered (at least once, never dropped); as in AWS, data that cannot
  be delivered for 24 hours (the delivery stream's retention) is discarded, with an error log.

LIMITATIONS: destinations other than S3/ExtendedS3 are stored but deliver nothing; S3 backup,
data format conversion, record de-aggregation, CustomTimeZone, FileExtension and KMS encryption
of objects are ignored. MetadataExtraction supports only ``{key: .field.subfield}`` queries, not
full JQ. With dynamic partitioning all partitions are flushed together (AWS buffers each partition
separately) and the 64 MiB minimum buffer size is not enforced. Lambda invocation retries back off
for a fraction of a second, not AWS's schedule. Some rejection messages (dynamic-partitioning
rules, processor parameters) are worded here, not copied from AWS. Error objects use the
destination's compression.
Access to the destination: for a delivery role IAM knows, `local_aws.iam` checks its trust
policy, its policies and boundary (and ``lambda:InvokeFunction`` before the processor runs); a
role IAM does not know is not refused for itself (tests and demos name roles they never create),
but the bucket policy and the bucket's owner still decide its writes. SCPs / RCPs, ACLs and S3
Object Ownership (objects written to another account's bucket belong to its owner, as with
BucketOwnerEnforced), Block Public Access, VPC endpoint policies and KMS key policies are not
evaluated. The requests carry no ``aws:SourceIp``, ``aws:SourceVpce`` or ``s3:x-amz-acl`` (so a
Deny conditioned on ``NotIpAddress`` applies, as it does to Firehose's own addresses in AWS).
Delivery errors are not counted in DescribeDeliveryStream (nor in CloudWatch metrics): only the
error log and the server log show them. A log group or stream that does not exist gets no error
record. The role session is named ``FirehoseSession`` here (AWS does not document its name; a
policy naming an assumed-role session ARN or an ``aws:userid`` session must use this one).
"""

from __future__ import annotations

import base64
import copy
import gzip
import inspect
import json
import os
import threading
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.firehose import models as firehose_models
from moto.firehose.exceptions import (
    InvalidArgumentException,
    ResourceNotFoundException,
    ValidationException,
)

from local_aws import bucket_policies, iam
from local_aws.components import firehose_prefixes as prefixes
from local_aws.components import firehose_processing as processing
from local_aws.components.base import Component

MIB = 1024 * 1024
MAX_RECORD_BYTES = 1_024_000  # 1,000 KiB
MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * MIB
DEFAULT_SIZE_MB = 5
DEFAULT_INTERVAL_S = 300
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
POLL_S = 0.05
# Bound on records read ahead of delivery, so a large backlog does not sit in memory all at once.
MAX_PENDING_BYTES = 32 * MIB
MAX_PULL_RECORDS = 10_000
LAMBDA_CONCURRENCY = 3

KINESIS_SOURCE_MESSAGE = "This operation is not permitted on KinesisStreamAsSource delivery stream type."


def _now_ms() -> int:
    return int(time.time() * 1000)


def _record_id() -> str:
    # AWS's record ids are long opaque strings; uniqueness is all a client may rely on.
    return uuid.uuid4().hex + uuid.uuid4().hex[:24]


@dataclass(slots=True)
class SourceRecord:
    record_id: str
    arrival_ms: int
    data: bytes
    shard: str  # "direct" for DirectPut, else the Kinesis shard id
    seq: int
    kinesis: dict[str, Any] | None
    pulled_at: float


@dataclass
class Group:
    """Records bound for one object."""

    chunks: list[bytes] = field(default_factory=list)
    oldest_ms: int = 0
    keys: tuple[dict[str, str] | None, dict[str, str] | None] = (None, None)

    def add(self, data: bytes, arrival_ms: int) -> None:
        self.oldest_ms = arrival_ms if not self.chunks else min(self.oldest_ms, arrival_ms)
        self.chunks.append(data)


@dataclass
class Outcome:
    """What came of invoking the processor for one batch."""

    attempts: int = 0
    answered: dict[str, processing.Transformed] | None = None
    failure: tuple[str, str] = processing.FUNCTION_ERROR


@dataclass
class Settings:
    """The destination as configured at one DeliveryStreamVersion."""

    version: str
    name: str
    arn: str
    region: str
    account_id: str
    kinesis_arn: str | None
    bucket: str | None
    size_bytes: int
    interval_s: float
    gzip: bool
    success_template: str
    error_template: str
    dynamic: bool
    processors: processing.Processors
    query_needed: tuple[str, ...] = ()
    lambda_needed: tuple[str, ...] = ()
    role_arn: str = ""
    log_group: str | None = None  # CloudWatchLoggingOptions, when enabled
    log_stream: str | None = None


@dataclass
class Delivery:
    """In-memory progress of one delivery stream (rebuilt from the store after a restart)."""

    arn: str
    state_id: str = ""
    pending: deque[SourceRecord] = field(default_factory=deque)
    pending_bytes: int = 0
    cursors: dict[str, int] = field(default_factory=dict)
    direct_pulled: int = 0
    ready: dict[tuple[Any, ...], Group] = field(default_factory=dict)
    errors: dict[str, Group] = field(default_factory=dict)
    ready_bytes: int = 0
    positions: dict[str, int] = field(default_factory=dict)
    window_start: float | None = None
    outbox: list[tuple[str, bytes]] = field(default_factory=list)
    outbox_positions: dict[str, int] = field(default_factory=dict)
    outbox_oldest_ms: int = 0
    outbox_bucket: str = ""
    next_attempt: float = 0.0
    failures: int = 0  # consecutive failed S3 writes, for the backoff
    settings_version: str | None = None
    settings: Settings | None = None

    @property
    def has_ready(self) -> bool:
        return bool(self.ready or self.errors or self.positions)


def _new_state() -> dict[str, Any]:
    """What the store keeps per delivery stream: unacknowledged DirectPut records, shard checkpoints."""
    # "id" tells a worker that its stream was deleted and re-created under the same ARN.
    return {"id": uuid.uuid4().hex, "next_seq": 1, "direct": [], "shards": {}}


def _destination(model: Any) -> dict[str, Any] | None:
    destination = model.destinations[0] if model.destinations else {}
    return destination.get("ExtendedS3") or destination.get("S3")


def _dynamic_enabled(config: dict[str, Any]) -> bool:
    return bool((config.get("DynamicPartitioningConfiguration") or {}).get("Enabled"))


def _validate_destination(config: dict[str, Any] | None, extended: bool) -> None:
    """Reject a destination configuration as Firehose does at Create/UpdateDestination."""
    if not config:
        return
    try:
        procs = processing.parse_processors(config.get("ProcessingConfiguration") if extended else None)
    except ValueError as exc:
        raise InvalidArgumentException(str(exc)) from exc
    dynamic = extended and _dynamic_enabled(config)
    try:
        prefixes.check_prefixes(
            config.get("Prefix"),
            config.get("ErrorOutputPrefix"),
            dynamic_partitioning=dynamic,
            query_keys=set(procs.query) if procs.query is not None else None,
            lambda_processor=procs.lambda_arn is not None,
        )
    except prefixes.PrefixError as exc:
        raise InvalidArgumentException(str(exc)) from exc
    hints = config.get("BufferingHints") or {}
    size, interval = hints.get("SizeInMBs"), hints.get("IntervalInSeconds")
    if size is not None and not 1 <= int(size) <= 128:
        raise InvalidArgumentException("BufferingHints.SizeInMBs must be between 1 and 128.")
    if interval is not None and not 0 <= int(interval) <= 900:
        raise InvalidArgumentException("BufferingHints.IntervalInSeconds must be between 0 and 900.")
    compression = config.get("CompressionFormat", "UNCOMPRESSED")
    if compression not in ("UNCOMPRESSED", "GZIP", "ZIP", "Snappy", "HADOOP_SNAPPY"):
        raise InvalidArgumentException(f"Unsupported CompressionFormat {compression}.")


def _with_defaults(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """Fill in what DescribeDeliveryStream shows for unset fields."""
    if not config:
        return config
    config = dict(config)
    hints = dict(config.get("BufferingHints") or {})
    hints.setdefault("SizeInMBs", DEFAULT_SIZE_MB)
    hints.setdefault("IntervalInSeconds", DEFAULT_INTERVAL_S)
    config["BufferingHints"] = hints
    config.setdefault("CompressionFormat", "UNCOMPRESSED")
    config.setdefault("EncryptionConfiguration", {"NoEncryptionConfig": "NoEncryption"})
    return config


def _bind(original: Any, self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> inspect.BoundArguments:
    bound = inspect.signature(original).bind(self, *args, **kwargs)
    bound.apply_defaults()
    return bound


def _validation_error(problems: list[str]) -> ValidationException:
    count = len(problems)
    noun = "error" if count == 1 else "errors"
    return ValidationException(f"{count} validation {noun} detected: " + "; ".join(problems))


class AccessDenied(Exception):
    """The destination bucket does not let the delivery role write the object."""


def _delivery_error(exc: Exception) -> tuple[str, str]:
    """Firehose's error code and message for a failed S3 write."""
    if isinstance(exc, AccessDenied):
        return S3_ACCESS_DENIED
    code = str(getattr(exc, "code", "") or getattr(exc, "error_type", "") or "")
    if code == "NoSuchBucket":
        return S3_NO_SUCH_BUCKET
    if code in ("AccessDenied", "AccessDeniedByLock"):
        return S3_ACCESS_DENIED
    return (f"S3.{code}" if code else "S3.InternalError", str(exc) or type(exc).__name__)


class Firehose(Component):
    """Delivers Firehose records to S3 the way AWS does."""

    name = "firehose"
    order = 50

    _originals: dict[str, Any] = {}

    def __init__(self) -> None:
        super().__init__()
        self._deliveries: dict[str, Delivery] = {}
        self._running: set[str] = set()
        self._running_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="local_aws-firehose-lambda")

    # -- install: patch moto's backend -------------------------------------------------------
    def install(self, world: Any) -> None:
        super().install(world)
        backend_cls = firehose_models.FirehoseBackend
        originals = Firehose._originals
        for method in (
            "create_delivery_stream",
            "update_destination",
            "delete_delivery_stream",
            "put_record",
            "put_record_batch",
        ):
            originals.setdefault(method, getattr(backend_cls, method))
        component = self

        def create_delivery_stream(backend: Any, *args: Any, **kwargs: Any) -> str:
            return component._create(backend, args, kwargs)

        def update_destination(backend: Any, *args: Any, **kwargs: Any) -> None:
            component._update(backend, args, kwargs)

        def delete_delivery_stream(
            backend: Any, delivery_stream_name: str, *args: Any, **kwargs: Any
        ) -> None:
            model = backend.delivery_streams.get(delivery_stream_name)
            originals["delete_delivery_stream"](backend, delivery_stream_name, *args, **kwargs)
            if model is not None:
                component._streams().pop(model.delivery_stream_arn, None)

        def put_record(backend: Any, delivery_stream_name: str, record: dict[str, Any]) -> dict[str, Any]:
            return component._put(backend, delivery_stream_name, [record], single=True)

        def put_record_batch(backend: Any, delivery_stream_name: str, records: list[dict[str, Any]]) -> Any:
            return component._put(backend, delivery_stream_name, records or [], single=False)

        backend_cls.create_delivery_stream = create_delivery_stream  # type: ignore[method-assign]
        backend_cls.update_destination = update_destination  # type: ignore[method-assign]
        backend_cls.delete_delivery_stream = delete_delivery_stream  # type: ignore[method-assign]
        backend_cls.put_record = put_record  # type: ignore[method-assign]
        backend_cls.put_record_batch = put_record_batch  # type: ignore[method-assign]

    def _streams(self) -> dict[str, dict[str, Any]]:
        assert self.world is not None
        return self.world.store(self.name).setdefault("streams", {})

    # -- control plane -----------------------------------------------------------------------
    def _create(self, backend: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        original = Firehose._originals["create_delivery_stream"]
        bound = _bind(original, backend, args, kwargs)
        arguments = bound.arguments
        _validate_destination(arguments.get("extended_s3_destination_configuration"), extended=True)
        _validate_destination(arguments.get("s3_destination_configuration"), extended=False)
        stream_type = arguments.get("delivery_stream_type") or "DirectPut"
        source = arguments.get("kinesis_stream_source_configuration")
        if stream_type == "KinesisStreamAsSource" and not (source or {}).get("KinesisStreamARN"):
            raise InvalidArgumentException(
                "KinesisStreamSourceConfiguration is required for the KinesisStreamAsSource stream type."
            )
        for key in ("extended_s3_destination_configuration", "s3_destination_configuration"):
            arguments[key] = _with_defaults(arguments.get(key))
        arn = original(*bound.args, **bound.kwargs)
        model = backend.delivery_streams[arguments["delivery_stream_name"]]
        state = _new_state()
        if stream_type == "KinesisStreamAsSource":
            model.source = dict(source)
            model.source["DeliveryStartTimestamp"] = datetime.now(UTC)
            # Firehose starts reading a Kinesis source at LATEST when the delivery stream is created.
            stream = self._kinesis_stream(source["KinesisStreamARN"])
            if stream is not None:
                for shard_id, shard in stream.shards.items():
                    state["shards"][shard_id] = next(reversed(shard.records)) if shard.records else 0
            state["source_seen"] = stream is not None
        self._streams()[arn] = state
        return arn

    def _update(self, backend: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        original = Firehose._originals["update_destination"]
        bound = _bind(original, backend, args, kwargs)
        arguments = bound.arguments
        model = backend.delivery_streams.get(arguments["delivery_stream_name"])
        if model is not None:
            current = _destination(model) or {}
            for key, extended in (("extended_s3_destination_update", True), ("s3_destination_update", False)):
                update = arguments.get(key)
                if not update:
                    continue
                merged = {**current, **update}
                if extended and _dynamic_enabled(update) and not _dynamic_enabled(current):
                    raise InvalidArgumentException(
                        "Dynamic Partitioning cannot be enabled on an existing delivery stream."
                    )
                _validate_destination(merged, extended=extended)
        original(*bound.args, **bound.kwargs)

    # -- data plane: DirectPut -------------------------------------------------------------
    def _put(self, backend: Any, name: str, records: list[dict[str, Any]], single: bool) -> dict[str, Any]:
        model = backend.delivery_streams.get(name)
        if model is None:
            raise ResourceNotFoundException(f"Firehose {name} under account {backend.account_id} not found.")
        if model.delivery_stream_type == "KinesisStreamAsSource":
            raise InvalidArgumentException(KINESIS_SOURCE_MESSAGE)
        if len(records) > MAX_BATCH_RECORDS:
            raise _validation_error(
                [
                    f"Value '{len(records)} records' at 'records' failed to satisfy constraint: "
                    f"Member must have length less than or equal to {MAX_BATCH_RECORDS}"
                ]
            )
        problems, total = [], 0
        for index, record in enumerate(records, start=1):
            data = record.get("Data") or b""
            if isinstance(data, str):
                data = base64.b64decode(data)
                record["Data"] = data
            total += len(data)
            if len(data) > MAX_RECORD_BYTES:
                where = "record.data" if single else f"records.{index}.member.data"
                problems.append(
                    f"Value 'java.nio.HeapByteBuffer[pos=0 lim={len(data)} cap={len(data)}]' at '{where}' "
                    f"failed to satisfy constraint: Member must have length less than or equal to {MAX_RECORD_BYTES}"
                )
        if problems:
            raise _validation_error(problems)
        if total > MAX_BATCH_BYTES:
            raise InvalidArgumentException("Records size exceeds 4 MB limit")
        state = self._streams().setdefault(model.delivery_stream_arn, _new_state())
        arrival = _now_ms()
        responses = []
        for record in records:
            record_id = _record_id()
            state["direct"].append((state["next_seq"], record_id, arrival, bytes(record.get("Data") or b"")))
            state["next_seq"] += 1
            responses.append({"RecordId": record_id})
        encryption = model.delivery_stream_encryption_configuration or {}
        encrypted = encryption.get("Status") == "ENABLED"
        if single:
            return {"RecordId": responses[0]["RecordId"], "Encrypted": encrypted}
        return {"FailedPutCount": 0, "Encrypted": encrypted, "RequestResponses": responses}

    # -- workers ------------------------------------------------------------------------------
    def start(self) -> None:
        self.spawn(self._supervise, "firehose-supervisor")

    def stop(self) -> None:
        super().stop()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _supervise(self) -> None:
        """Start one delivery worker per delivery stream; each ends when its stream is deleted."""
        assert self.world is not None
        while not self.world.stopping.is_set():
            try:
                with self.world.lock:
                    arns = [
                        model.delivery_stream_arn
                        for accounts in firehose_models.firehose_backends.values()
                        for backend in accounts.values()
                        for model in backend.delivery_streams.values()
                    ]
                with self._running_lock:
                    new = [arn for arn in arns if arn not in self._running]
                    self._running.update(new)
                for arn in new:
                    self.spawn(lambda arn=arn: self._deliver(arn), f"firehose-{arn.rsplit('/', 1)[-1]}")
            except Exception:
                self.log.exception("firehose supervisor step failed")
            self.world.stopping.wait(0.2)

    def _model(self, arn: str) -> Any:
        _, _, _, region, account_id, resource = arn.split(":", 5)
        assert self.world is not None
        backend = firehose_models.firehose_backends[account_id].get(region)
        if backend is None:
            return None
        model = backend.delivery_streams.get(resource.split("/", 1)[1])
        if model is None or model.delivery_stream_arn != arn:
            return None
        return model

    def _kinesis_stream(self, stream_arn: str) -> Any:
        try:
            _, _, _, region, account_id, resource = stream_arn.split(":", 5)
            assert self.world is not None
            backend = self.world.backend("kinesis", account_id, region)
        except (ValueError, KeyError):
            return None
        return backend.streams.get(resource.split("/", 1)[-1])

    def _deliver(self, arn: str) -> None:
        assert self.world is not None
        delivery = Delivery(arn=arn)
        try:
            while not self.world.stopping.is_set():
                with self.world.lock:
                    model = self._model(arn)
                    state = self._streams().get(arn)
                    if model is None or state is None:
                        return
                    if delivery.state_id != state["id"]:
                        delivery = Delivery(arn=arn, state_id=state["id"])
                    settings = self._settings(delivery, model)
                    self._pull(delivery, settings, model)
                try:
                    worked = self._step(delivery, settings)
                except Exception:
                    self.log.exception("firehose %s: delivery step failed", settings.name)
                    worked = False
                    delivery.next_attempt = time.monotonic() + S3_RETRY_S
                if not worked:
                    self.world.stopping.wait(POLL_S)
        finally:
            with self._running_lock:
                self._running.discard(arn)

    def _settings(self, delivery: Delivery, model: Any) -> Settings:
        """Parse the destination once per DeliveryStreamVersion (UpdateDestination applies in place)."""
        if delivery.settings is not None and delivery.settings_version == model.version_id:
            return delivery.settings
        config = copy.deepcopy(_destination(model) or {})
        destination = model.destinations[0] if model.destinations else {}
        extended = "ExtendedS3" in destination
        hints = config.get("BufferingHints") or {}
        procs = processing.parse_processors(config.get("ProcessingConfiguration") if extended else None)
        dynamic = extended and _dynamic_enabled(config)
        bucket_arn = config.get("BucketARN") or ""
        _, _, _, region, account_id, _ = model.delivery_stream_arn.split(":", 5)
        settings = Settings(
            version=model.version_id,
            name=model.delivery_stream_name,
            arn=model.delivery_stream_arn,
            region=region,
            account_id=account_id,
            kinesis_arn=(model.source or {}).get("KinesisStreamARN")
            if model.delivery_stream_type == "KinesisStreamAsSource"
            else None,
            bucket=bucket_arn.split(":::", 1)[-1] if bucket_arn else None,
            size_bytes=int(float(hints.get("SizeInMBs", DEFAULT_SIZE_MB)) * MIB),
            interval_s=float(hints.get("IntervalInSeconds", DEFAULT_INTERVAL_S)),
            gzip=config.get("CompressionFormat") == "GZIP",
            success_template=prefixes.success_template(config.get("Prefix"), dynamic),
            error_template=prefixes.error_template(config.get("Prefix"), config.get("ErrorOutputPrefix")),
            dynamic=dynamic,
            processors=procs,
            role_arn=str(config.get("RoleARN") or ""),
        )
        logging_options = config.get("CloudWatchLoggingOptions") or {}
        if logging_options.get("Enabled") and logging_options.get("LogGroupName"):
            settings.log_group = logging_options["LogGroupName"]
            settings.log_stream = logging_options.get("LogStreamName")
        if dynamic:
            query_needed, lambda_needed = prefixes.dynamic_keys_needed(config.get("Prefix"))
            settings.query_needed = tuple(dict.fromkeys(query_needed))
            settings.lambda_needed = tuple(dict.fromkeys(lambda_needed))
        delivery.settings, delivery.settings_version = settings, model.version_id
        return settings

    # -- reading the source (caller holds the world lock) ------------------------------------
    def _pull(self, delivery: Delivery, settings: Settings, model: Any) -> None:
        if delivery.pending_bytes >= MAX_PENDING_BYTES or settings.bucket is None:
            return
        state = self._streams()[delivery.arn]
        now = time.monotonic()
        pulled = 0
        if settings.kinesis_arn is None:
            direct = state["direct"]
            if direct and direct[-1][0] > delivery.direct_pulled:
                start = max(0, delivery.direct_pulled + 1 - direct[0][0])
                for seq, record_id, arrival, data in direct[start : start + MAX_PULL_RECORDS]:
                    self._enqueue(delivery, SourceRecord(record_id, arrival, data, "direct", seq, None, now))
                    delivery.direct_pulled = seq
                    pulled += 1
            return
        stream = self._kinesis_stream(settings.kinesis_arn)
        if stream is None:
            return
        if self._source_denied(settings, model, state):
            return
        if not state.get("source_seen"):
            state["source_seen"] = True  # the stream appeared after the delivery stream: read all of it
        budget = MAX_PULL_RECORDS
        for shard_id, shard in stream.shards.items():
            cursor = delivery.cursors.get(shard_id)
            if cursor is None:
                cursor = state["shards"].get(shard_id, 0)
            records = shard.records
            if not records:
                delivery.cursors[shard_id] = cursor
                continue
            last = next(reversed(records))
            seq = cursor + 1
            while seq <= last and budget > 0:
                record = records.get(seq)
                if record is None:  # a gap in the numbering: find the next number the slow way
                    later = [number for number in records if number > cursor]
                    if not later:
                        break
                    seq = later[0]
                    record = records[seq]
                arrival = int(record.created_at * 1000)
                self._enqueue(
                    delivery,
                    SourceRecord(
                        f"{shard_id}:{seq}",
                        arrival,
                        base64.b64decode(record.data),
                        shard_id,
                        seq,
                        {
                            "shardId": shard_id,
                            "partitionKey": record.partition_key,
                            "approximateArrivalTimestamp": arrival,
                            "sequenceNumber": str(seq),
                            "subsequenceNumber": "",
                        },
                        now,
                    ),
                )
                cursor = seq
                seq += 1
                budget -= 1
            delivery.cursors[shard_id] = cursor

    def _source_denied(self, settings: Settings, model: Any, state: dict[str, Any]) -> bool:
        """Whether the source's role may not read the stream (local_aws.iam); logged once per reason."""
        from local_aws.iam import service_steps

        role = str((model.source or {}).get("RoleARN") or "")
        denied = role and service_steps.firehose_source(self.world, settings.arn, role, settings.kinesis_arn or "")
        message = denied.message if denied else None
        if message != state.get("source_denied"):
            state["source_denied"] = message
            if message:
                self.log.warning("firehose %s: cannot read its source: %s", settings.name, message)
                self._log_error(settings, settings.bucket or "", "Kinesis.AccessDenied", message)
        return bool(message)

    @staticmethod
    def _enqueue(delivery: Delivery, record: SourceRecord) -> None:
        if delivery.window_start is None:
            delivery.window_start = record.pulled_at
        delivery.pending.append(record)
        delivery.pending_bytes += len(record.data)

    # -- one step of delivery (no lock held except around backend calls) ---------------------
    def _step(self, delivery: Delivery, settings: Settings) -> bool:
        now = time.monotonic()
        if delivery.outbox:
            if now < delivery.next_attempt:
                return False
            self._write_outbox(delivery)
            return True
        if settings.bucket is None:
            return False
        dest_due = delivery.window_start is not None and now - delivery.window_start >= settings.interval_s
        procs = settings.processors
        worked = False
        if delivery.pending:
            if procs.lambda_arn:
                aged = now - delivery.pending[0].pulled_at >= procs.interval_s

                def due() -> bool:
                    return bool(delivery.pending) and (
                        dest_due or aged or delivery.pending_bytes >= procs.buffer_bytes
                    )

                while due():
                    # Up to LAMBDA_CONCURRENCY invocations run at once (Firehose invokes the
                    # function concurrently too); their results are applied in order, so the
                    # checkpoints never pass a record that is still being processed.
                    batches = []
                    while len(batches) < LAMBDA_CONCURRENCY and due():
                        batches.append(self._take(delivery, procs.buffer_bytes))
                    outcomes = list(self._pool.map(lambda batch: self._call(settings, batch), batches))
                    if self.world is not None and self.world.stopping.is_set():
                        return True  # unacknowledged records are redelivered after a restart
                    for batch, outcome in zip(batches, outcomes, strict=True):
                        self._apply(delivery, settings, batch, outcome)
                    worked = True
                    if delivery.ready_bytes >= settings.size_bytes:
                        break
            else:
                # Stop at the size hint so that objects stay close to SizeInMBs, as in AWS.
                while delivery.pending and delivery.ready_bytes < settings.size_bytes:
                    record = delivery.pending.popleft()
                    delivery.pending_bytes -= len(record.data)
                    self._route(delivery, settings, record, record.data, None, 0)
                worked = True
        if delivery.has_ready and (
            delivery.ready_bytes >= settings.size_bytes or (dest_due and not delivery.pending)
        ):
            self._seal(delivery, settings)
            self._write_outbox(delivery)
            worked = True
        return worked

    @staticmethod
    def _take(delivery: Delivery, limit: int) -> list[SourceRecord]:
        batch: list[SourceRecord] = []
        size = 0
        while delivery.pending and (not batch or size + len(delivery.pending[0].data) <= limit):
            record = delivery.pending.popleft()
            size += len(record.data)
            batch.append(record)
        delivery.pending_bytes -= size
        return batch

    @staticmethod
    def _mark(delivery: Delivery, record: SourceRecord) -> None:
        if delivery.positions.get(record.shard, -1) < record.seq:
            delivery.positions[record.shard] = record.seq

    def _route(
        self,
        delivery: Delivery,
        settings: Settings,
        record: SourceRecord,
        data: bytes,
        lambda_keys: dict[str, str] | None,
        attempts: int,
    ) -> None:
        """Put one successfully processed record in its partition's group."""
        self._mark(delivery, record)
        procs = settings.processors
        key: tuple[Any, ...] = ()
        query_keys = None
        if settings.dynamic:
            try:
                if procs.query is not None:
                    query_keys = processing.extract_keys(data, procs.query)
                key = tuple(query_keys[name] for name in settings.query_needed) + tuple(  # type: ignore[index]
                    (lambda_keys or {})[name] for name in settings.lambda_needed
                )
                if not all(key):
                    raise ValueError("a partition key is empty")
            except (ValueError, KeyError, TypeError) as exc:
                code, message = processing.PARTITION_KEYS_FAILED
                self._fail(
                    delivery, record, "dynamic-partitioning-failed", code, f"{message}: {exc}", attempts, None
                )
                return
        if procs.delimiter:
            data = data + procs.delimiter
        group = delivery.ready.get(key)
        if group is None:
            group = delivery.ready[key] = Group(keys=(query_keys, lambda_keys))
        group.add(data, record.arrival_ms)
        delivery.ready_bytes += len(data)

    def _fail(
        self,
        delivery: Delivery,
        record: SourceRecord,
        error_type: str,
        code: str,
        message: str,
        attempts: int,
        lambda_arn: str | None,
    ) -> None:
        self._mark(delivery, record)
        line = processing.error_line(
            attempts, record.arrival_ms, code, message, _now_ms(), record.data, lambda_arn
        )
        group = delivery.errors.setdefault(error_type, Group())
        group.add(line, record.arrival_ms)

    # -- the Lambda processor ------------------------------------------------------------------
    def _call(self, settings: Settings, batch: list[SourceRecord]) -> Outcome:
        """Invoke the processor for one batch, with Firehose's retries; touches no shared state."""
        procs = settings.processors
        lambda_arn = procs.lambda_arn
        assert lambda_arn is not None and self.world is not None
        records = []
        for record in batch:
            item: dict[str, Any] = {
                "recordId": record.record_id,
                "approximateArrivalTimestamp": record.arrival_ms,
                "data": base64.b64encode(record.data).decode("ascii"),
            }
            if record.kinesis is not None:
                item["kinesisRecordMetadata"] = record.kinesis
            records.append(item)
        payload = processing.build_event(
            str(uuid.uuid4()), settings.arn, settings.region, records, settings.kinesis_arn
        )
        ids = [record.record_id for record in batch]
        outcome = Outcome()
        while outcome.attempts <= procs.retries and not self.world.stopping.is_set():
            outcome.attempts += 1
            try:
                runtime: Any = self.world.components.get("lambda")
                if runtime is None:
                    raise RuntimeError("the Lambda runtime component is not installed")
                denied = settings.role_arn and iam.check_service_role(
                    self.world,
                    settings.role_arn,
                    "lambda:InvokeFunction",
                    lambda_arn,
                    service_principal="firehose.amazonaws.com",
                    source_arn=settings.arn,
                )
                if denied:  # the delivery role may not invoke the processor
                    raise processing.TransformError(("Lambda.InvokeAccessDenied", denied.message))
                result = runtime.invoke(lambda_arn, payload, settings.account_id, settings.region)
                if result.function_error or not 200 <= int(result.status_code) < 300:
                    outcome.failure = processing.FUNCTION_ERROR
                    self.log.info(
                        "firehose %s: %s returned an error (attempt %d): %r",
                        settings.name,
                        lambda_arn,
                        outcome.attempts,
                        (result.payload or b"")[:500],
                    )
                else:
                    outcome.answered = processing.parse_response(result.payload, ids)
                    return outcome
            except processing.TransformError as exc:
                outcome.failure = (exc.code, exc.message)
                self.log.info(
                    "firehose %s: %s (attempt %d): %s", settings.name, exc.code, outcome.attempts, exc.detail
                )
            except Exception as exc:  # the runtime could not run the function at all
                name = type(exc).__name__
                outcome.failure = (
                    "Lambda.ResourceNotFound" if "NotFound" in name else "Lambda.ServiceException",
                    str(exc) or name,
                )
                self.log.warning("firehose %s: invoking %s failed: %s", settings.name, lambda_arn, exc)
            if outcome.attempts <= procs.retries:
                self.world.stopping.wait(min(0.05 * outcome.attempts, 0.5))
        return outcome

    def _apply(
        self, delivery: Delivery, settings: Settings, batch: list[SourceRecord], outcome: Outcome
    ) -> None:
        """Route one batch's results: Ok to its partition, Dropped nowhere, failures to the error prefix."""
        lambda_arn = settings.processors.lambda_arn
        if outcome.answered is None:
            code, message = outcome.failure
            for record in batch:
                self._fail(delivery, record, "processing-failed", code, message, outcome.attempts, lambda_arn)
            return
        for record in batch:
            transformed = outcome.answered[record.record_id]
            if transformed.result == "Ok":
                self._route(
                    delivery, settings, record, transformed.data, transformed.partition_keys, outcome.attempts
                )
            elif transformed.result == "Dropped":
                self._mark(delivery, record)
            else:
                code, message = processing.PROCESSING_FAILED
                self._fail(delivery, record, "processing-failed", code, message, outcome.attempts, lambda_arn)

    # -- writing S3 objects ----------------------------------------------------------------
    def _object_name(self, settings: Settings, prefix: str, oldest_ms: int) -> str:
        instant = datetime.fromtimestamp(oldest_ms / 1000, UTC)
        suffix = ".gz" if settings.gzip else ""
        return (
            f"{prefix}{settings.name}-{settings.version}-{instant:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}{suffix}"
        )

    def _seal(self, delivery: Delivery, settings: Settings) -> None:
        """Turn the ready buffer into the objects of one flush."""
        outbox: list[tuple[str, bytes]] = []
        oldest = []
        for group in delivery.ready.values():
            if not group.chunks:
                continue
            instant = datetime.fromtimestamp(group.oldest_ms / 1000, UTC)
            query_keys, lambda_keys = group.keys
            prefix = prefixes.evaluate(settings.success_template, instant, None, query_keys, lambda_keys)
            outbox.append((self._object_name(settings, prefix, group.oldest_ms), b"".join(group.chunks)))
            oldest.append(group.oldest_ms)
        for error_type, group in delivery.errors.items():
            instant = datetime.fromtimestamp(group.oldest_ms / 1000, UTC)
            prefix = prefixes.evaluate(settings.error_template, instant, error_type)
            outbox.append((self._object_name(settings, prefix, group.oldest_ms), b"".join(group.chunks)))
            oldest.append(group.oldest_ms)
        if settings.gzip:
            outbox = [(key, gzip.compress(body, compresslevel=6)) for key, body in outbox]
        delivery.outbox = outbox
        delivery.outbox_positions = delivery.positions
        delivery.outbox_oldest_ms = min(oldest) if oldest else _now_ms()
        delivery.outbox_bucket = settings.bucket or ""
        delivery.ready, delivery.errors, delivery.positions = {}, {}, {}
        delivery.ready_bytes = 0
        delivery.window_start = delivery.pending[0].pulled_at if delivery.pending else None

    def _write_outbox(self, delivery: Delivery) -> None:
        """Write what is left of the sealed flush; acknowledge the source once all of it is in S3.

        A write that fails (the bucket is missing, or its policy denies the delivery role) keeps
        the flush, and everything behind it, for a retry with backoff: nothing overtakes it and
        nothing is dropped before the retention period ends.
        """
        assert self.world is not None
        settings = delivery.settings
        assert settings is not None
        with self.world.lock:
            if delivery.arn not in self._streams():
                delivery.outbox = []
                return
            while delivery.outbox:
                key, body = delivery.outbox[0]
                try:
                    self._authorize_put(settings, delivery.outbox_bucket, key)
                    self.world.put_s3_object(settings.account_id, delivery.outbox_bucket, key, body)
                except Exception as exc:
                    if self._write_failed(delivery, settings, key, exc):
                        continue  # the retention period is over: the flush is dropped, and acknowledged
                    return
                delivery.outbox.pop(0)
                delivery.failures = 0
            self._acknowledge(delivery)

    def _write_failed(self, delivery: Delivery, settings: Settings, key: str, exc: Exception) -> bool:
        """Report one failed S3 write and schedule the retry; True once the retention period is over.

        Then, as in AWS, the flush is discarded (the caller acknowledges its source records).
        """
        code, message = _delivery_error(exc)
        age_s = time.time() - delivery.outbox_oldest_ms / 1000
        if age_s >= RETENTION_S:
            self.log.error(
                "firehose %s: discarding %d objects undeliverable to s3://%s for 24 hours: %s %s",
                settings.name,
                len(delivery.outbox),
                delivery.outbox_bucket,
                code,
                exc,
            )
            self._log_error(settings, delivery.outbox_bucket, code, message)
            delivery.outbox = []
            delivery.failures = 0
            return True
        delivery.failures += 1
        backoff = min(S3_RETRY_S * 2 ** (delivery.failures - 1), S3_RETRY_MAX_S)
        delivery.next_attempt = time.monotonic() + backoff
        self.log.warning(
            "firehose %s: writing s3://%s/%s failed (%s), retrying in %.1fs: %s",
            settings.name,
            delivery.outbox_bucket,
            key,
            code,
            backoff,
            exc,
        )
        self._log_error(settings, delivery.outbox_bucket, code, message)
        return False

    def _authorize_put(self, settings: Settings, bucket_name: str, key: str) -> None:
        """Raise `AccessDenied` unless the bucket lets the delivery role put this object.

        Firehose writes as its delivery role (RoleARN), over HTTPS, so the bucket policy is
        evaluated for that role's session; a bucket of another account must allow it explicitly.
        """
        assert self.world is not None
        bucket = self.world.backend("s3", settings.account_id).get_bucket(bucket_name)
        role_arn = settings.role_arn or f"arn:aws:iam::{settings.account_id}:root"
        # The delivery role's trust, policies and boundary (local_aws.iam), then the bucket's policy.
        denied = iam.check_service_role(
            self.world,
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
            self._role_keys(role_arn),
        )
        policy = bucket.policy.decode() if isinstance(bucket.policy, bytes) else bucket.policy
        try:
            decision = bucket_policies.decide(policy, bucket.account_id, request)
        except bucket_policies.PolicyError as exc:
            raise AccessDenied(str(exc)) from exc
        if not decision.allowed:
            raise AccessDenied(f"{role_arn} may not s3:PutObject on {request.resource}: {decision.reason}")

    def _role_keys(self, role_arn: str) -> dict[str, str]:
        """``aws:userid`` of the role's session (``<role id>:<session>``), when IAM knows the role.

        Policies that exempt a role by its unique id (``StringNotLike aws:userid AROA...:*``)
        need it; without the role, the key is absent, as its id is unknowable.
        """
        assert self.world is not None
        try:
            account = role_arn.split(":")[4]
            role = self.world.backend("iam", account).get_role_by_arn(role_arn)
        except Exception:  # no such role (or account): IAM enforcement is not modelled, see LIMITATIONS
            return {}
        return {"aws:userid": f"{role.id}:{ROLE_SESSION_NAME}"}

    def _log_error(self, settings: Settings, bucket_name: str, code: str, message: str) -> None:
        """Append Firehose's error record to the stream's CloudWatch Logs error log, if one is set.

        The delivery role writes it, so a log group or stream that does not exist gets nothing
        (Firehose does not create them when the stream is made through the API).
        """
        assert self.world is not None
        if not settings.log_group or not settings.log_stream:
            return
        entry = {
            "deliveryStreamARN": settings.arn,
            "destination": f"arn:aws:s3:::{bucket_name}",
            "deliveryStreamVersionId": int(settings.version)
            if settings.version.isdigit()
            else settings.version,
            "message": message,
            "errorCode": code,
        }
        try:
            logs = self.world.backend("logs", settings.account_id, settings.region)
            logs.put_log_events(
                settings.log_group,
                settings.log_stream,
                [{"timestamp": _now_ms(), "message": json.dumps(entry)}],
            )
        except Exception as exc:  # a missing log group or stream: the error stays in the server log
            self.log.info(
                "firehose %s: cannot write to log group %s stream %s: %s",
                settings.name,
                settings.log_group,
                settings.log_stream,
                exc,
            )
            return
        self.world.mark_dirty()

    def _acknowledge(self, delivery: Delivery) -> None:
        """Advance checkpoints / drop DirectPut records now in S3 (caller holds the lock)."""
        assert self.world is not None
        state = self._streams().get(delivery.arn)
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
        self.world.mark_dirty()
