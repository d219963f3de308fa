"""The demo's mistakes a user makes, answered in the terminal: the message, the exit code, and nothing left running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cdc_cli.demo import REPO_ROOT
from cdc_cli.local_server import free_port


def demo_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "AWS_ENDPOINT_URL")
    }
    env.update(
        {"CDC_LAKE_DEMO_DIR": str(tmp_path / "build"), "CDC_LAKE_DEMO_REPORTS_DIR": str(tmp_path / "r")}
    )
    env.update(extra)
    return env


def session_members(sid: int) -> list[int]:
    """The processes of session `sid` (from /proc); an orphan keeps its session when it is re-parented."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[3]) == sid:
                found.append(int(entry.name))
    return found


def run_demo(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The demo in a session of its own; once it exits, no process of that session may remain."""
    process = subprocess.Popen(
        [sys.executable, "-m", "cdc_cli.demo", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its whole session: a hung demo must not outlive the test
        process.communicate()
        raise
    assert session_members(process.pid) == [], "the demo left a process running"
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def assert_nothing_started(tmp_path: Path) -> None:
    """No embedded AWS was started and no Airflow home was made: the options were refused first."""
    build = tmp_path / "build"
    assert not list(build.glob("**/local_aws.log")), "a local_aws server was started"
    assert not (build / "airflow").exists(), "Airflow was prepared"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count", "-5"], "argument --count: -5 is outside 1..1,000,000"),
        (["--count", "many"], "argument --count: 'many' is not a whole number"),
        (["--hours", "1000"], "argument --hours: 1000 is outside 1..48"),
        (["--hours", "0"], "argument --hours: 0 is outside 1..48"),
        (
            ["--pipeline", "sales_order"],
            "argument --pipeline: no pipeline named 'sales_order' (choose from sales_orders, user_events, user_profiles)",
        ),
    ],
)
def test_a_bad_option_is_refused_before_anything_starts(tmp_path: Path, args: list[str], message: str):
    done = run_demo(args, demo_env(tmp_path))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.splitlines()[-1] == f"python -m cdc_cli.demo: error: {message}"
    assert "Traceback" not in done.stderr + done.stdout
    assert_nothing_started(tmp_path)


def test_an_unreachable_endpoint_is_named_within_seconds(tmp_path: Path):
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    # 30 s is generous for a loaded machine; the old behaviour was boto3 retrying for two minutes.
    done = run_demo([], demo_env(tmp_path, AWS_ENDPOINT_URL=endpoint), timeout=30)
    assert done.returncode == 1
    assert f"FAILED: cannot reach AWS_ENDPOINT_URL={endpoint}: [Errno 111] Connection refused" in done.stdout
    assert "Traceback" not in done.stderr + done.stdout
    assert_nothing_started(tmp_path)
