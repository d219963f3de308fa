"""Lambda Invoke: run the uploaded zip's handler in a warm, sandboxed process, as Lambda does.

moto stores functions but can run them only in Docker. Here `LambdaFunction.invoke` (which moto's
Invoke API, SNS and SQS all call) is replaced: the function's code (ZipFile bytes or the S3 object
moto read at CreateFunction/UpdateFunctionCode) is unpacked once per code hash into a task root the
handler can read and not change, and the handler runs in a child process
(`local_aws/lambda_worker.py`) with the function's environment variables, its Timeout and
MemorySize and a real ``context`` object. Such a process is an execution environment: it imports
the handler once and is kept warm for the next invocation of the same function version with the
same code and configuration; UpdateFunctionCode, UpdateFunctionConfiguration and DeleteFunction
retire it.

Uploaded code is untrusted. When the server runs as root, the child runs as the unprivileged system
user ``local_aws_lambda`` (created if missing; see `local_aws.lambda_sandbox`), with no
supplementary groups, in a session of its own, so it cannot read the server's memory or
environment, signal it, or touch its state dir (0700). Its environment is built from nothing: the
function's variables, Lambda's runtime variables (``_HANDLER``, ``AWS_LAMBDA_*``, ``AWS_REGION``,
``AWS_EXECUTION_ENV``, ``LAMBDA_TASK_ROOT``, ``LAMBDA_RUNTIME_DIR``, ``TZ=:UTC``, ``LANG``,
``PATH``), ``AWS_ENDPOINT_URL`` set to this local_aws and the execution role's temporary
credentials from this local_aws's STS (AssumeRole, session named after the function), so a
handler's boto3 clients talk to local_aws as that role, never to AWS.

Quotas are Lambda's: CreateFunction and UpdateFunctionCode refuse a package that unzips to more
than 262,144,000 bytes (InvalidParameterValueException), so a zip bomb never reaches the disk; a
synchronous payload over 6 MB (6,291,456 bytes) or an asynchronous one over 1 MB is refused with
RequestEntityTooLargeException (HTTP 413); a response over 6,291,556 bytes becomes a
``Function.ResponseSizeTooLarge`` function error. A handler still running at its Timeout is killed
with everything it started (``Task timed out after N.NN seconds``); one whose peak resident memory
(the kernel's VmHWM, polled every 20 ms while it runs and checked when it answers) passes
MemorySize is killed and answered as Lambda answers a function that ran out of memory:
FunctionError Unhandled, ``Runtime.ExitError`` "Runtime exited with error: signal: killed", ``Error
Type: Runtime.OutOfMemory`` on the REPORT line. Either way the next invocation gets a fresh
environment. The REPORT line's Max Memory Used is that measured peak.

The world lock is set down while a handler runs, so the handler's own boto3 calls, which reach this
local_aws through ``AWS_ENDPOINT_URL``, and every other request proceed meanwhile.

Other components call `LambdaRuntime.invoke` (``world.component("lambda").invoke(...)``) and get an
`Invocation` back; payload quotas are not applied to them (Firehose and event source mappings size
their own batches), the response quota is.

CreateFunction refuses a runtime past its block-create date, UpdateFunctionCode and
UpdateFunctionConfiguration one past its block-update date, with Lambda's
InvalidParameterValueException (AWS's published dates: `local_aws.lambda_runtimes`).

LIMITATIONS: Python runtimes only (python3.x), all run by the interpreter that runs local_aws (or a
read-only mirror of it the sandbox user can reach), whatever minor version the function names: a
python3.14 function runs on this server's Python 3.11 here, so code that needs a newer language
feature or standard library fails here and not on AWS; any
other runtime or PackageType Image fails with InvalidRuntimeException (HTTP 502). Layers, VPC
config, reserved concurrency (no throttling), extensions, SnapStart, response streaming and
Function URLs are not emulated. Isolation is by user, not by VM: all functions share one sandbox
user, so they can read each other's code and /tmp files (each worker makes itself non-dumpable, so
another function cannot read its environment or memory through /proc or ptrace; a side effect is
that a handler cannot read its own /proc/self/environ either, os.environ is unaffected; but a
program a handler executes is dumpable again, and a process that leaves the worker's session with
setsid outlives it); they share the host's /tmp (no per-environment /tmp, no 512 MB /tmp quota),
its network (a handler reaches any service listening on the host's loopback, not only this
local_aws) and whatever files on the host are world-readable (the venv's site-packages are on the
import path, so a handler can import more than boto3). When the server does not run as root there
is no other user to switch to: the handler runs as the server's user in a separate process with a
scrubbed environment, and can then read ``/proc/<server>/environ`` and ``mem``, signal the server,
write its state dir and read whatever that user can read; run the server as root (it drops handlers
to the sandbox user) or in a container to contain untrusted code. Memory: only the worker process's
own peak is measured, so memory held by processes the handler spawns is not counted (each is capped
by the same address-space limit); between two polls a burst is bounded by an address-space limit of
MemorySize + 1 GiB (RLIMIT_AS, which over-counts: thread arenas and mapped libraries), past which
an allocation raises MemoryError in the handler instead of a kill. Processes and threads are capped
at 1,024 per sandbox user (all environments together, not per environment), file descriptors at
1,024 per process. The async payload message's wording follows AWS's 256 KB-era message with the
documented 1 MB figure. Asynchronous (Event) invocations run on a small thread pool and are retried
twice after a function error (after 1 s and 2 s, not Lambda's minutes); destinations and DLQs are
not used, and pending ones are dropped at shutdown, not persisted. moto's own triggers (SNS
subscriptions, SQS mappings) invoke synchronously inside the request that fired them. There is no
concurrency limit: each concurrent invocation of a busy function starts another worker. Output
written by native code straight to file descriptor 1 or 2 goes to the server's stderr, not to the
function's log. Logs go to CloudWatch Logs (``/aws/lambda/<name>``, one stream per execution
environment); a single invocation's log keeps its last 256 Ki characters.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import math
import os
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time
import uuid
import weakref
import zipfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from moto.awslambda.exceptions import (
    InvalidParameterValueException,
    LambdaClientError,
    UnknownFunctionException,
)
from moto.awslambda.models import LambdaBackend, LambdaFunction, LambdaStorage, LayerStorage
from moto.awslambda.utils import make_function_arn

from local_aws import lambda_runtimes
from local_aws.components.base import Component
from local_aws.gateway import AwsRequest
from local_aws.lambda_sandbox import sandbox
from local_aws.world import DEFAULT_ACCOUNT_ID, World, current

WORKER_SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lambda_worker.py")
WORKER_NAME = "lambda_worker.py"
LOG_TAIL_BYTES = 4096
INIT_TIMEOUT_SECONDS = 10.0
IDLE_WORKER_SECONDS = 300.0
ASYNC_RETRY_DELAYS = (1.0, 2.0)
_LENGTH = struct.Struct(">I")
# Lambda's documented payload quotas: 6 MB for a synchronous request (its error names 6291456
# bytes) and 1 MB for an asynchronous one; a response may be 6291556 bytes (100 more, as
# Lambda's own error message says).
SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024
ASYNC_PAYLOAD_LIMIT = 1024 * 1024
RESPONSE_PAYLOAD_LIMIT = 6 * 1024 * 1024 + 100
# How often the peak resident memory (VmHWM) of a running handler is checked, and the
# address-space cap a worker sets on itself so that a burst between two checks cannot take the
# host's memory (a kernel high-water mark catches the burst, but only after it happened). The
# cap is above MemorySize because virtual memory over-counts what Lambda measures: every thread
# reserves a malloc arena and a stack (4 threads add about 150 MB of address space for 10 MB
# resident here), and shared libraries are mapped whole.
MEMORY_POLL_SECONDS = 0.02
ADDRESS_SPACE_HEADROOM_MB = 1024
# Lambda's quota of processes and threads in one execution environment (per sandbox user here).
MAX_PROCESSES = 1024
# A frame header carries the invocation's log; the worker keeps that under 2 MiB.
MAX_HEADER_BYTES = 2 * 1024 * 1024
# Lambda's quota on a deployment package's unzipped size (250 MB).
UNZIPPED_CODE_LIMIT = 262_144_000
# Temporary credentials of the execution role: minted for an hour, renewed after 45 minutes.
CREDENTIALS_SECONDS = 3600
CREDENTIALS_RENEW_SECONDS = 2700


class FunctionNotFound(LookupError):
    """No such function (or version/alias) in that account and region."""


class UnsupportedRuntime(RuntimeError):
    """The function's runtime cannot run here (only Python runtimes can)."""


