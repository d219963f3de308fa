"""What a statement produced and how it failed: Athena's error codes, shared by every statement family."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import duckdb

# ErrorType values from Athena's error catalog: 1000 is a user error, 1001 bad data, 100 internal.
USER_ERROR, DATA_ERROR, INTERNAL_ERROR = 1000, 1001, 100


class EngineError(Exception):
    """A query that fails; the message is what Athena puts in StateChangeReason."""

    def __init__(
        self, code: str, message: str, error_type: int = USER_ERROR, category: int = 2, plain: bool = False
    ) -> None:
        # Most reasons read "CODE: message"; a few of Athena's (a limit passed) are the message alone.
        super().__init__(message if plain else f"{code}: {message}")
        self.code = code
        self.error_type = error_type
        self.category = category


BYTES_SCANNED_EXCEEDED = "Bytes scanned limit was exceeded"


@dataclass
class Outcome:
    """What a statement produced."""

    statement_type: str  # DDL, DML or UTILITY
    substatement_type: str
    column_info: list[dict[str, Any]] = field(default_factory=list)
    rows: list[list[str | None]] = field(default_factory=list)
    data_scanned: int = 0
    update_count: int = 0  # rows a CTAS / INSERT wrote (GetQueryResults' UpdateCount)
    manifest_location: str | None = None  # the data manifest of a statement that wrote objects

    @property
    def has_header(self) -> bool:
        return self.statement_type == "DML"


def error_type(code: str) -> int:
    return DATA_ERROR if code.startswith("HIVE_") and code != "HIVE_INVALID_METADATA" else USER_ERROR


_COLUMN = re.compile(r'(?:Referenced column|column) "?([^"\s]+)"? not found', re.IGNORECASE)


def translate_duckdb_error(error: Exception) -> EngineError:
    """A DuckDB error in the words Athena (Trino) uses for the same mistake."""
    message = str(error).strip()
    first_line = message.split("\n")[0]
    first_line = re.sub(r"^[A-Za-z ]+ Error: ", "", first_line)
    column = _COLUMN.search(message)
    if isinstance(error, duckdb.BinderException) and column:
        return EngineError(
            "COLUMN_NOT_FOUND",
            f"Column '{column.group(1)}' cannot be resolved or requester is not authorized to access requested resources",
        )
    if isinstance(error, duckdb.CatalogException) and "Function" in first_line:
        return EngineError("FUNCTION_NOT_FOUND", first_line)
    if isinstance(error, duckdb.ConversionException):
        return EngineError("INVALID_CAST_ARGUMENT", first_line, DATA_ERROR)
    if isinstance(error, duckdb.InvalidInputException) and first_line.startswith("Division by zero"):
        return EngineError("DIVISION_BY_ZERO", "Division by zero")
    if isinstance(error, duckdb.InvalidInputException) and first_line.startswith("Map keys must be unique"):
        return EngineError("INVALID_FUNCTION_ARGUMENT", "Duplicate map keys are not allowed")
    if isinstance(error, duckdb.InvalidInputException):
        return EngineError("HIVE_BAD_DATA", first_line, DATA_ERROR)
    if isinstance(error, duckdb.ParserException):
        return EngineError("SYNTAX_ERROR", first_line)
    if isinstance(error, (duckdb.BinderException, duckdb.CatalogException)):
        return EngineError("SEMANTIC_ERROR", first_line)
    if isinstance(error, duckdb.OutOfRangeException):
        return EngineError("NUMERIC_VALUE_OUT_OF_RANGE", first_line, DATA_ERROR)
    if isinstance(error, duckdb.InterruptException):
        return EngineError("USER_CANCELLED", "Query cancelled by user")
    return EngineError("GENERIC_INTERNAL_ERROR", first_line, INTERNAL_ERROR, category=1)
