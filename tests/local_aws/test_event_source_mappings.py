"""Kinesis (and DynamoDB stream) -> Lambda event source mappings, as a boto3 user sees them.

The consumer is a real handler that writes each batch it accepts to S3 through boto3, the
seed's producer -> Kinesis -> Lambda -> S3 topology.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.local_aws.lambda_helpers import lambda_role, make_zip, wait_for_progress, wait_mapping
from tests.support import unique, wait_until

CONSUMER = """
import base64, json, os, uuid
import boto3

s3 = boto3.client("s3")
BUCKET, PREFIX = os.environ["BUCKET"], os.environ["PREFIX"]


def _first_time(marker):
    try:
        s3.head_object(Bucket=BUCKET, Key=marker)
        return False
    except Exception:
        s3.put_object(Bucket=BUCKET, Key=marker, Body=b"")
        return True


def _deliver(records):
    if not records:
        return
    shard, first = records[0]["eventID"].split(":")
    key = f"{PREFIX}/{shard}/{int(first):030d}-{uuid.uuid4().hex}.json"
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(records).encode())


def handler(event, context):
    accepted = []
    for record in event["Records"]:
        body = json.loads(base64.b64decode(record["kinesis"]["data"]))
        mode = body.get("mode")
        if mode == "poison":
            raise ValueError("poison record " + record["kinesis"]["sequenceNumber"])
        if mode in ("fail-once", "report-once") and _first_time(f"{PREFIX}-markers/{record['eventID']}"):
            if mode == "fail-once":
                raise RuntimeError("first attempt fails")
            _deliver(accepted)
            return {"batchItemFailures": [{"itemIdentifier": record["kinesis"]["sequenceNumber"]}]}
        accepted.append(record)
    _deliver(accepted)
    return {"batchItemFailures": []}