class InvalidRuntimeException(LambdaClientError):
    """Invoke's answer for a runtime this Lambda cannot run, as AWS names it."""

    code = 502

    def __init__(self, message: str) -> None:
        super().__init__("InvalidRuntimeException", message)


class RequestEntityTooLargeException(LambdaClientError):
    """Invoke's answer for a payload over Lambda's quota for that invocation type."""

    code = 413

    def __init__(self, message: str) -> None:
        super().__init__("RequestEntityTooLargeException", message)


class InvalidRequestContentException(LambdaClientError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("InvalidRequestContentException", message)


@dataclass
class Invocation:
    """The outcome of one synchronous invocation, as Invoke returns it.

    ``log_result`` is what AWS puts in ``X-Amz-Log-Result``: base64 of the last 4 KB of the log
    (START/END/REPORT lines included); `log_tail` decodes it.
    """

    status_code: int
    payload: bytes
    function_error: str | None = None
    log_result: str = ""
    executed_version: str = "$LATEST"
    request_id: str = ""

    @property
    def log_tail(self) -> str:
        return base64.b64decode(self.log_result).decode("utf-8", "replace")


@dataclass
class _FunctionSpec:
    """What an invocation needs from moto's model, copied under the world lock."""

    account_id: str
    region: str
    function_name: str
    version: str
    invoked_arn: str
    handler: str
    runtime: str
    package_type: str
    timeout: float
    memory_size: int
    role: str
    environment: dict[str, str]
    code_sha256: str
    code_bytes: bytes = field(repr=False)

    @property
    def identity(self) -> tuple[str, str, str, str]:
        return (self.account_id, self.region, self.function_name, self.version)

    @property
    def fingerprint(self) -> str:
        """Changes whenever code or configuration does: a warm worker serves one fingerprint."""
        config = json.dumps(
            [self.handler, self.runtime, self.timeout, self.memory_size, sorted(self.environment.items())]
        )
        return hashlib.sha256((self.code_sha256 + config).encode()).hexdigest()

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.function_name}"


class _CheckedPayload(bytes):
    """A response whose size this runtime has already checked against Lambda's limit.

    moto's Invoke response replaces any payload whose ``sys.getsizeof`` passes 6,000,000 with a
    ResponseSizeTooLarge error: a smaller limit than Lambda's 6,291,556 bytes, and counted with
    Python's object overhead. Reporting no size keeps moto from second-guessing the real check.
    """

    def __sizeof__(self) -> int:
        return 0


