"""One invocation on a ready execution environment, and the log lines Lambda writes around it.

`run_event` sends the event, waits for the answer within the function's Timeout and turns every
way an environment can fail into the error Lambda reports for it: ``Sandbox.Timedout`` ("Task
timed out after N.NN seconds"), ``Runtime.ExitError`` "Runtime exited with error: signal:
killed" with ``Error Type: Runtime.OutOfMemory`` on the REPORT line for a function past its
MemorySize, ``Function.ResponseSizeTooLarge`` for a response over 6,291,556 bytes, and
``Runtime.ExitError`` for a runtime that exited or broke its protocol. `log_text` writes the
START, END and REPORT lines (Duration, Billed Duration, Memory Size, Max Memory Used, Init
Duration on a cold start, Status when it failed).
"""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from typing import Any, NamedTuple

from local_aws.components.lambda_environment import OutOfMemory, ResponseTooLarge, Worker, WorkerGone
from local_aws.components.lambda_model import RESPONSE_PAYLOAD_LIMIT, FunctionSpec


class Outcome(NamedTuple):
    """What one run of a handler gave: its result or error, its log, the REPORT status, whether
    the environment may be kept warm, and its peak memory."""

    result: bytes
    error: dict[str, Any] | None
    log: str
    status: str
    healthy: bool
    max_memory: int


def run_event(worker: Worker, spec: FunctionSpec, request_id: str, payload: bytes, started: float) -> Outcome:
    """Send one event to a ready worker and wait for its answer within the function's Timeout."""
    header = {
        "request_id": request_id,
        "invoked_function_arn": spec.invoked_arn,
        "deadline_ms": time.time() * 1000 + spec.timeout * 1000,
    }
    prefix = f"RequestId: {request_id} Error: "
    try:
        worker.send(header, payload)
        reply, result = worker.read_frame(started + spec.timeout)
        worker.check_memory()  # a burst after the last poll counts as well
    except TimeoutError:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        message = f"Task timed out after {spec.timeout:.2f} seconds"
        error = {"errorType": "Sandbox.Timedout", "errorMessage": prefix + message}
        return Outcome(
            b"", error, f"{stamp} {request_id} {message}\n", "timeout", False, worker.peak_memory_mb
        )
    except OutOfMemory:
        # Lambda's words for a function killed for its memory: the runtime exits on SIGKILL.
        error = {
            "errorType": "Runtime.ExitError",
            "errorMessage": prefix + "Runtime exited with error: signal: killed",
        }
        log = f"{prefix}Runtime exited with error: signal: killed\nRuntime.ExitError\n"
        return Outcome(
            b"", error, log, "error\tError Type: Runtime.OutOfMemory", False, worker.peak_memory_mb
        )
    except ResponseTooLarge:
        error = {
            "errorType": "Function.ResponseSizeTooLarge",
            "errorMessage": "Response payload size exceeded maximum allowed payload size "
            f"({RESPONSE_PAYLOAD_LIMIT} bytes).",
        }
        status = "error\tError Type: Function.ResponseSizeTooLarge"
        return Outcome(b"", error, "", status, False, worker.peak_memory_mb)
    except WorkerGone as gone:
        error = {
            "errorType": "Runtime.ExitError",
            "errorMessage": f"{prefix}Runtime exited with error: {gone}",
        }
        return Outcome(b"", error, "", "error\tError Type: Runtime.ExitError", False, worker.peak_memory_mb)
    log = reply.get("log") if isinstance(reply.get("log"), str) else ""
    max_memory = worker.peak_memory_mb
    if reply.get("ok"):
        return Outcome(result, None, log, "", True, max_memory)
    try:
        error = json.loads(result)
    except ValueError:
        error = None
    if not isinstance(error, dict):
        error = {
            "errorType": "Runtime.Unknown",
            "errorMessage": prefix + "the runtime sent an unreadable error",
        }
    return Outcome(b"", error, log, "", True, max_memory)


def log_text(
    spec: FunctionSpec,
    request_id: str,
    init_log: str,
    log: str,
    duration_ms: float,
    init_ms: float | None,
    max_memory: int,
    status: str,
) -> str:
    """The invocation's whole log: init output (cold start), START, the handler's lines, END, REPORT."""
    if log and not log.endswith("\n"):
        log += "\n"
    report = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {max(1, math.ceil(duration_ms))} ms\tMemory Size: {spec.memory_size} MB\t"
        f"Max Memory Used: {max_memory} MB"
    )
    if init_ms is not None:
        report += f"\tInit Duration: {init_ms:.2f} ms"
    if status:
        report += f"\tStatus: {status}"
    return (
        f"{init_log}START RequestId: {request_id} Version: {spec.version}\n{log}"
        f"END RequestId: {request_id}\n{report}\n"
    )
