"""DynamoDB Time to Live as a boto3 user sees it: the setting, the sweep, its REMOVE records.

DynamoDB deletes an item once its TTL attribute (a Number of epoch seconds) has passed, and the
delete reaches the table's stream as a REMOVE whose ``userIdentity`` names the DynamoDB service.
Here the sweep runs every ``LOCAL_AWS_DYNAMODB_TTL_SWEEP_SECONDS``; the tests shorten it and wait
on the table and the stream, never on the clock.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_aws.components import dynamodb_ttl
from local_aws.components.dynamodb_ttl import SWEEP_ENV
from tests.local_aws.server_process import ServerProcess
from tests.local_aws.test_pipes import make_pipe, read_stream, stream  # noqa: F401 (fixtures)
from tests.support import unique, wait_until

SERVICE = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
FIVE_YEARS = 5 * 365 * 24 * 3600


@pytest.fixture(autouse=True)
def quick_sweeps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SWEEP_ENV, "0.1")


def create_table(ddb: Any, name: str) -> dict[str, Any]:
    return ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]


@pytest.fixture
def make_table(aws: Callable[..., Any]) -> Iterator[Callable[..., dict[str, Any]]]:
    """``make_table(ttl="expires")``: a streamed table, its TTL enabled on that attribute if given."""
    ddb = aws("dynamodb")
    made: list[str] = []

    def make(ttl: str | None = "expires") -> dict[str, Any]:
        name = unique("ttl")
        description = create_table(ddb, name)
        made.append(name)
        if ttl:
            ddb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl}
            )
        return {"name": name, "stream_arn": description["LatestStreamArn"], "arn": description["TableArn"]}

    yield make
    for name in made:
        with contextlib.suppress(ClientError):
            ddb.delete_table(TableName=name)


def put(ddb: Any, table: str, key: str, **attributes: Any) -> None:
    item = {"id": {"S": key}}
    for name, value in attributes.items():
        item[name] = value if isinstance(value, dict) else {"N": str(value)}
    ddb.put_item(TableName=table, Item=item)


def present(ddb: Any, table: str, key: str) -> bool:
    return "Item" in ddb.get_item(TableName=table, Key={"id": {"S": key}}, ConsistentRead=True)


def wire_records(client: Callable[..., Any], stream_arn: str) -> list[dict[str, Any]]:
    """Every record of the stream as GetRecords sends it on the wire (JSON, before boto3 parses it)."""
    streams = client("dynamodbstreams")
    seen: list[dict[str, Any]] = []

    def keep(response_dict: dict[str, Any], **_: Any) -> None:
        seen.extend(json.loads(response_dict["body"]).get("Records", []))

    streams.meta.events.register("before-parse.dynamodbstreams.GetRecords", keep)
    try:
        for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
            iterator = streams.get_shard_iterator(
                StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while iterator:
                response = streams.get_records(ShardIterator=iterator)
                if not response["Records"]:
                    break
                iterator = response.get("NextShardIterator")
    finally:
        streams.meta.events.unregister("before-parse.dynamodbstreams.GetRecords", keep)
    return seen


def removes(client: Callable[..., Any], stream_arn: str) -> dict[str, dict[str, Any]]:
    """The stream's REMOVE records by item id."""
    found = wire_records(client, stream_arn)
    return {r["dynamodb"]["Keys"]["id"]["S"]: r for r in found if r["eventName"] == "REMOVE"}


def wait_removed(client: Callable[..., Any], table: dict[str, Any], key: str) -> dict[str, Any]:
    """The REMOVE record of ``key``, once the sweep has deleted it."""
    ddb = client("dynamodb")
    wait_until(lambda: not present(ddb, table["name"], key), timeout=30, what=f"the sweep to delete {key}")
    return removes(client, table["stream_arn"])[key]


# -- UpdateTimeToLive / DescribeTimeToLive ------------------------------------------------------------
def test_update_and_describe_time_to_live_answer_as_dynamodb(aws, make_table):
    ddb = aws("dynamodb")
    name = make_table(ttl=None)["name"]
    assert ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "DISABLED"
    }

    spec = {"Enabled": True, "AttributeName": "expires"}
    assert (
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=spec)["TimeToLiveSpecification"]
        == spec
    )
    assert ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "expires",
    }
    refusals = [
        (spec, "TimeToLive is already enabled"),
        ({"Enabled": True, "AttributeName": "other"}, "disable it before naming another attribute"),
    ]
    for again, message in refusals:
        with pytest.raises(ClientError) as refused:
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=again)
        assert refused.value.response["Error"]["Code"] == "ValidationException"
        assert message in refused.value.response["Error"]["Message"]

    ddb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires"}
    )
    assert ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "DISABLED"
    }
    with pytest.raises(ClientError, match="TimeToLive is already disabled"):
        ddb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires"}
        )


def test_time_to_live_of_a_missing_table_is_resource_not_found(aws):
    ddb = aws("dynamodb")
    calls = [
        lambda: ddb.describe_time_to_live(TableName="no-such-table"),
        lambda: ddb.update_time_to_live(
            TableName="no-such-table", TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"}
        ),
    ]
    for call in calls:
        with pytest.raises(ClientError) as missing:
            call()
        assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
        assert "no-such-table" in missing.value.response["Error"]["Message"]