class _WorkerGone(Exception):
    """The worker process ended or stopped answering."""


class _OutOfMemory(Exception):
    """The worker's resident memory passed the function's MemorySize: it has been killed."""


class _ResponseTooLarge(Exception):
    """The worker announced a response over Lambda's limit: it has been killed unread."""


def _exit_description(returncode: int) -> str:
    """How Lambda's runtime (written in Go) words a process exit: "exit status 3", "signal: killed"."""
    if returncode >= 0:
        return f"exit status {returncode}"
    try:
        name = signal.strsignal(-returncode) or f"signal {-returncode}"
    except ValueError:
        name = f"signal {-returncode}"
    return f"signal: {name.lower()}"


class _Worker:
    """One child process: a warm execution environment for one function fingerprint.

    Started as the sandbox user (see `local_aws.lambda_sandbox`) in a session of its own, so a
    kill ends whatever the handler spawned too. While the server waits for it, its peak resident
    memory is polled: past the function's MemorySize it is killed, as Lambda kills a function
    that runs out of memory.
    """

    def __init__(
        self,
        spec: _FunctionSpec,
        code_dir: str,
        runtime_dir: str,
        endpoint_url: str | None,
        credentials: dict[str, str],
    ) -> None:
        self.identity = spec.identity
        self.fingerprint = spec.fingerprint
        self.memory_limit_mb = spec.memory_size
        self.peak_memory_mb = 0
        now = datetime.now(UTC)
        self.log_stream = f"{now:%Y/%m/%d}/[{spec.version}]{uuid.uuid4().hex}"
        self.last_used = time.monotonic()
        self.init_log = ""
        self.init_ms: float | None = None
        self.init_error: dict[str, Any] | None = None
        self._buffer = bytearray()
        box = sandbox()
        command = [box.python, "-u", os.path.join(runtime_dir, WORKER_NAME)]
        command += ["--address-space-mb", str(spec.memory_size + ADDRESS_SPACE_HEADROOM_MB)]
        if box.isolated:
            command += ["--max-processes", str(MAX_PROCESSES)]
        for site_dir in box.site_dirs:
            command += ["--site", site_dir]
        options: dict[str, Any] = {}
        if box.isolated:
            options = {"user": box.uid, "group": box.gid, "extra_groups": [], "umask": 0o077}
        env = _child_environment(spec, code_dir, runtime_dir, self.log_stream, endpoint_url, credentials)
        if box.library_path:
            env["LD_LIBRARY_PATH"] = box.library_path
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=code_dir,
            env=env,
            start_new_session=True,
            **options,
        )

    def initialise(self, timeout: float) -> None:
        """Wait for the handler import; keeps its output and error for the first invocation."""
        header, body = self.read_frame(time.monotonic() + timeout)
        self.init_log = header.get("log", "")
        self.init_ms = header.get("duration_ms")
        if not header.get("ok"):
            self.init_error = json.loads(body)

    def send(self, header: dict[str, Any], body: bytes) -> None:
        blob = json.dumps(header).encode()
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(_LENGTH.pack(len(blob)) + blob + _LENGTH.pack(len(body)) + body)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as error:
            raise _WorkerGone(str(error)) from error

    def read_frame(self, deadline: float) -> tuple[dict[str, Any], bytes]:
        """One frame from the worker. The worker runs untrusted code: every length is checked."""
        header_length = _LENGTH.unpack(self._read(_LENGTH.size, deadline))[0]
        if header_length > MAX_HEADER_BYTES:
            self.kill()
            raise _WorkerGone(f"the runtime sent a malformed frame ({header_length} bytes of header)")
        try:
            header = json.loads(self._read(header_length, deadline))
            if not isinstance(header, dict):
                raise ValueError("not an object")
        except ValueError as error:
            self.kill()
            raise _WorkerGone(f"the runtime sent a malformed frame: {error}") from error
        body_length = _LENGTH.unpack(self._read(_LENGTH.size, deadline))[0]
        if body_length > RESPONSE_PAYLOAD_LIMIT:
            self.kill()
            raise _ResponseTooLarge(body_length)
        return header, self._read(body_length, deadline)

    def _read(self, size: int, deadline: float) -> bytes:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        while len(self._buffer) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], min(remaining, MEMORY_POLL_SECONDS))
            self.check_memory()
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise _WorkerGone(_exit_description(self.process.wait()))
            self._buffer += chunk
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def peak_mb(self) -> int:
        """The worker's peak resident memory since it started, in MB (VmHWM; 0 once gone).

        The kernel's high-water mark, not a sample: a burst between two polls still counts.
        (The worker's own ``ru_maxrss`` would not do: it keeps the server's size from before
        the exec.)
        """
        try:
            with open(f"/proc/{self.process.pid}/status", "rb") as handle:
                for line in handle:
                    if line.startswith(b"VmHWM:"):
                        return int(line.split()[1]) // 1024
        except (OSError, ValueError, IndexError):
            pass
        return 0

    def check_memory(self) -> None:
        """Kill the worker if it has ever held more than the function's MemorySize."""
        self.peak_memory_mb = max(self.peak_memory_mb, self.peak_mb())
        if self.peak_memory_mb > self.memory_limit_mb:
            self.kill()
            raise _OutOfMemory(self.peak_memory_mb)

    def kill(self) -> None:
        if self.process.poll() is None:
            # The whole session: a child the handler started must not outlive its environment.
            with contextlib.suppress(OSError):
                os.killpg(self.process.pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def _child_environment(
    spec: _FunctionSpec,
    code_dir: str,
    runtime_dir: str,
    log_stream: str,
    endpoint_url: str | None,
    credentials: dict[str, str],
) -> dict[str, str]:
    """The handler's whole environment: the function's variables and the runtime's, nothing of the server's."""
    python_bin = os.path.dirname(sandbox().python)
    env = {key: str(value) for key, value in spec.environment.items()}
    env.update(
        {
            "_HANDLER": spec.handler or "",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "LAMBDA_TASK_ROOT": code_dir,
            "LAMBDA_RUNTIME_DIR": runtime_dir,
            "TZ": ":UTC",
            # Lambda sets en_US.UTF-8; C.UTF-8 is the UTF-8 locale every Linux has.
            "LANG": "C.UTF-8",
            "PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin",
            # The execution role's temporary credentials, minted by this local_aws's STS.
            **credentials,
        }
    )
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    return env


def _header(headers: Any, name: str) -> str | None:
    """A request header from werkzeug's headers or from a plain dict (moto's internal calls)."""
    if not headers:
        return None
    value = headers.get(name)
    if value is None and isinstance(headers, dict):
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def _spec_of(fn: LambdaFunction, qualifier: str | None) -> _FunctionSpec:
    unqualified = make_function_arn(fn.region, fn.account_id, fn.function_name)
    version = str(fn.version)
    return _FunctionSpec(
        account_id=fn.account_id,
        region=fn.region,
        function_name=fn.function_name,
        version=version,
        invoked_arn=f"{unqualified}:{qualifier}" if qualifier else unqualified,
        handler=fn.handler or "",
        runtime=fn.run_time or "",
        package_type=fn.package_type or "Zip",
        timeout=float(fn.timeout or 3),
        memory_size=int(fn.memory_size or 128),
        role=fn.role or "",
        environment=dict(fn.environment_vars or {}),
        code_sha256=getattr(fn, "code_sha_256", "") or "",
        code_bytes=getattr(fn, "code_bytes", b"") or b"",
    )


def _parse_function_ref(name_or_arn: str, qualifier: str | None) -> tuple[str | None, str | None, str | None]:
    """Account, region and qualifier named by a function ARN (None for a plain name)."""
    if not name_or_arn.startswith("arn:"):
        if ":" in name_or_arn:
            return None, None, name_or_arn.split(":", 1)[1]
        return None, None, qualifier
    parts = name_or_arn.split(":")
    arn_qualifier = parts[7] if len(parts) > 7 else None
    return parts[4], parts[3], arn_qualifier or qualifier


def _check_payload_size(payload: bytes, invocation_type: str) -> None:
    """Refuse a payload over Lambda's quota, with the message Lambda gives."""
    if invocation_type == "Event":
        if len(payload) > ASYNC_PAYLOAD_LIMIT:
            raise RequestEntityTooLargeException(
                f"{len(payload)} byte payload is too large for the Event invocation type "
                f"(limit {ASYNC_PAYLOAD_LIMIT} bytes)"
            )
    elif len(payload) > SYNC_PAYLOAD_LIMIT:
        raise RequestEntityTooLargeException(
            f"Request must be smaller than {SYNC_PAYLOAD_LIMIT} bytes for the InvokeFunction operation"
        )


def _validate_payload(payload: bytes) -> None:
    if not payload.strip():
        return
    try:
        json.loads(payload)
    except ValueError as error:
        raise InvalidRequestContentException(
            f"Could not parse request body into json: Could not parse payload into json: {error}"
        ) from error


class LambdaRuntime(Component):
    """Runs Lambda handlers in warm child processes; see the module docstring."""

    name = "lambda"
    order = 10

    _original_invoke: Any = None
    _original_update_code: Any = None
    _original_update_config: Any = None
    _original_delete: Any = None
    _original_create: Any = None
    _original_backend_invoke: Any = None
    _original_set_code: Any = None

    def __init__(self) -> None:
        super().__init__()
        self._pool_lock = threading.Lock()
        self._idle: dict[str, list[_Worker]] = {}
        self._busy: set[_Worker] = set()
        self._current: dict[tuple[str, str, str, str], str] = {}
        self._code_root: str | None = None
        self._runtime_dir: str | None = None
        self._role_credentials: dict[tuple[str, str, str], tuple[float, dict[str, str]]] = {}
        self._code_lock = threading.Lock()
        self._async: ThreadPoolExecutor | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def install(self, world: World) -> None:
        super().install(world)
        cls = type(self)
        if cls._original_invoke is None:
            cls._original_invoke = LambdaFunction.invoke
            cls._original_update_code = LambdaFunction.update_function_code
            cls._original_update_config = LambdaFunction.update_configuration
            cls._original_delete = LambdaBackend.delete_function
            cls._original_create = LambdaBackend.create_function
            LambdaBackend.create_function = _patched_create  # type: ignore[method-assign]
            LambdaFunction.invoke = _patched_invoke  # type: ignore[method-assign]
            LambdaFunction.update_function_code = _patched_update_code  # type: ignore[method-assign]
            LambdaFunction.update_configuration = _patched_update_config  # type: ignore[method-assign]
            LambdaBackend.delete_function = _patched_delete  # type: ignore[method-assign]
            cls._original_backend_invoke = LambdaBackend.invoke
            LambdaBackend.invoke = _patched_backend_invoke  # type: ignore[method-assign]
            cls._original_set_code = LambdaFunction._set_function_code
            LambdaFunction._set_function_code = _patched_set_code  # type: ignore[method-assign]
            # moto's function and layer indexes hold a WeakValueDictionary and a lambda-made
            # defaultdict, which pickle cannot write: without this --state-dir fails on Lambda.
            for storage in (LambdaStorage, LayerStorage):
                storage.__getstate__ = _storage_getstate  # type: ignore[attr-defined]
                storage.__setstate__ = _storage_setstate  # type: ignore[attr-defined]
        gateway = getattr(world, "gateway", None)
        if gateway is not None:
            gateway.add_interceptor(_note_invoke_qualifier)

    def start(self) -> None:
        # Owned by the server and readable, never writable, by the sandbox user: the task root
        # (/var/task) and the runtime (/var/runtime) of every function live here.
        self._code_root = tempfile.mkdtemp(prefix="local_aws-lambda-")
        os.chmod(self._code_root, 0o755)
        self._runtime_dir = os.path.join(self._code_root, "runtime")
        os.mkdir(self._runtime_dir, 0o755)
        os.chmod(self._runtime_dir, 0o755)
        shutil.copyfile(WORKER_SCRIPT, os.path.join(self._runtime_dir, WORKER_NAME))
        os.chmod(os.path.join(self._runtime_dir, WORKER_NAME), 0o644)
        self._async = ThreadPoolExecutor(max_workers=4, thread_name_prefix="local_aws-lambda-async")
        self.spawn(self._reap_idle_workers, "lambda-reaper")

    def stop(self) -> None:
        if self._async is not None:
            self._async.shutdown(wait=False, cancel_futures=True)
        super().stop()
        with self._pool_lock:
            workers = [w for idle in self._idle.values() for w in idle] + list(self._busy)
            self._idle.clear()
            self._busy.clear()
        for worker in workers:
            worker.kill()
        if self._code_root:
            shutil.rmtree(self._code_root, ignore_errors=True)
            self._code_root = None
            self._runtime_dir = None

    # -- the Python API ---------------------------------------------------------------------
    def invoke(
        self,
        function_name_or_arn: str,
        payload: bytes,
        account_id: str = DEFAULT_ACCOUNT_ID,
        region: str = "us-east-1",
        qualifier: str | None = None,
    ) -> Invocation:
        """Invoke synchronously (RequestResponse) and wait for the result.

        Callable with or without the world lock held; the lock is set down while the handler
        runs. Raises `FunctionNotFound` for an unknown function and `UnsupportedRuntime` for a
        runtime that cannot run here.
        """
        assert self.world is not None
        arn_account, arn_region, qualifier = _parse_function_ref(function_name_or_arn, qualifier)
        account_id, region = arn_account or account_id, arn_region or region
        with self.world.lock:
            try:
                backend = self.world.backend("lambda", account_id, region)
                fn = backend.get_function(function_name_or_arn, qualifier)
            except (UnknownFunctionException, KeyError) as error:
                raise FunctionNotFound(f"Function not found: {function_name_or_arn}") from error
            if fn is None:
                raise FunctionNotFound(f"Function not found: {function_name_or_arn}")
            spec = _spec_of(fn, qualifier)
        problem = self._runtime_problem(spec)
        if problem:
            raise UnsupportedRuntime(problem)
        with self.world.lock.suspended():
            return self._execute(spec, payload)

    # -- moto's entry points ----------------------------------------------------------------
    def invoke_from_moto(
        self, fn: LambdaFunction, body: Any, request_headers: Any, response_headers: dict[str, Any]
    ) -> bytes:
        """`LambdaFunction.invoke`, called under the world lock by a request or by moto itself."""
        assert self.world is not None
        payload = body.encode() if isinstance(body, str) else bytes(body or b"")
        invocation_type = _header(request_headers, "X-Amz-Invocation-Type") or "RequestResponse"
        _check_payload_size(payload, invocation_type)
        _validate_payload(payload)
        qualifier = None if str(fn.version) == "$LATEST" else str(fn.version)
        spec = _spec_of(fn, qualifier)
        problem = self._runtime_problem(spec)
        if problem:
            raise InvalidRuntimeException(problem)
        response_headers["x-amz-executed-version"] = spec.version
        if invocation_type == "DryRun":
            return b""
        if invocation_type == "Event":
            self._submit_async(spec, payload)
            return b""
        with self.world.lock.suspended():
            invocation = self._execute(spec, payload)
        if invocation.function_error:
            response_headers["x-amz-function-error"] = invocation.function_error
        if (_header(request_headers, "X-Amz-Log-Type") or "None") == "Tail":
            response_headers["x-amz-log-result"] = invocation.log_result
        return _CheckedPayload(invocation.payload)

    def retire(self, account_id: str, region: str, function_name: str) -> None:
        """Stop the idle workers of a function whose code or configuration changed."""
        doomed: list[_Worker] = []
        with self._pool_lock:
            for identity in [i for i in self._current if i[:3] == (account_id, region, function_name)]:
                fingerprint = self._current.pop(identity)
                doomed.extend(self._idle.pop(fingerprint, []))
        for worker in doomed:
            worker.kill()

    # -- execution --------------------------------------------------------------------------
    @staticmethod
    def _runtime_problem(spec: _FunctionSpec) -> str | None:
        if spec.package_type == "Image":
            return "local_aws cannot run container image functions (PackageType Image); use a Python zip."
        if not spec.runtime.startswith("python3"):
            return (
                f"The runtime parameter of {spec.runtime or 'None'} is not supported by local_aws: "
                "only Python runtimes (python3.x) can be invoked."
            )
        return None

    def _submit_async(self, spec: _FunctionSpec, payload: bytes) -> None:
        assert self._async is not None and self.world is not None
        world = self.world

        def run() -> None:
            for delay in (0.0, *ASYNC_RETRY_DELAYS):
                if delay and world.stopping.wait(delay):
                    return
                try:
                    if not self._execute(spec, payload).function_error:
                        return
                except Exception:
                    self.log.exception("asynchronous invocation of %s failed", spec.function_name)
                    return

        with contextlib.suppress(RuntimeError):  # raised while shutting down
            self._async.submit(run)

    def _execute(self, spec: _FunctionSpec, payload: bytes) -> Invocation:
        """Run one invocation on a warm worker; the caller does not hold the world lock."""
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        worker, error = self._acquire(spec)
        init_log, init_ms = "", None
        if worker is not None:
            # Init output and duration belong to the first invocation of an environment only.
            init_log, init_ms = worker.init_log, worker.init_ms
            worker.init_log, worker.init_ms = "", None
            error = error or worker.init_error
        started = time.monotonic()
        log, status, healthy, max_memory, result = "", "", False, 0, b""
        if error is None:
            assert worker is not None
            outcome = self._run(worker, spec, request_id, payload, started)
            result, error, log, status, healthy, max_memory = outcome
        elif error.get("errorType", "").startswith("Runtime.") or "stackTrace" in error:
            # Init failures (import errors...) carry the request id and a stack, like handler errors.
            error = {**error, "requestId": request_id, "stackTrace": error.get("stackTrace", [])}
        duration_ms = (time.monotonic() - started) * 1000
        if worker is not None:
            self._release(worker, healthy)
        if error is not None:
            result = json.dumps(error).encode()
        full_log = self._log_text(spec, request_id, init_log, log, duration_ms, init_ms, max_memory, status)
        self._write_cloudwatch(spec, worker, full_log)
        return Invocation(
            status_code=200,
            payload=result,
            function_error=None if error is None else "Unhandled",
            log_result=base64.b64encode(full_log.encode()[-LOG_TAIL_BYTES:]).decode(),
            executed_version=spec.version,
            request_id=request_id,
        )

    @staticmethod
    def _run(
        worker: _Worker, spec: _FunctionSpec, request_id: str, payload: bytes, started: float
    ) -> tuple[bytes, dict[str, Any] | None, str, str, bool, int]:
        """Send one event to a ready worker: result, error, log, REPORT status, healthy, memory."""
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
            return b"", error, f"{stamp} {request_id} {message}\n", "timeout", False, worker.peak_memory_mb
        except _OutOfMemory:
            # Lambda's words for a function killed for its memory: the runtime exits on SIGKILL.
            error = {
                "errorType": "Runtime.ExitError",
                "errorMessage": prefix + "Runtime exited with error: signal: killed",
            }
            log = f"{prefix}Runtime exited with error: signal: killed\nRuntime.ExitError\n"
            return b"", error, log, "error\tError Type: Runtime.OutOfMemory", False, worker.peak_memory_mb
        except _ResponseTooLarge:
            error = {
                "errorType": "Function.ResponseSizeTooLarge",
                "errorMessage": "Response payload size exceeded maximum allowed payload size "
                f"({RESPONSE_PAYLOAD_LIMIT} bytes).",
            }
            return (
                b"",
                error,
                "",
                "error\tError Type: Function.ResponseSizeTooLarge",
                False,
                worker.peak_memory_mb,
            )
        except _WorkerGone as gone:
            error = {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"{prefix}Runtime exited with error: {gone}",
            }
            return b"", error, "", "error\tError Type: Runtime.ExitError", False, worker.peak_memory_mb
        log = reply.get("log") if isinstance(reply.get("log"), str) else ""
        max_memory = worker.peak_memory_mb
        if reply.get("ok"):
            return result, None, log, "", True, max_memory
        try:
            error = json.loads(result)
        except ValueError:
            error = None
        if not isinstance(error, dict):
            error = {
                "errorType": "Runtime.Unknown",
                "errorMessage": prefix + "the runtime sent an unreadable error",
            }
        return b"", error, log, "", True, max_memory

    @staticmethod
    def _log_text(
        spec: _FunctionSpec,
        request_id: str,
        init_log: str,
        log: str,
        duration_ms: float,
        init_ms: float | None,
        max_memory: int,
        status: str,
    ) -> str:
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

    def _write_cloudwatch(self, spec: _FunctionSpec, worker: _Worker | None, text: str) -> None:
        assert self.world is not None
        stream = (
            worker.log_stream if worker is not None else f"{datetime.now(UTC):%Y/%m/%d}/[{spec.version}]init"
        )
        now_ms = int(time.time() * 1000)
        events = [{"timestamp": now_ms, "message": line} for line in text.splitlines() if line]
        try:
            with self.world.lock:
                logs = self.world.backend("logs", spec.account_id, spec.region)
                logs.ensure_log_group(spec.log_group)
                logs.ensure_log_stream(spec.log_group, stream)
                logs.put_log_events(spec.log_group, stream, events)
            self.world.mark_dirty()
        except Exception:  # logging must never fail an invocation
            self.log.debug("could not write CloudWatch logs for %s", spec.function_name, exc_info=True)

    # -- the pool ---------------------------------------------------------------------------
    def _acquire(self, spec: _FunctionSpec) -> tuple[_Worker | None, dict[str, Any] | None]:
        """A warm worker for this spec, or a new one; an error dict if none could start."""
        assert self.world is not None
        doomed: list[_Worker] = []
        with self._pool_lock:
            previous = self._current.get(spec.identity)
            if previous is not None and previous != spec.fingerprint:
                doomed.extend(self._idle.pop(previous, []))
            self._current[spec.identity] = spec.fingerprint
            idle = self._idle.get(spec.fingerprint)
            worker = idle.pop() if idle else None
            if worker is not None:
                self._busy.add(worker)
        for old in doomed:
            old.kill()
        if worker is not None:
            return worker, None
        try:
            assert self._runtime_dir is not None, "the lambda component is not started"
            credentials = self._credentials(spec)
            worker = _Worker(
                spec, self._code_dir(spec), self._runtime_dir, self.world.endpoint_url, credentials
            )
        except (OSError, RuntimeError, KeyError) as error:
            self.log.warning("could not start a Lambda runtime for %s: %s", spec.function_name, error)
            return None, {
                "errorType": "Runtime.Unknown",
                "errorMessage": f"could not start the runtime: {error}",
            }
        with self._pool_lock:
            self._busy.add(worker)
        init_timeout = max(INIT_TIMEOUT_SECONDS, spec.timeout)
        try:
            worker.initialise(init_timeout)
        except TimeoutError:
            worker.init_error = {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"Init phase timed out after {init_timeout:.2f} seconds",
            }
        except _OutOfMemory:
            worker.init_error = {
                "errorType": "Runtime.ExitError",
                "errorMessage": "Runtime exited during init: signal: killed",
            }
        except (_WorkerGone, _ResponseTooLarge, ValueError) as gone:
            worker.init_error = {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"Runtime exited during init: {gone}",
            }
        return worker, None

    def _credentials(self, spec: _FunctionSpec) -> dict[str, str]:
        """The execution role's temporary credentials (AssumeRole on this local_aws's STS, the
        function's name as session name), shared by the function's environments until they near
        their expiry, as Lambda refreshes them."""
        assert self.world is not None
        key = (spec.account_id, spec.role, spec.function_name)
        with self._pool_lock:
            cached = self._role_credentials.get(key)
            if cached is not None and cached[0] > time.monotonic():
                return cached[1]
        try:
            with self.world.lock:
                sts = self.world.backend("sts", spec.account_id, spec.region)
                role = sts.assume_role(
                    region_name=spec.region,
                    role_session_name=spec.function_name[:64],
                    role_arn=spec.role,
                    policy="",
                    duration=CREDENTIALS_SECONDS,
                    external_id="",
                )
            credentials = {
                "AWS_ACCESS_KEY_ID": role.access_key_id,
                "AWS_SECRET_ACCESS_KEY": role.secret_access_key,
                "AWS_SESSION_TOKEN": role.session_token,
            }
            self.world.mark_dirty()
        except Exception as error:  # a role STS cannot assume: the handler runs with no credentials
            # Never fall back to the account's own keys: local_aws treats those as the root user,
            # so a handler whose role cannot be assumed would act unrestricted.
            self.log.warning("could not assume %s for %s: %s", spec.role, spec.function_name, error)
            credentials = {}
        with self._pool_lock:
            self._role_credentials[key] = (time.monotonic() + CREDENTIALS_RENEW_SECONDS, credentials)
        return credentials

    def _release(self, worker: _Worker, healthy: bool) -> None:
        worker.last_used = time.monotonic()
        keep = False
        with self._pool_lock:
            self._busy.discard(worker)
            current = self._current.get(worker.identity)
            if healthy and worker.init_error is None and current == worker.fingerprint and self._code_root:
                self._idle.setdefault(worker.fingerprint, []).append(worker)
                keep = True
        if not keep:
            worker.kill()

    def _code_dir(self, spec: _FunctionSpec) -> str:
        """The function's code unpacked once per code hash (the task root, /var/task in AWS)."""
        assert self._code_root is not None, "the lambda component is not started"
        digest = hashlib.sha256(spec.code_bytes).hexdigest()
        target = os.path.join(self._code_root, digest)
        with self._code_lock:
            if not os.path.isdir(target):
                staging = tempfile.mkdtemp(dir=self._code_root)
                try:
                    if _unzipped_size(spec.code_bytes) > UNZIPPED_CODE_LIMIT:  # from an older state dir
                        raise zipfile.BadZipFile(f"unzips to more than {UNZIPPED_CODE_LIMIT} bytes")
                    with zipfile.ZipFile(io.BytesIO(spec.code_bytes)) as archive:
                        archive.extractall(staging)
                        _make_read_only_for_others(staging, archive)
                except zipfile.BadZipFile as error:
                    self.log.warning("code of %s is not unpacked: %s", spec.function_name, error)
                os.chmod(staging, 0o755)
                os.replace(staging, target)
        return target

    def _reap_idle_workers(self) -> None:
        assert self.world is not None
        while not self.world.stopping.wait(5.0):
            cutoff = time.monotonic() - IDLE_WORKER_SECONDS
            doomed: list[_Worker] = []
            with self._pool_lock:
                for fingerprint, idle in list(self._idle.items()):
                    keep = [w for w in idle if w.last_used >= cutoff and w.process.poll() is None]
                    doomed.extend(w for w in idle if w not in keep)
                    self._idle[fingerprint] = keep
            for worker in doomed:
                worker.kill()


def _make_read_only_for_others(root: str, archive: zipfile.ZipFile) -> None:
    """Directories 0755, files 0644 (0755 where the zip marks them executable), owned by the
    server: the sandbox user can import the code and run its binaries, never change them."""
    executable = {
        os.path.normpath(info.filename) for info in archive.infolist() if (info.external_attr >> 16) & 0o111
    }
    for here, dirs, files in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(here, name), 0o755)
        for name in files:
            path = os.path.join(here, name)
            relative = os.path.normpath(os.path.relpath(path, root))
            os.chmod(path, 0o755 if relative in executable else 0o644)


