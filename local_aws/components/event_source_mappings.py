"""Event source mappings: Lambda's poller for Kinesis streams and DynamoDB streams.

moto stores CreateEventSourceMapping and, on every PutRecord, calls the function at once (through
Docker) with a one-record event. Here that call is switched off and a poller does what Lambda
does instead: one worker per (mapping, shard) reads the shard from moto's backend under the world
lock, gathers up to BatchSize records (waiting up to MaximumBatchingWindowInSeconds for a full
batch), invokes the function with the real event shape through the `lambda` component (lock set
down meanwhile) and only then advances the shard's checkpoint, which lives in the component
store and so survives a restart with ``--state-dir`` (at-least-once: a batch whose checkpoint was
not yet snapshotted is delivered again).

A function error, or a ReportBatchItemFailures response naming failed items, makes the poller
retry from the first failed record, in order, with a short backoff; BisectBatchOnFunctionError
halves the batch on each failed retry. After MaximumRetryAttempts retries (default -1: until
the record expires) the failing records are skipped. Records older than
MaximumRecordAgeInSeconds (default: the stream's retention) are skipped too. StartingPosition
TRIM_HORIZON, LATEST and AT_TIMESTAMP are fixed when the mapping is created, so a record put
after CreateEventSourceMapping returns is always delivered. UpdateEventSourceMapping
Enabled=False stops polling (the checkpoint stays); DeleteEventSourceMapping stops it for good.
GetEventSourceMapping reports LastProcessingResult.

DynamoDB stream sources work the same way; their records are the DynamoDB stream records
(eventName INSERT/MODIFY/REMOVE, ``dynamodb`` with Keys/NewImage/OldImage/SequenceNumber).

LIMITATIONS: Kinesis and DynamoDB stream sources only (SQS, Kafka, MQ and DocumentDB mappings
are stored, never polled). One invocation at a time per shard (ParallelizationFactor is
ignored); TumblingWindowInSeconds, DestinationConfig (OnFailure), KMSKeyArn,
metrics and provisioned pollers are stored but not applied: skipped records are logged, not
sent anywhere. Bisecting halves the batch that is retried rather than retrying both halves
independently, and the retry count is shared across halves. Shards are polled every 0.1 s, not
once per second. Events carry at most ~5 MB of records so they fit Lambda's 6 MB payload.
FilterCriteria (EventBridge pattern syntax, `local_aws.event_patterns`) is applied as Lambda does:
a Kinesis record is matched on its metadata (partitionKey, sequenceNumber, ...) with ``data``
decoded as JSON when it is JSON, a DynamoDB record on the record itself; a record no filter
matches is consumed without invoking the function. A pattern that does not parse is refused at
CreateEventSourceMapping / UpdateEventSourceMapping.
A mapping whose function was deleted shows LastProcessingResult "PROBLEM: Function not found"
and keeps retrying. The function's execution role must trust Lambda and read the stream
(`local_aws.iam.service_steps.event_source_mapping`): CreateEventSourceMapping refuses it with
Lambda's "Cannot access stream" message, and a role that loses a read later shows it as a PROBLEM
and is retried.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from moto.awslambda.exceptions import InvalidParameterValueException
from moto.awslambda.models import EventSourceMapping, LambdaBackend

from local_aws.components.base import Component
from local_aws.components.lambda_runtime import FunctionNotFound, UnsupportedRuntime
from local_aws.event_patterns import InvalidPatternError, compile_pattern, validate
from local_aws.world import World, current

POLL_INTERVAL = 0.1
RECONCILE_INTERVAL = 0.2
MAX_EVENT_BYTES = 5 * 1024 * 1024
MAX_BACKOFF = 5.0


@dataclass
class _Config:
    """A mapping's settings, copied under the lock for one round of polling."""

    uuid: str
    function_arn: str
    source_arn: str
    region: str
    batch_size: int
    window: float
    max_retries: int
    max_age: float
    bisect: bool
    report_failures: bool
    filters: tuple[Callable[[Any], bool], ...] = ()

    def wants(self, event: dict[str, Any]) -> bool:
        """Whether a record passes FilterCriteria (no filters: every record does)."""
        return not self.filters or any(accepts(_filter_view(event)) for accepts in self.filters)


