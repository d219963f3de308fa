"""`make airflow`: the embedded AWS and Airflow (standalone) on this laptop, with a known login.

What it starts, in order:
1. `python -m local_aws serve` on 127.0.0.1:4566 with its state under `.state/local_aws/`, unless
   `AWS_ENDPOINT_URL` is already set (then the DAGs use that endpoint and nothing is started for AWS);
2. `airflow standalone` (scheduler, dag-processor, triggerer and api-server on SQLite with the
   LocalExecutor) with `AIRFLOW_HOME` under `airflow_home/`, this repository's `dags/` and `plugins/`
   folders, the local connections and settings from `cdc_pipeline.local_connections.local_env`,
   and every DAG unpaused.

The UI is at http://127.0.0.1:8080 (`--port` to change it); the login is printed once Airflow is up:
user `admin`, password `admin` unless `AIRFLOW_ADMIN_PASSWORD` is set. Ctrl-C stops everything
this launcher started (Airflow first, then the embedded AWS, which saves its state on the way out).

The functions here are also what `tests/deployment/` uses to start the same services on free ports.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
DEFAULT_HOME = REPO / "airflow_home"
DEFAULT_STATE_DIR = REPO / ".state" / "local_aws"
DEFAULT_AWS_PORT = 4566
DEFAULT_API_PORT = 8080
ADMIN_USER = "admin"
LOCAL_AWS_HEALTH = "/_local_aws/health"

# Variables of the calling shell (or of a pytest session) that would point Airflow elsewhere.
_INHERITED_AIRFLOW_PREFIXES = ("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "CDC_LAKE_")


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def write_passwords_file(home: Path, password: str) -> Path:
    """The simple auth manager's passwords file, so the login is the one we print, not a generated one."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "simple_auth_manager_passwords.json"
    path.write_text(json.dumps({ADMIN_USER: password}) + "\n")
    path.chmod(0o600)
    return path


