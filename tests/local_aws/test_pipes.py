"""EventBridge Pipes, as a boto3 user sees them: DynamoDB stream -> pipe -> Kinesis."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support import unique, wait_until

ROLE_ARN = "arn:aws:iam::123456789012:role/pipe-role"


# -- fixtures ----------------------------------------------------------------------------------


def create_streamed_table(ddb, name: str, view: str = "NEW_AND_OLD_IMAGES") -> dict:
    """An orders table keyed by orderid with a stream of ``view``; its TableDescription."""
    return ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "orderid", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "orderid", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": view},
    )["TableDescription"]


@pytest.fixture
def table(aws) -> dict[str, str]:
    """A table with a NEW_AND_OLD_IMAGES stream: its name and stream ARN."""
    ddb = aws("dynamodb")
    name = unique("orders")
    description = create_streamed_table(ddb, name)
    yield {"name": name, "stream_arn": description["LatestStreamArn"], "arn": description["TableArn"]}
    ddb.delete_table(TableName=name)


@pytest.fixture
def stream(aws) -> dict[str, str]:
    """A two-shard Kinesis stream: its name and ARN."""
    kinesis = aws("kinesis")
    name = unique("changes")
    kinesis.create_stream(StreamName=name, ShardCount=2)
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    yield {"name": name, "arn": arn}
    with contextlib.suppress(ClientError):  # the test may have deleted it
        kinesis.delete_stream(StreamName=name)


@pytest.fixture
def make_pipe(aws):
    """``make_pipe(source, target, **params)`` creates a pipe and deletes it after the test."""
    pipes = aws("pipes")
    created: list[str] = []

    def make(source: str, target: str, wait: bool = True, **params: Any) -> dict[str, Any]:
        name = unique("pipe")
        params.setdefault(
            "SourceParameters",
            {"DynamoDBStreamParameters": {"StartingPosition": "TRIM_HORIZON", "BatchSize": 10}},
        )
        params.setdefault(
            "TargetParameters", {"KinesisStreamParameters": {"PartitionKey": "$.dynamodb.Keys.orderid.S"}}
        )
        response = pipes.create_pipe(Name=name, Source=source, Target=target, RoleArn=ROLE_ARN, **params)
        created.append(name)
        if wait:
            wait_for_state(pipes, name, params.get("DesiredState", "RUNNING"))
        return response

    yield make
    for name in created:
        with contextlib.suppress(ClientError):  # the test may have deleted it
            pipes.delete_pipe(Name=name)


def wait_for_state(pipes, name: str, state: str) -> dict[str, Any]:
    return wait_until(
        lambda: (d := pipes.describe_pipe(Name=name))["CurrentState"] == state and d,
        timeout=10,
        what=f"pipe {name} {state}",
    )


def read_stream(kinesis, stream_name: str) -> list[dict[str, Any]]:
    """Every record in the stream, shard by shard, each with its decoded JSON data."""
    records = []
    for shard in kinesis.list_shards(StreamName=stream_name)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream_name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while True:
            response = kinesis.get_records(ShardIterator=iterator, Limit=1000)
            for record in response["Records"]:
                records.append(
                    {
                        "shard": shard["ShardId"],
                        "key": record["PartitionKey"],
                        "seq": int(record["SequenceNumber"]),
                        "raw": record["Data"],
                        "data": _maybe_json(record["Data"]),
                    }
                )
            if not response["Records"]:
                break
            iterator = response["NextShardIterator"]
    return records


def _maybe_json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return data.decode()


def wait_for_records(kinesis, stream_name: str, count: int) -> list[dict[str, Any]]:
    return wait_until(
        lambda: len(found := read_stream(kinesis, stream_name)) >= count and found,
        timeout=15,
        what=f"{count} records in {stream_name}",
    )


def put(ddb, table_name: str, orderid: str, **attributes: Any) -> None:
    item = {"orderid": {"S": orderid}}
    for key, value in attributes.items():
        item[key] = {"N": str(value)} if isinstance(value, (int, float)) else {"S": value}
    ddb.put_item(TableName=table_name, Item=item)


def wait_for_key(kinesis, stream_name: str, key: str) -> list[dict[str, Any]]:
    """Every record in the stream, once one with partition key ``key`` (a marker) is among them.

    A pipe writes a table's changes in stream order, a batch under one hold of the lock, so when
    the last change put is in the stream everything the pipe did with the earlier ones is too. The
    stream is read once more after the marker was seen: a read goes shard by shard, so the read that
    found the marker may have read another shard before the marker's batch (and an earlier change
    in it) was written.
    """

    def arrived() -> bool:
        return any(r["key"] == key for r in read_stream(kinesis, stream_name))

    wait_until(arrived, timeout=30, what=f"the marker {key!r} in {stream_name}")
    return read_stream(kinesis, stream_name)


@pytest.fixture
def worker_cycle(aws, make_pipe):
    """``worker_cycle()`` returns once the pipes worker has had a full turn since it was called.

    For what must NOT happen (a stopped or deleted pipe delivering, a batch leaving before its
    window): local_aws runs one worker that visits every pipe each turn (local_aws.components.pipes),
    so two markers sent one after the other through a pipe of their own prove it. The turn that
    delivered the first began after everything the test did before the call; the second marker
    is taken in a later turn, so once it arrives that first turn has finished.
    """
    ddb, kinesis = aws("dynamodb"), aws("kinesis")
    name = unique("marker-table")
    arn = create_streamed_table(ddb, name)["LatestStreamArn"]
    stream_name = unique("markers")
    kinesis.create_stream(StreamName=stream_name, ShardCount=1)
    target = kinesis.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"]["StreamARN"]
    make_pipe(arn, target)
    turns = iter(range(1_000_000))

    def cycle() -> None:
        for _ in range(2):
            key = f"marker-{next(turns)}"
            put(ddb, name, key)
            wait_for_key(kinesis, stream_name, key)

    yield cycle
    ddb.delete_table(TableName=name)
    kinesis.delete_stream(StreamName=stream_name)


class DrivenClock:
    """Stands in for the ``time`` module in the pipes worker: its monotonic clock moves when told."""

    def __init__(self) -> None:
        self.now = 1000.0  # binary fractions added to it stay exact

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def driven_clock(local_aws, monkeypatch) -> DrivenClock:
    """The pipes worker's batching windows measured on a clock the test moves, not the wall clock."""
    from local_aws.components import pipes as pipes_worker

    clock = DrivenClock()
    monkeypatch.setattr(pipes_worker, "time", clock)
    return clock


