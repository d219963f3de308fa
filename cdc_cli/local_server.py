"""Starting the embedded AWS (`python -m local_aws serve`) in a process of its own, on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

HEALTH_PATH = "/_local_aws/health"


class LocalAWSStartError(RuntimeError):
    """The embedded AWS exited at start or did not answer its health check in time."""


def free_port() -> int:
    """A loopback TCP port nothing listens on right now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_local_aws(
    log_path: Path,
    *,
    cwd: Path,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> tuple[str, subprocess.Popen[bytes]]:
    """Serve on a free loopback port, output to `log_path`; return the endpoint once it is healthy.

    `args` are more ``serve`` options (``--log-level WARNING``). The caller stops the process.
    """
    port = free_port()
    log = open(log_path, "wb")  # noqa: SIM115 - the server writes to it for as long as it runs
    process = subprocess.Popen(
        [sys.executable, "-m", "local_aws", "serve", "--port", str(port), *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env=dict(os.environ if env is None else env),
    )
    log.close()  # the child has its own descriptor
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LocalAWSStartError(f"the embedded AWS exited at start; see {log_path}")
        try:
            with urllib.request.urlopen(endpoint + HEALTH_PATH, timeout=1):
                return endpoint, process
        except OSError:
            time.sleep(0.2)
    process.kill()
    process.wait()
    raise LocalAWSStartError(f"the embedded AWS did not answer within {timeout:g} s; see {log_path}")
