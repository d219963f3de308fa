"""Whole-query cases: aggregates, window functions, UNNEST, output names and hidden columns.

``{table}`` stands for the suite's one small CSV table (``id int, name string``: rows 1,lamp and
2,desk in one object), so the hidden columns ``"$path"`` and ``"$file_size"`` have a file to show.
"""

from __future__ import annotations

from tests.local_aws.trino_cases import Case, error, rows

AGG = "functions/aggregate.html"
WIN = "functions/window.html"
SEL = "sql/select.html"
HID = "connector/hive.html"

NUMS = "(VALUES 1, 2, 3) AS t(x)"
WITH_NULL = "(VALUES 1, 2, NULL) AS t(x)"
TIES = "(VALUES 10, 20, 20, 30) AS t(x)"
KV = "(VALUES ('a', 1), ('b', 2), ('c', 3)) AS t(k, v)"


def _col(*values: str | None) -> list[list[str | None]]:
    return [["_col0"]] + [[v] for v in values]


AGGREGATE: list[Case] = [
    rows("ag_count_star", f"SELECT count(*) FROM {WITH_NULL}", _col("3"), AGG),
    rows("ag_count_column", f"SELECT count(x) FROM {WITH_NULL}", _col("2"), AGG),
    rows("ag_sum", f"SELECT sum(x) FROM {NUMS}", _col("6"), AGG),
    rows("ag_avg", "SELECT avg(x) FROM (VALUES 1, 2) AS t(x)", _col("1.5"), AGG),
    rows("ag_min_max", f"SELECT min(x), max(x) FROM {NUMS}", [["_col0", "_col1"], ["1", "3"]], AGG),
    rows("ag_count_if", f"SELECT count_if(x > 1) FROM {NUMS}", _col("2"), AGG),
    rows(
        "ag_bool_and",
        f"SELECT bool_and(x > 0), bool_or(x > 2) FROM {NUMS}",
        [["_col0", "_col1"], ["true", "true"]],
        AGG,
    ),
    rows("ag_every", f"SELECT every(x > 1) FROM {NUMS}", _col("false"), AGG),
    rows(
        "ag_array_agg",
        "SELECT array_agg(x ORDER BY x DESC) FROM (VALUES 2, 3, 1) AS t(x)",
        _col("[3, 2, 1]"),
        AGG,
    ),
    rows(
        "ag_listagg",
        "SELECT listagg(k, ',') WITHIN GROUP (ORDER BY k) FROM (VALUES 'b', 'a', 'c') AS t(k)",
        _col("a,b,c"),
        AGG,
    ),
    rows("ag_map_agg", f"SELECT map_agg(k, v) FROM {KV}", _col("{a=1, b=2, c=3}"), AGG),
    rows("ag_max_by", f"SELECT max_by(k, v), min_by(k, v) FROM {KV}", [["_col0", "_col1"], ["c", "a"]], AGG),
    rows("ag_arbitrary", "SELECT arbitrary(x) FROM (VALUES 7) AS t(x)", _col("7"), AGG),
    rows("ag_approx_distinct", "SELECT approx_distinct(x) FROM (VALUES 1, 2, 2, 3) AS t(x)", _col("3"), AGG),
    rows(
        "ag_approx_percentile",
        "SELECT approx_percentile(x, 0.5) FROM (VALUES 1, 2, 3, 4, 5) AS t(x)",
        _col("3"),
        AGG,
    ),
    rows(
        "ag_variance", "SELECT variance(x) FROM (VALUES 1, 2, 3, 4) AS t(x)", _col("1.6666666666666667"), AGG
    ),
    rows(
        "ag_stddev_pop",
        "SELECT stddev_pop(x) FROM (VALUES 1, 2, 3, 4) AS t(x)",
        _col("1.118033988749895"),
        AGG,
    ),
    rows("ag_filter", f"SELECT sum(x) FILTER (WHERE x > 1) FROM {NUMS}", _col("5"), AGG),
    rows("ag_count_distinct", "SELECT count(DISTINCT x) FROM (VALUES 1, 1, 2) AS t(x)", _col("2"), AGG),
    rows(
        "ag_group_by",
        "SELECT k, sum(v) AS s FROM (VALUES ('a', 1), ('a', 2), ('b', 5)) AS t(k, v) GROUP BY k ORDER BY k",
        [["k", "s"], ["a", "3"], ["b", "5"]],
        AGG,
    ),
    rows(
        "ag_sum_decimal",
        "SELECT sum(x) FROM (VALUES DECIMAL '1.10', DECIMAL '2.25') AS t(x)",
        _col("3.35"),
        AGG,
    ),
    rows(
        "ag_avg_decimal",
        "SELECT avg(x) FROM (VALUES DECIMAL '1.00', DECIMAL '2.00') AS t(x)",
        _col("1.50"),
        AGG,
    ),
    rows("ag_sum_empty", "SELECT sum(x) FROM (VALUES 1) AS t(x) WHERE x > 5", _col(None), AGG),
    rows("ag_max_n", "SELECT max(x, 2) FROM (VALUES 1, 5, 3) AS t(x)", _col("[5, 3]"), AGG),
    rows("ag_geometric_mean", "SELECT geometric_mean(x) FROM (VALUES 1, 4) AS t(x)", _col("2.0"), AGG),
    rows("ag_checksum_null", "SELECT count(*) FROM (VALUES 1) AS t(x) HAVING count(*) > 0", _col("1"), AGG),
    error(
        "ag_sum_overflow",
        "SELECT sum(x) FROM (VALUES 9223372036854775807, 1) AS t(x)",
        "NUMERIC_VALUE_OUT_OF_RANGE",
        AGG,
    ),
]


