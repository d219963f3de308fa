"""Athena SQL reaches only the Glue catalog: never a host file, a setting or an engine function.

Written as a boto3 user (or an attacker with athena:StartQueryExecution) would try it: every
escape is a query that FAILS with the error Athena gives for an unknown function, table or
statement, however it is nested, and the host's data never shows up in the answer.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.local_aws.athena_helpers import create_table, new_lake, put_object
from tests.local_aws.test_athena import finish, query
from tests.support import unique

# What each host file would give away if it were read.
PASSWD_MARK = "root:"
ENVIRON_MARK = "PATH="


@pytest.fixture(scope="module")
def lake(aws: Callable[..., Any]) -> dict[str, Any]:
    """A Glue database with one small CSV table, and a results bucket."""
    lake = new_lake(aws, "sbx")
    create_table(aws, lake, "items", [("id", "int"), ("name", "string")])
    put_object(aws, lake, "items/part-0.csv", b"1,lamp\n2,desk\n")
    return lake


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file the server can read, standing in for the state dir's snapshot."""
    path = tmp_path_factory.mktemp("state") / "snapshot.pickle"
    path.write_text(f"{unique('secret-snapshot-content')}\n")
    return path


def start(aws: Callable[..., Any], lake: dict[str, Any], sql: str, **kwargs: Any) -> str:
    return aws("athena").start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": lake["database"]},
        ResultConfiguration={"OutputLocation": f"s3://{lake['results']}/sandbox/"},
        **kwargs,
    )["QueryExecutionId"]


def refused(aws: Callable[..., Any], lake: dict[str, Any], sql: str, **kwargs: Any) -> str:
    """Run ``sql``; assert it FAILED as a user error with no results; return StateChangeReason."""
    execution_id = start(aws, lake, sql, **kwargs)
    execution = finish(aws, execution_id)
    status = execution["Status"]
    assert status["State"] == "FAILED", (sql, status)
    assert status["AthenaError"]["ErrorCategory"] == 2, status  # USER
    assert status["AthenaError"]["ErrorMessage"] == status["StateChangeReason"]
    with pytest.raises(ClientError) as error:
        aws("athena").get_query_results(QueryExecutionId=execution_id)
    assert error.value.response["Error"]["Code"] == "InvalidRequestException"
    return status["StateChangeReason"]


ESCAPES = [
    ("read_text", "read_text('/etc/passwd')", PASSWD_MARK),
    ("read_csv", "read_csv('/etc/passwd')", PASSWD_MARK),
    ("read_csv_auto", "read_csv_auto('/etc/passwd')", PASSWD_MARK),
    ("read_json", "read_json('/etc/passwd')", PASSWD_MARK),
    ("read_parquet", "read_parquet('/etc/passwd')", PASSWD_MARK),
    ("read_text", "read_text('/proc/self/environ')", ENVIRON_MARK),
    ("query", "query('SELECT * FROM read_text(''/etc/passwd'')')", PASSWD_MARK),
    ("query_table", "query_table('duckdb_settings')", "enable_external_access"),
    ("duckdb_settings", "duckdb_settings()", "enable_external_access"),
    ("duckdb_extensions", "duckdb_extensions()", "parquet"),
    ("pragma_version", "pragma_version()", "library_version"),
]
# The same relation, nested every way a statement can hide it; {r} is the relation.
NESTINGS = {
    "bare": "SELECT * FROM {r}",
    "subquery": "SELECT * FROM (SELECT * FROM {r}) AS s",
    "scalar subquery": "SELECT (SELECT count(*) FROM {r}) AS n",
    "exists": "SELECT id FROM items WHERE EXISTS (SELECT 1 FROM {r})",
    "cte": "WITH leak AS (SELECT * FROM {r}) SELECT * FROM leak",
    "cte of a cte": "WITH a AS (SELECT 1 AS x), b AS (SELECT * FROM {r}) SELECT * FROM a, b",
    "union": "SELECT CAST(id AS varchar) AS v FROM items UNION ALL SELECT CAST(count(*) AS varchar) FROM {r}",
    "join": "SELECT * FROM items JOIN {r} ON true",
    "lateral": "SELECT * FROM items CROSS JOIN LATERAL (SELECT * FROM {r})",
}


