"""Publish an hour's report: the Athena results as CSV, a summary, and one HTML page.

Each report query's result CSV (written by Athena) is copied byte for byte, so numbers keep the
exact text Athena gave them. Everything for one hour goes under one fixed prefix,
``reports/<dataset>/hour=<YYYY-MM-DDTHH>/``, which is emptied first: re-running or backfilling an
hour replaces its report and never leaves a second copy beside it.
"""

from __future__ import annotations

import html
import io
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd

from cdc_pipeline import report_checks

log = logging.getLogger(__name__)


@dataclass
class ReportTable:
    """One report query's answer."""

    name: str
    question: str
    csv: bytes

    @property
    def frame(self) -> pd.DataFrame:
        # Strings throughout: money stays exact text, not a float.
        return pd.read_csv(io.BytesIO(self.csv), dtype=str, keep_default_na=False)


@dataclass
class PublishedReport:
    s3_uri: str
    local_dir: str | None
    files: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def report_prefix(dataset: str, hour: datetime) -> str:
    return f"reports/{dataset}/hour={hour.strftime('%Y-%m-%dT%H')}/"


def question_of(sql_text: str) -> str:
    """The one-line ``--`` comment a SQL file opens with: what the query answers."""
    for line in sql_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("--"):
            return stripped.lstrip("-").strip()
        if stripped:
            break
    return ""


def fetch_results(
    athena: Any, s3: Any, executions: Mapping[str, str], questions: Mapping[str, str]
) -> list[ReportTable]:
    """Read each finished query's result CSV from where Athena wrote it."""
    tables = []
    for name, execution_id in executions.items():
        execution = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
        state = execution["Status"]["State"]
        if state != "SUCCEEDED":
            raise RuntimeError(f"report {name}: Athena query {execution_id} is {state}, not SUCCEEDED")
        location = urlparse(execution["ResultConfiguration"]["OutputLocation"])
        body = s3.get_object(Bucket=location.netloc, Key=location.path.lstrip("/"))["Body"].read()
        tables.append(ReportTable(name=name, question=questions.get(name, ""), csv=body))
    return tables


def summarise(tables: list[ReportTable], dataset: str, hour: datetime) -> dict[str, Any]:
    summary: dict[str, Any] = {"dataset": dataset, "hour": hour.strftime("%Y-%m-%dT%H:00:00Z"), "reports": {}}
    for table in tables:
        frame = table.frame
        summary["reports"][table.name] = {"rows": len(frame), "columns": list(frame.columns)}
        if table.name == "totals" and len(frame) == 1:
            summary["totals"] = frame.iloc[0].to_dict()
    return summary


_PAGE_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1em auto;max-width:1320px;padding:0 1em;color:#222}"
    "h1{margin:.2em 0}h2{font-size:1.1em;margin:.2em 0 .4em}.meta{color:#666;margin:0 0 .6em}"
    ".cards{display:flex;flex-wrap:wrap;gap:.8em;margin:.6em 0}"
    ".card{border:1px solid #ddd;border-radius:6px;padding:.5em 1.2em;min-width:8em;background:#fafafa}"
    ".card .value{font-size:1.6em;font-weight:bold}.card .label{color:#555}"
    "section.report{border-top:1px solid #ddd;padding-top:.4em;margin-bottom:.6em}"
    ".pair{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}"
    ".pair img{flex:0 1 720px;min-width:0}.pair .table{flex:1 1 420px;overflow-x:auto}"
    ".empty{padding:.6em;background:#fff8e1;border:1px solid #f0d98c;border-radius:4px}"
    "table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;padding:.15em .5em}"
    "th{background:#f3f3f3}td{text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}"
    "img{max-width:100%;height:auto;display:block}.links{font-size:.8em;color:#555;margin:.3em 0}"
)
#: The page shows at most this many rows of a table (beside its chart); the CSV beside it has them all.
HTML_MAX_ROWS = 10
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
#: Column names that hold money (two decimals) and shares (a fraction shown as a percentage).
_MONEY = re.compile(r"(revenue|amount|price|sales|value|spend)", re.I)
_SHARE = re.compile(r"(^|_)(share|ratio|rate)(_|$)", re.I)


def format_number(text: str) -> str:
    """A number's exact text with thousands separators (``12345.60`` -> ``12,345.60``); else as is."""
    try:
        return format(Decimal(str(text).strip()), ",")
    except (InvalidOperation, ValueError):
        return str(text)


def format_value(column: str, value: Any) -> str:
    """How the page and the charts both write a number of ``column``: one rule, so they agree.

    Money (a column named for revenue, amount, price, value...) has two decimals and separators
    (``105,619.14``); a share (``..._share``) is a percentage with one decimal (``5.6%``); other
    numbers keep their digits with separators (``1,234``). Text that is not a number is unchanged.
    """
    text = str(value).strip()
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError):
        return str(value)
    if not number.is_finite():
        return ""
    if _SHARE.search(column):
        return f"{number * 100:,.1f}%"
    if _MONEY.search(column):
        return f"{number:,.2f}"
    if number == number.to_integral_value():
        return f"{number:,.0f}"
    return format(number, ",")


def _humanize(column: str) -> str:
    return column.replace("_", " ")