@dataclass
class _Record:
    sequence: int
    event: dict[str, Any]
    size: int


def _source_kind(arn: str) -> str:
    return arn.split(":")[2] if arn.count(":") >= 5 else ""


def _is_polled(esm: EventSourceMapping) -> bool:
    return _source_kind(esm.event_source_arn) in ("kinesis", "dynamodb")


class _KinesisShardView:
    """An append-only copy of one moto shard's record list, so a poll costs O(new records).

    moto keeps records in an ordered dict, which cannot be indexed; this keeps a list beside it
    and extends it from the end. Derived data only: never persisted.
    """

    def __init__(self) -> None:
        self._shard: Any = None
        self.records: list[Any] = []
        self.sequences: list[int] = []

    def sync(self, shard: Any) -> None:
        count = len(shard.records)
        if shard is not self._shard or count < len(self.records):
            self._shard = shard
            self.records = list(shard.records.values())
            self.sequences = [int(r.sequence_number) for r in self.records]
            return
        fresh = count - len(self.records)
        if fresh:
            newest = reversed(shard.records.values())
            added = [next(newest) for _ in range(fresh)][::-1]
            self.records.extend(added)
            self.sequences.extend(int(r.sequence_number) for r in added)

    def after(self, checkpoint: int) -> Iterator[Any]:
        start = bisect.bisect_right(self.sequences, checkpoint)
        for index in range(start, len(self.records)):
            yield self.records[index]


