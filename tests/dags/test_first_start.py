"""A first start is green: an unprovisioned pipeline's hourly run is skipped, and generate leads to its report.

The hourly run of a pipeline nobody has provisioned yet ends with every task after
``check_provisioned`` skipped (no failure, so no alert); once provisioned, a generate run with the
form's defaults records the hour it wrote into on its Asset, which the follower DAG turns into the
hourly run of that hour (the scheduler's own run id, so a skipped scheduled run is reset).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pendulum
import pytest

from tests.airflow_harness import client, deployed_pipeline, lake_bucket, run_dag, task_states

pytestmark = pytest.mark.slow


@contextmanager
def warnings_of(name: str) -> Iterator[list[logging.LogRecord]]:
    """The records logged to ``name`` while inside; a handler on the logger itself, since Airflow's
    logging setup (made by the first run in the process) may stop records from reaching the root."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def previous_hour_end() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def skipped_naming_provision(run: Any, records: list[logging.LogRecord]) -> str:
    """Assert the run is green, every task after ``check_provisioned`` skipped and the warning names
    the DAG to trigger; the warning's text, for more."""
    states = task_states(run)
    assert str(run.state) == "success", states
    assert states.pop("check_provisioned") == "success"
    assert states and set(states.values()) == {"skipped"}, states
    message = " ".join(record.getMessage() for record in records)
    assert "not provisioned yet" in message and "trigger the DAG sales_orders_provision" in message, message
    return message


def test_hourly_run_of_an_unprovisioned_pipeline_is_skipped_not_failed(local_aws):
    with deployed_pipeline(local_aws.endpoint_url) as pipeline:
        dag = pipeline["dags"]["sales_orders_hourly"]
        with warnings_of("cdc_pipeline.hourly") as records:
            run = run_dag(dag, logical_date=previous_hour_end())
    skipped_naming_provision(run, records)


@pytest.mark.parametrize("kind", ["reconcile", "maintenance"])
def test_a_whole_table_dag_of_an_unprovisioned_pipeline_is_skipped_not_failed(local_aws, kind):
    """``make airflow`` unpauses every DAG, so a scheduled run of these may come before provisioning."""
    with deployed_pipeline(local_aws.endpoint_url) as pipeline, warnings_of("cdc_pipeline.hourly") as records:
        run = run_dag(pipeline["dags"][f"sales_orders_{kind}"])
    assert f"sales_orders_{kind} is skipped" in skipped_naming_provision(run, records)


def test_generate_defaults_write_the_hour_just_ended_and_name_it_on_the_asset(local_aws):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with deployed_pipeline(local_aws.endpoint_url, provision="sales_orders") as pipeline:
        started = datetime.now(UTC)
        run = run_dag(pipeline["dags"]["sales_orders_generate"], conf={"orders": 5})
        assert str(run.state) == "success", task_states(run)
    end = started.replace(minute=0, second=0, microsecond=0)
    with create_session() as session:
        event = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(
                AssetModel.uri == "cdc-lake://sales_orders/generated", AssetEvent.source_run_id == run.run_id
            )
            .one()
        )
        hours = event.extra["hours"]
    assert hours == [[(end - timedelta(hours=1)).isoformat(), end.isoformat()]]


def test_the_follower_triggers_the_run_the_scheduler_would_have_made():
    from airflow.timetables.interval import CronDataIntervalTimetable
    from airflow.utils.types import DagRunType

    from cdc_pipeline.workflows.generate import hourly_trigger, hours_of_window

    hours = hours_of_window(["2026-11-30T02:00:00.000Z", "2026-11-30T04:00:00.000Z"])
    assert hours == [
        ["2026-11-30T02:00:00+00:00", "2026-11-30T03:00:00+00:00"],
        ["2026-11-30T03:00:00+00:00", "2026-11-30T04:00:00+00:00"],
    ]
    assert hours_of_window(None) == []
    timetable = CronDataIntervalTimetable("0 * * * *", timezone="UTC")
    start = pendulum.datetime(2026, 11, 30, 3, tz="UTC")
    interval = timetable.infer_manual_data_interval(run_after=start + timedelta(hours=1))
    scheduled = timetable.generate_run_id(
        run_type=DagRunType.SCHEDULED, run_after=interval.end, data_interval=interval
    )
    trigger = hourly_trigger(*hours[1])
    assert trigger["trigger_run_id"] == scheduled
    assert datetime.fromisoformat(trigger["logical_date"]) == interval.start


class GeneratedEvents:
    """Stands in for ``inlet_events[generated]``: the Asset events, filtered by ``after``."""

    def __init__(self, hours: list[list[str]]) -> None:
        self.events = [SimpleNamespace(extra={"hours": hours})] if hours else []

    def after(self, moment: str) -> list[SimpleNamespace]:
        return self.events


def test_a_catch_up_run_of_an_hour_before_provisioning_is_skipped_unless_it_has_data(local_aws):
    """The gate's own callable, with a scheduled run's context, against a provisioned pipeline.

    dag.test makes manual runs only; the scheduler's catch-up runs are ``scheduled``.
    """
    from cdc_pipeline.definitions import get_pipeline
    from cdc_pipeline.workflows import assets

    with deployed_pipeline(local_aws.endpoint_url, provision="sales_orders") as pipeline:
        dag = pipeline["dags"]["sales_orders_hourly"]
        gate = dag.get_task("check_provisioned").python_callable
        generated = assets.generated(get_pipeline("sales_orders"))
        assert generated in dag.get_task("check_provisioned").inlets
        before = previous_hour_end() - timedelta(hours=3)  # ended before provisioning
        after = previous_hour_end() + timedelta(hours=1)  # ends after provisioning
        hour = [[(before - timedelta(hours=1)).isoformat(), before.isoformat()]]

        def passes(run_type: str, end: datetime, written: list[list[str]]) -> bool:
            return gate(
                dag_run=SimpleNamespace(run_type=run_type),
                data_interval_start=end - timedelta(hours=1),
                data_interval_end=end,
                inlet_events={generated: GeneratedEvents(written)},
            )

        with warnings_of("cdc_pipeline.hourly") as records:
            assert passes("scheduled", before, []) is False
        message = " ".join(record.getMessage() for record in records)
        assert "ended before sales_orders was provisioned" in message and "skipped, not failed" in message
        # The operator asked for it, generate wrote into it, or the hour is after provisioning: it runs.
        assert passes("manual", before, []) is True
        assert passes("backfill", before, []) is True
        assert passes("scheduled", before, hour) is True
        assert passes("scheduled", after, []) is True
        # Something was delivered into the hour's partition: it runs, and its checks judge it.
        start = before - timedelta(hours=1)
        key = f"sales_orders/year={start:%Y}/month={start:%m}/day={start:%d}/hour={start:%H}/late.json"
        client(pipeline, "s3").put_object(Bucket=lake_bucket(pipeline), Key=key, Body=b"{}\n")
        assert passes("scheduled", before, []) is True
