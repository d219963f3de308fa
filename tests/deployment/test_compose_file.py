"""docker-compose.yaml is a valid Compose file with the team deployment's services, mounts and settings,
and its defaults are safe: loopback-only ports, no root service (but the one-shot init), code mounted
read-only, and every secret from a generated `.env` (scripts/make_env.py) without which it refuses to start.

Validated by Compose itself (`docker compose config`, or Debian's `docker-compose config` where the
docker CLI has no compose plugin; `make compose` installs it, `make test` runs that first). `config`
needs no Docker engine: it parses, validates against the Compose schema, interpolates and prints the
resolved file, which is what the assertions read. The `.env` it reads is one `make_env` writes into a
tmp folder for the test, never the developer's own.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from cdc_pipeline.local_connections import local_env
from scripts import make_env
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


#: The services that may run as root, and why: it exits before anything serves (see the compose file).
ROOT_ALLOWED = {"airflow-init": "hands the fresh named volumes to AIRFLOW_UID, then migrates and exits"}
#: Named volumes: the only writable mounts.
WRITABLE_VOLUMES = {"airflow-logs", "airflow-config", "local-aws-state", "postgres-db-volume"}
SECRET_KEY = re.compile(r"PASSWORD|SECRET|FERNET|JWT|TOKEN")
INTERPOLATED = re.compile(r"^\$\{[A-Z_]+:\?[^}]+\}$")


def compose_config(path: Path, env_file: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`config` of the file at `path`; the project folder is its folder, the .env `env_file` if given."""
    # Defaults of the file, not whatever the developer's shell exports.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "_PIP", "COMPOSE_", "POSTGRES")) and k not in make_env.VALUES
    }
    options = ["--project-directory", str(path.parent)]
    if env_file is not None:
        options += ["--env-file", str(env_file)]
    return subprocess.run(
        [*compose_command(), *options, "-f", str(path), "config"],
        cwd=path.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def secrets_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compose") / ".env"
    assert make_env.main(["--path", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def config(secrets_file: Path) -> dict[str, Any]:
    result = compose_config(REPO / "docker-compose.yaml", env_file=secrets_file)
    assert result.returncode == 0, f"compose config rejected docker-compose.yaml:\n{result.stderr}"
    return yaml.safe_load(result.stdout)


def read_env_file(path: Path) -> dict[str, str]:
    return dict(
        line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#")
    )


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """target -> source of a service's volumes, from the short (v1) or long (v2) syntax."""
    return {target: source for target, (source, _) in mount_modes(service).items()}


def mount_modes(service: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """target -> (source, read_only) of a service's volumes, from the short (v1) or long (v2) syntax."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *mode = volume.split(":")
            read_only = "ro" in (mode[0].split(",") if mode else [])
        else:
            source, target = volume["source"], volume["target"]
            read_only = bool(volume.get("read_only"))
        found[target] = (source, read_only)
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
    # Every interface inside its container (the other containers reach it); the host publishes loopback.
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


# -- safe defaults ---------------------------------------------------------------------------------


def published(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host ip, host port) of every published port, from the short or long syntax."""
    found = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            found.append((str(port.get("host_ip", "")), str(port.get("published", ""))))
            continue
        parts = str(port).split("/")[0].split(":")
        # "8080" and "8080:8080" publish on every interface; only "ip:host:container" names one.
        found.append((parts[0], parts[1]) if len(parts) == 3 else ("", parts[0]))
    return found


def test_published_ports_bind_loopback_only(config: dict[str, Any]) -> None:
    seen = {}
    for name, service in config["services"].items():
        for host_ip, port in published(service):
            assert host_ip == "127.0.0.1", f"{name} publishes {port} on {host_ip or 'every interface'}"
            seen[name] = port
    assert seen == {"airflow-apiserver": "8080", "local-aws": "4566"}


def test_no_service_runs_as_root(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        user = str(service.get("user", ""))
        assert user, f"{name} sets no user: it would run as the image's default, often root"
        if name in ROOT_ALLOWED:
            continue
        assert user.split(":")[0] not in ("0", "root"), f"{name} runs as root ({user})"
    for name in ("local-aws", "airflow-apiserver", *AIRFLOW_SERVICES):
        assert config["services"][name]["user"].split(":")[0] == "50000", name


def test_code_is_mounted_read_only(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        for target, (source, read_only) in mount_modes(service).items():
            if source in WRITABLE_VOLUMES:
                continue
            assert read_only, f"{name}: {source} -> {target} is writable"
    modes = mount_modes(config["services"]["local-aws"])
    assert modes["/opt/cdc-lake/local_aws"] == (str(REPO / "local_aws"), True)
    assert modes["/state"] == ("local-aws-state", False)


def _environments(raw: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(service, key, raw value) of every environment entry in the file as written (anchors resolved)."""
    found = []
    for name, service in raw["services"].items():
        env = service.get("environment") or {}
        items = env.items() if isinstance(env, dict) else (entry.split("=", 1) for entry in env)
        found += [(name, key, str(value)) for key, value in items]
    return found


def test_no_secret_literal_in_the_file(config: dict[str, Any], secrets_file: Path) -> None:
    raw = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
    for name, key, value in _environments(raw):
        if key in ("AWS_SECRET_ACCESS_KEY",):
            continue  # "local": boto3's signer needs something; local_aws checks no credentials
        if SECRET_KEY.search(key) and not key.endswith("_FILE"):  # a _FILE names where a secret is
            assert INTERPOLATED.match(value), f"{name}: {key} is a literal, not a ${{...:?}} from .env"
        userinfo = re.search(r"://[^:/@]+:([^@]*)@", value)
        if userinfo:
            assert INTERPOLATED.match(userinfo.group(1)), f"{name}: {key} carries a literal password"
    # And the resolved values are the generated ones.
    generated = read_env_file(secrets_file)
    env = config["services"]["airflow-apiserver"]["environment"]
    assert env["AIRFLOW__CORE__FERNET_KEY"] == generated["AIRFLOW_FERNET_KEY"]
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == generated["AIRFLOW_JWT_SECRET"]
    assert env["AIRFLOW__API__SECRET_KEY"] == generated["AIRFLOW_API_SECRET_KEY"]
    assert f":{generated['POSTGRES_PASSWORD']}@postgres/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert (
        config["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"] == generated["POSTGRES_PASSWORD"]
    )
    init = config["services"]["airflow-init"]["environment"]
    assert init["AIRFLOW_ADMIN_PASSWORD"] == generated["AIRFLOW_ADMIN_PASSWORD"]


def test_compose_refuses_to_start_without_env(tmp_path: Path) -> None:
    shutil.copy(REPO / "docker-compose.yaml", tmp_path / "docker-compose.yaml")
    result = compose_config(tmp_path / "docker-compose.yaml")
    assert result.returncode != 0, result.stdout
    assert "make env" in result.stderr, result.stderr
    # A .env without the secrets (say, one with only AIRFLOW_UID) is refused the same way.
    partial = tmp_path / "partial.env"
    partial.write_text("AIRFLOW_UID=1000\n")
    result = compose_config(tmp_path / "docker-compose.yaml", env_file=partial)
    assert result.returncode != 0 and "make env" in result.stderr, result.stderr


# -- the .env generator ----------------------------------------------------------------------------


def test_make_env_writes_random_secrets_readable_by_the_owner_alone(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    assert make_env.main(["--path", str(path)]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    values = read_env_file(path)
    assert set(values) == set(make_env.VALUES)
    assert len(base64.urlsafe_b64decode(values["AIRFLOW_FERNET_KEY"])) == 32  # a valid Fernet key
    other = tmp_path / "other.env"
    make_env.main(["--path", str(other)])
    again = read_env_file(other)
    for name in make_env.SECRETS:
        assert len(values[name]) >= 24 and values[name] != again[name], name


def test_make_env_never_overwrites_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    make_env.main(["--path", str(path)])
    before = path.read_text()
    assert make_env.main(["--path", str(path)]) == 0
    assert path.read_text() == before
    assert make_env.main(["--path", str(path), "--force"]) == 0
    after = read_env_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    old = dict(line.split("=", 1) for line in before.splitlines() if not line.startswith("#"))
    assert after["AIRFLOW_UID"] == old["AIRFLOW_UID"]
    assert all(after[name] != old[name] for name in make_env.SECRETS)


def test_make_env_completes_an_existing_file_and_keeps_its_values(tmp_path: Path) -> None:
    # Airflow's own instructions write a .env holding only AIRFLOW_UID, world-readable.
    path = tmp_path / ".env"
    path.write_text("AIRFLOW_UID=1234\nAIRFLOW_IMAGE_NAME=registry.example/airflow:3")
    path.chmod(0o644)
    assert make_env.main(["--path", str(path)]) == 0
    values = read_env_file(path)
    assert values["AIRFLOW_UID"] == "1234" and values["AIRFLOW_IMAGE_NAME"] == "registry.example/airflow:3"
    assert set(make_env.SECRETS) <= set(values)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_make_env_runs_as_a_script_with_the_standard_library_only(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    result = subprocess.run(
        [sys.executable, "-I", str(REPO / "scripts" / "make_env.py"), "--path", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "0600" in result.stdout and path.exists()


def test_the_env_file_is_never_committed() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO, timeout=30)
    assert ignored.returncode == 0, ".env is not in .gitignore"