@pytest.mark.parametrize("nesting", list(NESTINGS))
@pytest.mark.parametrize(
    ("function", "relation", "mark"), ESCAPES, ids=[f"{e[0]}:{e[1][:30]}" for e in ESCAPES]
)
def test_engine_table_functions_are_unknown_functions(
    aws: Callable[..., Any], lake: dict[str, Any], function: str, relation: str, mark: str, nesting: str
) -> None:
    sql = NESTINGS[nesting].format(r=relation)
    reason = refused(aws, lake, sql)
    assert re.fullmatch(rf"FUNCTION_NOT_FOUND: line 1:\d+: Function '{function}' not registered", reason), (
        reason
    )
    assert mark not in reason


def test_the_error_points_at_the_function_as_athena_does(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    reason = refused(aws, lake, "SELECT * FROM read_text('/etc/passwd')")
    assert reason == "FUNCTION_NOT_FOUND: line 1:15: Function 'read_text' not registered"
    reason = refused(aws, lake, "SELECT id,\n       read_text('/etc/passwd') FROM items")
    assert reason == "FUNCTION_NOT_FOUND: line 2:8: Function 'read_text' not registered"


def test_a_state_dir_file_cannot_be_read(
    aws: Callable[..., Any], lake: dict[str, Any], secret_file: Path
) -> None:
    secret = secret_file.read_text().strip()
    for sql in (
        f"SELECT * FROM read_blob('{secret_file}')",
        f"SELECT content FROM read_text('{secret_file}')",
        f"SELECT * FROM '{secret_file}'",
    ):
        reason = refused(aws, lake, sql)
        assert secret not in reason
        assert reason.startswith(("FUNCTION_NOT_FOUND: ", "TABLE_NOT_FOUND: ")), reason


def test_engine_scalar_functions_are_unknown(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    for function, call in (
        ("current_setting", "current_setting('enable_external_access')"),
        ("getvariable", "getvariable('x')"),
        ("read_text", "read_text('/etc/passwd')"),
        ("list_value", "list_value(1, 2)"),
    ):
        reason = refused(aws, lake, f"SELECT {call} FROM items")
        assert reason == f"FUNCTION_NOT_FOUND: line 1:8: Function '{function}' not registered"


@pytest.mark.parametrize("path", ["/etc/passwd", "/proc/self/environ"])
def test_a_path_is_not_a_table(aws: Callable[..., Any], lake: dict[str, Any], path: str) -> None:
    for sql in (
        f"SELECT * FROM '{path}'",
        f'SELECT * FROM "{path}"',
        f"SELECT * FROM (SELECT * FROM '{path}')",
        # A CTE of that name elsewhere in the statement does not make the path a CTE here.
        f'SELECT * FROM (WITH "{path}" AS (SELECT 1 AS x) SELECT x FROM "{path}") AS a, \'{path}\'',
    ):
        reason = refused(aws, lake, sql)
        assert re.fullmatch(
            rf"TABLE_NOT_FOUND: line 1:\d+: Table 'awsdatacatalog\.{lake['database']}\.{re.escape(path)}' does not exist",
            reason,
        ), reason


def test_a_cte_name_out_of_scope_is_not_an_engine_view(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    # duckdb_settings is a CTE only inside the subquery; outside it the name is the catalog's.
    sql = "SELECT * FROM (WITH duckdb_settings AS (SELECT 1 AS x) SELECT x FROM duckdb_settings) AS a, duckdb_settings"
    reason = refused(aws, lake, sql)
    assert (
        reason
        == f"TABLE_NOT_FOUND: line 1:93: Table 'awsdatacatalog.{lake['database']}.duckdb_settings' does not exist"
    )
    for system_view in (
        "duckdb_tables",
        "sqlite_master",
        "pg_catalog.pg_settings",
        "information_schema.key_column_usage",  # DuckDB's; Athena's information_schema has no such table
    ):
        reason = refused(aws, lake, f"SELECT * FROM {system_view}")
        assert reason.startswith(("TABLE_NOT_FOUND: ", "SCHEMA_NOT_FOUND: ")), reason


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("ATTACH '/tmp/local_aws-attached.db' AS leak", "line 1:1: mismatched input 'ATTACH'"),
        ("COPY (SELECT 1) TO '/tmp/local_aws-copied.csv'", "line 1:1: mismatched input 'COPY'"),
        ("EXPORT DATABASE '/tmp/local_aws-exported'", "line 1:1: mismatched input 'EXPORT'"),
        ("IMPORT DATABASE '/tmp/local_aws-exported'", "line 1:1: mismatched input 'IMPORT'"),
        ("INSTALL httpfs", "line 1:1: mismatched input 'INSTALL'"),
        ("LOAD httpfs", "line 1:1: mismatched input 'LOAD'"),
        ("PRAGMA version", "line 1:1: mismatched input 'PRAGMA'"),
        ("DETACH leak", "line 1:1: mismatched input 'DETACH'"),
        ("CHECKPOINT", "line 1:1: mismatched input 'CHECKPOINT'"),
        ("FROM read_text('/etc/passwd')", "line 1:1: mismatched input 'FROM'"),
        ("SUMMARIZE items", "line 1:1: mismatched input 'SUMMARIZE'"),
        ("  -- a comment first\n  ATTACH ':memory:' AS m", "line 2:3: mismatched input 'ATTACH'"),
        ("SET enable_external_access = true", "line 1:5: mismatched input 'enable_external_access'"),
        ("SET lock_configuration = false", "line 1:5: mismatched input 'lock_configuration'"),
        ("RESET lock_configuration", "line 1:7: mismatched input 'lock_configuration'"),
    ],
)
def test_engine_statements_are_syntax_errors(
    aws: Callable[..., Any], lake: dict[str, Any], sql: str, reason: str
) -> None:
    assert refused(aws, lake, sql).startswith(f"SYNTAX_ERROR: {reason}. Expecting: ")


def test_statements_the_engine_does_not_run_are_not_supported(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    for sql in (
        "CALL pragma_version()",
        "CREATE MACRO leak() AS TABLE SELECT * FROM read_text('/etc/passwd')",
        "CREATE SECRET leak (TYPE s3, KEY_ID 'a', SECRET 'b')",
        "SET SESSION query_max_run_time = '1h'",
        "USE information_schema",
    ):
        reason = refused(aws, lake, sql)
        assert reason.startswith("NOT_SUPPORTED: "), (sql, reason)
        assert PASSWD_MARK not in reason
    # Prepared statements are Athena's: PREPARE gates the statement it stores, so nothing leaks.
    reason = refused(aws, lake, "PREPARE leak FROM SELECT * FROM read_text('/etc/passwd')")
    assert reason.startswith("FUNCTION_NOT_FOUND: ") and PASSWD_MARK not in reason, reason
    assert refused(aws, lake, "EXECUTE leak") == "NOT_FOUND: Prepared statement not found: leak"


def test_nothing_is_written_on_the_host(
    aws: Callable[..., Any], lake: dict[str, Any], tmp_path: Path
) -> None:
    copied, attached = tmp_path / "copied.csv", tmp_path / "attached.db"
    refused(aws, lake, f"COPY (SELECT * FROM items) TO '{copied}'")
    refused(aws, lake, f"ATTACH '{attached}' AS leak")
    refused(aws, lake, f"SELECT * FROM items, LATERAL (SELECT 1 FROM read_text('{copied}'))")
    assert not copied.exists()
    assert not attached.exists()


def test_create_view_over_an_escape_is_refused_and_stores_nothing(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    name = unique("leak").replace("-", "_")
    reason = refused(aws, lake, f"CREATE VIEW {name} AS SELECT * FROM read_text('/etc/passwd')")
    assert re.fullmatch(r"FUNCTION_NOT_FOUND: line 1:\d+: Function 'read_text' not registered", reason)
    with pytest.raises(ClientError) as error:
        aws("glue").get_table(DatabaseName=lake["database"], Name=name)
    assert error.value.response["Error"]["Code"] == "EntityNotFoundException"


def _presto_view(sql: str, schema: str) -> str:
    definition = {
        "originalSql": sql,
        "catalog": "awsdatacatalog",
        "schema": schema,
        "columns": [{"name": "content", "type": "varchar"}],
    }
    return f"/* Presto View: {base64.b64encode(json.dumps(definition).encode()).decode()} */"


# A path in FROM, next to a CTE of the same name that is out of its scope.
PATH_BEHIND_A_CTE = (
    """(WITH "/etc/passwd" AS (SELECT 1 AS x) SELECT x FROM "/etc/passwd") AS a, '/etc/passwd'"""
)


@pytest.mark.parametrize("relation", [r for _, r, _ in ESCAPES] + [PATH_BEHIND_A_CTE])
def test_a_view_written_straight_into_glue_cannot_escape(
    aws: Callable[..., Any], lake: dict[str, Any], relation: str
) -> None:
    # Anyone with glue:CreateTable can store a view body; the engine gates it when it expands it.
    name = unique("planted").replace("-", "_")
    aws("glue").create_table(
        DatabaseName=lake["database"],
        TableInput={
            "Name": name,
            "TableType": "VIRTUAL_VIEW",
            "Parameters": {"presto_view": "true"},
            "ViewOriginalText": _presto_view(f"SELECT * FROM {relation}", lake["database"]),
            "ViewExpandedText": "/* Presto View */",
            "StorageDescriptor": {"Columns": [{"Name": "content", "Type": "string"}]},
        },
    )
    for sql in (f"SELECT * FROM {name}", f"SELECT * FROM items, (SELECT * FROM {name}) AS v"):
        reason = refused(aws, lake, sql)
        assert reason.startswith(("FUNCTION_NOT_FOUND: ", "TABLE_NOT_FOUND: ")), reason
        assert PASSWD_MARK not in reason


@pytest.mark.parametrize(
    "value",
    [
        "(SELECT content FROM read_text('/etc/passwd'))",
        "(SELECT count(*) FROM duckdb_settings())",
        "read_text('/etc/passwd')",
        "(SELECT value FROM query_table('duckdb_settings'))",
    ],
)
def test_execution_parameters_cannot_smuggle_an_escape(
    aws: Callable[..., Any], lake: dict[str, Any], value: str
) -> None:
    reason = refused(
        aws, lake, "SELECT id, ? AS leak FROM items WHERE id = ?", ExecutionParameters=[value, "1"]
    )
    assert reason.startswith("FUNCTION_NOT_FOUND: "), reason
    assert "not registered" in reason
    assert PASSWD_MARK not in reason


def test_the_pipeline_kind_of_sql_still_runs(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    """Catalog tables, CTEs (shadowing nothing), UNNEST, VALUES, views and Trino functions pass the gate."""
    rows = query(
        aws,
        lake,
        "WITH named AS (SELECT id, upper(name) AS name FROM items), "
        "extra AS (SELECT x FROM UNNEST(sequence(1, 2)) AS t(x)) "
        "SELECT n.id, n.name, e.x, v.tag, date_format(from_iso8601_timestamp('2024-01-02T03:00:00Z'), '%Y-%m') "
        "FROM named AS n JOIN extra AS e ON e.x = n.id "
        "JOIN (VALUES (1, 'a'), (2, 'b')) AS v(id, tag) ON v.id = n.id ORDER BY n.id",
    )
    assert rows == [
        ["id", "name", "x", "tag", "_col4"],
        ["1", "LAMP", "1", "a", "2024-01"],
        ["2", "DESK", "2", "b", "2024-01"],
    ]
    # A CTE sees the CTEs before it (and a recursive one itself); a later one is the catalog's name.
    assert query(
        aws,
        lake,
        "WITH a AS (SELECT id FROM items), b AS (SELECT count(*) AS n FROM a), c AS (SELECT n + 1 AS m FROM b) "
        "SELECT m FROM c",
    ) == [["m"], ["3"]]
    reason = refused(aws, lake, "WITH a AS (SELECT * FROM b), b AS (SELECT 1 AS x) SELECT * FROM a")
    assert reason == f"TABLE_NOT_FOUND: line 1:26: Table 'awsdatacatalog.{lake['database']}.b' does not exist"
    view = unique("fine").replace("-", "_")
    query(aws, lake, f"CREATE VIEW {view} AS SELECT id, regexp_like(name, '^l') AS is_l FROM items")
    assert query(aws, lake, f"SELECT id, is_l FROM {view} ORDER BY id") == [
        ["id", "is_l"],
        ["1", "true"],
        ["2", "false"],
    ]


# -- the second wall: DuckDB itself, with the gate bypassed ----------------------------------------
@pytest.fixture
def engine_connection() -> Any:
    """The connection a query's SQL runs on, used directly: no gate in front of it."""
    from local_aws.athena_engine import cache

    connection = cache.connect()
    yield connection
    connection.close()


def _duckdb_error(connection: Any, sql: str) -> str:
    import duckdb

    with pytest.raises(duckdb.Error) as error:
        connection.execute(sql).fetchall()
    return str(error.value)


def test_duckdb_runs_with_its_switches_on(engine_connection: Any) -> None:
    settings = dict(
        engine_connection.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access', "
            "'autoinstall_known_extensions', 'autoload_known_extensions', 'allow_community_extensions', "
            "'lock_configuration', 'python_enable_replacements')"
        ).fetchall()
    )
    assert settings == {
        "enable_external_access": "false",
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
        "allow_community_extensions": "false",
        "lock_configuration": "true",
        "python_enable_replacements": "false",
    }


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_blob('/proc/self/environ')",
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM glob('/etc/*')",
        "COPY (SELECT 1) TO '/tmp/local_aws-duckdb-copy.csv'",
        "ATTACH '/tmp/local_aws-duckdb-attach.db' AS leak",
    ],
)
def test_duckdb_reads_and_writes_no_file(engine_connection: Any, sql: str) -> None:
    message = _duckdb_error(engine_connection, sql)
    # A path in FROM is not even tried as a file once external access is off: it is no table.
    assert "disabled by configuration" in message or "Table with name /etc/passwd does not exist" in message
    assert PASSWD_MARK not in message


@pytest.mark.parametrize(
    "sql",
    ["SET enable_external_access = true", "SET lock_configuration = false", "RESET lock_configuration",
     "SET autoload_known_extensions = true", "PRAGMA enable_profiling", "SET GLOBAL threads = 64"],
)  # fmt: skip
def test_duckdb_settings_are_locked(engine_connection: Any, sql: str) -> None:
    assert "the configuration has been locked" in _duckdb_error(engine_connection, sql)


def test_duckdb_installs_and_loads_no_extension(engine_connection: Any) -> None:
    assert "disabled" in _duckdb_error(engine_connection, "INSTALL httpfs")
    assert "disabled" in _duckdb_error(engine_connection, "LOAD httpfs")
    # A known extension's function is not auto-installed and auto-loaded when a query names it.
    message = _duckdb_error(engine_connection, "SELECT * FROM read_xlsx('/etc/passwd')")
    assert "read_xlsx" in message


def test_duckdb_sees_no_python_variable(engine_connection: Any) -> None:
    import duckdb
    import pyarrow as pa

    # DuckDB's replacement scans would read this variable of the frame that runs the SQL.
    leaked_rows = pa.table({"secret": ["in the server's memory"]})
    assert leaked_rows.num_rows == 1
    with pytest.raises(duckdb.CatalogException, match="leaked_rows"):
        engine_connection.execute("SELECT * FROM leaked_rows").fetchall()


def test_the_loader_reads_only_the_engine_scratch_dir(tmp_path: Path) -> None:
    from local_aws.athena_engine import cache

    outside = tmp_path / "outside.json"
    outside.write_text('{"a": 1}\n')
    loader = cache.loader()
    try:
        assert "disabled by configuration" in _duckdb_error(loader, f"SELECT * FROM read_json('{outside}')")
        assert "disabled by configuration" in _duckdb_error(loader, "SELECT * FROM read_text('/etc/passwd')")
        inside = Path(cache.scratch_dir()) / "inside.json"
        inside.write_text('{"a": 1}\n')
        try:
            assert loader.execute(f"SELECT a FROM read_json('{inside}')").fetchall() == [(1,)]
        finally:
            inside.unlink()
    finally:
        loader.close()


# -- the served process: its real state dir and its real environment -----------------------------
def test_a_served_local_aws_gives_away_neither_its_state_dir_nor_its_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.local_aws.server_process import ServerProcess
    from tests.support import wait_until

    environment_secret = unique("environment-secret")
    stored_secret = unique("stored-secret")
    monkeypatch.setenv("LOCAL_AWS_TEST_ONLY_SECRET", environment_secret)  # inherited by the server
    state_dir = tmp_path / "state"
    with ServerProcess(state_dir, snapshot_interval=0.5) as server:
        s3, glue = server.client("s3"), server.client("glue")
        s3.create_bucket(Bucket="results")
        s3.create_bucket(Bucket="private")
        s3.put_object(Bucket="private", Key="secret.txt", Body=stored_secret.encode())
        glue.create_database(DatabaseInput={"Name": "db"})
        # The state dir holds the server's snapshot and journal once it has written them.
        files = wait_until(
            lambda: [p for p in state_dir.rglob("*") if p.is_file() and p.stat().st_size > 0] or None,
            timeout=60,
            what="the server to write its state dir",
        )
        athena = server.client("athena")
        relations = [f"{reader}('{path}')" for path in files for reader in ("read_blob", "read_text")]
        relations += ["read_text('/proc/self/environ')", "read_blob('/proc/self/environ')"]
        for relation in relations:
            execution_id = athena.start_query_execution(
                QueryString=f"SELECT * FROM {relation}",
                QueryExecutionContext={"Database": "db"},
                ResultConfiguration={"OutputLocation": "s3://results/q/"},
            )["QueryExecutionId"]
            status = wait_until(
                lambda e=execution_id: (
                    s
                    if (s := athena.get_query_execution(QueryExecutionId=e)["QueryExecution"]["Status"])[
                        "State"
                    ]
                    in ("SUCCEEDED", "FAILED", "CANCELLED")
                    else None
                ),
                timeout=60,
                what=f"the query over {relation}",
            )
            assert status["State"] == "FAILED", (relation, status)
            assert re.fullmatch(
                r"FUNCTION_NOT_FOUND: line 1:15: Function 'read_(blob|text)' not registered",
                status["StateChangeReason"],
            )
            assert environment_secret not in status["StateChangeReason"]
            assert stored_secret not in status["StateChangeReason"]


@pytest.mark.parametrize(
    "value",
    [
        "1; SELECT content FROM items",
        "(SELECT 1); SELECT content FROM read_text('/etc/passwd')",
        "'unterminated",
    ],
)
def test_a_parameter_is_one_value_never_a_second_statement(
    aws: Callable[..., Any], lake: dict[str, Any], value: str
) -> None:
    reason = refused(aws, lake, "SELECT id FROM items WHERE id = ?", ExecutionParameters=[value])
    assert reason.startswith(f"INVALID_PARAMETER_USAGE: Cannot use parameter {value!r}: "), reason


def test_an_unterminated_string_is_a_syntax_error(aws: Callable[..., Any], lake: dict[str, Any]) -> None:
    for sql in ("SELECT 'open FROM items", 'SELECT "open FROM items'):
        assert refused(aws, lake, sql).startswith("SYNTAX_ERROR: line 1:"), sql


# -- any composition: a property of the engine itself ---------------------------------------------
NESTING_TEMPLATES = list(NESTINGS.values()) + [
    "SELECT * FROM items WHERE id IN (SELECT 1 FROM {r})",
    "SELECT id FROM items UNION SELECT 1 FROM {r} INTERSECT SELECT 1 FROM {r}",
    "SELECT CASE WHEN EXISTS (SELECT 1 FROM {r}) THEN 1 END AS x",
    "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t, {r} WHERE n < 2) SELECT * FROM t",
]


def _hypothesis_escapes() -> Any:
    from hypothesis import strategies as st

    relations = st.sampled_from([relation for _, relation, _ in ESCAPES] + [PATH_BEHIND_A_CTE])

    def nest(sql: str, template: str) -> str:
        # The inner statement becomes a derived table of the outer one.
        return template.format(r=f"({sql}) AS inner_{abs(hash((sql, template))) % 1000}")

    def build(relation: str, templates: list[str]) -> str:
        sql = templates[0].format(r=relation)
        for template in templates[1:]:
            sql = nest(sql, template)
        return sql

    return st.builds(build, relations, st.lists(st.sampled_from(NESTING_TEMPLATES), min_size=1, max_size=3))


def test_no_composition_of_escapes_reaches_the_host(local_aws: Any, lake: dict[str, Any]) -> None:
    """Straight through the engine (no HTTP): any nesting of any escape fails as an unknown name."""
    from hypothesis import HealthCheck, given, settings

    from local_aws.athena_engine.catalog import Catalog
    from local_aws.athena_engine.engine import EngineError, QueryEngine
    from tests.conftest import ACCOUNT_ID, REGION

    catalog = Catalog(local_aws.world, ACCOUNT_ID, REGION)

    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(_hypothesis_escapes())
    def check(sql: str) -> None:
        with pytest.raises(EngineError) as error:
            QueryEngine(catalog, lake["database"]).run(sql)
        assert error.value.code in ("FUNCTION_NOT_FOUND", "TABLE_NOT_FOUND"), (sql, str(error.value))
        for mark in (PASSWD_MARK, ENVIRON_MARK, "enable_external_access", "library_version"):
            assert mark not in str(error.value)

    check()


def test_with_the_cache_off_each_query_gets_a_locked_database_and_still_reads_the_lake(
    aws: Callable[..., Any], lake: dict[str, Any]
) -> None:
    """``LOCAL_AWS_ATHENA_CACHE_MB=0``: a database per query, locked the same way, rows as before."""
    from local_aws.athena_engine import cache

    cache.configure(enabled=False)
    try:
        connection = cache.connect()
        try:
            settings = dict(
                connection.execute(
                    "SELECT name, value FROM duckdb_settings() "
                    "WHERE name IN ('enable_external_access', 'lock_configuration')"
                ).fetchall()
            )
            assert settings == {"enable_external_access": "false", "lock_configuration": "true"}
            assert "disabled by configuration" in _duckdb_error(
                connection, "SELECT * FROM read_text('/etc/passwd')"
            )
        finally:
            connection.close()
        assert query(aws, lake, "SELECT id, name FROM items ORDER BY id") == [
            ["id", "name"],
            ["1", "lamp"],
            ["2", "desk"],
        ]
        reason = refused(aws, lake, "SELECT * FROM read_text('/etc/passwd')")
        assert reason == "FUNCTION_NOT_FOUND: line 1:15: Function 'read_text' not registered"
    finally:
        cache.configure(enabled=True)
    assert cache.enabled()
