"""The Reports pages, a FastAPI app the api-server mounts at ``/cdc-reports`` (signed-in users only).

- ``/cdc-reports/``: every published hour, per pipeline, newest first;
- ``/cdc-reports/<dataset>/<YYYY-MM-DDTHH>/``: that hour's report (its charts and CSVs beside it);
- ``/cdc-reports/run/<dag id>/<run id>``: the report of an hourly run (the extra link and the alerts
  point here), redirected to its hour, or a page saying the run has published nothing yet.

Reports come from the local reports folder, else from the lake (see ``cdc_reports.store``).

LIMITATIONS: any signed-in user may read every pipeline's reports (Airflow's per-DAG permissions
are not applied to these pages); the lake read is the one of this deployment's settings
(``CDC_LAKE_PREFIX``), through the api-server's own AWS connection.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cdc_reports import store

log = logging.getLogger(__name__)

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".csv": "text/csv",
    ".png": "image/png",
    ".json": "application/json",
}
_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:60em;padding:0 1em;color:#222}"
    "h2{margin-bottom:.3em}ul{columns:3;list-style:none;padding:0}li{margin:.2em 0}.note{color:#666}"
)


def authenticated() -> Callable[..., None]:
    """Airflow's own check that the request carries a signed-in user's token (header or cookie)."""
    from airflow.api_fastapi.core_api.security import requires_authenticated

    return requires_authenticated()


_signed_in = authenticated()


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def listing(sources: list[Any]) -> tuple[dict[str, set[str]], list[str]]:
    """Every dataset's published hours across the sources, and why a source could not be read."""
    found: dict[str, set[str]] = {}
    problems = []
    for source in sources:
        try:
            for dataset, hours in source.hours().items():
                found.setdefault(dataset, set()).update(hours)
        except Exception as error:  # a lake we cannot reach still leaves the local reports listed
            log.warning("could not list reports from %s: %s", source, error)
            problems.append(f"The lake's reports could not be listed: {error}")
    return found, problems


def read(sources: list[Any], dataset: str, hour: str, filename: str) -> bytes | None:
    for source in sources:
        try:
            body = source.read(dataset, hour, filename)
        except store.NotAReport:
            raise
        except Exception as error:
            log.warning("could not read %s/%s/%s from %s: %s", dataset, hour, filename, source, error)
            continue
        if body is not None:
            return body
    return None


def hour_of_run(dag_id: str, run_id: str) -> str | None:
    """The ``YYYY-MM-DDTHH`` of an hourly run's data interval, from the metadata database."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.run_id == run_id).one_or_none()
        if run is None or run.data_interval_start is None:
            return None
        return run.data_interval_start.strftime("%Y-%m-%dT%H")


def create_app(sources: Callable[[], list[Any]] = store.sources) -> FastAPI:
    app = FastAPI(title="cdc-lake reports", dependencies=[Depends(_signed_in)])

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        found, problems = listing(sources())
        parts = [f'<p class="note">{html.escape(p)}</p>' for p in problems]
        if not found:
            parts.append(
                "<p>No report yet. Trigger the DAG <b>&lt;pipeline&gt;_provision</b>, then"
                " <b>&lt;pipeline&gt;_generate</b>: the report of the hour it wrote into appears here.</p>"
            )
        for dataset in sorted(found):
            hours = sorted(found[dataset], reverse=True)
            items = "".join(f'<li><a href="{dataset}/{hour}/">{hour}:00 UTC</a></li>' for hour in hours)
            parts.append(f"<h2>{html.escape(dataset)}</h2><ul>{items}</ul>")
        return _page("Hourly reports", "".join(parts))

    @app.get("/run/{dag_id}/{run_id:path}")
    def run_report(dag_id: str, run_id: str, request: Request) -> Response:
        dataset = dag_id.removesuffix("_hourly")
        hour = hour_of_run(dag_id, run_id) if dag_id.endswith("_hourly") else None
        if hour is None or not store.DATASET.match(dataset):
            raise HTTPException(404, f"{dag_id} has no run {run_id} with an hour to report")
        if read(sources(), dataset, hour, "index.html") is None:
            return _page(
                f"{dataset}, {hour}:00 UTC",
                "<p>This run has not published its report (yet): see the run's <b>publish_report</b> task.</p>",
            )
        return RedirectResponse(f"{request.scope.get('root_path', '')}/{dataset}/{hour}/", status_code=307)

    @app.get("/{dataset}/{hour}/")
    def report_page(dataset: str, hour: str) -> Response:
        return report_file(dataset, hour, "index.html")

    @app.get("/{dataset}/{hour}/{filename}")
    def report_file(dataset: str, hour: str, filename: str) -> Response:
        try:
            body = read(sources(), dataset, hour, filename)
        except store.NotAReport as error:
            raise HTTPException(404, str(error)) from None
        if body is None:
            raise HTTPException(404, f"no {filename} in the report of {dataset} for {hour}:00 UTC")
        suffix = "." + filename.rsplit(".", 1)[-1] if "." in filename else ""
        return Response(body, media_type=_TYPES.get(suffix, "application/octet-stream"))

    return app