# -- data path ---------------------------------------------------------------------------------


def test_changes_arrive_in_kinesis_with_the_stream_record_shape(aws, table, stream, make_pipe):
    ddb, kinesis = aws("dynamodb"), aws("kinesis")
    make_pipe(table["stream_arn"], stream["arn"])
    put(ddb, table["name"], "o-1", product_name="Widget", quantity=2, price="9.99")
    ddb.update_item(
        TableName=table["name"],
        Key={"orderid": {"S": "o-1"}},
        UpdateExpression="SET quantity = :q",
        ExpressionAttributeValues={":q": {"N": "5"}},
    )
    ddb.delete_item(TableName=table["name"], Key={"orderid": {"S": "o-1"}})

    records = wait_for_records(kinesis, stream["name"], 3)
    assert len(records) == 3
    events = [r["data"] for r in sorted(records, key=lambda r: r["seq"])]
    assert [e["eventName"] for e in events] == ["INSERT", "MODIFY", "REMOVE"]
    assert {r["key"] for r in records} == {"o-1"}, "partition key comes from the JSONPath"
    insert, modify, remove = events
    assert set(insert) == {
        "eventID",
        "eventName",
        "eventVersion",
        "eventSource",
        "awsRegion",
        "dynamodb",
        "eventSourceARN",
    }
    assert insert["eventVersion"] == "1.1"
    assert insert["eventSource"] == "aws:dynamodb"
    assert insert["awsRegion"] == "us-east-1"
    assert insert["eventSourceARN"] == table["stream_arn"]
    dynamodb = insert["dynamodb"]
    assert dynamodb["Keys"] == {"orderid": {"S": "o-1"}}
    assert dynamodb["NewImage"]["quantity"] == {"N": "2"}
    assert "OldImage" not in dynamodb
    assert dynamodb["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert isinstance(dynamodb["ApproximateCreationDateTime"], int)
    assert abs(dynamodb["ApproximateCreationDateTime"] - time.time()) < 600
    assert isinstance(dynamodb["SizeBytes"], int) and dynamodb["SizeBytes"] > 0
    assert modify["dynamodb"]["OldImage"]["quantity"] == {"N": "2"}
    assert modify["dynamodb"]["NewImage"]["quantity"] == {"N": "5"}
    assert remove["dynamodb"]["OldImage"]["orderid"] == {"S": "o-1"}
    assert "NewImage" not in remove["dynamodb"]
    sequence_numbers = [int(e["dynamodb"]["SequenceNumber"]) for e in events]
    assert sequence_numbers == sorted(sequence_numbers) and len(set(sequence_numbers)) == 3
    assert len({e["eventID"] for e in events}) == 3


def test_each_items_changes_stay_in_order_on_one_shard(aws, table, stream, make_pipe):
    ddb, kinesis = aws("dynamodb"), aws("kinesis")
    make_pipe(table["stream_arn"], stream["arn"])
    keys = [f"k{i}" for i in range(8)]
    for version in range(5):
        for key in keys:
            put(ddb, table["name"], key, version=version)

    records = wait_for_records(kinesis, stream["name"], 40)
    assert len(records) == 40
    assert len({r["shard"] for r in records}) == 2, "keys spread over both shards"
    for key in keys:
        mine = sorted((r for r in records if r["key"] == key), key=lambda r: r["seq"])
        assert len({r["shard"] for r in mine}) == 1
        versions = [int(r["data"]["dynamodb"]["NewImage"]["version"]["N"]) for r in mine]
        assert versions == list(range(5))


def test_literal_partition_key_and_latest_starting_position(aws, table, stream, make_pipe):
    ddb, kinesis = aws("dynamodb"), aws("kinesis")
    put(ddb, table["name"], "before")
    make_pipe(
        table["stream_arn"],
        stream["arn"],
        SourceParameters={"DynamoDBStreamParameters": {"StartingPosition": "LATEST"}},
        TargetParameters={"KinesisStreamParameters": {"PartitionKey": "all-orders"}},
    )
    put(ddb, table["name"], "after")
    records = wait_for_key(kinesis, stream["name"], "all-orders")  # "before" would come first
    assert [r["data"]["dynamodb"]["Keys"]["orderid"]["S"] for r in records] == ["after"]
    assert records[0]["key"] == "all-orders"


def test_filters_include_and_exclude(aws, table, stream, make_pipe):
    ddb, kinesis = aws("dynamodb"), aws("kinesis")
    filters = [
        # big INSERTs and any REMOVE pass; everything else is dropped
        {
            "Pattern": json.dumps(
                {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"size": {"S": ["big"]}}}}
            )
        },
        {"Pattern": json.dumps({"eventName": ["REMOVE"]})},
    ]
    make_pipe(
        table["stream_arn"],
        stream["arn"],
        SourceParameters={
            "DynamoDBStreamParameters": {"StartingPosition": "TRIM_HORIZON"},
            "FilterCriteria": {"Filters": filters},
        },
    )
    put(ddb, table["name"], "a", size="big")
    put(ddb, table["name"], "b", size="small")
    put(ddb, table["name"], "a", size="big")  # MODIFY: excluded
    ddb.delete_item(TableName=table["name"], Key={"orderid": {"S": "b"}})
    put(ddb, table["name"], "marker", size="big")

    records = sorted(
        wait_for_key(kinesis, stream["name"], "marker"), key=lambda r: r["data"]["dynamodb"]["SequenceNumber"]
    )
    assert [(r["data"]["eventName"], r["key"]) for r in records] == [
        ("INSERT", "a"),
        ("REMOVE", "b"),
        ("INSERT", "marker"),
    ]


