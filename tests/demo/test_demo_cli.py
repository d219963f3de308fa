"""The demo as a command of its own: runs from the repository root, reads its settings when it runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cdc_cli.demo import REPO_ROOT, DemoPaths
from cdc_cli.local_server import LocalAWSStartError, start_local_aws


def bare_env() -> dict[str, str]:
    """The environment of a user's shell: no PYTHONPATH pointing at the project."""
    return {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}


def test_the_help_runs_from_the_repository_root_without_a_pythonpath():
    done = subprocess.run(
        [sys.executable, "-m", "cdc_cli.demo", "--help"],
        cwd=REPO_ROOT,
        env=bare_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for option in ("--pipeline", "--count", "--hours", "--seed"):
        assert option in done.stdout


def test_importing_the_demo_reads_no_setting_and_loads_no_pipeline_code():
    code = "import sys, cdc_cli.demo; print(sorted(m for m in sys.modules if m.startswith(('cdc_pipeline', 'airflow'))))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**bare_env(), "CDC_LAKE_DEMO_DIR": "/nonexistent/at-import"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_demo_folders_come_from_the_environment_it_is_given(tmp_path: Path):
    given = DemoPaths.from_env(
        {"CDC_LAKE_DEMO_DIR": str(tmp_path / "b"), "CDC_LAKE_DEMO_REPORTS_DIR": str(tmp_path / "r")}
    )
    assert (given.build, given.reports, given.runs_log) == (
        tmp_path / "b",
        tmp_path / "r",
        tmp_path / "b" / given.run_id / "airflow-runs.log",
    )
    default = DemoPaths.from_env({})
    assert (default.build, default.reports) == (REPO_ROOT / "build" / "demo", REPO_ROOT / "reports")


def test_a_server_that_exits_at_start_is_reported_with_its_log(tmp_path: Path):
    log = tmp_path / "local_aws.log"
    with pytest.raises(LocalAWSStartError, match=f"exited at start; see {log}"):
        start_local_aws(log, cwd=REPO_ROOT, args=("--no-such-option",), timeout=60)
    assert "--no-such-option" in log.read_text()


def test_each_demo_run_has_its_own_log_folder(tmp_path: Path):
    env = {"CDC_LAKE_DEMO_DIR": str(tmp_path)}
    first, second = DemoPaths.from_env(env), DemoPaths.from_env(env)
    assert first.run_dir.parent == second.run_dir.parent == tmp_path
    assert first.runs_log != second.runs_log


def test_two_runs_get_their_own_airflow_database_copied_from_one_migration(tmp_path: Path, monkeypatch):
    import io

    from cdc_cli.demo import Console, _airflow_env, prepare_airflow

    template = tmp_path / "airflow"
    template.mkdir()
    (template / "airflow.db").write_bytes(b"migrated once")
    (template / ".migrated").touch()  # no `airflow db migrate` here: the copy is what is tested
    # prepare_airflow sets Airflow's variables in os.environ: have monkeypatch put them back after.
    for name in _airflow_env(tmp_path):
        monkeypatch.setenv(name, os.environ.get(name, ""))
    homes = []
    for run_id in ("run-a", "run-b"):
        paths = DemoPaths(build=tmp_path, reports=tmp_path / "r", run_id=run_id)
        prepare_airflow(paths, Console(io.StringIO()))
        homes.append(Path(os.environ["AIRFLOW_HOME"]))
        assert os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{homes[-1]}/airflow.db"
    assert homes == [tmp_path / "run-a" / "airflow", tmp_path / "run-b" / "airflow"]
    assert all((home / "airflow.db").read_bytes() == b"migrated once" for home in homes)
