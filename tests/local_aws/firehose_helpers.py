"""Fixtures and helpers of the Firehose tests, in one place.

A test module uses a fixture by importing it (and naming it in ``__all__``, so that the import
reads as used). Waits are on progress that can be seen (objects, lines, error-log entries), never
on a fixed sleep.
"""

from __future__ import annotations

import contextlib
import gzip
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.local_aws import lambda_helpers
from tests.support import unique, wait_until

ACCOUNT_ID = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/firehose-delivery"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
STAMP = r"\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}"
FAST = {"SizeInMBs": 1, "IntervalInSeconds": 0}

# A transformation function that follows Firehose's contract and reports what it was sent.
TRANSFORM = """
import base64, json

def handler(event, context):
    out = []
    for record in event["records"]:
        doc = json.loads(base64.b64decode(record["data"]))
        action = doc.get("action", "ok")
        if action == "drop":
            out.append({"recordId": record["recordId"], "result": "Dropped", "data": record["data"]})
        elif action == "fail":
            out.append({"recordId": record["recordId"], "result": "ProcessingFailed", "data": record["data"]})
        else:
            doc["seen"] = {
                "invocationId": bool(event.get("invocationId")),
                "deliveryStreamArn": event["deliveryStreamArn"],
                "region": event["region"],
                "source": event.get("sourceKinesisStreamArn"),
                "kinesis": record.get("kinesisRecordMetadata"),
                "arrival": record["approximateArrivalTimestamp"],
            }
            data = base64.b64encode(json.dumps(doc).encode()).decode()
            keys = {"tenant": doc.get("tenant", "none")}
            out.append({"recordId": record["recordId"], "result": "Ok", "data": data,
                        "metadata": {"partitionKeys": keys}})
    return {"records": out}
"""


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture
def bucket(aws: Callable[..., Any]) -> str:
    name = unique("fh-bkt")
    aws("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture
def create_stream(aws: Callable[..., Any]) -> Iterator[Callable[..., str]]:
    """Create a delivery stream (ExtendedS3 by default); deletes it afterwards."""
    created: list[str] = []

    def create(bucket: str | None = None, name: str | None = None, wait: bool = True, **kwargs: Any) -> str:
        """``wait=False`` returns while the stream is still CREATING."""
        name = name or unique("hose")
        if bucket is not None:
            destination = {"BucketARN": f"arn:aws:s3:::{bucket}", "RoleARN": ROLE}
            destination.update(kwargs.pop("destination", {}))
            kwargs.setdefault("ExtendedS3DestinationConfiguration", destination)
        aws("firehose").create_delivery_stream(DeliveryStreamName=name, **kwargs)
        created.append(name)
        if wait:
            wait_active(aws("firehose"), name)
        return name

    yield create
    for name in created:
        with contextlib.suppress(ClientError):
            aws("firehose").delete_delivery_stream(DeliveryStreamName=name)


@pytest.fixture
def kinesis_stream(aws: Callable[..., Any]) -> Iterator[tuple[str, str]]:
    """A two-shard Kinesis stream: its name and ARN."""
    name = unique("fh-source")
    aws("kinesis").create_stream(StreamName=name, ShardCount=2)
    arn = aws("kinesis").describe_stream(StreamName=name)["StreamDescription"]["StreamARN"]
    yield name, arn
    aws("kinesis").delete_stream(StreamName=name)


@pytest.fixture
def error_log(aws: Callable[..., Any]) -> Iterator[dict[str, Any]]:
    """A log group and stream for a delivery stream's CloudWatchLoggingOptions."""
    group = f"/aws/kinesisfirehose/{unique('fh-log')}"
    aws("logs").create_log_group(logGroupName=group)
    aws("logs").create_log_stream(logGroupName=group, logStreamName="DestinationDelivery")
    yield {"Enabled": True, "LogGroupName": group, "LogStreamName": "DestinationDelivery"}
    aws("logs").delete_log_group(logGroupName=group)


@pytest.fixture(scope="module")
def lambda_role(aws: Callable[..., Any]) -> str:
    """The processor functions' execution role (they call no AWS service)."""
    return lambda_helpers.lambda_role(aws("iam"), "fh-lambda")["Arn"]


def put_object_role(aws: Callable[..., Any], name: str) -> dict[str, Any]:
    """A role Firehose may assume whose own policy lets it put objects (local_aws checks both)."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "firehose.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = aws("iam").create_role(RoleName=unique(name), AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    writes = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}],
    }
    aws("iam").put_role_policy(
        RoleName=role["RoleName"], PolicyName="writes", PolicyDocument=json.dumps(writes)
    )
    return role


@pytest.fixture
def function(aws: Callable[..., Any], lambda_role: str) -> Iterator[Callable[[str], str]]:
    """Create a Python function from source; returns its ARN."""
    created: list[str] = []

    def create(source: str) -> str:
        name = unique("fh-transform")
        answer = aws("lambda").create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=lambda_role,
            Handler="app.handler",
            Code={"ZipFile": lambda_helpers.make_zip(source)},
            Timeout=30,
        )
        created.append(name)
        lambda_helpers.wait_active(aws("lambda"), name)
        return answer["FunctionArn"]

    yield create
    for name in created:
        with contextlib.suppress(ClientError):
            aws("lambda").delete_function(FunctionName=name)


def status(client: Any, name: str) -> str:
    return client.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"][
        "DeliveryStreamStatus"
    ]


def wait_active(client: Any, name: str) -> None:
    """CreateDeliveryStream answers while the stream is CREATING: wait until it is ACTIVE."""
    wait_until(lambda: status(client, name) == "ACTIVE", timeout=60, interval=0.05, what=f"{name} ACTIVE")


# -- destination configuration ------------------------------------------------------------------
def lambda_processor(arn: str, retries: int = 1, **extra: str) -> dict[str, Any]:
    params = {"LambdaArn": arn, "NumberOfRetries": str(retries), "BufferIntervalInSeconds": "60", **extra}
    return {
        "Type": "Lambda",
        "Parameters": [{"ParameterName": k, "ParameterValue": v} for k, v in params.items()],
    }


def metadata_extraction(query: str) -> dict[str, Any]:
    """The inline JSON parsing processor with a MetadataExtractionQuery such as ``{k: .field}``."""
    return {
        "Type": "MetadataExtraction",
        "Parameters": [
            {"ParameterName": "MetadataExtractionQuery", "ParameterValue": query},
            {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"},
        ],
    }


APPEND_DELIMITER = {"Type": "AppendDelimiterToRecord", "Parameters": []}


def processing(*processors: dict[str, Any]) -> dict[str, Any]:
    """An enabled ProcessingConfiguration running ``processors`` in order."""
    return {"Enabled": True, "Processors": list(processors)}


def stream_arn(aws: Callable[..., Any], name: str) -> str:
    return aws("firehose").describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"][
        "DeliveryStreamARN"
    ]


def send(aws: Callable[..., Any], name: str, records: list[bytes]) -> None:
    aws("firehose").put_record_batch(DeliveryStreamName=name, Records=[{"Data": r} for r in records])


def error_code(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


# -- what was delivered -------------------------------------------------------------------------
def objects(aws: Callable[..., Any], bucket: str, prefix: str = "") -> dict[str, bytes]:
    """Every object under ``prefix``, gunzipped where the key says so."""
    found: dict[str, bytes] = {}
    pages = aws("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for item in page.get("Contents", []):
            body = aws("s3").get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            found[item["Key"]] = gzip.decompress(body) if item["Key"].endswith(".gz") else body
    return found


def wait_objects(aws: Callable[..., Any], bucket: str, count: int = 1, prefix: str = "") -> dict[str, bytes]:
    return wait_until(
        lambda: (found := objects(aws, bucket, prefix)) and len(found) >= count and found,
        timeout=30,
        what=f"{count} objects under s3://{bucket}/{prefix}",
    )


def wait_lines(
    aws: Callable[..., Any], bucket: str, count: int, prefix: str = "", what: str = ""
) -> list[bytes]:
    """Wait until the objects under ``prefix`` hold ``count`` lines; every delivered line, newline kept."""

    def delivered() -> list[bytes]:
        found = [
            line for body in objects(aws, bucket, prefix).values() for line in body.splitlines(keepends=True)
        ]
        return found if len(found) >= count else []

    return wait_until(delivered, timeout=60, what=what or f"{count} lines under s3://{bucket}/{prefix}")


def lines(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.splitlines() if line.strip()]


# -- the error log and bucket policies ----------------------------------------------------------
def logged_errors(aws: Callable[..., Any], options: dict[str, Any]) -> list[dict[str, Any]]:
    events = aws("logs").get_log_events(
        logGroupName=options["LogGroupName"], logStreamName=options["LogStreamName"], startFromHead=True
    )["events"]
    return [json.loads(event["message"]) for event in events]


def wait_for_errors(
    aws: Callable[..., Any], options: dict[str, Any], count: int = 1, code: str = "S3.AccessDenied"
) -> list[dict[str, Any]]:
    """Wait until the error log holds ``count`` entries with ``code`` (progress, not a sleep)."""
    return wait_until(
        lambda: (
            len(found := [e for e in logged_errors(aws, options) if e["errorCode"] == code]) >= count
            and found
        ),
        timeout=60,
        what=f"{count} {code} entries in {options['LogGroupName']}",
    )


def deny(principal: Any, resource: str, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Principal": principal, "Action": "s3:PutObject", "Resource": resource, **extra}


def put_policy(client: Any, bucket: str, *statements: dict[str, Any]) -> None:
    client.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    )


# -- record format conversion (Glue table schema, Parquet out) -----------------------------------
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
# AWS's smallest buffer with format conversion; IntervalInSeconds 0 flushes at once.
CONVERSION_HINTS = {"SizeInMBs": 64, "IntervalInSeconds": 0}


@pytest.fixture
def glue_database(aws: Callable[..., Any]) -> Iterator[str]:
    """A Glue database for the tables a conversion reads; dropped afterwards."""
    name = unique("fh_schema").replace("-", "_")
    aws("glue").create_database(DatabaseInput={"Name": name})
    yield name
    with contextlib.suppress(ClientError):
        aws("glue").delete_database(Name=name)


def parquet_table(
    aws: Callable[..., Any],
    database: str,
    name: str,
    columns: list[tuple[str, str]],
    location: str,
    partition_keys: list[tuple[str, str]] | None = None,
) -> None:
    """A Glue table of Parquet files at ``location``: the schema a conversion reads, and Athena's table."""
    table: dict[str, Any] = {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "StorageDescriptor": {
            "Columns": [{"Name": column, "Type": kind} for column, kind in columns],
            "Location": location,
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE},
        },
    }
    if partition_keys:
        table["PartitionKeys"] = [{"Name": key, "Type": kind} for key, kind in partition_keys]
    aws("glue").create_table(DatabaseName=database, TableInput=table)


