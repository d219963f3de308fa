"""`make demo`: run one pipeline end to end with the real DAGs, and say what happened.

Starts the embedded AWS unless ``AWS_ENDPOINT_URL`` already points at one, then runs the pipeline's
DAGs in order with ``dag.test()``: provision, generate (orders spread over the past hours), and the
hourly run for each of those hours. Airflow's own log goes to a file; the terminal shows each step,
progress on long ones, and a summary. Exits non-zero, naming the step, when anything fails.

Every option is checked before anything starts (exit 2 with argparse's message); an endpoint in
``AWS_ENDPOINT_URL`` that does not answer within 5 s is named and the demo stops. Each run keeps
its log, its server's log and its own copy of Airflow's metadata database in
``build/demo/<run id>/``, so two demos at once share nothing but the migrated template and the
``reports/`` folder.

LIMITATIONS: two demos started at once on a fresh clone may both run ``airflow db migrate`` on
the shared template; two demos of the same pipeline and hour write the same report folder.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from cdc_cli.local_server import LocalAWSStartError, start_local_aws

REPO_ROOT = Path(__file__).resolve().parents[1]
# The generators' progress lines: "written 1,000 / 2,000 orders, 140 updates, ..." (never SQL text).
_PROGRESS = re.compile(r"(written [\d,]+(?: / [\d,]+)? [a-z][^\]\n]*?)(?:\s+\[|$)")
_TASK_START = re.compile(r"\[DAG TEST\] starting task_id=(\S+)")
# Airflow's task runner: "<time> [error    ] Task failed with exception", a traceback, then the
# exception's own lines up to the next timestamped log line.
_TASK_FAILED = re.compile(r"\[error\s*\] Task failed with exception")
_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w]*\.)*([A-Za-z_]\w*): ?(.*)$")
_MAX_ERROR_LINES = 6


@dataclass(frozen=True)
class DemoPaths:
    """Where the demo keeps Airflow's home and logs (`build`), and where reports go."""

    build: Path
    reports: Path
    #: This run's own folder under `build`, so two demos at once never share a log.
    run_id: str = field(default_factory=lambda: f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> DemoPaths:
        """``CDC_LAKE_DEMO_DIR`` and ``CDC_LAKE_DEMO_REPORTS_DIR``, else `build/demo` and `reports`."""
        return cls(
            build=Path(environ.get("CDC_LAKE_DEMO_DIR") or REPO_ROOT / "build" / "demo"),
            reports=Path(environ.get("CDC_LAKE_DEMO_REPORTS_DIR") or REPO_ROOT / "reports"),
        )

    @property
    def run_dir(self) -> Path:
        return self.build / self.run_id

    @property
    def runs_log(self) -> Path:
        return self.run_dir / "airflow-runs.log"


class DemoFailure(RuntimeError):
    """A step of the demo failed; the message says which and where the log is."""


class Console:
    """Our lines on the real terminal while Airflow's output goes to the log file."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        self.stream.write(f"[{elapsed:5.1f}s] {text}\n")
        self.stream.flush()


@contextlib.contextmanager
def quiet_into(log_path: Path, console: Console) -> Iterator[None]:
    """Send file descriptors 1 and 2 to the log while a DAG runs; echo progress lines from it."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "ab") as log:
        start = log.tell()
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        stop = threading.Event()
        watcher = threading.Thread(target=_echo_progress, args=(log_path, start, stop, console), daemon=True)
        watcher.start()
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            stop.set()
            watcher.join(timeout=2)
            for fd in saved:
                os.close(fd)


def _echo_progress(log_path: Path, start: int, stop: threading.Event, console: Console) -> None:
    last = ""
    with open(log_path, errors="replace") as log:
        log.seek(start)
        while True:
            line = log.readline()
            if not line:
                if stop.is_set():
                    return
                time.sleep(0.2)
                continue
            if match := _TASK_START.search(line):
                console.say(f"    task {match.group(1)}")
            elif (match := _PROGRESS.search(line)) and match.group(1).strip().removesuffix(" (done)") != last:
                # The generator's progress reaches the log twice (its logger and the task's).
                last = match.group(1).strip().removesuffix(" (done)")
                console.say(f"      {last}")


def task_errors(log_text: str) -> dict[str, str]:
    """Each failed task's error as people read it, from the part of Airflow's log a run wrote.

    A check's failure keeps the row it found (``Results: (False, 'prices_out_of_range=1 ...')``)
    and drops the SQL it ran; any other error keeps its first lines, without the traceback.
    """
    errors: dict[str, str] = {}
    task = "?"
    lines = log_text.splitlines()
    for index, line in enumerate(lines):
        if match := _TASK_START.search(line):
            task = match.group(1)
        elif _TASK_FAILED.search(line):
            errors[task] = _exception_text(lines[index + 1 :])
    return errors


def _exception_text(following: list[str]) -> str:
    block: list[str] = []
    for line in following:
        if _LOG_LINE.match(line):
            break
        block.append(line)
    # The exception's line is the first at the left margin after the traceback's (indented) frames.
    start = None
    for index, line in enumerate(block):
        if line.startswith("Traceback"):
            start = None
        elif start is None and line and not line[0].isspace() and _EXCEPTION_LINE.match(line):
            start = index
    if start is None:
        return "no error text in the log"
    name, first = _EXCEPTION_LINE.match(block[start]).groups()  # type: ignore[union-attr]
    rest = [line for line in block[start + 1 :] if line.strip()]
    if "Results:" in rest:  # the common-sql check operators: the numbers, not the query
        found = rest[rest.index("Results:") + 1 :]
        return f"{first.rstrip('.')}: {' '.join(found[:2])}"
    shown = [f"{name}: {first}", *rest][:_MAX_ERROR_LINES]
    return "\n".join(line[:300] for line in shown)


def start_server(paths: DemoPaths, console: Console) -> tuple[str, Any]:
    """The embedded AWS on a free port, its output in the build folder."""
    try:
        endpoint, process = start_local_aws(paths.run_dir / "local_aws.log", cwd=REPO_ROOT)
    except LocalAWSStartError as error:
        raise DemoFailure(str(error)) from None
    console.say(f"embedded AWS up at {endpoint}")
    return endpoint, process


def _airflow_env(home: Path) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
    }


