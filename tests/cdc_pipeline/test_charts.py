"""Report charts and the hour's HTML page: real PNGs, chosen by the data's shape, stable bytes, no dead links.

Two datasets' report tables are built the way Athena writes them (quoted CSV): sales orders (seed 004:
totals, revenue per hour, revenue per product, expensive orders) and user profiles (seed 000: ages,
age bands, users per city, missing or invalid emails). Each comes in two runs with different numbers.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import random
import subprocess
import sys
import uuid
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from cdc_pipeline import charts
from cdc_pipeline.charts import ChartHintError, ChartKind, plan_chart, render_all, render_table
from cdc_pipeline.reports import ReportTable, publish, report_prefix
from tests.support import unique

REPO = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = round(charts.FIGSIZE[0] * charts.DPI), round(charts.FIGSIZE[1] * charts.DPI)
PRODUCTS = [
    "Laptop Pro 15",
    "Noise Cancelling Headphones Pro Max Edition",
    "USB-C Charger 65W",
    "Mechanical Keyboard",
    "4K Monitor 27 inch",
    "Webcam HD",
    "Smartwatch",
    "Portable SSD 2TB",
]
CITIES = ["Lake Christopherberg", "New York", "Paris", "Berlin", "Tokyo", "Port Jennifer", "Lagos"]


def athena_csv(header: list[str], rows: list[list[object]]) -> bytes:
    """A result file as Athena writes it: every field quoted, a header line."""
    lines = [",".join(f'"{value}"' for value in header)]
    lines += [",".join(f'"{value}"' for value in row) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def sales_tables(seed: int, *, empty_expensive: bool = False) -> list[ReportTable]:
    rng = random.Random(seed)
    by_product = sorted(
        ([p, rng.randint(1, 20), rng.randint(1, 40), f"{rng.uniform(100, 20000):.2f}"] for p in PRODUCTS),
        key=lambda row: -float(row[3]),
    )
    hours = [
        [f"2024-05-01 {h:02d}:00", rng.randint(20, 200), f"{rng.uniform(1e3, 9e4):.2f}"] for h in range(14)
    ]
    expensive = [
        [
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            rng.choice(PRODUCTS),
            rng.randint(1, 10),
            f"{rng.uniform(100, 3299):.2f}",
            "2024-05-01T13:12:00Z",
        ]
        for _ in range(10)
    ]
    orders = sum(row[1] for row in by_product)
    units = sum(row[2] for row in by_product)
    revenue = sum(float(row[3]) for row in by_product)
    return [
        ReportTable(
            "totals",
            "How many orders, units and how much revenue were placed in this hour (current state)?",
            athena_csv(["orders", "units", "revenue"], [[orders, units, f"{revenue:.2f}"]]),
        ),
        ReportTable(
            "revenue_by_hour",
            "Orders and revenue per hour of this report's day, up to the end of this hour.",
            athena_csv(["order_hour", "orders", "revenue"], hours),
        ),
        ReportTable(
            "revenue_by_product",
            "Which products sold in this hour, and for how much?",
            athena_csv(["product_name", "orders", "units", "revenue"], by_product),
        ),
        ReportTable(
            "expensive_orders",
            "Seed 004's question: the ten orders with the highest order ids among those priced above 100.",
            athena_csv(
                ["orderid", "product_name", "quantity", "price", "order_time"],
                [] if empty_expensive else expensive,
            ),
        ),
    ]


def profile_tables(seed: int) -> list[ReportTable]:
    rng = random.Random(seed)
    ages = [rng.randint(18, 85) for _ in range(400)]
    bands = [("18-24", 18, 24), ("25-34", 25, 34), ("35-44", 35, 44), ("45-54", 45, 54), ("55-64", 55, 64)]
    band_rows = [[label, sum(low <= a <= high for a in ages)] for label, low, high in bands]
    band_rows.append(["65+", sum(a >= 65 for a in ages)])
    missing, invalid = rng.randint(5, 40), rng.randint(1, 30)
    return [
        ReportTable(
            "totals",
            "How many user profiles are there, and how many lack a usable email?",
            athena_csv(["users", "missing_emails", "invalid_emails"], [[len(ages), missing, invalid]]),
        ),
        ReportTable("user_ages", "How old are the users?", athena_csv(["age"], [[a] for a in ages])),
        ReportTable("users_by_age_band", "Users per age band", athena_csv(["age_band", "users"], band_rows)),
        ReportTable(
            "users_by_city",
            "How many users live in each city?",
            athena_csv(["city", "users"], [[c, rng.randint(1, 80)] for c in CITIES]),
        ),
        ReportTable(
            "email_issues",
            "Which email problems do profiles have?",
            athena_csv(["issue", "users"], [["missing", missing], ["invalid format", invalid]]),
        ),
    ]


def no_hints() -> SimpleNamespace:
    return SimpleNamespace(name="test", charts={})


@functools.cache
def rendered_run(dataset: str, seed: int) -> dict[str, list[tuple[str, bytes]]]:
    """One run's charts, drawn once per test session (drawing is the slow part of these tests)."""
    tables = sales_tables(seed) if dataset == "sales" else profile_tables(seed)
    return render_all(no_hints(), tables)