class EventSourceMappings(Component):
    """Polls Kinesis and DynamoDB streams for the event source mappings moto stores."""

    name = "event_source_mappings"
    order = 40

    _originals: dict[str, Any] = {}

    def __init__(self) -> None:
        super().__init__()
        self._running: dict[tuple[str, str], threading.Thread] = {}
        self._wanted: set[tuple[str, str]] = set()

    # -- lifecycle --------------------------------------------------------------------------
    def install(self, world: World) -> None:
        super().install(world)
        originals = type(self)._originals
        if originals:
            return
        originals["send_kinesis_message"] = LambdaBackend.send_kinesis_message
        originals["send_dynamodb_items"] = LambdaBackend.send_dynamodb_items
        originals["create_event_source_mapping"] = LambdaBackend.create_event_source_mapping
        originals["get_configuration"] = EventSourceMapping.get_configuration
        originals["update_event_source_mapping"] = LambdaBackend.update_event_source_mapping
        # The poller delivers stream records; moto's immediate, per-record call is switched off.
        # (Returning None also keeps moto from emptying the DynamoDB stream after the call.)
        LambdaBackend.send_kinesis_message = _no_delivery  # type: ignore[method-assign]
        LambdaBackend.send_dynamodb_items = _no_delivery  # type: ignore[method-assign]
        LambdaBackend.create_event_source_mapping = _patched_create  # type: ignore[method-assign]
        EventSourceMapping.get_configuration = _patched_get_configuration  # type: ignore[method-assign]
        LambdaBackend.update_event_source_mapping = _patched_update  # type: ignore[method-assign]

    def start(self) -> None:
        self.spawn(self._reconcile_forever, "esm-reconcile")

    def stop(self) -> None:
        super().stop()
        for thread in list(self._running.values()):
            thread.join(timeout=10)
        self._running.clear()

    # -- store ------------------------------------------------------------------------------
    @property
    def _mappings_store(self) -> dict[str, Any]:
        assert self.world is not None
        return self.world.store(self.name).setdefault("mappings", {})

    def initialise_positions(self, esm: EventSourceMapping) -> None:
        """Fix each shard's starting position when the mapping is created (lock held)."""
        store = self._mappings_store
        changed = esm.uuid not in store
        entry = store.setdefault(esm.uuid, {"shards": {}, "last_result": "No records processed"})
        source = _Source.find(esm.event_source_arn)
        if source is None:
            return
        for shard_id in source.shard_ids():
            if shard_id in entry["shards"]:
                continue
            position = (esm.starting_position or "TRIM_HORIZON").upper()
            if position == "LATEST":
                entry["shards"][shard_id] = source.latest(shard_id)
            elif position == "AT_TIMESTAMP" and esm.starting_position_timestamp is not None:
                entry["shards"][shard_id] = source.before_timestamp(shard_id, esm.starting_position_timestamp)
            else:
                entry["shards"][shard_id] = None  # before the oldest record
            changed = True
        if changed and self.world is not None:
            self.world.mark_dirty()

    def last_result(self, uuid: str) -> str | None:
        entry = self._mappings_store.get(uuid)
        return entry.get("last_result") if entry else None

    # -- the supervisor ---------------------------------------------------------------------
    def _reconcile_forever(self) -> None:
        assert self.world is not None
        while not self.world.stopping.is_set():
            try:
                self._reconcile()
            except Exception:
                self.log.exception("event source mapping bookkeeping failed")
            self.world.stopping.wait(RECONCILE_INTERVAL)
        self._wanted.clear()

    def _reconcile(self) -> None:
        assert self.world is not None
        wanted: set[tuple[str, str]] = set()
        with self.world.lock:
            live_uuids: set[str] = set()
            for esm in _all_mappings():
                live_uuids.add(esm.uuid)
                if not _is_polled(esm):
                    continue
                # Mappings restored from before this component existed, or shards added since.
                self.initialise_positions(esm)
                if not esm.enabled:
                    continue
                source = _Source.find(esm.event_source_arn)
                for shard_id in source.shard_ids() if source else []:
                    wanted.add((esm.uuid, shard_id))
            store = self._mappings_store
            for uuid in [u for u in store if u not in live_uuids]:
                del store[uuid]
                self.world.mark_dirty()
        self._wanted = wanted
        for key, thread in list(self._running.items()):
            if not thread.is_alive():
                del self._running[key]
        for key in wanted:
            if key not in self._running:
                thread = threading.Thread(
                    target=self._consume, args=key, name=f"local_aws-esm-{key[0][:8]}-{key[1]}", daemon=True
                )
                self._running[key] = thread
                thread.start()

    # -- one shard --------------------------------------------------------------------------
    def _consume(self, uuid: str, shard_id: str) -> None:
        """Deliver one shard's records to the function, in order, until the mapping stops."""
        assert self.world is not None
        try:
            self._consume_shard(uuid, shard_id)
        except Exception:  # the supervisor starts the shard again from its checkpoint
            self.log.exception("mapping %s: polling %s failed", uuid, shard_id)
            self.world.stopping.wait(1.0)

    def _consume_shard(self, uuid: str, shard_id: str) -> None:
        assert self.world is not None
        world = self.world
        runtime = world.component("lambda")
        view = _KinesisShardView()
        attempts = 0
        limit: int | None = None  # smaller than BatchSize while bisecting a failing batch
        window_started: float | None = None
        while not world.stopping.is_set() and (uuid, shard_id) in self._wanted:
            with world.lock:
                config = _config_of(uuid)
                if config is None:
                    return
                batch = self._read_batch(config, shard_id, view, limit)
            if batch is None:
                world.stopping.wait(1.0)
                continue
            if not batch:
                window_started = None
                world.stopping.wait(POLL_INTERVAL)
                continue
            if config.window > 0 and len(batch) < config.batch_size and limit is None:
                # MaximumBatchingWindowInSeconds: wait for a full batch, up to the window.
                window_started = window_started or time.monotonic()
                if time.monotonic() - window_started < config.window:
                    world.stopping.wait(min(POLL_INTERVAL, config.window))
                    continue
            window_started = None
            payload = json.dumps({"Records": [record.event for record in batch]}).encode()
            problem = _role_problem(config.function_arn, config.source_arn)
            if problem:  # the execution role lost a read permission: retried until it is back
                self._set_result(uuid, f"PROBLEM: {problem}")
                world.stopping.wait(1.0)
                continue
            try:
                invocation = runtime.invoke(config.function_arn, payload)  # type: ignore[attr-defined]
            except FunctionNotFound:
                self._set_result(uuid, "PROBLEM: Function not found")
                world.stopping.wait(1.0)
                continue
            except UnsupportedRuntime as error:
                self._set_result(uuid, f"PROBLEM: {error}")
                world.stopping.wait(1.0)
                continue
            failed_at = self._first_failure(config, batch, invocation)
            if failed_at is None:
                self._advance(uuid, shard_id, batch[-1].sequence, "OK")
                attempts, limit = 0, None
                continue
            if failed_at > 0:  # the records before the first reported failure are done
                self._advance(uuid, shard_id, batch[failed_at - 1].sequence, None)
            failed = batch[failed_at:]
            attempts += 1
            if config.max_retries >= 0 and attempts > config.max_retries:
                self.log.warning(
                    "mapping %s: skipping %d record(s) of %s after %d retries",
                    uuid,
                    len(failed),
                    shard_id,
                    config.max_retries,
                )
                self._advance(uuid, shard_id, failed[-1].sequence, "PROBLEM: Function call failed")
                attempts, limit = 0, None
                continue
            self._set_result(uuid, "PROBLEM: Function call failed")
            if config.bisect and len(failed) > 1:
                limit = max(1, len(failed) // 2)
            world.stopping.wait(min(MAX_BACKOFF, 0.1 * 2 ** (attempts - 1)))

    def _read_batch(
        self, config: _Config, shard_id: str, view: _KinesisShardView, limit: int | None
    ) -> list[_Record] | None:
        """Up to BatchSize records after the checkpoint (lock held); None if the source is gone."""
        entry = self._mappings_store.get(config.uuid)
        source = _Source.find(config.source_arn)
        if entry is None or source is None or not source.has_shard(shard_id):
            return None
        checkpoint = entry["shards"].get(shard_id)
        size_limit = min(config.batch_size, limit or config.batch_size)
        batch: list[_Record] = []
        total = 0
        expired: int | None = None
        oldest_allowed = time.time() - config.max_age if config.max_age > 0 else None
        filtered: int | None = None
        for record in source.records_after(shard_id, checkpoint, view, config):
            if oldest_allowed is not None and record.arrival < oldest_allowed and not batch:
                expired = record.sequence
                continue
            if not config.wants(record.event):
                if not batch:
                    filtered = record.sequence  # consumed: Lambda never sees a filtered-out record
                continue
            if batch and total + record.size > MAX_EVENT_BYTES:
                break
            batch.append(_Record(record.sequence, record.event, record.size))
            total += record.size
            if len(batch) >= size_limit:
                break
        if expired is not None:
            self.log.warning("mapping %s: skipping expired records of %s", config.uuid, shard_id)
        skipped = max((s for s in (expired, filtered) if s is not None), default=None)
        if skipped is not None:
            entry["shards"][shard_id] = skipped
            assert self.world is not None
            self.world.mark_dirty()
        return batch

    @staticmethod
    def _first_failure(config: _Config, batch: list[_Record], invocation: Any) -> int | None:
        """Index of the first record to retry, or None when the whole batch succeeded."""
        if invocation.function_error:
            return 0
        if not config.report_failures:
            return None
        try:
            response = json.loads(invocation.payload or b"null")
        except ValueError:
            return 0
        if not isinstance(response, dict):
            return None
        failures = response.get("batchItemFailures")
        if not failures:
            return None  # null or [] means every record succeeded
        positions = {str(record.sequence): index for index, record in enumerate(batch)}
        indexes = []
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if identifier is None or str(identifier) not in positions:
                return 0  # an invalid response fails the whole batch, as in Lambda
            indexes.append(positions[str(identifier)])
        return min(indexes)

    def _advance(self, uuid: str, shard_id: str, sequence: int, result: str | None) -> None:
        assert self.world is not None
        with self.world.lock:
            entry = self._mappings_store.get(uuid)
            if entry is None:
                return
            entry["shards"][shard_id] = sequence
            if result is not None:
                entry["last_result"] = result
        self.world.mark_dirty()

    def _set_result(self, uuid: str, result: str) -> None:
        assert self.world is not None
        with self.world.lock:
            entry = self._mappings_store.get(uuid)
            if entry is not None and entry.get("last_result") != result:
                entry["last_result"] = result
                self.world.mark_dirty()


# -- sources -------------------------------------------------------------------------------
@dataclass
class _SourceRecord:
    sequence: int
    arrival: float
    event: dict[str, Any]
    size: int


class _Source:
    """A Kinesis stream or a DynamoDB stream, read straight from moto (lock held)."""

    def __init__(self, arn: str, region: str, account_id: str) -> None:
        self.arn = arn
        self.region = region
        self.account_id = account_id

    @staticmethod
    def find(arn: str) -> _Source | None:
        parts = arn.split(":")
        if len(parts) < 6:
            return None
        kind, region, account_id = parts[2], parts[3], parts[4]
        try:
            if kind == "kinesis":
                source: _Source = _KinesisSource(arn, region, account_id)
            elif kind == "dynamodb":
                source = _DynamoDBSource(arn, region, account_id)
            else:
                return None
        except LookupError:
            return None
        return source

    def shard_ids(self) -> list[str]:
        raise NotImplementedError

    def has_shard(self, shard_id: str) -> bool:
        return shard_id in self.shard_ids()

    def latest(self, shard_id: str) -> int | None:
        raise NotImplementedError

    def before_timestamp(self, shard_id: str, timestamp: Any) -> int | None:
        raise NotImplementedError

    def records_after(
        self, shard_id: str, checkpoint: int | None, view: _KinesisShardView, config: _Config
    ) -> Iterator[_SourceRecord]:
        raise NotImplementedError


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


class _KinesisSource(_Source):
    def __init__(self, arn: str, region: str, account_id: str) -> None:
        super().__init__(arn, region, account_id)
        backend = World.backend("kinesis", account_id, region)
        stream = backend.streams.get(arn.split("/", 1)[1]) if "/" in arn else None
        if stream is None or stream.arn != arn:
            raise LookupError(arn)
        self.stream = stream

    def shard_ids(self) -> list[str]:
        return list(self.stream.shards)

    def latest(self, shard_id: str) -> int | None:
        shard = self.stream.shards[shard_id]
        return int(shard.get_max_sequence_number()) if shard.records else None

    def before_timestamp(self, shard_id: str, timestamp: Any) -> int | None:
        moment = _epoch(timestamp)
        last: int | None = None
        for record in self.stream.shards[shard_id].records.values():
            if record.created_at >= moment:
                break
            last = int(record.sequence_number)
        return last

    def records_after(
        self, shard_id: str, checkpoint: int | None, view: _KinesisShardView, config: _Config
    ) -> Iterator[_SourceRecord]:
        view.sync(self.stream.shards[shard_id])
        function_role = _function_role(config.function_arn)
        for record in view.after(-1 if checkpoint is None else int(checkpoint)):
            data = record.data
            if isinstance(data, bytes):
                data = base64.b64encode(data).decode()
            sequence = str(record.sequence_number)
            event = {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": record.partition_key,
                    "sequenceNumber": sequence,
                    "data": data,
                    "approximateArrivalTimestamp": round(float(record.created_at), 3),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard_id}:{sequence}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": function_role,
                "awsRegion": self.region,
                "eventSourceARN": self.arn,
            }
            size = len(data) + len(record.partition_key) + 400
            yield _SourceRecord(int(record.sequence_number), float(record.created_at), event, size)