def prepare_airflow(paths: DemoPaths, console: Console) -> None:
    """Airflow's home for this run: a copy of a metadata database migrated once under the build folder.

    Each run has its own copy, so two demos at once never share DAG runs, XComs or a SQLite lock.
    """
    template = paths.build / "airflow"
    template.mkdir(parents=True, exist_ok=True)
    stamp = template / ".migrated"
    if not stamp.exists():
        console.say("preparing the Airflow metadata database (first run only)")
        result = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            capture_output=True,
            env={**os.environ, **_airflow_env(template)},
        )
        if result.returncode != 0:
            (paths.run_dir / "airflow-migrate.log").write_bytes(result.stdout + result.stderr)
            raise DemoFailure(
                f"airflow db migrate failed; see {_shown(paths.run_dir / 'airflow-migrate.log')}"
            )
        stamp.touch()
    home = paths.run_dir / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template / "airflow.db", home / "airflow.db")
    os.environ.update(_airflow_env(home))


class RunFailure(DemoFailure):
    """A DAG run failed; `errors` has each failed task's error text, `run` and `states` what ran."""

    def __init__(self, message: str, run: Any, states: dict[str, str], errors: dict[str, str]) -> None:
        super().__init__(message)
        self.run, self.states, self.errors = run, states, errors


def run_dag(dags: dict[str, Any], dag_id: str, console: Console, log_path: Path, **kwargs: Any) -> Any:
    start = log_path.stat().st_size if log_path.exists() else 0
    try:
        with quiet_into(log_path, console):
            run = dags[dag_id].test(**kwargs)
    except Exception as error:  # refused before any task ran (a parameter, the database): one line here
        with open(log_path, "a") as log:
            traceback.print_exc(file=log)
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise DemoFailure(
            f"{dag_id} could not run: {type(error).__name__}: {first}; see {_shown(log_path)}"
        ) from None
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    if str(run.state) != "success":
        with open(log_path, errors="replace") as log:
            log.seek(start)
            errors = task_errors(log.read())
        failed = sorted(task for task, state in states.items() if state == "failed")
        for task in failed:
            for number, line in enumerate(errors.get(task, "no error text in the log").splitlines()):
                console.say(f"    {task} failed: {line}" if number == 0 else f"      {line}")
        blocked = sorted(task for task, state in states.items() if state == "upstream_failed")
        named = ", ".join(failed or blocked) or "an unknown task"
        raise RunFailure(f"{dag_id} failed at {named}; see {_shown(log_path)}", run, states, errors)
    return run, states


