"""The hour's reports: one Athena query per report file, then the published report (CSV, charts, HTML)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.operators.athena import AthenaOperator
from airflow.sdk import task

from cdc_pipeline import report_links
from cdc_pipeline.definitions import PipelineDefinition
from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows import assets
from cdc_pipeline.workflows.common import SQL_ROOT
from cdc_pipeline.workflows.hourly.checks import sql_files
from cdc_pipeline.workflows.hourly.crawl import athena_query


def report_files(definition: PipelineDefinition) -> dict[str, Path]:
    """Report name -> its SQL file (``report_<name>.sql`` in the dataset's report folder)."""
    paths = sql_files(SQL_ROOT / "report" / definition.name, "report_*.sql")
    return {path.stem.removeprefix("report_"): path for path in paths}


def report_queries(definition: PipelineDefinition, settings: Settings) -> list[AthenaOperator]:
    """``report_<name>``: one Athena query per report; its execution id goes to XCom."""
    return [
        athena_query(settings, f"report_{name}", str(path.relative_to(SQL_ROOT)))
        for name, path in report_files(definition).items()
    ]


def publish(
    definition: PipelineDefinition, settings: Settings, lake_bucket: Any, check_ids: list[str] | None = None
) -> Any:
    """``publish_report``: the reports' results as CSV, PNG charts, summary and HTML, in S3 and locally.

    It runs when the checks are done, passed or failed (``all_done``): a failed check is shown at the
    top of the report (``cdc_pipeline.report_checks``), not a reason to publish nothing.
    """
    reports = report_files(definition)

    @task(trigger_rule="all_done")
    def publish_report(lake_bucket: str, data_interval_start=None, ti=None) -> dict[str, Any]:
        """Write the hour's report (CSV, summary, HTML) to the lake and the local reports folder."""
        import os

        from airflow.providers.amazon.aws.hooks.athena import AthenaHook
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from airflow.sdk.exceptions import AirflowSkipException

        from cdc_pipeline import charts, report_checks
        from cdc_pipeline import reports as publishing

        s3 = S3Hook(aws_conn_id=settings.aws_conn_id).get_conn()
        athena = AthenaHook(aws_conn_id=settings.aws_conn_id).get_conn()
        executions = {name: ti.xcom_pull(task_ids=f"report_{name}") for name in reports}
        if any(execution is None for execution in executions.values()):
            # all_done also runs when the report queries never ran (an upstream failure or skip).
            raise AirflowSkipException("the report queries did not run: nothing to publish")
        questions = {name: publishing.question_of(path.read_text()) for name, path in reports.items()}
        tables = publishing.fetch_results(athena, s3, executions, questions)
        published = publishing.publish(
            tables,
            dataset=definition.name,
            hour=data_interval_start,
            s3=s3,
            bucket=lake_bucket,
            local_root=os.environ.get("CDC_LAKE_REPORTS_DIR") or None,
            charts=charts.render_all(definition, tables),
            checks=report_checks.collect(ti, check_ids or []),
        )
        return {
            "s3_uri": published.s3_uri,
            "local_dir": published.local_dir,
            "files": published.files,
            "summary": published.summary,
        }

    published = publish_report(lake_bucket)
    # The "Report" button on the task: the hour's page in the Reports plugin.
    published.operator.operator_extra_links = (report_links.report_link(),)
    # Lineage: each published hour updates the pipeline's "report" Asset (a DAG can be scheduled on it).
    published.operator.outlets = [assets.report(definition)]
    return published
