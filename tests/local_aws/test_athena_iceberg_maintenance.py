"""OPTIMIZE, VACUUM, ALTER TABLE ADD COLUMNS and commit conflicts on Iceberg tables in local Athena."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from tests.local_aws.test_athena_iceberg import create_events, make_lake, pyiceberg_catalog
from tests.local_aws.test_athena_writes import failed, keys_under, run, select


@pytest.fixture(scope="module")
def lake(aws: Callable[..., Any]) -> dict[str, Any]:
    return make_lake(aws)


def insert_one_by_one(aws: Callable[..., Any], lake: dict[str, Any], name: str) -> None:
    for values in (
        "(1, TIMESTAMP '2024-01-01 10:05:00', 'eu', 1.5)",
        "(2, TIMESTAMP '2024-01-01 10:30:00', 'eu', 2.5)",
        "(3, TIMESTAMP '2024-01-01 10:40:00', 'eu', 3.5)",
        "(4, TIMESTAMP '2024-01-01 11:00:00', 'us', 4.5)",
    ):
        run(aws, lake, f"INSERT INTO {name} VALUES {values}")


def test_optimize_bin_pack_rewrites_small_files_of_the_partitions_its_where_names(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    run(
        aws,
        lake,
        f"CREATE TABLE packed (id bigint, ts timestamp, region string, amount double) PARTITIONED BY (region) "
        f"LOCATION 's3://{lake['bucket']}/packed/' TBLPROPERTIES ('table_type'='ICEBERG')",
    )
    insert_one_by_one(aws, lake, "packed")
    run(aws, lake, "INSERT INTO packed VALUES (5, TIMESTAMP '2024-01-01 11:30:00', 'us', 5.5)")

    def files(region: str) -> str | None:
        rows = select(
            aws, lake, f"SELECT count(*) FROM \"packed$files\" WHERE file_path LIKE '%region={region}/%'"
        )
        return rows[0][0]

    assert (files("eu"), files("us")) == ("3", "2")
    run(aws, lake, "OPTIMIZE packed REWRITE DATA USING BIN_PACK WHERE region = 'eu'")
    assert (files("eu"), files("us")) == ("1", "2")
    assert select(aws, lake, "SELECT count(*), sum(amount) FROM packed") == [["5", "17.5"]]
    assert select(
        aws, lake, 'SELECT operation FROM "packed$snapshots" ORDER BY committed_at DESC LIMIT 1'
    ) == [["overwrite"]]
    reason = failed(
        aws, lake, "OPTIMIZE packed REWRITE DATA USING BIN_PACK WHERE read_text('/etc/passwd') = 'x'"
    )
    assert reason.startswith("FUNCTION_NOT_FOUND:"), reason


def test_vacuum_expires_old_snapshots_and_removes_orphan_files(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    run(
        aws,
        lake,
        "CREATE TABLE vacuumed (id bigint, ts timestamp, region string, amount double) "
        f"LOCATION 's3://{lake['bucket']}/vacuumed/' "
        "TBLPROPERTIES ('table_type'='ICEBERG', 'vacuum_max_snapshot_age_seconds'='0')",
    )
    insert_one_by_one(aws, lake, "vacuumed")
    run(aws, lake, "DELETE FROM vacuumed WHERE id < 4")
    orphan = "vacuumed/data/orphan-00000.parquet"
    aws("s3").put_object(Bucket=lake["bucket"], Key=orphan, Body=b"not referenced")
    data_before = [k for k in keys_under(aws, lake["bucket"], "vacuumed/data/") if k.endswith(".parquet")]
    assert select(aws, lake, 'SELECT count(*) FROM "vacuumed$snapshots"') == [["5"]]
    run(aws, lake, "VACUUM vacuumed")
    assert select(aws, lake, 'SELECT count(*) FROM "vacuumed$snapshots"') == [["1"]]
    data_after = [k for k in keys_under(aws, lake["bucket"], "vacuumed/data/") if k.endswith(".parquet")]
    assert orphan not in data_after
    assert len(data_after) == 1 < len(data_before)
    assert select(aws, lake, "SELECT id FROM vacuumed") == [["4"]]


def test_add_columns_evolves_the_schema_and_old_rows_read_null(
    aws: Callable[..., Any], lake: dict[str, Any], endpoint_url: str
) -> None:
    create_events(aws, lake, "evolving")
    run(aws, lake, "INSERT INTO evolving VALUES (1, TIMESTAMP '2024-01-01 10:05:00', 'eu', 1.5)")
    run(aws, lake, "ALTER TABLE evolving ADD COLUMNS (note string, qty int)")
    run(aws, lake, "INSERT INTO evolving VALUES (2, TIMESTAMP '2024-01-01 10:06:00', 'eu', 2.5, 'new', 7)")
    assert select(aws, lake, "SELECT id, note, qty FROM evolving ORDER BY id") == [
        ["1", None, None],
        ["2", "new", "7"],
    ]
    columns = aws("glue").get_table(DatabaseName=lake["database"], Name="evolving")["Table"][
        "StorageDescriptor"
    ]
    assert [c["Name"] for c in columns["Columns"]] == ["id", "ts", "region", "amount", "note", "qty"]
    schema = pyiceberg_catalog(endpoint_url).load_table(f"{lake['database']}.evolving").schema()
    assert [f.name for f in schema.fields][-2:] == ["note", "qty"]
    assert failed(aws, lake, "ALTER TABLE evolving ADD COLUMNS (note string)").startswith(
        "COLUMN_ALREADY_EXISTS:"
    )


def test_concurrent_commits_are_retried_so_no_change_is_lost(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    create_events(aws, lake, "contended")
    statements = [
        f"INSERT INTO contended VALUES ({i}, TIMESTAMP '2024-01-01 10:00:00', 'eu', {i}.0)" for i in range(8)
    ]
    errors: list[BaseException] = []

    def insert(sql: str) -> None:
        try:
            run(aws, lake, sql)
        except BaseException as error:  # reported below: a lost commit fails the statement
            errors.append(error)

    threads = [threading.Thread(target=insert, args=(sql,)) for sql in statements]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert select(aws, lake, "SELECT count(*) FROM contended") == [["8"]]
    assert select(aws, lake, 'SELECT count(*) FROM "contended$snapshots"') == [["8"]]


def test_a_commit_that_stays_stale_fails_with_iceberg_commit_error_after_the_retries() -> None:
    from pyiceberg.exceptions import CommitFailedException

    from local_aws.athena_engine import iceberg_dml
    from local_aws.athena_engine.errors import EngineError

    class Writes(iceberg_dml.IcebergWrites):
        def _iceberg_table(self, database: str, name: str) -> Any:
            return object()

    attempts: list[object] = []

    def always_stale(tbl: object) -> int:
        attempts.append(tbl)
        raise CommitFailedException("Glue: ConcurrentModificationException")

    saved = iceberg_dml.COMMIT_WAIT_SECONDS
    iceberg_dml.COMMIT_WAIT_SECONDS = 0.0
    try:
        with pytest.raises(EngineError) as caught:
            Writes()._commit("db", "t", "db.t", always_stale)
    finally:
        iceberg_dml.COMMIT_WAIT_SECONDS = saved
    assert caught.value.code == "ICEBERG_COMMIT_ERROR"
    assert str(caught.value) == "ICEBERG_COMMIT_ERROR: Failed to commit Iceberg update to table: db.t"
    assert len(attempts) == iceberg_dml.COMMIT_ATTEMPTS


def test_drop_table_removes_an_iceberg_tables_data_as_athena_does(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    create_events(aws, lake, "dropped")
    run(aws, lake, "INSERT INTO dropped VALUES (1, TIMESTAMP '2024-01-01 10:05:00', 'eu', 1.5)")
    assert any(k.endswith(".parquet") for k in keys_under(aws, lake["bucket"], "dropped/data/"))
    run(aws, lake, "DROP TABLE dropped")
    names = [t["Name"] for t in aws("glue").get_tables(DatabaseName=lake["database"])["TableList"]]
    assert "dropped" not in names
    left = [k for k in keys_under(aws, lake["bucket"], "dropped/") if not k.endswith("/")]
    assert left == []
