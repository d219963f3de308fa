"""What the Athena sandbox's gate costs per statement, next to parsing the statement at all.

Run: ``python -m bench.bench_athena_sandbox [--runs 20]``.

Every statement is parsed by sqlglot and then walked by `local_aws.athena_engine.sandbox`
(`check_text`, `check`) before DuckDB sees it. This times both, in this process and without a
server, over three shapes: a quality check of the hourly DAG (CTEs, aggregates, a scalar subquery),
a 262,144-byte statement (Athena's largest) made of a few thousand function calls, and a statement
nested 40 subqueries deep. The numbers are for reading, never for asserting.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import sqlglot

from local_aws.athena_engine import sandbox

CHECK = """
WITH copies_per_change AS (
    SELECT orderid, sequence_number, count(*) AS copies
    FROM lake.sales_orders_changes
    WHERE year = '2024' AND month = '05' AND day = '01' AND hour = '02'
    GROUP BY orderid, sequence_number
),
totals AS (
    SELECT coalesce(sum(copies), 0) AS deduplicated_rows, count(*) AS distinct_changes
    FROM copies_per_change
)
SELECT
    deduplicated_rows = distinct_changes AS passed,
    'duplicate_changes=' || CAST(deduplicated_rows - distinct_changes AS varchar)
        || ' delivered=' || CAST(
            (SELECT count(*) FROM lake.sales_orders WHERE year = '2024' AND hour = '02') AS varchar
        ) AS detail
FROM totals
"""


def _largest() -> str:
    """A statement of about 262,144 bytes: a select list of function calls."""
    head, parts, size = "SELECT ", [], 7
    index = 0
    while size < 262_000:
        part = f"upper(concat(name, '{index}')) AS c{index}"
        parts.append(part)
        size += len(part) + 2
        index += 1
    return head + ", ".join(parts) + " FROM items"


def _deep(depth: int = 40) -> str:
    sql = "SELECT id, lower(name) AS name FROM items"
    for _ in range(depth):
        sql = f"SELECT id, upper(name) AS name FROM ({sql}) AS t"
    return sql


def _p50_ms(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    print(f"{'statement':<32}{'bytes':>9}{'parse p50':>12}{'gate p50':>11}{'gate/parse':>12}")
    for name, sql in (
        ("hourly quality check", CHECK),
        ("262,144-byte select", _largest()),
        ("40 nested subqueries", _deep()),
    ):
        tree = sqlglot.parse_one(sql, read="athena")
        parse = _p50_ms(lambda sql=sql: sqlglot.parse_one(sql, read="athena"), args.runs)

        def gate(sql: str = sql, tree: sqlglot.exp.Expression = tree) -> None:
            sandbox.check_text(sql)
            sandbox.check(tree, sql)

        cost = _p50_ms(gate, args.runs)
        print(f"{name:<32}{len(sql.encode()):>9}{parse:>10.2f}ms{cost:>9.2f}ms{cost / parse:>11.2f}x")


if __name__ == "__main__":
    main()
