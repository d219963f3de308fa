"""Firehose record processing: the Lambda transformation contract, inline JSON parsing, delimiters.

The Lambda contract is the one in the Firehose developer guide ("Required parameters for data
transformation", "Handle failure in data transformation"): the function gets ``invocationId``,
``deliveryStreamArn``, ``region``, ``sourceKinesisStreamArn`` (Kinesis sources) and ``records`` with
``recordId``, ``approximateArrivalTimestamp``, base64 ``data`` and ``kinesisRecordMetadata``; it
must answer every record with ``recordId``, ``result`` (Ok, Dropped, ProcessingFailed) and base64
``data``, optionally ``metadata.partitionKeys`` for dynamic partitioning.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

MIB = 1024 * 1024

# Defaults of a Lambda processor (Firehose API reference, ProcessorParameter).
DEFAULT_LAMBDA_BUFFER_MB = 1.0
DEFAULT_LAMBDA_INTERVAL_S = 60
DEFAULT_LAMBDA_RETRIES = 3

RESULTS = ("Ok", "Dropped", "ProcessingFailed")

# errorCode -> errorMessage written with failed records (Firehose's CloudWatch error names).
FUNCTION_ERROR = (
    "Lambda.FunctionError",
    "The Lambda function was successfully invoked but it returned an error result.",
)
MISSING_RECORD_ID = (
    "Lambda.MissingRecordId",
    "One or more record Ids were not returned. Ensure that the Lambda function returns all received record Ids.",
)
DUPLICATED_RECORD_ID = (
    "Lambda.DuplicatedRecordId",
    "Multiple records were returned with the same record Id. Ensure that the Lambda function returns "
    "unique record Ids for each record.",
)
JSON_PROCESSING = (
    "Lambda.JsonProcessingException",
    "There was an error parsing returned records from the Lambda function. Ensure that the returned "
    "records follow the status model required by Kinesis Data Firehose.",
)
PROCESSING_FAILED = (
    "Lambda.ProcessingFailed",
    "The Lambda function returned a result of ProcessingFailed for this record.",
)
PARTITION_KEYS_FAILED = (
    "DynamicPartitioning.MetadataExtractionFailed",
    "partitionKeys values must not be null or empty",
)


class TransformError(Exception):
    """An invocation whose answer Firehose rejects as a whole (retried, then every record fails)."""

    def __init__(self, code_and_message: tuple[str, str], detail: str = "") -> None:
        super().__init__(detail or code_and_message[1])
        self.code, self.message = code_and_message
        self.detail = detail


@dataclass
class Processors:
    """What a ProcessingConfiguration asks for, parsed once per destination version."""

    lambda_arn: str | None = None
    retries: int = DEFAULT_LAMBDA_RETRIES
    buffer_bytes: int = int(DEFAULT_LAMBDA_BUFFER_MB * MIB)
    interval_s: float = DEFAULT_LAMBDA_INTERVAL_S
    query: dict[str, list[str]] | None = None
    delimiter: bytes | None = None
    unsupported: list[str] = field(default_factory=list)


def _parameters(processor: dict[str, Any]) -> dict[str, str]:
    return {
        p.get("ParameterName", ""): str(p.get("ParameterValue", ""))
        for p in processor.get("Parameters") or []
    }


def _unescape(value: str) -> bytes:
    return value.encode("utf-8").decode("unicode_escape").encode("utf-8")


def parse_processors(configuration: dict[str, Any] | None) -> Processors:
    """Read a ProcessingConfiguration; raises ValueError for parameters Firehose rejects."""
    result = Processors()
    if not configuration or not configuration.get("Enabled", False):
        return result
    for processor in configuration.get("Processors") or []:
        kind = processor.get("Type")
        params = _parameters(processor)
        if kind == "Lambda":
            if not params.get("LambdaArn"):
                raise ValueError("LambdaArn is required for a Lambda processor.")
            result.lambda_arn = params["LambdaArn"]
            try:
                result.retries = int(params.get("NumberOfRetries", DEFAULT_LAMBDA_RETRIES))
                result.buffer_bytes = int(
                    float(params.get("BufferSizeInMBs", DEFAULT_LAMBDA_BUFFER_MB)) * MIB
                )
                result.interval_s = float(params.get("BufferIntervalInSeconds", DEFAULT_LAMBDA_INTERVAL_S))
            except ValueError as exc:
                raise ValueError(f"Invalid Lambda processor parameter: {exc}") from exc
            if not 0 <= result.retries <= 300:
                raise ValueError("NumberOfRetries must be between 0 and 300.")
        elif kind == "MetadataExtraction":
            result.query = parse_metadata_query(params.get("MetadataExtractionQuery", ""))
        elif kind == "AppendDelimiterToRecord":
            result.delimiter = _unescape(params["Delimiter"]) if params.get("Delimiter") else b"\n"
        elif kind:
            result.unsupported.append(kind)
    return result


# -- inline parsing (the JQ subset) ----------------------------------------------------------
_PATH = re.compile(r'^(?:\.(?:[A-Za-z_][A-Za-z0-9_]*|"[^"]*"))+$')
_PATH_PART = re.compile(r'\.([A-Za-z_][A-Za-z0-9_]*|"[^"]*")')


def parse_metadata_query(query: str) -> dict[str, list[str]]:
    """Parse ``{key: .a.b, other: .c}`` into key -> path; only plain field paths are supported."""
    text = query.strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise ValueError(f"Unsupported MetadataExtractionQuery {query!r}: expected {{key: .path, ...}}")
    keys: dict[str, list[str]] = {}
    body = text[1:-1].strip()
    if not body:
        raise ValueError("MetadataExtractionQuery defines no keys.")
    for item in body.split(","):
        name, sep, path = item.partition(":")
        name, path = name.strip().strip('"'), path.strip()
        if not sep or not name or not _PATH.match(path):
            raise ValueError(
                f"Unsupported MetadataExtractionQuery item {item.strip()!r}: only {{key: .field.subfield}} "
                "paths are supported"
            )
        keys[name] = [part.strip('"') for part in _PATH_PART.findall(path)]
    return keys


def extract_keys(data: bytes, query: dict[str, list[str]]) -> dict[str, str]:
    """Evaluate the query on one JSON record; ValueError when a key is missing or not a scalar."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"Record is not valid JSON: {exc}") from exc
    keys: dict[str, str] = {}
    for name, path in query.items():
        value: Any = document
        for part in path:
            if not isinstance(value, dict) or part not in value:
                raise ValueError(f"Key {name!r} not found in record")
            value = value[part]
        if value is None or isinstance(value, (dict, list)):
            raise ValueError(f"Key {name!r} is null or not a scalar")
        if isinstance(value, bool):
            keys[name] = "true" if value else "false"
        elif isinstance(value, float) and value.is_integer():
            keys[name] = json.dumps(value)
        else:
            keys[name] = str(value)
        if not keys[name]:
            raise ValueError(f"Key {name!r} is empty")
    return keys


