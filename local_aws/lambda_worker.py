"""The child-process side of the Lambda runtime: one warm execution environment.

Started by `local_aws.components.lambda_environment` as ``python -I -S lambda_worker.py
[--layer DIR]... [--site DIR]... [--address-space-mb N] [--max-processes N]``, already as the
sandbox user, with the function's environment (``_HANDLER``, ``LAMBDA_TASK_ROOT``, the
function's variables...) and nothing of the server's. It caps its own address space and process
count (limits it cannot raise again), builds its import path from the task root, the layers'
folders and the runtime's boto3 directory (``--site``) before the standard library (no
site-packages of the server's), imports the handler once
(the init phase), reports how that went, then answers invocations one at a time until its stdin
closes. Only the standard library is used here: this file runs in the handler's interpreter,
before the handler's own ``sys.path`` is set up, and must not import ``local_aws``.

Wire format on stdin/stdout, both ways: a frame is a 4-byte big-endian length and a JSON header,
then a 4-byte length and a raw body. The protocol keeps the real stdout to itself: ``print`` in
a handler goes to the invocation's log, the way the Lambda runtime sends it to CloudWatch.
"""

from __future__ import annotations

import contextlib
import ctypes
import decimal
import importlib
import io
import json
import logging
import os
import resource
import struct
import sys
import time
import traceback
from typing import Any, BinaryIO

_LENGTH = struct.Struct(">I")
_PR_SET_DUMPABLE = 4  # from <linux/prctl.h>
# The log travels in the frame header, which the server caps at 2 MiB: keep the tail. JSON
# may spend 6 bytes on a character (\uXXXX), so 256 Ki characters always fit.
_MAX_LOG_CHARS = 256 * 1024


def read_frame(stream: BinaryIO) -> tuple[dict[str, Any], bytes] | None:
    """One frame from ``stream``; None when the parent has closed it."""
    parts: list[bytes] = []
    for _ in range(2):
        prefix = stream.read(_LENGTH.size)
        if len(prefix) < _LENGTH.size:
            return None
        (length,) = _LENGTH.unpack(prefix)
        data = stream.read(length)
        if len(data) < length:
            return None
        parts.append(data)
    return json.loads(parts[0]), parts[1]


def encode_frame(header: dict[str, Any], body: bytes) -> bytes:
    """The bytes of one frame."""
    blob = json.dumps(header).encode()
    return _LENGTH.pack(len(blob)) + blob + _LENGTH.pack(len(body)) + body


class _Capture(io.TextIOBase):
    """Collects what the handler prints, for the invocation's log."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def take(self) -> str:
        text = "".join(self.parts)
        self.parts.clear()
        return text


class LambdaContext:
    """The ``context`` argument, with the attributes the Python runtime gives it."""

    def __init__(self, request_id: str, invoked_function_arn: str, deadline_ms: float) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        # The Python runtime reads it from the environment, so it is a string there too.
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"function_name={self.function_name},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn}])"
        )


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


class _Encoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, decimal.Decimal):
            return int(o) if o == o.to_integral_value() else float(o)
        return super().default(o)


def _error(error_type: str, message: str, stack: list[str] | None = None) -> dict[str, Any]:
    return {"errorMessage": message, "errorType": error_type, "stackTrace": stack or []}


def _user_stack(tb: Any) -> list[str]:
    """The traceback without this file's frames, formatted the way the runtime does."""
    frames = [frame for frame in traceback.extract_tb(tb) if frame.filename != __file__]
    return traceback.format_list(frames)


def _load_handler(handler: str) -> tuple[Any, dict[str, Any] | None]:
    """Import the handler as the Python runtime does; an error dict if it cannot."""
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as error:
        return None, _error("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {error}")
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        return None, _error("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {error}")
    except SyntaxError as error:
        return None, _error("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {error}")
    except Exception as error:  # an exception raised by the module's own top-level code
        return None, _error(type(error).__name__, str(error), _user_stack(error.__traceback__))
    function = getattr(module, function_name, None)
    if function is None:
        return None, _error(
            "Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'"
        )
    return function, None


def _error_log(error: dict[str, Any]) -> str:
    lines = [f"[ERROR] {error['errorType']}: {error['errorMessage']}"]
    if error["stackTrace"]:
        lines.append("Traceback (most recent call last):")
        lines.extend(entry.rstrip("\n") for entry in error["stackTrace"])
    return "\n".join(lines) + "\n"


def _parse_arguments(argv: list[str]) -> dict[str, list[str]]:
    """``--name value`` pairs (repeatable); nothing else is passed."""
    options: dict[str, list[str]] = {}
    for name, value in zip(argv[::2], argv[1::2], strict=False):
        options.setdefault(name.lstrip("-"), []).append(value)
    return options


def _limit(kind: int, value: int) -> None:
    """Soft and hard limit both: the handler cannot raise it again."""
    hard = resource.getrlimit(kind)[1]
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    # Lowering a limit cannot fail for lack of privilege; a platform without it keeps its own.
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(kind, (value, value))


