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
from tests.local_aws.test_athena import finish, rows_of, start
from tests.local_aws.trino_cases import Case, queries, scalar

CASES: list[Case] = scalar.CASES + queries.CASES

# Case id -> why local_aws does not answer as Trino does (kept in step with the engine's LIMITATIONS).
KNOWN_GAPS: dict[str, str] = {
    # timestamp with time zone: DuckDB's TIMESTAMPTZ is an instant, its zone is dropped (shown in UTC)
    "dt_hour_iso_zone": "the zone of from_iso8601_timestamp is dropped: hour is taken in UTC (8)",
    "dt_date_iso_zone": "the zone of from_iso8601_timestamp is dropped: date is taken in UTC (2023-12-31)",
    "dt_from_iso_ts": "the zone of from_iso8601_timestamp is dropped: shown in UTC",
    "dt_at_time_zone": "AT TIME ZONE gives a timestamp without its zone",
    "dt_dow_sunday": "extract(dow) is DuckDB's: Sunday is 0, Trino's 7",
    "dt_date_add_day": "date_add on a DATE gives a timestamp",
    "dt_date_add_month": "date_add on a DATE gives a timestamp",
    "dt_date_add_negative": "date_add on a DATE gives a timestamp",
    "dt_date_diff_month": "date_diff('month') counts month boundaries (2), Trino whole months (1)",
    "dt_format_datetime": "format_datetime (Joda patterns) is not provided",
    "dt_format_datetime_short": "format_datetime (Joda patterns) is not provided",
    "dt_to_iso8601_date": "to_iso8601 is not provided",
    "dt_millisecond": "millisecond is DuckDB's: seconds included (12345)",
    "dt_date_plus_interval": "DATE + INTERVAL gives a timestamp",
    "dt_date_minus_month": "DATE - INTERVAL gives a timestamp",
    "dt_human_seconds": "human_readable_seconds is not provided",
    "dt_bad_unit": "sqlglot cannot read an unknown unit: SYNTAX_ERROR instead of INVALID_FUNCTION_ARGUMENT",
    "js_scalar_object": "json_extract_scalar of an object returns its text",
    "js_scalar_array": "json_extract_scalar of an array returns its text",
    "js_scalar_invalid": "json_extract_scalar of invalid JSON fails the query",
    "js_extract_object": "json_extract's result is typed varchar, not json",
    "js_extract_invalid": "json_extract of invalid JSON fails the query",
    "js_extract_array_elem": "json_extract's result is typed varchar, not json",
    "js_array_contains": "json_array_contains is not provided",
    "js_size_object": "json_size is not provided",
    "js_size_array": "json_size is not provided",
    "js_size_scalar": "json_size is not provided",
    "js_parse": "json_parse's result is typed varchar, not json",
    "js_is_scalar_true": "is_json_scalar is not provided",
    "js_is_scalar_false": "is_json_scalar is not provided",
    "js_array_to_json": "CAST(... AS JSON) is typed varchar, not json",
    "dec_add": "a DECIMAL 'x' literal becomes DuckDB's DECIMAL(18,3), not decimal(p,s) of its digits",
    "dec_mul": "a DECIMAL 'x' literal becomes DuckDB's DECIMAL(18,3), not decimal(p,s) of its digits",
    "dec_round_keeps_scale": "round(decimal, d) drops the scale (1.24)",
    "dec_typeof_round": "typeof names DuckDB's types; round(decimal, d) drops the scale",
    "dec_typeof_literal": "typeof names DuckDB's types; DECIMAL literal is DECIMAL(18,3)",
    "dec_typeof_plain_literal": "typeof names DuckDB's types (DECIMAL(2,1))",
    "dec_divide": "decimal / decimal gives a double",
    "dec_negate": "a DECIMAL 'x' literal becomes DuckDB's DECIMAL(18,3)",
    "dec_abs": "a DECIMAL 'x' literal becomes DuckDB's DECIMAL(18,3)",
    "dec_divide_zero": "division by zero reports DuckDB's setting as HIVE_BAD_DATA",
    "str_codepoint": "codepoint is not provided",
    "str_split_part_past_end": "split_part past the last field gives '' (Trino: NULL)",
    "str_hamming": "hamming_distance is not provided",
    "str_luhn": "luhn_check is not provided",
    "str_typeof_literal": "typeof names DuckDB's types (VARCHAR, not varchar(3))",
    "re_replace_group": "regexp_replace's $N group references are not translated to DuckDB's \\N",
    "re_position": "regexp_position is not provided",
    "re_extract_none": "regexp_extract without a match gives '' (Trino: NULL)",
    "m_cbrt": "DuckDB's cbrt is not exact for cubes (3.0000000000000004)",
    "m_sign": "sign(integer) is typed tinyint",
    "m_infinity": "infinity() is not provided",
    "m_nan": "nan() is not provided",
    "m_is_nan": "nan() is not provided",
    "m_width_bucket": "width_bucket is not provided",
    "m_from_base": "from_base is not provided",
    "m_to_base": "to_base gives upper-case digits",
    "m_double_divide_zero": "double division by zero fails (Trino: Infinity)",
    "m_divide_zero": "division by zero reports DuckDB's setting as HIVE_BAD_DATA",
    "m_modulus_zero": "division by zero reports DuckDB's setting as HIVE_BAD_DATA",
    "b_and": "bitwise functions are typed integer, not bigint",
    "b_or": "bitwise functions are typed integer, not bigint",
    "b_xor": "bitwise functions are typed integer, not bigint",
    "b_not": "bitwise functions are typed integer, not bigint",
    "b_count": "bit_count(x, bits) is DuckDB's one-argument bit_count",
    "cv_typeof_int": "typeof names DuckDB's types (INTEGER)",
    "cv_typeof_bigint": "typeof names DuckDB's types (BIGINT)",
    "cv_typeof_double": "typeof names DuckDB's types (DOUBLE)",
    "cv_typeof_bool": "typeof names DuckDB's types (BOOLEAN)",
    "cv_typeof_date": "typeof names DuckDB's types (DATE)",
    "cv_typeof_array": "typeof names DuckDB's types (INTEGER[])",
    "cv_typeof_varchar_cast": "typeof names DuckDB's types (VARCHAR)",
    "cv_format_percent": "format returns its format string (DuckDB's format is fmt-style)",
    "cv_format_float": "format returns its format string (DuckDB's format is fmt-style)",
    "cv_format_two_places": "format returns its format string (DuckDB's format is fmt-style)",
    "cv_format_zero_pad": "format returns its format string (DuckDB's format is fmt-style)",
    "cv_format_grouping": "format returns its format string (DuckDB's format is fmt-style)",
    "cv_format_width": "format returns its format string (DuckDB's format is fmt-style)",
    "cv_format_positions": "format returns its format string (DuckDB's format is fmt-style)",
    "cv_format_number": "format_number is not provided",
    "a_distinct": "array_distinct does not keep first-seen order",
    "a_position": "array_position is typed integer, not bigint",
    "a_union": "array_union is not provided",
    "a_except": "array_except does not keep the first array's order",
    "a_overlap": "arrays_overlap is not provided",
    "a_reverse": "reverse of an array is not provided",
    "a_sequence_dates": "sequence of dates is not provided",
    "a_slice": "slice(x, start, length) is read as DuckDB's slice(x, begin, end)",
    "a_any_match": "any_match is not provided",
    "a_all_match": "all_match is not provided",
    "a_none_match": "none_match is not provided",
    "a_repeat": "repeat(element, count) is read as the string repeat",
    "a_trim_array": "trim_array is not provided",
    "a_subscript_out_of_range": "a subscript past the end gives NULL (Trino fails)",
    "mp_cardinality": "cardinality of a map is not provided",
    "mp_filter": "map_filter is not provided",
    "mp_transform_values": "transform_values is not provided",
    "mp_transform_keys": "transform_keys is not provided",
    "mp_empty": "cardinality of a map is not provided",
    "mp_duplicate_keys": "duplicate map keys fail as HIVE_BAD_DATA",
    "ag_every": "every is not provided",
    "ag_map_agg": "map_agg is not provided",
    "ag_sum_decimal": "a DECIMAL 'x' literal becomes DuckDB's DECIMAL(18,3)",
    "ag_avg_decimal": "avg(decimal) gives a double",
    "ag_sum_overflow": "an overflowing bigint sum returns a number (DuckDB sums into HUGEINT)",
    "sel_unnest_rows": "UNNEST of an array of rows gives one row column, not one column per field",
    "sel_unnest_map": "UNNEST of a map is not provided",
    "sel_unnest_two_arrays": "UNNEST of several arrays is not provided",
    "sel_label_nested": "a subquery's unnamed column leaks DuckDB's SQL as its name",
    "sel_label_values": "a bare VALUES statement is not run",
    "sel_label_cte": "a CTE's unnamed column leaks DuckDB's SQL as its name",
    "sel_hidden_path": 'the hidden column "$path" is not provided',
    "sel_hidden_file_size": 'the hidden column "$file_size" is not provided',
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
    result_rows = rows_of(aws, execution["QueryExecutionId"])
    if case.rows is not None:
        expected = [[_fill(v, lake) if v is not None else None for v in row] for row in case.rows]
        assert result_rows == expected, case.sql
        return
    assert result_rows == [["_col0"], [case.value]], case.sql
    if case.type is not None:
        results = aws("athena").get_query_results(QueryExecutionId=execution["QueryExecutionId"])
        column = results["ResultSet"]["ResultSetMetadata"]["ColumnInfo"][0]
        assert column["Type"] == case.type, (case.sql, column)
