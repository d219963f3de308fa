"""The source table: on-demand, keyed by the dataset's key, with Streams NEW_AND_OLD_IMAGES."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from cdc_pipeline.provision.context import Deployment
from cdc_pipeline.provision.outcome import Outcome
from cdc_pipeline.provision.waiting import error_code, wait_for

KIND = "dynamodb:table"
RESOURCE = "table"
STREAM_VIEW_TYPE = "NEW_AND_OLD_IMAGES"


class TableStreamError(RuntimeError):
    """An existing table's stream is not what the pipeline needs; we do not change it silently."""


def describe_table(dynamodb: Any, table: str) -> dict[str, Any] | None:
    try:
        return dynamodb.describe_table(TableName=table)["Table"]
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise


def _active(dynamodb: Any, table: str) -> dict[str, Any] | None:
    description = describe_table(dynamodb, table)
    return description if description and description["TableStatus"] == "ACTIVE" else None


def ensure_table(deployment: Deployment) -> Outcome:
    """Create the table with its stream; check an existing one and never toggle its stream.

    Disabling and re-enabling a stream gives the table a new stream ARN, which would orphan the Pipe
    reading the old one (and lose the changes in between), so an existing table whose stream is off or
    has another view type is an error that says what to do.
    """
    dynamodb = deployment.client("dynamodb")
    name = deployment.names.table
    key = deployment.definition.key_attribute
    table = describe_table(dynamodb, name)
    if table is None:
        dynamodb.create_table(
            TableName=name,
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": STREAM_VIEW_TYPE},
            Tags=[{"Key": "cdc-lake:dataset", "Value": deployment.definition.name}],
        )
        wait_for(lambda: _active(dynamodb, name), f"table {name} to become ACTIVE")
        return Outcome(RESOURCE, KIND, name, "created")

    key_schema = [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]]
    if key_schema != [(key, "HASH")]:
        raise TableStreamError(
            f"table {name!r} exists with key schema {key_schema}, but the pipeline needs the single "
            f"partition key {key!r}: delete the table or choose another CDC_LAKE_PREFIX"
        )
    stream = table.get("StreamSpecification") or {}
    if not stream.get("StreamEnabled"):
        raise TableStreamError(
            f"table {name!r} exists with DynamoDB Streams disabled; the pipeline reads its changes from "
            f"a {STREAM_VIEW_TYPE} stream. Enable it yourself (aws dynamodb update-table --table-name "
            f"{name} --stream-specification StreamEnabled=true,StreamViewType={STREAM_VIEW_TYPE}) "
            "and provision again; changes made before that are not in the stream."
        )
    if stream.get("StreamViewType") != STREAM_VIEW_TYPE:
        raise TableStreamError(
            f"table {name!r} has a {stream.get('StreamViewType')} stream; the pipeline needs "
            f"{STREAM_VIEW_TYPE} (REMOVE needs the old image, INSERT/MODIFY the new one). Changing the "
            "view type means disabling the stream, which orphans any reader of it: tear the pipeline "
            "down first, switch the stream yourself, then provision again."
        )
    billing = (table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
    if billing != "PAY_PER_REQUEST":
        dynamodb.update_table(TableName=name, BillingMode="PAY_PER_REQUEST")
        wait_for(lambda: _active(dynamodb, name), f"table {name} to become ACTIVE")
        return Outcome(RESOURCE, KIND, name, "updated")
    return Outcome(RESOURCE, KIND, name, "unchanged")


def latest_stream_arn(deployment: Deployment) -> str:
    """The table's current stream ARN (the Pipe's source)."""
    table = describe_table(deployment.client("dynamodb"), deployment.names.table)
    if not table or not table.get("LatestStreamArn"):
        raise TableStreamError(f"table {deployment.names.table!r} has no stream: provision the table first")
    return table["LatestStreamArn"]


def delete_table(deployment: Deployment) -> Outcome:
    dynamodb = deployment.client("dynamodb")
    name = deployment.names.table
    try:
        dynamodb.delete_table(TableName=name)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return Outcome(RESOURCE, KIND, name, "absent")
        raise
    wait_for(lambda: describe_table(dynamodb, name) is None, f"table {name} to be deleted")
    return Outcome(RESOURCE, KIND, name, "deleted")