"""


def consumer_zip() -> bytes:
    return make_zip(CONSUMER, module="consumer")


@pytest.fixture(scope="module")
def role_arn(aws: Callable[..., Any]) -> str:
    # local_aws checks the execution role (local_aws.iam): Lambda must be trusted, and the role must
    # read the streams and let the handlers write their output.
    return lambda_role(aws("iam"), "esm-role", ["*"])["Arn"]


@pytest.fixture(scope="module")
def bucket(aws: Callable[..., Any]) -> str:
    name = unique("esm-lake")
    aws("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture
def consumer(aws: Callable[..., Any], role_arn: str, bucket: str) -> Iterator[Callable[[str], str]]:
    """``consumer(prefix)``: a function that writes accepted batches under ``prefix/``."""
    created: list[str] = []

    def create(prefix: str) -> str:
        name = unique("consumer")
        aws("lambda").create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=role_arn,
            Handler="consumer.handler",
            Code={"ZipFile": consumer_zip()},
            Timeout=30,
            Environment={"Variables": {"BUCKET": bucket, "PREFIX": prefix}},
        )
        created.append(name)
        return name

    yield create
    for mapping in aws("lambda").list_event_source_mappings()["EventSourceMappings"]:
        if mapping["FunctionArn"].rsplit(":", 1)[-1] in created and mapping["State"] != "Deleting":
            # A mapping being created or updated cannot be deleted until that is over.
            wait_mapping(aws("lambda"), mapping["UUID"])
            aws("lambda").delete_event_source_mapping(UUID=mapping["UUID"])
    for name in created:
        aws("lambda").delete_function(FunctionName=name)


@pytest.fixture
def stream(aws: Callable[..., Any]) -> Callable[..., str]:
    def create(shards: int = 1) -> str:
        name = unique("events")
        aws("kinesis").create_stream(StreamName=name, ShardCount=shards)
        return aws("kinesis").describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
            "StreamARN"
        ]

    return create


def put(aws: Callable[..., Any], stream_arn: str, body: dict[str, Any], key: str = "k") -> dict[str, Any]:
    return aws("kinesis").put_record(StreamARN=stream_arn, Data=json.dumps(body).encode(), PartitionKey=key)


def delivered(aws: Callable[..., Any], bucket: str, prefix: str) -> list[dict[str, Any]]:
    """Every record the consumer accepted under ``prefix``, batch by batch in shard order."""
    records = []
    paginator = aws("s3").get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}/"):
        for item in page.get("Contents", []):
            records.extend(json.loads(aws("s3").get_object(Bucket=bucket, Key=item["Key"])["Body"].read()))
    return records


def numbers(records: list[dict[str, Any]]) -> list[int]:
    return [json.loads(base64.b64decode(r["kinesis"]["data"]))["n"] for r in records]


def objects_under(aws: Callable[..., Any], bucket: str, prefix: str) -> int:
    """How many objects the consumer has written under ``prefix`` (batches and retry markers)."""
    return aws("s3").list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount", 0)


def wait_for_numbers(aws, bucket, prefix, expected: set[int]) -> list[dict[str, Any]]:
    """Wait while the consumer keeps writing under ``prefix`` until it has delivered ``expected``."""
    return wait_for_progress(
        lambda: (records := delivered(aws, bucket, prefix)) and expected <= set(numbers(records)) and records,
        progress=lambda: objects_under(aws, bucket, prefix),
        what=f"records {sorted(expected)} under {prefix}",
    )


def test_records_arrive_in_order_per_shard_with_the_kinesis_event_shape(aws, bucket, consumer, stream):
    stream_arn = stream(shards=2)
    function = consumer("ordered")
    mapping = aws("lambda").create_event_source_mapping(
        EventSourceArn=stream_arn, FunctionName=function, StartingPosition="TRIM_HORIZON", BatchSize=7
    )
    assert mapping["State"] == "Creating"
    sent = {}
    for n in range(40):
        response = put(aws, stream_arn, {"n": n}, key=f"key-{n % 5}")
        sent[n] = (response["ShardId"], response["SequenceNumber"], f"key-{n % 5}")
    records = wait_for_numbers(aws, bucket, "ordered", set(sent))

    assert sorted(numbers(records)) == list(range(40)), "each record once when nothing fails"
    for shard_id in {shard for shard, _, _ in sent.values()}:
        in_shard = [r for r in records if r["eventID"].startswith(shard_id + ":")]
        assert numbers(in_shard) == sorted(n for n, (shard, _, _) in sent.items() if shard == shard_id)

    record = next(r for r in records if numbers([r]) == [3])
    shard_id, sequence, partition_key = sent[3]
    assert record["eventSource"] == "aws:kinesis"
    assert record["eventName"] == "aws:kinesis:record"
    assert record["eventVersion"] == "1.0"
    assert record["eventID"] == f"{shard_id}:{sequence}"
    assert record["eventSourceARN"] == stream_arn
    assert record["awsRegion"] == "us-east-1"
    assert record["invokeIdentityArn"].startswith("arn:aws:iam::")
    assert record["kinesis"]["kinesisSchemaVersion"] == "1.0"
    assert record["kinesis"]["partitionKey"] == partition_key
    assert record["kinesis"]["sequenceNumber"] == sequence
    assert isinstance(record["kinesis"]["approximateArrivalTimestamp"], float)
    assert json.loads(base64.b64decode(record["kinesis"]["data"])) == {"n": 3}

    state = aws("lambda").get_event_source_mapping(UUID=mapping["UUID"])
    assert state["LastProcessingResult"] == "OK"
    assert state["BatchSize"] == 7


def test_a_failing_batch_is_retried_without_breaking_order(aws, bucket, consumer, stream):
    stream_arn = stream()
    function = consumer("retried")
    aws("lambda").create_event_source_mapping(
        EventSourceArn=stream_arn, FunctionName=function, StartingPosition="TRIM_HORIZON", BatchSize=3
    )
    for n in range(6):
        put(aws, stream_arn, {"n": n, "mode": "fail-once" if n == 4 else None})
    records = wait_for_numbers(aws, bucket, "retried", set(range(6)))
    assert numbers(records) == list(range(6))


def test_report_batch_item_failures_retries_from_the_failed_item(aws, bucket, consumer, stream):
    stream_arn = stream()
    function = consumer("partial")
    aws("lambda").create_event_source_mapping(
        EventSourceArn=stream_arn,
        FunctionName=function,
        StartingPosition="TRIM_HORIZON",
        BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    for n in range(6):
        put(aws, stream_arn, {"n": n, "mode": "report-once" if n == 2 else None})
    records = wait_for_numbers(aws, bucket, "partial", set(range(6)))
    # Records before the failed one are not redelivered; the failed one and the rest come again.
    assert numbers(records) == list(range(6))


def test_poison_record_is_skipped_after_retries_with_bisect(aws, bucket, consumer, stream):
    stream_arn = stream()
    function = consumer("bisect")
    mapping = aws("lambda").create_event_source_mapping(
        EventSourceArn=stream_arn,
        FunctionName=function,
        StartingPosition="TRIM_HORIZON",
        BatchSize=5,
        MaximumRetryAttempts=2,
        BisectBatchOnFunctionError=True,
    )
    for n in range(5):
        put(aws, stream_arn, {"n": n, "mode": "poison" if n == 2 else None})
    put(aws, stream_arn, {"n": 5})
    records = wait_for_numbers(aws, bucket, "bisect", {0, 1, 3, 4, 5})
    assert numbers(records) == [0, 1, 3, 4, 5]
    config = aws("lambda").get_event_source_mapping(UUID=mapping["UUID"])
    assert config["MaximumRetryAttempts"] == 2 and config["BisectBatchOnFunctionError"] is True


def test_latest_skips_older_records(aws, bucket, consumer, stream):
    stream_arn = stream()
    put(aws, stream_arn, {"n": 0})
    function = consumer("latest")
    aws("lambda").create_event_source_mapping(
        EventSourceArn=stream_arn, FunctionName=function, StartingPosition="LATEST", BatchSize=10
    )
    put(aws, stream_arn, {"n": 1})
    records = wait_for_numbers(aws, bucket, "latest", {1})
    assert numbers(records) == [1]


def test_disabling_stops_delivery_and_enabling_resumes_from_the_checkpoint(aws, bucket, consumer, stream):
    stream_arn = stream()
    watched = aws("lambda").create_event_source_mapping(
        EventSourceArn=stream_arn, FunctionName=consumer("toggled"), StartingPosition="TRIM_HORIZON"
    )
    put(aws, stream_arn, {"n": 0})
    wait_for_numbers(aws, bucket, "toggled", {0})

    updated = aws("lambda").update_event_source_mapping(UUID=watched["UUID"], Enabled=False)
    assert updated["State"] == "Disabling"
    # A second mapping on the same stream shows when records were there to be polled.
    aws("lambda").create_event_source_mapping(
        EventSourceArn=stream_arn, FunctionName=consumer("canary"), StartingPosition="TRIM_HORIZON"
    )
    put(aws, stream_arn, {"n": 1})
    wait_for_numbers(aws, bucket, "canary", {0, 1})
    assert numbers(delivered(aws, bucket, "toggled")) == [0]

    aws("lambda").update_event_source_mapping(UUID=watched["UUID"], Enabled=True)
    records = wait_for_numbers(aws, bucket, "toggled", {0, 1})
    assert numbers(records) == [0, 1]

    assert aws("lambda").delete_event_source_mapping(UUID=watched["UUID"])["State"] == "Deleting"
    put(aws, stream_arn, {"n": 2})
    wait_for_numbers(aws, bucket, "canary", {0, 1, 2})
    assert numbers(delivered(aws, bucket, "toggled")) == [0, 1]

    def gone() -> str | None:
        try:
            aws("lambda").get_event_source_mapping(UUID=watched["UUID"])
        except ClientError as error:
            return error.response["Error"]["Code"]
        return None

    assert wait_until(gone, timeout=60, what="the deleted mapping to be gone") == "ResourceNotFoundException"


def test_dynamodb_stream_source(aws, bucket, role_arn, monkeypatch):
    monkeypatch.setenv("LOCAL_AWS_DYNAMODB_TTL_SWEEP_SECONDS", "0.1")
    table = unique("orders")
    aws("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "orderid", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "orderid", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    stream_arn = aws("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    source = """
        import json, os, boto3
        def handler(event, context):
            first = event["Records"][0]["dynamodb"]["SequenceNumber"]
            boto3.client("s3").put_object(
                Bucket=os.environ["BUCKET"], Key=f"ddb/{int(first):030d}.json", Body=json.dumps(event).encode()
            )
    """
    function = unique("ddb-consumer")
    aws("lambda").create_function(
        FunctionName=function,
        Runtime="python3.12",
        Role=role_arn,
        Handler="ddb.handler",
        Code={"ZipFile": make_zip(source, module="ddb")},
        Timeout=30,
        Environment={"Variables": {"BUCKET": bucket}},
    )
    mapping = aws("lambda").create_event_source_mapping(
        EventSourceArn=stream_arn, FunctionName=function, StartingPosition="TRIM_HORIZON", BatchSize=10
    )
    ddb = aws("dynamodb")
    ddb.put_item(TableName=table, Item={"orderid": {"S": "o1"}, "quantity": {"N": "1"}})
    ddb.put_item(TableName=table, Item={"orderid": {"S": "o1"}, "quantity": {"N": "2"}})
    ddb.delete_item(TableName=table, Key={"orderid": {"S": "o1"}})
    # An item past its Time to Live: DynamoDB deletes it, and says so in the record's userIdentity.
    ddb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"}
    )
    ddb.put_item(TableName=table, Item={"orderid": {"S": "o2"}, "expires": {"N": str(int(time.time()) - 60)}})

    def events() -> list[dict[str, Any]]:
        found = []
        for item in aws("s3").list_objects_v2(Bucket=bucket, Prefix="ddb/").get("Contents", []):
            body = aws("s3").get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            found.extend(json.loads(body)["Records"])
        return found if len(found) >= 5 else []

    records = wait_for_progress(
        events, progress=lambda: objects_under(aws, bucket, "ddb/"), what="five DynamoDB stream records"
    )
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE", "INSERT", "REMOVE"]
    assert "userIdentity" not in records[2], "a delete made by a client carries no identity"
    assert records[4]["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    assert all(r["eventSource"] == "aws:dynamodb" and r["eventSourceARN"] == stream_arn for r in records)
    assert records[1]["dynamodb"]["OldImage"]["quantity"] == {"N": "1"}
    assert records[1]["dynamodb"]["NewImage"]["quantity"] == {"N": "2"}
    assert records[0]["dynamodb"]["Keys"] == {"orderid": {"S": "o1"}}
    aws("lambda").delete_event_source_mapping(UUID=mapping["UUID"])
    aws("lambda").delete_function(FunctionName=function)


RESTART_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, time, boto3
    sys.path.insert(0, os.environ["TEST_ROOT"])
    from local_aws import LocalAWS
    from tests.local_aws.lambda_helpers import lambda_role
    from tests.local_aws.test_event_source_mappings import consumer_zip

    phase, state_dir = sys.argv[1], sys.argv[2]
    aws = LocalAWS(port=0, state_dir=state_dir, snapshot_interval=3600).start()
    kw = dict(endpoint_url=aws.endpoint_url, region_name="us-east-1")
    lam, kinesis, s3 = boto3.client("lambda", **kw), boto3.client("kinesis", **kw), boto3.client("s3", **kw)

    def numbers(prefix="out"):
        found = []
        for item in s3.list_objects_v2(Bucket="lake", Prefix=f"{prefix}/").get("Contents", []):
            for record in json.loads(s3.get_object(Bucket="lake", Key=item["Key"])["Body"].read()):
                found.append(json.loads(__import__("base64").b64decode(record["kinesis"]["data"]))["n"])
        return found

    def wait_for(expected, prefix="out"):
        # As long as records keep arriving; 60 s with nothing new means the poller stopped.
        seen, last_move = len(numbers(prefix)), time.monotonic()
        while not expected <= set(numbers(prefix)):
            if len(numbers(prefix)) != seen:
                seen, last_move = len(numbers(prefix)), time.monotonic()
            elif time.monotonic() - last_move > 60:
                raise SystemExit(f"no progress for 60 s waiting for {expected}: {numbers(prefix)}")
            time.sleep(0.2)

    def consumer(name, prefix):
        lam.create_function(
            FunctionName=name, Runtime="python3.11", Role=role, Handler="consumer.handler",
            Code={"ZipFile": consumer_zip()}, Timeout=30,
            Environment={"Variables": {"BUCKET": "lake", "PREFIX": prefix}},
        )

    if phase == "first":
        role = lambda_role(boto3.client("iam", **kw), "r", ["*"])["Arn"]
        s3.create_bucket(Bucket="lake")
        consumer("consumer", "out")
        kinesis.create_stream(StreamName="events", ShardCount=1)
        arn = kinesis.describe_stream_summary(StreamName="events")["StreamDescriptionSummary"]["StreamARN"]
        uuid = lam.create_event_source_mapping(
            EventSourceArn=arn, FunctionName="consumer", StartingPosition="LATEST", BatchSize=2
        )["UUID"]
        for n in range(3):
            kinesis.put_record(StreamARN=arn, Data=json.dumps({"n": n}).encode(), PartitionKey="k")
        wait_for({0, 1, 2})
        lam.update_event_source_mapping(UUID=uuid, Enabled=False)
        # A second mapping on the same stream shows when records were there to be polled.
        consumer("canary", "canary")
        lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="canary", StartingPosition="TRIM_HORIZON")
        for n in range(3, 6):
            kinesis.put_record(StreamARN=arn, Data=json.dumps({"n": n}).encode(), PartitionKey="k")
        wait_for(set(range(6)), prefix="canary")
        print(json.dumps({"disabled": numbers()}), flush=True)
        os._exit(0)  # killed: no clean shutdown, no final snapshot
    else:
        (mapping,) = lam.list_event_source_mappings(FunctionName="consumer")["EventSourceMappings"]
        before = numbers()
        lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)
        wait_for({3, 4, 5})
        print(json.dumps({"before": before, "after": numbers(), "state": mapping["State"]}))
        aws.stop()
    """
)


