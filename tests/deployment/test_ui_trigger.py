"""A person in a real (headless) Chromium logs into the Airflow UI, triggers a generate run, sees it succeed.

Airflow runs as `make airflow` runs it (`airflow standalone`, own AIRFLOW_HOME, own embedded AWS, free
ports). The pipeline is provisioned through the REST API first; everything after that happens in the
browser. On failure a screenshot and the page's HTML are saved in the deployment's tmp dir.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import boto3
import pytest

from tests.deployment.conftest import CHROMIUM, RUN_TIMEOUT, Deployment

pytestmark = pytest.mark.slow

ORDERS = 7
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def page(standalone: Deployment, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A page in Debian's Chromium with a fresh profile; screenshot and HTML kept if the test fails."""
    # A missing browser is a broken setup, not a reason to skip: `make test` installs it first.
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run `make browser` (make test does)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="chromium-", dir=standalone.artifacts),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1400, "height": 900},
        )
        context.set_default_timeout(60_000)
        page = context.new_page()
        try:
            yield page
        finally:
            report = getattr(request.node, "rep_call", None)
            if report is None or report.failed:
                shot = standalone.artifacts / "failure.png"
                page.screenshot(path=str(shot), full_page=True)
                (standalone.artifacts / "failure.html").write_text(page.content())
                print(f"screenshot of the failure: {shot} (page at {page.url})")
            context.close()


def run_state_badge(page: Any) -> str:
    """The state shown in the header of a DAG run's page (e.g. 'Running', 'Success')."""
    badge = page.locator('[data-testid="header-card"] [data-testid="state-badge"]')
    return badge.inner_text().strip() if badge.count() else ""


def test_trigger_generate_from_the_ui_and_watch_it_succeed(standalone: Deployment, page: Any) -> None:
    api = standalone.api
    api.wait_for_dag("sales_orders_provision")
    api.wait_for_dag("sales_orders_generate")
    provision = api.trigger("sales_orders_provision")
    api.wait_for_run("sales_orders_provision", provision)

    # Log in: the DAG's URL sends a signed-out browser to the login page and back.
    page.goto(f"{standalone.api_url}/dags/sales_orders_generate")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(standalone.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/dags/sales_orders_generate")
    page.get_by_text("sales_orders_generate").first.wait_for()

    # Trigger with a small `orders` param from the form the DAG's params produce.
    page.get_by_test_id("trigger-dag-button").click()
    orders = page.locator('[id="number-input:element_orders"] input')
    orders.fill(str(ORDERS))
    page.get_by_test_id("trigger-dag-submit").click()
    # The UI opens the new run's page.
    page.wait_for_url("**/dags/sales_orders_generate/runs/manual__*")
    run_id = page.url.rsplit("/runs/", 1)[1]

    # Watch the run's state in the UI (the page refreshes itself while the run is active).
    deadline = time.monotonic() + RUN_TIMEOUT
    state = ""
    while time.monotonic() < deadline:
        standalone.services.check_running()
        state = run_state_badge(page)
        if state in ("Success", "Failed"):
            break
        page.wait_for_timeout(1000)
    assert state == "Success", f"the UI shows the run as {state!r}\n{standalone.services.logs()}"
    # The task table refreshes on its own poll, apart from the header: wait for it to say so too.
    from playwright.sync_api import expect

    task_badge = page.locator('[data-testid="table-cell-state"] [data-testid="state-badge"]').first
    expect(task_badge).to_have_text("Success", timeout=30_000)

    # What the UI sent is what ran: the run's conf and the generator's own count.
    run_id = unquote(run_id)
    assert api.run("sales_orders_generate", run_id)["conf"]["orders"] == ORDERS
    written = api.xcom("sales_orders_generate", run_id, "generate")
    assert written["counts"]["inserted"] == ORDERS, written
    # And the orders are in the deployment's DynamoDB table.
    dynamodb = boto3.client("dynamodb", endpoint_url=standalone.endpoint_url, region_name="us-east-1")
    count = dynamodb.scan(TableName=written["table"], Select="COUNT")["Count"]
    assert count == written["counts"]["current"], (count, written)
