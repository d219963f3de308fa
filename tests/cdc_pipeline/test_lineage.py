"""Lineage: provision, generate and the hourly report declare the Assets they produce, and the follower
DAG that turns a generate run into its hourly runs is scheduled on generate's Asset."""

from __future__ import annotations

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def dags():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}, bag.import_errors
    return bag.dags


def uris(task) -> set[str]:
    return {outlet.uri for outlet in task.outlets}


@pytest.mark.parametrize("name", ["sales_orders", "user_events", "user_profiles"])
def test_each_dag_declares_what_it_produces(dags, name):
    assert uris(dags[f"{name}_provision"].get_task("provision")) == {f"cdc-lake://{name}/resources"}
    assert uris(dags[f"{name}_generate"].get_task("generate")) == {f"cdc-lake://{name}/generated"}
    assert uris(dags[f"{name}_hourly"].get_task("publish_report")) == {f"cdc-lake://{name}/report"}


def test_the_follower_is_scheduled_on_what_generate_produces(dags):
    follower = dags["sales_orders_report_generated"]
    assert {asset.uri for asset in follower.timetable.asset_condition.objects} == {
        "cdc-lake://sales_orders/generated"
    }
    run_hourly = follower.get_task("run_hourly")
    assert run_hourly.partial_kwargs["trigger_dag_id"] == "sales_orders_hourly"
    assert run_hourly.partial_kwargs["reset_dag_run"] is True
