"""Lambda Invoke: run the uploaded zip's handler in a warm, sandboxed process, as Lambda does.

moto stores functions but can run them only in Docker. Here `LambdaFunction.invoke` (which moto's
Invoke API, SNS and SQS all call) is replaced (`lambda_backend`): the function's code (ZipFile
bytes or the S3 object moto read at CreateFunction/UpdateFunctionCode) is unpacked once per code
hash into a task root the handler can read and not change, and the handler runs in a child
process (`local_aws/lambda_worker.py`) with the function's environment variables, its Timeout
and MemorySize and a real ``context`` object. Such a process is an execution environment
(`lambda_environment`): it imports the handler once and is kept warm (`lambda_pool`) for the
next invocation of the same function version with the same code and configuration;
UpdateFunctionCode, UpdateFunctionConfiguration and DeleteFunction retire it.

Uploaded code is untrusted: when the server runs as root the handler runs as an unprivileged
sandbox user, with an environment built from nothing but the function's and Lambda's variables,
``AWS_ENDPOINT_URL`` set to this local_aws and the execution role's temporary credentials from
this local_aws's STS, so a handler's boto3 clients talk to local_aws as that role, never to AWS
(`lambda_environment` says what it can and cannot reach).

Quotas are Lambda's: a package that unzips to more than 262,144,000 bytes is refused at
CreateFunction and UpdateFunctionCode, environment variables whose JSON text is over 4096 bytes
at CreateFunction and UpdateFunctionConfiguration (`lambda_backend`); a synchronous payload over
6 MB or an asynchronous one over 1 MB is refused with RequestEntityTooLargeException (HTTP 413,
`lambda_responses`); a response over 6,291,556 bytes becomes a ``Function.ResponseSizeTooLarge``
function error. A handler still running at its Timeout is killed with everything it started,
one past its MemorySize is killed and answered as Lambda answers a function that ran out of
memory (`lambda_invocation`); either way the next invocation gets a fresh environment.

The world lock is set down while a handler runs, so the handler's own boto3 calls, which reach this
local_aws through ``AWS_ENDPOINT_URL``, and every other request proceed meanwhile.

Other components call `LambdaRuntime.invoke` (``world.component("lambda").invoke(...)``) and get an
`Invocation` back; payload quotas are not applied to them (Firehose and event source mappings size
their own batches), the response quota is.

A handler imports what AWS's Python runtime offers and nothing else: the standard library, the
boto3 (botocore, s3transfer, jmespath, dateutil, urllib3, six) the runtime ships, its own code
and its layers (extracted under the function's /opt equivalent, whose ``python`` and
``python/lib/pythonX.Y/site-packages`` folders are on the path, `lambda_pool`); with AWS's
managed AWS SDK for pandas layer (``AWSSDKPandas-Python3xx`` of account 336392948345) it also
imports awswrangler, pandas, numpy and pyarrow (`lambda_managed_layers`); any other module fails
as on AWS with ``Runtime.ImportModuleError``.

LIMITATIONS: Python runtimes only (`lambda_model`); the boto3 offered is the server's version,
not the one AWS's runtime pins, and so are the packages of the AWS SDK for pandas layer (which
lacks the optional packages AWS's layer bundles: `lambda_managed_layers`). VPC config, reserved
concurrency (no throttling), extensions, SnapStart, response streaming, Function URLs and layer
permissions (a layer of another account) are not emulated.
Asynchronous (Event) invocations run on a small thread pool and are retried twice after a
function error (after 1 s and 2 s, not Lambda's minutes); destinations and DLQs are not used, and
pending ones are dropped at shutdown, not persisted. moto's own triggers (SNS subscriptions, SQS
mappings) invoke synchronously inside the request that fired them. Logs go to CloudWatch Logs
(``/aws/lambda/<name>``, one stream per execution environment); a single invocation's log keeps
its last 256 Ki characters. Where the sandbox differs from Lambda's (isolation by user, /tmp
without a quota, shared network, how memory is measured) is in `lambda_environment`'s
LIMITATIONS.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from moto.awslambda.exceptions import UnknownFunctionException
from moto.awslambda.models import LambdaFunction

from local_aws.components.base import Component
from local_aws.components.lambda_backend import install_patches
from local_aws.components.lambda_environment import Worker
from local_aws.components.lambda_invocation import log_text, run_event
from local_aws.components.lambda_managed_layers import answer_get_layer_version_by_arn
from local_aws.components.lambda_model import (
    FunctionNotFound,
    FunctionSpec,
    Invocation,
    UnsupportedRuntime,
    parse_function_ref,
    runtime_problem,
    spec_of,
)
from local_aws.components.lambda_pool import EnvironmentPool
from local_aws.components.lambda_responses import (
    CheckedPayload,
    InvalidRuntimeException,
    check_payload_size,
    note_invoke_qualifier,
    request_header,
    validate_payload,
)
from local_aws.components.lambda_storage import install_storage_pickling
from local_aws.world import DEFAULT_ACCOUNT_ID, World

LOG_TAIL_BYTES = 4096
ASYNC_RETRY_DELAYS = (1.0, 2.0)


class LambdaRuntime(Component):
    """Runs Lambda handlers in warm child processes; see the module docstring."""

    name = "lambda"
    order = 10

    def __init__(self) -> None:
        super().__init__()
        self.pool = EnvironmentPool(self.log)
        self._async: ThreadPoolExecutor | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def install(self, world: World) -> None:
        super().install(world)
        install_patches()
        install_storage_pickling()
        gateway = getattr(world, "gateway", None)
        if gateway is not None:
            gateway.add_interceptor(note_invoke_qualifier)
            gateway.add_interceptor(answer_get_layer_version_by_arn)

    def start(self) -> None:
        assert self.world is not None
        self.pool.open(self.world)
        self._async = ThreadPoolExecutor(max_workers=4, thread_name_prefix="local_aws-lambda-async")
        self.spawn(self.pool.reap_idle, "lambda-reaper")

    def stop(self) -> None:
        if self._async is not None:
            self._async.shutdown(wait=False, cancel_futures=True)
        super().stop()
        self.pool.close()

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
        arn_account, arn_region, qualifier = parse_function_ref(function_name_or_arn, qualifier)
        account_id, region = arn_account or account_id, arn_region or region
        with self.world.lock:
            try:
                backend = self.world.backend("lambda", account_id, region)
                fn = backend.get_function(function_name_or_arn, qualifier)
            except (UnknownFunctionException, KeyError) as error:
                raise FunctionNotFound(f"Function not found: {function_name_or_arn}") from error
            if fn is None:
                raise FunctionNotFound(f"Function not found: {function_name_or_arn}")
            spec = spec_of(fn, qualifier)
        problem = runtime_problem(spec)
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
        invocation_type = request_header(request_headers, "X-Amz-Invocation-Type") or "RequestResponse"
        check_payload_size(payload, invocation_type)
        validate_payload(payload)
        qualifier = None if str(fn.version) == "$LATEST" else str(fn.version)
        spec = spec_of(fn, qualifier)
        problem = runtime_problem(spec)
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
        if (request_header(request_headers, "X-Amz-Log-Type") or "None") == "Tail":
            response_headers["x-amz-log-result"] = invocation.log_result
        return CheckedPayload(invocation.payload)

    def retire(self, account_id: str, region: str, function_name: str) -> None:
        """Stop the idle environments of a function whose code or configuration changed."""
        self.pool.retire(account_id, region, function_name)

    # -- execution --------------------------------------------------------------------------
    def _submit_async(self, spec: FunctionSpec, payload: bytes) -> None:
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

    def _execute(self, spec: FunctionSpec, payload: bytes) -> Invocation:
        """Run one invocation on a warm worker; the caller does not hold the world lock."""
        request_id = str(uuid.uuid4())
        worker, error = self.pool.acquire(spec)
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
            outcome = run_event(worker, spec, request_id, payload, started)
            result, error, log, status, healthy, max_memory = outcome
        elif error.get("errorType", "").startswith("Runtime.") or "stackTrace" in error:
            # Init failures (import errors...) carry the request id and a stack, like handler errors.
            error = {**error, "requestId": request_id, "stackTrace": error.get("stackTrace", [])}
        duration_ms = (time.monotonic() - started) * 1000
        if worker is not None:
            self.pool.release(worker, healthy)
        if error is not None:
            result = json.dumps(error).encode()
        full_log = log_text(spec, request_id, init_log, log, duration_ms, init_ms, max_memory, status)
        self._write_cloudwatch(spec, worker, full_log)
        return Invocation(
            status_code=200,
            payload=result,
            function_error=None if error is None else "Unhandled",
            log_result=base64.b64encode(full_log.encode()[-LOG_TAIL_BYTES:]).decode(),
            executed_version=spec.version,
            request_id=request_id,
        )

    def _write_cloudwatch(self, spec: FunctionSpec, worker: Worker | None, text: str) -> None:
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


__all__ = ["FunctionNotFound", "Invocation", "LambdaRuntime", "UnsupportedRuntime"]