def _runtime() -> LambdaRuntime | None:
    try:
        component = current().components.get(LambdaRuntime.name)
    except RuntimeError:
        return None
    return component if isinstance(component, LambdaRuntime) else None


def _patched_invoke(self: LambdaFunction, body: Any, request_headers: Any, response_headers: Any) -> Any:
    runtime = _runtime()
    if runtime is None:
        return LambdaRuntime._original_invoke(self, body, request_headers, response_headers)
    return runtime.invoke_from_moto(self, body, request_headers, response_headers)


def _storage_getstate(self: Any) -> dict[str, Any]:
    state = dict(self.__dict__)
    if "_arns" in state:
        state["_arns"] = dict(state["_arns"])
    if isinstance(state.get("_aliases"), defaultdict):
        state["_aliases"] = dict(state["_aliases"])
    return state


def _storage_setstate(self: Any, state: dict[str, Any]) -> None:
    state = dict(state)
    if "_arns" in state:
        state["_arns"] = weakref.WeakValueDictionary(state["_arns"])
    if "_aliases" in state:
        state["_aliases"] = defaultdict(dict, state["_aliases"])
    self.__dict__.update(state)


# moto reads Invoke's qualifier as "qualifier" (lower case) from the query string or, failing
# that, from the JSON payload itself; the gateway hands the real ?Qualifier= over per thread.
_request_qualifier = threading.local()