def test_input_template(aws, table, stream, make_pipe):
    ddb, kinesis = aws("dynamodb"), aws("kinesis")
    template = (
        '{"id": <$.dynamodb.Keys.orderid.S>, "op": "<$.eventName>", "new": <$.dynamodb.NewImage>, '
        '"label": "order <$.dynamodb.Keys.orderid.S> changed", "pipe": "<aws.pipes.pipe-name>", "none": <$.nope>}'
    )
    pipe = make_pipe(
        table["stream_arn"],
        stream["arn"],
        TargetParameters={
            "InputTemplate": template,
            "KinesisStreamParameters": {"PartitionKey": "$.dynamodb.Keys.orderid.S"},
        },
    )
    put(ddb, table["name"], 'say "hi"', quantity=7)
    (record,) = wait_for_records(kinesis, stream["name"], 1)
    assert record["data"] == {
        "id": 'say "hi"',
        "op": "INSERT",
        "new": {"orderid": {"S": 'say "hi"'}, "quantity": {"N": "7"}},
        "label": 'order say "hi" changed',
        "pipe": pipe["Name"],
        "none": None,
    }
    assert record["key"] == 'say "hi"', "the partition key is read from the event, not the template"


def test_free_text_template(aws, table, stream, make_pipe):
    ddb, kinesis = aws("dynamodb"), aws("kinesis")
    make_pipe(
        table["stream_arn"],
        stream["arn"],
        TargetParameters={
            "InputTemplate": "order <$.dynamodb.Keys.orderid.S> was <$.eventName>",
            "KinesisStreamParameters": {"PartitionKey": "p"},
        },
    )
    put(ddb, table["name"], "o-9")
    (record,) = wait_for_records(kinesis, stream["name"], 1)
    assert record["raw"] == b"order o-9 was INSERT"


