"""Where people open an hour's report in Airflow: the Reports plugin's pages, and the link to them.

The plugin (``plugins/cdc_reports_plugin.py``) serves the reports under ``/cdc-reports/`` on the
api-server. A run of a ``<dataset>_hourly`` DAG has a stable address there, ``/cdc-reports/run/<dag
id>/<run id>``, which the plugin turns into the page of the run's hour; ``publish_report``'s extra
link and the alert message both point at it, so neither needs to know the hour's folder.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

#: The plugin's FastAPI app is mounted here, under the api-server's base URL.
ROUTE = "cdc-reports"
HOURLY_SUFFIX = "_hourly"


def base_url() -> str:
    """The api-server's public address (``[api] base_url``), without a trailing slash."""
    from airflow.configuration import conf

    return (conf.get("api", "base_url", fallback="") or "http://localhost:8080").rstrip("/")


def run_report_url(dag_id: str, run_id: str, base: str | None = None) -> str | None:
    """The report page of an hourly run; None for a DAG that publishes no report."""
    if not dag_id.endswith(HOURLY_SUFFIX):
        return None
    root = base_url() if base is None else base.rstrip("/")
    return f"{root}/{ROUTE}/run/{quote(dag_id, safe='')}/{quote(run_id, safe='')}"


def report_line(dag_id: str, run_id: str) -> str | None:
    """The alert's line pointing at the hour's report, e.g. ``Report: http://.../cdc-reports/run/...``."""
    url = run_report_url(dag_id, run_id)
    return f"Report: {url}" if url else None


def report_link() -> Any:
    """The ``Report`` extra link of ``publish_report`` (an operator extra link, shown on the task)."""
    from airflow.sdk import BaseOperatorLink

    class ReportLink(BaseOperatorLink):
        name = "Report"

        def get_link(self, operator: Any, *, ti_key: Any) -> str:
            return run_report_url(ti_key.dag_id, ti_key.run_id) or ""

    return ReportLink()
