"""Event source mappings: Lambda's poller for Kinesis streams and DynamoDB streams.

moto stores CreateEventSourceMapping and, on every PutRecord, calls the function at once (through
Docker) with a one-record event. Here that call is switched off (`event_source_mappings_backend`)
and a poller does what Lambda does instead: one worker per (mapping, shard) reads the shard from
moto's backend under the world lock (`event_source_mappings_streams`), gathers up to BatchSize
records (waiting up to MaximumBatchingWindowInSeconds for a full batch), invokes the function
with the real event shape through the `lambda` component (lock set down meanwhile) and only then
advances the shard's checkpoint, which lives in the component store and so survives a restart
with ``--state-dir`` (at-least-once: a batch whose checkpoint was not yet snapshotted is
delivered again).

A function error, or a ReportBatchItemFailures response naming failed items, makes the poller
retry from the first failed record, in order, with a short backoff; BisectBatchOnFunctionError
halves the batch on each failed retry. After MaximumRetryAttempts retries (default -1: until
the record expires) the failing records are skipped. Records older than
MaximumRecordAgeInSeconds (default: the stream's retention) are skipped too. StartingPosition
TRIM_HORIZON, LATEST and AT_TIMESTAMP are fixed when the mapping is created, so a record put
after CreateEventSourceMapping returns is always delivered, though polling starts only once the
mapping has gone from Creating to Enabled (`event_source_mappings_states`: each transition lasts
``LOCAL_AWS_ACTIVATION_SECONDS``). UpdateEventSourceMapping Enabled=False stops polling (the
checkpoint stays); DeleteEventSourceMapping stops it for good.
GetEventSourceMapping reports LastProcessingResult. Records no FilterCriteria matches are
consumed without an invocation (`event_source_mappings_config`).

LIMITATIONS: Kinesis and DynamoDB stream sources only (SQS, Kafka, MQ and DocumentDB mappings
are stored, never polled). One invocation at a time per shard (ParallelizationFactor is
ignored); TumblingWindowInSeconds, DestinationConfig (OnFailure), KMSKeyArn,
metrics and provisioned pollers are stored but not applied: skipped records are logged, not
sent anywhere. Bisecting halves the batch that is retried rather than retrying both halves
independently, and the retry count is shared across halves. Shards are polled every 0.1 s, not
once per second. Events carry at most ~5 MB of records so they fit Lambda's 6 MB payload.
A mapping whose function was deleted shows LastProcessingResult "PROBLEM: Function not found"
and keeps retrying. The function's execution role must trust Lambda and read the stream
(`local_aws.iam.service_steps.event_source_mapping`): CreateEventSourceMapping refuses it with
Lambda's "Cannot access stream" message, and a role that loses a read later shows it as a PROBLEM
and is retried.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from moto.awslambda.models import EventSourceMapping

from local_aws.components.base import Component
from local_aws.components.event_source_mappings_backend import install_patches, settle
from local_aws.components.event_source_mappings_config import BatchRecord, MappingConfig, config_of
from local_aws.components.event_source_mappings_lookups import (
    all_mappings,
    is_polled,
    lambda_backends,
    role_problem,
)
from local_aws.components.event_source_mappings_states import polled
from local_aws.components.event_source_mappings_streams import KinesisShardView, StreamSource
from local_aws.components.lambda_model import FunctionNotFound, Invocation, UnsupportedRuntime
from local_aws.world import World

POLL_INTERVAL = 0.1
RECONCILE_INTERVAL = 0.2
MAX_EVENT_BYTES = 5 * 1024 * 1024
MAX_BACKOFF = 5.0


class EventSourceMappings(Component):
    """Polls Kinesis and DynamoDB streams for the event source mappings moto stores."""

    name = "event_source_mappings"
    order = 40

    def __init__(self) -> None:
        super().__init__()
        self._running: dict[tuple[str, str], threading.Thread] = {}
        self._wanted: set[tuple[str, str]] = set()

    # -- lifecycle --------------------------------------------------------------------------
    def install(self, world: World) -> None:
        super().install(world)
        install_patches()

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
        source = StreamSource.find(esm.event_source_arn)
        if source is None:
            return
        known = set(entry["shards"])
        for shard_id in source.shard_ids():
            if shard_id in entry["shards"]:
                continue
            if source.parent(shard_id) in known:  # a child shard opened since: read from its start
                entry["shards"][shard_id] = None
                known.add(shard_id)
                changed = True
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
            # A Deleting mapping is forgotten once its delete is over, even when nobody asks.
            if any(
                [settle(backend) for regions in lambda_backends().values() for backend in regions.values()]
            ):
                self.world.mark_dirty()
            live_uuids: set[str] = set()
            for esm in all_mappings():
                live_uuids.add(esm.uuid)
                if not is_polled(esm):
                    continue
                # Mappings restored from before this component existed, or shards added since.
                self.initialise_positions(esm)
                if not polled(esm):  # disabled, or not yet Enabled (`event_source_mappings_states`)
                    continue
                source = StreamSource.find(esm.event_source_arn)
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
        view = KinesisShardView()
        attempts = 0
        limit: int | None = None  # smaller than BatchSize while bisecting a failing batch
        window_started: float | None = None
        while not world.stopping.is_set() and (uuid, shard_id) in self._wanted:
            with world.lock:
                config = config_of(uuid)
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
            invocation = self._invoke(runtime, config, batch)
            if invocation is None:  # a PROBLEM: retried until it is solved
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

    def _invoke(self, runtime: Any, config: MappingConfig, batch: list[BatchRecord]) -> Invocation | None:
        """Invoke the function with one batch; None (and a PROBLEM result) if it could not be called."""
        payload = json.dumps({"Records": [record.event for record in batch]}).encode()
        problem = role_problem(config.function_arn, config.source_arn)
        if problem:  # the execution role lost a read permission: retried until it is back
            self._set_result(config.uuid, f"PROBLEM: {problem}")
            return None
        try:
            return runtime.invoke(config.function_arn, payload)
        except FunctionNotFound:
            self._set_result(config.uuid, "PROBLEM: Function not found")
        except UnsupportedRuntime as error:
            self._set_result(config.uuid, f"PROBLEM: {error}")
        return None

    def _read_batch(
        self, config: MappingConfig, shard_id: str, view: KinesisShardView, limit: int | None
    ) -> list[BatchRecord] | None:
        """Up to BatchSize records after the checkpoint (lock held); None if the source is gone."""
        entry = self._mappings_store.get(config.uuid)
        source = StreamSource.find(config.source_arn)
        if entry is None or source is None or not source.has_shard(shard_id):
            return None
        if not source.ready(shard_id, entry["shards"]):
            return []  # a parent shard still has records to deliver first
        checkpoint = entry["shards"].get(shard_id)
        size_limit = min(config.batch_size, limit or config.batch_size)
        batch: list[BatchRecord] = []
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
            batch.append(BatchRecord(record.sequence, record.event, record.size))
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
    def _first_failure(config: MappingConfig, batch: list[BatchRecord], invocation: Any) -> int | None:
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