def _table_html(frame: pd.DataFrame) -> str:
    """The table with numbers right-aligned and written as the charts write them (`format_value`)."""
    numeric = {
        column
        for column in frame.columns
        if (values := [v for v in frame[column] if v != ""]) and all(_NUMBER.match(v) for v in values)
    }
    rows = ["<table><thead><tr>"]
    rows += [f"<th>{html.escape(_humanize(str(column)))}</th>" for column in frame.columns]
    rows.append("</tr></thead><tbody>")
    for record in frame.head(HTML_MAX_ROWS).itertuples(index=False):
        cells = "".join(
            f'<td class="num">{html.escape(format_value(column, value))}</td>'
            if column in numeric
            else f"<td>{html.escape(value)}</td>"
            for column, value in zip(frame.columns, record, strict=True)
        )
        rows.append(f"<tr>{cells}</tr>")
    rows.append("</tbody></table>")
    if len(frame) > HTML_MAX_ROWS:
        rows.append(f'<p class="links">First {HTML_MAX_ROWS} of {len(frame)} rows; the CSV has them all.</p>')
    return "".join(rows)


def _files_line(table: ReportTable, images: list[str]) -> str:
    links = [f'<a href="{html.escape(table.name)}.csv">{html.escape(table.name)}.csv</a>']
    links += [f'<a href="{html.escape(image)}">{html.escape(image)}</a>' for image in images]
    return f'<p class="links">{" · ".join(links)}</p>'


def render_html(tables: list[ReportTable], summary: dict[str, Any], images: Mapping[str, list[str]]) -> str:
    """The hour's dashboard: the totals as big numbers on top, then each report's question as its
    heading (said once: the charts carry no title), its chart and its table side by side.

    Every ``src`` and ``href`` is a bare file name that `publish` writes beside the page, so the page
    works from S3 and from the local reports folder alike.
    """
    title = f"{summary['dataset']} report for {summary['hour']}"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_PAGE_STYLE}</style>",
        f"</head><body><h1>{html.escape(title)}</h1>",
        f'<p class="meta">{len(tables)} reports · <a href="summary.json">summary.json</a></p>',
    ]
    totals = summary.get("totals")
    shown_on_top = None
    if totals:
        shown_on_top = next((t for t in tables if t.name == "totals"), None)
        if shown_on_top is not None and shown_on_top.question:
            parts.append(f"<h2>{html.escape(shown_on_top.question)}</h2>")
        parts.append('<div class="cards">')
        for column, value in totals.items():
            parts.append(
                f'<div class="card"><div class="value">{html.escape(format_value(str(column), value))}</div>'
                f'<div class="label">{html.escape(_humanize(str(column)))}</div></div>'
            )
        parts.append("</div>")
        if shown_on_top is not None:
            parts.append(_files_line(shown_on_top, list(images.get(shown_on_top.name, []))))
    for table in tables:
        if table is shown_on_top:
            continue
        frame = table.frame
        pictures = list(images.get(table.name, []))
        parts.append(f'<section class="report" id="{html.escape(table.name)}">')
        parts.append(f"<h2>{html.escape(table.question or _humanize(table.name))}</h2>")
        if frame.empty:
            parts.append('<p class="empty">No data for this hour: the query returned no rows.</p>')
        else:
            # The chart beside its table: the same rows, in the same order, written the same way.
            parts.append('<div class="pair">')
            for image in pictures:
                parts.append(f'<img src="{html.escape(image)}" alt="{html.escape(table.name)} chart">')
            parts.append(f'<div class="table">{_table_html(frame)}</div></div>')
        parts.append(_files_line(table, pictures))
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def publish(
    tables: list[ReportTable],
    *,
    dataset: str,
    hour: datetime,
    s3: Any,
    bucket: str,
    local_root: str | None = None,
    charts: Mapping[str, list[tuple[str, bytes]]] | None = None,
    checks: list[dict[str, Any]] | None = None,
) -> PublishedReport:
    """Write the hour's report to S3 (replacing any earlier one) and, if asked, to a local folder."""
    prefix = report_prefix(dataset, hour)
    summary = summarise(tables, dataset, hour)
    charts = charts or {}
    files: dict[str, bytes] = {f"{t.name}.csv": t.csv for t in tables}
    for pictures in charts.values():
        files.update(dict(pictures))
    images = {name: [filename for filename, _ in pictures] for name, pictures in charts.items()}
    if checks is not None:  # the hour's check results, on top of the page (cdc_pipeline.report_checks)
        summary["checks"] = report_checks.summary(checks)
    files["summary.json"] = json.dumps(summary, indent=2, sort_keys=True).encode()
    files["index.html"] = report_checks.insert_section(render_html(tables, summary, images), checks).encode()

    _empty_prefix(s3, bucket, prefix)
    for filename, body in files.items():
        s3.put_object(Bucket=bucket, Key=prefix + filename, Body=body, ContentType=_content_type(filename))

    local_dir = None
    if local_root:
        target = Path(local_root) / dataset / hour.strftime("%Y-%m-%dT%H")
        if target.exists():
            for old in target.iterdir():
                old.unlink()
        target.mkdir(parents=True, exist_ok=True)
        for filename, body in files.items():
            (target / filename).write_bytes(body)
        local_dir = str(target)
    log.info("published %d report files to s3://%s/%s", len(files), bucket, prefix)
    return PublishedReport(
        s3_uri=f"s3://{bucket}/{prefix}", local_dir=local_dir, files=sorted(files), summary=summary
    )


def _empty_prefix(s3: Any, bucket: str, prefix: str) -> None:
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})


def _content_type(filename: str) -> str:
    return {
        ".csv": "text/csv",
        ".json": "application/json",
        ".html": "text/html; charset=utf-8",
        ".png": "image/png",
    }.get(Path(filename).suffix, "application/octet-stream")
