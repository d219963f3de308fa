"""The hour's report, as published, in Chromium at 1400 px wide: a short scroll, nothing wider than the window.

A sales-orders hour (totals, revenue per hour of the day, revenue per product, the biggest orders)
with its seven check results on top, written by `reports.publish` with the real charts; the page is
opened from the local reports folder, measured and saved as a screenshot (the path is printed).
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

import pytest

from cdc_pipeline.charts import render_all
from cdc_pipeline.reports import ReportTable, publish
from tests.cdc_pipeline.test_charts import athena_csv, no_hints, sales_tables
from tests.deployment.conftest import CHROMIUM
from tests.deployment.test_ui_trigger import CHROMIUM_ARGS
from tests.support import unique

pytestmark = pytest.mark.slow

WIDTH, SCREEN = 1400, 900
#: A short scroll: the whole hour in at most this many screens of a 1400 x 900 window.
MAX_SCREENS = 2.5


def biggest_orders(tables: list[ReportTable]) -> list[ReportTable]:
    """The sales tables with today's biggest-orders report in place of the old expensive-orders one."""
    rows = [
        [
            f"0f8e{i:04d}-0000-4000-8000-00000000000{i % 10}",
            "Laptop Pro 15",
            10 - i,
            "1999.99",
            f"{(10 - i) * 1999.99:.2f}",
        ]
        for i in range(10)
    ]
    biggest = ReportTable(
        "biggest_orders",
        "Which were this hour's ten biggest orders, by what the customer paid?",
        athena_csv(["orderid", "product_name", "quantity", "price", "order_value"], rows),
    )
    return [t for t in tables if t.name != "expensive_orders"] + [biggest]


def check_results() -> list[dict]:
    names = [
        "rows_present",
        "null_keys",
        "duplicate_events",
        "freshness",
        "price_quantity_range",
        "error_records",
    ]
    results = [
        {"check": f"check_{n}", "passed": True, "question": f"{n}?", "numbers": {"rows": 933}} for n in names
    ]
    results.append(
        {"check": "check_current_state_matches_table", "passed": True, "question": "", "numbers": {}}
    )
    return results


def test_the_report_fits_a_short_scroll_at_1400_px(aws, tmp_path: Path) -> None:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run `make browser` (make test does)"
    from playwright.sync_api import sync_playwright

    s3 = aws("s3")
    bucket = unique("layout")
    s3.create_bucket(Bucket=bucket)
    tables = biggest_orders(sales_tables(4))
    published = publish(
        tables,
        dataset="sales_orders",
        hour=datetime(2026, 11, 30, 3),
        s3=s3,
        bucket=bucket,
        local_root=str(tmp_path),
        charts=render_all(no_hints(), tables),
        checks=check_results(),
    )
    page_path = Path(published.local_dir) / "index.html"
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="chromium-", dir=tmp_path),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": WIDTH, "height": SCREEN},
        )
        try:
            page = context.new_page()
            page.goto(page_path.as_uri())
            page.wait_for_load_state("load")
            height = page.evaluate("document.documentElement.scrollHeight")
            width = page.evaluate("document.documentElement.scrollWidth")
            images = page.evaluate("[...document.images].map(i => i.naturalWidth > 0)")
            shot = tmp_path / "report-1400.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            context.close()
    print(f"report page at {WIDTH} px: {height} px tall, {width} px wide; screenshot {shot}")
    assert images and all(images), "a chart did not load"
    assert width <= WIDTH, f"the page is {width} px wide: wider than the {WIDTH} px window"
    assert height <= MAX_SCREENS * SCREEN, f"the page is {height} px tall: more than {MAX_SCREENS} screens"
