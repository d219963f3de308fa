"""Patches on moto's Firehose backend: requests validated as AWS does, DirectPut records kept for the
delivery worker instead of written straight to S3, a Kinesis source read from LATEST.

moto stores delivery streams and, for DirectPut, writes each PutRecord straight to S3. Here
CreateDeliveryStream / UpdateDestination are validated (`firehose_requests`) and stored with AWS's
defaults; PutRecord / PutRecordBatch keep the records in the component's store (``direct``) until
the worker has them in S3; a KinesisStreamAsSource stream gets one checkpoint per shard at the
shard's last record when it is created (Firehose starts at LATEST); DeleteDeliveryStream drops the
stream's store entry, which ends its worker. Statuses (CREATING -> ACTIVE, DELETING -> gone) and
what each refuses are `firehose_lifecycle`'s; every patched call first settles the transitions that
are over, DescribeDeliveryStream and ListDeliveryStreams included.

Without a running `firehose` component (moto used on its own in this process) moto's behaviour
is left as it was.

LIMITATIONS: a batch is stored whole or refused whole (see `firehose_requests`).
"""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from moto.firehose import models as firehose_models

from local_aws.components import firehose_conversion, moto_patches
from local_aws.components import firehose_lifecycle as lifecycle
from local_aws.components import firehose_requests as requests
from local_aws.components.firehose_model import destination, new_state, now_ms, record_id
from local_aws.components.firehose_sources import kinesis_stream

if TYPE_CHECKING:
    from local_aws.components.firehose import Firehose

_ORIGINALS: dict[str, Any] = {}


def install_patches() -> None:
    """Patch moto's Firehose backend once per process."""
    backend = firehose_models.FirehoseBackend
    moto_patches.install(
        _ORIGINALS,
        [
            (backend, "create_delivery_stream", _patched_create),
            (backend, "update_destination", _patched_update),
            (backend, "delete_delivery_stream", _patched_delete),
            (backend, "put_record", _patched_put_record),
            (backend, "put_record_batch", _patched_put_record_batch),
            (backend, "describe_delivery_stream", _patched_describe),
            (backend, "list_delivery_streams", _patched_list),
        ],
    )


def settle(component: Firehose, backend: Any) -> bool:
    """End the CREATING / DELETING transitions of one backend that are over (lock held)."""
    assert component.world is not None
    return lifecycle.settle(
        component.world.store(component.name), backend, _ORIGINALS["FirehoseBackend.delete_delivery_stream"]
    )


def _settled(backend: Any) -> Firehose | None:
    """The running component, once this backend's finished transitions are settled."""
    component = _component()
    if component is not None:
        settle(component, backend)
    return component


def _patched_describe(backend: Any, *args: Any, **kwargs: Any) -> Any:
    _settled(backend)
    return _ORIGINALS["FirehoseBackend.describe_delivery_stream"](backend, *args, **kwargs)


def _patched_list(backend: Any, *args: Any, **kwargs: Any) -> Any:
    _settled(backend)
    return _ORIGINALS["FirehoseBackend.list_delivery_streams"](backend, *args, **kwargs)


def _component() -> Firehose | None:
    from local_aws.components.firehose import Firehose

    return moto_patches.running(Firehose)


def _patched_create(backend: Any, *args: Any, **kwargs: Any) -> str:
    component = _settled(backend)
    if component is None:
        return _ORIGINALS["FirehoseBackend.create_delivery_stream"](backend, *args, **kwargs)
    return _create(component, backend, args, kwargs)


def _patched_update(backend: Any, *args: Any, **kwargs: Any) -> None:
    if _settled(backend) is None:
        _ORIGINALS["FirehoseBackend.update_destination"](backend, *args, **kwargs)
        return
    _update(backend, args, kwargs)


def _patched_delete(backend: Any, delivery_stream_name: str, *args: Any, **kwargs: Any) -> None:
    component = _settled(backend)
    model = backend.delivery_streams.get(delivery_stream_name)
    if component is None or model is None:
        _ORIGINALS["FirehoseBackend.delete_delivery_stream"](backend, delivery_stream_name, *args, **kwargs)
        return
    lifecycle.refuse_delete(model, backend.account_id)
    # DELETING: the worker ends with the store entry; moto forgets the stream once `settle` says so.
    component.streams().pop(model.delivery_stream_arn, None)
    if model.delivery_stream_status != lifecycle.DELETING:
        assert component.world is not None
        lifecycle.begin(component.world.store(component.name), model, lifecycle.DELETING)