def _apply_limits(options: dict[str, list[str]]) -> None:
    for value in options.get("address-space-mb", []):
        _limit(resource.RLIMIT_AS, int(value) * 1024 * 1024)
    for value in options.get("max-processes", []):
        _limit(resource.RLIMIT_NPROC, int(value))
    # Lambda's quota of open file descriptors.
    _limit(resource.RLIMIT_NOFILE, 1024)


def _hide_from_other_environments() -> None:
    """Make this process non-dumpable: every function's handler runs as the same sandbox user,
    and without this another function could read this one's environment (its secrets and role
    credentials) and memory through /proc or ptrace. The kernel then gives /proc/<pid> to root."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def _bounded(log: str) -> str:
    if len(log) <= _MAX_LOG_CHARS:
        return log
    return "[local_aws: earlier output of this invocation dropped]\n" + log[-_MAX_LOG_CHARS:]


def _take_over_process(options: dict[str, list[str]]) -> tuple[Any, Any]:
    """Limits, streams and import path of this environment; the protocol's (input, output)."""
    _apply_limits(options)
    _hide_from_other_environments()
    # Keep the real stdout for frames; fd-level writes by the handler go to stderr instead.
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    protocol_in = sys.stdin.buffer
    sys.stdin = open(os.devnull)  # noqa: SIM115 - lives as long as the process
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    # As AWS's runtime orders it: the function's code (/var/task), its layers (/opt/python...),
    # the runtime's boto3, then the standard library; nothing else of the server's environment.
    # (-I left PYTHONPATH out: a function may still set it, and it comes after its code.)
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    head = [task_root, *extra, *options.get("layer", []), *options.get("site", [])]
    sys.path[:] = head + [p for p in sys.path if p not in head]
    os.chdir(task_root)
    return protocol_in, protocol_out


def _capture_output() -> tuple[_Capture, _RequestIdFilter]:
    """Print and logging go to one capture, log records in the runtime's format with the request id."""
    capture = _Capture()
    sys.stdout = sys.stderr = capture  # type: ignore[assignment]
    request_filter = _RequestIdFilter()
    log_handler = logging.StreamHandler(capture)
    log_handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    log_handler.formatter.converter = time.gmtime  # type: ignore[union-attr]
    log_handler.terminator = ""
    log_handler.addFilter(request_filter)
    logging.getLogger().addHandler(log_handler)
    return capture, request_filter


def _invoke(
    function: Any, header: dict[str, Any], body: bytes, capture: _Capture
) -> tuple[dict[str, Any], bytes]:
    """Run the handler on one event: the reply header and the response (or error) body."""
    request_id = header["request_id"]
    context = LambdaContext(request_id, header["invoked_function_arn"], header["deadline_ms"])
    started = time.monotonic()
    ok = True
    try:
        event = json.loads(body) if body else {}
        result = function(event, context)
        try:
            payload = json.dumps(result, cls=_Encoder).encode()
        except (TypeError, ValueError) as error:
            ok = False
            error_body = _error("Runtime.MarshalError", f"Unable to marshal response: {error}")
    except Exception as error:
        ok = False
        error_body = _error(type(error).__name__, str(error), _user_stack(error.__traceback__))
    log = capture.take()
    if not ok:
        error_body["requestId"] = request_id
        log += _error_log(error_body)
        payload = json.dumps(error_body).encode()
    reply = {
        "kind": "result",
        "ok": ok,
        "log": _bounded(log),
        "duration_ms": (time.monotonic() - started) * 1000,
    }
    return reply, payload


def main() -> int:
    if sys.argv[1:2] in (["-h"], ["--help"]):  # the runtime never passes it; a person reading does
        print(
            "usage: python -I -S lambda_worker.py [--layer DIR]... [--site DIR]... [--address-space-mb N] [--max-processes N]"
        )
        print(__doc__)
        return 0
    options = _parse_arguments(sys.argv[1:])
    protocol_in, protocol_out = _take_over_process(options)
    capture, request_filter = _capture_output()

    started = time.monotonic()
    function, init_error = _load_handler(os.environ.get("_HANDLER", ""))
    init_log = capture.take()
    if init_error is not None:
        init_log += _error_log(init_error)
    init_header = {"kind": "init", "ok": init_error is None, "log": _bounded(init_log)}
    init_header["duration_ms"] = (time.monotonic() - started) * 1000
    protocol_out.write(encode_frame(init_header, json.dumps(init_error or {}).encode()))
    protocol_out.flush()
    if init_error is not None:
        return 0

    while True:
        frame = read_frame(protocol_in)
        if frame is None:
            return 0
        header, body = frame
        request_filter.request_id = header["request_id"]
        reply, payload = _invoke(function, header, body, capture)
        protocol_out.write(encode_frame(reply, payload))
        protocol_out.flush()


if __name__ == "__main__":
    sys.exit(main())