class _DynamoDBSource(_Source):
    def __init__(self, arn: str, region: str, account_id: str) -> None:
        super().__init__(arn, region, account_id)
        table_name = arn.split(":", 5)[5].split("/")[1]
        backend = World.backend("dynamodb", account_id, region)
        table = backend.tables.get(table_name)
        label = arn.rsplit("/", 1)[-1]
        if table is None or table.stream_shard is None or table.latest_stream_label != label:
            raise LookupError(arn)
        self.shard = table.stream_shard

    def shard_ids(self) -> list[str]:
        return [self.shard.id]

    def latest(self, shard_id: str) -> int | None:
        if not self.shard.items:
            return None
        return self.shard.starting_sequence_number + len(self.shard.items) - 1

    def before_timestamp(self, shard_id: str, timestamp: Any) -> int | None:
        moment = _epoch(timestamp)
        last: int | None = None
        for index, item in enumerate(self.shard.items):
            if _epoch(item.record["dynamodb"]["ApproximateCreationDateTime"]) >= moment:
                break
            last = self.shard.starting_sequence_number + index
        return last

    def records_after(
        self, shard_id: str, checkpoint: int | None, view: _KinesisShardView, config: _Config
    ) -> Iterator[_SourceRecord]:
        first = self.shard.starting_sequence_number
        start = 0 if checkpoint is None else max(0, int(checkpoint) - first + 1)
        for index in range(start, len(self.shard.items)):
            record = self.shard.items[index].to_json()
            dynamodb = dict(record["dynamodb"])
            arrival = _epoch(dynamodb.get("ApproximateCreationDateTime", time.time()))
            dynamodb["ApproximateCreationDateTime"] = int(arrival)
            event = {
                "eventID": record["eventID"],
                "eventName": record["eventName"],
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": self.region,
                "dynamodb": dynamodb,
                "eventSourceARN": self.arn,
            }
            size = int(dynamodb.get("SizeBytes", 0)) + 300
            yield _SourceRecord(first + index, arrival, event, size)