# -- the sweep -------------------------------------------------------------------------------------------
def test_an_expired_item_is_deleted_with_a_remove_record_by_the_dynamodb_service(aws, make_table):
    ddb = aws("dynamodb")
    table = make_table()
    expires = int(time.time()) - 60
    put(ddb, table["name"], "expired", expires=expires, note={"S": "gone"})

    record = wait_removed(aws, table, "expired")
    assert record["userIdentity"] == SERVICE
    assert record["dynamodb"]["OldImage"] == {
        "id": {"S": "expired"},
        "expires": {"N": str(expires)},
        "note": {"S": "gone"},
    }
    assert "NewImage" not in record["dynamodb"]


def test_only_expired_numbers_within_five_years_are_deleted(aws, make_table):
    ddb = aws("dynamodb")
    table = make_table()
    disabled = make_table(ttl=None)
    ddb.update_time_to_live(
        TableName=disabled["name"], TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"}
    )
    ddb.update_time_to_live(
        TableName=disabled["name"], TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires"}
    )
    now = int(time.time())
    stays = {
        "future": {"expires": now + 3600},
        "string": {"expires": {"S": str(now - 60)}},
        "number-set": {"expires": {"NS": [str(now - 60)]}},
        "milliseconds": {"expires": (now - 60) * 1000},  # far in the future as seconds
        "over-five-years-old": {"expires": now - FIVE_YEARS - 3600},
        "no-attribute": {},
        "other-attribute": {"ttl": now - 60},
    }
    for key, attributes in stays.items():
        put(ddb, table["name"], key, **attributes)
    put(ddb, disabled["name"], "ttl-disabled", expires=now - 60)

    # A sweep reads a table's candidates in one hold of the lock: once the first marker is gone,
    # the sweep that took it has read every item above; the second marker, written after that,
    # is taken by a later sweep, so the first one has finished its deletes.
    put(ddb, table["name"], "marker-1", expires=now - 60)
    wait_removed(aws, table, "marker-1")
    put(ddb, table["name"], "marker-2", expires=now - 60)
    wait_removed(aws, table, "marker-2")

    assert sorted(removes(aws, table["stream_arn"])) == ["marker-1", "marker-2"]
    assert [key for key in stays if not present(ddb, table["name"], key)] == []
    assert present(ddb, disabled["name"], "ttl-disabled")
    assert removes(aws, disabled["stream_arn"]) == {}


def test_an_item_rewritten_after_the_sweep_read_it_is_kept(aws, make_table, local_aws):
    """The delete is conditional on the expiry the sweep read: a new expiry written meanwhile wins."""
    ddb = aws("dynamodb")
    table = make_table()
    world = local_aws.world
    later = int(time.time()) + 3600  # the background sweep leaves it alone; this test moves the clock
    put(ddb, table["name"], "renewed", expires=later)
    backend_table = world.backend("dynamodb").tables[table["name"]]
    with world.lock:
        read = dynamodb_ttl.expired_items("123456789012", "us-east-1", backend_table, now=later + 1)
    assert [c.key for c in read] == [{"id": {"S": "renewed"}}]

    put(ddb, table["name"], "renewed", expires=later + 3600)  # renewed between the read and the delete
    with world.lock:
        assert [dynamodb_ttl.expire(world, c) for c in read] == [False]
    assert present(ddb, table["name"], "renewed")
    assert removes(aws, table["stream_arn"]) == {}

    with world.lock:  # read again after the new expiry: now it goes, as the service
        reread = dynamodb_ttl.expired_items("123456789012", "us-east-1", backend_table, now=later + 3601)
        assert [dynamodb_ttl.expire(world, c) for c in reread] == [True]
    assert not present(ddb, table["name"], "renewed")
    assert removes(aws, table["stream_arn"])["renewed"]["userIdentity"] == SERVICE


def test_a_pipe_passes_the_service_identity_on(aws, make_table, make_pipe, stream):  # noqa: F811
    table = make_table()
    make_pipe(
        table["stream_arn"],
        stream["arn"],
        TargetParameters={"KinesisStreamParameters": {"PartitionKey": "$.dynamodb.Keys.id.S"}},
    )
    ddb = aws("dynamodb")
    put(ddb, table["name"], "expired", expires=int(time.time()) - 60)
    delivered = wait_until(
        lambda: [
            r["data"]
            for r in read_stream(aws("kinesis"), stream["name"])
            if r["data"]["eventName"] == "REMOVE"
        ],
        timeout=30,
        what="the TTL REMOVE in the pipe's target",
    )
    assert delivered[0]["userIdentity"] == SERVICE
    assert delivered[0]["dynamodb"]["OldImage"]["id"] == {"S": "expired"}


# -- a restart keeps the delete ----------------------------------------------------------------------
def test_a_ttl_delete_survives_a_restart_with_its_record(tmp_path, monkeypatch):
    """With a state dir the delete is journalled with its record: a killed server brings back neither
    the item nor a new record (same eventID, sequence number and identity)."""
    monkeypatch.setenv(SWEEP_ENV, "0.1")
    server = ServerProcess(tmp_path / "state", snapshot_interval=3600)  # the delete lives in the journal
    try:
        server.start()
        table = {
            "name": "sessions",
            "stream_arn": create_table(server.client("dynamodb"), "sessions")["LatestStreamArn"],
        }
        ddb = server.client("dynamodb")
        ddb.update_time_to_live(
            TableName="sessions", TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"}
        )
        put(ddb, "sessions", "expired", expires=int(time.time()) - 60)
        before = wait_removed(server.client, table, "expired")
        assert before["userIdentity"] == SERVICE
        server.kill()

        monkeypatch.setenv(SWEEP_ENV, "3600")  # no sweep after the restart: the journal must hold it
        server.start()
        assert not present(server.client("dynamodb"), "sessions", "expired")
        after = removes(server.client, table["stream_arn"])["expired"]
        assert after == before
    finally:
        server.stop()