def xcom(run: Any, task_id: str, key: str = "return_value") -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter(XComModel.dag_id == run.dag_id, XComModel.run_id == run.run_id)
            .filter(XComModel.task_id == task_id, XComModel.key == key)
            .one_or_none()
        )
        return None if row is None else row.value


def athena_bytes_scanned(workgroup: str, since: datetime) -> int:
    import boto3

    athena = boto3.client("athena")
    ids: list[str] = []
    for page in athena.get_paginator("list_query_executions").paginate(WorkGroup=workgroup):
        ids.extend(page["QueryExecutionIds"])
    total = 0
    for start in range(0, len(ids), 50):
        executions = athena.batch_get_query_execution(QueryExecutionIds=ids[start : start + 50])
        for execution in executions["QueryExecutions"]:
            submitted = execution["Status"].get("SubmissionDateTime")
            if submitted and submitted >= since:
                total += execution.get("Statistics", {}).get("DataScannedInBytes", 0)
    return total


def _shown(path: str | Path) -> str:
    """A path relative to the repository when it is inside it."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


#: The demo's limits: each hour is one hourly run of its own, so a long span is hours of waiting.
MAX_COUNT = 1_000_000
MAX_HOURS = 48
#: How long the endpoint in AWS_ENDPOINT_URL has to answer before the demo gives up on it.
ENDPOINT_TIMEOUT_SECONDS = 5.0


def _bounded_int(name: str, low: int, high: int) -> Any:
    """An argparse type: an integer in [low, high], refused with argparse's own usage message."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high:,}")
        return value

    convert.__name__ = name  # argparse names the type in its message
    return convert


def pipeline_names() -> list[str]:
    """The pipelines that load; importing the definitions is cheap (no Airflow)."""
    plugins = str(REPO_ROOT / "plugins")
    if plugins not in sys.path:
        sys.path.insert(0, plugins)
    from cdc_pipeline.definitions import PIPELINES

    return sorted(PIPELINES)


def parse_args(argv: list[str] | None, environ: Mapping[str, str]) -> argparse.Namespace:
    """Every option checked here, before anything starts; a bad one exits 2 with argparse's usage."""
    parser = argparse.ArgumentParser(prog="python -m cdc_cli.demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pipeline",
        default=environ.get("PIPELINE") or "sales_orders",
        help="the pipeline to run (default sales_orders, or $PIPELINE)",
    )
    parser.add_argument(
        "--count",
        type=_bounded_int("count", 1, MAX_COUNT),
        default=1000,
        help=f"new items to generate, 1 to {MAX_COUNT:,} (default 1000)",
    )
    parser.add_argument(
        "--hours",
        type=_bounded_int("hours", 1, MAX_HOURS),
        default=1,
        help=f"past hours to spread them over, one hourly run each, 1 to {MAX_HOURS} (default 1)",
    )
    parser.add_argument(
        "--seed",
        type=_bounded_int("seed", 0, 2**63 - 1),
        default=42,
        help="the generator's seed (default 42)",
    )
    args = parser.parse_args(argv)
    names = pipeline_names()
    if args.pipeline not in names:
        from cdc_pipeline.definitions import BROKEN_PIPELINES

        for error in BROKEN_PIPELINES.values():  # its file is there but cannot be used: say why
            if Path(error.source).stem == args.pipeline:
                parser.error(f"argument --pipeline: {args.pipeline} cannot be used: {error}")
        parser.error(
            f"argument --pipeline: no pipeline named {args.pipeline!r} (choose from {', '.join(names)})"
        )
    return args