# -- moto lookups (lock held) -------------------------------------------------------------
def _all_mappings() -> list[EventSourceMapping]:
    found = []
    for regions in World.backend_dicts()["lambda"].values():
        for backend in regions.values():
            found.extend(backend._event_source_mappings.values())
    return found


def _find_mapping(uuid: str) -> EventSourceMapping | None:
    for esm in _all_mappings():
        if esm.uuid == uuid:
            return esm
    return None


def _function_role(function_arn: str) -> str:
    parts = function_arn.split(":")
    try:
        backend = World.backend("lambda", parts[4], parts[3])
        return backend.get_function(function_arn).role
    except Exception:
        return ""


def _config_of(uuid: str) -> _Config | None:
    esm = _find_mapping(uuid)
    if esm is None or not esm.enabled:
        return None
    retries = esm.max_retry_attempts
    max_age = esm.max_record_age
    if max_age is None or int(max_age) < 0:
        max_age = _retention_seconds(esm.event_source_arn)
    return _Config(
        uuid=esm.uuid,
        function_arn=esm.function_arn,
        source_arn=esm.event_source_arn,
        region=esm.region,
        batch_size=int(esm.batch_size or 100),
        window=float(esm.max_batch_window or 0),
        max_retries=-1 if retries is None else int(retries),
        max_age=float(max_age),
        bisect=bool(esm.bisect_on_error),
        report_failures="ReportBatchItemFailures" in (esm.function_response_types or []),
        filters=tuple(compile_pattern(f["Pattern"]) for f in _filters_of(esm.filter_criteria)),
    )


