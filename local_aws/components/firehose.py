"""Firehose delivery: one worker per delivery stream buffers its records, runs its processor and
writes S3 objects, the way AWS does.

moto stores delivery streams and, for DirectPut, writes each PutRecord straight to S3. Here a
delivery stream behaves as in AWS; the pieces are, in moto's shape:

- `firehose_backend`: the patches on moto's Firehose backend (CreateDeliveryStream,
  UpdateDestination, DeleteDeliveryStream, PutRecord, PutRecordBatch), with the wire format
  (validation, answers, error messages) in `firehose_requests` and the statuses (CREATING for
  ``LOCAL_AWS_ACTIVATION_SECONDS`` before ACTIVE, DELETING before gone) in `firehose_lifecycle`.
- `firehose_model`: what the store keeps per delivery stream (unacknowledged DirectPut records, one
  checkpoint per Kinesis shard; dropped only once the data, or its error record, is in S3, so a
  restart from ``--state-dir`` redelivers, never loses), the parsed destination and the buffers.
- `firehose_sources`: reading DirectPut records and Kinesis shards (from LATEST when the delivery
  stream is created); `firehose_lambda` and `firehose_buffer`: the ProcessingConfiguration;
  `firehose_destination`: objects, the delivery role's S3 writes, retries and the error log;
  `firehose_conversion`: DataFormatConversionConfiguration (JSON to Parquet with a Glue table's schema);
  `firehose_prefixes` and `firehose_processing`: prefix expressions and the Lambda contract.

This module is the worker. The destination buffer is flushed when SizeInMBs of output is reached
or IntervalInSeconds have passed since its first record arrived (0 allowed). A Lambda processor's
records are batched by its BufferSizeInMBs / BufferIntervalInSeconds, up to three batches invoked at
once with their results applied in order; when the destination interval is due, records still
waiting for the processor are processed at once, so a record reaches S3 within the destination
interval plus processing time.

LIMITATIONS: destinations other than S3/ExtendedS3 are stored but deliver nothing. Each module's
docstring lists the limitations of what it does (`firehose_requests`, `firehose_model`,
`firehose_sources`, `firehose_buffer`, `firehose_lambda`, `firehose_destination`, `firehose_backend`,
`firehose_lifecycle`).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from moto.firehose import models as firehose_models

from local_aws.components import (
    firehose_backend,
    firehose_buffer,
    firehose_conversion,
    firehose_destination,
    firehose_lambda,
    lifecycle,
)
from local_aws.components.base import Component
from local_aws.components.firehose_lifecycle import ACTIVE
from local_aws.components.firehose_model import Delivery, Settings, parse_settings
from local_aws.components.firehose_sources import pull
from local_aws.world import World

POLL_S = 0.05
LAMBDA_CONCURRENCY = 3


class Firehose(Component):
    """Delivers Firehose records to S3 the way AWS does."""

    name = "firehose"
    order = 50

    def __init__(self) -> None:
        super().__init__()
        self._running: set[str] = set()
        self._running_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="local_aws-firehose-lambda")

    def install(self, world: World) -> None:
        lifecycle.activation_seconds()  # a bad LOCAL_AWS_ACTIVATION_SECONDS stops the server, named
        super().install(world)
        firehose_backend.install_patches()

    def streams(self) -> dict[str, dict[str, Any]]:
        """The store's delivery streams by ARN (see `firehose_model.new_state`)."""
        assert self.world is not None
        return self.world.store(self.name).setdefault("streams", {})

    # -- workers ------------------------------------------------------------------------------
    def start(self) -> None:
        self.spawn(self._supervise, "firehose-supervisor")

    def stop(self) -> None:
        super().stop()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _supervise(self) -> None:
        """Start one delivery worker per ACTIVE delivery stream; each ends when its stream is deleted."""
        assert self.world is not None
        while not self.world.stopping.is_set():
            try:
                with self.world.lock:
                    backends = [
                        backend
                        for accounts in firehose_models.firehose_backends.values()
                        for backend in accounts.values()
                    ]
                    # A stream turns ACTIVE (or is gone after DELETING) even when nobody asks.
                    if any([firehose_backend.settle(self, backend) for backend in backends]):
                        self.world.mark_dirty()
                    arns = [
                        model.delivery_stream_arn
                        for backend in backends
                        for model in backend.delivery_streams.values()
                        if model.delivery_stream_status == ACTIVE
                    ]
                with self._running_lock:
                    new = [arn for arn in arns if arn not in self._running]
                    self._running.update(new)
                for arn in new:
                    self.spawn(lambda arn=arn: self._deliver(arn), f"firehose-{arn.rsplit('/', 1)[-1]}")
            except Exception:
                self.log.exception("firehose supervisor step failed")
            self.world.stopping.wait(0.2)

    @staticmethod
    def _model(arn: str) -> Any:
        _, _, _, region, account_id, resource = arn.split(":", 5)
        backend = firehose_models.firehose_backends[account_id].get(region)
        if backend is None:
            return None
        model = backend.delivery_streams.get(resource.split("/", 1)[1])
        if model is None or model.delivery_stream_arn != arn:
            return None
        return model

    def _deliver(self, arn: str) -> None:
        assert self.world is not None
        delivery = Delivery(arn=arn)
        try:
            while not self.world.stopping.is_set():
                with self.world.lock:
                    model = self._model(arn)
                    state = self.streams().get(arn)
                    if model is None or state is None:
                        return
                    if delivery.state_id != state["id"]:
                        delivery = Delivery(arn=arn, state_id=state["id"])
                    settings = self._settings(delivery, model)
                    pull(self.world, self.log, delivery, settings, model, state)
                try:
                    worked = self._step(delivery, settings)
                except Exception:
                    self.log.exception("firehose %s: delivery step failed", settings.name)
                    worked = False
                    delivery.next_attempt = time.monotonic() + firehose_destination.S3_RETRY_S
                if not worked:
                    self.world.stopping.wait(POLL_S)
        finally:
            with self._running_lock:
                self._running.discard(arn)

    @staticmethod
    def _settings(delivery: Delivery, model: Any) -> Settings:
        """Parse the destination once per DeliveryStreamVersion (UpdateDestination applies in place)."""
        if delivery.settings is None or delivery.settings_version != model.version_id:
            delivery.settings, delivery.settings_version = parse_settings(model), model.version_id
        return delivery.settings

    # -- one step of delivery (no lock held except around backend calls) ---------------------
    def _step(self, delivery: Delivery, settings: Settings) -> bool:
        assert self.world is not None
        now = time.monotonic()
        if delivery.outbox:
            if now < delivery.next_attempt:
                return False
            firehose_destination.write_outbox(self.world, self.log, self.streams(), delivery)
            return True
        if settings.bucket is None:
            return False
        dest_due = delivery.window_start is not None and now - delivery.window_start >= settings.interval_s
        worked = False
        if delivery.pending:
            if settings.processors.lambda_arn:
                processed = self._process(delivery, settings, now, dest_due)
                if processed is None:
                    return True  # stopping: unacknowledged records are redelivered after a restart
                worked = processed
            else:
                # Stop at the size hint so that objects stay close to SizeInMBs, as in AWS.
                while delivery.pending and delivery.ready_bytes < settings.size_bytes:
                    record = delivery.pending.popleft()
                    delivery.pending_bytes -= len(record.data)
                    firehose_buffer.route(delivery, settings, record, record.data, None, 0)
                worked = True
        if delivery.has_ready and (
            delivery.ready_bytes >= settings.size_bytes or (dest_due and not delivery.pending)
        ):
            if settings.conversion is not None:
                firehose_conversion.convert_ready(self.world, delivery, settings)
            firehose_destination.seal(delivery, settings)
            firehose_destination.write_outbox(self.world, self.log, self.streams(), delivery)
            worked = True
        return worked

    def _process(self, delivery: Delivery, settings: Settings, now: float, dest_due: bool) -> bool | None:
        """Run the Lambda processor over the batches that are due: whether any was, None when stopping."""
        assert self.world is not None
        world = self.world
        procs = settings.processors
        aged = now - delivery.pending[0].pulled_at >= procs.interval_s
        worked = False

        def due() -> bool:
            return bool(delivery.pending) and (
                dest_due or aged or delivery.pending_bytes >= procs.buffer_bytes
            )

        while due():
            # Up to LAMBDA_CONCURRENCY invocations run at once (Firehose invokes the function
            # concurrently too); their results are applied in order, so the checkpoints never pass
            # a record that is still being processed.
            batches = []
            while len(batches) < LAMBDA_CONCURRENCY and due():
                batches.append(firehose_buffer.take(delivery, procs.buffer_bytes))
            outcomes = list(
                self._pool.map(
                    lambda batch: firehose_lambda.invoke(world, self.log, settings, batch), batches
                )
            )
            if world.stopping.is_set():
                return None
            for batch, outcome in zip(batches, outcomes, strict=True):
                firehose_buffer.apply(delivery, settings, batch, outcome)
            worked = True
            if delivery.ready_bytes >= settings.size_bytes:
                break
        return worked
