"""The pool of Lambda execution environments: warm ones kept, stale ones retired, code unpacked once.

An environment (`lambda_environment.Worker`) serves one function version with one code hash and
configuration (its fingerprint). After an invocation it waits, idle, for the next invocation of
that fingerprint; UpdateFunctionCode, UpdateFunctionConfiguration and DeleteFunction retire it,
and one idle for five minutes is stopped. A function's code is unpacked once per code hash into a
task root (/var/task on AWS) the server owns and the sandbox user can read and not change; the
runtime (/var/runtime) is a read-only copy of `local_aws/lambda_worker.py` beside it, and a
function's layers are extracted, in order, once per list of layer versions into its /opt
equivalent, whose ``python`` folders go on the import path as on AWS, followed by the
packages of AWS's managed AWS SDK for pandas layer when the function names it
(`lambda_managed_layers`). Each new
environment gets the execution role's temporary credentials from this local_aws's STS
(AssumeRole, session named after the function), shared by the function's environments until they
near their expiry, as Lambda refreshes them.

LIMITATIONS: there is no concurrency limit (reserved concurrency is not emulated, nothing is
throttled): each concurrent invocation of a busy function starts another environment. A layer
version deleted before any environment of a function using it started cannot be extracted any
more (AWS keeps a copy for the functions that use it): the function then runs without it. The
250 MB quota on a function's unzipped code and layers together is checked for the code only.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
import zipfile
from typing import Any

from local_aws.components import lambda_managed_layers
from local_aws.components.lambda_environment import (
    WORKER_NAME,
    WORKER_SCRIPT,
    OutOfMemory,
    ResponseTooLarge,
    Worker,
    WorkerGone,
)
from local_aws.components.lambda_model import UNZIPPED_CODE_LIMIT, FunctionSpec, unzipped_size
from local_aws.lambda_sandbox import code_root_parent
from local_aws.world import World

INIT_TIMEOUT_SECONDS = 10.0
IDLE_WORKER_SECONDS = 300.0
# Temporary credentials of the execution role: minted for an hour, renewed after 45 minutes.
CREDENTIALS_SECONDS = 3600
CREDENTIALS_RENEW_SECONDS = 2700


class EnvironmentPool:
    """Warm execution environments by fingerprint; `open` when the server starts, `close` at its stop."""

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self.world: World | None = None
        self._pool_lock = threading.Lock()
        self._idle: dict[str, list[Worker]] = {}
        self._busy: set[Worker] = set()
        self._current: dict[tuple[str, str, str, str], str] = {}
        self._code_root: str | None = None
        self._runtime_dir: str | None = None
        self.role_credentials: dict[tuple[str, str, str], tuple[float, dict[str, str]]] = {}
        self._code_lock = threading.Lock()

    def open(self, world: World) -> None:
        self.world = world
        # Owned by the server and readable, never writable, by the sandbox user: the task root
        # (/var/task) and the runtime (/var/runtime) of every function live here.
        self._code_root = tempfile.mkdtemp(prefix="local_aws-lambda-", dir=code_root_parent())
        os.chmod(self._code_root, 0o755)
        self._runtime_dir = os.path.join(self._code_root, "runtime")
        os.mkdir(self._runtime_dir, 0o755)
        os.chmod(self._runtime_dir, 0o755)
        shutil.copyfile(WORKER_SCRIPT, os.path.join(self._runtime_dir, WORKER_NAME))
        os.chmod(os.path.join(self._runtime_dir, WORKER_NAME), 0o644)

    def close(self) -> None:
        """Stop every environment, idle or busy, and remove the unpacked code."""
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

    def retire(self, account_id: str, region: str, function_name: str) -> None:
        """Stop the idle workers of a function whose code or configuration changed."""
        doomed: list[Worker] = []
        with self._pool_lock:
            for identity in [i for i in self._current if i[:3] == (account_id, region, function_name)]:
                fingerprint = self._current.pop(identity)
                doomed.extend(self._idle.pop(fingerprint, []))
        for worker in doomed:
            worker.kill()

    def acquire(self, spec: FunctionSpec) -> tuple[Worker | None, dict[str, Any] | None]:
        """A warm worker for this spec, or a new one; an error dict if none could start."""
        assert self.world is not None
        doomed: list[Worker] = []
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
            worker = Worker(
                spec,
                self._code_dir(spec),
                self._runtime_dir,
                self.world.endpoint_url,
                credentials,
                self._layer_paths(spec),
            )
        except (OSError, RuntimeError, KeyError, subprocess.SubprocessError) as error:
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
        except OutOfMemory:
            worker.init_error = {
                "errorType": "Runtime.ExitError",
                "errorMessage": "Runtime exited during init: signal: killed",
            }
        except (WorkerGone, ResponseTooLarge, ValueError) as gone:
            worker.init_error = {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"Runtime exited during init: {gone}",
            }
        return worker, None

    def _credentials(self, spec: FunctionSpec) -> dict[str, str]:
        """The execution role's temporary credentials (AssumeRole on this local_aws's STS, the
        function's name as session name), shared by the function's environments until they near
        their expiry, as Lambda refreshes them."""
        assert self.world is not None
        key = (spec.account_id, spec.role, spec.function_name)
        with self._pool_lock:
            cached = self.role_credentials.get(key)
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
            self.role_credentials[key] = (time.monotonic() + CREDENTIALS_RENEW_SECONDS, credentials)
        return credentials

    def release(self, worker: Worker, healthy: bool) -> None:
        """Keep a healthy environment warm for its fingerprint; stop any other."""
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

    def _code_dir(self, spec: FunctionSpec) -> str:
        """The function's code unpacked once per code hash (the task root, /var/task in AWS)."""
        assert self._code_root is not None, "the lambda component is not started"
        digest = hashlib.sha256(spec.code_bytes).hexdigest()
        target = os.path.join(self._code_root, digest)
        with self._code_lock:
            if not os.path.isdir(target):
                staging = tempfile.mkdtemp(dir=self._code_root)
                try:
                    if unzipped_size(spec.code_bytes) > UNZIPPED_CODE_LIMIT:  # from an older state dir
                        raise zipfile.BadZipFile(f"unzips to more than {UNZIPPED_CODE_LIMIT} bytes")
                    with zipfile.ZipFile(io.BytesIO(spec.code_bytes)) as archive:
                        archive.extractall(staging)
                        _make_read_only_for_others(staging, archive)
                except zipfile.BadZipFile as error:
                    self.log.warning("code of %s is not unpacked: %s", spec.function_name, error)
                os.chmod(staging, 0o755)
                os.replace(staging, target)
        return target

    def _layer_paths(self, spec: FunctionSpec) -> tuple[str, ...]:
        """The folders a function's layers put on its import path: its own layers' (`_opt_paths`),
        then, if it names AWS's managed AWS SDK for pandas layer, that layer's packages."""
        own = tuple((arn, code) for arn, code in spec.layers if lambda_managed_layers.parse(arn) is None)
        paths = self._opt_paths(spec, own) if own else ()
        if len(own) < len(spec.layers):
            paths += (lambda_managed_layers.site(),)
        return paths

    def _opt_paths(self, spec: FunctionSpec, layers: tuple[tuple[str, bytes], ...]) -> tuple[str, ...]:
        """The layers extracted in order into one folder (/opt on AWS; a later layer's file
        replaces an earlier one's), once per list of layers; the folders Lambda puts on a Python
        function's import path: ``python/lib/pythonX.Y/site-packages`` and ``python``."""
        assert self._code_root is not None, "the lambda component is not started"
        names = "|".join(arn + ":" + hashlib.sha256(code).hexdigest() for arn, code in layers)
        target = os.path.join(self._code_root, "opt-" + hashlib.sha256(names.encode()).hexdigest()[:24])
        with self._code_lock:
            if not os.path.isdir(target):
                staging = tempfile.mkdtemp(dir=self._code_root)
                for arn, code in layers:
                    try:
                        with zipfile.ZipFile(io.BytesIO(code)) as archive:
                            archive.extractall(staging)
                            _make_read_only_for_others(staging, archive)
                    except zipfile.BadZipFile as error:
                        self.log.warning("layer %s of %s is not unpacked: %s", arn, spec.function_name, error)
                os.chmod(staging, 0o755)
                os.replace(staging, target)
        python = os.path.join(target, "python")
        return (os.path.join(python, "lib", spec.runtime, "site-packages"), python)

    def reap_idle(self) -> None:
        """Stop environments idle for IDLE_WORKER_SECONDS, until the server stops (a thread's loop)."""
        assert self.world is not None
        while not self.world.stopping.wait(5.0):
            cutoff = time.monotonic() - IDLE_WORKER_SECONDS
            doomed: list[Worker] = []
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
