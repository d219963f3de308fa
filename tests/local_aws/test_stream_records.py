"""DynamoDB Streams and Kinesis records as AWS writes them, seen through boto3.

One stream record per real item change, none for a write that changes nothing, sequence numbers
of AWS's shape, and DynamoDB stream shards that close and hand over to a child shard, which
every consumer (the Pipes worker, Lambda event source mappings) follows.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_aws.components.dynamodb_streams import ROLL_ENV
from tests.local_aws.lambda_helpers import lambda_role, make_zip, wait_active, wait_for_progress
from tests.local_aws.server_process import ServerProcess
from tests.support import unique, wait_until


@pytest.fixture
def table(aws: Callable[..., Any]) -> Iterator[dict[str, str]]:
    ddb = aws("dynamodb")
    name = unique("stream-records")
    description = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]
    yield {"name": name, "stream_arn": description["LatestStreamArn"]}
    with contextlib.suppress(ClientError):
        ddb.delete_table(TableName=name)


def stream_records(aws: Callable[..., Any], stream_arn: str) -> list[dict[str, Any]]:
    """Every record of the stream, as a consumer reads it: shards parent first, each to its end."""
    streams = aws("dynamodbstreams")
    shards = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    records: list[dict[str, Any]] = []
    for shard in shards:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        closed = "EndingSequenceNumber" in shard["SequenceNumberRange"]
        while iterator:
            response = streams.get_records(ShardIterator=iterator)
            records.extend(response["Records"])
            if not response["Records"] and not closed:
                break
            iterator = response.get("NextShardIterator")
    return records


def item(key: str, **attributes: Any) -> dict[str, Any]:
    return {"id": {"S": key}, **{name: {"N": str(value)} for name, value in attributes.items()}}


def roll_shard_on_next_write(aws: Callable[..., Any], table: str, key: str, monkeypatch: Any) -> None:
    """Force a shard roll: a roll period of 0 s for one write, then the default again."""
    monkeypatch.setenv(ROLL_ENV, "0")
    aws("dynamodb").put_item(TableName=table, Item=item(key, version=1))
    monkeypatch.delenv(ROLL_ENV)


# -- one record per real change -----------------------------------------------------------------
def test_update_item_that_creates_an_item_writes_one_insert_with_the_full_image(aws, table):
    aws("dynamodb").update_item(
        TableName=table["name"],
        Key={"id": {"S": "a"}},
        UpdateExpression="SET quantity = :q, price = :p",
        ExpressionAttributeValues={":q": {"N": "3"}, ":p": {"N": "9"}},
    )
    records = stream_records(aws, table["stream_arn"])
    assert [r["eventName"] for r in records] == ["INSERT"]
    assert records[0]["dynamodb"]["NewImage"] == item("a", quantity=3, price=9)
    assert "OldImage" not in records[0]["dynamodb"]


def test_writes_that_change_nothing_write_no_record(aws, table):
    ddb, name = aws("dynamodb"), table["name"]
    ddb.put_item(TableName=name, Item=item("a", quantity=1))
    ddb.put_item(TableName=name, Item=item("a", quantity=1))  # the same image
    ddb.update_item(
        TableName=name,
        Key={"id": {"S": "a"}},
        UpdateExpression="SET quantity = :q",
        ExpressionAttributeValues={":q": {"N": "1"}},
    )
    ddb.delete_item(TableName=name, Key={"id": {"S": "missing"}})
    ddb.update_item(
        TableName=name,
        Key={"id": {"S": "a"}},
        UpdateExpression="SET quantity = :q",
        ExpressionAttributeValues={":q": {"N": "2"}},
    )
    records = stream_records(aws, table["stream_arn"])
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY"]
    assert records[1]["dynamodb"]["OldImage"] == item("a", quantity=1)
    assert records[1]["dynamodb"]["NewImage"] == item("a", quantity=2)


def test_batch_and_transaction_writes_write_one_record_per_change(aws, table):
    ddb, name = aws("dynamodb"), table["name"]
    ddb.batch_write_item(
        RequestItems={name: [{"PutRequest": {"Item": item(key, n=1)}} for key in ("a", "b", "c")]}
    )
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": name, "Item": item("a", n=1)}},  # unchanged
            {
                "Update": {
                    "TableName": name,
                    "Key": {"id": {"S": "d"}},
                    "UpdateExpression": "SET n = :n",
                    "ExpressionAttributeValues": {":n": {"N": "4"}},
                }
            },
            {"Delete": {"TableName": name, "Key": {"id": {"S": "b"}}}},
        ]
    )
    records = stream_records(aws, table["stream_arn"])
    shown = [(r["eventName"], r["dynamodb"]["Keys"]["id"]["S"]) for r in records]
    assert shown == [("INSERT", "a"), ("INSERT", "b"), ("INSERT", "c"), ("INSERT", "d"), ("REMOVE", "b")]
    assert records[3]["dynamodb"]["NewImage"] == item("d", n=4)


# -- sequence numbers ---------------------------------------------------------------------------
def another_stream(aws: Callable[..., Any]) -> Iterator[str]:
    name = unique("other-stream")
    yield aws("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )["TableDescription"]["LatestStreamArn"]
    aws("dynamodb").delete_table(TableName=name)


def test_dynamodb_sequence_numbers_and_shards_have_dynamodbs_shape(aws, table):
    ddb = aws("dynamodb")
    for version in range(1, 4):
        ddb.put_item(TableName=table["name"], Item=item("a", version=version))
    records = stream_records(aws, table["stream_arn"])
    numbers = [r["dynamodb"]["SequenceNumber"] for r in records]
    assert all(n.isdigit() and len(n) >= 21 for n in numbers), numbers
    assert [int(n) for n in numbers] == sorted({int(n) for n in numbers})
    assert all(r["dynamodb"]["SizeBytes"] > 0 for r in records)
    assert all("ApproximateCreationDateTime" in r["dynamodb"] for r in records)
    shard = aws("dynamodbstreams").describe_stream(StreamArn=table["stream_arn"])["StreamDescription"][
        "Shards"
    ][0]
    assert int(shard["SequenceNumberRange"]["StartingSequenceNumber"]) <= int(numbers[0])
    for other_arn in another_stream(aws):  # each stream's shard has an id of its own
        other = aws("dynamodbstreams").describe_stream(StreamArn=other_arn)["StreamDescription"]["Shards"][0]
        assert other["ShardId"] != shard["ShardId"]
        assert other["ShardId"].startswith("shardId-") and len(other["ShardId"]) == len(shard["ShardId"])


def test_kinesis_sequence_numbers_are_56_digits_increasing_per_shard(aws):
    kinesis = aws("kinesis")
    name = unique("seq")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    try:
        numbers = [
            kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="k")["SequenceNumber"]
            for _ in range(3)
        ]
        assert all(n.isdigit() and len(n) == 56 for n in numbers), numbers
        assert [int(n) for n in numbers] == sorted({int(n) for n in numbers})
        shard = kinesis.list_shards(StreamName=name)["Shards"][0]["ShardId"]
        iterator = kinesis.get_shard_iterator(
            StreamName=name,
            ShardId=shard,
            ShardIteratorType="AFTER_SEQUENCE_NUMBER",
            StartingSequenceNumber=numbers[0],
        )["ShardIterator"]
        assert [
            r["SequenceNumber"] for r in kinesis.get_records(ShardIterator=iterator)["Records"]
        ] == numbers[1:]
    finally:
        kinesis.delete_stream(StreamName=name)


# -- shards that close ---------------------------------------------------------------------------
def test_a_rolled_shard_closes_and_hands_over_to_its_child(aws, table, monkeypatch):
    ddb, name = aws("dynamodb"), table["name"]
    ddb.put_item(TableName=name, Item=item("a", version=1))
    roll_shard_on_next_write(aws, name, "b", monkeypatch)
    ddb.put_item(TableName=name, Item=item("a", version=2))
    streams = aws("dynamodbstreams")
    parent, child = streams.describe_stream(StreamArn=table["stream_arn"])["StreamDescription"]["Shards"]
    assert "ParentShardId" not in parent and child["ParentShardId"] == parent["ShardId"]
    ending = parent["SequenceNumberRange"]["EndingSequenceNumber"]
    assert "EndingSequenceNumber" not in child["SequenceNumberRange"]
    assert int(child["SequenceNumberRange"]["StartingSequenceNumber"]) > int(ending)
    iterator = streams.get_shard_iterator(
        StreamArn=table["stream_arn"], ShardId=parent["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    last = streams.get_records(ShardIterator=iterator)
    assert [r["dynamodb"]["SequenceNumber"] for r in last["Records"]] == [ending]
    assert "NextShardIterator" not in last  # the closed shard is read to its end
    assert [
        (r["dynamodb"]["Keys"]["id"]["S"], r["eventName"]) for r in stream_records(aws, table["stream_arn"])
    ] == [
        ("a", "INSERT"),
        ("b", "INSERT"),
        ("a", "MODIFY"),
    ]


def test_an_unknown_shard_is_resource_not_found(aws, table):
    with pytest.raises(ClientError) as caught:
        aws("dynamodbstreams").get_shard_iterator(
            StreamArn=table["stream_arn"],
            ShardId="shardId-00000000000000000000-00000000",
            ShardIteratorType="LATEST",
        )
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


def write_versions_with_a_roll(aws: Callable[..., Any], table: str, monkeypatch: Any) -> dict[str, list[int]]:
    """Three keys, each written version 1..4, with the shard rolled after the second round."""
    ddb = aws("dynamodb")
    expected: dict[str, list[int]] = {key: [] for key in ("k1", "k2", "k3")}
    for version in range(1, 5):
        for key in expected:
            if version == 3 and key == "k1":
                monkeypatch.setenv(ROLL_ENV, "0")
            ddb.put_item(TableName=table, Item=item(key, version=version))
            monkeypatch.delenv(ROLL_ENV, raising=False)
            expected[key].append(version)
    return expected


def versions_per_key(images: list[dict[str, Any]]) -> dict[str, list[int]]:
    seen: dict[str, list[int]] = {}
    for image in images:
        seen.setdefault(image["id"]["S"], []).append(int(image["version"]["N"]))
    return seen


def test_a_pipe_follows_the_child_shard(aws, table, monkeypatch):
    kinesis, pipes = aws("kinesis"), aws("pipes")
    stream = unique("rolled")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    stream_arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    pipe = unique("pipe")
    pipes.create_pipe(
        Name=pipe,
        Source=table["stream_arn"],
        Target=stream_arn,
        RoleArn="arn:aws:iam::123456789012:role/pipe-role",
        SourceParameters={"DynamoDBStreamParameters": {"StartingPosition": "TRIM_HORIZON", "BatchSize": 2}},
        TargetParameters={"KinesisStreamParameters": {"PartitionKey": "$.dynamodb.Keys.id.S"}},
    )
    try:
        expected = write_versions_with_a_roll(aws, table["name"], monkeypatch)
        shards = aws("dynamodbstreams").describe_stream(StreamArn=table["stream_arn"])["StreamDescription"][
            "Shards"
        ]
        assert len(shards) == 2

        def delivered() -> list[dict[str, Any]]:
            shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
            iterator = kinesis.get_shard_iterator(
                StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
            )
            records = kinesis.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"]
            return [json.loads(r["Data"])["dynamodb"]["NewImage"] for r in records]

        images = wait_until(lambda: len(found := delivered()) >= 12 and found, timeout=30, what="12 changes")
        assert versions_per_key(images) == expected
        assert len(images) == 12
    finally:
        pipes.delete_pipe(Name=pipe)
        kinesis.delete_stream(StreamName=stream)


HANDLER = """
import json, os, boto3
def handler(event, context):
    first = event["Records"][0]["dynamodb"]["SequenceNumber"]
    boto3.client("s3").put_object(
        Bucket=os.environ["BUCKET"], Key=f"{os.environ['PREFIX']}/{int(first):040d}.json",
        Body=json.dumps(event["Records"]).encode(),
    )
