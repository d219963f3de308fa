"""A report worth opening: numbers written alike in tables and charts, chart and table in one order,
each question said once, every measure drawn, and questions in plain words."""

from __future__ import annotations

from pathlib import Path

import matplotlib.axes
import matplotlib.figure
import pytest

from cdc_pipeline import charts
from cdc_pipeline.reports import ReportTable, format_value, render_html, summarise
from tests.cdc_pipeline.test_charts import athena_csv, no_hints

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("column", "text", "shown"),
    [
        ("revenue", "105619.14", "105,619.14"),
        ("revenue", "12", "12.00"),
        ("order_value", "1500.5", "1,500.50"),
        ("email_issue_share", "0.0557", "5.6%"),
        ("share_of_page_view_sessions", "1.0", "100.0%"),
        ("orders", "1234", "1,234"),
        ("avg_quantity", "2.5", "2.5"),
        ("product_name", "Webcam HD", "Webcam HD"),
    ],
)
def test_numbers_are_written_by_what_they_measure(column, text, shown):
    assert format_value(column, text) == shown


def by_product() -> ReportTable:
    # The query's order is by revenue, largest first; the page and the chart must both keep it.
    rows = [["Laptop Pro 15", 12, "105619.14"], ["Webcam HD", 40, "2048.5"], ["Smartwatch", 3, "999.99"]]
    return ReportTable(
        "revenue_by_product",
        "Which products brought in the most revenue this hour?",
        athena_csv(["product_name", "orders", "revenue"], rows),
    )


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> dict[str, list]:
    """What the charts put on their axes: tick labels, bar labels and figure titles."""
    seen: dict[str, list] = {"yticks": [], "bar_labels": [], "titles": []}
    set_yticks, bar_label, suptitle = (
        matplotlib.axes.Axes.set_yticks,
        matplotlib.axes.Axes.bar_label,
        matplotlib.figure.FigureBase.suptitle,
    )

    def record_yticks(self, ticks, labels=None, **kwargs):
        seen["yticks"].append(list(labels or []))
        return set_yticks(self, ticks, labels, **kwargs)

    def record_bar_label(self, container, labels=None, **kwargs):
        seen["bar_labels"].append(list(labels or []))
        return bar_label(self, container, labels, **kwargs)

    def record_suptitle(self, text, **kwargs):
        seen["titles"].append(text)
        return suptitle(self, text, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "set_yticks", record_yticks)
    monkeypatch.setattr(matplotlib.axes.Axes, "bar_label", record_bar_label)
    monkeypatch.setattr(matplotlib.figure.FigureBase, "suptitle", record_suptitle)
    return seen


def test_chart_and_table_list_the_same_rows_in_the_same_order_written_alike(drawn):
    table = by_product()
    assert charts.render_table(table)
    # Horizontal bars are drawn bottom-up: the top bar is the table's first row.
    assert drawn["yticks"][-1][::-1] == ["Laptop Pro 15", "Webcam HD", "Smartwatch"]
    assert drawn["bar_labels"][-1][::-1] == ["105,619.14", "2,048.50", "999.99"]
    page = render_html([table], summarise([table], "sales_orders", _hour()), {"revenue_by_product": []})
    cells = [cell for cell in ("105,619.14", "2,048.50", "999.99")]
    positions = [page.index(f">{cell}<") for cell in cells]
    assert positions == sorted(positions)


def test_each_question_is_said_once_on_the_page_and_never_on_a_chart(drawn):
    table = by_product()
    charts.render_all(no_hints(), [table])
    assert all(table.question not in title for title in drawn["titles"]), drawn["titles"]
    page = render_html([table], summarise([table], "sales_orders", _hour()), {"revenue_by_product": []})
    assert page.count(table.question) == 1


def test_every_measure_of_a_time_series_is_drawn():
    header = ["event_hour", "events", "page_views", "searches", "purchases", "logins", "logouts"]
    rows = [[f"2026-11-30 {h:02d}:00", 90, 50, 20, 5, 10, 5] for h in range(4)]
    table = ReportTable("events_by_hour", "How busy?", athena_csv(header, rows))
    plan = charts.plan_chart(table.frame)
    assert plan.kind is charts.ChartKind.TIMESERIES
    assert set(plan.measures) == set(header[1:])
    assert charts.render_table(table)


def test_report_questions_are_plain_and_distinct():
    from cdc_pipeline.definitions import PIPELINES
    from cdc_pipeline.reports import question_of
    from cdc_pipeline.workflows.hourly.reports import report_files

    for definition in PIPELINES.values():
        questions = [question_of(path.read_text()) for path in report_files(definition).values()]
        assert all(q.endswith("?") for q in questions), questions
        assert len(set(questions)) == len(questions), questions
        assert not any("order id" in q.lower() or "classic" in q.lower() for q in questions), questions


def _hour():
    from datetime import datetime

    return datetime(2026, 11, 30, 3)


def test_the_days_first_hour_is_a_time_series_not_big_numbers():
    table = ReportTable(
        "revenue_by_hour",
        "How did orders and revenue add up over the day so far?",
        athena_csv(["order_hour", "orders", "revenue"], [["2026-11-30 00:00", 187, "174512.94"]]),
    )
    assert charts.plan_chart(table.frame).kind is charts.ChartKind.TIMESERIES


def test_a_bar_chart_draws_the_rows_its_table_shows(drawn):
    from cdc_pipeline.reports import HTML_MAX_ROWS

    rows = [[f"product {i:02d}", 1, f"{1000 - i}.00"] for i in range(35)]
    table = ReportTable(
        "revenue_by_product", "Which?", athena_csv(["product_name", "orders", "revenue"], rows)
    )
    assert charts.render_table(table)
    assert drawn["yticks"][-1][::-1] == [f"product {i:02d}" for i in range(HTML_MAX_ROWS)]