def check_endpoint(endpoint: str, timeout: float = ENDPOINT_TIMEOUT_SECONDS) -> None:
    """Fail fast, naming the endpoint, when nothing answers there (boto3 would retry for minutes)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(endpoint, timeout=timeout):
            return
    except urllib.error.HTTPError:
        return  # an answer, even an error status, means something serves there
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise DemoFailure(f"cannot reach AWS_ENDPOINT_URL={endpoint}: {reason}") from None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, os.environ)
    paths = DemoPaths.from_env(os.environ)
    # The pipeline package is Airflow's plugins folder; the demo imports it as the DAG files do.
    plugins = str(REPO_ROOT / "plugins")
    if plugins not in sys.path:
        sys.path.insert(0, plugins)
    # Our own handle on the terminal: fd 1 points at Airflow's log while a DAG runs.
    sys.stdout.flush()
    console = Console(os.fdopen(os.dup(1), "w", buffering=1))
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    paths.runs_log.write_bytes(b"")
    server = None
    try:
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            check_endpoint(endpoint)
            console.say(f"using the AWS endpoint in AWS_ENDPOINT_URL: {endpoint}")
        else:
            endpoint, server = start_server(paths, console)
        return run_demo(args, paths, console, endpoint)
    except DemoFailure as failure:
        console.say(f"FAILED: {failure}")
        return 1
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)


@dataclass
class Tally:
    """What the hourly runs found, added up for the summary."""

    passed: int = 0
    failed: int = 0
    totals: dict[str, Decimal] = field(default_factory=dict)
    report_dirs: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    #: ("<hour> <check>", what it found) for each failed check, for the summary.
    failed_checks: list[tuple[str, str]] = field(default_factory=list)


def sign_in_as_deployer(console: Console) -> None:
    """Airflow's connections signed as the deployer, as on AWS: a role whose only policy is the
    generated deployer policy (``local_connections.deployer_env``), so a permission the pipeline
    lacks fails the demo as it would fail a real deployment. CDC_LAKE_DAGS_AS_DEPLOYER=0 keeps the
    account's own keys (the DAG tests read the same variable)."""
    from cdc_pipeline.local_connections import deployer_env

    if os.environ.get("CDC_LAKE_DAGS_AS_DEPLOYER", "1") == "0":
        return
    os.environ.update(deployer_env(dict(os.environ)))
    console.say(f"Airflow runs as the deployer role airflow-{os.environ['CDC_LAKE_PREFIX']}")


def run_demo(args: argparse.Namespace, paths: DemoPaths, console: Console, endpoint: str) -> int:
    """Provision, generate, one hourly run per hour, the reconciliation; the summary. 1 if any failed."""
    from cdc_pipeline.definitions import get_pipeline
    from cdc_pipeline.local_connections import local_env
    from cdc_pipeline.settings import Settings, SettingsError

    prefix = os.environ.get("CDC_LAKE_PREFIX") or "cdc-lake"
    for name, value in local_env(endpoint, prefix=prefix, buffer_seconds=1).items():
        os.environ.setdefault(name, value)
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ["CDC_LAKE_REPORTS_DIR"] = str(paths.reports)
    try:
        settings = Settings.from_env()
    except SettingsError as error:  # a CDC_LAKE_* variable the user set: name it, no traceback
        raise DemoFailure(str(error)) from None
    sign_in_as_deployer(console)  # reads the settings too: after they are known to be good
    prepare_airflow(paths, console)
    try:
        definition = get_pipeline(args.pipeline)
    except KeyError as error:
        raise DemoFailure(str(error)) from None
    dags = load_dags(definition, paths, console)
    started = datetime.now(UTC)
    end = started.replace(minute=0, second=0, microsecond=0)
    provision_step(dags, definition, paths, console)
    generate_step(dags, definition, args, end, paths, console)
    generated = datetime.now(UTC)
    tally = Tally()
    for n in range(args.hours, 0, -1):
        hourly_step(dags, definition, end - timedelta(hours=n), tally, paths, console)
    with quiet_into(paths.runs_log, console):
        scanned = athena_bytes_scanned(settings.athena_workgroup, started - timedelta(seconds=5))
    # After the count: not an hourly run's cost.
    reconcile_step(dags, definition, generated, settings, tally, paths, console)
    print_summary(console.stream, definition.name, tally, scanned, paths)
    for failure in tally.failures:
        console.say(f"FAILED: {failure}")
    return 1 if tally.failures else 0


def load_dags(definition: Any, paths: DemoPaths, console: Console) -> dict[str, Any]:
    console.say(f"loading the DAGs of {definition.name}")
    with quiet_into(paths.runs_log, console):
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    # An import error's text ends with the exception's message; the traceback before it is noise here.
    problems = [_last_error_lines(text) for text in bag.import_errors.values()]
    ours = [dag_id for dag_id in bag.dag_ids if dag_id.startswith(f"{definition.name}_")]
    if not ours:
        raise DemoFailure(f"the DAGs of {definition.name} did not load: " + " ".join(problems))
    for problem in problems:  # another pipeline's broken file: say so, and go on
        console.say(f"    note: {problem}")
    return bag.dags


