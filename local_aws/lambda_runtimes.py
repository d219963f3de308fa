"""Lambda's Python runtimes and the dates AWS stops creating and updating functions on them.

AWS deprecates a runtime in steps (Lambda developer guide, "Lambda runtimes" and "Runtime
deprecation"): on the deprecation date it stops patching it; from the block-create date
CreateFunction refuses it; from the block-update date UpdateFunctionCode and
UpdateFunctionConfiguration refuse functions that use it. Invocations go on working. Both refusals
are InvalidParameterValueException with the message `refusal` returns.

The dates are AWS's published ones as of this table's writing (they move: AWS has postponed block
dates before); `LATEST` is the runtime to recommend, the newest with the longest support.

LIMITATIONS: Python runtimes only; an identifier not in the table (a future python3.15, or another
language) is not refused here. Dates are compared with today's UTC date on the server's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime


@dataclass(frozen=True)
class RuntimeLifecycle:
    identifier: str
    deprecation: date
    block_create: date
    block_update: date


PYTHON_RUNTIMES = {
    r.identifier: r
    for r in (
        RuntimeLifecycle("python3.14", date(2029, 6, 30), date(2029, 7, 31), date(2029, 8, 31)),
        RuntimeLifecycle("python3.13", date(2029, 6, 30), date(2029, 7, 31), date(2029, 8, 31)),
        RuntimeLifecycle("python3.12", date(2028, 10, 31), date(2028, 11, 30), date(2029, 1, 10)),
        RuntimeLifecycle("python3.11", date(2027, 6, 30), date(2027, 7, 31), date(2027, 8, 31)),
        RuntimeLifecycle("python3.10", date(2026, 6, 30), date(2026, 7, 31), date(2026, 8, 31)),
        RuntimeLifecycle("python3.9", date(2025, 12, 15), date(2026, 8, 31), date(2026, 9, 30)),
        RuntimeLifecycle("python3.8", date(2024, 10, 14), date(2025, 2, 28), date(2025, 3, 31)),
        RuntimeLifecycle("python3.7", date(2023, 12, 4), date(2024, 1, 9), date(2024, 2, 28)),
    )
}

LATEST = "python3.14"

CREATE = "create"
UPDATE = "update"


def today() -> date:
    return datetime.now(UTC).date()


def refusal(runtime: str | None, operation: str, on: date | None = None) -> str | None:
    """Lambda's message refusing ``operation`` (CREATE or UPDATE) on ``runtime``, or None if allowed."""
    lifecycle = PYTHON_RUNTIMES.get(runtime or "")
    if lifecycle is None:
        return None
    blocked_from = lifecycle.block_create if operation == CREATE else lifecycle.block_update
    if (on or today()) < blocked_from:
        return None
    return (
        f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
        f"functions. We recommend you use the new runtime ({LATEST}) while creating or updating functions."
    )