def test_batching_window_holds_a_partial_batch(aws, table, stream, make_pipe, worker_cycle, driven_clock):
    ddb, kinesis = aws("dynamodb"), aws("kinesis")
    make_pipe(
        table["stream_arn"],
        stream["arn"],
        SourceParameters={
            "DynamoDBStreamParameters": {
                "StartingPosition": "TRIM_HORIZON",
                "BatchSize": 3,
                "MaximumBatchingWindowInSeconds": 2,
            }
        },
    )
    put(ddb, table["name"], "w1")
    put(ddb, table["name"], "w2")
    worker_cycle()  # the worker has seen w1 and w2: their window runs from here
    assert read_stream(kinesis, stream["name"]) == [], "a partial batch waits for its window"
    driven_clock.advance(1.5)
    worker_cycle()
    assert read_stream(kinesis, stream["name"]) == [], "1.5 s into a 2 s window it still waits"
    put(ddb, table["name"], "w3")  # the batch is full: it goes without the clock moving
    records = wait_for_records(kinesis, stream["name"], 3)
    assert sorted(r["key"] for r in records) == ["w1", "w2", "w3"]

    put(ddb, table["name"], "w4")  # alone: goes when its own window ends
    worker_cycle()
    driven_clock.advance(1.5)
    worker_cycle()
    assert len(read_stream(kinesis, stream["name"])) == 3, "w4's window is 1.5 s old of 2 s"
    driven_clock.advance(0.5)
    records = wait_for_records(kinesis, stream["name"], 4)
    assert sorted(r["key"] for r in records) == ["w1", "w2", "w3", "w4"]


def test_stop_holds_records_and_start_delivers_them(aws, table, stream, make_pipe, worker_cycle):
    ddb, kinesis, pipes = aws("dynamodb"), aws("kinesis"), aws("pipes")
    name = make_pipe(table["stream_arn"], stream["arn"])["Name"]
    put(ddb, table["name"], "s1")
    wait_for_records(kinesis, stream["name"], 1)

    stopped = pipes.stop_pipe(Name=name)
    assert stopped["DesiredState"] == "STOPPED"
    assert stopped["CurrentState"] == "STOPPING"
    wait_for_state(pipes, name, "STOPPED")
    put(ddb, table["name"], "s2")
    put(ddb, table["name"], "s3")
    worker_cycle()
    assert len(read_stream(kinesis, stream["name"])) == 1, "a stopped pipe delivers nothing"

    started = pipes.start_pipe(Name=name)
    assert (started["DesiredState"], started["CurrentState"]) == ("RUNNING", "STARTING")
    wait_for_state(pipes, name, "RUNNING")
    put(ddb, table["name"], "s4")  # the marker: delivered after any copy of s1-s3
    records = wait_for_key(kinesis, stream["name"], "s4")
    assert sorted(r["key"] for r in records) == ["s1", "s2", "s3", "s4"], "each record exactly once"


def test_pipe_created_stopped_moves_nothing_until_started(aws, table, stream, make_pipe, worker_cycle):
    ddb, kinesis, pipes = aws("dynamodb"), aws("kinesis"), aws("pipes")
    created = make_pipe(table["stream_arn"], stream["arn"], DesiredState="STOPPED", wait=False)
    assert (created["DesiredState"], created["CurrentState"]) == ("STOPPED", "CREATING")
    wait_for_state(pipes, created["Name"], "STOPPED")
    put(ddb, table["name"], "x")
    worker_cycle()
    assert read_stream(kinesis, stream["name"]) == []
    pipes.start_pipe(Name=created["Name"])
    wait_for_records(kinesis, stream["name"], 1)


def test_delete_stops_delivery(aws, table, stream, make_pipe, worker_cycle):
    ddb, kinesis, pipes = aws("dynamodb"), aws("kinesis"), aws("pipes")
    name = make_pipe(table["stream_arn"], stream["arn"])["Name"]
    put(ddb, table["name"], "d1")
    wait_for_records(kinesis, stream["name"], 1)
    deleted = pipes.delete_pipe(Name=name)
    assert deleted["Name"] == name and deleted["DesiredState"] == "DELETED"
    put(ddb, table["name"], "d2")
    worker_cycle()
    assert len(read_stream(kinesis, stream["name"])) == 1
    with pytest.raises(ClientError) as err:
        pipes.describe_pipe(Name=name)
    assert err.value.response["Error"]["Code"] == "NotFoundException"


