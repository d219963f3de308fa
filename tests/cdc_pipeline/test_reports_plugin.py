"""The Reports plugin: its pages list and serve the hourly reports, the run link finds its hour, the
alert and the extra link point at it, and the plugin registers a "Reports" nav entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from cdc_reports import app as reports_app
from cdc_reports import store
from fastapi.testclient import TestClient


def write_report(root: Path, dataset: str, hour: str, body: str = "<h1>report</h1>") -> None:
    folder = root / dataset / hour
    folder.mkdir(parents=True)
    (folder / "index.html").write_text(body)
    (folder / "totals.csv").write_text('"orders"\n"5"\n')


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    write_report(tmp_path, "sales_orders", "2026-11-30T03", "<h1>three</h1>")
    write_report(tmp_path, "sales_orders", "2026-11-30T04")
    app = reports_app.create_app(lambda: [store.LocalReports(tmp_path)])
    app.dependency_overrides[reports_app._signed_in] = lambda: None
    monkeypatch.setattr(
        reports_app,
        "hour_of_run",
        lambda dag_id, run_id: "2026-11-30T03" if run_id == "scheduled__2026-11-30T04:00:00+00:00" else None,
    )
    return TestClient(app, root_path="/cdc-reports")


def test_index_lists_each_hour_newest_first(client: TestClient) -> None:
    page = client.get("/").text
    assert page.index("2026-11-30T04/") < page.index("2026-11-30T03/")
    assert "<h2>sales_orders</h2>" in page


def test_report_page_and_its_files_are_served(client: TestClient) -> None:
    assert client.get("/sales_orders/2026-11-30T03/").text == "<h1>three</h1>"
    csv = client.get("/sales_orders/2026-11-30T03/totals.csv")
    assert csv.headers["content-type"].startswith("text/csv") and '"5"' in csv.text


@pytest.mark.parametrize(
    "path",
    [
        "/sales_orders/2026-11-30T03/..%2F..%2Fsecret",
        "/Sales/2026-11-30T03/index.html",
        "/sales_orders/03/x.csv",
    ],
)
def test_names_outside_the_reports_are_refused(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404


def test_missing_file_names_what_is_missing(client: TestClient) -> None:
    response = client.get("/sales_orders/2026-11-30T05/")
    assert response.status_code == 404
    assert "sales_orders for 2026-11-30T05:00 UTC" in response.json()["detail"]


def test_a_run_link_redirects_to_its_hour(client: TestClient) -> None:
    run = "scheduled__2026-11-30T04%3A00%3A00%2B00%3A00"
    response = client.get(f"/run/sales_orders_hourly/{run}", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/cdc-reports/sales_orders/2026-11-30T03/"
    assert client.get("/run/sales_orders_hourly/manual__nope").status_code == 404


def test_pages_need_a_signed_in_user(tmp_path: Path) -> None:
    app = reports_app.create_app(lambda: [store.LocalReports(tmp_path)])
    assert TestClient(app).get("/").status_code in (401, 403)


def test_reports_are_read_from_the_lake(endpoint_url: str) -> None:
    s3 = boto3.client("s3", endpoint_url=endpoint_url, region_name="us-east-1")
    bucket = f"plugin-{datetime.now(UTC):%H%M%S%f}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="reports/user_events/hour=2026-11-30T02/index.html", Body=b"lake")
    lake = store.S3Reports(s3, bucket)
    assert lake.hours() == {"user_events": {"2026-11-30T02"}}
    assert lake.read("user_events", "2026-11-30T02", "index.html") == b"lake"
    assert lake.read("user_events", "2026-11-30T02", "charts.png") is None


def test_alert_and_extra_link_point_at_the_run_report(monkeypatch: pytest.MonkeyPatch) -> None:
    from cdc_pipeline import report_links
    from cdc_pipeline.alerts import describe_failure

    monkeypatch.setattr(report_links, "base_url", lambda: "http://airflow.example:8080")
    ti = SimpleNamespace(
        dag_id="sales_orders_hourly", task_id="check_rows", run_id="scheduled__x+1", try_number=1
    )
    _, body = describe_failure({"ti": ti, "data_interval_start": datetime(2026, 11, 30, 3, tzinfo=UTC)})
    expected = "http://airflow.example:8080/cdc-reports/run/sales_orders_hourly/scheduled__x%2B1"
    assert f"Report: {expected}" in body.splitlines()
    link = report_links.report_link()
    assert link.get_link(None, ti_key=ti) == expected
    provision = SimpleNamespace(
        dag_id="sales_orders_provision", task_id="provision", run_id="m", try_number=1
    )
    assert "Report:" not in describe_failure({"ti": provision})[1]


def test_an_alert_of_a_six_hour_run_names_its_interval_not_an_hour() -> None:
    from cdc_pipeline.alerts import describe_failure

    ti = SimpleNamespace(
        dag_id="sales_orders_reconcile", task_id="check_current_state_matches_table", run_id="s", try_number=1
    )
    start, end = datetime(2026, 11, 30, 18, tzinfo=UTC), datetime(2026, 12, 1, 0, tzinfo=UTC)
    subject, body = describe_failure({"ti": ti, "data_interval_start": start, "data_interval_end": end})
    assert subject == (
        "cdc-lake: check_current_state_matches_table failed for 2026-11-30 18:00 to 2026-12-01 00:00 UTC"
    )
    assert "Interval: 2026-11-30 18:00 UTC to 2026-12-01 00:00 UTC" in body.splitlines()
    assert "Report:" not in body
    hourly = SimpleNamespace(dag_id="sales_orders_hourly", task_id="check_rows", run_id="h", try_number=1)
    subject, body = describe_failure(
        {"ti": hourly, "data_interval_start": end - timedelta(hours=1), "data_interval_end": end}
    )
    assert subject == "cdc-lake: check_rows failed for 2026-11-30 23:00 UTC"
    assert "Hour: 2026-11-30 23:00 UTC to 00:00 UTC" in body.splitlines()


def test_the_plugin_adds_a_reports_nav_entry_and_mounts_the_app() -> None:
    from cdc_reports_plugin import CdcReportsPlugin

    plugin = CdcReportsPlugin()
    (view,) = plugin.external_views
    assert view["name"] == "Reports" and view["destination"] == "nav" and view["href"] == "cdc-reports/"
    (mounted,) = plugin.fastapi_apps
    assert mounted["url_prefix"] == "/cdc-reports"


def test_publish_report_carries_the_report_extra_link() -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    from tests.conftest import REPO

    bag = DagBag(dag_folder=str(REPO / "dags" / "hourly.py"))
    dag = bag.dags["sales_orders_hourly"]
    serialized = DagSerialization.to_dict(dag)
    (publish,) = [t for t in serialized["dag"]["tasks"] if t["__var"]["task_id"] == "publish_report"]
    assert publish["__var"]["_operator_extra_links"] == {"Report": "_link_ReportLink"}


def test_the_local_folder_comes_first_and_the_lake_is_made_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CDC_LAKE_REPORTS_DIR", str(tmp_path))
    first, second = store.sources(), store.sources()
    assert isinstance(first[0], store.LocalReports) and first[0].root == tmp_path
    assert first[1] is second[1]
