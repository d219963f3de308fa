"""The whole CDC path on local_aws, as a boto3 user builds and checks it.

DynamoDB table (NEW_AND_OLD_IMAGES stream) -> EventBridge Pipe -> Kinesis -> Firehose with a Lambda
processor and Hive-style dynamic partitions -> S3 -> Glue crawler -> Athena. Only boto3 calls:
nothing here imports local_aws, so the test fails if any hop is missing or misbehaves.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import textwrap
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import unique, wait_until

# The processor a user would write: flatten DynamoDB JSON into one row per change, keep what is
# needed to find the latest change per key (sequence number, event name), partition by the
# order's year and month, and fail any record whose item does not have the expected shape.
PROCESSOR = """
import base64, json

def flatten(change):
    dynamodb = change["dynamodb"]
    image = dynamodb["OldImage"] if change["eventName"] == "REMOVE" else dynamodb["NewImage"]
    row = {
        "orderid": image["orderid"]["S"],
        "product": image["product"]["S"],
        "quantity": int(image["quantity"]["N"]),
        "price": image["price"]["N"],  # text, so the decimal stays exact
        "order_date": image["order_date"]["S"],
        "event_name": change["eventName"],
        # Stream sequence numbers are up to 40 digits: padded, text order is numeric order.
        "sequence_number": dynamodb["SequenceNumber"].zfill(40),
    }
    year, month, _ = row["order_date"].split("-")
    return row, {"year": year, "month": month}

def handler(event, context):
    answers = []
    for record in event["records"]:
        try:
            row, keys = flatten(json.loads(base64.b64decode(record["data"])))
        except (KeyError, ValueError, TypeError):
            answers.append({"recordId": record["recordId"], "result": "ProcessingFailed", "data": record["data"]})
            continue
        answers.append({
            "recordId": record["recordId"],
            "result": "Ok",
            "data": base64.b64encode(json.dumps(row).encode()).decode(),
            "metadata": {"partitionKeys": keys},
        })
    return {"records": answers}
"""

# Latest change per key by sequence number; a key whose latest change is a delete is gone.
CURRENT_STATE_SQL = """
SELECT orderid, product, quantity, price, order_date
FROM (
    SELECT *, row_number() OVER (PARTITION BY orderid ORDER BY sequence_number DESC) AS recency
    FROM "{table}"
)
WHERE recency = 1 AND event_name <> 'REMOVE'
ORDER BY orderid
"""


def trust(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": f"{service}.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


def zip_of(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("processor.py", textwrap.dedent(source))
    return buffer.getvalue()


def item(orderid: str, product: str, quantity: int, price: str, order_date: str) -> dict[str, Any]:
    return {
        "orderid": {"S": orderid},
        "product": {"S": product},
        "quantity": {"N": str(quantity)},
        "price": {"N": price},
        "order_date": {"S": order_date},
    }


def ndjson_lines(aws: Callable[..., Any], bucket: str, prefix: str) -> list[tuple[str, dict[str, Any]]]:
    """(key, record) for every line of every object under ``prefix``."""
    found = []
    for page in aws("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            body = aws("s3").get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
            found += [(entry["Key"], json.loads(line)) for line in body.splitlines() if line.strip()]
    return found


@pytest.fixture
def cleanup(aws: Callable[..., Any]) -> Iterator[list[Callable[[], Any]]]:
    """Undo steps, run last-first after the test, so the shared server's workers go quiet."""
    steps: list[Callable[[], Any]] = []
    yield steps
    for step in reversed(steps):
        with contextlib.suppress(ClientError):
            step()


