"""MERGE INTO, UPDATE and DELETE on Iceberg tables in local Athena, as a boto3 user sees them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.local_aws.test_athena_iceberg import create_events, make_lake, pyiceberg_catalog
from tests.local_aws.test_athena_writes import failed, run, select


@pytest.fixture(scope="module")
def lake(aws: Callable[..., Any]) -> dict[str, Any]:
    return make_lake(aws)


def current_state(aws: Callable[..., Any], lake: dict[str, Any], name: str) -> list[list[str | None]]:
    return select(aws, lake, f"SELECT id, region, amount FROM {name} ORDER BY id")


def metadata_location(aws: Callable[..., Any], lake: dict[str, Any], name: str) -> str:
    table = aws("glue").get_table(DatabaseName=lake["database"], Name=name)["Table"]
    return table["Parameters"]["metadata_location"]


@pytest.fixture
def orders(aws: Callable[..., Any], lake: dict[str, Any], request: pytest.FixtureRequest) -> str:
    """An Iceberg table of four rows, one per test, and a Hive-free VALUES source of changes."""
    name = f"orders_{request.node.name[5:30]}".lower()
    create_events(aws, lake, name)
    run(
        aws,
        lake,
        f"INSERT INTO {name} VALUES (1, TIMESTAMP '2024-01-01 10:05:00', 'eu', 1.5), "
        "(2, TIMESTAMP '2024-01-01 10:30:00', 'us', 2.5), (3, TIMESTAMP '2024-01-01 11:10:00', 'eu', 3.5), "
        "(4, TIMESTAMP '2024-01-01 12:00:00', 'us', 4.5)",
    )
    return name


def test_merge_updates_deletes_and_inserts_by_the_first_clause_that_holds(
    aws: Callable[..., Any], lake: dict[str, Any], orders: str, endpoint_url: str
) -> None:
    execution = run(
        aws,
        lake,
        f"MERGE INTO {orders} AS t USING (VALUES (1, 'U', 10.0), (2, 'D', 0.0), (5, 'I', 50.0), (6, 'D', 60.0)) "
        "AS s(id, op, amount) ON t.id = s.id "
        "WHEN MATCHED AND s.op = 'D' THEN DELETE "
        "WHEN MATCHED THEN UPDATE SET amount = s.amount "
        "WHEN NOT MATCHED AND s.op <> 'D' THEN INSERT (id, ts, region, amount) "
        "VALUES (s.id, TIMESTAMP '2024-01-02 00:00:00', 'ap', s.amount)",
    )
    assert execution["StatementType"] == "DML"
    assert current_state(aws, lake, orders) == [
        ["1", "eu", "10.0"], ["3", "eu", "3.5"], ["4", "us", "4.5"], ["5", "ap", "50.0"],
    ]  # fmt: skip
    operations = select(aws, lake, f'SELECT operation FROM "{orders}$snapshots" ORDER BY committed_at')
    assert operations == [["append"], ["overwrite"]]
    # Another engine reads the merged snapshot the same way.
    merged = pyiceberg_catalog(endpoint_url).load_table(f"{lake['database']}.{orders}").scan().to_arrow()
    assert sorted((r["id"], r["amount"]) for r in merged.to_pylist()) == [
        (1, 10.0),
        (3, 3.5),
        (4, 4.5),
        (5, 50.0),
    ]


def test_merge_with_a_target_row_matched_twice_fails_and_changes_nothing(
    aws: Callable[..., Any],
    lake: dict[str, Any],
    orders: str,
) -> None:
    before = metadata_location(aws, lake, orders)
    reason = failed(
        aws,
        lake,
        f"MERGE INTO {orders} t USING (VALUES (1, 7.0), (1, 8.0)) AS s(id, amount) ON t.id = s.id "
        "WHEN MATCHED THEN UPDATE SET amount = s.amount",
    )
    assert reason == (
        "MERGE_TARGET_ROW_MULTIPLE_MATCHES: One MERGE target table row matched more than one source row"
    )
    assert metadata_location(aws, lake, orders) == before
    assert current_state(aws, lake, orders)[0] == ["1", "eu", "1.5"]


def test_update_and_delete_change_only_the_rows_their_where_names(
    aws: Callable[..., Any],
    lake: dict[str, Any],
    orders: str,
) -> None:
    run(aws, lake, f"UPDATE {orders} SET amount = amount * 2 WHERE region = 'eu'")
    run(aws, lake, f"DELETE FROM {orders} WHERE id = 4")
    assert current_state(aws, lake, orders) == [["1", "eu", "3.0"], ["2", "us", "2.5"], ["3", "eu", "7.0"]]


def test_row_level_changes_on_a_hive_table_are_refused_as_athena_refuses_them(
    aws: Callable[..., Any],
    lake: dict[str, Any],
) -> None:
    run(
        aws,
        lake,
        f"CREATE EXTERNAL TABLE plain (id int) LOCATION 's3://{lake['bucket']}/plain/'",
    )
    reason = failed(aws, lake, "DELETE FROM plain WHERE id = 1")
    assert reason == "NOT_SUPPORTED: Modifying Hive table rows is only supported for transactional tables"


def test_time_travel_and_metadata_tables_show_every_snapshot(
    aws: Callable[..., Any],
    lake: dict[str, Any],
    orders: str,
) -> None:
    run(aws, lake, f"DELETE FROM {orders} WHERE region = 'us'")
    snapshots = select(
        aws, lake, f'SELECT snapshot_id, committed_at FROM "{orders}$snapshots" ORDER BY committed_at'
    )
    assert len(snapshots) == 2
    first_id, first_time = snapshots[0]
    old = select(aws, lake, f"SELECT count(*) FROM {orders} FOR VERSION AS OF {first_id}")
    assert old == [["4"]]
    assert select(aws, lake, f"SELECT count(*) FROM {orders}") == [["2"]]
    stamp = first_time.replace(" UTC", "")
    at_first = select(aws, lake, f"SELECT count(*) FROM {orders} FOR TIMESTAMP AS OF TIMESTAMP '{stamp} UTC'")
    assert at_first == [["4"]]
    history = select(aws, lake, f'SELECT count(*) FROM "{orders}$history"')
    assert history == [["2"]]
    files = select(aws, lake, f'SELECT sum(record_count) FROM "{orders}$files"')
    assert files == [["2"]]
    partitions = select(aws, lake, f'SELECT sum(record_count), sum(file_count) FROM "{orders}$partitions"')
    assert partitions == [["2", "2"]]
    reason = failed(aws, lake, f"SELECT * FROM {orders} FOR VERSION AS OF 12345")
    assert reason.startswith("INVALID_ARGUMENT:")


def test_merge_reads_only_the_target_files_that_may_hold_a_source_key(
    aws: Callable[..., Any], lake: dict[str, Any], orders: str
) -> None:
    whole = run(aws, lake, f"SELECT * FROM {orders}")["Statistics"]["DataScannedInBytes"]
    execution = run(
        aws,
        lake,
        f"MERGE INTO {orders} t USING (VALUES (3, 30.0), (9, 90.0)) AS s(id, amount) ON t.id = s.id "
        "WHEN MATCHED THEN UPDATE SET amount = s.amount "
        "WHEN NOT MATCHED THEN INSERT (id, ts, region, amount) VALUES (s.id, TIMESTAMP '2024-01-03 00:00:00', 'ap', s.amount)",
    )
    # Four files of one row each: only the one holding id 3 is read (and rewritten).
    assert 0 < execution["Statistics"]["DataScannedInBytes"] < whole / 2
    assert current_state(aws, lake, orders) == [
        ["1", "eu", "1.5"], ["2", "us", "2.5"], ["3", "eu", "30.0"], ["4", "us", "4.5"], ["9", "ap", "90.0"],
    ]  # fmt: skip


def test_merge_on_a_timestamp_reads_only_the_target_files_of_that_time(
    aws: Callable[..., Any], lake: dict[str, Any], orders: str
) -> None:
    """A partition column in ON (here ``ts``, partitioned by hour) prunes the target as a key does."""
    whole = run(aws, lake, f"SELECT * FROM {orders}")["Statistics"]["DataScannedInBytes"]
    execution = run(
        aws,
        lake,
        f"MERGE INTO {orders} t USING (VALUES (TIMESTAMP '2024-01-01 11:10:00', 30.0)) AS s(ts, amount) "
        "ON t.ts = s.ts WHEN MATCHED THEN UPDATE SET amount = s.amount",
    )
    assert 0 < execution["Statistics"]["DataScannedInBytes"] < whole / 2
    assert current_state(aws, lake, orders) == [
        ["1", "eu", "1.5"], ["2", "us", "2.5"], ["3", "eu", "30.0"], ["4", "us", "4.5"],
    ]  # fmt: skip