def test_restart_resumes_from_the_stored_checkpoint(tmp_path):
    state_dir = str(tmp_path / "state")
    env = {**os.environ, "TEST_ROOT": os.getcwd()}
    env.pop("AWS_ENDPOINT_URL", None)

    def phase(name: str) -> dict[str, Any]:
        """Run one phase of the script on the shared state dir; its last line of output, read."""
        done = subprocess.run(
            [sys.executable, "-c", RESTART_SCRIPT, name, state_dir],
            check=True,
            timeout=120,
            env=env,
            capture_output=True,
            text=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    # The canary mapping delivered 3, 4 and 5 before the server died: the disabled one had them to poll.
    assert sorted(phase("first")["disabled"]) == [0, 1, 2]
    result = phase("second")
    assert result["state"] == "Disabled", "the disabled state survived the restart"
    assert sorted(result["before"]) == [0, 1, 2], "nothing was delivered while disabled, nor replayed"
    # Records put while the mapping was disabled were neither lost nor delivered out of order;
    # StartingPosition LATEST would have skipped them had the checkpoint not been restored.
    after = result["after"]
    assert set(after) == set(range(6))
    assert after[after.index(3) :] == [3, 4, 5]


def test_filter_criteria_deliver_only_matching_records_and_consume_the_rest(aws, bucket, consumer, stream):
    stream_arn = stream()
    function = consumer("filtered")
    aws("lambda").create_event_source_mapping(
        EventSourceArn=stream_arn,
        FunctionName=function,
        StartingPosition="TRIM_HORIZON",
        BatchSize=5,
        FilterCriteria={"Filters": [{"Pattern": json.dumps({"data": {"kind": ["purchase"]}})}]},
    )
    for n in range(12):
        put(aws, stream_arn, {"n": n, "kind": "purchase" if n % 3 == 0 else "view"})
    aws("kinesis").put_record(StreamARN=stream_arn, Data=b"not json", PartitionKey="k")
    put(aws, stream_arn, {"n": 12, "kind": "purchase"})

    records = wait_for_numbers(aws, bucket, "filtered", {0, 3, 6, 9, 12})
    assert sorted(numbers(records)) == [0, 3, 6, 9, 12]


def test_an_invalid_filter_pattern_is_refused(aws, consumer, stream):
    stream_arn = stream()
    function = consumer("refused")
    with pytest.raises(ClientError) as error:
        aws("lambda").create_event_source_mapping(
            EventSourceArn=stream_arn,
            FunctionName=function,
            StartingPosition="TRIM_HORIZON",
            FilterCriteria={"Filters": [{"Pattern": json.dumps({"data": {"kind": "purchase"}})}]},
        )
    assert error.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "FilterCriteria.Filters[0]" in error.value.response["Error"]["Message"]
