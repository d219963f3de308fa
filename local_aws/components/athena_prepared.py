"""Athena's prepared statements: the five APIs and the PREPARE / EXECUTE / DEALLOCATE PREPARE statements.

A prepared statement belongs to a workgroup (names are unique within it, at most 1,000 of them) and
is kept in the Athena component's store, so it survives a restart like the query executions do.
CreatePreparedStatement, GetPreparedStatement, ListPreparedStatements (MaxResults up to 50,
NextToken), UpdatePreparedStatement and DeletePreparedStatement answer as Athena does: a name
already taken is InvalidRequestException, an unknown one ResourceNotFoundException, an unknown
workgroup InvalidRequestException.

In SQL, ``PREPARE name FROM <SELECT | INSERT INTO | CTAS | UNLOAD>`` stores the statement in the
query's workgroup; ``EXECUTE name [USING v1, v2, ...]`` runs the stored statement with the values
(or the query's ExecutionParameters) in its ``?`` placeholders; ``DEALLOCATE PREPARE name`` removes
it. The stored statement itself is run by the engine, so it passes the engine's sandbox like any
other query, and its placeholders are filled in the parsed tree (a value is one value, never SQL
text pasted into the statement). PREPARE gates the statement with the sandbox too, before storing it.

LIMITATIONS: at PREPARE time the statement is parsed and passes the sandbox (an escape is refused
before it is stored), but its tables and columns are resolved only when it is EXECUTEd (an
unknown table shows then); an UNLOAD is checked at PREPARE only for its first word.
An EXECUTE of an unknown name fails with Trino's ``NOT_FOUND: Prepared statement not found``
(Athena's exact wording is not documented). BatchGetPreparedStatement is not served.
"""

from __future__ import annotations

import re
import time
from typing import Any

import sqlglot

from local_aws.athena_engine import sandbox
from local_aws.athena_engine.engine import EngineError, Outcome
from local_aws.athena_engine.rewrite import READ_DIALECT

MAX_STATEMENTS = 1000
MAX_PAGE = 50
_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_@:]{1,256}$")
_LEAD = r"^\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*)*"
_PREPARE = re.compile(
    _LEAD + r"PREPARE\s+(?P<name>[A-Za-z_][\w@:]*)\s+FROM\s+(?P<body>.+?)\s*;?\s*$", re.I | re.S
)
_EXECUTE = re.compile(
    _LEAD + r"EXECUTE\s+(?P<name>[A-Za-z_][\w@:]*)(?:\s+USING\s+(?P<using>.+?))?\s*;?\s*$", re.I | re.S
)
_DEALLOCATE = re.compile(_LEAD + r"DEALLOCATE\s+PREPARE\s+(?P<name>[A-Za-z_][\w@:]*)\s*;?\s*$", re.I | re.S)
_PREPARABLE = re.compile(_LEAD + r"(SELECT|WITH|VALUES|INSERT|UNLOAD|CREATE\s+TABLE\b.*\bAS\b)", re.I | re.S)


class PreparedError(Exception):
    """An API call Athena refuses; ``error_type`` is the wire error code."""

    def __init__(self, message: str, error_type: str = "InvalidRequestException") -> None:
        super().__init__(message)
        self.error_type = error_type


def statements(store: dict[str, Any], account: str, region: str, workgroup: str) -> dict[str, Any]:
    return store.setdefault("prepared", {}).setdefault(f"{account}/{region}/{workgroup}", {})


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise PreparedError(
            f"1 validation error detected: Value '{name}' at 'statementName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [a-zA-Z_][a-zA-Z0-9_@:]{1,256}"
        )
    return name


def create(group: dict[str, Any], workgroup: str, params: dict[str, Any]) -> None:
    name = _check_name(params.get("StatementName"))
    query = params.get("QueryStatement")
    if not isinstance(query, str) or not query.strip():
        raise PreparedError(
            "1 validation error detected: Value null at 'queryStatement' failed to satisfy constraint: "
            "Member must not be null"
        )
    if name in group:
        raise PreparedError(f"Prepared statement {name} already exists in workgroup {workgroup}")
    if len(group) >= MAX_STATEMENTS:
        raise PreparedError(f"Workgroup {workgroup} already has {MAX_STATEMENTS} prepared statements")
    group[name] = _entry(name, workgroup, query, params.get("Description"))


def _entry(name: str, workgroup: str, query: str, description: Any) -> dict[str, Any]:
    entry = {"StatementName": name, "QueryStatement": query, "WorkGroupName": workgroup}
    if description:
        entry["Description"] = description
    entry["LastModifiedTime"] = time.time()
    return entry


def get(group: dict[str, Any], workgroup: str, name: Any) -> dict[str, Any]:
    entry = group.get(name) if isinstance(name, str) else None
    if entry is None:
        raise PreparedError(
            f"Prepared statement {name} was not found in workgroup {workgroup}", "ResourceNotFoundException"
        )
    return entry


def update(group: dict[str, Any], workgroup: str, params: dict[str, Any]) -> None:
    old = get(group, workgroup, params.get("StatementName"))
    query = params.get("QueryStatement") or old["QueryStatement"]
    description = params.get("Description", old.get("Description"))
    group[old["StatementName"]] = _entry(old["StatementName"], workgroup, query, description)


