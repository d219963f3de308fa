"""Athena's wire format: request parsing, response shapes, paging tokens and errors (moto's `responses`).

The query queue, the executions and the workers live in `local_aws.components.athena`; this module
only turns requests into calls on it and its records into Athena's JSON. moto's `AthenaResponse`
methods for the query-execution calls are replaced by the handlers here (`patch_moto`).

LIMITATIONS: ListQueryExecutions' NextToken is a plain offset (Athena's is opaque); paging tokens of
GetQueryResults are base64 JSON naming the query, checked but not signed.
GetQueryRuntimeStatistics has no OutputStage (no query plan); its InputRows counts the rows of the
objects read (before any WHERE), InputBytes is DataScannedInBytes, OutputBytes the result file's size.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from local_aws.components import athena_prepared
from local_aws.components.athena_metadata import PATCHES as METADATA_PATCHES
from local_aws.world import current

MAX_RESULTS = 1000
# Athena's limit on QueryString, in bytes of UTF-8 (not adjustable).
MAX_QUERY_BYTES = 262_144


class AthenaRequestError(Exception):
    """Answered to the caller as Athena's InvalidRequestException (or ``error_type``)."""

    def __init__(self, message: str, error_type: str = "InvalidRequestException") -> None:
        super().__init__(message)
        self.error_type = error_type


def _component() -> Any:
    # By name, not by class: the component module imports this one.
    return current().component("athena")


def _query_string(params: dict[str, Any]) -> str:
    """StartQueryExecution's QueryString, checked as Athena checks it (length in bytes of UTF-8)."""
    query = params.get("QueryString")
    if query is None:
        raise AthenaRequestError(
            "1 validation error detected: Value null at 'queryString' failed to satisfy constraint: "
            "Member must not be null"
        )
    if not isinstance(query, str):
        raise AthenaRequestError(
            f"QueryString must be a string, not {type(query).__name__}", error_type="SerializationException"
        )
    if not query:  # (a blank but non-empty one is queued and fails as a syntax error, as in Athena)
        raise AthenaRequestError(
            f"1 validation error detected: Value '{query}' at 'queryString' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1"
        )
    if len(query.encode("utf-8", "surrogatepass")) > MAX_QUERY_BYTES:
        raise AthenaRequestError(
            "1 validation error detected: Value at 'queryString' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_QUERY_BYTES}"
        )
    return query


def execution_shape(record: dict[str, Any]) -> dict[str, Any]:
    """One QueryExecution as GetQueryExecution returns it."""
    status: dict[str, Any] = {"State": record["State"], "SubmissionDateTime": record["Submitted"]}
    if record["Completed"] is not None:
        status["CompletionDateTime"] = record["Completed"]
    if record["StateChangeReason"]:
        status["StateChangeReason"] = record["StateChangeReason"]
    if record["AthenaError"]:
        status["AthenaError"] = record["AthenaError"]
    submitted = record["Submitted"]
    started = record["Started"] or submitted
    completed = record["Completed"]
    statistics = {
        "EngineExecutionTimeInMillis": record["EngineMillis"],
        "DataScannedInBytes": record["DataScannedInBytes"],
        "TotalExecutionTimeInMillis": int(((completed or time.time()) - submitted) * 1000),
        "QueryQueueTimeInMillis": int((started - submitted) * 1000) if record["Started"] else 0,
        "ServicePreProcessingTimeInMillis": 0,
        "QueryPlanningTimeInMillis": 0,
        "ServiceProcessingTimeInMillis": (
            max(0, int((completed - started) * 1000) - record["EngineMillis"]) if completed else 0
        ),
        "ResultReuseInformation": {"ReusedPreviousResult": False},
    }
    if record.get("DataManifestLocation"):
        statistics["DataManifestLocation"] = record["DataManifestLocation"]
    execution: dict[str, Any] = {
        "QueryExecutionId": record["QueryExecutionId"],
        "Query": record["Query"],
        "StatementType": record["StatementType"],
        "SubstatementType": record["SubstatementType"],
        "ResultConfiguration": {"OutputLocation": record["OutputLocation"]},
        "ResultReuseConfiguration": {"ResultReuseByAgeConfiguration": {"Enabled": False}},
        "QueryExecutionContext": record["QueryExecutionContext"],
        "Status": status,
        "Statistics": statistics,
        "WorkGroup": record["WorkGroup"],
        "EngineVersion": {
            "SelectedEngineVersion": "AUTO",
            "EffectiveEngineVersion": "Athena engine version 3",
        },
    }
    if record["ExecutionParameters"] is not None:
        execution["ExecutionParameters"] = record["ExecutionParameters"]
    return execution