def _last_error_lines(traceback_text: str) -> str:
    """The exception's message from a formatted traceback, on one line."""
    lines = traceback_text.rstrip().splitlines()
    for index in range(len(lines) - 1, -1, -1):
        if lines[index] and not lines[index][0].isspace() and _EXCEPTION_LINE.match(lines[index]):
            message = [lines[index].split(": ", 1)[1], *lines[index + 1 :]]
            return " ".join(line.strip() for line in message if line.strip())
    return lines[-1].strip() if lines else "unknown error"


def provision_step(dags: dict[str, Any], definition: Any, paths: DemoPaths, console: Console) -> None:
    from cdc_pipeline.workflows import provision

    console.say(f"1/3 provision ({provision.dag_id(definition)})")
    run, _ = run_dag(dags, provision.dag_id(definition), console, paths.runs_log)
    tally: dict[str, int] = {}
    for outcome in xcom(run, "provision") or []:
        tally[outcome["action"]] = tally.get(outcome["action"], 0) + 1
    console.say("    resources: " + ", ".join(f"{n} {action}" for action, n in sorted(tally.items())))


def generate_step(
    dags: dict[str, Any],
    definition: Any,
    args: argparse.Namespace,
    end: datetime,
    paths: DemoPaths,
    console: Console,
) -> None:
    from cdc_pipeline.workflows import generate

    noun = generate.count_param(definition)
    span = "the hour" if args.hours == 1 else f"the {args.hours} hours"
    console.say(f"2/3 generate {args.count} {noun} over {span} before {end:%H:00} UTC")
    wanted = {
        noun: args.count,
        "update_share": 0.2,
        "delete_share": 0.05,
        "seed": args.seed,
        "spread_hours": args.hours,
        "end_time": end.isoformat(),
    }
    # Pipelines take different parameters (an event stream has no updates or deletes).
    accepted = set(dags[generate.dag_id(definition)].params.keys())
    conf = {name: value for name, value in wanted.items() if name in accepted}
    run, _ = run_dag(dags, generate.dag_id(definition), console, paths.runs_log, run_conf=conf)
    counts = (xcom(run, "generate") or {}).get("counts", {})
    console.say(
        "    " + ", ".join(f"{value} {name}" for name, value in counts.items() if not isinstance(value, dict))
    )


def hourly_step(
    dags: dict[str, Any], definition: Any, hour: datetime, tally: Tally, paths: DemoPaths, console: Console
) -> None:
    """The hourly run of `hour`; its checks, totals and report go into `tally` (a failure too)."""
    from cdc_pipeline.workflows import hourly

    console.say(f"3/3 hourly run for {hour:%Y-%m-%d %H}:00 UTC")
    dag_id = hourly.dag_id(definition)
    run, checks, _ = run_and_count(
        dags, dag_id, hour, tally, paths, console, logical_date=hour + timedelta(hours=1)
    )
    published = xcom(run, "publish_report") or {}
    totals = published.get("summary", {}).get("totals", {})
    for column, value in totals.items():
        try:
            tally.totals[column] = tally.totals.get(column, Decimal(0)) + Decimal(str(value))
        except (ArithmeticError, ValueError):
            continue  # a text column of the totals report
    if published.get("local_dir"):
        tally.report_dirs.append(published["local_dir"])
    shown = ", ".join(f"{column} {value}" for column, value in totals.items())
    console.say(
        f"    checks passed {sum(1 for s in checks.values() if s == 'success')}/{len(checks)}; {shown}"
    )