def png_pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("tables", "expected"),
    [
        (
            sales_tables(1),
            {
                "totals": ChartKind.KPI,
                "revenue_by_hour": ChartKind.TIMESERIES,
                "revenue_by_product": ChartKind.BARS,
                "expensive_orders": ChartKind.BARS,
            },
        ),
        (
            profile_tables(1),
            {
                "totals": ChartKind.KPI,
                "user_ages": ChartKind.HISTOGRAM,
                "users_by_age_band": ChartKind.BANDS,
                "users_by_city": ChartKind.BARS,
                "email_issues": ChartKind.BARS,
            },
        ),
    ],
    ids=["sales", "profiles"],
)
def test_the_chart_follows_the_shape_of_the_data(tables, expected):
    plans = {table.name: plan_chart(table.frame) for table in tables}
    assert {name: plan.kind for name, plan in plans.items()} == expected
    # The main measure is the money or the count, not whichever column comes first.
    if "revenue_by_product" in plans:
        assert plans["revenue_by_product"].measures == ("revenue",)
        assert plans["expensive_orders"].measures == ("price",)
        assert set(plans["revenue_by_hour"].measures) == {"orders", "revenue"}
    else:
        assert plans["users_by_city"].measures == ("users",)
        assert plans["user_ages"].measures == ("age",)


def test_distinct_numbers_with_a_count_are_a_distribution_in_numeric_order():
    table = ReportTable("by_age", "", athena_csv(["age", "users"], [[40, 3], [21, 9], [33, 4]]))
    plan = plan_chart(table.frame)
    assert (plan.kind, plan.label, plan.measures) == (ChartKind.BANDS, "age", ("users",))


@pytest.mark.parametrize(
    ("header", "rows", "reason"),
    [
        (["product_name", "revenue"], [], "no rows for this hour"),
        (["orderid", "email"], [["a1", "x@example.com"], ["b2", ""]], "no numeric column to draw"),
        (["order_hour", "note"], [["2024-05-01 10:00", "quiet"]], "no numeric column to draw"),
    ],
)
def test_tables_without_anything_to_draw_get_no_chart(header, rows, reason):
    table = ReportTable("nothing", "Nothing to see?", athena_csv(header, rows))
    assert plan_chart(table.frame).reason == reason
    assert render_table(table) == []
    assert "nothing" not in render_all(no_hints(), [table])


