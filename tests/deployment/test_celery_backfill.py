"""Airflow as a team runs it: separate processes, PostgreSQL, Celery on Redis; a backfill of three hours.

The scheduler, dag-processor, triggerer, api-server and a Celery worker each run in their own process,
on a PostgreSQL metadata database made for this test (dropped at the end) and a Redis database this
test claims (flushed at the end), with the embedded AWS in a process of its own. Provision and generate
(orders spread over three past hours) run through the scheduler; then `airflow backfill create` queues
the hourly DAG over those hours and the test waits until all three runs succeed and their reports
match what was generated.
"""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import psycopg
import pytest
import redis

from cdc_cli.local_server import free_port
from scripts.airflow_local import VENV_BIN, Services, airflow_env, airflow_healthy, wait_until
from tests.airflow_harness import lake_items_as_of
from tests.deployment.conftest import (
    STARTUP_TIMEOUT,
    AirflowApi,
    Deployment,
    isolated_extra,
    start_aws,
    unique_prefix,
)

pytestmark = pytest.mark.slow

POSTGRES = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_CLAIM_KEY = "cdc-lake-deployment-test"
HOURS = 3
BACKFILL_TIMEOUT = 600


@pytest.fixture(scope="module")
def metadata_database() -> Iterator[str]:
    """A PostgreSQL database of our own for Airflow's metadata; dropped (connections and all) at the end."""
    name = f"cdc_lake_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def redis_database() -> Iterator[int]:
    """A Redis database number nobody uses, claimed with a key, flushed at the end."""
    for number in range(15, 0, -1):
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number)
        # SET NX on an empty database: two test sessions cannot claim the same one.
        if client.dbsize() == 0 and client.set(REDIS_CLAIM_KEY, uuid.uuid4().hex, nx=True):
            if client.dbsize() == 1:
                break
            client.delete(REDIS_CLAIM_KEY)
    else:
        pytest.fail("no free Redis database among 1-15 on 127.0.0.1:6379")
    try:
        yield number
    finally:
        client.flushdb()
        client.close()


@pytest.fixture(scope="module")
def celery_deployment(
    tmp_path_factory: pytest.TempPathFactory, metadata_database: str, redis_database: int
) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("celery")
    logs = root / "logs"
    services = Services()
    try:
        endpoint_url = start_aws(services, root)
        api_port = free_port()
        password = uuid.uuid4().hex[:12]
        queue = f"cdc-lake-{uuid.uuid4().hex[:8]}"
        broker = f"redis://{REDIS_HOST}:{REDIS_PORT}/{redis_database}"
        env = airflow_env(
            root / "home",
            endpoint_url,
            api_port=api_port,
            password=password,
            prefix=unique_prefix("cel"),
            buffer_seconds=1,
            extra={
                **isolated_extra(parallelism=16),
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_database,
                "AIRFLOW__CELERY__BROKER_URL": broker,
                "AIRFLOW__CELERY__RESULT_BACKEND": broker,
                # Our own queue: no other worker on this Redis takes our tasks, nor we theirs.
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
            },
        )
        deployment = Deployment(
            f"http://127.0.0.1:{api_port}",
            endpoint_url,
            password,
            env["CDC_LAKE_PREFIX"],
            root / "home",
            env,
            services,
            AirflowApi(f"http://127.0.0.1:{api_port}", password, services),
            root,
        )
        deployment.airflow_cli("db", "migrate", timeout=300)
        airflow = str(VENV_BIN / "airflow")
        for name, argv in (
            ("api-server", [airflow, "api-server"]),
            ("scheduler", [airflow, "scheduler"]),
            ("dag-processor", [airflow, "dag-processor"]),
            ("triggerer", [airflow, "triggerer"]),
            ("celery worker", [airflow, "celery", "worker", "--queues", queue, "--concurrency", "4"]),
        ):
            log = logs / f"{name.replace(' ', '_')}.log"
            services.start(name, argv, env, log, stop_signal=signal.SIGTERM)
        try:
            wait_until(
                lambda: airflow_healthy(deployment.api_url),
                STARTUP_TIMEOUT,
                "Airflow's components",
                services,
                2,
            )
        except (TimeoutError, RuntimeError) as error:
            pytest.fail(f"{error}\n{services.logs()}")
        yield deployment
    finally:
        services.stop_all()


def placed_in(orders: dict[str, dict[str, Any]], hour: datetime) -> int:
    """How many of ``orders`` were placed in ``hour``."""
    return sum(1 for order in orders.values() if order["order_time"][:13] == f"{hour:%Y-%m-%dT%H}")


