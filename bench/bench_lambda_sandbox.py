"""What the Lambda sandbox costs: cold starts and warm invocations, sandboxed and not.

Run: ``python -m bench.bench_lambda_sandbox [--cold 5] [--warm 50]``.

An in-process `LocalAWS` gets one function (the echo handler, MemorySize 128) and is invoked
through boto3. A cold start is forced by UpdateFunctionConfiguration before each cold
invocation (it retires the warm environment), so it includes starting the interpreter as the
sandbox user, minting the role's credentials and importing the handler. Warm invocations reuse
one environment; their wall time includes the server polling the worker's memory every 20 ms.

Two modes: ``sandboxed`` (what a root server does: the worker runs as ``local_aws_lambda``,
from the read-only mirror of the interpreter if the server's own is out of that user's reach)
and ``same user`` (what a non-root server does: the server's interpreter and user, still with
the scrubbed environment and the quotas). As root both are measured; otherwise only the second.
The time to prepare the sandbox (look up the user, check or build the mirror) is printed once.
The numbers are for reading, never for asserting.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
import zipfile
from typing import Any

import boto3

from local_aws import LocalAWS, lambda_sandbox

ECHO = "def handler(event, context):\n    return event\n"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", ECHO)
    return buffer.getvalue()


def _clients(endpoint: str) -> tuple[Any, Any]:
    options = {"endpoint_url": endpoint, "region_name": "us-east-1"}
    options |= {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client("lambda", **options), boto3.client("iam", **options)


# CreateFunction answers Pending and an update InProgress: boto3's waiters, polling fast.
WAITER = {"Delay": 0.1, "MaxAttempts": 600}


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"p50 {statistics.median(ordered):7.1f} ms   p95 {p95:7.1f} ms   ({len(ordered)} runs)"


def _measure(lam: Any, name: str, cold: int, warm: int) -> tuple[list[float], list[float]]:
    colds: list[float] = []
    for round_ in range(cold):
        lam.update_function_configuration(FunctionName=name, Description=f"cold {round_}")
        # The update retires the warm environment; the next change waits until it is Successful.
        lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=WAITER)
        started = time.perf_counter()
        lam.invoke(FunctionName=name, Payload=b'{"n": 1}')["Payload"].read()
        colds.append((time.perf_counter() - started) * 1000)
    warms: list[float] = []
    for _ in range(warm):
        started = time.perf_counter()
        lam.invoke(FunctionName=name, Payload=b'{"n": 1}')["Payload"].read()
        warms.append((time.perf_counter() - started) * 1000)
    return colds, warms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=5, help="cold starts per mode")
    parser.add_argument("--warm", type=int, default=50, help="warm invocations per mode")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    prepared = lambda_sandbox.sandbox()
    print(f"prepare the sandbox: {(time.perf_counter() - started) * 1000:.1f} ms")
    print(f"  interpreter : {prepared.python}")
    print(
        f"  runs as uid : {prepared.uid if prepared.isolated else os.geteuid()} ({'sandboxed' if prepared.isolated else 'same user'})"
    )

    modes = [("sandboxed", prepared)] if prepared.isolated else []
    modes.append(("same user", lambda_sandbox.Sandbox(None, None, sys.executable, prepared.site_dirs)))
    server = LocalAWS(port=0).start()
    try:
        lam, iam = _clients(server.endpoint_url)
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        role = iam.create_role(RoleName="bench-lambda", AssumeRolePolicyDocument=json.dumps(trust))["Role"][
            "Arn"
        ]
        for label, box in modes:
            lambda_sandbox._prepared = box
            name = f"bench-{label.replace(' ', '-')}"
            lam.create_function(
                FunctionName=name,
                Runtime="python3.11",
                Role=role,
                Handler="app.handler",
                Code={"ZipFile": _zip()},
                MemorySize=128,
            )
            lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=WAITER)
            colds, warms = _measure(lam, name, args.cold, args.warm)
            print(f"{label:>9} cold start : {_ms(colds)}")
            print(f"{label:>9} warm invoke: {_ms(warms)}")
    finally:
        lambda_sandbox._prepared = prepared
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