def test_update_pipe_changes_filters_and_keeps_the_checkpoint(aws, table, stream, make_pipe):
    ddb, kinesis, pipes = aws("dynamodb"), aws("kinesis"), aws("pipes")
    name = make_pipe(table["stream_arn"], stream["arn"])["Name"]
    put(ddb, table["name"], "u1")
    wait_for_records(kinesis, stream["name"], 1)
    updated = pipes.update_pipe(
        Name=name,
        RoleArn=ROLE_ARN,
        SourceParameters={
            "FilterCriteria": {
                "Filters": [{"Pattern": '{"dynamodb": {"Keys": {"orderid": {"S": [{"prefix": "keep"}]}}}}'}]
            }
        },
    )
    assert updated["CurrentState"] == "UPDATING"
    described = wait_for_state(pipes, name, "RUNNING")
    assert described["SourceParameters"]["DynamoDBStreamParameters"]["StartingPosition"] == "TRIM_HORIZON"
    put(ddb, table["name"], "drop-me")
    put(ddb, table["name"], "keep-me")
    put(ddb, table["name"], "keep-marker")  # delivered after any copy of the earlier ones
    records = wait_for_key(kinesis, stream["name"], "keep-marker")
    assert sorted(r["key"] for r in records) == ["keep-marker", "keep-me", "u1"]


# -- states and failures -----------------------------------------------------------------------


def test_describe_and_list_show_states(aws, table, stream, make_pipe):
    pipes = aws("pipes")
    created = make_pipe(table["stream_arn"], stream["arn"], wait=False)
    assert created["CurrentState"] == "CREATING"
    assert created["DesiredState"] == "RUNNING"
    assert created["Arn"] == f"arn:aws:pipes:us-east-1:123456789012:pipe/{created['Name']}"
    described = wait_for_state(pipes, created["Name"], "RUNNING")
    assert described["Source"] == table["stream_arn"]
    assert described["Target"] == stream["arn"]
    assert "StateReason" not in described
    listed = pipes.list_pipes(NamePrefix=created["Name"])["Pipes"]
    assert [(p["Name"], p["CurrentState"]) for p in listed] == [(created["Name"], "RUNNING")]


def test_missing_source_fails_creation(aws, stream, make_pipe):
    pipes = aws("pipes")
    source = "arn:aws:dynamodb:us-east-1:123456789012:table/nope/stream/2024-01-01T00:00:00.000"
    name = make_pipe(source, stream["arn"], wait=False)["Name"]
    described = wait_for_state(pipes, name, "CREATE_FAILED")
    assert "nope" in described["StateReason"]


def test_deleted_target_is_reported_and_delivery_resumes(aws, table, stream, make_pipe):
    ddb, kinesis, pipes = aws("dynamodb"), aws("kinesis"), aws("pipes")
    name = make_pipe(table["stream_arn"], stream["arn"])["Name"]
    kinesis.delete_stream(StreamName=stream["name"])
    put(ddb, table["name"], "t1")
    described = wait_until(
        lambda: (d := pipes.describe_pipe(Name=name)).get("StateReason") and d, timeout=5, what="StateReason"
    )
    assert described["CurrentState"] == "RUNNING"
    assert stream["arn"] in described["StateReason"]
    kinesis.create_stream(StreamName=stream["name"], ShardCount=1)
    wait_for_records(kinesis, stream["name"], 1)
    wait_until(lambda: "StateReason" not in pipes.describe_pipe(Name=name), timeout=5, what="reason cleared")


def test_deleted_source_table_stops_the_pipe(aws, stream, make_pipe):
    ddb, pipes = aws("dynamodb"), aws("pipes")
    name = unique("gone")
    arn = create_streamed_table(ddb, name, view="NEW_IMAGE")["LatestStreamArn"]
    pipe = make_pipe(arn, stream["arn"])["Name"]
    ddb.delete_table(TableName=name)
    described = wait_for_state(pipes, pipe, "STOPPED")
    assert described["DesiredState"] == "RUNNING"
    assert arn in described["StateReason"] or name in described["StateReason"]


# -- validation --------------------------------------------------------------------------------


def _error(call, **kwargs) -> dict[str, Any]:
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    return err.value.response


