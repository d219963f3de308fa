"""Firehose's wire format: requests checked as AWS checks them, its answers and its error messages.

CreateDeliveryStream / UpdateDestination destinations are validated (prefix expressions, processors,
buffering hints, compression) and shown with AWS's defaults in DescribeDeliveryStream; PutRecord /
PutRecordBatch are checked for AWS's record and batch limits with its error codes and messages
(``ValidationException`` with the Coral-style constraint text, ``InvalidArgumentException``) and
answered with ``RecordId`` / ``RequestResponses``.

LIMITATIONS: some rejection messages (dynamic-partitioning rules, processor parameters) are worded
here, not copied from AWS; a batch is accepted or refused whole (``FailedPutCount`` is always 0).
The 64 MiB minimum buffer size with dynamic partitioning is not enforced.
"""

from __future__ import annotations

import base64
from typing import Any

from moto.firehose.exceptions import (
    InvalidArgumentException,
    ResourceNotFoundException,
    ValidationException,
)

from local_aws.components import firehose_prefixes as prefixes
from local_aws.components import firehose_processing as processing
from local_aws.components.firehose_model import DEFAULT_INTERVAL_S, DEFAULT_SIZE_MB, MIB, dynamic_enabled

MAX_RECORD_BYTES = 1_024_000  # 1,000 KiB
MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * MIB
COMPRESSION_FORMATS = ("UNCOMPRESSED", "GZIP", "ZIP", "Snappy", "HADOOP_SNAPPY")

KINESIS_SOURCE_MESSAGE = "This operation is not permitted on KinesisStreamAsSource delivery stream type."


def validate_destination(config: dict[str, Any] | None, extended: bool) -> None:
    """Reject a destination configuration as Firehose does at Create/UpdateDestination."""
    if not config:
        return
    try:
        procs = processing.parse_processors(config.get("ProcessingConfiguration") if extended else None)
    except ValueError as exc:
        raise InvalidArgumentException(str(exc)) from exc
    dynamic = extended and dynamic_enabled(config)
    try:
        prefixes.check_prefixes(
            config.get("Prefix"),
            config.get("ErrorOutputPrefix"),
            dynamic_partitioning=dynamic,
            query_keys=set(procs.query) if procs.query is not None else None,
            lambda_processor=procs.lambda_arn is not None,
        )
    except prefixes.PrefixError as exc:
        raise InvalidArgumentException(str(exc)) from exc
    hints = config.get("BufferingHints") or {}
    size, interval = hints.get("SizeInMBs"), hints.get("IntervalInSeconds")
    if size is not None and not 1 <= int(size) <= 128:
        raise InvalidArgumentException("BufferingHints.SizeInMBs must be between 1 and 128.")
    if interval is not None and not 0 <= int(interval) <= 900:
        raise InvalidArgumentException("BufferingHints.IntervalInSeconds must be between 0 and 900.")
    compression = config.get("CompressionFormat", "UNCOMPRESSED")
    if compression not in COMPRESSION_FORMATS:
        raise InvalidArgumentException(f"Unsupported CompressionFormat {compression}.")


def validate_kinesis_source(stream_type: str, source: dict[str, Any] | None) -> None:
    if stream_type == "KinesisStreamAsSource" and not (source or {}).get("KinesisStreamARN"):
        raise InvalidArgumentException(
            "KinesisStreamSourceConfiguration is required for the KinesisStreamAsSource stream type."
        )


def validate_update(current: dict[str, Any], update: dict[str, Any], extended: bool) -> None:
    """Reject an UpdateDestination as Firehose does: the merged destination must still be valid."""
    if extended and dynamic_enabled(update) and not dynamic_enabled(current):
        raise InvalidArgumentException(
            "Dynamic Partitioning cannot be enabled on an existing delivery stream."
        )
    validate_destination({**current, **update}, extended=extended)


def with_defaults(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """Fill in what DescribeDeliveryStream shows for unset fields."""
    if not config:
        return config
    config = dict(config)
    hints = dict(config.get("BufferingHints") or {})
    hints.setdefault("SizeInMBs", DEFAULT_SIZE_MB)
    hints.setdefault("IntervalInSeconds", DEFAULT_INTERVAL_S)
    config["BufferingHints"] = hints
    config.setdefault("CompressionFormat", "UNCOMPRESSED")
    config.setdefault("EncryptionConfiguration", {"NoEncryptionConfig": "NoEncryption"})
    return config


def validation_error(problems: list[str]) -> ValidationException:
    count = len(problems)
    noun = "error" if count == 1 else "errors"
    return ValidationException(f"{count} validation {noun} detected: " + "; ".join(problems))


def not_found(name: str, account_id: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Firehose {name} under account {account_id} not found.")


def direct_put_refused() -> InvalidArgumentException:
    return InvalidArgumentException(KINESIS_SOURCE_MESSAGE)


def decoded_records(records: list[dict[str, Any]], single: bool) -> list[bytes]:
    """Each record's data (base64 decoded where the request carried text), or AWS's rejection."""
    if len(records) > MAX_BATCH_RECORDS:
        raise validation_error(
            [
                f"Value '{len(records)} records' at 'records' failed to satisfy constraint: "
                f"Member must have length less than or equal to {MAX_BATCH_RECORDS}"
            ]
        )
    problems, total, decoded = [], 0, []
    for index, record in enumerate(records, start=1):
        data = record.get("Data") or b""
        if isinstance(data, str):
            data = base64.b64decode(data)
        decoded.append(bytes(data))
        total += len(data)
        if len(data) > MAX_RECORD_BYTES:
            where = "record.data" if single else f"records.{index}.member.data"
            problems.append(
                f"Value 'java.nio.HeapByteBuffer[pos=0 lim={len(data)} cap={len(data)}]' at '{where}' "
                f"failed to satisfy constraint: Member must have length less than or equal to {MAX_RECORD_BYTES}"
            )
    if problems:
        raise validation_error(problems)
    if total > MAX_BATCH_BYTES:
        raise InvalidArgumentException("Records size exceeds 4 MB limit")
    return decoded


def put_response(model: Any, record_ids: list[str], single: bool) -> dict[str, Any]:
    """PutRecord's or PutRecordBatch's answer for records all accepted."""
    encryption = model.delivery_stream_encryption_configuration or {}
    encrypted = encryption.get("Status") == "ENABLED"
    if single:
        return {"RecordId": record_ids[0], "Encrypted": encrypted}
    return {
        "FailedPutCount": 0,
        "Encrypted": encrypted,
        "RequestResponses": [{"RecordId": record_id} for record_id in record_ids],
    }
