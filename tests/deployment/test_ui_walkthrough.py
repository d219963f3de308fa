"""The README's walkthrough, done by a person in Chromium on a fresh `make airflow`: green, then a report.

Airflow starts as `make airflow` starts it, schedules on: each hourly DAG runs the previous hour at
once, before anything is provisioned, and that run must not fail. Then, in the browser: trigger
`sales_orders_provision` and `sales_orders_generate` with the form's defaults; the hour that generate
wrote into gets its hourly run without another click, and its report opens from the "Reports" entry
of the navigation and from `publish_report`'s "Report" extra link. The report is saved as a
screenshot at 1400 px wide, under `reports/screenshots/` (the path is printed).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

import httpx
import pytest

from tests.conftest import REPO
from tests.deployment.conftest import RUN_TIMEOUT, Deployment, standalone_deployment
from tests.deployment.test_ui_trigger import page  # noqa: F401 (the page fixture, its harness)

pytestmark = pytest.mark.slow

HOURLY = "sales_orders_hourly"
SCREENSHOTS = REPO / "reports" / "screenshots"


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """As `make airflow` runs: the scheduler makes the hourly DAGs' runs (the previous hour on)."""
    with standalone_deployment(tmp_path_factory.mktemp("walkthrough"), schedules=True) as deployment:
        yield deployment


def wait_for(check: Any, what: str, deployment: Deployment, timeout: float = RUN_TIMEOUT) -> Any:
    """Poll ``check`` (an API read) until it returns something; a busy api-server's slow answer is retried."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deployment.services.check_running()
        try:
            if result := check():
                return result
        except httpx.TransportError:
            pass  # the api-server is busy (two cores, four Airflow processes): ask again
        time.sleep(2)
    pytest.fail(f"timed out waiting for {what}\n{deployment.services.logs()}")


def runs(api: Any, dag_id: str = "~", **params: Any) -> list[dict[str, Any]]:
    return api.get(f"/dags/{dag_id}/dagRuns", **params)["dag_runs"]


def trigger_with_defaults(tab: Any, base: str, dag_id: str) -> str:
    """Open the DAG, press Trigger, submit the form as it comes; the run's id from the page it opens."""
    tab.goto(f"{base}/dags/{dag_id}")
    tab.get_by_test_id("trigger-dag-button").click()
    tab.get_by_test_id("trigger-dag-submit").click()
    tab.wait_for_url(f"**/dags/{dag_id}/runs/manual__*")
    return unquote(tab.url.rsplit("/runs/", 1)[1])


def sign_in(tab: Any, deployment: Deployment) -> None:
    """The login page, as a signed-out browser sees it when it opens a DAG."""
    tab.goto(f"{deployment.api_url}/dags/sales_orders_provision")
    tab.get_by_label("Username").fill("admin")
    tab.get_by_label("Password").fill(deployment.password)
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url("**/dags/sales_orders_provision")


def test_first_start_is_green_and_generate_leads_to_the_report(
    standalone: Deployment,
    page: Any,  # noqa: F811
) -> None:
    api = standalone.api
    for kind in ("provision", "generate", "report_generated", "hourly"):
        api.wait_for_dag(f"sales_orders_{kind}")
    previous = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)

    # Before any trigger: the previous hour's scheduled run ends green, everything after the gate skipped.
    def scheduled_run_done() -> dict[str, Any] | None:
        done = [r for r in runs(api, HOURLY, run_type="scheduled") if r["state"] in ("success", "failed")]
        return done[0] if done else None

    first = wait_for(scheduled_run_done, "the previous hour's scheduled hourly run", standalone)
    assert first["state"] == "success", api.task_states(HOURLY, first["dag_run_id"])
    states = api.task_states(HOURLY, first["dag_run_id"])
    assert states.pop("check_provisioned") == "success" and set(states.values()) == {"skipped"}, states
    assert runs(api, state="failed") == [], "a run failed before anything was triggered"

    # The walkthrough, in the browser: provision, then generate, both with the form's defaults.
    sign_in(page, standalone)
    provision = trigger_with_defaults(page, standalone.api_url, "sales_orders_provision")
    api.wait_for_run("sales_orders_provision", provision)
    generate = trigger_with_defaults(page, standalone.api_url, "sales_orders_generate")
    api.wait_for_run("sales_orders_generate", generate)

    # No further click: the hour generate wrote into gets its hourly run, and that run publishes.
    hour = datetime.fromisoformat(first["data_interval_start"].replace("Z", "+00:00"))
    assert hour == previous, first
    run_id = first["dag_run_id"]

    def rerun_published() -> str | None:
        state = api.task_states(HOURLY, run_id).get("publish_report")
        return state if state in ("success", "failed", "upstream_failed") else None

    published = wait_for(rerun_published, f"{HOURLY} {run_id} to publish its report", standalone)
    assert published == "success", api.task_states(HOURLY, run_id)
    report_dir = standalone.home / "reports" / "sales_orders" / f"{hour:%Y-%m-%dT%H}"
    assert (report_dir / "index.html").exists(), sorted(standalone.home.glob("reports/**/*"))

    # The "Reports" entry of the navigation lists the hour and opens its report.
    page.goto(f"{standalone.api_url}/dags")
    page.get_by_role("link", name="Reports").or_(page.get_by_role("button", name="Reports")).first.click()
    frame = page.frame_locator("iframe")
    frame.get_by_role("link", name=f"{hour:%Y-%m-%dT%H}:00 UTC").click()
    frame.get_by_text(f"sales_orders report for {hour:%Y-%m-%dT%H}").first.wait_for()

    # publish_report's "Report" extra link goes to the same page.
    links_path = f"/dags/{HOURLY}/dagRuns/{quote(run_id, safe='')}/taskInstances/publish_report/links"
    links = api.get(links_path)["extra_links"]
    report_url = links["Report"]
    assert report_url.startswith(f"{standalone.api_url}/cdc-reports/run/{HOURLY}/"), links
    page.goto(f"{standalone.api_url}/dags/{HOURLY}/runs/{quote(run_id, safe='')}/tasks/publish_report")
    page.get_by_role("link", name="Report").or_(page.get_by_role("button", name="Report")).first.wait_for()
    page.goto(report_url)
    page.wait_for_url(f"**/cdc-reports/sales_orders/{hour:%Y-%m-%dT%H}/")
    page.get_by_text(f"sales_orders report for {hour:%Y-%m-%dT%H}").first.wait_for()

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"sales_orders-{hour:%Y-%m-%dT%H}.png"
    page.screenshot(path=str(shot), full_page=True)
    height = page.evaluate("document.documentElement.scrollHeight")
    print(f"screenshot of the report: {shot} ({height} px tall at 1400 px wide)")
