"""Trino conformance: the examples of Trino's function documentation, run through the Athena API.

Each case (see `tests.local_aws.trino_cases`) is one query against the session's local_aws: its
rendered values, its column names and Athena's ColumnInfo type must be Trino's, or it must fail
with Trino's error code. A case local_aws cannot meet yet is in `KNOWN_GAPS` (and in the engine's
LIMITATIONS paragraph) as a strict xfail, so a fix that makes it pass is noticed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.local_aws.athena_helpers import create_table, new_lake, put_object
from tests.local_aws.test_athena import finish, start
from tests.local_aws.trino_cases import Case, queries, scalar

CASES: list[Case] = scalar.CASES + queries.CASES

# Case id -> why local_aws does not answer as Trino does (kept in step with the engine's LIMITATIONS).
KNOWN_GAPS: dict[str, str] = {
    # timestamp with time zone: DuckDB's TIMESTAMPTZ is an instant, its zone is dropped (shown in UTC)
    "dt_from_iso_ts": "the zone of from_iso8601_timestamp is dropped: shown in UTC",
    "dt_at_time_zone": "AT TIME ZONE gives a timestamp without its zone",
    "dt_human_seconds": "human_readable_seconds is not provided",
    "dt_bad_unit": "sqlglot cannot read an unknown unit: SYNTAX_ERROR instead of INVALID_FUNCTION_ARGUMENT",
    "str_luhn": "luhn_check is not provided",
    "re_position": "regexp_position is not provided",
    "m_cbrt": "DuckDB's cbrt is not exact for cubes (3.0000000000000004)",
    "m_sign": "sign(integer) is typed tinyint",
    "m_from_base": "from_base is not provided",
    "m_double_divide_zero": "double division by zero fails (Trino: Infinity)",
    "cv_format_number": "format_number is not provided",
    "cv_timestamp_to_varchar": "a whole-second timestamp cast to varchar loses its fraction (.000)",
    "a_repeat": "repeat(element, count) is read as the string repeat",
    "a_subscript_out_of_range": "a subscript past the end gives NULL (Trino fails)",
    "ag_avg_decimal": "avg(decimal) gives a double",
    "sel_unnest_two_arrays": "UNNEST of several arrays is not provided",
}


def _param(case: Case) -> Any:
    marks = []
    if case.id in KNOWN_GAPS:
        marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[case.id]))
    return pytest.param(case, id=case.id, marks=marks)


@pytest.fixture(scope="module")
def lake(aws: Callable[..., Any]) -> dict[str, Any]:
    """A Glue database with one small CSV table (14 bytes in one object)."""
    lake = new_lake(aws, "trino")
    create_table(aws, lake, "items", [("id", "int"), ("name", "string")])
    put_object(aws, lake, "items/part-0.csv", b"1,lamp\n2,desk\n")
    return {**lake, "table": "items", "location": f"s3://{lake['bucket']}/items/"}


def _fill(text: str, lake: dict[str, Any]) -> str:
    return text.replace("{table}", lake["table"]).replace("{location}", lake["location"])


def test_the_suite_covers_at_least_200_documented_cases() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    assert len(CASES) >= 200
    assert all(case.page.startswith("https://trino.io/docs/current/") for case in CASES)
    assert set(KNOWN_GAPS) <= set(ids), set(KNOWN_GAPS) - set(ids)


@pytest.mark.parametrize("case", [_param(case) for case in CASES])
def test_trino_case(aws: Callable[..., Any], lake: dict[str, Any], case: Case) -> None:
    execution = finish(aws, start(aws, lake, _fill(case.sql, lake)))
    status = execution["Status"]
    if case.error is not None:
        assert status["State"] == "FAILED", (case.sql, status["State"])
        assert status["StateChangeReason"].split(":")[0] == case.error, status["StateChangeReason"]
        return
    assert status["State"] == "SUCCEEDED", (case.sql, status.get("StateChangeReason"))
    # Every case's result fits one page: one call gives the rows and their ColumnInfo.
    results = aws("athena").get_query_results(QueryExecutionId=execution["QueryExecutionId"])
    assert "NextToken" not in results, case.sql
    result_rows = [[cell.get("VarCharValue") for cell in row["Data"]] for row in results["ResultSet"]["Rows"]]
    if case.rows is not None:
        expected = [[_fill(v, lake) if v is not None else None for v in row] for row in case.rows]
        assert result_rows == expected, case.sql
        return
    assert result_rows == [["_col0"], [case.value]], case.sql
    if case.type is not None:
        column = results["ResultSet"]["ResultSetMetadata"]["ColumnInfo"][0]
        assert column["Type"] == case.type, (case.sql, column)
