"""Lambda Invoke: run the handler from the uploaded zip in a warm Python process, as Lambda does.

moto stores functions but can run them only in Docker. Here `LambdaFunction.invoke` (which
moto's Invoke API, SNS and SQS all call) is replaced: the function's code (ZipFile bytes or the
S3 object moto read at CreateFunction/UpdateFunctionCode) is unpacked once per code hash, and
the handler runs in a child process (`sys.executable` + `local_aws/lambda_worker.py`) with the
function's environment variables, its Timeout and a real ``context`` object. Such a process is
an execution environment: it imports the handler once and is kept warm for the next invocation
of the same function version with the same code and configuration; UpdateFunctionCode,
UpdateFunctionConfiguration and DeleteFunction retire it. A timeout kills it and answers as
Lambda does (``Task timed out after N.NN seconds``, FunctionError Unhandled).

The world lock is set down while a handler runs, so the handler's own boto3 calls, which reach
this local_aws through ``AWS_ENDPOINT_URL``, and every other request proceed meanwhile.

Other components call `LambdaRuntime.invoke` (``world.component("lambda").invoke(...)``) and
get an `Invocation` back.

LIMITATIONS: Python runtimes only (python3.x), all run by the interpreter that runs local_aws,
whatever minor version the function names; any other runtime or PackageType Image fails with
InvalidRuntimeException (HTTP 502). Layers, VPC config, reserved concurrency (no throttling),
memory limits (MemorySize is reported, not enforced), /tmp isolation, extensions, SnapStart,
response streaming and Function URLs are not emulated. The child gets a small environment, not
the server's: the function's variables, Lambda's reserved ones, ``AWS_ENDPOINT_URL`` set to this
local_aws, dummy credentials (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/
``AWS_SESSION_TOKEN``) and ``AWS_REGION``/``AWS_DEFAULT_REGION`` of the function, so a handler's
boto3 clients talk to local_aws and never to AWS; the execution role is not assumed or
enforced. Asynchronous (Event) invocations run on a small thread pool and are retried twice
after a function error (after 1 s and 2 s, not Lambda's minutes); destinations and DLQs are not
used, and pending ones are dropped at shutdown, not persisted. moto's own triggers (SNS
subscriptions, SQS mappings) invoke synchronously inside the request that fired them. There is
no concurrency limit: each concurrent invocation of a busy function starts another worker. Output written by native code
straight to file descriptor 1 or 2 goes to the server's stderr, not to the function's log.
Logs go to CloudWatch Logs (``/aws/lambda/<name>``, one stream per execution environment).
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
import struct
import subprocess
import sys
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

from moto.awslambda.exceptions import LambdaClientError, UnknownFunctionException
from moto.awslambda.models import LambdaBackend, LambdaFunction, LambdaStorage, LayerStorage
from moto.awslambda.utils import make_function_arn

from local_aws.components.base import Component
from local_aws.gateway import AwsRequest
from local_aws.world import DEFAULT_ACCOUNT_ID, World, current

WORKER_SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lambda_worker.py")
LOG_TAIL_BYTES = 4096
INIT_TIMEOUT_SECONDS = 10.0
IDLE_WORKER_SECONDS = 300.0
ASYNC_RETRY_DELAYS = (1.0, 2.0)
_LENGTH = struct.Struct(">I")
# Environment variables passed through from the server so the child interpreter works at all.
_INHERITED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "HOME", "TMPDIR", "SYSTEMROOT", "VIRTUAL_ENV")


class FunctionNotFound(LookupError):
    """No such function (or version/alias) in that account and region."""


class UnsupportedRuntime(RuntimeError):
    """The function's runtime cannot run here (only Python runtimes can)."""


class InvalidRuntimeException(LambdaClientError):
    """Invoke's answer for a runtime this Lambda cannot run, as AWS names it."""

    code = 502

    def __init__(self, message: str) -> None:
        super().__init__("InvalidRuntimeException", message)


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


class _WorkerGone(Exception):
    """The worker process ended or stopped answering."""


