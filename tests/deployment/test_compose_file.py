"""docker-compose.yaml is a valid Compose file with the team deployment's services, mounts and settings.

Validated by Compose itself (`docker compose config`, or Debian's `docker-compose config` where the
docker CLI has no compose plugin; `make compose` installs it, `make test` runs that first). `config`
needs no Docker engine: it parses, validates against the Compose schema, interpolates and prints the
resolved file, which is what the assertions read.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from cdc_pipeline.local_connections import local_env
from tests.conftest import REPO

pytestmark = pytest.mark.slow

AIRFLOW_SERVICES = {
    "airflow-apiserver": ["api-server"],
    "airflow-scheduler": ["scheduler"],
    "airflow-dag-processor": ["dag-processor"],
    "airflow-triggerer": ["triggerer"],
    "airflow-worker": ["celery", "worker"],
}
LOCAL_AWS_URL = "http://local-aws:4566"
PROJECT_MOUNTS = {"dags", "plugins", "include", "lambda"}


def compose_command() -> list[str]:
    """`docker compose` when the docker CLI has the plugin, else Debian's `docker-compose`."""
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    assert standalone, "no Compose validator: run `make compose` (make test does) to install docker-compose"
    return [standalone]


def compose_config(path: Path) -> subprocess.CompletedProcess[str]:
    # Defaults of the file, not whatever the developer's shell exports.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "_PIP", "COMPOSE_"))}
    return subprocess.run(
        [*compose_command(), "-f", str(path), "config"],
        cwd=path.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    result = compose_config(REPO / "docker-compose.yaml")
    assert result.returncode == 0, f"compose config rejected docker-compose.yaml:\n{result.stderr}"
    return yaml.safe_load(result.stdout)


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """target -> source of a service's volumes, from the short (v1) or long (v2) syntax."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume["source"], volume["target"]
        found[target] = source
    return found


def command(service: dict[str, Any]) -> list[str]:
    value = service.get("command", [])
    return shlex.split(value) if isinstance(value, str) else list(value)


def test_the_validator_rejects_an_invalid_file(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yaml"
    broken.write_text("services:\n  web:\n    image: nginx\n    ports: 8080\n    depends_on: 3\n")
    result = compose_config(broken)
    assert result.returncode != 0, result.stdout
    assert "ports" in result.stderr or "depends_on" in result.stderr, result.stderr


def test_services_follow_the_official_airflow_pattern(config: dict[str, Any]) -> None:
    services = config["services"]
    assert set(services) == {*AIRFLOW_SERVICES, "airflow-init", "postgres", "redis", "local-aws"}
    for name, expected in AIRFLOW_SERVICES.items():
        assert command(services[name]) == expected, name
        # Every component runs the same image with the same settings (the x-airflow-common anchor).
        assert services[name]["image"] == services["airflow-init"]["image"], name
        assert services[name]["image"].startswith("apache/airflow:3.")
        depends = services[name]["depends_on"]
        assert depends["airflow-init"]["condition"] == "service_completed_successfully", name
        for backing in ("postgres", "redis", "local-aws"):
            assert depends[backing]["condition"] == "service_healthy", (name, backing)
    assert "db migrate" in " ".join(command(services["airflow-init"]))
    assert "healthcheck" in services["postgres"] and "healthcheck" in services["redis"]
    assert services["airflow-apiserver"]["ports"], "the UI must be published"


def test_project_folders_are_mounted_into_every_airflow_service(config: dict[str, Any]) -> None:
    for name in [*AIRFLOW_SERVICES, "airflow-init"]:
        found = mounts(config["services"][name])
        for folder in PROJECT_MOUNTS:
            target = f"/opt/airflow/{folder}"
            assert target in found, (name, folder)
            source = Path(found[target])
            assert source == REPO / folder and source.is_dir(), (name, source)


def test_airflow_points_at_local_aws_postgres_and_redis(config: dict[str, Any]) -> None:
    services = config["services"]
    for name in [*AIRFLOW_SERVICES, "airflow-init"]:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert "@postgres/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:6379/")
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-apiserver:8080/")
        # The same connections and pipeline settings as a local run (`local_env`), only the host differs.
        for key, want in local_env(LOCAL_AWS_URL).items():
            assert key in env, f"{name}: {key} (set by local_env) is missing from docker-compose.yaml"
            if key.startswith("AIRFLOW_CONN_"):
                assert json.loads(env[key]) == json.loads(want), (name, key)
            else:
                assert str(env[key]) == want, (name, key)


def test_local_aws_service(config: dict[str, Any]) -> None:
    service = config["services"]["local-aws"]
    argv = command(service)
    assert argv[:4] == ["python", "-m", "local_aws", "serve"], argv
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    assert argv[argv.index("--state-dir") + 1] == "/state"
    assert argv[argv.index("--port") + 1] == LOCAL_AWS_URL.rsplit(":", 1)[1]
    found = mounts(service)
    assert Path(found["/opt/cdc-lake/local_aws"]) == REPO / "local_aws"
    assert found["/state"] == "local-aws-state"  # a named volume: the state outlives the container
    assert "/_local_aws/health" in " ".join(service["healthcheck"]["test"])


def test_no_credentials_beyond_local_placeholders(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        env = service.get("environment") or {}
        for key, value in env.items():
            text = str(value)
            assert not text.startswith(("AKIA", "ASIA")), (name, key)
            if key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
                assert text == "local", (name, key)
        for conn in ("AIRFLOW_CONN_AWS_DEFAULT", "AIRFLOW_CONN_ATHENA_DEFAULT"):
            if conn in env:
                parsed = json.loads(env[conn])
                assert (parsed["login"], parsed["password"]) == ("local", "local"), (name, conn)
                assert parsed["extra"]["endpoint_url"] == LOCAL_AWS_URL, (name, conn)