def test_changes_flow_from_dynamodb_to_athena_with_updates_deletes_and_a_failed_record(
    aws: Callable[..., Any], cleanup: list[Callable[[], Any]]
) -> None:
    iam, ddb, kinesis, lam = aws("iam"), aws("dynamodb"), aws("kinesis"), aws("lambda")
    pipes, firehose, s3, glue, athena = aws("pipes"), aws("firehose"), aws("s3"), aws("glue"), aws("athena")

    # -- build the pipeline ------------------------------------------------------------------
    roles = {
        service: iam.create_role(RoleName=unique(f"e2e-{service}"), AssumeRolePolicyDocument=trust(service))[
            "Role"
        ]["Arn"]
        for service in ("pipes", "firehose", "lambda", "glue")
    }
    # local_aws checks service roles (local_aws.iam); this test is about the data path, not permissions.
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    for arn in roles.values():
        iam.put_role_policy(
            RoleName=arn.rsplit("/", 1)[-1], PolicyName="all", PolicyDocument=json.dumps(everything)
        )
    bucket, results = unique("e2e-lake"), unique("e2e-results")
    s3.create_bucket(Bucket=bucket)
    s3.create_bucket(Bucket=results)

    table = unique("e2e-orders")
    stream_arn = ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "orderid", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "orderid", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    cleanup.append(lambda: ddb.delete_table(TableName=table))

    changes = unique("e2e-changes")
    kinesis.create_stream(StreamName=changes, ShardCount=2)
    cleanup.append(lambda: kinesis.delete_stream(StreamName=changes))
    changes_arn = wait_until(
        lambda: (
            (s := kinesis.describe_stream_summary(StreamName=changes)["StreamDescriptionSummary"])[
                "StreamStatus"
            ]
            == "ACTIVE"
            and s["StreamARN"]
        ),
        timeout=30,
        what="Kinesis stream ACTIVE",
    )

    function = unique("e2e-flatten")
    processor_arn = lam.create_function(
        FunctionName=function,
        Runtime="python3.11",
        Role=roles["lambda"],
        Handler="processor.handler",
        Code={"ZipFile": zip_of(PROCESSOR)},
        Timeout=60,
    )["FunctionArn"]
    cleanup.append(lambda: lam.delete_function(FunctionName=function))
    wait_until(
        lambda: lam.get_function(FunctionName=function)["Configuration"]["State"] == "Active",
        timeout=30,
        what="processor Active",
    )

    # Firehose reads its Kinesis source from LATEST, so it exists before the first change.
    hose = unique("e2e-hose")
    firehose.create_delivery_stream(
        DeliveryStreamName=hose,
        DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": changes_arn, "RoleARN": roles["firehose"]},
        ExtendedS3DestinationConfiguration={
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "RoleARN": roles["firehose"],
            "Prefix": "data/year=!{partitionKeyFromLambda:year}/month=!{partitionKeyFromLambda:month}/",
            "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/",
            "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 1},
            "DynamicPartitioningConfiguration": {"Enabled": True},
            "ProcessingConfiguration": {
                "Enabled": True,
                "Processors": [
                    {
                        "Type": "Lambda",
                        "Parameters": [
                            {"ParameterName": "LambdaArn", "ParameterValue": processor_arn},
                            {"ParameterName": "NumberOfRetries", "ParameterValue": "1"},
                            {"ParameterName": "BufferIntervalInSeconds", "ParameterValue": "1"},
                        ],
                    },
                    {"Type": "AppendDelimiterToRecord", "Parameters": []},
                ],
            },
        },
    )
    cleanup.append(lambda: firehose.delete_delivery_stream(DeliveryStreamName=hose))
    wait_until(
        lambda: (
            firehose.describe_delivery_stream(DeliveryStreamName=hose)["DeliveryStreamDescription"][
                "DeliveryStreamStatus"
            ]
            == "ACTIVE"
        ),
        timeout=30,
        what="delivery stream ACTIVE",
    )

    pipe = unique("e2e-pipe")
    pipes.create_pipe(
        Name=pipe,
        Source=stream_arn,
        Target=changes_arn,
        RoleArn=roles["pipes"],
        SourceParameters={"DynamoDBStreamParameters": {"StartingPosition": "TRIM_HORIZON", "BatchSize": 10}},
        # The table key as partition key: one order's changes stay in order on one shard.
        TargetParameters={"KinesisStreamParameters": {"PartitionKey": "$.dynamodb.Keys.orderid.S"}},
    )
    cleanup.append(lambda: pipes.delete_pipe(Name=pipe))
    wait_until(
        lambda: pipes.describe_pipe(Name=pipe)["CurrentState"] == "RUNNING", timeout=30, what="pipe RUNNING"
    )

    database = unique("e2e_db").replace("-", "_")
    glue.create_database(DatabaseInput={"Name": database})
    cleanup.append(lambda: glue.delete_database(Name=database))
    crawler = unique("e2e-crawler")
    glue.create_crawler(
        Name=crawler,
        Role=roles["glue"],
        DatabaseName=database,
        Targets={"S3Targets": [{"Path": f"s3://{bucket}/data/"}]},
    )
    cleanup.append(lambda: glue.delete_crawler(Name=crawler))

    # -- change the table ----------------------------------------------------------------------
    writes = 0

    def put(new: dict[str, Any]) -> None:
        nonlocal writes
        ddb.put_item(TableName=table, Item=new)
        writes += 1

    def update(orderid: str, expression: str, values: dict[str, Any]) -> None:
        nonlocal writes
        ddb.update_item(
            TableName=table,
            Key={"orderid": {"S": orderid}},
            UpdateExpression=expression,
            ExpressionAttributeValues=values,
        )
        writes += 1

    def delete(orderid: str) -> None:
        nonlocal writes
        ddb.delete_item(TableName=table, Key={"orderid": {"S": orderid}})
        writes += 1

    products = ["anvil", "bolt", "crate", "drill", "easel", "flask"]
    for n in range(24):
        year = 2023 + n % 2
        put(
            item(
                f"o{n:02d}",
                products[n % 6],
                1 + n % 5,
                f"{n + 1}.{n % 10}5",
                f"{year}-{1 + n % 3:02d}-1{n % 9}",
            )
        )
    for n in (1, 4, 7, 10, 13):
        update(f"o{n:02d}", "SET quantity = quantity + :more", {":more": {"N": "10"}})
    update("o04", "SET price = :price", {":price": {"N": "0.10"}})  # a second change to one order
    update("o07", "SET order_date = :date", {":date": {"S": "2025-12-31"}})  # moves to a new partition
    for n in (2, 10, 20):
        delete(f"o{n:02d}")
    put(item("o02", "anvil", 9, "99.99", "2024-02-02"))  # deleted, then written again
    # An item whose shape the processor rejects (quantity is text), later corrected by its writer.
    bad = {**item("o99", "gizmo", 1, "1.00", "2024-03-03"), "quantity": {"S": "a dozen"}}
    put(bad)
    update("o99", "SET quantity = :q", {":q": {"N": "12"}})

    # -- wait for delivery: every change is a data line or the one error record ----------------
    def delivered() -> bool:
        # Distinct changes, so that a redelivered one (at-least-once) is not counted twice.
        changes = {row["sequence_number"] for _, row in ndjson_lines(aws, bucket, "data/")}
        return len(changes) + len(ndjson_lines(aws, bucket, "errors/")) >= writes

    wait_until(delivered, timeout=60, interval=0.5, what=f"{writes} changes in s3://{bucket}/")

    rows = ndjson_lines(aws, bucket, "data/")
    for key, row in rows:
        year, month = row["order_date"][:4], row["order_date"][5:7]
        assert key.startswith(f"data/year={year}/month={month}/"), (key, row)
    assert {row["event_name"] for _, row in rows} == {"INSERT", "MODIFY", "REMOVE"}

    (error_key, error), *more = ndjson_lines(aws, bucket, "errors/")
    assert not more, "only the malformed item fails"
    assert error_key.startswith("errors/processing-failed/")
    assert error["errorCode"] == "Lambda.ProcessingFailed"
    assert error["lambdaArn"] == processor_arn
    original = json.loads(base64.b64decode(error["rawData"]))
    assert original["eventName"] == "INSERT"
    assert original["dynamodb"]["NewImage"] == bad

    # -- crawl, then ask Athena for the current state ------------------------------------------
    glue.start_crawler(Name=crawler)
    wait_until(
        lambda: (
            glue.get_crawler(Name=crawler)["Crawler"]["State"] == "READY"
            and glue.get_crawler(Name=crawler)["Crawler"].get("LastCrawl", {}).get("Status")
        ),
        timeout=60,
        what="crawl finished",
    )
    assert glue.get_crawler(Name=crawler)["Crawler"]["LastCrawl"]["Status"] == "SUCCEEDED"
    (catalog_table,) = glue.get_tables(DatabaseName=database)["TableList"]
    assert [key["Name"] for key in catalog_table["PartitionKeys"]] == ["year", "month"]
    partitions = glue.get_partitions(DatabaseName=database, TableName=catalog_table["Name"])["Partitions"]
    assert {tuple(p["Values"]) for p in partitions} == {
        (row["order_date"][:4], row["order_date"][5:7]) for _, row in rows
    }

    execution_id = athena.start_query_execution(
        QueryString=CURRENT_STATE_SQL.format(table=catalog_table["Name"]),
        QueryExecutionContext={"Database": database},
        ResultConfiguration={"OutputLocation": f"s3://{results}/queries/"},
    )["QueryExecutionId"]
    status = wait_until(
        lambda: (
            (s := athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]["Status"])[
                "State"
            ]
            in ("SUCCEEDED", "FAILED", "CANCELLED")
            and s
        ),
        timeout=60,
        what="Athena query",
    )
    assert status["State"] == "SUCCEEDED", status
    answer = []
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=execution_id):
        answer += [
            tuple(cell.get("VarCharValue") for cell in row["Data"]) for row in page["ResultSet"]["Rows"]
        ]
    header, *lake_state = answer
    assert header == ("orderid", "product", "quantity", "price", "order_date")

    scanned = []
    for page in ddb.get_paginator("scan").paginate(TableName=table):
        scanned += page["Items"]
    table_state = sorted(
        (i["orderid"]["S"], i["product"]["S"], i["quantity"]["N"], i["price"]["N"], i["order_date"]["S"])
        for i in scanned
    )
    assert len(table_state) == 24 - 3 + 1 + 1  # three deleted, one re-inserted, one corrected
    assert lake_state == table_state
