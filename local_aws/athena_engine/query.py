"""SELECT (and WITH, VALUES, set operations): bound through `binding`, run on DuckDB, typed as Trino's.

LIMITATIONS: DuckDB runs the SQL, so Trino semantics hold only as far as sqlglot transpiles them:
decimal / decimal and AVG(decimal) give double (Trino keeps decimal; the package's LIMITATIONS
list every case known to differ), date_trunc of a date stays a date only when the argument is an
explicit CAST(... AS DATE), approx_distinct is exact-ish, and some Trino functions are missing. EXPLAIN shows DuckDB's
plan of the bound query (Trino's plan text differs) and reads no data; EXPLAIN ANALYZE and
EXPLAIN (TYPE ...) are not supported (they fail as SYNTAX_ERROR here).
"""

from __future__ import annotations

from sqlglot import exp

from local_aws.athena_engine.binding import Binder
from local_aws.athena_engine.errors import EngineError, Outcome
from local_aws.athena_engine.rendering import render
from local_aws.athena_engine.rewrite import name_output_columns, trino_fixups
from local_aws.athena_engine.types import duckdb_type_info


class QueryStatements(Binder):
    """The SELECT family."""

    def _select(self, statement: exp.Expression) -> Outcome:
        statement = trino_fixups(self._bind(statement, self.database, ()))
        name_output_columns(statement)
        if self.cancelled.is_set():
            raise EngineError("USER_CANCELLED", "Query cancelled by user")
        relation = self._con.sql(statement.sql(dialect="duckdb"))
        names, types = relation.columns, relation.types
        type_ids = [str(t.id).lower() for t in types]
        rows = [[render(v, type_ids[i]) for i, v in enumerate(row)] for row in relation.fetchall()]
        column_info = [
            {
                "CatalogName": "hive",
                "SchemaName": "",
                "TableName": "",
                "Name": name,
                "Label": name,
                **duckdb_type_info(dtype),
                "Nullable": "UNKNOWN",
                "CaseSensitive": duckdb_type_info(dtype)["Type"] == "varchar",
            }
            for name, dtype in zip(names, types, strict=True)
        ]
        return Outcome("DML", "SELECT", column_info, rows, self.data_scanned)

    def _explain(self, statement: exp.Expression) -> Outcome:
        """EXPLAIN: the plan of the bound query, read from no object (DuckDB's plan, not Trino's)."""
        self._schema_only = True
        bound = trino_fixups(self._bind(statement, self.database, ()))
        name_output_columns(bound)
        plan = self._con.execute(f"EXPLAIN {bound.sql(dialect='duckdb')}").fetchall()
        lines = [line for _, text in plan for line in str(text).splitlines()]
        column = {
            "CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": "Query Plan",
            "Label": "Query Plan", "Type": "varchar", "Precision": 2147483647, "Scale": 0,
            "Nullable": "UNKNOWN", "CaseSensitive": True,
        }  # fmt: skip
        return Outcome("UTILITY", "EXPLAIN", [column], [[line] for line in lines])
