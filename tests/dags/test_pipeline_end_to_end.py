"""The real DAGs, run with dag.test() against the embedded AWS: provision, generate, hourly, teardown."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.airflow_harness import (
    athena_rows,
    client,
    deployed_pipeline,
    run_dag,
    task_states,
    xcom,
)

pytestmark = pytest.mark.slow


def current_hour() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


@pytest.fixture(scope="module")
def pipeline(local_aws):
    """sales_orders, provisioned under a prefix of its own, for the tests that generate and read."""
    with deployed_pipeline(local_aws.endpoint_url, provision="sales_orders") as deployed:
        yield deployed


@pytest.fixture
def unprovisioned(local_aws):
    """The DAGs under a fresh prefix with nothing provisioned yet (for a first provision)."""
    with deployed_pipeline(local_aws.endpoint_url) as deployed:
        yield deployed


@pytest.fixture
def provisioned(local_aws):
    """A provisioned pipeline of this test's own, which the test may tear down."""
    with deployed_pipeline(local_aws.endpoint_url, provision="sales_orders") as deployed:
        yield deployed


@pytest.fixture(scope="module")
def generated(pipeline) -> datetime:
    """2,000 orders generated over the two hours before the current one, which the hourly DAG has
    run: the hour it ran for. Every test that reads the lake asks for it, so each runs alone."""
    hour = current_hour()
    run = run_dag(
        pipeline["dags"]["sales_orders_generate"],
        conf={
            "orders": 2000,
            "update_share": 0.25,
            "delete_share": 0.08,
            "seed": 11,
            "spread_hours": 2,
            "end_time": hour.isoformat(),
        },
    )
    assert str(run.state) == "success", task_states(run)
    summary = xcom(run, "generate")
    assert summary["counts"]["inserted"] == 2000
    assert summary["counts"]["updated"] > 0 and summary["counts"]["deleted"] > 0

    hourly = run_dag(pipeline["dags"]["sales_orders_hourly"], logical_date=hour)
    assert str(hourly.state) == "success", task_states(hourly)
    return hour


def scan_table(pipeline) -> dict[str, dict]:
    table = f"{pipeline['prefix']}-orders"
    items = {}
    for page in client(pipeline, "dynamodb").get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            items[item["orderid"]["S"]] = item
    return items


def lake_current_state(pipeline) -> dict[str, tuple[int, Decimal]]:
    database = pipeline["prefix"]
    rows = athena_rows(
        pipeline["endpoint"],
        "SELECT orderid, quantity, CAST(price AS DECIMAL(12, 2)) AS price FROM sales_orders_current",
        workgroup=pipeline["prefix"],
        database=database,
    )
    return {row["orderid"]: (int(row["quantity"]), Decimal(row["price"])) for row in rows}


def test_provision_is_idempotent(unprovisioned):
    dag = unprovisioned["dags"]["sales_orders_provision"]
    first = run_dag(dag)
    assert str(first.state) == "success", task_states(first)
    second = run_dag(dag)
    assert str(second.state) == "success", task_states(second)
    outcomes = xcom(second, "provision")
    assert outcomes, "provision reported nothing"
    changed = [o for o in outcomes if o["action"] != "unchanged"]
    assert changed == [], changed
    first_actions = {o["action"] for o in xcom(first, "provision")}
    assert "created" in first_actions and first_actions <= {"created", "updated", "unchanged"}


def test_generated_orders_reach_the_lake_exactly(pipeline, generated):
    table = scan_table(pipeline)
    lake = lake_current_state(pipeline)
    assert set(lake) == set(table)
    for orderid, item in table.items():
        assert lake[orderid] == (int(item["quantity"]["N"]), Decimal(item["price"]["N"])), orderid


def test_a_batch_delivered_twice_changes_nothing(pipeline, generated):
    """Firehose and Pipes are at-least-once: a duplicated object must not change the current state."""
    s3 = client(pipeline, "s3")
    account = client(pipeline, "sts").get_caller_identity()["Account"]
    bucket = f"{pipeline['prefix']}-{account}-us-east-1-lake"
    objects = s3.list_objects_v2(Bucket=bucket, Prefix="sales_orders/")["Contents"]
    original = max(objects, key=lambda o: o["Size"])["Key"]
    s3.copy_object(
        Bucket=bucket, Key=original + "-redelivered", CopySource={"Bucket": bucket, "Key": original}
    )

    hourly = run_dag(pipeline["dags"]["sales_orders_hourly"], logical_date=generated)
    assert str(hourly.state) == "success", task_states(hourly)
    table = scan_table(pipeline)
    lake = lake_current_state(pipeline)
    assert set(lake) == set(table)
    for orderid, item in table.items():
        assert lake[orderid] == (int(item["quantity"]["N"]), Decimal(item["price"]["N"])), orderid


def test_teardown_leaves_nothing_behind(provisioned):
    pipeline = provisioned
    dag = pipeline["dags"]["sales_orders_teardown"]
    first = run_dag(dag)
    assert str(first.state) == "success", task_states(first)
    assert "deleted" in {o["action"] for o in xcom(first, "teardown")}, "nothing was there to tear down"
    prefix = pipeline["prefix"]

    assert not [t for t in client(pipeline, "dynamodb").list_tables()["TableNames"] if t.startswith(prefix)]
    assert not [s for s in client(pipeline, "kinesis").list_streams()["StreamNames"] if s.startswith(prefix)]
    assert not [p for p in client(pipeline, "pipes").list_pipes()["Pipes"] if p["Name"].startswith(prefix)]
    assert not [
        d
        for d in client(pipeline, "firehose").list_delivery_streams()["DeliveryStreamNames"]
        if d.startswith(prefix)
    ]
    assert not [
        f
        for f in client(pipeline, "lambda").list_functions()["Functions"]
        if f["FunctionName"].startswith(prefix)
    ]
    assert not [c for c in client(pipeline, "glue").list_crawlers()["CrawlerNames"] if c.startswith(prefix)]
    assert not [b for b in client(pipeline, "s3").list_buckets()["Buckets"] if b["Name"].startswith(prefix)]
    assert not [r for r in client(pipeline, "iam").list_roles()["Roles"] if r["RoleName"].startswith(prefix)]
    assert not [
        w for w in client(pipeline, "athena").list_work_groups()["WorkGroups"] if w["Name"].startswith(prefix)
    ]
    assert not [t for t in client(pipeline, "sns").list_topics()["Topics"] if f":{prefix}-" in t["TopicArn"]]

    second = run_dag(dag)
    assert str(second.state) == "success", task_states(second)
    outcomes = {o["resource"]: o["action"] for o in xcom(second, "teardown")}
    # Airflow runs as the deployer, who may not delete the permissions boundary (the administrator's).
    assert outcomes.pop("permissions_boundary") in ("absent", "unchanged")
    assert set(outcomes.values()) == {"absent"}, outcomes