def _filters_of(criteria: Any) -> list[dict[str, Any]]:
    return [f for f in ((criteria or {}).get("Filters") or []) if f.get("Pattern")]


def _filter_view(event: dict[str, Any]) -> dict[str, Any]:
    """What a filter pattern sees: Kinesis metadata with ``data`` decoded; DynamoDB records as they are."""
    kinesis = event.get("kinesis")
    if not isinstance(kinesis, dict):
        return event
    view = dict(kinesis)
    # Not JSON: the raw base64 text stays, and patterns on data fields simply do not match.
    with contextlib.suppress(ValueError):
        view["data"] = json.loads(base64.b64decode(kinesis.get("data") or ""))
    return view


def _check_filters(spec: dict[str, Any]) -> None:
    for index, item in enumerate(_filters_of(spec.get("FilterCriteria"))):
        try:
            validate(item["Pattern"])
        except InvalidPatternError as error:
            raise InvalidParameterValueException(
                f"Invalid filter pattern definition at FilterCriteria.Filters[{index}]: {error}"
            ) from None


def _retention_seconds(arn: str) -> float:
    source = _Source.find(arn)
    if isinstance(source, _KinesisSource):
        return float(source.stream.retention_period_hours) * 3600
    return 24 * 3600.0


# -- patches -------------------------------------------------------------------------------
def _component() -> EventSourceMappings | None:
    try:
        component = current().components.get(EventSourceMappings.name)
    except RuntimeError:
        return None
    return component if isinstance(component, EventSourceMappings) else None