def _ordered(function: str, source: str = TIES) -> str:
    return f"SELECT {function} FROM {source} ORDER BY x"


WINDOW: list[Case] = [
    rows("w_row_number", _ordered("row_number() OVER (ORDER BY x)"), _col("1", "2", "3", "4"), WIN),
    rows("w_rank", _ordered("rank() OVER (ORDER BY x)"), _col("1", "2", "2", "4"), WIN),
    rows("w_dense_rank", _ordered("dense_rank() OVER (ORDER BY x)"), _col("1", "2", "2", "3"), WIN),
    rows(
        "w_percent_rank",
        _ordered("percent_rank() OVER (ORDER BY x)"),
        _col("0.0", "0.3333333333333333", "0.3333333333333333", "1.0"),
        WIN,
    ),
    rows("w_cume_dist", _ordered("cume_dist() OVER (ORDER BY x)"), _col("0.25", "0.75", "0.75", "1.0"), WIN),
    rows("w_ntile", _ordered("ntile(2) OVER (ORDER BY x)"), _col("1", "1", "2", "2"), WIN),
    rows("w_lag", _ordered("lag(x) OVER (ORDER BY x)"), _col(None, "10", "20", "20"), WIN),
    rows("w_lead_default", _ordered("lead(x, 1, 0) OVER (ORDER BY x)"), _col("20", "20", "30", "0"), WIN),
    rows("w_first_value", _ordered("first_value(x) OVER (ORDER BY x)"), _col("10", "10", "10", "10"), WIN),
    rows(
        "w_last_value",
        _ordered("last_value(x) OVER (ORDER BY x ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"),
        _col("30", "30", "30", "30"),
        WIN,
    ),
    rows(
        "w_nth_value",
        _ordered(
            "nth_value(x, 2) OVER (ORDER BY x ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"
        ),
        _col("20", "20", "20", "20"),
        WIN,
    ),
    rows("w_running_sum_range", _ordered("sum(x) OVER (ORDER BY x)"), _col("10", "50", "50", "80"), WIN),
    rows(
        "w_rows_frame",
        _ordered("sum(x) OVER (ORDER BY x ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)"),
        _col("10", "30", "40", "50"),
        WIN,
    ),
    rows(
        "w_partition_count",
        "SELECT k, count(*) OVER (PARTITION BY k) AS n FROM (VALUES 'a', 'a', 'b') AS t(k) ORDER BY k",
        [["k", "n"], ["a", "2"], ["a", "2"], ["b", "1"]],
        WIN,
    ),
    rows("w_avg", _ordered("avg(x) OVER ()"), _col("20.0", "20.0", "20.0", "20.0"), WIN),
]

