"""The README's commands as written: a policy with no credentials, `make serve PORT=...`, `python -m bench`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from cdc_cli.demo import REPO_ROOT
from cdc_cli.local_server import HEALTH_PATH, free_port


def no_credentials_env(tmp_path: Path) -> dict[str, str]:
    """A shell with no AWS credentials anywhere boto3 would look, and no endpoint to ask."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "CDC_LAKE_")) and name != "PYTHONPATH"
    }
    env.update(
        {
            "PYTHONPATH": str(REPO_ROOT / "plugins"),
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    return env


def deployer_policy(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cdc_pipeline.deployer_policy", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_deployer_policy_prints_with_no_credentials_and_a_placeholder_account(tmp_path: Path):
    done = deployer_policy([], no_credentials_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == (
        "no account id (--account-id or CDC_LAKE_ACCOUNT_ID): replace <ACCOUNT_ID> in the policy"
    )
    policy = json.loads(done.stdout)
    resources = json.dumps([statement["Resource"] for statement in policy["Statement"]])
    assert "arn:aws:iam::<ACCOUNT_ID>:role/cdc-lake-" in resources
    assert "000000000000" not in done.stdout


def test_the_deployer_policy_takes_the_account_from_the_command_line(tmp_path: Path):
    done = deployer_policy(["--account-id", "210987654321"], no_credentials_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "arn:aws:iam::210987654321:role/cdc-lake-" in done.stdout
    assert "<ACCOUNT_ID>" not in done.stdout


def test_a_malformed_account_id_is_refused_with_usage(tmp_path: Path):
    done = deployer_policy(["--account-id", "12345"], no_credentials_env(tmp_path))
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "python -m cdc_pipeline.deployer_policy: error: argument --account-id: '12345' is not a 12-digit AWS account id"
    )


def test_bench_refuses_an_unknown_benchmark_by_name():
    done = subprocess.run(
        [sys.executable, "-m", "bench", "bench_nope"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith(
        "python -m bench: error: no benchmark named 'bench_nope' (choose from bench_athena, "
    )
    assert "===" not in done.stdout


def test_make_serve_listens_on_the_port_it_is_given(tmp_path: Path):
    port = free_port()
    # -o: take .venv as built (the test must not rebuild it); a session of its own to stop make and its child.
    process = subprocess.Popen(
        ["make", "-s", "-o", ".venv/bin/python", "serve", f"PORT={port}"],
        cwd=REPO_ROOT,
        stdout=(tmp_path / "serve.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{HEALTH_PATH}", timeout=2) as answer:
                    assert answer.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.5)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
