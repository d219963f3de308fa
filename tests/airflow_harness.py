"""Run the real DAGs in-process with ``dag.test()`` against the embedded AWS."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import boto3

from tests.conftest import REPO

_migrated = False


def migrate_metadata_db() -> None:
    """Create the test session's Airflow metadata database (SQLite in the session's AIRFLOW_HOME)."""
    global _migrated
    if _migrated:
        return
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
        timeout=300,
    )
    _migrated = True


@contextmanager
def pipeline_environment(
    endpoint_url: str, buffer_seconds: int = 1, overrides: dict[str, str] | None = None
) -> Iterator[dict[str, str]]:
    """Point the DAGs at the embedded AWS under a prefix no other test uses; restore env after.

    ``overrides`` replaces settings of the local environment (e.g. AWS's buffering defaults).
    """
    from cdc_pipeline.local_connections import deployer_env, local_env

    prefix = f"t{uuid.uuid4().hex[:7]}"
    env = local_env(endpoint_url, prefix=prefix, buffer_seconds=buffer_seconds)
    env.update(overrides or {})
    if os.environ.get("CDC_LAKE_DAGS_AS_DEPLOYER", "1") != "0":
        # Airflow as the deployer: a role whose only policy is the generated deployer policy.
        env.update(deployer_env(env))
    env["CDC_LAKE_REPORTS_DIR"] = os.path.join(os.environ["AIRFLOW_HOME"], "reports", prefix)
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def load_dags() -> dict[str, Any]:
    """Parse dags/ now (settings are read from the environment at parse time)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}, bag.import_errors
    return bag.dags


def run_dag(dag: Any, logical_date: datetime | None = None, conf: dict[str, Any] | None = None) -> Any:
    """One run of ``dag``; for an hourly DAG, the run for the hour *ending* at ``logical_date``."""
    kwargs: dict[str, Any] = {}
    if logical_date is not None:
        kwargs["logical_date"] = logical_date
    if conf is not None:
        kwargs["run_conf"] = conf
    return dag.test(**kwargs)


def task_states(run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def xcom(run: Any, task_id: str, key: str = "return_value") -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter(
                XComModel.dag_id == run.dag_id,
                XComModel.run_id == run.run_id,
                XComModel.task_id == task_id,
                XComModel.key == key,
            )
            .one_or_none()
        )
        return None if row is None else row.value


def athena_rows(endpoint_url: str, sql: str, workgroup: str, database: str) -> list[dict[str, str | None]]:
    """Run ``sql`` on Athena as a boto3 user would, and return every row as a dict of strings."""
    athena = boto3.client("athena", endpoint_url=endpoint_url, region_name="us-east-1")
    query_id = athena.start_query_execution(
        QueryString=sql, WorkGroup=workgroup, QueryExecutionContext={"Database": database}
    )["QueryExecutionId"]
    deadline = time.monotonic() + 120
    while True:
        status = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
        if status["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        assert time.monotonic() < deadline, f"query still {status['State']}: {sql}"
        time.sleep(0.1)
    assert status["State"] == "SUCCEEDED", status
    rows: list[dict[str, str | None]] = []
    header: list[str] | None = None
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
        for row in page["ResultSet"]["Rows"]:
            values = [cell.get("VarCharValue") for cell in row["Data"]]
            if header is None:
                header = [str(v) for v in values]
                continue
            rows.append(dict(zip(header, values, strict=True)))
    return rows


#: For tests that write change rows into the lake by hand, as JSON lines: the change log stays JSON
#: (a supported format). The Parquet change log (the default) is what every test that lets Firehose
#: deliver runs on.
JSON_CHANGE_LOG = {"CDC_LAKE_CHANGE_LOG_FORMAT": "json"}


@contextmanager
def deployed_pipeline(
    endpoint_url: str, provision: str | None = None, overrides: dict[str, str] | None = None
) -> Iterator[dict[str, Any]]:
    """The DAGs parsed for a fresh prefix; with ``provision`` (a pipeline name), provisioned first.

    ``overrides``: settings to use instead of the fast local ones (see ``pipeline_environment``).
    Yields ``{"env", "dags", "endpoint", "prefix"}`` for the helpers below.
    """
    migrate_metadata_db()
    with pipeline_environment(endpoint_url, overrides=overrides) as env:
        dags = load_dags()
        if provision is not None:
            run = run_dag(dags[f"{provision}_provision"])
            assert str(run.state) == "success", task_states(run)
        yield {"env": env, "dags": dags, "endpoint": endpoint_url, "prefix": env["CDC_LAKE_PREFIX"]}


def client(pipeline: dict[str, Any], service: str) -> Any:
    """A boto3 client for the embedded AWS the pipeline runs on."""
    return boto3.client(service, endpoint_url=pipeline["endpoint"], region_name="us-east-1")


def lake_bucket(pipeline: dict[str, Any]) -> str:
    account = client(pipeline, "sts").get_caller_identity()["Account"]
    return f"{pipeline['prefix']}-{account}-us-east-1-lake"


def object_rows(body: bytes) -> list[dict[str, Any]]:
    """A lake object's change rows: JSON lines, or a Parquet file's rows (decimals as Decimal)."""
    import io
    import json

    import pyarrow.parquet as pq

    from cdc_pipeline.workflows.hourly.delivery import is_parquet

    if is_parquet(body):
        return pq.read_table(io.BytesIO(body)).to_pylist()
    return [json.loads(line) for line in body.decode().splitlines() if line.strip()]


def lake_items_as_of(
    pipeline: dict[str, Any], dataset: str, key: str, at: datetime
) -> dict[str, dict[str, Any]]:
    """The items as they stood at ``at``, from the change rows in the lake (not the product's SQL):
    each key's newest change (by sequence number) made before ``at``, unless it was a delete."""
    s3, bucket = client(pipeline, "s3"), lake_bucket(pipeline)
    latest: dict[str, dict[str, Any]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{dataset}/"):
        for item in page.get("Contents", []):
            for row in object_rows(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()):
                if row["event_time"] >= f"{at:%Y-%m-%dT%H:%M:%S}":
                    continue
                known = latest.get(row[key])
                if known is None or int(row["sequence_number"]) > int(known["sequence_number"]):
                    latest[row[key]] = row
    return {name: row for name, row in latest.items() if not row["is_deleted"]}


def report_files(pipeline: dict[str, Any], dataset: str, hour: datetime) -> dict[str, bytes]:
    """Every file of one hour's published report, by file name."""
    s3 = client(pipeline, "s3")
    bucket = lake_bucket(pipeline)
    prefix = f"reports/{dataset}/hour={hour:%Y-%m-%dT%H}/"
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {
        item["Key"][len(prefix) :]: s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        for item in listing
    }