def delete(group: dict[str, Any], workgroup: str, name: Any) -> None:
    entry = get(group, workgroup, name)
    del group[entry["StatementName"]]


def page(group: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    limit = int(params.get("MaxResults") or MAX_PAGE)
    if not 1 <= limit <= MAX_PAGE:
        raise PreparedError(
            f"1 validation error detected: Value '{limit}' at 'maxResults' failed to satisfy constraint: "
            f"Member must have value less than or equal to {MAX_PAGE}"
        )
    try:
        offset = int(params.get("NextToken") or 0)
    except ValueError as error:
        raise PreparedError("The NextToken is not valid.") from error
    names = sorted(group)
    answer: dict[str, Any] = {
        "PreparedStatements": [
            {"StatementName": n, "LastModifiedTime": group[n]["LastModifiedTime"]}
            for n in names[offset : offset + limit]
        ]
    }
    if offset + limit < len(names):
        answer["NextToken"] = str(offset + limit)
    return answer


# -- the SQL statements ----------------------------------------------------------------------------
def stored_query(sql: str, group: dict[str, Any]) -> str | None:
    """For an EXECUTE, the statement it runs (to classify it before it runs); None otherwise."""
    match = _EXECUTE.match(sql)
    if match is None or match.group("name") not in group:
        return None
    return str(group[match.group("name")]["QueryStatement"])


def is_prepared_statement_sql(sql: str) -> bool:
    return any(p.match(sql) for p in (_PREPARE, _EXECUTE, _DEALLOCATE))


def run_sql(
    sql: str, group: dict[str, Any], workgroup: str, parameters: list[str] | None, run: Any, lock: Any
) -> Outcome:
    """PREPARE, EXECUTE or DEALLOCATE PREPARE; ``run(sql, parameters)`` runs a stored statement.

    ``group`` (the workgroup's statements) is read and changed only under ``lock`` (the world's);
    the stored statement runs without it.
    """
    with lock:
        outcome, stored = _change(sql, group, workgroup)
    if outcome is not None:
        return outcome
    query, using = stored
    if using:
        if parameters:
            raise EngineError(
                "INVALID_PARAMETER_USAGE", "Use either EXECUTE ... USING or ExecutionParameters, not both"
            )
        parameters = using_values(using)
    return run(query, parameters)


def _change(sql: str, group: dict[str, Any], workgroup: str) -> tuple[Outcome | None, tuple[str, str]]:
    """PREPARE or DEALLOCATE done (an Outcome), or the EXECUTEd statement's text and USING clause."""
    prepare = _PREPARE.match(sql)
    if prepare:
        body = prepare.group("body")
        if not _PREPARABLE.match(body):
            raise EngineError(
                "NOT_SUPPORTED",
                "Prepared statements are supported only for SELECT, INSERT INTO, CTAS and UNLOAD statements",
            )
        _gate(body)
        name = prepare.group("name")
        entry = group.get(name)
        if entry is None and len(group) >= MAX_STATEMENTS:
            raise EngineError("TOO_MANY_PREPARED_STATEMENTS", f"Workgroup {workgroup} has {MAX_STATEMENTS}")
        group[name] = _entry(name, workgroup, body, (entry or {}).get("Description"))
        return Outcome("UTILITY", "PREPARE"), ("", "")
    deallocate = _DEALLOCATE.match(sql)
    if deallocate:
        if group.pop(deallocate.group("name"), None) is None:
            raise _not_found(deallocate.group("name"))
        return Outcome("UTILITY", "DEALLOCATE"), ("", "")
    execute = _EXECUTE.match(sql)
    assert execute is not None
    entry = group.get(execute.group("name"))
    if entry is None:
        raise _not_found(execute.group("name"))
    return None, (str(entry["QueryStatement"]), execute.group("using") or "")


def _gate(body: str) -> None:
    """The engine's sandbox on a statement being prepared, so an escape is refused before it is stored."""
    try:
        sandbox.check_text(body)
        if re.match(_LEAD + r"UNLOAD\b", body, re.I | re.S):
            return  # the engine takes UNLOAD apart; its query is gated when the statement runs
        parsed = [s for s in sqlglot.parse(body, read=READ_DIALECT) if s is not None]
        if len(parsed) != 1:
            raise EngineError("SYNTAX_ERROR", "Only one sql statement is allowed")
        sandbox.check(parsed[0], body)
    except sandbox.SandboxError as error:
        raise EngineError(error.code, error.message) from error
    except sqlglot.errors.SqlglotError as error:
        raise EngineError("SYNTAX_ERROR", f"line 1:1: {str(error).splitlines()[0]}") from error


def _not_found(name: str) -> EngineError:
    return EngineError("NOT_FOUND", f"Prepared statement not found: {name}")


def using_values(text: str) -> list[str]:
    """The values of EXECUTE's USING clause, each as SQL text of one value (comma-split by the parser)."""
    try:
        select = sqlglot.parse_one(f"SELECT {text}", read=READ_DIALECT)
    except sqlglot.errors.SqlglotError as error:
        message = str(error).split("\n")[0]
        raise EngineError("SYNTAX_ERROR", f"line 1:1: EXECUTE ... USING: {message}") from error
    return [value.sql(dialect=READ_DIALECT) for value in select.expressions]
