"""Airflow deployed as people run it: real processes on free ports, driven over HTTP, the CLI and a browser.

Each deployment gets its own AIRFLOW_HOME in a tmp dir and its own embedded AWS process, started with
the same functions as `make airflow` (`scripts/airflow_local.py`), and is stopped at the end whatever
happened. Failures carry the end of every process's log.
"""

from __future__ import annotations

import secrets
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from cdc_cli.local_server import free_port
from scripts.airflow_local import (
    ADMIN_USER,
    VENV_BIN,
    Services,
    airflow_env,
    airflow_healthy,
    start_local_aws,
    wait_until,
)

CHROMIUM = Path("/usr/bin/chromium")
# Startup on a busy 2-core machine takes a minute or more; these bound every wait.
STARTUP_TIMEOUT = 300
RUN_TIMEOUT = 300
TERMINAL_STATES = {"success", "failed"}


def unique_prefix(kind: str) -> str:
    """A CDC_LAKE_PREFIX no other deployment uses (at most 20 characters)."""
    return f"{kind}{uuid.uuid4().hex[:8]}"


def isolated_extra(parallelism: int = 4) -> dict[str, str]:
    """Settings that let a test deployment run beside `make airflow` or another test's deployment."""
    return {
        # The log servers of workers and triggerers default to fixed ports (8793, 8794).
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        # Every process of one deployment signs and checks the same tokens.
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(48),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        # No runs from schedules: the hourly DAGs' catch-up from their start date would only add load
        # (and runs waiting for hours nobody wrote). Manual runs and backfills run as usual.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
    }


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the test item, so fixtures can tell whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@dataclass
class AirflowApi:
    """The REST API (v2) as an admin, with a token from the simple auth manager."""

    base_url: str
    password: str
    services: Services
    _token: str | None = None

    def _headers(self) -> dict[str, str]:
        if self._token is None:
            response = httpx.post(
                f"{self.base_url}/auth/token",
                json={"username": ADMIN_USER, "password": self.password},
                timeout=30,
            )
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(
            f"{self.base_url}/api/v2{path}", headers=self._headers(), params=params, timeout=30
        )
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        response = httpx.post(f"{self.base_url}/api/v2{path}", headers=self._headers(), json=body, timeout=30)
        assert response.status_code < 300, f"POST {path}: {response.status_code} {response.text}"
        return response.json()

    def wait_for_dag(self, dag_id: str, timeout: float = STARTUP_TIMEOUT) -> None:
        """Until the dag-processor has parsed ``dag_id``; it must be unpaused, as `make airflow` has it."""

        def parsed() -> dict[str, Any] | None:
            try:
                return self.get(f"/dags/{dag_id}")
            except httpx.HTTPStatusError:
                return None

        dag = wait_until(parsed, timeout, f"the DAG {dag_id} to be parsed", self.services, interval=2)
        assert dag["is_paused"] is False, f"{dag_id} is paused: new DAGs must start unpaused"

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        run = self.post(f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": dict(conf or {})})
        return run["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.get(f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        tis = self.get(f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances")["task_instances"]
        return {ti["task_id"]: ti["state"] for ti in tis}

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/xcomEntries/return_value"
        return self.get(path)["value"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = RUN_TIMEOUT) -> None:
        """Until the run succeeds; fail at once (with its task states and the logs) if it fails."""

        def finished() -> str | None:
            state = self.run(dag_id, run_id)["state"]
            return state if state in TERMINAL_STATES else None

        try:
            state = wait_until(finished, timeout, f"{dag_id} run {run_id} to finish", self.services, 2)
        except (TimeoutError, RuntimeError) as error:
            pytest.fail(f"{error}; tasks: {self.task_states(dag_id, run_id)}\n{self.services.logs()}")
        assert state == "success", (
            f"{dag_id} run {run_id} ended {state}; tasks: {self.task_states(dag_id, run_id)}\n"
            + self.services.logs()
        )


@dataclass
class Deployment:
    """A running deployment: where it answers, its login, its pipeline prefix, its processes."""

    api_url: str
    endpoint_url: str
    password: str
    prefix: str
    home: Path
    env: dict[str, str]
    services: Services
    api: AirflowApi
    artifacts: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def airflow_cli(self, *args: str, timeout: float = 180) -> str:
        """Run ``airflow <args>`` with the deployment's environment; return stdout, fail with output."""
        result = subprocess.run(
            [str(VENV_BIN / "airflow"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, f"airflow {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout


def start_aws(services: Services, root: Path) -> str:
    """The deployment's own embedded AWS, in its own process, with state in the tmp dir."""
    return start_local_aws(services, free_port(), root / "aws-state", root / "logs" / "local_aws.log")


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """`airflow standalone` (as `make airflow` runs it) and local_aws, on free ports, in a tmp dir."""
    with standalone_deployment(tmp_path_factory.mktemp("standalone")) as deployment:
        yield deployment


@contextmanager
def standalone_deployment(root: Path, schedules: bool = False) -> Iterator[Deployment]:
    """The `standalone` fixture's deployment; ``schedules=True`` keeps the scheduler's own runs, as
    `make airflow` has them (the hourly DAGs run from the previous hour on)."""
    services = Services()
    try:
        endpoint_url = start_aws(services, root)
        api_port = free_port()
        password = secrets.token_urlsafe(12)
        prefix = unique_prefix("ui")
        env = airflow_env(
            root / "home",
            endpoint_url,
            api_port=api_port,
            password=password,
            prefix=prefix,
            buffer_seconds=1,
            extra={
                **isolated_extra(),
                **({"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True"} if schedules else {}),
            },
        )
        services.start(
            "airflow standalone",
            [str(VENV_BIN / "airflow"), "standalone"],
            env,
            root / "logs" / "standalone.log",
            stop_signal=2,  # SIGINT: standalone stops its components on KeyboardInterrupt
        )
        api_url = f"http://127.0.0.1:{api_port}"
        try:
            wait_until(lambda: airflow_healthy(api_url), STARTUP_TIMEOUT, "Airflow standalone", services, 2)
        except (TimeoutError, RuntimeError) as error:
            pytest.fail(f"{error}\n{services.logs()}")
        api = AirflowApi(api_url, password, services)
        yield Deployment(api_url, endpoint_url, password, prefix, root / "home", env, services, api, root)
    finally:
        services.stop_all()
