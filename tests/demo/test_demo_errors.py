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


def session_members(sid: int) -> list[str]:
    """The live processes of session `sid` (from /proc), each as "pid: command line"; an orphan keeps its
    session when it is re-parented. A zombie (exited, not yet reaped by its new parent) runs nothing."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                found.append(f"{entry.name}: {command.strip()}")
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


# -- what a failed run says in the terminal -------------------------------------------------------

# Airflow's own log of a failed check under dag.test (trimmed from a real run): the task's start,
# the runner's error line, the traceback, the exception with its query and results, the next line.
FAILED_CHECK_LOG = """\
2026-11-30T02:52:26.768234Z [info     ] [DAG TEST] starting task_id=check_current_state_matches_table map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1501
2026-11-30T02:52:27.201822Z [error    ] Task failed with exception     [task] loc=task_runner.py:1651
Traceback (most recent call last):
  File "/work/main/.venv/lib/python3.11/site-packages/airflow/sdk/execution_time/task_runner.py", line 1579, in _run_task_and_map_outcome
    result = _execute_task(context=context, ti=ti, log=log)
  File "/work/main/.venv/lib/python3.11/site-packages/airflow/providers/common/sql/operators/sql.py", line 255, in _raise_exception
    raise AirflowException(exception_string)
airflow.sdk.exceptions.AirflowException: Test failed.
Query:
-- Does the lake hold DynamoDB's items and every change of its stream?
WITH before_watermark AS (
    SELECT orderid AS item_key FROM t478354b.sales_orders_changes
)
SELECT 1
Results:
(False, 'lake_items=0 table_items=1761 lost_changes=0')
2026-11-30T02:52:27.202969Z [info     ] ::group::Post Execute          [task] loc=task_runner.py:1652
2026-11-30T02:52:28.000000Z [info     ] [DAG TEST] starting task_id=crawl map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1501
2026-11-30T02:52:29.000000Z [error    ] Task failed with exception     [task] loc=task_runner.py:1651
Traceback (most recent call last):
  File "/work/main/plugins/cdc_pipeline/workflows/hourly/crawl.py", line 10, in execute
    raise ClientError(...)
botocore.exceptions.ClientError: An error occurred (EntityNotFoundException) when calling the StartCrawler operation: Crawler entry with name cdc-lake-sales-orders-crawler does not exist
2026-11-30T02:52:29.100000Z [info     ] ::group::Post Execute          [task] loc=task_runner.py:1652
"""


def test_a_failed_task_is_told_by_its_error_lines_not_its_traceback():
    from cdc_cli.demo import task_errors

    assert task_errors(FAILED_CHECK_LOG) == {
        "check_current_state_matches_table": "Test failed: (False, 'lake_items=0 table_items=1761 lost_changes=0')",
        "crawl": "ClientError: An error occurred (EntityNotFoundException) when calling the StartCrawler "
        "operation: Crawler entry with name cdc-lake-sales-orders-crawler does not exist",
    }


def test_the_summary_names_each_failed_check_with_its_numbers_and_still_the_report(tmp_path: Path):
    import io

    from cdc_cli.demo import DemoPaths, Tally, print_summary

    tally = Tally(
        passed=6, failed=1, report_dirs=[str(tmp_path / "reports" / "sales_orders" / "2026-11-30T01")]
    )
    tally.failed_checks.append(
        (
            "2026-11-30 01:00 check_values_in_range",
            "Test failed: (False, 'prices_out_of_range=1 min_price=-5.00')",
        )
    )
    out = io.StringIO()
    print_summary(
        out, "sales_orders", tally, 1234, DemoPaths(build=tmp_path / "b", reports=tmp_path / "r", run_id="r1")
    )
    lines = [line.strip() for line in out.getvalue().splitlines()]
    assert any(line.startswith("quality checks") and line.endswith(": 6 passed, 1 failed") for line in lines)
    assert any(
        line.startswith("failed 2026-11-30 01:00 check_values_in_range")
        and line.endswith(": Test failed: (False, 'prices_out_of_range=1 min_price=-5.00')")
        for line in lines
    ), lines
    assert any(line.startswith("report") and line.endswith("2026-11-30T01/index.html") for line in lines)
    assert any(line.endswith(str(tmp_path / "b" / "r1" / "airflow-runs.log")) for line in lines)


def test_an_import_error_is_one_line_without_its_traceback():
    from cdc_cli.demo import _last_error_lines

    text = (
        "Traceback (most recent call last):\n"
        '  File "/work/main/dags/pipeline_definitions.py", line 27, in <module>\n'
        "    raise BrokenPipelineDefinitions(\n"
        "BrokenPipelineDefinitions: these pipeline definitions cannot be used (their DAGs are not loaded):\n"
        "  pipelines/user_profiles.toml: field 'topology': 'cdcc': use one of 'cdc', 'direct'\n"
    )
    assert _last_error_lines(text) == (
        "these pipeline definitions cannot be used (their DAGs are not loaded): "
        "pipelines/user_profiles.toml: field 'topology': 'cdcc': use one of 'cdc', 'direct'"
    )


def test_a_broken_definition_of_the_chosen_pipeline_is_named_before_anything_starts(tmp_path: Path):
    folder = tmp_path / "pipelines"
    folder.mkdir()
    for path in (REPO_ROOT / "pipelines").glob("*.toml"):
        (folder / path.name).write_text(path.read_text())
    broken = folder / "user_profiles.toml"
    broken.write_text(broken.read_text().replace('topology = "cdc"', 'topology = "cdcc"'))
    done = run_demo(["--pipeline", "user_profiles"], demo_env(tmp_path, CDC_LAKE_PIPELINES_DIR=str(folder)))
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        f"python -m cdc_cli.demo: error: argument --pipeline: user_profiles cannot be used: "
        f"{broken}: field 'topology': 'cdcc': use one of 'cdc', 'direct'"
    )
    assert_nothing_started(tmp_path)


def test_a_run_refused_before_any_task_is_one_line_and_its_traceback_goes_to_the_log(tmp_path: Path):
    import io

    from cdc_cli.demo import Console, DemoFailure, run_dag

    class RefusingDag:
        def test(self, **kwargs):
            raise ValueError(
                "Invalid input for param orders: -5 is less than the minimum of 1\n\nmore detail"
            )

    log = tmp_path / "airflow-runs.log"
    log.write_text("")
    with pytest.raises(DemoFailure) as raised:
        run_dag(
            {"x_generate": RefusingDag()}, "x_generate", Console(io.StringIO()), log, run_conf={"orders": -5}
        )
    assert str(raised.value) == (
        "x_generate could not run: ValueError: Invalid input for param orders: -5 is less than the minimum of 1; "
        f"see {log}"
    )
    assert "Traceback (most recent call last):" in log.read_text()


def test_a_bad_setting_after_the_server_started_is_named_and_the_server_is_stopped(tmp_path: Path):
    # The demo starts its own local_aws, prepares Airflow, then reads the settings: the message is
    # the setting's, and the server it started is gone when it exits (run_demo checks the session).
    done = run_demo([], demo_env(tmp_path, CDC_LAKE_POLL_INTERVAL="abc"), timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "embedded AWS up at http://127.0.0.1:" in done.stdout
    assert done.stdout.rstrip().endswith("FAILED: CDC_LAKE_POLL_INTERVAL='abc' is not a number of seconds")
    assert "Traceback" not in done.stdout + done.stderr
