"""A Lambda execution environment: one sandboxed child process that imports a handler and stays warm.

The child runs `local_aws/lambda_worker.py`, started from a read-only runtime directory with the
function's code as its working directory, and speaks a framed protocol on its stdin and stdout
(a 4-byte length and a JSON header, a 4-byte length and a body, each way). It runs untrusted
code, so every frame it sends is checked before it is read: a header over 2 MiB or a body over
Lambda's response quota ends the environment.

When the server runs as root, the child runs as the unprivileged system user
``local_aws_lambda`` (created if missing; see `local_aws.lambda_sandbox`), with no supplementary
groups, in a session of its own, so it cannot read the server's memory or environment, signal
it, or touch its state dir (0700). Its environment is built from nothing: the function's
variables, Lambda's runtime variables (``_HANDLER``, ``AWS_LAMBDA_*``, ``AWS_REGION``,
``AWS_EXECUTION_ENV``, ``LAMBDA_TASK_ROOT``, ``LAMBDA_RUNTIME_DIR``, ``TZ=:UTC``, ``LANG``,
``PATH``), ``AWS_ENDPOINT_URL`` set to this local_aws and the execution role's temporary
credentials, so a handler's boto3 clients talk to local_aws as that role, never to AWS.

While the server waits for an answer it polls the child's peak resident memory (the kernel's
VmHWM, every 20 ms and when it answers): past MemorySize the whole session is killed, as Lambda
kills a function that runs out of memory.

Each environment has a /tmp of its own: a fresh directory of the sandbox user's, mounted on /tmp
in a mount namespace of the worker's (made between fork and exec, before the switch to the
sandbox user; `local_aws.lambda_sandbox.enter_sandbox`), kept while the environment is warm and
removed with it, as Lambda's /tmp is.

LIMITATIONS: isolation is by user, not by VM: all functions share one sandbox user, so they can
read each other's code, and a function that learns another environment's /tmp folder (from
``/proc/<pid>/mountinfo``) can reach it by its host path (each worker makes itself
non-dumpable, so another function cannot read its environment or memory through /proc or
ptrace; a side effect is that a handler cannot read its own /proc/self/environ either,
os.environ is unaffected; but a program a handler executes is dumpable again, and a process that
leaves the worker's session with setsid outlives it). /tmp has no size quota (Lambda's default
ephemeral storage is 512 MB, EphemeralStorage up to 10,240 MB; here a handler may fill the
host's disk). Where the host refuses a mount namespace (some containers) or the server is not
root, /tmp is the host's, shared by every function and the host. Handlers share the host's network (a handler reaches any service
listening on the host's loopback, not only this local_aws) and whatever files on the host are
world-readable; the import path itself holds only the function's code, its layers, the
runtime's boto3 and the standard library (`local_aws.lambda_sandbox`). When the server does not
run as root there is no other user to switch to: the handler runs as the server's user in a
separate process with a scrubbed environment, and can then read ``/proc/<server>/environ`` and
``mem``, signal the server, write its state dir and read whatever that user can read; run the
server as root (it drops handlers to the sandbox user) or in a container to contain untrusted
code. Memory: "Max Memory Used" is the worker process's own peak resident set (VmHWM; about
13 MB for a handler that imports nothing), never the server's. Only the worker's own peak is
measured, so memory held by processes the handler spawns is not counted (each is capped by the
same address-space limit); between two polls a burst is bounded by an address-space limit of
MemorySize + 1 GiB (RLIMIT_AS, which over-counts: thread arenas and mapped libraries), past which
an allocation raises MemoryError in the handler instead of a kill. A worker past MemorySize is
killed (Runtime.ExitError, "Error Type: Runtime.OutOfMemory") and its REPORT shows the peak that
was measured, which may exceed MemorySize by what it allocated between two polls.
Processes and threads are capped at 1,024 per sandbox user (all environments together, not per
environment), file descriptors at 1,024 per process. Output written by native code straight to
file descriptor 1 or 2 goes to the server's stderr, not to the function's log.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from local_aws.components.lambda_model import RESPONSE_PAYLOAD_LIMIT, FunctionSpec
from local_aws.lambda_sandbox import enter_sandbox, sandbox

WORKER_SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lambda_worker.py")
WORKER_NAME = "lambda_worker.py"
_LENGTH = struct.Struct(">I")
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


class WorkerGone(Exception):
    """The worker process ended or stopped answering."""


class OutOfMemory(Exception):
    """The worker's resident memory passed the function's MemorySize: it has been killed."""


class ResponseTooLarge(Exception):
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


class Worker:
    """One child process: a warm execution environment for one function fingerprint.

    Started as the sandbox user (see `local_aws.lambda_sandbox`) in a session of its own, so a
    kill ends whatever the handler spawned too. While the server waits for it, its peak resident
    memory is polled: past the function's MemorySize it is killed, as Lambda kills a function
    that runs out of memory.
    """

    def __init__(
        self,
        spec: FunctionSpec,
        code_dir: str,
        runtime_dir: str,
        endpoint_url: str | None,
        credentials: dict[str, str],
        layer_paths: tuple[str, ...] = (),
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
        self.tmp_dir = (
            _private_tmp(os.path.dirname(runtime_dir), box.uid, box.gid) if box.private_tmp else None
        )
        # -I -S: no site-packages, no PYTHON* variables, no user site: the import path is the
        # task root, the layers, the runtime's boto3 and the standard library (the worker adds them).
        command = [box.python, "-I", "-S", "-u", os.path.join(runtime_dir, WORKER_NAME)]
        command += ["--address-space-mb", str(spec.memory_size + ADDRESS_SPACE_HEADROOM_MB)]
        if box.isolated:
            command += ["--max-processes", str(MAX_PROCESSES)]
        for layer_path in layer_paths:
            command += ["--layer", layer_path]
        for site_dir in box.site_dirs:
            command += ["--site", site_dir]
        env = _child_environment(spec, code_dir, runtime_dir, self.log_stream, endpoint_url, credentials)
        if box.library_path:
            env["LD_LIBRARY_PATH"] = box.library_path
        enter = enter_sandbox(box, self.tmp_dir) if box.isolated or box.private_tmp else None
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=code_dir,
            env=env,
            start_new_session=True,
            umask=0o077,
            preexec_fn=enter,  # noqa: PLW1509 - only pre-resolved system calls run there
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
            raise WorkerGone(str(error)) from error

    def read_frame(self, deadline: float) -> tuple[dict[str, Any], bytes]:
        """One frame from the worker. The worker runs untrusted code: every length is checked."""
        header_length = _LENGTH.unpack(self._read(_LENGTH.size, deadline))[0]
        if header_length > MAX_HEADER_BYTES:
            self.kill()
            raise WorkerGone(f"the runtime sent a malformed frame ({header_length} bytes of header)")
        try:
            header = json.loads(self._read(header_length, deadline))
            if not isinstance(header, dict):
                raise ValueError("not an object")
        except ValueError as error:
            self.kill()
            raise WorkerGone(f"the runtime sent a malformed frame: {error}") from error
        body_length = _LENGTH.unpack(self._read(_LENGTH.size, deadline))[0]
        if body_length > RESPONSE_PAYLOAD_LIMIT:
            self.kill()
            raise ResponseTooLarge(body_length)
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
                raise WorkerGone(_exit_description(self.process.wait()))
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
            raise OutOfMemory(self.peak_memory_mb)

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
        if self.tmp_dir is not None:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)


def _private_tmp(root: str, uid: int | None, gid: int | None) -> str:
    """The environment's own /tmp: a fresh directory only the sandbox user can use, under a
    folder of the server's that no one else can list (its name is not guessable)."""
    parent = os.path.join(root, "tmp")
    with contextlib.suppress(FileExistsError):
        os.mkdir(parent, 0o711)
    path = tempfile.mkdtemp(dir=parent)
    if uid is not None and gid is not None:
        os.chown(path, uid, gid)
    os.chmod(path, 0o700)
    return path


def _child_environment(
    spec: FunctionSpec,
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