def test_every_report_of_both_datasets_is_a_real_png_of_the_fixed_size():
    for dataset, tables in (("sales", sales_tables(1)), ("profiles", profile_tables(1))):
        rendered = rendered_run(dataset, 1)
        assert set(rendered) == {table.name for table in tables}
        for name, pictures in rendered.items():
            assert [filename for filename, _ in pictures] == [f"{name}.png"]
            data = pictures[0][1]
            assert len(data) > 8_000, name  # a blank canvas of this size compresses to ~3 kB
            pixels = png_pixels(data)
            height = (
                HEIGHT // 2
                if plan_chart(next(t for t in tables if t.name == name).frame).kind == "kpi"
                else HEIGHT
            )
            assert pixels.shape == (height, WIDTH, 3), name
            # Something is drawn: many colours, and a fair share of pixels that are not background.
            packed = (pixels.astype(np.uint32) << np.array([16, 8, 0], dtype=np.uint32)).sum(axis=2)
            assert len(np.unique(packed)) > 50, name
            assert (pixels.min(axis=2) < 200).mean() > 0.02, name


def test_charts_differ_between_datasets_and_between_runs():
    sales_1, sales_2 = render_all(no_hints(), sales_tables(1)), render_all(no_hints(), sales_tables(2))
    profiles_1, profiles_2 = (
        render_all(no_hints(), profile_tables(1)),
        render_all(no_hints(), profile_tables(2)),
    )
    for first, second in ((sales_1, sales_2), (profiles_1, profiles_2)):
        assert set(first) == set(second)
        for name in first:
            a, b = png_pixels(first[name][0][1]), png_pixels(second[name][0][1])
            assert a.shape == b.shape and (a != b).any(), f"{name}: a new run's numbers drew the same picture"
    every = [
        digest(data)
        for rendered in (sales_1, sales_2, profiles_1, profiles_2)
        for ((_, data),) in rendered.values()
    ]
    assert len(set(every)) == len(every)