def _patched_put_record(backend: Any, delivery_stream_name: str, record: dict[str, Any]) -> dict[str, Any]:
    component = _settled(backend)
    if component is None:
        return _ORIGINALS["FirehoseBackend.put_record"](backend, delivery_stream_name, record)
    return _put(component, backend, delivery_stream_name, [record], single=True)


def _patched_put_record_batch(backend: Any, delivery_stream_name: str, records: list[dict[str, Any]]) -> Any:
    component = _settled(backend)
    if component is None:
        return _ORIGINALS["FirehoseBackend.put_record_batch"](backend, delivery_stream_name, records)
    return _put(component, backend, delivery_stream_name, records or [], single=False)


def _bind(original: Any, self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> inspect.BoundArguments:
    bound = inspect.signature(original).bind(self, *args, **kwargs)
    bound.apply_defaults()
    return bound


def _create(component: Firehose, backend: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    original = _ORIGINALS["FirehoseBackend.create_delivery_stream"]
    bound = _bind(original, backend, args, kwargs)
    arguments = bound.arguments
    requests.validate_destination(arguments.get("extended_s3_destination_configuration"), extended=True)
    requests.validate_destination(arguments.get("s3_destination_configuration"), extended=False)
    firehose_conversion.validate(
        component.world,
        arguments.get("extended_s3_destination_configuration"),
        backend.account_id,
        backend.region_name,
    )
    stream_type = arguments.get("delivery_stream_type") or "DirectPut"
    source = arguments.get("kinesis_stream_source_configuration")
    requests.validate_kinesis_source(stream_type, source)
    for key in ("extended_s3_destination_configuration", "s3_destination_configuration"):
        arguments[key] = requests.with_defaults(arguments.get(key))
    arn = original(*bound.args, **bound.kwargs)
    model = backend.delivery_streams[arguments["delivery_stream_name"]]
    state = new_state()
    if stream_type == "KinesisStreamAsSource":
        model.source = dict(source)
        model.source["DeliveryStartTimestamp"] = datetime.now(UTC)
        # Firehose starts reading a Kinesis source at LATEST when the delivery stream is created.
        assert component.world is not None
        stream = kinesis_stream(component.world, source["KinesisStreamARN"])
        if stream is not None:
            for shard_id, shard in stream.shards.items():
                state["shards"][shard_id] = next(reversed(shard.records)) if shard.records else 0
        state["source_seen"] = stream is not None
    component.streams()[arn] = state
    lifecycle.begin(component.world.store(component.name), model, lifecycle.CREATING)
    return arn


def _update(backend: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    original = _ORIGINALS["FirehoseBackend.update_destination"]
    bound = _bind(original, backend, args, kwargs)
    arguments = bound.arguments
    model = backend.delivery_streams.get(arguments["delivery_stream_name"])
    if model is not None:
        lifecycle.refuse_update(model, backend.account_id)
        current = destination(model) or {}
        for key, extended in (("extended_s3_destination_update", True), ("s3_destination_update", False)):
            update = arguments.get(key)
            if update:
                requests.validate_update(current, update, extended)
                if extended:
                    component = _component()
                    world = component.world if component is not None else None
                    merged = {**current, **update}
                    firehose_conversion.validate(world, merged, backend.account_id, backend.region_name)
    original(*bound.args, **bound.kwargs)


def _put(
    component: Firehose, backend: Any, name: str, records: list[dict[str, Any]], single: bool
) -> dict[str, Any]:
    """Keep DirectPut records in the store until the worker has them in S3."""
    model = backend.delivery_streams.get(name)
    if model is None:
        raise requests.not_found(name, backend.account_id)
    if model.delivery_stream_type == "KinesisStreamAsSource":
        raise requests.direct_put_refused()
    lifecycle.refuse_records(model, backend.account_id)
    decoded = requests.decoded_records(records, single)
    state = component.streams().setdefault(model.delivery_stream_arn, new_state())
    arrival = now_ms()
    ids = []
    for data in decoded:
        ids.append(record_id())
        state["direct"].append((state["next_seq"], ids[-1], arrival, data))
        state["next_seq"] += 1
    return requests.put_response(model, ids, single)
