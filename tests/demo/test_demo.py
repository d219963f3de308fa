"""`make demo`'s runner, as a user runs it: against an embedded AWS started separately."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.local_aws.server_process import ServerProcess

pytestmark = pytest.mark.slow


def test_demo_uses_the_endpoint_it_is_given_and_leaves_its_results_there(tmp_path):
    server = ServerProcess(tmp_path / "state").start()
    try:
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": server.endpoint_url,
            "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
            "CDC_LAKE_DEMO_DIR": str(tmp_path / "demo"),
            "CDC_LAKE_DEMO_REPORTS_DIR": str(tmp_path / "reports"),
            "CDC_LAKE_PREFIX": "demo-test",
        }
        env.pop("AIRFLOW_HOME", None)
        env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
        env.pop("CDC_LAKE_DAGS_AS_DEPLOYER", None)  # the default: Airflow as the deployer
        done = subprocess.run(
            [sys.executable, "-m", "cdc_cli.demo", "--count", "150", "--hours", "1"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        out = done.stdout
        assert f"using the AWS endpoint in AWS_ENDPOINT_URL: {server.endpoint_url}" in out
        assert "embedded AWS up at" not in out, "the demo started its own server"
        assert "quality checks" in out and " 0 failed" in out
        assert "orders (reported hours)" in out and "bytes Athena scanned" in out
        # The reconcile DAG ran once every change was older than its watermark: it compared them all.
        found = re.search(
            r"check_current_state_matches_table: success; lake_items=(\d+) table_items=(\d+)", out
        )
        assert found and found[1] == found[2] and int(found[1]) > 0, out[-3000:]
        # Airflow ran as the deployer: a role whose only policy is the generated deployer policy.
        assert "Airflow runs as the deployer role airflow-demo-test" in out
        iam = server.client("iam")
        assert iam.list_role_policies(RoleName="airflow-demo-test")["PolicyNames"]
        assert iam.list_attached_role_policies(RoleName="airflow-demo-test")["AttachedPolicies"] == []

        # The results stay in the server the demo was pointed at, after the demo has exited.
        s3 = server.client("s3")
        lake = next(b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("demo-test-"))
        reports = s3.list_objects_v2(Bucket=lake, Prefix="reports/sales_orders/")["Contents"]
        assert any(item["Key"].endswith("/index.html") for item in reports)
        tables = server.client("dynamodb").list_tables()["TableNames"]
        assert "demo-test-orders" in tables
        local = list((tmp_path / "reports").rglob("index.html"))
        assert local, "no local report folder"
    finally:
        server.stop()
