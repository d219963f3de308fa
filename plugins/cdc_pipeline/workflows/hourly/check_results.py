"""Check results as data: every check task pushes what it asked, whether it passed and the numbers.

Every quality check of the hourly DAG (SQL or Python) ends the same way, in ``conclude``: it pushes
an XCom with key ``check_result``::

    {"check": "check_price_quantity_range", "passed": false, "hour": "2026-11-30T03:00:00+00:00",
     "question": "Are this hour's order prices and quantities ...", "numbers": {"prices_out_of_range": 1}}

and then, when the check failed, raises with a one-line text that names the check, the hour and the
numbers (that text is what the SNS alert carries). The report reads the XComs, so a failed check is
in the report with its numbers, and the run still ends failed.

Two operator shapes run the SQL checks:

- ``QueryCheck``: a hand-written SQL file whose one row is ``(passed, detail)``, ``detail`` being
  ``name=value`` pairs separated by spaces. For the checks the common-sql column and table check
  operators cannot express (conditional rules, shares, comparisons with another task's numbers).
- ``ColumnCheck``: the common-sql provider's ``SQLColumnCheckOperator`` (nulls, min, max, distinct,
  uniqueness), declared in a TOML file; the numbers are each column check's result.

Both run on the configured Athena connection (``Settings.athena_conn_id``) in the configured
workgroup (``Settings.athena_workgroup``), whatever workgroup the connection names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextlib import closing
from datetime import datetime
from decimal import Decimal
from typing import Any

from airflow.exceptions import AirflowException
from airflow.providers.common.sql.operators.sql import SQLCheckOperator, SQLColumnCheckOperator

CHECK_RESULT_KEY = "check_result"
_PAIR = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(\S*)")


class CheckFailed(AirflowException):
    """A quality check found bad data; the message names the check, the hour and the numbers."""


def question_of(text: str) -> str:
    """The first line of a check file, without its comment marker: what the check answers."""
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    return first.lstrip("-#").strip()


def plain(value: Any) -> Any:
    """A number or text as JSON keeps it: Decimals that are whole as int, others as their text."""
    if isinstance(value, bool) or value is None or isinstance(value, int | float):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


def numbers_of(detail: Any) -> dict[str, Any]:
    """``"a=1 b=-5.00 c=none"`` -> ``{"a": 1, "b": "-5.00", "c": "none"}`` (order kept)."""
    return {name: plain(value) for name, value in _PAIR.findall(str(detail or ""))}


def hour_of(context: Mapping[str, Any]) -> str:
    start = context.get("data_interval_start")
    return start.isoformat() if start is not None else "no data interval"


def describe(result: Mapping[str, Any]) -> str:
    """One line for logs and alerts: the check, the hour, the verdict and the numbers."""
    numbers = " ".join(f"{name}={value}" for name, value in result["numbers"].items())
    verdict = "passed" if result["passed"] else "FAILED"
    return f"{result['check']} {verdict} for hour {result['hour']}: {numbers or 'no numbers'}"


def conclude(
    context: Mapping[str, Any], check: str, question: str, passed: bool, numbers: Mapping[str, Any]
) -> dict[str, Any]:
    """Push the check's result to XCom, then raise ``CheckFailed`` if it did not pass."""
    result = {
        "check": check,
        "passed": bool(passed),
        "hour": hour_of(context),
        "question": question,
        "numbers": {name: plain(value) for name, value in numbers.items()},
    }
    context["ti"].xcom_push(key=CHECK_RESULT_KEY, value=result)
    if not result["passed"]:
        raise CheckFailed(f"{describe(result)} ({question})")
    return result


def truthy(value: Any) -> bool:
    """A check's ``passed`` column as Athena returns it: a boolean, or its text through the API."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "t", "1", "yes")
    return bool(value)


class AthenaWorkgroupMixin:
    """Run the operator's SQL in the configured workgroup (the connection may name another)."""

    workgroup: str | None = None

    def records(self, sql: str, fetch: bool = True) -> list[tuple[Any, ...]]:
        """Run ``sql`` and wait for it; its rows (none when ``fetch`` is false: a statement that writes)."""
        hook = self.get_db_hook()  # type: ignore[attr-defined]
        with closing(hook.get_conn()) as connection:
            options = {"work_group": self.workgroup} if self.workgroup else {}
            with closing(connection.cursor(**options)) as cursor:
                cursor.execute(sql)
                return list(cursor.fetchall()) if fetch else []


class QueryCheck(AthenaWorkgroupMixin, SQLCheckOperator):
    """A hand-written check: its SQL file returns one row, ``(passed, detail)``.

    :param question: what the check answers (the SQL file's first line)
    :param workgroup: the Athena workgroup to run in
    """

    def __init__(self, *, question: str, workgroup: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.question = question
        self.workgroup = workgroup

    def execute(self, context: Any) -> dict[str, Any]:
        self.log.info("Executing SQL check: %s", self.sql)
        rows = self.records(self.sql)
        self.log.info("Record: %s", rows[:1])
        if not rows:
            return conclude(context, self.task_id, self.question, False, {"rows_returned": 0})
        passed, detail = rows[0][0], (rows[0][1] if len(rows[0]) > 1 else "")
        return conclude(context, self.task_id, self.question, truthy(passed), numbers_of(detail))


class ColumnCheck(AthenaWorkgroupMixin, SQLColumnCheckOperator):
    """The provider's column checks (null_check, min, max, distinct_check, unique_check) as a check result.

    An hour without rows has no minimum or maximum (NULL): that passes the min/max checks (row
    presence is ``check_rows_present``'s question), while a NULL null-count would fail.

    :param question: what the check answers (the declaration's ``question``)
    :param workgroup: the Athena workgroup to run in
    """

    def __init__(self, *, question: str, workgroup: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.question = question
        self.workgroup = workgroup

    def execute(self, context: Any) -> dict[str, Any]:
        self.log.info("Executing column checks: %s", self.sql)
        rows = self.records(self.sql)
        self.log.info("Records: %s", rows)
        numbers: dict[str, Any] = {}
        passed = bool(rows)
        for column, check, result in rows:
            wanted = self.column_mapping[column][check]
            numbers[f"{column}_{check}"] = plain(result)
            if result is None and check in ("min", "max"):
                continue
            value = float(result) if isinstance(result, Decimal) else result
            if not self._get_match(wanted, value, wanted.get("tolerance")):
                passed = False
                numbers[f"{column}_{check}_allowed"] = allowed_text(wanted)
        return conclude(context, self.task_id, self.question, passed, numbers)


def allowed_text(wanted: Mapping[str, Any]) -> str:
    """A column check's bounds as one token, e.g. ``>=18,<=110`` or ``=0``."""
    symbols = {"equal_to": "=", "greater_than": ">", "geq_to": ">=", "less_than": "<", "leq_to": "<="}
    return ",".join(f"{symbols[name]}{wanted[name]}" for name in symbols if name in wanted)