def report_totals(deployment: Deployment, lake_bucket: str, hour: datetime) -> dict[str, str]:
    s3 = boto3.client("s3", endpoint_url=deployment.endpoint_url, region_name="us-east-1")
    key = f"reports/sales_orders/hour={hour:%Y-%m-%dT%H}/summary.json"
    return json.loads(s3.get_object(Bucket=lake_bucket, Key=key)["Body"].read())["totals"]


def test_backfill_three_hours_on_celery_and_postgres(celery_deployment: Deployment) -> None:
    deployment, api = celery_deployment, celery_deployment.api
    for dag_id in ("sales_orders_provision", "sales_orders_generate", "sales_orders_hourly"):
        api.wait_for_dag(dag_id)

    provision = api.trigger("sales_orders_provision")
    api.wait_for_run("sales_orders_provision", provision)

    # Three whole hours that ended a while ago: a backfill, not the live hour.
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    hours = [end - timedelta(hours=n) for n in range(HOURS, 0, -1)]
    generate = api.trigger(
        "sales_orders_generate",
        {"orders": 90, "seed": 11, "spread_hours": HOURS, "end_time": end.isoformat()},
    )
    api.wait_for_run("sales_orders_generate", generate)
    written = api.xcom("sales_orders_generate", generate, "generate")
    generated = {key[:13]: value for key, value in written["hourly"].items()}
    assert sorted(generated) == [f"{h:%Y-%m-%dT%H}" for h in hours], written["hourly"]

    deployment.airflow_cli(
        "backfill",
        "create",
        "--dag-id",
        "sales_orders_hourly",
        "--from-date",
        hours[0].isoformat(),
        "--to-date",
        hours[-1].isoformat(),
    )

    def backfill_runs() -> list[dict[str, str]]:
        runs = api.get("/dags/sales_orders_hourly/dagRuns", run_type="backfill", limit=50)["dag_runs"]
        failed = [r for r in runs if r["state"] == "failed"]
        assert not failed, (
            f"backfill runs failed: {[(r['dag_run_id'], api.task_states('sales_orders_hourly', r['dag_run_id'])) for r in failed]}\n"
            + deployment.services.logs()
        )
        return runs

    def all_succeeded() -> bool:
        runs = backfill_runs()
        return len(runs) == HOURS and all(r["state"] == "success" for r in runs)

    try:
        wait_until(
            all_succeeded, BACKFILL_TIMEOUT, "the three backfill runs to succeed", deployment.services, 5
        )
    except (TimeoutError, RuntimeError) as error:
        states = {
            r["dag_run_id"]: (r["state"], api.task_states("sales_orders_hourly", r["dag_run_id"]))
            for r in backfill_runs()
        }
        pytest.fail(f"{error}; runs: {states}\n{deployment.services.logs()}")

    # The CLI sees the same: three backfill runs, one per hour, all successful.
    out = deployment.airflow_cli("dags", "list-runs", "sales_orders_hourly", "-o", "json")
    # Log lines may come first on stdout; the listing is the JSON array on a line of its own.
    listed = json.loads(next(line for line in reversed(out.splitlines()) if line.startswith("[")))
    backfilled = {r["logical_date"][:13]: r["state"] for r in listed if r["run_id"].startswith("backfill__")}
    assert backfilled == {f"{h:%Y-%m-%dT%H}": "success" for h in hours}, listed

    # Each hour's report is as at the hour's end: the orders placed in the hour as they stood then,
    # from the lake's change rows. Those rows taken to now give the generator's count (its deletes
    # are made now, after the simulated hours, so an order deleted since is in the hour's report).
    account = boto3.client(
        "sts", endpoint_url=deployment.endpoint_url, region_name="us-east-1"
    ).get_caller_identity()
    lake_bucket = f"{deployment.prefix}-{account['Account']}-us-east-1-lake"
    lake = {"endpoint": deployment.endpoint_url, "prefix": deployment.prefix}
    now = lake_items_as_of(lake, "sales_orders", "orderid", datetime.now(UTC) + timedelta(hours=1))
    for hour in hours:
        totals = report_totals(deployment, lake_bucket, hour)
        then = lake_items_as_of(lake, "sales_orders", "orderid", hour + timedelta(hours=1))
        assert int(totals["orders"]) == placed_in(then, hour), (hour, totals)
        assert placed_in(now, hour) == int(generated[f"{hour:%Y-%m-%dT%H}"]["orders"]), hour
