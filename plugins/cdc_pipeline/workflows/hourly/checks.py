"""The hour's quality checks: one SQL check per file, and no record in Firehose's error prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.providers.common.sql.operators.sql import SQLCheckOperator
from airflow.sdk import task

from cdc_pipeline.definitions import PipelineDefinition
from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows.common import SQL_ROOT, error_prefix

# The default of CDC_LAKE_ATHENA_CONN_ID (`Settings.athena_conn_id`), which the checks use.
ATHENA_CONN_ID = "athena_default"


def sql_files(folder: Path, pattern: str) -> list[Path]:
    return sorted(folder.glob(pattern)) if folder.is_dir() else []


def check_files(definition: PipelineDefinition) -> list[Path]:
    """Checks every dataset runs, then the dataset's own: one SQL file, one check."""
    root = SQL_ROOT / "quality"
    return sql_files(root, "check_*.sql") + sql_files(root / definition.name, "check_*.sql")


def sql_checks(definition: PipelineDefinition, settings: Settings) -> list[SQLCheckOperator]:
    """One task per check file, on the configured Athena connection; a failure names the numbers it found.

    The Athena SQL hook takes its credentials and region from the configured AWS connection (the
    identity every other task uses), and the Athena connection's workgroup and extras.
    """
    return [
        SQLCheckOperator(
            task_id=path.stem,
            conn_id=settings.athena_conn_id,
            hook_params={"aws_conn_id": settings.aws_conn_id},
            sql=str(path.relative_to(SQL_ROOT)),
            retries=0,
        )
        for path in check_files(definition)
    ]


def error_records_check(definition: PipelineDefinition, settings: Settings, lake_bucket: Any) -> Any:
    """``check_error_records``: no record of this hour failed the transform."""

    @task(retries=0)
    def check_error_records(lake_bucket: str, data_interval_start=None) -> int:
        """No record of this hour failed the transform (Firehose's processing-failed prefix is empty)."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        prefix = error_prefix(definition, data_interval_start)
        keys = S3Hook(aws_conn_id=settings.aws_conn_id).list_keys(bucket_name=lake_bucket, prefix=prefix)
        if keys:
            raise ValueError(
                f"error_records={len(keys)} objects under s3://{lake_bucket}/{prefix}: "
                f"records failed the transform in this hour (first: {keys[0]})"
            )
        return 0

    return check_error_records(lake_bucket)