# -- the Lambda contract ----------------------------------------------------------------------
@dataclass
class Transformed:
    """One record as the function answered it."""

    result: str
    data: bytes
    partition_keys: dict[str, str] | None


def build_event(
    invocation_id: str,
    delivery_stream_arn: str,
    region: str,
    records: list[dict[str, Any]],
    source_stream_arn: str | None,
) -> bytes:
    event: dict[str, Any] = {
        "invocationId": invocation_id,
        "deliveryStreamArn": delivery_stream_arn,
        "region": region,
        "records": records,
    }
    if source_stream_arn:
        event["sourceKinesisStreamArn"] = source_stream_arn
    return json.dumps(event).encode("utf-8")


def parse_response(payload: bytes, record_ids: list[str]) -> dict[str, Transformed]:
    """Check the answer against the records sent; raises `TransformError` as Firehose would."""
    try:
        answer = json.loads(payload)
        returned = answer["records"]
        if not isinstance(returned, list):
            raise TypeError("records is not a list")
    except (ValueError, TypeError, KeyError) as exc:
        raise TransformError(JSON_PROCESSING, str(exc)) from exc
    expected = set(record_ids)
    out: dict[str, Transformed] = {}
    for item in returned:
        if not isinstance(item, dict) or "recordId" not in item:
            raise TransformError(JSON_PROCESSING, "a record has no recordId")
        record_id = item["recordId"]
        if record_id in out:
            raise TransformError(DUPLICATED_RECORD_ID)
        if record_id not in expected:
            raise TransformError(MISSING_RECORD_ID, f"unknown recordId {record_id!r}")
        result = item.get("result")
        if result not in RESULTS:
            raise TransformError(JSON_PROCESSING, f"invalid result {result!r}")
        data = b""
        if result == "Ok" or item.get("data") is not None:
            try:
                data = base64.b64decode(item["data"], validate=True)
            except (KeyError, TypeError, binascii.Error) as exc:
                if result == "Ok":
                    raise TransformError(JSON_PROCESSING, f"invalid data for {record_id!r}") from exc
        metadata = item.get("metadata") or {}
        keys = metadata.get("partitionKeys") if isinstance(metadata, dict) else None
        if keys is not None and not isinstance(keys, dict):
            raise TransformError(JSON_PROCESSING, "metadata.partitionKeys is not an object")
        out[record_id] = Transformed(
            result, data, {str(k): str(v) for k, v in keys.items() if v is not None} if keys else None
        )
    if len(out) != len(expected):
        raise TransformError(MISSING_RECORD_ID)
    return out


def error_line(
    attempts: int,
    arrival_ms: int,
    code: str,
    message: str,
    ending_ms: int,
    raw: bytes,
    lambda_arn: str | None,
) -> bytes:
    """One failed record in the error-output format (one JSON document per line)."""
    document: dict[str, Any] = {
        "attemptsMade": attempts,
        "arrivalTimestamp": arrival_ms,
        "errorCode": code,
        "errorMessage": message,
        "attemptEndingTimestamp": ending_ms,
        "rawData": base64.b64encode(raw).decode("ascii"),
    }
    if lambda_arn:
        document["lambdaArn"] = lambda_arn
    return json.dumps(document, separators=(",", ":")).encode("utf-8") + b"\n"
