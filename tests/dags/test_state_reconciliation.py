"""The reconcile DAG's ``check_state_has_every_change``: a change in the lake that no hourly run merged.

The hourly MERGE reads its hour's partition and the ``LATE_HOURS`` before it, so a change that reaches
an older partition after those runs (here: written straight into the partition of an hour ten hours
ago, with a creation time that old, and no hourly run for that hour) is in the lake, not in the state
table the reports read, and no hourly check sees it. The reconcile DAG's check must fail, naming how
many changes and which hours, and alert; once that hour's hourly run has merged them it must pass.
A change newer than the check's cutoff (its hourly runs may still be to come) is not counted.

The pipeline is this test's alone: the check counts the whole lake.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cdc_pipeline.workflows.reconciliation import MERGED_WITHIN, STATE_CHECK_ID
from tests.airflow_harness import run_dag, task_states, xcom
from tests.dags.check_helpers import (
    alert_naming,
    bad_hour,
    partition_prefix,
    put_change_rows,
    run_bad_hour,
    sales_order,
    subscribe_inbox,
)

pytestmark = pytest.mark.slow

DATASET = "sales_orders"


def test_a_change_no_hourly_run_merged_fails_the_check_until_its_hour_is_run(pipeline):
    reconcile = pipeline["dags"][f"{DATASET}_reconcile"]
    hour = bad_hour(10)
    assert hour + timedelta(hours=1) < datetime.now(UTC) - MERGED_WITHIN  # old enough to be judged
    old = [sales_order(n, hour + timedelta(minutes=5 + n)) for n in range(3)]
    put_change_rows(pipeline, DATASET, partition_prefix(DATASET, hour) + "never-merged", old)
    # A change made a minute ago is not judged yet: its hour's runs may still be to come.
    recent_hour = datetime.now(UTC) - timedelta(minutes=1)
    recent = [sales_order(7, recent_hour)]
    put_change_rows(pipeline, DATASET, partition_prefix(DATASET, recent_hour) + "just-delivered", recent)
    queue_url = subscribe_inbox(pipeline)

    before = run_dag(reconcile)
    states = task_states(before)
    assert states[STATE_CHECK_ID] == "failed", states
    numbers = xcom(before, STATE_CHECK_ID, key="check_result")["numbers"]
    assert (numbers["unmerged_changes"], numbers["hours"]) == (3, 1), numbers
    assert numbers["first_hour"] == numbers["last_hour"] == f"{hour:%Y-%m-%dT%H}", numbers
    message = alert_naming(pipeline, queue_url, STATE_CHECK_ID)
    assert "unmerged_changes=3 " in message and f"first_hour={hour:%Y-%m-%dT%H}" in message, message

    # Running that hour (as its alert says to) merges the changes; the check then passes.
    run, states = run_bad_hour(pipeline, DATASET, hour)
    assert states["merge_state"] == "success", states
    after = run_dag(reconcile)
    states = task_states(after)
    assert states[STATE_CHECK_ID] == "success", states
    assert xcom(after, STATE_CHECK_ID, key="check_result")["numbers"]["unmerged_changes"] == 0
