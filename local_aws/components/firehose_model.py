"""Firehose's model: a delivery stream's stored state, its parsed destination, its in-memory buffers.

What survives a restart is the store entry of `new_state` (unacknowledged DirectPut records, one
checkpoint per Kinesis shard); everything else (`Delivery`, `Settings`) is rebuilt from it and from
moto's delivery stream model.

LIMITATIONS: destinations other than S3/ExtendedS3 are parsed as no bucket (they deliver nothing);
S3 backup, record de-aggregation, CustomTimeZone, FileExtension and KMS
encryption of objects are not read from the destination. With dynamic partitioning all partitions
share one buffer (AWS buffers each partition separately).
"""

from __future__ import annotations

import copy
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from local_aws.components import firehose_conversion
from local_aws.components import firehose_prefixes as prefixes
from local_aws.components import firehose_processing as processing

MIB = 1024 * 1024
DEFAULT_SIZE_MB = 5
DEFAULT_INTERVAL_S = 300


def now_ms() -> int:
    return int(time.time() * 1000)


def record_id() -> str:
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
    # With format conversion: each chunk's (arrival, Kinesis metadata), for its error record.
    sources: list[tuple[int, dict[str, Any] | None]] = field(default_factory=list)

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
    conversion: firehose_conversion.Conversion | None = None  # DataFormatConversionConfiguration


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


def new_state() -> dict[str, Any]:
    """What the store keeps per delivery stream: unacknowledged DirectPut records, shard checkpoints."""
    # "id" tells a worker that its stream was deleted and re-created under the same ARN.
    return {"id": uuid.uuid4().hex, "next_seq": 1, "direct": [], "shards": {}}


def destination(model: Any) -> dict[str, Any] | None:
    """The S3 or ExtendedS3 destination of moto's delivery stream model, if it has one."""
    first = model.destinations[0] if model.destinations else {}
    return first.get("ExtendedS3") or first.get("S3")


def dynamic_enabled(config: dict[str, Any]) -> bool:
    return bool((config.get("DynamicPartitioningConfiguration") or {}).get("Enabled"))


def parse_settings(model: Any) -> Settings:
    """The destination of moto's delivery stream model at its current DeliveryStreamVersion."""
    config = copy.deepcopy(destination(model) or {})
    first = model.destinations[0] if model.destinations else {}
    extended = "ExtendedS3" in first
    hints = config.get("BufferingHints") or {}
    procs = processing.parse_processors(config.get("ProcessingConfiguration") if extended else None)
    dynamic = extended and dynamic_enabled(config)
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
    if extended:
        try:
            settings.conversion = firehose_conversion.parse(config, account_id, region)
        except Exception:  # validated at create/update: a stored stream predating the checks converts nothing
            settings.conversion = None
    logging_options = config.get("CloudWatchLoggingOptions") or {}
    if logging_options.get("Enabled") and logging_options.get("LogGroupName"):
        settings.log_group = logging_options["LogGroupName"]
        settings.log_stream = logging_options.get("LogStreamName")
    if dynamic:
        query_needed, lambda_needed = prefixes.dynamic_keys_needed(config.get("Prefix"))
        settings.query_needed = tuple(dict.fromkeys(query_needed))
        settings.lambda_needed = tuple(dict.fromkeys(lambda_needed))
    return settings
