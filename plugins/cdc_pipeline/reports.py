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
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd

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


def render_html(tables: list[ReportTable], summary: dict[str, Any], images: Mapping[str, list[str]]) -> str:
    title = f"{summary['dataset']} report for {summary['hour']}"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:70em}"
        "table{border-collapse:collapse;margin:.5em 0 2em}td,th{border:1px solid #ccc;padding:.25em .6em}"
        "th{background:#f3f3f3}td{text-align:right}img{max-width:100%}</style>",
        f"</head><body><h1>{html.escape(title)}</h1>",
    ]
    for table in tables:
        parts.append(f"<h2>{html.escape(table.question or table.name)}</h2>")
        for image in images.get(table.name, []):
            parts.append(f'<img src="{html.escape(image)}" alt="{html.escape(table.name)} chart">')
        parts.append(table.frame.to_html(index=False, border=0, escape=True))
        parts.append(f'<p><a href="{html.escape(table.name)}.csv">{html.escape(table.name)}.csv</a></p>')
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
) -> PublishedReport:
    """Write the hour's report to S3 (replacing any earlier one) and, if asked, to a local folder."""
    prefix = report_prefix(dataset, hour)
    summary = summarise(tables, dataset, hour)
    charts = charts or {}
    files: dict[str, bytes] = {f"{t.name}.csv": t.csv for t in tables}
    for pictures in charts.values():
        files.update(dict(pictures))
    images = {name: [filename for filename, _ in pictures] for name, pictures in charts.items()}
    files["summary.json"] = json.dumps(summary, indent=2, sort_keys=True).encode()
    files["index.html"] = render_html(tables, summary, images).encode()

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
