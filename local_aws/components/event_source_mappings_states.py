"""An event source mapping's State as Lambda runs it: Creating, Enabling, Disabling, Updating,
Deleting, each for `lifecycle.activation_seconds` (``LOCAL_AWS_ACTIVATION_SECONDS``).

- CreateEventSourceMapping answers ``State: Creating``; the mapping is then Enabled (Disabled when
  created with ``Enabled: false``). Records flow only once it is Enabled (starting positions are
  still fixed when it is created, so nothing put meanwhile is missed).
- UpdateEventSourceMapping answers Enabling or Disabling when it changes ``Enabled``, Updating
  otherwise; then Enabled or Disabled. A mapping being disabled stops at once; one being enabled
  starts once Enabled; an Updating one keeps polling.
- DeleteEventSourceMapping answers Deleting; GetEventSourceMapping and ListEventSourceMappings show
  it Deleting (not polled) until it is gone.
- As Lambda documents, a mapping in Creating cannot be updated and one being updated cannot be
  deleted: ResourceInUseException (HTTP 400). A mapping being deleted cannot be updated either
  (ResourceInUseException); one being updated cannot be updated again (ResourceConflictException,
  HTTP 409: "another operation is in progress").

The transition and when it started are attributes of moto's mapping model (pickled with it, so
they survive a restart); `settle` ends the ones that are over, on every read and in the poller's
bookkeeping round.

LIMITATIONS: every transition takes ``LOCAL_AWS_ACTIVATION_SECONDS`` (AWS: seconds to minutes, and
Deleting may last longer); the refusals' wording is ours (Lambda documents the code and when, not
the text).
"""

from __future__ import annotations

from typing import Any

from moto.awslambda.exceptions import LambdaClientError

from local_aws.components import lifecycle

CREATING, ENABLING, DISABLING, UPDATING, DELETING = (
    "Creating",
    "Enabling",
    "Disabling",
    "Updating",
    "Deleting",
)
TRANSITION = "local_aws_transition"  # (state, started)


class ResourceConflict(LambdaClientError):
    """Lambda's answer for an update while another one is in progress (HTTP 409)."""

    code = 409

    def __init__(self, message: str) -> None:
        super().__init__("ResourceConflictException", message)


class ResourceInUse(LambdaClientError):
    """Lambda's answer for a change to a mapping whose state does not allow it."""

    def __init__(self, message: str) -> None:
        super().__init__("ResourceInUseException", message)


def transition(esm: Any) -> str | None:
    """The mapping's transitional state, or None once it is over."""
    current = getattr(esm, TRANSITION, None)
    if current is None:
        return None
    if lifecycle.finished(current[1]):
        return None if current[0] == DELETING else _end(esm)
    return current[0]


def _end(esm: Any) -> None:
    setattr(esm, TRANSITION, None)


def begin(esm: Any, state: str) -> None:
    setattr(esm, TRANSITION, (state, lifecycle.started()))


def begin_update(esm: Any, spec: dict[str, Any], was_enabled: bool) -> None:
    if "Enabled" in spec and bool(spec["Enabled"]) != was_enabled:
        begin(esm, ENABLING if spec["Enabled"] else DISABLING)
    else:
        begin(esm, UPDATING)


def deleting(esm: Any) -> bool:
    current = getattr(esm, TRANSITION, None)
    return current is not None and current[0] == DELETING


def gone(esm: Any) -> bool:
    """A Deleting mapping whose delete is over: to be forgotten."""
    current = getattr(esm, TRANSITION, None)
    return current is not None and current[0] == DELETING and lifecycle.finished(current[1])


def polled(esm: Any) -> bool:
    """Whether the poller reads for this mapping: enabled, and not Creating, Enabling or Deleting."""
    return bool(esm.enabled) and not deleting(esm) and transition(esm) not in (CREATING, ENABLING)


def state(esm: Any) -> str:
    """What GetEventSourceMapping shows as State."""
    if deleting(esm):
        return DELETING
    return transition(esm) or ("Enabled" if esm.enabled else "Disabled")


def refuse_update(esm: Any) -> None:
    current = state(esm)
    if current in (CREATING, DELETING):
        raise ResourceInUse(f"The event source mapping {esm.uuid} is {current} and cannot be updated now.")
    if current in (UPDATING, ENABLING, DISABLING):
        raise ResourceConflict(
            f"The event source mapping {esm.uuid} is {current}: another update is in progress. "
            "Try again once it is Enabled or Disabled."
        )


def refuse_delete(esm: Any) -> None:
    current = state(esm)
    if current in (UPDATING, ENABLING, DISABLING):
        raise ResourceInUse(f"The event source mapping {esm.uuid} is {current} and cannot be deleted now.")
