"""How long a resource takes to settle after a control-plane call: one setting for every component.

On AWS a new delivery stream is CREATING, a new function Pending and a new event source mapping
Creating for seconds to minutes before they can be used; code that uses them at once fails, and
boto3's waiters exist for that. Here each of those transitions lasts ``LOCAL_AWS_ACTIVATION_SECONDS``
(default 0.5 s; 0 settles at the next read): long enough that code which forgets to wait fails here
too, short enough for tests.

What a component stores is when a transition started (wall-clock seconds, so it survives a restart
from ``--state-dir``); whether it is over is decided when the resource is next looked at, against
the setting as it is then. `set_activation_seconds` changes the setting at run time (transitions in
flight included), for tests that need a resource to stay in its first state while they look at it.

LIMITATIONS: AWS takes seconds to minutes and varies; here every transition takes the same time.
"""

from __future__ import annotations

import math
import os
import time

ENV = "LOCAL_AWS_ACTIVATION_SECONDS"
DEFAULT_SECONDS = 0.5

_override: float | None = None


def activation_seconds() -> float:
    """The setting: a run-time override, else the environment, else the default."""
    if _override is not None:
        return _override
    text = os.environ.get(ENV, "").strip()
    if not text:
        return DEFAULT_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"{ENV} must be a number of seconds, 0 or more, not {text!r}")
    return value


def set_activation_seconds(seconds: float | None) -> None:
    """Override the setting in this process; None goes back to the environment's value."""
    global _override
    if seconds is not None and not (seconds >= 0 and math.isfinite(seconds)):
        raise ValueError(f"activation time must be a number of seconds, 0 or more, not {seconds!r}")
    _override = seconds


def started() -> float:
    """The start of a transition, as stored."""
    return time.time()


def finished(since: float | None) -> bool:
    """Whether a transition that started at ``since`` is over (None: there is none)."""
    return since is None or time.time() - since >= activation_seconds()
