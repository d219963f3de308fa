"""The Reports plugin: the hourly reports inside Airflow, with a "Reports" entry in the UI's navigation.

The api-server mounts the plugin's FastAPI app (``cdc_reports.app``) at ``/cdc-reports``; the nav
entry opens its list of published hours inside the UI. ``publish_report``'s "Report" extra link and
the alert messages point at the same pages (``cdc_pipeline.report_links``).
"""

from __future__ import annotations

from functools import cached_property

from airflow.plugins_manager import AirflowPlugin

from cdc_pipeline.report_links import ROUTE


class CdcReportsPlugin(AirflowPlugin):
    name = "cdc_reports"

    @cached_property
    def fastapi_apps(self) -> list[dict[str, object]]:  # type: ignore[override]
        from cdc_reports.app import create_app

        return [{"app": create_app(), "url_prefix": f"/{ROUTE}", "name": "cdc-lake reports"}]

    external_views = [
        {
            "name": "Reports",
            # Relative: the UI resolves it against its own base URL.
            "href": f"{ROUTE}/",
            "destination": "nav",
            "url_route": "reports",
            # Its own button in the navigation bar, not inside the "Plugins" menu.
            "nav_top_level": True,
        }
    ]
