"""--state-dir: what a restart restores, and what it must never lose."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import boto3

from local_aws import LocalAWS
from local_aws.persistence import JOURNAL_FILE, SNAPSHOT_FILE

WRITER = textwrap.dedent(
    """
    import os, sys, boto3
    from local_aws import LocalAWS
    aws = LocalAWS(port=0, state_dir=sys.argv[1], snapshot_interval=3600).start()
    kw = dict(endpoint_url=aws.endpoint_url, region_name="us-east-1")
    ddb = boto3.client("dynamodb", **kw)
    ddb.create_table(
        TableName="orders",
        KeySchema=[{"AttributeName": "orderid", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "orderid", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    for i in range(40):
        ddb.put_item(TableName="orders", Item={"orderid": {"S": f"o{i}"}, "price": {"N": "10.25"}})
    ddb.delete_item(TableName="orders", Key={"orderid": {"S": "o0"}})
    s3 = boto3.client("s3", **kw)
    s3.create_bucket(Bucket="lake")
    s3.put_object(Bucket="lake", Key="a/b.json", Body=b'{"x": 1}')
    os._exit(0)  # like a kill: no shutdown, no final snapshot
    """
)


def _client(service: str, server: LocalAWS):
    return boto3.client(service, endpoint_url=server.endpoint_url, region_name="us-east-1")


def test_killed_server_keeps_every_acknowledged_write(tmp_path):
    state_dir = str(tmp_path / "state")
    subprocess.run([sys.executable, "-c", WRITER, state_dir], check=True, timeout=120)
    assert os.path.getsize(os.path.join(state_dir, JOURNAL_FILE)) > 0, "writes went to the journal"

    # Only the ones after the last snapshot are in the journal: the table was a control change.
    with LocalAWS(port=0, state_dir=state_dir) as server:
        ddb = _client("dynamodb", server)
        items = ddb.scan(TableName="orders")["Items"]
        assert sorted(item["orderid"]["S"] for item in items) == sorted(f"o{i}" for i in range(1, 40))

        stream_arn = ddb.describe_table(TableName="orders")["Table"]["LatestStreamArn"]
        streams = _client("dynamodbstreams", server)
        shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        events = [r["eventName"] for r in streams.get_records(ShardIterator=iterator)["Records"]]
        assert events.count("INSERT") == 40 and events.count("REMOVE") == 1

        body = _client("s3", server).get_object(Bucket="lake", Key="a/b.json")["Body"].read()
        assert body == b'{"x": 1}'


def test_clean_stop_writes_a_snapshot_and_empties_the_journal(tmp_path):
    state_dir = str(tmp_path / "state")
    with LocalAWS(port=0, state_dir=state_dir) as server:
        sqs = _client("sqs", server)
        queue_url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
        sqs.send_message(QueueUrl=queue_url, MessageBody="hello")
    assert os.path.getsize(os.path.join(state_dir, SNAPSHOT_FILE)) > 0
    assert os.path.getsize(os.path.join(state_dir, JOURNAL_FILE)) == 0

    with LocalAWS(port=0, state_dir=state_dir) as server:
        sqs = _client("sqs", server)
        queue_url = sqs.get_queue_url(QueueName="alerts")["QueueUrl"]
        messages = sqs.receive_message(QueueUrl=queue_url)["Messages"]
        assert [m["Body"] for m in messages] == ["hello"]


def test_without_state_dir_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with LocalAWS(port=0) as server:
        _client("s3", server).create_bucket(Bucket="memory-only")
    assert os.listdir(tmp_path) == []


def test_snapshot_from_another_format_is_refused_with_a_clear_error(tmp_path):
    import pickle

    import pytest

    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / SNAPSHOT_FILE).write_bytes(pickle.dumps({"version": 999}))
    with pytest.raises(RuntimeError, match="another version of local_aws"):
        LocalAWS(port=0, state_dir=str(state_dir)).start()
