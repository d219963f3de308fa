"""A delivery stream's status as AWS runs it: CREATING, then ACTIVE; DELETING, then gone.

CreateDeliveryStream returns while the stream is CREATING; it becomes ACTIVE after
`lifecycle.activation_seconds` (``LOCAL_AWS_ACTIVATION_SECONDS``). Meanwhile, as AWS documents:

- PutRecord / PutRecordBatch fail (AWS: sending data to a stream that is not ACTIVE causes an
  exception) with ResourceNotFoundException;
- DeleteDeliveryStream fails with ResourceInUseException (a CREATING stream cannot be deleted);
- UpdateDestination fails with ResourceInUseException.

DeleteDeliveryStream turns an ACTIVE stream DELETING: DescribeDeliveryStream and
ListDeliveryStreams still show it, its worker stops at once (buffered records are dropped, as AWS
deletes a stream "and its data"), and it is gone after the same delay; its name can be used again
only then (CreateDeliveryStream answers ResourceInUseException meanwhile, as for any stream that
exists). A second delete of a DELETING stream is accepted.

When a transition started is kept in the component store (``transitions``: ARN -> wall-clock
seconds), so it survives a restart; `settle` ends the transitions that are over, and is called at
the start of every Firehose call this module patches and by the delivery supervisor.

LIMITATIONS: CREATING and DELETING last ``LOCAL_AWS_ACTIVATION_SECONDS`` (AWS: CREATING takes
seconds to minutes, DELETING may take several minutes). The wording of these refusals is ours (AWS
documents the codes for these states, not the text). While DELETING, AWS "might continue to accept
records" without promising delivery; here PutRecord is refused with ResourceNotFoundException.
CREATING_FAILED and DELETING_FAILED never happen: a stream that cannot be created is refused by
CreateDeliveryStream itself.
"""

from __future__ import annotations

from typing import Any

from moto.firehose.exceptions import ResourceInUseException, ResourceNotFoundException

from local_aws.components import lifecycle

CREATING, ACTIVE, DELETING = "CREATING", "ACTIVE", "DELETING"


def transitions(store: dict[str, Any]) -> dict[str, float]:
    """The component store's transitions: delivery stream ARN -> when its CREATING/DELETING began."""
    return store.setdefault("transitions", {})


def begin(store: dict[str, Any], model: Any, status: str) -> None:
    """Put a stream into CREATING or DELETING from now."""
    model.delivery_stream_status = status
    transitions(store)[model.delivery_stream_arn] = lifecycle.started()


def settle(store: dict[str, Any], backend: Any, remove: Any) -> bool:
    """End the transitions that are over in one backend: CREATING -> ACTIVE, DELETING -> gone.

    ``remove(backend, name)`` deletes a stream from moto's backend. Whether anything changed.
    """
    pending = transitions(store)
    changed = False
    for name, model in list(backend.delivery_streams.items()):
        status = model.delivery_stream_status
        if status not in (CREATING, DELETING):
            continue
        if not lifecycle.finished(pending.get(model.delivery_stream_arn)):
            continue
        pending.pop(model.delivery_stream_arn, None)
        if status == CREATING:
            model.delivery_stream_status = ACTIVE
        else:
            remove(backend, name)
        changed = True
    return changed


def _busy(model: Any, account_id: str, action: str) -> ResourceInUseException:
    return ResourceInUseException(
        f"Firehose {model.delivery_stream_name} under account {account_id} is "
        f"{model.delivery_stream_status} and cannot be {action} until it is ACTIVE."
    )


def refuse_records(model: Any, account_id: str) -> None:
    """PutRecord / PutRecordBatch: only an ACTIVE stream takes records."""
    status = model.delivery_stream_status
    if status == ACTIVE:
        return
    state = "still being created" if status == CREATING else "being deleted"
    raise ResourceNotFoundException(
        f"Firehose {model.delivery_stream_name} under account {account_id} is {state} "
        f"({status}); it accepts records only when ACTIVE."
    )


def refuse_update(model: Any, account_id: str) -> None:
    if model.delivery_stream_status != ACTIVE:
        raise _busy(model, account_id, "updated")


def refuse_delete(model: Any, account_id: str) -> None:
    if model.delivery_stream_status == CREATING:
        raise _busy(model, account_id, "deleted")
