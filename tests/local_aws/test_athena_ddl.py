"""Athena's catalog DDL as a boto3 user sees it: MSCK REPAIR, ALTER TABLE, SHOW CREATE, SHOW TBLPROPERTIES, EXPLAIN."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.local_aws.athena_helpers import new_lake, put_object
from tests.local_aws.test_athena import rows_of
from tests.local_aws.test_athena_writes import failed, run, select
from tests.support import unique


@pytest.fixture(scope="module")
def lake(aws: Callable[..., Any]) -> dict[str, Any]:
    """A partitioned CSV table whose partitions exist in S3 but not yet in Glue."""
    run_lake = new_lake(aws, "ddl")
    run(
        aws,
        run_lake,
        "CREATE EXTERNAL TABLE events (id int, kind string) PARTITIONED BY (dt string) "
        f"ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://{run_lake['bucket']}/events/' "
        "TBLPROPERTIES ('classification' = 'csv')",
    )
    for dt, body in (("2024-01-01", b"1,a\n2,b\n"), ("2024-01-02", b"3,c\n")):
        put_object(aws, run_lake, f"events/dt={dt}/part-0.csv", body)
    put_object(aws, run_lake, "events/not-a-partition/x.csv", b"9,z\n")
    return run_lake


def partition_values(aws: Callable[..., Any], lake: dict[str, Any]) -> list[str]:
    found = aws("glue").get_partitions(DatabaseName=lake["database"], TableName="events")["Partitions"]
    return sorted(p["Values"][0] for p in found)


def test_msck_repair_registers_hive_folders_and_alter_drops_and_adds(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    assert select(aws, lake, "SELECT count(*) FROM events") == [["0"]]  # unregistered: not read
    execution = run(aws, lake, "MSCK REPAIR TABLE events")
    assert execution["StatementType"] == "DDL"
    assert partition_values(aws, lake) == ["2024-01-01", "2024-01-02"]
    assert select(aws, lake, "SELECT count(*) FROM events") == [["3"]]
    run(aws, lake, "MSCK REPAIR TABLE events")  # nothing new: no change, no error
    assert partition_values(aws, lake) == ["2024-01-01", "2024-01-02"]

    run(aws, lake, "ALTER TABLE events DROP PARTITION (dt = '2024-01-01')")
    assert partition_values(aws, lake) == ["2024-01-02"]
    assert aws("s3").list_objects_v2(Bucket=lake["bucket"], Prefix="events/dt=2024-01-01/")["KeyCount"] == 1
    reason = failed(aws, lake, "ALTER TABLE events DROP PARTITION (dt = '2024-01-01')")
    assert reason.startswith("PARTITION_NOT_FOUND: "), reason
    run(aws, lake, "ALTER TABLE events DROP IF EXISTS PARTITION (dt = '2024-01-01')")

    other = f"s3://{lake['bucket']}/events/dt=2024-01-01/"
    run(
        aws,
        lake,
        f"ALTER TABLE events ADD PARTITION (dt = '2024-01-01') LOCATION '{other}' PARTITION (dt = '2024-03-01')",
    )
    assert partition_values(aws, lake) == ["2024-01-01", "2024-01-02", "2024-03-01"]
    reason = failed(aws, lake, "ALTER TABLE events ADD PARTITION (dt = '2024-03-01')")
    assert reason.startswith("ALREADY_EXISTS: "), reason
    run(aws, lake, "ALTER TABLE events ADD IF NOT EXISTS PARTITION (dt = '2024-03-01')")
    reason = failed(aws, lake, "ALTER TABLE events ADD PARTITION (kind = 'x')")
    assert reason.startswith("HIVE_METASTORE_ERROR: "), reason
    assert partition_values(aws, lake) == ["2024-01-01", "2024-01-02", "2024-03-01"]


def test_alter_table_add_and_replace_columns(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    name = unique("cols").replace("-", "_")
    run(aws, lake, f"CREATE EXTERNAL TABLE {name} (a int) LOCATION 's3://{lake['bucket']}/{name}/'")
    run(aws, lake, f"ALTER TABLE {name} ADD COLUMNS (b string, c array<int>)")
    columns = aws("glue").get_table(DatabaseName=lake["database"], Name=name)["Table"]["StorageDescriptor"][
        "Columns"
    ]
    assert [(c["Name"], c["Type"]) for c in columns] == [("a", "int"), ("b", "string"), ("c", "array<int>")]
    reason = failed(aws, lake, f"ALTER TABLE {name} ADD COLUMNS (a bigint)")
    assert reason.startswith("COLUMN_ALREADY_EXISTS: "), reason
    run(aws, lake, f"ALTER TABLE {name} REPLACE COLUMNS (z double)")
    columns = aws("glue").get_table(DatabaseName=lake["database"], Name=name)["Table"]["StorageDescriptor"][
        "Columns"
    ]
    assert [(c["Name"], c["Type"]) for c in columns] == [("z", "double")]


def test_show_create_table_view_and_tblproperties(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    text = "\n".join(
        r[0] or "" for r in rows_of(aws, run(aws, lake, "SHOW CREATE TABLE events")["QueryExecutionId"])
    )
    assert text.startswith(f"CREATE EXTERNAL TABLE `{lake['database']}`.`events`(")
    assert "PARTITIONED BY ( \n  `dt` string)" in text
    assert "'org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe'" in text
    assert f"LOCATION\n  's3://{lake['bucket']}/events/'" in text
    assert "'classification'='csv'" in text
    rows = rows_of(aws, run(aws, lake, "SHOW TBLPROPERTIES events ('classification')")["QueryExecutionId"])
    assert rows == [["classification\tcsv"]]
    view = unique("v").replace("-", "_")
    run(aws, lake, f"CREATE VIEW {view} AS SELECT id FROM events")
    rows = rows_of(aws, run(aws, lake, f"SHOW CREATE VIEW {view}")["QueryExecutionId"])
    assert rows == [
        [f'CREATE VIEW "awsdatacatalog"."{lake["database"]}"."{view}" AS'],
        ["SELECT id FROM events"],
    ]
    assert failed(aws, lake, "SHOW CREATE VIEW events").startswith("NOT_SUPPORTED: ")


def test_explain_reads_no_data(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    execution = run(aws, lake, "EXPLAIN SELECT kind, count(*) FROM events GROUP BY kind")
    assert execution["StatementType"] == "UTILITY" and execution["SubstatementType"] == "EXPLAIN"
    assert execution["Statistics"]["DataScannedInBytes"] == 0
    plan = [r[0] for r in rows_of(aws, execution["QueryExecutionId"])]
    assert any("AGGREGATE" in (line or "").upper() for line in plan), plan
    reason = failed(aws, lake, "EXPLAIN SELECT * FROM read_text('/etc/passwd')")
    assert not reason.startswith("GENERIC"), reason
