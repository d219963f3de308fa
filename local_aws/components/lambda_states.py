"""A function's State and LastUpdateStatus as Lambda runs them: Pending, then Active; InProgress, then
Successful.

CreateFunction answers ``State: Pending`` (StateReasonCode ``Creating``); the function is Active
after `lifecycle.activation_seconds` (``LOCAL_AWS_ACTIVATION_SECONDS``). UpdateFunctionCode and
UpdateFunctionConfiguration answer ``LastUpdateStatus: InProgress`` (reason code ``Creating``, as
Lambda words it), Successful after the same delay. So boto3's ``function_active_v2`` and
``function_updated_v2`` waiters (GetFunction) and their GetFunctionConfiguration twins wait here
as on AWS. Meanwhile, as Lambda does:

- Invoke of a Pending function fails with ResourceConflictException (HTTP 409), "The operation
  cannot be performed at this time. The function is currently in the following state: Pending";
- UpdateFunctionCode / UpdateFunctionConfiguration of a Pending function fail the same way, and
  while an update is InProgress with "... An update is in progress for resource: <function ARN>".

When a transition started is an attribute of moto's function model (pickled with it, so it
survives a restart); `settle` ends it when it is over, whenever the function is read.

LIMITATIONS: Pending and InProgress last ``LOCAL_AWS_ACTIVATION_SECONDS`` (AWS: from under a second
to minutes, longer with a VPC). An update's new code and configuration serve invocations at once (on
AWS the old ones do until the update is Successful). Only Invoke is refused while Pending: the
callers inside local_aws (Firehose processors, event source mappings) run a Pending function.
Versions published by CreateFunction(Publish=True) and PublishVersion are Active at once. State
Failed and LastUpdateStatus Failed never happen here.
"""

from __future__ import annotations

from typing import Any

from moto.awslambda.exceptions import LambdaClientError

from local_aws.components import lifecycle

PENDING_SINCE = "local_aws_pending_since"
UPDATE_SINCE = "local_aws_update_since"
CREATING_REASON = "The function is being created."
BUSY = "The operation cannot be performed at this time."


class ResourceConflict(LambdaClientError):
    """Lambda's answer for an operation on a function that is not ready for it."""

    code = 409

    def __init__(self, message: str) -> None:
        super().__init__("ResourceConflictException", message)


def settle(fn: Any) -> None:
    """End the function's transitions that are over (world lock held)."""
    if getattr(fn, PENDING_SINCE, None) is not None and lifecycle.finished(getattr(fn, PENDING_SINCE)):
        setattr(fn, PENDING_SINCE, None)
        fn.state = "Active"
    if getattr(fn, UPDATE_SINCE, None) is not None and lifecycle.finished(getattr(fn, UPDATE_SINCE)):
        setattr(fn, UPDATE_SINCE, None)


def is_pending(fn: Any) -> bool:
    settle(fn)
    return getattr(fn, PENDING_SINCE, None) is not None


def is_updating(fn: Any) -> bool:
    settle(fn)
    return getattr(fn, UPDATE_SINCE, None) is not None


def begin_create(fn: Any) -> None:
    fn.state = "Pending"
    setattr(fn, PENDING_SINCE, lifecycle.started())


def begin_update(fn: Any) -> float | None:
    """Mark an update InProgress; returns what to restore if the update is refused."""
    before = getattr(fn, UPDATE_SINCE, None)
    setattr(fn, UPDATE_SINCE, lifecycle.started())
    return before


def undo_update(fn: Any, before: float | None) -> None:
    setattr(fn, UPDATE_SINCE, before)


def refuse_invoke(fn: Any) -> None:
    if is_pending(fn):
        raise ResourceConflict(f"{BUSY} The function is currently in the following state: Pending")


def refuse_change(fn: Any) -> None:
    """UpdateFunctionCode / UpdateFunctionConfiguration: not while Pending or while an update runs."""
    refuse_invoke(fn)
    if is_updating(fn):
        raise ResourceConflict(f"{BUSY} An update is in progress for resource: {fn.function_arn}")


def describe(fn: Any, config: dict[str, Any]) -> dict[str, Any]:
    """GetFunction's / GetFunctionConfiguration's State and LastUpdateStatus fields (fn settled)."""
    if getattr(fn, PENDING_SINCE, None) is not None:
        config["State"] = "Pending"
        config["StateReason"] = CREATING_REASON
        config["StateReasonCode"] = "Creating"
    if getattr(fn, UPDATE_SINCE, None) is not None:
        config["LastUpdateStatus"] = "InProgress"
        config["LastUpdateStatusReason"] = CREATING_REASON
        config["LastUpdateStatusReasonCode"] = "Creating"
    return config
