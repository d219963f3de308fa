"""The gate every statement passes before DuckDB sees it: only the Glue catalog and Trino's functions.

DuckDB is a general-purpose engine: its table functions read host files (``read_text``,
``read_csv``, ``read_blob``, ``glob``), run SQL text (``query``), show its settings
(``duckdb_settings()``, ``pragma_*``) and its statements attach files, copy data out, change
settings and load extensions. Athena has none of that: a name that is not a function of Trino's
is ``FUNCTION_NOT_FOUND``, a table that is not in the catalog is ``TABLE_NOT_FOUND``, and a
statement Trino's grammar does not know is a ``SYNTAX_ERROR``. `check_text` and `check` make
local_aws answer the same way, before anything reaches DuckDB:

- `check_text` looks at the statement's first keyword, because sqlglot reads some engine
  statements it does not know (``INSTALL x``, ``CHECKPOINT``, DuckDB's ``FROM t`` shorthand) as an
  expression rather than failing; the keyword must start a statement of Trino's grammar.
- `check` walks the whole parsed tree (subqueries, CTEs, set operations, the bodies of views as
  the engine expands them from the catalog, values of execution parameters once substituted):
  the statement itself must be one the engine runs, every relation in a FROM must be a plain
  name (bound to the catalog or to a CTE in scope by `is_cte_reference`), UNNEST or VALUES, and
  every function must be on `TRINO_FUNCTIONS`, by the name Trino gives it.

`QueryEngine` calls both for every statement and for every stored view body it expands; a
statement family added to the engine later goes through the same call in ``QueryEngine.run``.

The gate is one of two walls: DuckDB itself runs with external access off, no extension
install or load and a locked configuration (`local_aws.athena_engine.cache`), so a statement
that slipped past the gate still could not read a file or change a setting.
"""

from __future__ import annotations

import re
from typing import Any

from sqlglot import exp


# Trino's functions (https://trino.io/docs/current/functions/list.html) that Athena engine
# version 3 offers and that sqlglot transpiles to DuckDB. A name missing here is refused even
# when DuckDB has a function of that name: its DuckDB meaning may not be Trino's, or may reach
# the host.
def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


TRINO_FUNCTIONS = _words(
    """
    abs acos all_match any_match any_value approx_distinct approx_most_frequent approx_percentile
    approx_set arbitrary array_agg array_distinct array_except array_intersect array_join
    array_max array_min array_position array_remove array_sort array_union arrays_overlap asin
    at_timezone atan atan2 avg bit_count bitwise_and bitwise_and_agg bitwise_left_shift
    bitwise_not bitwise_or bitwise_or_agg bitwise_right_shift bitwise_xor bool_and bool_or
    cardinality cast cbrt ceil ceiling char_length character_length checksum chr codepoint
    coalesce combinations concat concat_ws contains contains_sequence corr cos cosh cosine_similarity
    count count_if covar_pop covar_samp crc32 cume_dist current_date current_time
    current_timestamp current_timezone date date_add date_diff date_format date_parse
    date_trunc day day_of_month day_of_week day_of_year degrees dense_rank dow doy e
    element_at empty_approx_set every exp extract filter first_value flatten floor format
    format_datetime format_number from_base from_base64 from_base64url from_big_endian_32
    from_big_endian_64 from_hex from_iso8601_date from_iso8601_timestamp
    from_iso8601_timestamp_nanos from_unixtime from_unixtime_nanos from_utf8 geometric_mean
    greatest hamming_distance histogram hour human_readable_seconds if index infinity
    is_finite is_infinite is_nan json_array_contains json_array_get json_array_length
    json_extract json_extract_scalar json_format json_parse json_size kurtosis lag last_day_of_month
    last_value lead least length levenshtein_distance listagg ln localtime localtimestamp log
    log10 log2 lower lpad ltrim luhn_check map map_agg map_concat map_entries map_filter
    map_from_entries map_keys map_union map_values map_zip_with max max_by md5 min min_by
    millisecond minute mod month multimap_agg row nan normalize now nth_value ntile nullif
    parse_datetime parse_duration percent_rank pi position pow power quarter radians rand
    random range rank reduce regexp_count regexp_extract regexp_extract_all regexp_like
    regexp_position regexp_replace regexp_split repeat replace reverse round row_number rpad
    rtrim second sequence sha1 sha256 sha512 shuffle sign sin sinh skewness slice soundex split
    split_part split_to_map split_to_multimap sqrt starts_with stddev stddev_pop stddev_samp
    strpos substr substring sum tan tanh timezone_hour timezone_minute to_base to_base64
    to_base64url to_big_endian_32 to_big_endian_64 to_char to_date to_hex to_iso8601
    to_milliseconds to_timestamp to_unixtime to_utf8 transform transform_keys transform_values
    translate trim trim_array truncate try try_cast typeof upper url_decode url_encode
    url_extract_fragment url_extract_host url_extract_parameter url_extract_path
    url_extract_port url_extract_protocol url_extract_query uuid var_pop var_samp variance week
    week_of_year width_bucket with_timezone word_stem xxhash64 year year_of_week yow zip
    zip_with is_json_scalar none_match
    """
)

