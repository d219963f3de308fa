"""`python -m local_aws serve` in a child process, for tests that must kill and restart the server.

The session fixture runs local_aws inside the test process, which cannot be killed without ending
the test. `ServerProcess` runs the real command line instead: on a free loopback port, with a state
directory, its output kept in a log file next to that directory so a failing test can show it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from cdc_cli.local_server import free_port
from tests.support import wait_until

REPO = Path(__file__).resolve().parents[2]
HEALTH_PATH = "/_local_aws/health"


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }


class ServerProcess:
    """One ``python -m local_aws serve --state-dir DIR`` child; `start` it again after `kill`.

    The port is chosen once, so a restarted server answers on the same endpoint, as a restarted
    service would. Each run appends to ``<state_dir>.log``.
    """

    def __init__(self, state_dir: str | os.PathLike[str], snapshot_interval: float = 2.0) -> None:
        self.state_dir = str(state_dir)
        self.snapshot_interval = snapshot_interval
        self.extra_args: list[str] = []  # e.g. ["--recover"] for the next start
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.state_dir.rstrip(os.sep) + ".log"
        self.process: subprocess.Popen[bytes] | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "local_aws",
            "serve",
            "--port",
            str(self.port),
            "--state-dir",
            self.state_dir,
            "--snapshot-interval",
            str(self.snapshot_interval),
            "--log-level",
            "WARNING",
            *self.extra_args,
        ]

    def start(self, timeout: float = 60.0) -> ServerProcess:
        """Start the server and wait until its health endpoint answers."""
        assert self.process is None or self.process.poll() is not None, "already running"
        with open(self.log_path, "ab") as log:
            # A session of its own, so that cleanup can end the server's Lambda workers too.
            self.process = subprocess.Popen(
                self.command(),
                cwd=REPO,
                env=_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(self._healthy, timeout=timeout, interval=0.1, what=f"local_aws on port {self.port}")
        return self

    def refused(self, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run the command line expecting it to refuse to start; its exit code and output."""
        done = subprocess.run(
            self.command(), cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout
        )
        assert done.returncode != 0, f"local_aws started:\n{done.stdout}{done.stderr}"
        return done

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"local_aws exited with {self.process.returncode}:\n{self.log_tail()}")
        try:
            with urllib.request.urlopen(self.endpoint_url + HEALTH_PATH, timeout=2) as answer:
                return json.loads(answer.read()).get("status") == "running"
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def kill(self, group: bool = False) -> None:
        """SIGKILL the server: no final snapshot, no clean shutdown of anything.

        ``group=True`` kills its whole session at the same instant: a snapshot child and the
        Lambda workers too, as a machine's crash or an OOM kill of the service would.
        """
        assert self.process is not None
        if group:
            os.killpg(self.process.pid, signal.SIGKILL)
        else:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """Stop the server cleanly (SIGTERM), then end whatever it left behind in its session."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        # Lambda workers of a killed server leave once their stdin closes; this catches stragglers.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- clients and diagnostics ------------------------------------------------------------
    def client(self, service: str, retries: int = 3) -> Any:
        """A boto3 client for this server; ``retries=0`` makes a dead server fail a call at once."""
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",  # never a developer's real credentials
            aws_secret_access_key="testing",
            config=Config(
                retries={"total_max_attempts": retries + 1, "mode": "standard"},
                connect_timeout=5,
                read_timeout=60,
            ),
        )

    def log_tail(self, lines: int = 60) -> str:
        """The end of the server's log, for assertion messages."""
        try:
            with open(self.log_path, "rb") as log:
                return b"".join(log.readlines()[-lines:]).decode("utf-8", "replace")
        except OSError:
            return "(no log)"