def _no_delivery(self: LambdaBackend, *args: Any, **kwargs: Any) -> None:
    if _component() is None:
        name = "send_kinesis_message" if "kinesis_stream" in kwargs else "send_dynamodb_items"
        return EventSourceMappings._originals[name](self, *args, **kwargs)
    return None


def _patched_create(self: LambdaBackend, spec: dict[str, Any]) -> EventSourceMapping:
    _check_filters(spec)
    _check_role(self, spec)
    esm = EventSourceMappings._originals["create_event_source_mapping"](self, spec)
    component = _component()
    if component is not None and _is_polled(esm):
        component.initialise_positions(esm)
    return esm


def _patched_update(self: LambdaBackend, uuid: str, spec: dict[str, Any]) -> EventSourceMapping | None:
    _check_filters(spec)
    return EventSourceMappings._originals["update_event_source_mapping"](self, uuid, spec)


def _patched_get_configuration(self: EventSourceMapping) -> dict[str, Any]:
    config = EventSourceMappings._originals["get_configuration"](self)
    component = _component()
    if component is not None and _is_polled(self):
        config["LastProcessingResult"] = component.last_result(self.uuid) or "No records processed"
    return config


def _role_problem(function_arn: str, source_arn: str) -> str | None:
    """Lambda's complaint when the execution role may not read the stream (local_aws.iam), or None."""
    from local_aws.iam import service_steps

    role = _function_role(function_arn)
    if not role or not _is_stream(source_arn):
        return None
    denied = service_steps.event_source_mapping(current(), role, source_arn)
    if denied is None:
        return None
    return (
        f"Cannot access stream {source_arn}. Please ensure the role can perform the GetRecords, "
        f"GetShardIterator, DescribeStream, and ListStreams Actions on your stream in IAM. ({denied.message})"
    )


def _is_stream(arn: str) -> bool:
    return ":kinesis:" in arn or (":dynamodb:" in arn and "/stream/" in arn)


def _check_role(backend: LambdaBackend, spec: dict[str, Any]) -> None:
    """CreateEventSourceMapping checks that the function's role can read the stream, as Lambda does."""
    source = str(spec.get("EventSourceArn") or "")
    try:
        function_arn = backend.get_function(spec.get("FunctionName", "")).function_arn
    except Exception:  # moto answers an unknown function itself
        return
    problem = _role_problem(function_arn, source)
    if problem:
        raise InvalidParameterValueException(problem)
