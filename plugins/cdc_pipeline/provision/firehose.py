"""The Firehose delivery stream: Kinesis -> transform Lambda -> Hive-style partitions in the lake.

With ``CDC_LAKE_CHANGE_LOG_FORMAT=parquet`` the destination converts each transformed record to
Parquet (``DataFormatConversionConfiguration``: OpenX JSON SerDe in, Parquet SerDe with SNAPPY out)
with the schema of the change table the provisioning declared (`change_table`); AWS then requires
the S3 compression UNCOMPRESSED (the serializer compresses) and a buffer of at least 64 MB, which the
settings check. An existing stream's format is never switched in place (its objects would mix two
formats under one table): that is a `DeliveryStreamConflictError` naming the way out.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from cdc_pipeline.provision.context import Deployment
from cdc_pipeline.provision.outcome import Outcome
from cdc_pipeline.provision.waiting import error_code, retry_while_role_propagates, wait_for, wait_for_state

KIND = "firehose:delivery-stream"
RESOURCE = "delivery_stream"
# How long Firehose retries a partitioned delivery before it goes to the error prefix (AWS default).
DYNAMIC_PARTITIONING_RETRY_SECONDS = 300


class DeliveryStreamConflictError(RuntimeError):
    """The existing delivery stream differs in something AWS cannot update in place."""


def conversion(deployment: Deployment) -> dict[str, Any]:
    """The record format conversion to Parquet, with the change table's schema (its latest version)."""
    names = deployment.names
    return {
        "Enabled": True,
        "SchemaConfiguration": {
            "RoleARN": names.role_arn(names.firehose_role),
            "CatalogId": names.account_id,
            "DatabaseName": names.glue_database,
            "TableName": deployment.definition.name,
            "Region": names.region,
            "VersionId": "LATEST",
        },
        "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
        "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {"Compression": "SNAPPY"}}},
    }


def destination(deployment: Deployment) -> dict[str, Any]:
    """The ExtendedS3 destination: what we create, and what UpdateDestination brings back in line."""
    names = deployment.names
    settings = deployment.settings
    desired = {
        "RoleARN": names.role_arn(names.firehose_role),
        "BucketARN": names.lake_bucket_arn,
        "Prefix": deployment.definition.lake_prefix_expression,
        "ErrorOutputPrefix": names.error_prefix,
        "BufferingHints": {
            "IntervalInSeconds": settings.firehose_buffer_interval_seconds,
            "SizeInMBs": settings.firehose_buffer_size_mb,
        },
        # JSON lines are read by the crawler and Athena as-is; Parquet is compressed by its serializer.
        "CompressionFormat": "UNCOMPRESSED",
        "ProcessingConfiguration": {
            "Enabled": True,
            "Processors": [
                {
                    "Type": "Lambda",
                    "Parameters": [
                        {"ParameterName": "LambdaArn", "ParameterValue": names.function_arn},
                        {"ParameterName": "NumberOfRetries", "ParameterValue": "3"},
                    ],
                }
            ],
        },
        # partitionKeyFromLambda needs dynamic partitioning, which AWS only allows at creation.
        "DynamicPartitioningConfiguration": {
            "Enabled": True,
            "RetryOptions": {"DurationInSeconds": DYNAMIC_PARTITIONING_RETRY_SECONDS},
        },
    }
    if settings.parquet_change_log:
        desired["DataFormatConversionConfiguration"] = conversion(deployment)
    return desired


def _describe(firehose: Any, name: str) -> dict[str, Any] | None:
    try:
        return firehose.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise


def _wait_active(firehose: Any, name: str) -> dict[str, Any]:
    """CreateDeliveryStream answers while the stream is CREATING, which takes no records: wait."""

    def describe() -> dict[str, Any] | None:
        stream = _describe(firehose, name)
        if stream is not None and stream["DeliveryStreamStatus"].endswith("FAILED"):
            status, failure = stream["DeliveryStreamStatus"], stream.get("FailureDescription")
            raise RuntimeError(f"delivery stream {name} is {status}: {failure}")
        return stream

    return wait_for_state(
        describe, lambda stream: stream["DeliveryStreamStatus"], f"delivery stream {name}", {"ACTIVE"}
    )