def _note_invoke_qualifier(request: AwsRequest) -> None:
    if request.method == "POST" and request.path.rstrip("/").endswith("/invocations"):
        _request_qualifier.value = parse_qs(request.query_string).get("Qualifier", [None])[0]
        _request_qualifier.pending = True
    else:
        _request_qualifier.pending = False
    return None


def _patched_backend_invoke(
    self: LambdaBackend,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: Any,
) -> Any:
    if getattr(_request_qualifier, "pending", False):
        _request_qualifier.pending = False
        qualifier = _request_qualifier.value
    return LambdaRuntime._original_backend_invoke(
        self, function_name, qualifier, body, headers, response_headers
    )


def _unzipped_size(code: bytes) -> int:
    """What a zip declares it unpacks to; zipfile never inflates a member past its declared size."""
    try:
        with zipfile.ZipFile(io.BytesIO(code)) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError):
        return 0


_CODE_FIELDS = ("code_bytes", "code_size", "code_sha_256", "code_digest")


def _patched_set_code(self: LambdaFunction, updated_spec: dict[str, Any]) -> None:
    """CreateFunction and UpdateFunctionCode refuse a package over Lambda's unzipped quota, as
    Lambda does, before a zip bomb ever reaches the disk; an update leaves the old code in place."""
    saved = {name: getattr(self, name) for name in _CODE_FIELDS if hasattr(self, name)}
    saved_code = dict(self.code) if isinstance(getattr(self, "code", None), dict) else None
    LambdaRuntime._original_set_code(self, updated_spec)
    if _unzipped_size(getattr(self, "code_bytes", b"") or b"") <= UNZIPPED_CODE_LIMIT:
        return
    for name, value in saved.items():
        setattr(self, name, value)
    if saved_code is not None and updated_spec is not self.code:
        self.code = saved_code
    raise InvalidParameterValueException(f"Unzipped size must be smaller than {UNZIPPED_CODE_LIMIT} bytes")