def test_the_same_data_gives_the_same_bytes_even_in_another_process():
    first = {name: digest(data) for name, ((_, data),) in rendered_run("sales", 1).items()}
    again = {name: digest(data) for name, ((_, data),) in render_all(no_hints(), sales_tables(1)).items()}
    assert first == again
    # A fresh interpreter (no font cache in memory, nothing drawn before) draws the same bytes.
    script = (
        "import hashlib, json, sys\n"
        "from tests.cdc_pipeline.test_charts import no_hints, sales_tables\n"
        "from cdc_pipeline.charts import render_all\n"
        "rendered = render_all(no_hints(), sales_tables(1))\n"
        "print(json.dumps({n: hashlib.sha256(d).hexdigest() for n, ((_, d),) in rendered.items()}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={"PYTHONPATH": f"{REPO}:{REPO / 'plugins'}", "PATH": "/usr/bin:/bin", "HOME": str(REPO)},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == first


def test_png_carries_no_software_or_date_tag():
    ((_, data),) = render_all(no_hints(), sales_tables(1))["revenue_by_product"]
    with Image.open(io.BytesIO(data)) as image:
        assert "Software" not in image.info
        assert not any("date" in key.lower() or "time" in key.lower() for key in image.info)


def test_rendering_leaves_no_open_figures_and_no_global_style():
    import matplotlib
    import matplotlib.pyplot as plt

    before_figures = plt.get_fignums()
    before_style = {key: matplotlib.rcParams[key] for key in ("font.family", "axes.facecolor", "axes.grid")}
    render_all(no_hints(), profile_tables(3))
    assert plt.get_fignums() == before_figures
    assert {key: matplotlib.rcParams[key] for key in before_style} == before_style


def test_a_definition_overrides_the_chart_per_report():
    tables = sales_tables(1)
    auto = rendered_run("sales", 1)
    hinted = render_all(
        SimpleNamespace(
            charts={
                "totals": {"kind": "none"},
                "expensive_orders": {"kind": "bars", "label": "product_name", "measure": "quantity"},
            }
        ),
        tables,
    )
    assert "totals" not in hinted
    assert hinted["revenue_by_product"] == auto["revenue_by_product"]
    assert hinted["expensive_orders"] != auto["expensive_orders"]
    expensive = next(t for t in tables if t.name == "expensive_orders")
    plan = plan_chart(expensive.frame, {"kind": "bars", "label": "product_name", "measure": "quantity"})
    assert (plan.label, plan.measures) == ("product_name", ("quantity",))


@pytest.mark.parametrize(
    ("hint", "message"),
    [
        ({"kind": "pie"}, "chart hint kind 'pie' is not one of"),
        ({"kind": "bars", "measure": "profit"}, "chart hint names column 'profit'"),
        ({"kind": "bars", "mesure": "price"}, "unknown keys ['mesure']"),
        ({"measure": "product_name"}, "chart hint measure 'product_name' is not a numeric column"),
    ],
)
def test_a_hint_that_does_not_fit_the_report_is_an_error(hint, message):
    with pytest.raises(ChartHintError, match=message.replace("[", r"\[").replace("]", r"\]")):
        render_all(SimpleNamespace(charts={"expensive_orders": hint}), sales_tables(1))


def test_a_chart_that_fails_to_draw_costs_only_itself(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("drawing bug")

    monkeypatch.setattr(charts, "_draw_bars", broken)
    rendered = render_all(no_hints(), sales_tables(1))
    assert set(rendered) == {"totals", "revenue_by_hour"}
    assert "revenue_by_product: drawing its chart failed" in caplog.text


def test_the_real_sales_definition_renders_its_reports():
    from cdc_pipeline.definitions import get_pipeline

    rendered = render_all(get_pipeline("sales_orders"), sales_tables(1))
    assert rendered == rendered_run("sales", 1)


class _Links(HTMLParser):
    """Every src and href on a page, and its visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.srcs: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key == "src":
                self.srcs.append(value or "")
            elif key == "href":
                self.hrefs.append(value or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.mark.parametrize("dataset", ["sales_orders", "user_profiles"])
def test_the_published_page_references_only_files_that_were_written(dataset, aws, tmp_path):
    s3 = aws("s3")
    bucket = unique("reports")
    s3.create_bucket(Bucket=bucket)
    hour = datetime(2024, 5, 1, 13)
    tables = sales_tables(9, empty_expensive=True) if dataset == "sales_orders" else profile_tables(9)
    rendered = render_all(no_hints(), tables)
    published = publish(
        tables, dataset=dataset, hour=hour, s3=s3, bucket=bucket, local_root=str(tmp_path), charts=rendered
    )

    prefix = report_prefix(dataset, hour)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    in_s3 = {item["Key"].removeprefix(prefix) for item in listed}
    local = {path.name for path in Path(published.local_dir).iterdir()}
    assert in_s3 == local == set(published.files)
    pngs = {filename for pictures in rendered.values() for filename, _ in pictures}
    assert pngs <= in_s3

    page = s3.get_object(Bucket=bucket, Key=prefix + "index.html")["Body"].read().decode()
    assert page == (Path(published.local_dir) / "index.html").read_text()
    links = _Links()
    links.feed(page)
    referenced = set(links.srcs) | set(links.hrefs)
    assert referenced, "the page links to nothing"
    for target in referenced:
        assert "/" not in target and ":" not in target, f"{target} is not a relative file name"
        assert target in in_s3, f"the page references {target}, which publish did not write"
    # Every chart is shown, every CSV is linked; the charts in S3 are the rendered bytes.
    chart_on_top = {f"{t.name}.png" for t in tables if t.name == "totals"}
    assert pngs - chart_on_top <= set(links.srcs)
    assert {f"{t.name}.csv" for t in tables} <= set(links.hrefs)
    for pictures in rendered.values():
        for filename, data in pictures:
            assert s3.get_object(Bucket=bucket, Key=prefix + filename)["Body"].read() == data

    text = " ".join(links.text)
    totals = json.loads(s3.get_object(Bucket=bucket, Key=prefix + "summary.json")["Body"].read())["totals"]
    first_measure, first_value = next(iter(totals.items()))
    assert f"{int(first_value):,}" in text and first_measure.replace("_", " ") in text
    if dataset == "sales_orders":
        assert "No data for this hour" in text
        assert "expensive_orders.png" not in in_s3
    else:
        assert "No data for this hour" not in text