# Words that start a statement in Trino's grammar (SqlBase.g4) or in Athena's Hive DDL. Anything
# else is a syntax error in Athena, as here.
_STATEMENT_KEYWORDS = _words(
    "ALTER ANALYZE CALL COMMENT COMMIT CREATE DEALLOCATE DELETE DENY DESC DESCRIBE DROP EXECUTE "
    "EXPLAIN GRANT INSERT MERGE MSCK OPTIMIZE PREPARE REFRESH RESET REVOKE ROLLBACK SET SHOW START "
    "TRUNCATE UNLOAD UPDATE USE VACUUM SELECT WITH VALUES TABLE"
)
_EXPECTING = (
    "'ALTER', 'ANALYZE', 'CALL', 'COMMENT', 'COMMIT', 'CREATE', 'DEALLOCATE', 'DELETE', 'DENY', "
    "'DESC', 'DESCRIBE', 'DROP', 'EXECUTE', 'EXPLAIN', 'GRANT', 'INSERT', 'MERGE', 'PREPARE', "
    "'REFRESH', 'RESET', 'REVOKE', 'ROLLBACK', 'SET', 'SHOW', 'START', 'TRUNCATE', 'UPDATE', "
    "'USE', <query>"
)
_AFTER = {
    "SET": ("AUTHORIZATION", "PATH", "ROLE", "SESSION", "TIME"),
    "RESET": ("SESSION",),
}
_LEADING_NOISE = re.compile(r"(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*", re.DOTALL)
_FIRST_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\S")
_NAME_HEAD = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(")


class SandboxError(Exception):
    """A statement the gate refuses; ``code`` is Athena's error name, the message Athena's words."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def check_text(sql: str) -> None:
    """Refuse a statement whose first word starts no statement of Trino's (or Athena's DDL)."""
    offset = _LEADING_NOISE.match(sql).end()
    token = _FIRST_TOKEN.match(sql, offset)
    if token is None:
        return  # empty: the parser says so
    word = token.group(0)
    if word != "(" and word.upper() not in _STATEMENT_KEYWORDS:
        line, col = _position(sql, offset)
        raise SandboxError(
            "SYNTAX_ERROR", f"line {line}:{col}: mismatched input '{word}'. Expecting: {_EXPECTING}"
        )
    follows = _AFTER.get(word.upper())
    if follows is None:
        return
    # SET and RESET take only Trino's own objects: a setting of the engine is not one of them.
    offset = _LEADING_NOISE.match(sql, token.end()).end()
    second = _FIRST_TOKEN.match(sql, offset)
    if second is None or second.group(0).upper() not in follows:
        found = second.group(0) if second else "<EOF>"
        line, col = _position(sql, offset)
        expecting = ", ".join(f"'{w}'" for w in follows)
        raise SandboxError(
            "SYNTAX_ERROR", f"line {line}:{col}: mismatched input '{found}'. Expecting: {expecting}"
        )


def check(statement: exp.Expression, sql: str | None = None) -> None:
    """Refuse anything in ``statement`` that is not a catalog relation, UNNEST, VALUES or a Trino function.

    ``sql`` is the text the tree was parsed from, for the line:column of an error.
    """
    _check_root(statement)
    for node in statement.walk():
        if isinstance(node, exp.Table):
            _check_relation(node, sql)
        elif isinstance(node, exp.Func):
            _check_function(node, sql)
        elif isinstance(node, (exp.Command, exp.Pragma, exp.Set, exp.Copy)):
            raise SandboxError("NOT_SUPPORTED", f"Statement is not supported: {_head(node)}")


def is_cte_reference(table: exp.Table) -> bool:
    """Whether ``table`` names a CTE in scope at that point (else it must be a catalog table).

    A CTE is in scope in its WITH's body and in the CTEs after it (and in itself, when the WITH is
    RECURSIVE); anywhere else the same name is a catalog table, as in Trino.
    """
    if table.args.get("db") or table.args.get("catalog") or not isinstance(table.this, exp.Identifier):
        return False
    name = table.name.lower()
    came_through: dict[int, int] = {}  # id(With) -> index of the CTE the table sits in
    node = table.parent
    while node is not None:
        if isinstance(node, exp.CTE) and isinstance(node.parent, exp.With):
            came_through[id(node.parent)] = node.parent.expressions.index(node)
        with_ = (node.args.get("with_") or node.args.get("with")) if not isinstance(node, exp.With) else None
        if isinstance(with_, exp.With):
            ctes = with_.expressions
            index = came_through.get(id(with_))
            if index is None:
                visible = ctes
            else:
                visible = ctes[: index + 1] if with_.args.get("recursive") else ctes[:index]
            if any(cte.alias_or_name.lower() == name for cte in visible):
                return True
        node = node.parent
    return False


# -- the pieces -----------------------------------------------------------------------------------
_STATEMENTS = (
    exp.Query,
    exp.Values,
    exp.Create,
    exp.Drop,
    exp.Describe,
    exp.Insert,
    exp.Merge,
    exp.Update,
    exp.Delete,
)
# Nodes that are Trino syntax rather than a function looked up by name.
_SYNTAX = (
    exp.Unnest, exp.Struct, exp.Array, exp.Case, exp.Cast, exp.TryCast, exp.Extract, exp.Exists, exp.Any, exp.All
)  # fmt: skip


def _check_root(statement: exp.Expression) -> None:
    if not isinstance(statement, _STATEMENTS):
        raise SandboxError("NOT_SUPPORTED", f"Statement is not supported: {_head(statement)}")
    if isinstance(statement, exp.Create):
        kind = (statement.args.get("kind") or "").upper()
        if kind not in ("VIEW", "TABLE", "DATABASE", "SCHEMA"):
            raise SandboxError("NOT_SUPPORTED", f"CREATE {kind} is not supported")


def _check_relation(node: exp.Table, sql: str | None) -> None:
    """A relation in FROM / JOIN: a plain (possibly qualified) name; never a function or a path."""
    source = node.this
    if isinstance(source, exp.Identifier):
        return  # bound to the catalog (TABLE_NOT_FOUND there) or to a CTE in scope
    if isinstance(source, exp.Func):
        name = _function_name(source)
        raise SandboxError("FUNCTION_NOT_FOUND", f"{where(source, sql)}Function '{name}' not registered")
    raise SandboxError(
        "TABLE_NOT_FOUND", f"{where(node, sql)}Table '{node.sql(dialect='trino')}' does not exist"
    )


def _check_function(node: exp.Func, sql: str | None) -> None:
    if isinstance(node.parent, exp.Table) and node.parent.this is node:
        return  # a relation: `_check_relation` judges it
    if node.find_ancestor(exp.PartitionedByProperty) is not None:
        return  # an Iceberg partition transform (day(ts), bucket(16, id)): a name, never evaluated
    if isinstance(node, _SYNTAX):
        return
    name = _function_name(node)
    if name is None or name in TRINO_FUNCTIONS:
        return
    raise SandboxError("FUNCTION_NOT_FOUND", f"{where(node, sql)}Function '{name}' not registered")


def _function_name(node: exp.Func) -> str | None:
    """The name Trino knows ``node`` by, lower case; None for syntax (CASE, CAST, x IS NULL ...)."""
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    # The name depends on the node's class and the shape of its arguments, not on their values:
    # remembered per shape, since rendering is the gate's main cost on a long statement.
    shape = (type(node), tuple((key, _arg_shape(value)) for key, value in node.args.items()))
    if shape in _NAMES:
        return _NAMES[shape]
    name, reusable = _render_name(node)
    if reusable and len(_NAMES) < _MAX_NAMES:
        _NAMES[shape] = name
    return name


_NAMES: dict[tuple[Any, ...], str | None] = {}
_MAX_NAMES = 4096


def _arg_shape(value: Any) -> Any:
    if isinstance(value, exp.Expression):
        return "expression"
    if isinstance(value, list):
        return ("list", len(value))
    return value if isinstance(value, (str, int, float, bool, type(None))) else type(value).__name__


def _render_name(node: exp.Func) -> tuple[str | None, bool]:
    """(name, whether it holds for every node of this shape)."""
    # A typed node's Trino name is what sqlglot writes for it in Trino; render a shell of it
    # (children as placeholders) so that a long argument list is not rendered again for each node.
    shell = node.__class__(
        **{
            key: (
                exp.column("x")
                if isinstance(value, exp.Expression)
                else [exp.column("x") for _ in value]
                if isinstance(value, list)
                else value
            )
            for key, value in node.args.items()
        }
    )
    reusable = True
    try:
        text = shell.sql(dialect="trino")
    except Exception:  # a generator that needs its real arguments
        text, reusable = node.sql(dialect="trino"), False
    head = _NAME_HEAD.match(text)
    return (head.group(1).lower() if head else None), reusable


def where(node: exp.Expression, sql: str | None) -> str:
    """``line L:C: `` for a node parsed from ``sql``, as Trino prefixes its analysis errors ("" if unknown).

    A table is placed at the first part of its name, a function at its name.
    """
    if isinstance(node, exp.Table):
        parts = [node.args.get(key) for key in ("catalog", "db", "this")]
        metas = [part.meta for part in parts if isinstance(part, exp.Identifier)]
    elif isinstance(node, exp.Anonymous) and isinstance(node.this, exp.Identifier):
        metas = [node.this.meta, node.meta]
    else:
        metas = [node.meta]
    starts = [int(meta["start"]) for meta in metas if meta.get("start") is not None]
    if sql is None or not starts:
        return ""
    line, col = _position(sql, min(starts))
    return f"line {line}:{col}: "


def _position(sql: str, offset: int) -> tuple[int, int]:
    before = sql[:offset]
    line = before.count("\n") + 1
    col = offset - (before.rfind("\n") + 1) + 1
    return line, col


def _head(node: exp.Expression) -> str:
    try:
        text = node.sql(dialect="trino")
    except Exception:
        text = type(node).__name__
    return text.strip()[:80]