def runtime_statistics(record: dict[str, Any]) -> dict[str, Any]:
    """GetQueryRuntimeStatistics: the timeline of GetQueryExecution's statistics and the row counts."""
    timings = execution_shape(record)["Statistics"]
    timeline = {
        key: timings[key]
        for key in (
            "QueryQueueTimeInMillis",
            "ServicePreProcessingTimeInMillis",
            "QueryPlanningTimeInMillis",
            "EngineExecutionTimeInMillis",
            "ServiceProcessingTimeInMillis",
            "TotalExecutionTimeInMillis",
        )
    }
    rows = {
        "InputRows": record.get("InputRows", 0),
        "InputBytes": record["DataScannedInBytes"],
        "OutputBytes": record.get("OutputBytes", 0),
        "OutputRows": record.get("OutputRows", 0),
    }
    return {"QueryRuntimeStatistics": {"Timeline": timeline, "Rows": rows}}


def results_page(
    component: Any, record: dict[str, Any], max_results: Any, next_token: str | None
) -> dict[str, Any]:
    """One page of GetQueryResults. Called under the lock; parsing a cached file is quick."""
    if record["State"] in ("QUEUED", "RUNNING"):
        raise AthenaRequestError(f"Query has not yet finished. Current state: {record['State']}")
    if record["State"] != "SUCCEEDED":
        raise AthenaRequestError(f"Query did not finish successfully. Final query state: {record['State']}")
    limit = MAX_RESULTS if max_results in (None, "") else int(max_results)
    if limit < 1 or limit > MAX_RESULTS:
        raise AthenaRequestError(
            f"1 validation error detected: Value '{limit}' at 'maxResults' failed to satisfy "
            f"constraint: Member must have value less than or equal to {MAX_RESULTS}"
        )
    offset = 0
    if next_token:
        try:
            token = json.loads(base64.urlsafe_b64decode(next_token.encode()))
            if token["id"] != record["QueryExecutionId"]:
                raise ValueError("token of another query")
            offset = int(token["offset"])
        except (ValueError, KeyError, TypeError) as error:
            raise AthenaRequestError("The NextToken is not valid.") from error
    rows = component.rows(record)
    page = rows[offset : offset + limit]
    answer: dict[str, Any] = {
        "UpdateCount": record.get("UpdateCount", 0),
        "ResultSet": {
            "Rows": [{"Data": [{"VarCharValue": v} if v is not None else {} for v in row]} for row in page],
            "ResultSetMetadata": {"ColumnInfo": record["ColumnInfo"]},
        },
    }
    if offset + limit < len(rows):
        token_data = {"id": record["QueryExecutionId"], "offset": offset + limit}
        answer["NextToken"] = base64.urlsafe_b64encode(json.dumps(token_data).encode()).decode()
    return answer


def _invalid(message: str, error_type: str = "InvalidRequestException") -> tuple[str, dict[str, Any]]:
    # Typed as JSON, as AWS answers: without it the answer goes out as an HTML page.
    headers = {"status": 400, "Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": error_type}
    return json.dumps({"__type": error_type, "Message": message}), headers


def _start_query_execution(self: Any) -> Any:
    try:
        params = _json_body(self.body)
        _query_string(params)
        execution_id = _component().start_query(self.current_account, self.region, params)
    except AthenaRequestError as error:
        return _invalid(str(error), error.error_type)
    return json.dumps({"QueryExecutionId": execution_id})


def _json_body(body: Any) -> dict[str, Any]:
    try:
        params = json.loads(body or "{}")
    except ValueError as error:
        raise AthenaRequestError("The request body is not valid JSON", "SerializationException") from error
    if not isinstance(params, dict):
        raise AthenaRequestError("The request body must be a JSON object", "SerializationException")
    return params


def _get_work_group(self: Any) -> Any:
    component = _component()
    try:
        component.workgroup(self.current_account, self.region, self._get_param("WorkGroup"))
    except AthenaRequestError as error:  # moto answers null; Athena refuses a name it does not know
        return _invalid(str(error))
    return _ORIGINALS["get_work_group"](self)


def _update_work_group(self: Any) -> Any:
    try:
        _component().update_workgroup(self.current_account, self.region, _json_body(self.body))
    except AthenaRequestError as error:
        return _invalid(str(error), error.error_type)
    return json.dumps({})