class _Worker:
    """One child process: a warm execution environment for one function fingerprint."""

    def __init__(self, spec: _FunctionSpec, code_dir: str, endpoint_url: str | None) -> None:
        self.identity = spec.identity
        self.fingerprint = spec.fingerprint
        now = datetime.now(UTC)
        self.log_stream = f"{now:%Y/%m/%d}/[{spec.version}]{uuid.uuid4().hex}"
        self.last_used = time.monotonic()
        self.init_log = ""
        self.init_ms: float | None = None
        self.init_error: dict[str, Any] | None = None
        self._buffer = bytearray()
        self.process = subprocess.Popen(
            [sys.executable, "-u", WORKER_SCRIPT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=code_dir,
            env=_child_environment(spec, code_dir, self.log_stream, endpoint_url),
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
        header_length = _LENGTH.unpack(self._read(_LENGTH.size, deadline))[0]
        header = json.loads(self._read(header_length, deadline))
        body_length = _LENGTH.unpack(self._read(_LENGTH.size, deadline))[0]
        return header, self._read(body_length, deadline)

    def _read(self, size: int, deadline: float) -> bytes:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        while len(self._buffer) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                raise TimeoutError
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise _WorkerGone(f"exit status {self.process.wait()}")
            self._buffer += chunk
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def _child_environment(
    spec: _FunctionSpec, code_dir: str, log_stream: str, endpoint_url: str | None
) -> dict[str, str]:
    env = {name: os.environ[name] for name in _INHERITED_ENV if name in os.environ}
    env.update({key: str(value) for key, value in spec.environment.items()})
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
            "LAMBDA_RUNTIME_DIR": os.path.dirname(WORKER_SCRIPT),
            "TZ": "UTC",
            "PYTHONUNBUFFERED": "1",
            # Dummy credentials: a handler's boto3 reaches this local_aws, never real AWS.
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
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
    _original_backend_invoke: Any = None

    def __init__(self) -> None:
        super().__init__()
        self._pool_lock = threading.Lock()
        self._idle: dict[str, list[_Worker]] = {}
        self._busy: set[_Worker] = set()
        self._current: dict[tuple[str, str, str, str], str] = {}
        self._code_root: str | None = None
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
            LambdaFunction.invoke = _patched_invoke  # type: ignore[method-assign]
            LambdaFunction.update_function_code = _patched_update_code  # type: ignore[method-assign]
            LambdaFunction.update_configuration = _patched_update_config  # type: ignore[method-assign]
            LambdaBackend.delete_function = _patched_delete  # type: ignore[method-assign]
            cls._original_backend_invoke = LambdaBackend.invoke
            LambdaBackend.invoke = _patched_backend_invoke  # type: ignore[method-assign]
            # moto's function and layer indexes hold a WeakValueDictionary and a lambda-made
            # defaultdict, which pickle cannot write: without this --state-dir fails on Lambda.
            for storage in (LambdaStorage, LayerStorage):
                storage.__getstate__ = _storage_getstate  # type: ignore[attr-defined]
                storage.__setstate__ = _storage_setstate  # type: ignore[attr-defined]
        gateway = getattr(world, "gateway", None)
        if gateway is not None:
            gateway.add_interceptor(_note_invoke_qualifier)

    def start(self) -> None:
        self._code_root = tempfile.mkdtemp(prefix="local_aws-lambda-")
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
        _validate_payload(payload)
        qualifier = None if str(fn.version) == "$LATEST" else str(fn.version)
        spec = _spec_of(fn, qualifier)
        problem = self._runtime_problem(spec)
        if problem:
            raise InvalidRuntimeException(problem)
        invocation_type = _header(request_headers, "X-Amz-Invocation-Type") or "RequestResponse"
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
        return invocation.payload

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
            header = {
                "request_id": request_id,
                "invoked_function_arn": spec.invoked_arn,
                "deadline_ms": time.time() * 1000 + spec.timeout * 1000,
            }
            try:
                worker.send(header, payload)
                reply, result = worker.read_frame(started + spec.timeout)
                log, healthy = reply.get("log", ""), True
                max_memory = int(reply.get("max_memory_mb") or 0)
                if not reply.get("ok"):
                    error = json.loads(result)
            except TimeoutError:
                status = "timeout"
                error = {
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"RequestId: {request_id} Error: "
                    f"Task timed out after {spec.timeout:.2f} seconds",
                }
                stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
                log = f"{stamp} {request_id} Task timed out after {spec.timeout:.2f} seconds\n"
            except _WorkerGone as gone:
                status = "error"
                error = {
                    "errorType": "Runtime.ExitError",
                    "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {gone}",
                }
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
            worker = _Worker(spec, self._code_dir(spec), self.world.endpoint_url)
        except OSError as error:
            return None, {
                "errorType": "Runtime.Unknown",
                "errorMessage": f"could not start the runtime: {error}",
            }
        with self._pool_lock:
            self._busy.add(worker)
        try:
            worker.initialise(max(INIT_TIMEOUT_SECONDS, spec.timeout))
        except TimeoutError:
            worker.init_error = {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"Init phase timed out after {max(INIT_TIMEOUT_SECONDS, spec.timeout):.2f} seconds",
            }
        except _WorkerGone as gone:
            worker.init_error = {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"Runtime exited during init: {gone}",
            }
        return worker, None

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
                    with zipfile.ZipFile(io.BytesIO(spec.code_bytes)) as archive:
                        archive.extractall(staging)
                except zipfile.BadZipFile:
                    self.log.warning("code of %s is not a zip file", spec.function_name)
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


def _patched_update_code(self: LambdaFunction, updated_spec: dict[str, Any]) -> dict[str, Any]:
    result = LambdaRuntime._original_update_code(self, updated_spec)
    runtime = _runtime()
    if runtime is not None:
        runtime.retire(self.account_id, self.region, self.function_name)
    return result


def _patched_update_config(self: LambdaFunction, config_updates: dict[str, Any]) -> dict[str, Any]:
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
