"""--state-dir: what a restart restores, and what it must never lose.

moto keeps state in module globals, so every server here runs in a process of its own: the
session's shared server must not see, or lose, these tests' state.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap

import pytest

from local_aws.persistence import JOURNAL_PATTERN, SNAPSHOT_FILE


def journal_bytes(state_dir: str) -> int:
    """Bytes of journal records in the state dir (segment headers not counted)."""
    names = [name for name in os.listdir(state_dir) if JOURNAL_PATTERN.match(name)]
    return sum(max(0, os.path.getsize(os.path.join(state_dir, name)) - 12) for name in names)


def in_fresh_process(body: str, state_dir: str, timeout: float = 120) -> dict:
    """Run ``body`` with ``aws`` (a started LocalAWS on ``state_dir``) and ``client(service)``.

    ``body`` sets ``result`` (JSON-able) and may end the process abruptly with ``os._exit``.
    """
    script = (
        textwrap.dedent(
            """
        import json, os, sys, boto3
        from local_aws import LocalAWS
        aws = LocalAWS(port=0, state_dir=sys.argv[1], snapshot_interval=float(sys.argv[2])).start()
        def client(service):
            return boto3.client(service, endpoint_url=aws.endpoint_url, region_name="us-east-1")
        result = None
        """
        )
        + textwrap.dedent(body)
        + textwrap.dedent(
            """
        aws.stop()
        print("RESULT " + json.dumps(result))
        """
        )
    )
    interval = "3600"
    done = subprocess.run(
        [sys.executable, "-c", script, state_dir, interval], capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(lines[-1][len("RESULT ") :]) if lines else {}


WRITE_THEN_DIE = """
ddb = client("dynamodb")
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
s3 = client("s3")
s3.create_bucket(Bucket="lake")
s3.put_object(Bucket="lake", Key="a/b.json", Body=b'{"x": 1}')
os._exit(0)  # like a kill: no shutdown, no final snapshot
"""

READ_BACK = """
ddb = client("dynamodb")
items = ddb.scan(TableName="orders")["Items"]
stream_arn = ddb.describe_table(TableName="orders")["Table"]["LatestStreamArn"]
streams = client("dynamodbstreams")
shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
iterator = streams.get_shard_iterator(
    StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
)["ShardIterator"]
events = [r["eventName"] for r in streams.get_records(ShardIterator=iterator)["Records"]]
body = client("s3").get_object(Bucket="lake", Key="a/b.json")["Body"].read().decode()
result = {"keys": sorted(i["orderid"]["S"] for i in items), "events": events, "body": body}
"""


def test_killed_server_keeps_every_acknowledged_write(tmp_path):
    state_dir = str(tmp_path / "state")
    in_fresh_process(WRITE_THEN_DIE, state_dir)
    # The table was a control change (snapshot); the puts after it live only in the journal.
    assert journal_bytes(state_dir) > 0

    seen = in_fresh_process(READ_BACK, state_dir)
    assert seen["keys"] == sorted(f"o{i}" for i in range(1, 40))
    assert seen["events"].count("INSERT") == 40 and seen["events"].count("REMOVE") == 1
    assert seen["body"] == '{"x": 1}'


def test_clean_stop_writes_a_snapshot_and_empties_the_journal(tmp_path):
    state_dir = str(tmp_path / "state")
    in_fresh_process(
        """
        sqs = client("sqs")
        url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="hello")
        """,
        state_dir,
    )
    assert os.path.getsize(os.path.join(state_dir, SNAPSHOT_FILE)) > 0
    assert journal_bytes(state_dir) == 0

    seen = in_fresh_process(
        """
        sqs = client("sqs")
        url = sqs.get_queue_url(QueueName="alerts")["QueueUrl"]
        result = [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]]
        """,
        state_dir,
    )
    assert seen == ["hello"]


def test_without_state_dir_nothing_is_written(tmp_path):
    script = textwrap.dedent(
        """
        import boto3
        from local_aws import LocalAWS
        with LocalAWS(port=0) as aws:
            boto3.client("s3", endpoint_url=aws.endpoint_url, region_name="us-east-1").create_bucket(
                Bucket="memory-only"
            )
        """
    )
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": repo}
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path, env=env, timeout=120)
    assert os.listdir(tmp_path) == []


def test_snapshot_from_another_format_is_refused_with_a_clear_error(tmp_path):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / SNAPSHOT_FILE).write_bytes(pickle.dumps({"version": 999}))
    script = "import sys\nfrom local_aws import LocalAWS\nLocalAWS(port=0, state_dir=sys.argv[1]).start()"
    done = subprocess.run(
        [sys.executable, "-c", script, str(state_dir)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert "another version of local_aws" in done.stderr


def test_a_second_server_in_one_process_is_refused(local_aws):
    from local_aws import LocalAWS

    with pytest.raises(RuntimeError, match="already running in this process"):
        LocalAWS(port=0).start()
    # ...and the running one is untouched.
    from local_aws.world import current

    assert current() is local_aws.world


def test_an_object_firehose_delivered_survives_a_kill_under_its_own_name(tmp_path):
    """AWS never takes back a delivered object: a restart must not roll it back with its checkpoint."""
    state_dir = str(tmp_path / "state")
    delivered = in_fresh_process(
        """
        import time
        client("s3").create_bucket(Bucket="lake")
        role = "arn:aws:iam::123456789012:role/firehose"
        client("firehose").create_delivery_stream(
            DeliveryStreamName="direct",
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": role,
                "BucketARN": "arn:aws:s3:::lake",
                "Prefix": "data/",
                "BufferingHints": {"IntervalInSeconds": 0, "SizeInMBs": 1},
            },
        )
        client("firehose").put_record(DeliveryStreamName="direct", Record={"Data": b"one\\n"})
        deadline = time.monotonic() + 60
        keys = []
        while not keys and time.monotonic() < deadline:
            keys = [o["Key"] for o in client("s3").list_objects_v2(Bucket="lake").get("Contents", [])]
            time.sleep(0.05)
        print("RESULT " + json.dumps(keys), flush=True)
        os._exit(0)  # killed before any snapshot could hold the object
        """,
        state_dir,
    )
    assert len(delivered) == 1

    seen = in_fresh_process(
        """
        import time
        time.sleep(3)  # let a re-delivery happen if it is going to
        s3 = client("s3")
        result = {o["Key"]: s3.get_object(Bucket="lake", Key=o["Key"])["Body"].read().decode()
                  for o in s3.list_objects_v2(Bucket="lake").get("Contents", [])}
        """,
        state_dir,
    )
    assert seen.get(delivered[0]) == "one\n", seen