def _processor_differs(current: dict[str, Any] | None, desired: dict[str, Any]) -> bool:
    """Compare only the parameters we set: AWS may report defaults for the others."""
    current = current or {}
    if bool(current.get("Enabled")) != desired["Enabled"]:
        return True
    have = current.get("Processors") or []
    want = desired["Processors"]
    if [p.get("Type") for p in have] != [p["Type"] for p in want]:
        return True
    for have_processor, want_processor in zip(have, want, strict=True):
        values = {p["ParameterName"]: p["ParameterValue"] for p in have_processor.get("Parameters", [])}
        if any(values.get(p["ParameterName"]) != p["ParameterValue"] for p in want_processor["Parameters"]):
            return True
    return False


def _converts(current: dict[str, Any] | None) -> bool:
    return bool(current) and bool(current.get("Enabled", True))


def _conversion_differs(current: dict[str, Any] | None, desired: dict[str, Any]) -> bool:
    """Off (absent or disabled) against off is no difference; on compares the table and the SerDes."""
    enabled = _converts(current)
    if not desired["Enabled"] or not enabled:
        return enabled != desired["Enabled"]
    current = current or {}
    schema = current.get("SchemaConfiguration") or {}
    wanted = desired["SchemaConfiguration"]
    if any(schema.get(key) != wanted[key] for key in ("RoleARN", "DatabaseName", "TableName")):
        return True
    deserializer = (current.get("InputFormatConfiguration") or {}).get("Deserializer") or {}
    serializer = (current.get("OutputFormatConfiguration") or {}).get("Serializer") or {}
    parquet = serializer.get("ParquetSerDe")
    return "OpenXJsonSerDe" not in deserializer or parquet is None or parquet.get("Compression") != "SNAPPY"


def _differences(current: dict[str, Any], desired: dict[str, Any]) -> list[str]:
    differing = [
        key
        for key in ("RoleARN", "BucketARN", "Prefix", "ErrorOutputPrefix", "CompressionFormat")
        if current.get(key) != desired[key]
    ]
    hints = current.get("BufferingHints") or {}
    if {k: hints.get(k) for k in desired["BufferingHints"]} != desired["BufferingHints"]:
        differing.append("BufferingHints")
    if _processor_differs(current.get("ProcessingConfiguration"), desired["ProcessingConfiguration"]):
        differing.append("ProcessingConfiguration")
    if _conversion_differs(
        current.get("DataFormatConversionConfiguration"),
        desired.get("DataFormatConversionConfiguration", OFF),
    ):
        differing.append("DataFormatConversionConfiguration")
    retry = ((current.get("DynamicPartitioningConfiguration") or {}).get("RetryOptions") or {}).get(
        "DurationInSeconds"
    )
    if retry is not None and retry != DYNAMIC_PARTITIONING_RETRY_SECONDS:
        differing.append("DynamicPartitioningConfiguration")
    return differing


#: A destination without record format conversion.
OFF = {"Enabled": False}

# States a delivery stream can only be deleted from (CreateDeliveryStream failed, or a delete did).
_DELETE_ONLY = {"CREATING_FAILED", "DELETING_FAILED"}


def _create(deployment: Deployment, firehose: Any) -> None:
    names = deployment.names
    desired = destination(deployment)
    source = {"KinesisStreamARN": names.stream_arn, "RoleARN": names.role_arn(names.firehose_role)}
    retry_while_role_propagates(
        lambda: firehose.create_delivery_stream(
            DeliveryStreamName=names.delivery_stream,
            DeliveryStreamType="KinesisStreamAsSource",
            KinesisStreamSourceConfiguration=source,
            ExtendedS3DestinationConfiguration=desired,
            Tags=[{"Key": "cdc-lake:dataset", "Value": deployment.definition.name}],
        ),
        f"create delivery stream {names.delivery_stream}",
        deployment.settings.role_propagation_timeout_seconds,
    )
    _wait_active(firehose, names.delivery_stream)