def conversion(
    database: str,
    table: str,
    role: str = ROLE,
    serializer: dict[str, Any] | None = None,
    deserializer: dict[str, Any] | None = None,
    **schema: Any,
) -> dict[str, Any]:
    """A DataFormatConversionConfiguration: OpenX JSON in, Parquet (Snappy) out, by default."""
    return {
        "Enabled": True,
        "SchemaConfiguration": {"DatabaseName": database, "TableName": table, "RoleARN": role, **schema},
        "InputFormatConfiguration": {"Deserializer": deserializer or {"OpenXJsonSerDe": {}}},
        "OutputFormatConfiguration": {"Serializer": serializer or {"ParquetSerDe": {}}},
    }


def athena_rows(aws: Callable[..., Any], database: str, output: str, sql: str) -> list[list[str | None]]:
    """The rows of a local Athena query (header first), once it has succeeded."""
    athena = aws("athena")
    execution_id = athena.start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": database},
        ResultConfiguration={"OutputLocation": output},
    )["QueryExecutionId"]

    def finished() -> dict[str, Any] | None:
        state = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]["Status"]
        return state if state["State"] in ("SUCCEEDED", "FAILED", "CANCELLED") else None

    status = wait_until(finished, timeout=60, interval=0.05, what=f"query {execution_id}")
    assert status["State"] == "SUCCEEDED", status
    result = athena.get_query_results(QueryExecutionId=execution_id)
    return [[cell.get("VarCharValue") for cell in row["Data"]] for row in result["ResultSet"]["Rows"]]