def _refuse_blocked_runtime(runtime: str | None, operation: str) -> None:
    """CreateFunction / updates on a runtime past its block date fail as on AWS (`lambda_runtimes`)."""
    message = lambda_runtimes.refusal(runtime, operation)
    if message is not None:
        raise InvalidParameterValueException(message)


def _patched_create(self: LambdaBackend, spec: dict[str, Any]) -> LambdaFunction:
    _refuse_blocked_runtime(spec.get("Runtime"), lambda_runtimes.CREATE)
    return LambdaRuntime._original_create(self, spec)


def _patched_update_code(self: LambdaFunction, updated_spec: dict[str, Any]) -> dict[str, Any]:
    _refuse_blocked_runtime(self.run_time, lambda_runtimes.UPDATE)
    result = LambdaRuntime._original_update_code(self, updated_spec)
    runtime = _runtime()
    if runtime is not None:
        runtime.retire(self.account_id, self.region, self.function_name)
    return result


def _patched_update_config(self: LambdaFunction, config_updates: dict[str, Any]) -> dict[str, Any]:
    _refuse_blocked_runtime(config_updates.get("Runtime") or self.run_time, lambda_runtimes.UPDATE)
    result = LambdaRuntime._original_update_config(self, config_updates)
    runtime = _runtime()
    if runtime is not None:
        runtime.retire(self.account_id, self.region, self.function_name)
    return result


def _patched_delete(self: LambdaBackend, function_name: str, qualifier: str | None = None) -> None:
    fn = self.get_function(function_name, qualifier)
    LambdaRuntime._original_delete(self, function_name, qualifier)
    runtime = _runtime()
    if runtime is not None and fn is not None:
        runtime.retire(fn.account_id, fn.region, fn.function_name)


__all__ = ["FunctionNotFound", "Invocation", "LambdaRuntime", "UnsupportedRuntime"]
