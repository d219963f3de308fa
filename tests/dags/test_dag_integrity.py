"""DAG policy: every DAG file parses with no network and no database, and says who, what and how often to retry."""

from __future__ import annotations

import socket

import pytest
import sqlalchemy.engine

from tests.conftest import REPO

KINDS = ("provision", "generate", "hourly", "teardown")


class ParseTimeCall(AssertionError):
    pass


@pytest.fixture(scope="module")
def dagbag():
    """Parse dags/ once while any socket connect or database connect raises."""
    calls: list[str] = []

    def no_socket(self, address, *args, **kwargs):
        calls.append(f"socket connect to {address}")
        raise ParseTimeCall(f"network call at parse time: {address}")

    def no_database(self, *args, **kwargs):
        calls.append("database connect")
        raise ParseTimeCall("database call at parse time")

    mp = pytest.MonkeyPatch()
    mp.setattr(socket.socket, "connect", no_socket)
    mp.setattr(sqlalchemy.engine.Engine, "connect", no_database)
    try:
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=str(REPO / "dags"))
    finally:
        mp.undo()
    return bag, calls


def test_every_dag_file_imports_without_error_and_without_io(dagbag):
    bag, calls = dagbag
    assert bag.import_errors == {}
    assert calls == []


def test_every_pipeline_has_each_kind_of_dag(dagbag):
    from cdc_pipeline.definitions import PIPELINES

    bag, _ = dagbag
    expected = {f"{name}_{kind}" for name in PIPELINES for kind in KINDS}
    assert expected <= set(bag.dag_ids)


def test_each_cdc_pipeline_has_a_maintenance_and_a_reconcile_dag_outside_its_hourly_one(dagbag):
    """Whole-table work (compaction, the reconciliation with DynamoDB) is not in the hourly DAG, whose
    cost must not grow with the lake's age; a direct pipeline has no table to keep or reconcile."""
    from cdc_pipeline.definitions import PIPELINES, Topology
    from cdc_pipeline.workflows.reconciliation import CHECK_ID, STATE_CHECK_ID, TASK_ID

    bag, _ = dagbag
    for name, definition in PIPELINES.items():
        cdc = definition.topology is Topology.CDC
        assert (f"{name}_maintenance" in bag.dag_ids, f"{name}_reconcile" in bag.dag_ids) == (cdc, cdc), name
        assert not {CHECK_ID, TASK_ID} & set(bag.dags[f"{name}_hourly"].task_ids), name
        if cdc:
            reconcile = bag.dags[f"{name}_reconcile"]
            assert reconcile.catchup is False and reconcile.max_active_runs == 1
            assert reconcile.timetable.summary == "0 */6 * * *"
            assert reconcile.get_task(CHECK_ID).upstream_task_ids == {TASK_ID}
            # A definition with a state table has it checked against the lake there too.
            assert (STATE_CHECK_ID in reconcile.task_ids) == bool(definition.columns), name


def test_dags_have_tags_owner_docs_and_retries(dagbag):
    bag, _ = dagbag
    assert bag.dags, "no DAGs were found"
    for dag_id, dag in bag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md and dag.doc_md.strip(), f"{dag_id} has no docs"
        # Airflow fills in retries=0 when nothing is set, so "is set" means a deliberate number:
        # generating never retries (a retry would write the data twice), everything else does.
        generates = "generate" in dag.tags
        retries = dag.default_args.get("retries", 0)
        assert (retries == 0) if generates else (retries >= 1), f"{dag_id} retries {retries} by default"
        for t in dag.tasks:
            assert t.owner and t.owner != "airflow", f"{dag_id}.{t.task_id} has no owner"
            # Only a check may not retry: its failure is an answer about the data, not a hiccup.
            retried = t.retries == 0 if generates else t.retries >= 1 or t.task_id.startswith("check_")
            assert retried, f"{dag_id}.{t.task_id} retries {t.retries} times"
            assert t.on_failure_callback, f"{dag_id}.{t.task_id} would fail without an alert"


def test_python_tasks_are_documented(dagbag):
    bag, _ = dagbag
    for dag_id, dag in bag.dags.items():
        for t in dag.tasks:
            if hasattr(t, "python_callable"):
                assert (t.python_callable.__doc__ or "").strip(), f"{dag_id}.{t.task_id} has no docstring"


def test_hourly_dags_have_real_hourly_windows_and_catch_up(dagbag):
    from airflow.timetables.interval import CronDataIntervalTimetable

    bag, _ = dagbag
    hourly = [dag for dag_id, dag in bag.dags.items() if dag_id.endswith("_hourly")]
    assert hourly
    for dag in hourly:
        assert isinstance(dag.timetable, CronDataIntervalTimetable)
        assert dag.catchup is True


def test_sql_files_open_with_the_question_they_answer():
    for path in (REPO / "include" / "sql").rglob("*.sql"):
        first = path.read_text().lstrip().splitlines()[0]
        assert first.startswith("-- "), f"{path} does not open with a one-line -- comment"