def ensure_delivery_stream(deployment: Deployment) -> Outcome:
    """Create the delivery stream, or UpdateDestination in place (with the current version id).

    A stream in CREATING_FAILED or DELETING_FAILED accepts nothing but a delete: it is deleted,
    waited for, and created again.
    """
    firehose = deployment.client("firehose")
    names = deployment.names
    desired = destination(deployment)
    current = _describe(firehose, names.delivery_stream)
    if current is None:
        _create(deployment, firehose)
        return Outcome(RESOURCE, KIND, names.delivery_stream, "created")
    if current.get("DeliveryStreamStatus") in _DELETE_ONLY:
        delete_delivery_stream(deployment)
        _create(deployment, firehose)
        return Outcome(RESOURCE, KIND, names.delivery_stream, "recreated")

    current = _wait_active(firehose, names.delivery_stream)
    kinesis_source = (current.get("Source") or {}).get("KinesisStreamSourceDescription") or {}
    if (
        current.get("DeliveryStreamType") != "KinesisStreamAsSource"
        or kinesis_source.get("KinesisStreamARN") != names.stream_arn
    ):
        raise DeliveryStreamConflictError(
            f"delivery stream {names.delivery_stream!r} does not read {names.stream_arn}; its source "
            "cannot be changed in place: tear the pipeline down and provision it again"
        )
    destination_description = current["Destinations"][0]
    s3 = destination_description.get("ExtendedS3DestinationDescription") or {}
    if not (s3.get("DynamicPartitioningConfiguration") or {}).get("Enabled"):
        raise DeliveryStreamConflictError(
            f"delivery stream {names.delivery_stream!r} has dynamic partitioning off, and AWS cannot "
            "turn it on for an existing stream: tear the pipeline down and provision it again"
        )
    differing = _differences(s3, desired)
    if not differing:
        return Outcome(RESOURCE, KIND, names.delivery_stream, "unchanged")
    converting = _converts(s3.get("DataFormatConversionConfiguration"))
    if converting != ("DataFormatConversionConfiguration" in desired):
        have, want = ("parquet", "json") if converting else ("json", "parquet")
        raise DeliveryStreamConflictError(
            f"delivery stream {names.delivery_stream!r} writes a {have} change log: switching it to {want} "
            "in place would put two formats under one table, which Athena cannot read. Keep "
            f"CDC_LAKE_CHANGE_LOG_FORMAT={have}, or tear the pipeline down (or use a new CDC_LAKE_PREFIX)"
        )
    update = {"DataFormatConversionConfiguration": OFF, **desired}
    retry_while_role_propagates(
        lambda: firehose.update_destination(
            DeliveryStreamName=names.delivery_stream,
            CurrentDeliveryStreamVersionId=current["VersionId"],
            DestinationId=destination_description["DestinationId"],
            # Enabled stays True (resending it is no toggle); omitting it would lose it where an update
            # replaces the whole DynamicPartitioningConfiguration.
            ExtendedS3DestinationUpdate=update,
        ),
        f"update delivery stream {names.delivery_stream} ({', '.join(differing)})",
        deployment.settings.role_propagation_timeout_seconds,
    )
    _wait_active(firehose, names.delivery_stream)
    return Outcome(RESOURCE, KIND, names.delivery_stream, "updated")


def delete_delivery_stream(deployment: Deployment) -> Outcome:
    firehose = deployment.client("firehose")
    name = deployment.names.delivery_stream
    try:
        firehose.delete_delivery_stream(DeliveryStreamName=name)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return Outcome(RESOURCE, KIND, name, "absent")
        raise
    wait_for(lambda: _describe(firehose, name) is None, f"delivery stream {name} to be deleted")
    return Outcome(RESOURCE, KIND, name, "deleted")