def test_create_validation_errors(aws, table, stream):
    pipes = aws("pipes")
    base = {
        "Name": unique("bad"),
        "Source": table["stream_arn"],
        "Target": stream["arn"],
        "RoleArn": ROLE_ARN,
    }
    kinesis_target = {"KinesisStreamParameters": {"PartitionKey": "$.dynamodb.Keys.orderid.S"}}
    cases = [
        # a DynamoDB source needs a StartingPosition
        {"TargetParameters": kinesis_target},
        {
            "SourceParameters": {"DynamoDBStreamParameters": {"StartingPosition": "AT_TIMESTAMP"}},
            "TargetParameters": kinesis_target,
        },
        # a Kinesis target needs a PartitionKey
        {"SourceParameters": {"DynamoDBStreamParameters": {"StartingPosition": "LATEST"}}},
        # invalid filter pattern
        {
            "SourceParameters": {
                "DynamoDBStreamParameters": {"StartingPosition": "LATEST"},
                "FilterCriteria": {"Filters": [{"Pattern": '{"eventName": "INSERT"}'}]},
            },
            "TargetParameters": kinesis_target,
        },
        {
            "SourceParameters": {
                "DynamoDBStreamParameters": {"StartingPosition": "LATEST"},
                "FilterCriteria": {"Filters": [{"Pattern": "{not json"}]},
            },
            "TargetParameters": kinesis_target,
        },
        # an InputTemplate that cannot become JSON
        {
            "SourceParameters": {"DynamoDBStreamParameters": {"StartingPosition": "LATEST"}},
            "TargetParameters": {**kinesis_target, "InputTemplate": '{"a": <$.eventName>,,}'},
        },
        # a bad ARN
        {
            "SourceParameters": {"DynamoDBStreamParameters": {"StartingPosition": "LATEST"}},
            "TargetParameters": kinesis_target,
            "Target": "not-an-arn",
        },
    ]
    for case in cases:
        response = _error(pipes.create_pipe, **{**base, **case})
        assert response["Error"]["Code"] == "ValidationException", case
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert not pipes.list_pipes(NamePrefix=base["Name"])["Pipes"], "nothing was created"

    # botocore checks BatchSize range itself; send a valid-looking but too large one through a
    # client without parameter validation to see the server's answer.
    raw = aws("pipes", config=Config(parameter_validation=False))
    response = _error(
        raw.create_pipe,
        **base,
        SourceParameters={"DynamoDBStreamParameters": {"StartingPosition": "LATEST", "BatchSize": 20000}},
        TargetParameters=kinesis_target,
    )
    assert response["Error"]["Code"] == "ValidationException"


def test_update_validation_error_keeps_the_pipe(aws, table, stream, make_pipe):
    pipes = aws("pipes")
    name = make_pipe(table["stream_arn"], stream["arn"])["Name"]
    response = _error(
        pipes.update_pipe,
        Name=name,
        RoleArn=ROLE_ARN,
        SourceParameters={"FilterCriteria": {"Filters": [{"Pattern": '{"eventName": [{"prefix": 1}]}'}]}},
    )
    assert response["Error"]["Code"] == "ValidationException"
    described = pipes.describe_pipe(Name=name)
    assert described["CurrentState"] == "RUNNING"
    assert "FilterCriteria" not in described["SourceParameters"]


def test_conflicts_and_not_found(aws, local_aws, table, stream, make_pipe, monkeypatch):
    pipes = aws("pipes")
    # Hold the worker so the pipe stays CREATING (in AWS that takes a minute or two).
    monkeypatch.setattr(local_aws.world.component("pipes"), "poll_once", lambda: False)
    created = make_pipe(table["stream_arn"], stream["arn"], wait=False)
    name = created["Name"]
    for call, kwargs in (
        (pipes.stop_pipe, {}),
        (pipes.start_pipe, {}),
        (pipes.update_pipe, {"RoleArn": ROLE_ARN}),
    ):
        conflict = _error(call, Name=name, **kwargs)
        assert conflict["Error"]["Code"] == "ConflictException"
        assert conflict["ResponseMetadata"]["HTTPStatusCode"] == 409
        assert name in conflict["Error"]["Message"]
    monkeypatch.undo()
    wait_for_state(pipes, name, "RUNNING")
    duplicate = _error(
        pipes.create_pipe,
        Name=name,
        Source=table["stream_arn"],
        Target=stream["arn"],
        RoleArn=ROLE_ARN,
        SourceParameters={"DynamoDBStreamParameters": {"StartingPosition": "LATEST"}},
        TargetParameters={"KinesisStreamParameters": {"PartitionKey": "k"}},
    )
    assert duplicate["Error"]["Code"] == "ConflictException"
    for call in (pipes.describe_pipe, pipes.start_pipe, pipes.stop_pipe, pipes.delete_pipe):
        assert _error(call, Name=unique("missing"))["Error"]["Code"] == "NotFoundException"