def airflow_env(
    home: Path,
    endpoint_url: str,
    *,
    api_port: int = DEFAULT_API_PORT,
    password: str = "admin",
    prefix: str = "cdc-lake",
    buffer_seconds: int = 2,
    reports_dir: Path | None = None,
    base: Mapping[str, str] | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of every Airflow process of a local deployment.

    :param home: AIRFLOW_HOME (metadata DB, logs, the passwords file); created if missing.
    :param endpoint_url: the embedded AWS every connection and boto3 client points at.
    :param api_port: where the api-server listens; the execution API URL follows it.
    :param reports_dir: where ``publish_report`` writes each hour's report (default ``<home>/reports``;
        `make airflow` uses the repository's ``reports/``, as the README says).
    :param base: the environment to start from (default `os.environ`); Airflow and pipeline
        variables in it are dropped so that nothing from the calling shell leaks in.
    :param extra: set last (e.g. the executor and database of a Celery deployment).
    """
    from cdc_pipeline.local_connections import local_env

    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if not k.startswith(_INHERITED_AIRFLOW_PREFIXES)}
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        env.pop(name, None)
    passwords = write_passwords_file(home, password)
    api_url = f"http://127.0.0.1:{api_port}"
    env.update(local_env(endpoint_url, prefix=prefix, buffer_seconds=buffer_seconds))
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            # `airflow standalone` runs its components as `airflow ...` from PATH: the venv's.
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            # Task processes import the pipeline package; include/ and lambda/ sit beside it.
            "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
            "PYTHONUNBUFFERED": "1",
            "CDC_LAKE_LAMBDA_DIR": str(REPO / "lambda"),
            "CDC_LAKE_REPORTS_DIR": str(reports_dir or home / "reports"),
            # Schedule from the previous hour on: catching up every hour since the default start
            # would queue hundreds of runs for hours that have no data.
            "CDC_LAKE_HOURLY_START": source.get("CDC_LAKE_HOURLY_START")
            or (
                datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
            ).isoformat(),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": api_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
            # New DAG files show up within seconds rather than the default five minutes.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            # A busy laptop can keep the api-server from answering a task within the default 5 s.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
            # The LocalExecutor starts this many worker processes up front: a laptop needs few.
            "AIRFLOW__CORE__PARALLELISM": "8",
        }
    )
    env.update(extra or {})
    return env


@dataclass
class Service:
    """One child process, started in its own process group so that stopping it stops its children."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path | None
    log_file: IO[bytes] | None = None
    stop_signal: int = signal.SIGTERM

    def running(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 40) -> str:
        """The end of the service's log (for failure messages)."""
        if self.log_path is None or not self.log_path.exists():
            return "(output went to the terminal)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def request_stop(self) -> None:
        """Send the stop signal to the process group (returns at once)."""
        if self.running():
            _signal_group(self.process, self.stop_signal)

    def stop(self, timeout: float = 20.0) -> None:
        """Ask politely, then kill the whole process group."""
        self.request_stop()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(self.process, signal.SIGKILL)
            self.process.wait(10)
        # Children that outlived their parent (e.g. a task runner) go with the group.
        _signal_group(self.process, signal.SIGKILL)
        if self.log_file is not None:
            self.log_file.close()


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    # The group may be gone already (PermissionError: its id was reused by someone else's group).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


@dataclass
class Services:
    """The processes a deployment started; `stop_all()` stops them in reverse order."""

    started: list[Service] = field(default_factory=list)

    def start(
        self,
        name: str,
        argv: list[str],
        env: Mapping[str, str],
        log_path: Path | None = None,
        stop_signal: int = signal.SIGTERM,
        cwd: Path = REPO,
    ) -> Service:
        log_file = None
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_file = log_path.open("ab")
        process = subprocess.Popen(
            argv,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT if log_file is not None else None,
            # Own process group: Ctrl-C in the terminal reaches only the launcher, which then
            # stops each service in order (Airflow before the AWS it talks to).
            start_new_session=True,
        )
        service = Service(name, process, log_path, log_file, stop_signal)
        self.started.append(service)
        return service

    def stop_all(self) -> None:
        """Stop all but the first service together, then the first (the embedded AWS, when it was started here)."""
        first, rest = self.started[:1], self.started[1:]
        for service in rest:
            service.request_stop()
        for service in [*rest, *first]:
            service.stop()
        self.started.clear()

    def check_running(self) -> None:
        """Raise naming the first service that exited, with the end of its log."""
        for service in self.started:
            if not service.running():
                raise RuntimeError(
                    f"{service.name} exited with code {service.process.returncode}:\n{service.tail()}"
                )

    def logs(self, lines: int = 40) -> str:
        """The end of every service's log, for a failure message."""
        return "\n".join(f"----- {s.name} -----\n{s.tail(lines)}" for s in self.started)


def wait_until(
    check: Callable[[], Any],
    timeout: float,
    what: str,
    services: Services | None = None,
    interval: float = 0.5,
) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` (and a dead service)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if services is not None:
            services.check_running()
        try:
            result = check()
        except Exception as error:  # the service may not be up yet: keep the reason for the message
            last_error = error
            result = None
        if result:
            return result
        time.sleep(interval)
    detail = f" (last error: {last_error!r})" if last_error else ""
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError):
        return False


def start_local_aws(
    services: Services, port: int, state_dir: Path | None, log_path: Path | None, timeout: float = 60
) -> str:
    """Start the embedded AWS in its own process and wait for its health check; return its URL."""
    argv = [sys.executable, "-m", "local_aws", "serve", "--port", str(port)]
    if state_dir is not None:
        state_dir.mkdir(parents=True, exist_ok=True)
        argv += ["--state-dir", str(state_dir)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED_AIRFLOW_PREFIXES)}
    env["PYTHONUNBUFFERED"] = "1"
    services.start("local_aws", argv, env, log_path)
    endpoint_url = f"http://127.0.0.1:{port}"
    wait_until(lambda: http_ok(endpoint_url + LOCAL_AWS_HEALTH), timeout, "local_aws to answer", services)
    return endpoint_url


def airflow_healthy(api_url: str) -> bool:
    """The api-server answers and the scheduler, dag-processor and triggerer heartbeat."""
    try:
        with urllib.request.urlopen(f"{api_url}/api/v2/monitor/health", timeout=5) as response:
            health = json.load(response)
    except (urllib.error.URLError, OSError, ValueError):
        return False
    components = ("metadatabase", "scheduler", "triggerer", "dag_processor")
    return all((health.get(c) or {}).get("status") == "healthy" for c in components)


def _banner(api_url: str, password: str, endpoint_url: str, home: Path) -> str:
    rule = "=" * 64
    return "\n".join(
        [
            rule,
            f"  Airflow UI:   {api_url}",
            f"  Login:        {ADMIN_USER} / {password}",
            f"  AWS endpoint: {endpoint_url}",
            f"  AIRFLOW_HOME: {home}",
            "  Start with the DAG sales_orders_provision, then sales_orders_generate;",
            f"  the hour's report then shows under Reports ({api_url}/cdc-reports/) and in reports/.",
            "  Ctrl-C stops everything started here.",
            rule,
        ]
    )


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make airflow", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=DEFAULT_API_PORT, help="the UI/API port (default 8080)")
    parser.add_argument(
        "--aws-port", type=int, default=DEFAULT_AWS_PORT, help="local_aws port (default 4566)"
    )
    parser.add_argument(
        "--home", type=Path, default=DEFAULT_HOME, help="AIRFLOW_HOME (default airflow_home/)"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help="local_aws state (default .state/local_aws/)",
    )
    args = parser.parse_args(argv)

    if shutil.which("airflow", path=str(VENV_BIN)) is None:
        print(f"airflow is not installed in {VENV_BIN}: run `make install`", file=sys.stderr)
        return 2
    if port_in_use(args.port):
        print(f"port {args.port} is taken: stop what uses it or pass --port", file=sys.stderr)
        return 2
    password = os.environ.get("AIRFLOW_ADMIN_PASSWORD") or "admin"
    home = args.home.resolve()
    services = Services()
    # SIGTERM (e.g. from a process manager) stops everything like Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        endpoint_url = os.environ.get("AWS_ENDPOINT_URL", "")
        if endpoint_url:
            print(f"Using the AWS endpoint from AWS_ENDPOINT_URL: {endpoint_url}", flush=True)
        else:
            if port_in_use(args.aws_port):
                print(
                    f"port {args.aws_port} is taken: set AWS_ENDPOINT_URL to use that server", file=sys.stderr
                )
                return 2
            log_path = args.state_dir.parent / "local_aws.log"
            print(f"Starting the embedded AWS on port {args.aws_port} (log: {log_path})", flush=True)
            endpoint_url = start_local_aws(services, args.aws_port, args.state_dir.resolve(), log_path)
        env = airflow_env(
            home, endpoint_url, api_port=args.port, password=password, reports_dir=REPO / "reports"
        )
        print(f"Starting Airflow standalone (AIRFLOW_HOME={home}); first start takes a minute", flush=True)
        # standalone shuts its components down on SIGINT (KeyboardInterrupt), not on SIGTERM.
        services.start("airflow", [str(VENV_BIN / "airflow"), "standalone"], env, stop_signal=signal.SIGINT)
        api_url = f"http://127.0.0.1:{args.port}"
        wait_until(lambda: airflow_healthy(api_url), 300, "Airflow to become healthy", services, interval=2)
        print(_banner(api_url, password, endpoint_url, home), flush=True)
        while True:
            services.check_running()
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nStopping Airflow and the embedded AWS...", flush=True)
        return 0
    except (RuntimeError, TimeoutError) as error:
        print(f"make airflow failed: {error}", file=sys.stderr)
        return 1
    finally:
        services.stop_all()


if __name__ == "__main__":
    # Run as a script (`python scripts/airflow_local.py`): the pipeline package lives in plugins/.
    sys.path.insert(0, str(REPO / "plugins"))
    sys.exit(main())
