"""SHOW CREATE TABLE of an Iceberg table answers with Athena's Iceberg DDL, as a boto3 user sees it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.local_aws.test_athena import rows_of
from tests.local_aws.test_athena_iceberg import make_lake
from tests.local_aws.test_athena_writes import run


@pytest.fixture(scope="module")
def lake(aws: Callable[..., Any]) -> dict[str, Any]:
    return make_lake(aws)


def show_create(aws: Callable[..., Any], lake: dict[str, Any], name: str) -> list[str | None]:
    """The lines of SHOW CREATE TABLE (a utility statement's results carry no header row)."""
    return [row[0] for row in rows_of(aws, run(aws, lake, f"SHOW CREATE TABLE {name}")["QueryExecutionId"])]


def test_show_create_table_of_an_iceberg_table_is_athenas_iceberg_ddl(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    location = f"s3://{lake['bucket']}/shown"
    run(
        aws,
        lake,
        "CREATE TABLE shown (id bigint, ts timestamp, region string, price decimal(10,2), tags array<string>) "
        f"PARTITIONED BY (day(ts), bucket(8, id), region) LOCATION '{location}/' "
        "TBLPROPERTIES ('table_type'='ICEBERG', 'format'='parquet', 'vacuum_max_snapshot_age_seconds'='60')",
    )
    lines = show_create(aws, lake, "shown")
    assert lines == [
        f"CREATE TABLE {lake['database']}.shown (",
        "  id bigint,",
        "  ts timestamp,",
        "  region string,",
        "  price decimal(10,2),",
        "  tags array<string>)",
        "PARTITIONED BY (day(ts), bucket(8, id), region)",
        f"LOCATION '{location}'",
        "TBLPROPERTIES (",
        "  'table_type'='iceberg',",
        "  'format'='parquet',",
        "  'write_compression'='zstd',",
        "  'vacuum_max_snapshot_age_seconds'='60')",
    ]


def test_show_create_table_of_an_unpartitioned_iceberg_table_has_no_partition_clause(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    location = f"s3://{lake['bucket']}/flat"
    run(
        aws,
        lake,
        f"CREATE TABLE flat (id int) LOCATION '{location}/' TBLPROPERTIES ('table_type'='ICEBERG')",
    )
    lines = show_create(aws, lake, "flat")
    assert lines[:3] == [f"CREATE TABLE {lake['database']}.flat (", "  id int)", f"LOCATION '{location}'"]
    assert "  'table_type'='iceberg'," in lines