SELECT: list[Case] = [
    rows(
        "sel_unnest_rows",
        "SELECT a, b, c FROM UNNEST(ARRAY[ROW(1, 'x', true), ROW(2, 'y', false)]) AS t(a, b, c)",
        [["a", "b", "c"], ["1", "x", "true"], ["2", "y", "false"]],
        SEL,
    ),
    rows(
        "sel_unnest_column_of_rows",
        "SELECT s.id, t.a, t.b FROM (VALUES (1, ARRAY[ROW(1, 'x'), ROW(2, 'y')])) AS s(id, r) "
        "CROSS JOIN UNNEST(s.r) AS t(a, b) ORDER BY t.a",
        [["id", "a", "b"], ["1", "1", "x"], ["1", "2", "y"]],
        SEL,
    ),
    rows("sel_unnest_array", "SELECT x FROM UNNEST(ARRAY[1, 2]) AS t(x)", [["x"], ["1"], ["2"]], SEL),
    rows(
        "sel_unnest_ordinality",
        "SELECT x, n FROM UNNEST(ARRAY['a', 'b']) WITH ORDINALITY AS t(x, n)",
        [["x", "n"], ["a", "1"], ["b", "2"]],
        SEL,
    ),
    rows(
        "sel_unnest_map",
        "SELECT k, v FROM UNNEST(MAP(ARRAY['a'], ARRAY[1])) AS t(k, v)",
        [["k", "v"], ["a", "1"]],
        SEL,
    ),
    rows(
        "sel_unnest_two_arrays",
        "SELECT a, b FROM UNNEST(ARRAY[1, 2], ARRAY['x']) AS t(a, b)",
        [["a", "b"], ["1", "x"], ["2", None]],
        SEL,
    ),
    rows("sel_labels", "SELECT 1, 'a', 2 AS two", [["_col0", "_col1", "two"], ["1", "a", "2"]], SEL),
    rows("sel_label_expression", "SELECT x + 1 FROM (VALUES 1) AS t(x)", _col("2"), SEL),
    rows("sel_label_cast", "SELECT CAST(x AS varchar) FROM (VALUES 1) AS t(x)", _col("1"), SEL),
    rows("sel_label_nested", "SELECT * FROM (SELECT x * 2 FROM (VALUES 4) AS t(x))", _col("8"), SEL),
    rows("sel_label_values", "VALUES (1, 'a')", [["_col0", "_col1"], ["1", "a"]], SEL),
    rows("sel_label_union", "SELECT 1 UNION ALL SELECT 2 ORDER BY 1", _col("1", "2"), SEL),
    rows("sel_label_cte", "WITH w AS (SELECT 5) SELECT * FROM w", _col("5"), SEL),
    rows("sel_label_column", "SELECT t.x FROM (VALUES 1) AS t(x)", [["x"], ["1"]], SEL),
    rows("sel_label_case_folded", "SELECT 1 AS MyName", [["myname"], ["1"]], SEL),
    rows(
        "sel_hidden_path",
        'SELECT "$path" FROM {table}',
        [["$path"], ["{location}part-0.csv"], ["{location}part-0.csv"]],
        HID,
    ),
    rows("sel_hidden_file_size", 'SELECT DISTINCT "$file_size" FROM {table}', [["$file_size"], ["14"]], HID),
    rows(
        "sel_table_rows",
        "SELECT id, name FROM {table} ORDER BY id",
        [["id", "name"], ["1", "lamp"], ["2", "desk"]],
        SEL,
    ),
    error("sel_unknown_function", "SELECT no_such_function(1)", "FUNCTION_NOT_FOUND", SEL),
    error("sel_unknown_column", "SELECT nope FROM (VALUES 1) AS t(x)", "COLUMN_NOT_FOUND", SEL),
]

CASES: list[Case] = AGGREGATE + WINDOW + SELECT