# -- restart -----------------------------------------------------------------------------------

_RESTART_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, time, boto3
    from local_aws import LocalAWS

    state_dir, phase = sys.argv[1], sys.argv[2]
    BACKLOG = 2000
    KILL_AFTER = 300
    MARKER = 10**6
    aws = LocalAWS(port=0, state_dir=state_dir, snapshot_interval=0.1).start()
    kw = dict(endpoint_url=aws.endpoint_url, region_name="us-east-1")
    ddb, kinesis = boto3.client("dynamodb", **kw), boto3.client("kinesis", **kw)

    def put(first, last):
        for i in range(first, last):
            ddb.put_item(TableName="orders", Item={"orderid": {"S": f"k{i % 40}"}, "n": {"N": str(i)}})

    def delivered():
        found = []
        for shard in kinesis.list_shards(StreamName="changes")["Shards"]:
            it = kinesis.get_shard_iterator(
                StreamName="changes", ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while True:
                out = kinesis.get_records(ShardIterator=it, Limit=1000)
                found += [int(json.loads(r["Data"])["dynamodb"]["NewImage"]["n"]["N"]) for r in out["Records"]]
                if not out["Records"]:
                    break
                it = out["NextShardIterator"]
        return found

    if phase == "1":
        arn = ddb.create_table(
            TableName="orders",
            KeySchema=[{"AttributeName": "orderid", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "orderid", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )["TableDescription"]["LatestStreamArn"]
        kinesis.create_stream(StreamName="changes", ShardCount=2)
        target = kinesis.describe_stream_summary(StreamName="changes")["StreamDescriptionSummary"]["StreamARN"]
        pipes = boto3.client("pipes", **kw)
        pipes.create_pipe(
            Name="orders-to-kinesis", Source=arn, Target=target, RoleArn="arn:aws:iam::123456789012:role/r",
            DesiredState="STOPPED",
            SourceParameters={"DynamoDBStreamParameters": {"StartingPosition": "TRIM_HORIZON", "BatchSize": 7}},
            TargetParameters={"KinesisStreamParameters": {"PartitionKey": "$.dynamodb.Keys.orderid.S"}},
        )
        # A backlog big enough to be mid-way when the kill comes; written straight into moto (a
        # snapshot keeps it: StartPipe below is a control-plane change, which takes one).
        from local_aws.world import World
        with aws.world.lock:
            table = World.backend("dynamodb")
            for i in range(BACKLOG):
                table.put_item("orders", {"orderid": {"S": f"k{i % 40}"}, "n": {"N": str(i)}})
        while pipes.describe_pipe(Name="orders-to-kinesis")["CurrentState"] != "STOPPED":
            time.sleep(0.05)
        # Die in the middle of the drain, between periodic snapshots: the process exits from inside
        # the pipe's own write, after KILL_AFTER records, whatever the machine's speed.
        from moto.kinesis.models import Stream
        original, written = Stream.put_record, [0]

        def put_record_then_die(self, *args, **kwargs):
            result = original(self, *args, **kwargs)
            written[0] += 1
            if written[0] >= KILL_AFTER:
                print(json.dumps({"before_kill": written[0]}))
                sys.stdout.flush()
                os._exit(0)  # killed: no final snapshot
            return result

        Stream.put_record = put_record_then_die
        pipes.start_pipe(Name="orders-to-kinesis")
        time.sleep(300)  # an upper bound: the write above ends the process long before
        sys.exit("the pipe never delivered")
    put(BACKLOG, BACKLOG + 50)
    deadline = time.monotonic() + 300  # upper bounds: a busy machine drains slowly
    while len(delivered()) < BACKLOG + 50 and time.monotonic() < deadline:
        time.sleep(0.1)
    # A marker written last: once it is delivered, any replayed copy (which the pipe would send
    # before it, in stream order) has been delivered too.
    ddb.put_item(TableName="orders", Item={"orderid": {"S": "k0"}, "n": {"N": str(MARKER)}})
    while MARKER not in delivered() and time.monotonic() < deadline:
        time.sleep(0.1)
    if MARKER not in delivered():
        sys.exit(f"the marker was not delivered within 300 s ({len(delivered())} records were)")
    print(json.dumps({"delivered": [n for n in delivered() if n != MARKER]}))
    aws.stop()
    """
)


def test_a_killed_server_resumes_from_its_checkpoint(tmp_path):
    state_dir = str(tmp_path / "state")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])),
    }

    def run(phase: str) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-c", _RESTART_SCRIPT, state_dir, phase],
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    before_kill = run("1")["before_kill"]
    assert before_kill == 300, "the server was killed while the pipe was delivering"
    delivered = run("2")["delivered"]
    assert sorted(delivered) == list(range(2050)), "every change exactly once: none lost, none replayed"


def test_a_kinesis_target_takes_at_most_500_records_a_batch(aws, table, stream, make_pipe):
    """Pipes refuses a source BatchSize above what the target takes (Kinesis: 500), on create and update."""
    pipes = aws("pipes")
    base = {
        "Name": unique("big-batch"),
        "Source": table["stream_arn"],
        "Target": stream["arn"],
        "RoleArn": ROLE_ARN,
    }
    kinesis_target = {"KinesisStreamParameters": {"PartitionKey": "$.dynamodb.Keys.orderid.S"}}
    response = _error(
        pipes.create_pipe,
        **base,
        SourceParameters={"DynamoDBStreamParameters": {"StartingPosition": "LATEST", "BatchSize": 501}},
        TargetParameters=kinesis_target,
    )
    assert response["Error"]["Code"] == "ValidationException"
    assert response["Error"]["Message"] == (
        "BatchSize 501 exceeds the maximum batch size the target supports: a Kinesis stream target "
        "takes at most 500 records per batch."
    )
    assert not pipes.list_pipes(NamePrefix=base["Name"])["Pipes"], "nothing was created"

    name = make_pipe(table["stream_arn"], stream["arn"])["Name"]
    response = _error(
        pipes.update_pipe,
        Name=name,
        RoleArn=ROLE_ARN,
        SourceParameters={"DynamoDBStreamParameters": {"BatchSize": 1000}},
    )
    assert response["Error"]["Code"] == "ValidationException"
    assert "at most 500 records per batch" in response["Error"]["Message"]
    # 500 itself is the target's limit, and legal.
    pipes.update_pipe(
        Name=name, RoleArn=ROLE_ARN, SourceParameters={"DynamoDBStreamParameters": {"BatchSize": 500}}
    )
    described = pipes.describe_pipe(Name=name)
    assert described["SourceParameters"]["DynamoDBStreamParameters"]["BatchSize"] == 500


_HELD_SNAPSHOT_SCRIPT = textwrap.dedent(
    """
    import sys, threading, time, boto3
    from local_aws import LocalAWS
    from local_aws.persistence import snapshot_child
    from tests.support import wait_until

    aws = LocalAWS(port=0, state_dir=sys.argv[1], snapshot_interval=0.1).start()
    kw = dict(endpoint_url=aws.endpoint_url, region_name="us-east-1")
    ddb, kinesis, pipes = (boto3.client(name, **kw) for name in ("dynamodb", "kinesis", "pipes"))
    arn = ddb.create_table(
        TableName="orders",
        KeySchema=[{"AttributeName": "orderid", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "orderid", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    kinesis.create_stream(StreamName="changes", ShardCount=1)
    target = kinesis.describe_stream_summary(StreamName="changes")["StreamDescriptionSummary"]["StreamARN"]
    pipes.create_pipe(
        Name="held", Source=arn, Target=target, RoleArn="arn:aws:iam::123456789012:role/r",
        DesiredState="STOPPED",
        SourceParameters={"DynamoDBStreamParameters": {"StartingPosition": "TRIM_HORIZON"}},
        TargetParameters={"KinesisStreamParameters": {"PartitionKey": "$.dynamodb.Keys.orderid.S"}},
    )
    ddb.put_item(TableName="orders", Item={"orderid": {"S": "k1"}})
    wait_until(lambda: pipes.describe_pipe(Name="held")["CurrentState"] == "STOPPED")
    release, original_reap = threading.Event(), snapshot_child.reap

    def held_reap(pid):
        release.wait(60)
        return original_reap(pid)

    snapshot_child.reap = held_reap
    starting = threading.Thread(target=pipes.start_pipe, kwargs={"Name": "held"})
    starting.start()
    time.sleep(1.0)  # many worker ticks
    while_held = pipes.describe_pipe(Name="held")["CurrentState"]
    release.set()
    starting.join(60)
    wait_until(lambda: pipes.describe_pipe(Name="held")["CurrentState"] == "RUNNING")
    print(while_held)
    aws.stop()
    """
)


def test_a_pipe_starts_only_once_its_start_is_in_a_snapshot(tmp_path):
    """StartPipe's response waits for its snapshot with the world lock set down; the worker must not
    run the pipe meanwhile, or a kill before that snapshot loses the start (and what came with it)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, "-c", _HELD_SNAPSHOT_SCRIPT, str(tmp_path / "state")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "STARTING"