def reconcile_step(
    dags: dict[str, Any],
    definition: Any,
    generated: datetime,
    settings: Any,
    tally: Tally,
    paths: DemoPaths,
    console: Console,
) -> None:
    """A ``cdc`` pipeline's reconcile DAG, once: the whole lake against the DynamoDB table.

    Run once its watermark (the run's start less the delivery-lag bound) has passed the demo's last
    write, so that it compares every change the demo made, not an empty history.
    """
    from cdc_pipeline.workflows import reconciliation

    dag_id = reconciliation.dag_id(definition)
    if dag_id not in dags:
        return  # a direct pipeline has no table to reconcile with
    console.say(f"then the reconciliation with DynamoDB ({dag_id}, every six hours on a schedule)")
    wait = (generated + reconciliation.delivery_lag_bound(settings) - datetime.now(UTC)).total_seconds() + 1
    if wait > 0:
        console.say(
            f"    waiting {wait:.0f} s, until every change the demo wrote is older than the watermark"
        )
        time.sleep(wait)
    _, checks, results = run_and_count(dags, dag_id, datetime.now(UTC), tally, paths, console)
    shown_numbers = ("lake_items", "table_items", "lost_changes", "unmerged_changes")
    for check in sorted(checks):
        numbers = (results[check] or {}).get("numbers") or {}
        shown = " ".join(f"{name}={numbers[name]}" for name in shown_numbers if name in numbers)
        console.say(f"    {check}: {checks[check]}" + (f"; {shown}" if shown else ""))


def run_and_count(
    dags: dict[str, Any],
    dag_id: str,
    when: datetime,
    tally: Tally,
    paths: DemoPaths,
    console: Console,
    **kwargs: Any,
) -> tuple[Any, dict[str, str], dict[str, Any]]:
    """Run ``dag_id``; its quality checks go into ``tally`` (labelled with ``when``), a failed run too.

    The run, its checks' states and their ``check_result`` XComs.
    """
    try:
        run, states = run_dag(dags, dag_id, console, paths.runs_log, **kwargs)
        errors: dict[str, str] = {}
    except RunFailure as failure:
        tally.failures.append(str(failure))
        run, states, errors = failure.run, failure.states, failure.errors
    checks = quality_checks(states)
    results = {check: xcom(run, check, key="check_result") for check in checks}
    count_checks(tally, when, checks, results, errors)
    return run, checks, results


def quality_checks(states: Mapping[str, str]) -> dict[str, str]:
    """The quality checks among a run's tasks, with their states: ``check_provisioned`` is a gate."""
    from cdc_pipeline.workflows.hourly.sensors import CHECK_PROVISIONED

    return {
        task: state
        for task, state in states.items()
        if task.startswith("check_") and task != CHECK_PROVISIONED
    }


def count_checks(
    tally: Tally,
    hour: datetime,
    states: Mapping[str, str],
    results: Mapping[str, Any],
    errors: Mapping[str, str],
) -> None:
    """Add one run's checks to `tally`: passed and failed, each failed one named with its numbers.

    A check's own result (its ``check_result`` XCom: passed and numbers) decides; a check that pushed
    none failed before it could judge the data (a query error) and is counted by its task state,
    with its error line. A check that never ran (upstream failed) is neither passed nor failed.
    """
    for check in sorted(states):
        result = results.get(check)
        if isinstance(result, Mapping) and "passed" in result:
            passed = bool(result["passed"])
            found = " ".join(f"{name}={value}" for name, value in (result.get("numbers") or {}).items())
        elif states[check] in ("success", "failed"):
            passed = states[check] == "success"
            found = errors.get(check, "see the log").splitlines()[0]
        else:
            continue
        if passed:
            tally.passed += 1
        else:
            tally.failed += 1
            tally.failed_checks.append((f"{hour:%Y-%m-%d %H}:00 {check}", found or "no numbers"))


def print_summary(out: TextIO, dataset: str, tally: Tally, scanned: int, paths: DemoPaths) -> None:
    out.write(f"\nSummary of the {dataset} demo\n")
    lines = [(f"{column} (reported hours)", str(value)) for column, value in tally.totals.items()]
    lines += [
        ("quality checks", f"{tally.passed} passed, {tally.failed} failed"),
    ]
    lines += [(f"  failed {check}", found) for check, found in tally.failed_checks]
    lines += [("bytes Athena scanned (hourly runs)", f"{scanned:,}")]
    lines += [("report", f"{_shown(directory)}/index.html") for directory in tally.report_dirs]
    lines.append(("Airflow's log", _shown(paths.runs_log)))
    width = max(len(label) for label, _ in lines)
    for label, value in lines:
        out.write(f"  {label:<{width}} : {value}\n")
    out.flush()


if __name__ == "__main__":
    sys.exit(main())
