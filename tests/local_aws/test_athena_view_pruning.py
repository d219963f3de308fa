"""A partition filter on a view prunes the table under it, as Trino's planner pushes it down.

Trino pushes a ``WHERE`` on a view's columns through the view's projections and filters, and through
a window function whose ``PARTITION BY`` holds the filtered columns; a filter that cannot pass (a
window partitioned by other columns, a GROUP BY, a computed column) stays above and every partition
is read. Judged by DataScannedInBytes and by GetQueryRuntimeStatistics' InputRows (the rows of the
objects opened), with the results the same either way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.local_aws.athena_helpers import (
    JSON_SERDE,
    TEXT_INPUT_FORMAT,
    create_table,
    ndjson,
    new_lake,
    put_object,
)
from tests.local_aws.test_athena import rows_of, run

KEYS = ("year", "month", "day", "hour")
HOURS = ("03", "04", "05")
HOUR_04 = "year = '2026' AND month = '11' AND day = '30' AND hour = '04'"


def changes(hour: str, count: int) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"e-{hour}-{n}",
            "sequence_number": f"{hour}{n:04d}",
            "orderid": f"o-{n % 3}",
            "price": n,
        }
        for n in range(count)
    ]


@pytest.fixture(scope="module")
def lake(aws: Callable[..., Any]) -> dict[str, Any]:
    """A change log partitioned by year/month/day/hour; hour 04 holds a redelivered copy of its object."""
    lake = new_lake(aws, "viewprune")
    storage = create_table(
        aws,
        lake,
        "changes",
        [("event_id", "string"), ("sequence_number", "string"), ("orderid", "string"), ("price", "double")],
        serde=JSON_SERDE,
        partition_keys=[(key, "string") for key in KEYS],
        input_format=TEXT_INPUT_FORMAT,
    )
    sizes: dict[str, int] = {}
    rows: dict[str, int] = {}
    for index, hour in enumerate(HOURS):
        prefix = f"changes/year=2026/month=11/day=30/hour={hour}/"
        aws("glue").create_partition(
            DatabaseName=lake["database"],
            TableName="changes",
            PartitionInput={
                "Values": ["2026", "11", "30", hour],
                "StorageDescriptor": {**storage, "Location": f"s3://{lake['bucket']}/{prefix}"},
            },
        )
        body = ndjson(changes(hour, 4 + 3 * index))
        copies = 2 if hour == "04" else 1
        sizes[hour] = sum(put_object(aws, lake, f"{prefix}part-{n}.json", body) for n in range(copies))
        rows[hour] = copies * (4 + 3 * index)
    columns = "raw.event_id, raw.sequence_number, raw.orderid, raw.price, " + ", ".join(
        f"raw.{k}" for k in KEYS
    )
    for name, partition_by in (
        ("per_hour", "year, month, day, hour, event_id"),
        ("whole_table", "event_id"),
    ):
        run(
            aws,
            lake,
            f"CREATE VIEW {name} AS SELECT event_id, sequence_number, orderid, price, year, month, day, hour "
            f"FROM (SELECT {columns}, row_number() OVER (PARTITION BY {partition_by} ORDER BY sequence_number) "
            f"AS copy_number FROM changes AS raw) WHERE copy_number = 1",
        )
    return {**lake, "sizes": sizes, "rows": rows}


def scanned(aws: Callable[..., Any], lake: dict[str, Any], sql: str) -> tuple[int, int, list[list[Any]]]:
    """(DataScannedInBytes, InputRows, result rows without the header) of one query."""
    execution = run(aws, lake, sql)
    execution_id = execution["QueryExecutionId"]
    statistics = aws("athena").get_query_runtime_statistics(QueryExecutionId=execution_id)
    input_rows = statistics["QueryRuntimeStatistics"]["Rows"]["InputRows"]
    return execution["Statistics"]["DataScannedInBytes"], input_rows, rows_of(aws, execution_id)[1:]


def test_a_filter_on_a_window_partition_column_reads_only_that_partition(aws, lake) -> None:
    sql = f"SELECT count(*), count(DISTINCT event_id), sum(price) FROM per_hour WHERE {HOUR_04}"
    bytes_read, input_rows, result = scanned(aws, lake, sql)
    assert (bytes_read, input_rows) == (lake["sizes"]["04"], lake["rows"]["04"])
    assert result == [["7", "7", "21.0"]]  # the redelivered copy removed
    # The same through a view over the view, and with the filter qualified by an alias.
    run(aws, lake, "CREATE OR REPLACE VIEW cheap AS SELECT * FROM per_hour WHERE price < 5")
    bytes_read, input_rows, result = scanned(
        aws, lake, "SELECT count(*) FROM cheap AS c WHERE c.hour = '04' AND c.day = '30' AND price >= 1"
    )
    assert (bytes_read, input_rows, result) == (lake["sizes"]["04"], lake["rows"]["04"], [["4"]])
    # Two references to the view filtering the same hour: read once, that hour only.
    bytes_read, _, result = scanned(
        aws,
        lake,
        "SELECT count(*) FROM per_hour a JOIN per_hour b ON a.event_id = b.event_id "
        "WHERE a.hour = '04' AND b.hour = '04'",
    )
    assert (bytes_read, result) == (lake["sizes"]["04"], [["7"]])


def test_a_window_over_other_columns_keeps_the_filter_above_it(aws, lake) -> None:
    """Deduplicating across the whole table: the hour's rows depend on other hours, so all are read."""
    everything = sum(lake["sizes"].values())
    sql = f"SELECT count(*), sum(price) FROM whole_table WHERE {HOUR_04}"
    bytes_read, input_rows, result = scanned(aws, lake, sql)
    assert (bytes_read, input_rows) == (everything, sum(lake["rows"].values()))
    assert result == [["7", "21.0"]]
    # A view whose window is by key over the per-hour view (the latest change per key): not pushed either.
    run(
        aws,
        lake,
        "CREATE OR REPLACE VIEW latest AS SELECT orderid, price, hour FROM (SELECT orderid, price, hour, "
        "row_number() OVER (PARTITION BY orderid ORDER BY sequence_number DESC) AS recency FROM per_hour) "
        "WHERE recency = 1",
    )
    bytes_read, _, result = scanned(
        aws, lake, "SELECT orderid, price FROM latest WHERE hour = '05' ORDER BY 1"
    )
    assert bytes_read == everything
    assert result == [["o-0", "9.0"], ["o-1", "7.0"], ["o-2", "8.0"]]


@pytest.mark.parametrize(
    ("name", "view", "query", "expected"),
    [
        # A grouping view: the filter stays above the GROUP BY.
        ("grouped", "SELECT hour, count(*) AS n FROM changes GROUP BY hour", "SELECT n FROM {v} WHERE hour = '04'", [["14"]]),
        # A computed column is not the partition column it is made of.
        ("computed", "SELECT concat(day, hour) AS day_hour, price FROM changes", "SELECT count(*) FROM {v} WHERE day_hour = '3004'", [["14"]]),
        # Two references filtering different hours: the view is read once, for both.
        ("self_join", "SELECT * FROM per_hour", "SELECT count(*) FROM {v} a JOIN {v} b ON a.sequence_number = b.sequence_number "
         "WHERE a.hour = '03' AND b.hour = '04'", [["0"]]),
    ],
)  # fmt: skip
def test_filters_that_cannot_pass_read_every_partition(
    aws, lake, name: str, view: str, query: str, expected
) -> None:
    run(aws, lake, f"CREATE OR REPLACE VIEW {name} AS {view}")
    bytes_read, _, result = scanned(aws, lake, query.format(v=name))
    assert bytes_read == sum(lake["sizes"].values())
    assert result == expected