"""


def test_an_event_source_mapping_follows_the_child_shard(aws, table, monkeypatch):
    bucket, prefix = unique("rolled-esm"), "batches"
    aws("s3").create_bucket(Bucket=bucket)
    function = unique("rolled-consumer")
    aws("lambda").create_function(
        FunctionName=function,
        Runtime="python3.12",
        Role=lambda_role(aws("iam"), "rolled-esm", ["*"])["Arn"],
        Handler="consumer.handler",
        Code={"ZipFile": make_zip(HANDLER, module="consumer")},
        Timeout=30,
        Environment={"Variables": {"BUCKET": bucket, "PREFIX": prefix}},
    )
    wait_active(aws("lambda"), function)
    mapping = aws("lambda").create_event_source_mapping(
        EventSourceArn=table["stream_arn"],
        FunctionName=function,
        StartingPosition="TRIM_HORIZON",
        BatchSize=2,
    )
    try:
        expected = write_versions_with_a_roll(aws, table["name"], monkeypatch)
        shards = aws("dynamodbstreams").describe_stream(StreamArn=table["stream_arn"])["StreamDescription"][
            "Shards"
        ]
        assert len(shards) == 2

        def batches() -> list[str]:
            listed = aws("s3").list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/").get("Contents", [])
            return sorted(entry["Key"] for entry in listed)

        def delivered() -> list[dict[str, Any]]:
            records = []
            for key in batches():
                records.extend(json.loads(aws("s3").get_object(Bucket=bucket, Key=key)["Body"].read()))
            return records if len(records) >= 12 else []

        records = wait_for_progress(delivered, progress=lambda: len(batches()), what="12 changes")
        assert versions_per_key([r["dynamodb"]["NewImage"] for r in records]) == expected
        assert len(records) == 12
    finally:
        aws("lambda").delete_event_source_mapping(UUID=mapping["UUID"])
        aws("lambda").delete_function(FunctionName=function)


# -- a restart keeps the shards ------------------------------------------------------------------
def shards_and_records(client: Callable[[str], Any], stream_arn: str) -> list[tuple[Any, ...]]:
    """Each shard (id, parent, range) with its records' (event id, sequence number, event name)."""
    streams = client("dynamodbstreams")
    seen = []
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records = streams.get_records(ShardIterator=iterator)["Records"]
        changes = [(r["eventID"], r["dynamodb"]["SequenceNumber"], r["eventName"]) for r in records]
        seen.append((shard["ShardId"], shard.get("ParentShardId"), shard["SequenceNumberRange"], changes))
    return seen


@pytest.mark.parametrize("rolls", ["before the kill", "on replay"])
def test_a_replay_puts_records_back_in_the_shards_they_were_written_to(tmp_path, monkeypatch, rolls):
    """Shards roll by the clock, so a replay may roll where the original did not, or not roll."""
    state_dir = str(tmp_path / "state")
    server = ServerProcess(state_dir, snapshot_interval=3600)  # only the journal after the setup
    try:
        if rolls == "before the kill":
            monkeypatch.setenv(ROLL_ENV, "0")  # every write opens a child shard
        server.start()
        ddb = server.client("dynamodb")
        arn = ddb.create_table(
            TableName="orders",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )["TableDescription"]["LatestStreamArn"]
        for version in range(1, 5):
            ddb.put_item(TableName="orders", Item=item(f"k{version % 2}", version=version))
        before = shards_and_records(server.client, arn)
        assert len(before) == (5 if rolls == "before the kill" else 1)  # the first shard closes empty
        server.kill()

        if rolls == "on replay":
            monkeypatch.setenv(ROLL_ENV, "0")
        else:
            monkeypatch.delenv(ROLL_ENV)
        server.start()
        assert shards_and_records(server.client, arn) == before
    finally:
        server.stop()