def _prepared(handler: Any) -> Any:
    """A prepared-statement API: ``handler(group, workgroup, params)`` under the lock moto's call holds."""

    def respond(self: Any) -> Any:
        try:
            params = _json_body(self.body)
            component = _component()
            workgroup = params.get("WorkGroup")
            component.workgroup(self.current_account, self.region, workgroup)  # unknown: InvalidRequest
            store = component.world.store(component.name)
            group = athena_prepared.statements(store, self.current_account, self.region, workgroup)
            answer = handler(group, workgroup, params)
            component.world.mark_dirty()
        except AthenaRequestError as error:
            return _invalid(str(error), error.error_type)
        except athena_prepared.PreparedError as error:
            return _invalid(str(error), error.error_type)
        return json.dumps(answer or {})

    return respond


_PREPARED_PATCHES = {
    "create_prepared_statement": _prepared(lambda g, w, p: athena_prepared.create(g, w, p)),
    "get_prepared_statement": _prepared(
        lambda g, w, p: {"PreparedStatement": athena_prepared.get(g, w, p.get("StatementName"))}
    ),
    "list_prepared_statements": _prepared(lambda g, w, p: athena_prepared.page(g, p)),
    "update_prepared_statement": _prepared(lambda g, w, p: athena_prepared.update(g, w, p)),
    "delete_prepared_statement": _prepared(
        lambda g, w, p: athena_prepared.delete(g, w, p.get("StatementName"))
    ),
}


def _get_query_execution(self: Any) -> Any:
    try:
        record = _component().record(self.current_account, self.region, self._get_param("QueryExecutionId"))
        execution = execution_shape(record)
    except AthenaRequestError as error:
        return _invalid(str(error))
    return json.dumps({"QueryExecution": execution})


def _batch_get_query_execution(self: Any) -> Any:
    component = _component()
    found, missing = [], []
    for execution_id in self._get_param("QueryExecutionIds") or []:
        try:
            found.append(execution_shape(component.record(self.current_account, self.region, execution_id)))
        except AthenaRequestError as error:
            missing.append(
                {"QueryExecutionId": execution_id, "ErrorCode": "INVALID_INPUT", "ErrorMessage": str(error)}
            )
    return json.dumps({"QueryExecutions": found, "UnprocessedQueryExecutionIds": missing})


def _get_query_results(self: Any) -> Any:
    try:
        component = _component()
        record = component.record(self.current_account, self.region, self._get_param("QueryExecutionId"))
        answer = results_page(component, record, self._get_param("MaxResults"), self._get_param("NextToken"))
    except AthenaRequestError as error:
        return _invalid(str(error))
    return json.dumps(answer)


def _get_query_runtime_statistics(self: Any) -> Any:
    try:
        record = _component().record(self.current_account, self.region, self._get_param("QueryExecutionId"))
        answer = runtime_statistics(record)
    except AthenaRequestError as error:
        return _invalid(str(error))
    return json.dumps(answer)


def _stop_query_execution(self: Any) -> Any:
    try:
        _component().stop_query(self.current_account, self.region, self._get_param("QueryExecutionId"))
    except AthenaRequestError as error:
        return _invalid(str(error))
    return json.dumps({})


def _list_query_executions(self: Any) -> Any:
    ids = _component().list_ids(self.current_account, self.region, self._get_param("WorkGroup"))
    limit = int(self._get_param("MaxResults") or 50)
    offset = int(self._get_param("NextToken") or 0)
    answer: dict[str, Any] = {"QueryExecutionIds": ids[offset : offset + limit]}
    if offset + limit < len(ids):
        answer["NextToken"] = str(offset + limit)
    return json.dumps(answer)


_PATCHES = {
    "start_query_execution": _start_query_execution,
    "get_query_execution": _get_query_execution,
    "batch_get_query_execution": _batch_get_query_execution,
    "get_query_results": _get_query_results,
    "get_query_runtime_statistics": _get_query_runtime_statistics,
    "stop_query_execution": _stop_query_execution,
    "list_query_executions": _list_query_executions,
    "get_work_group": _get_work_group,
    "update_work_group": _update_work_group,
    **_PREPARED_PATCHES,  # prepared statements, per workgroup (`athena_prepared`)
    **METADATA_PATCHES,  # the metadata APIs, answered from Glue (`athena_metadata`)
}
_ORIGINALS: dict[str, Any] = {}


def patch_moto() -> None:
    """Route the query-execution calls here; idempotent, keeps moto's originals."""
    from moto.athena.responses import AthenaResponse

    for method_name, replacement in _PATCHES.items():
        if method_name not in _ORIGINALS:
            _ORIGINALS[method_name] = AthenaResponse.__dict__.get(method_name)
        setattr(AthenaResponse, method_name, replacement)
