"""Bounded waits: for a resource to reach a state, and for a just-created IAM role to be usable.

AWS answers a create or an update before the resource is ready (a delivery stream is CREATING, a
function Pending, a mapping Creating) and refuses to use or change it meanwhile. Where boto3 has a
waiter for that (Lambda's ``function_active_v2`` / ``function_updated_v2``) `wait_with_waiter` runs
it; elsewhere `wait_for_state` polls the Describe call. Either way a timeout names the resource and
the state it was still in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from botocore.exceptions import ClientError, WaiterError

log = logging.getLogger(__name__)
T = TypeVar("T")

# Error codes services answer while a new role has not yet propagated to them.
_ROLE_NOT_READY_CODES = {
    "InvalidParameterValueException",  # Lambda: "The role defined for the function cannot be assumed"
    "InvalidArgumentException",  # Firehose: "Firehose is unable to assume role ..."
    "ValidationException",  # Pipes: "... role ... does not have permission / cannot be assumed"
    "AccessDeniedException",  # Glue: "... is not authorized to perform: iam:PassRole" while propagating
    "InvalidInputException",  # Glue: "Service is unable to assume provided role"
}
_ROLE_WORDS = ("role", "assume", "not authorized", "permission")


class WaitTimeout(TimeoutError):
    """A resource did not reach the state we waited for."""


def is_role_not_ready(error: ClientError) -> bool:
    """True for the errors AWS gives when a role named in the call is too new to be assumed."""
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "").lower()
    return code in _ROLE_NOT_READY_CODES and any(word in message for word in _ROLE_WORDS)


def retry_while_role_propagates(
    call: Callable[[], T], what: str, timeout: float, first_delay: float = 1.0
) -> T:
    """Run `call`, retrying with capped exponential backoff while a new IAM role is not usable yet.

    IAM is eventually consistent: a role is visible at once but other services may refuse to assume
    it for several seconds, so creating a Pipe, a delivery stream, a crawler or a function that names a
    fresh role can fail at first. The retries stop after `timeout` seconds and re-raise the last error.
    """
    deadline = time.monotonic() + timeout
    delay = first_delay
    while True:
        try:
            return call()
        except ClientError as error:
            if not is_role_not_ready(error) or time.monotonic() + delay > deadline:
                raise
            log.info("%s: role not usable yet (%s); retrying in %.0f s", what, error, delay)
            time.sleep(delay)
            delay = min(delay * 2, 15.0)


def wait_for(check: Callable[[], T | None], what: str, timeout: float = 300.0, interval: float = 1.0) -> T:
    """Poll `check` until it returns something other than None/False; `WaitTimeout` after `timeout`."""
    deadline = time.monotonic() + timeout
    delay = min(0.05, interval)
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(delay)
        # Start fast (the embedded AWS answers at once) and back off to `interval` for real AWS.
        delay = min(delay * 2, interval)


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def wait_for_state(
    describe: Callable[[], T | None],
    state_of: Callable[[T], str],
    what: str,
    ready: Collection[str],
    timeout: float = 300.0,
    interval: float = 1.0,
) -> T:
    """Poll `describe` until `state_of` its answer is one of `ready`; that answer.

    `describe` answers None when the resource does not exist, which is an error here: it was just
    created or found. On timeout, `WaitTimeout` names `what` and the state it was still in.
    """
    last: list[str] = []

    def check() -> T | None:
        current = describe()
        if current is None:
            raise RuntimeError(f"{what} disappeared while we waited for it to be {' or '.join(ready)}")
        last[:] = [state_of(current)]
        return current if last[0] in ready else None

    try:
        return wait_for(check, f"{what} to be {' or '.join(ready)}", timeout, interval)
    except WaitTimeout as error:
        raise WaitTimeout(f"{error}; it is still {last[0] if last else 'unknown'}") from None


def wait_with_waiter(
    client: Any, waiter: str, what: str, timeout: float = 300.0, delay: float = 0.5, **params: Any
) -> None:
    """Run boto3's `waiter` for at most `timeout` seconds; a failure names `what` and its last state."""
    attempts = max(1, int(timeout / delay))
    try:
        client.get_waiter(waiter).wait(WaiterConfig={"Delay": delay, "MaxAttempts": attempts}, **params)
    except WaiterError as error:
        response = error.last_response or {}
        config = response.get("Configuration") or response
        states = ", ".join(
            f"{key} {config[key]}"
            for key in ("State", "StateReason", "LastUpdateStatus", "LastUpdateStatusReason")
            if config.get(key)
        )
        problem = f"{what} is not ready ({states or 'state unknown'}): {error}"
        if "Max attempts exceeded" in str(error):
            raise WaitTimeout(problem) from None
        raise RuntimeError(problem) from None  # a terminal state (Failed) or an error answer
