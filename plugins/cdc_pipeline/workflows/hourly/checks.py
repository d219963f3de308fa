"""The hour's quality checks: each one a task that can fail, and pushes its result as data.

Every check answers one question about the hour and fails naming the numbers it found (see
``check_results``: the ``check_result`` XCom, the alert text). The checks and where they look:

- ``include/sql/quality/**/check_*.sql``: hand-written Athena SQL returning ``(passed, detail)``;
- ``include/sql/quality/**/check_*.toml``: the common-sql provider's column checks (nulls, min,
  max, uniqueness), declared per column;
- ``check_freshness`` and ``check_rows_present`` compare with what ``inspect_delivery`` found in the
  hour's S3 partition: the objects the delivery sensor waited on, their rows and their arrival
  times (object ``LastModified``);
- ``check_error_records``: the records Firehose (or the Kinesis consumer) filed under the error
  prefix (processing, format conversion and dynamic partitioning failures), by the window in which
  they *arrive* for this run (see ``error_records``);
- ``check_schema_drift`` (pipelines that declare ``[columns]``): the crawled change log's columns
  and the hour's ``undeclared`` attributes against the declared ones, and no other table under the
  lake prefix (see ``schema_drift``).

How ``inspect_delivery`` reads the hour's objects, in both formats, is in ``delivery``.
"""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import task

from cdc_pipeline.definitions import PipelineDefinition
from cdc_pipeline.settings import Settings
from cdc_pipeline.workflows.common import SQL_ROOT, sql_params
from cdc_pipeline.workflows.hourly import error_records, schema_drift
from cdc_pipeline.workflows.hourly.check_results import ColumnCheck, QueryCheck, conclude, question_of
from cdc_pipeline.workflows.hourly.delivery import measure_objects

INSPECT_TASK = "inspect_delivery"
#: Checks that need what inspect_delivery found in S3.
NEEDS_INSPECTION = ("check_rows_present",)


def sql_files(folder: Path, pattern: str) -> list[Path]:
    return sorted(folder.glob(pattern)) if folder.is_dir() else []


def check_files(definition: PipelineDefinition) -> list[Path]:
    """Checks every dataset runs, then the dataset's own: one file (SQL or TOML), one check."""
    root = SQL_ROOT / "quality"
    found = []
    for folder in (root, root / definition.name):
        found += sql_files(folder, "check_*.sql") + sql_files(folder, "check_*.toml")
    return found


def partition_clause(extra: str | None) -> str:
    clause = "{{ hour_partition(data_interval_start) }}"
    return f"{clause} AND ({extra})" if extra else clause


class CheckDeclarationError(ValueError):
    """A ``check_*.toml`` the DAG cannot build a check from; the message names the file and the field."""


def column_mapping(declared: dict[str, Any], params: dict[str, Any], key: str) -> dict[str, Any]:
    """The TOML's ``[columns.<name>]`` with ``$key`` and ``$<check param>`` replaced by their values."""

    def value(raw: Any) -> Any:
        if not (isinstance(raw, str) and raw.startswith("$")):
            return raw
        if raw[1:] not in params:
            raise CheckDeclarationError(f"{raw} is not a check_params value of the definition")
        return params[raw[1:]]

    mapping = {}
    for column, checks in declared.items():
        name = key if column == "$key" else column
        mapping[name] = {check: {k: value(v) for k, v in bounds.items()} for check, bounds in checks.items()}
    return mapping


def column_check(path: Path, definition: PipelineDefinition, settings: Settings) -> ColumnCheck:
    """A ``check_*.toml`` as the provider's SQLColumnCheckOperator on the hour's partition."""
    text = path.read_text()
    params = sql_params(definition, settings)
    try:
        declared = tomllib.loads(text)
        mapping = column_mapping(declared["columns"], params, definition.key_attribute)
    except (tomllib.TOMLDecodeError, KeyError, CheckDeclarationError, AttributeError) as error:
        raise CheckDeclarationError(
            f"{path}: {error} (a column check needs [columns.<name>] tables)"
        ) from None
    return ColumnCheck(
        task_id=path.stem,
        conn_id=settings.athena_conn_id,
        hook_params={"aws_conn_id": settings.aws_conn_id},
        workgroup=settings.athena_workgroup,
        question=question_of(text),
        table=f"{{{{ lake.{declared.get('table', 'table')} }}}}",
        partition_clause=partition_clause(declared.get("where")),
        column_mapping=mapping,
        retries=0,
    )


def query_check(path: Path, settings: Settings, task_id: str | None = None) -> QueryCheck:
    """The check in the SQL file ``path`` on the configured Athena connection and workgroup; its task
    is named after the file unless ``task_id`` is given."""
    return QueryCheck(
        task_id=task_id or path.stem,
        conn_id=settings.athena_conn_id,
        hook_params={"aws_conn_id": settings.aws_conn_id},
        workgroup=settings.athena_workgroup,
        question=question_of(path.read_text()),
        sql=str(path.relative_to(SQL_ROOT)),
        retries=0,
    )


