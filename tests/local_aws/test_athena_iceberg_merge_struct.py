"""MERGE into an Iceberg table with a struct column (the user_profiles state table's ``address``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.local_aws.test_athena_iceberg import make_lake
from tests.local_aws.test_athena_writes import run, select


def test_merge_keeps_and_updates_struct_columns(aws: Callable[..., Any]) -> None:
    lake = make_lake(aws)
    run(
        aws,
        lake,
        "CREATE TABLE people (id string, address struct<city:string,postcode:string>) "
        f"LOCATION 's3://{lake['bucket']}/people/' TBLPROPERTIES ('table_type'='ICEBERG')",
    )
    run(
        aws,
        lake,
        "INSERT INTO people VALUES ('a', CAST(ROW('Leeds', 'LS1') AS ROW(city varchar, postcode varchar))), "
        "('b', CAST(ROW('York', 'YO1') AS ROW(city varchar, postcode varchar)))",
    )
    run(
        aws,
        lake,
        "MERGE INTO people t USING (SELECT 'a' AS id, CAST(ROW('Hull', 'HU1') AS ROW(city varchar, postcode varchar)) "
        "AS address) s ON t.id = s.id WHEN MATCHED THEN UPDATE SET address = s.address",
    )
    rows = select(aws, lake, "SELECT id, address.city, address.postcode FROM people ORDER BY id")
    assert rows == [["a", "Hull", "HU1"], ["b", "York", "YO1"]]