def sql_checks(definition: PipelineDefinition, settings: Settings) -> list[Any]:
    """One task per check file, on the configured Athena connection and workgroup."""
    return [
        column_check(path, definition, settings) if path.suffix == ".toml" else query_check(path, settings)
        for path in check_files(definition)
    ]


def allowed_delay_seconds(definition: PipelineDefinition, settings: Settings) -> int:
    """The definition's ``max_delay_seconds``, else the longest a change may take to reach S3."""
    from cdc_pipeline.workflows.reconciliation import delivery_lag_bound

    declared = (getattr(definition, "check_params", {}) or {}).get("max_delay_seconds")
    return int(declared) if declared is not None else int(delivery_lag_bound(settings).total_seconds())


def inspect_delivery(definition: PipelineDefinition, settings: Settings, lake_bucket: Any) -> Any:
    """``inspect_delivery``: what the hour's partition holds in S3 (objects, rows, arrival delays)."""
    allowed = allowed_delay_seconds(definition, settings)

    @task(task_id=INSPECT_TASK, retries=1)
    def inspect(lake_bucket: str, data_interval_start=None) -> dict[str, Any]:
        """Read the hour's objects (as the delivery sensor listed them): rows and delays to arrival."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from cdc_pipeline.workflows.common import hour_prefix

        s3 = S3Hook(aws_conn_id=settings.aws_conn_id).get_conn()
        prefix = hour_prefix(definition, data_interval_start)
        objects = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=lake_bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                body = s3.get_object(Bucket=lake_bucket, Key=item["Key"])["Body"].read()
                objects.append((item["LastModified"], body))
        return measure_objects(objects, definition.key_attribute, allowed)

    return inspect(lake_bucket)


FRESHNESS_QUESTION = (
    "Did every change of this hour reach S3 within the allowed delay after it was made? "
    "Fails when a change's first arrival (object LastModified) came later than allowed_seconds after "
    "its approximate_creation_time, or a row has no approximate_creation_time."
)


def freshness_check(inspection: Any) -> Any:
    """``check_freshness``: from ``inspect_delivery``'s numbers (see the module docstring)."""

    @task(retries=0)
    def check_freshness(found: dict[str, Any], **context: Any) -> dict[str, Any]:
        """Every change reached S3 within the allowed delay; a row without a creation time fails."""
        passed = found["late_changes"] == 0 and found["changes_without_creation_time"] == 0
        numbers = {
            name: found[name]
            for name in ("slowest_change_seconds", "allowed_seconds", "late_changes")
            + ("changes_without_creation_time", "objects")
        }
        return conclude(context, "check_freshness", FRESHNESS_QUESTION, passed, numbers)

    return check_freshness(inspection)


def error_records_check(definition: PipelineDefinition, settings: Settings, lake_bucket: Any) -> Any:
    """``check_error_records``: no record failed the transform or the Parquet conversion in this run's window."""
    window_shift = timedelta(
        seconds=settings.firehose_buffer_interval_seconds + settings.delivery_grace_seconds
    )

    @task(retries=0)
    def check_error_records(lake_bucket: str, **context: Any) -> dict[str, Any]:
        """No record failed processing or format conversion in this run's window (filed by arrival time)."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        s3 = S3Hook(aws_conn_id=settings.aws_conn_id).get_conn()
        hour = context["data_interval_start"]
        start = hour + window_shift
        found = error_records.count_in_window(
            s3, lake_bucket, definition, start, start + timedelta(hours=1), hour
        )
        passed = found["error_records"] == 0
        return conclude(context, "check_error_records", error_records.QUESTION, passed, found)

    return check_error_records(lake_bucket)


def all_checks(definition: PipelineDefinition, settings: Settings, lake_bucket: Any) -> tuple[Any, list[Any]]:
    """(``inspect_delivery``, every check task of the hour), wired inside."""
    inspection = inspect_delivery(definition, settings, lake_bucket)
    sql = sql_checks(definition, settings)
    for operator in sql:
        if operator.task_id in NEEDS_INSPECTION:
            inspection >> operator
    checks = [*sql, freshness_check(inspection), error_records_check(definition, settings, lake_bucket)]
    if definition.columns:  # a pipeline that declares its schema has it checked against the crawl
        checks.append(schema_drift.schema_drift_check(definition, settings, lake_bucket, inspection))
    return inspection, checks


def task_id_of(check: Any) -> str:
    """The task id of a check: an operator's, or a TaskFlow call's (its XComArg's operator)."""
    return check.task_id if hasattr(check, "task_id") else check.operator.task_id
