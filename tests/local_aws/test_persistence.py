"""--state-dir: what a restart restores, and what it must never lose.

moto keeps state in module globals, so every server here runs in a process of its own: the
session's shared server must not see, or lose, these tests' state.
"""

from __future__ import annotations

import json
import os
import pickle
import stat
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path
from typing import Any

import pytest

from local_aws.journal import FRAME_SIZE, journal_header
from local_aws.persistence import JOURNAL_PATTERN, LOCK_FILE, SNAPSHOT_FILE
from tests.local_aws.server_process import ServerProcess
from tests.support import wait_until


def journal_bytes(state_dir: str) -> int:
    """Bytes of journal records in the state dir (segment headers not counted)."""
    names = [name for name in os.listdir(state_dir) if JOURNAL_PATTERN.match(name)]
    return sum(max(0, os.path.getsize(os.path.join(state_dir, name)) - 12) for name in names)


def in_fresh_process(body: str, state_dir: str, timeout: float = 120, umask: int | None = None) -> dict:
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
        [sys.executable, "-c", script, state_dir, interval],
        capture_output=True,
        text=True,
        timeout=timeout,
        umask=-1 if umask is None else umask,
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
        status = "CREATING"  # a new delivery stream takes records once it is ACTIVE
        while status != "ACTIVE":
            time.sleep(0.05)
            status = client("firehose").describe_delivery_stream(DeliveryStreamName="direct")[
                "DeliveryStreamDescription"
            ]["DeliveryStreamStatus"]
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
        s3 = client("s3")

        def objects():
            return {o["Key"]: s3.get_object(Bucket="lake", Key=o["Key"])["Body"].read().decode()
                    for o in s3.list_objects_v2(Bucket="lake").get("Contents", [])}

        # A marker put after the restart leaves the stream's buffer after anything the restart put
        # back in it, so once the marker is in S3 any re-delivery of "one" has happened too.
        client("firehose").put_record(DeliveryStreamName="direct", Record={"Data": b"marker\\n"})
        deadline = time.monotonic() + 60
        result = objects()
        while not any("marker" in body for body in result.values()) and time.monotonic() < deadline:
            time.sleep(0.05)
            result = objects()
        """,
        state_dir,
    )
    assert any("marker" in body for body in seen.values()), f"the marker never reached S3: {seen}"
    assert seen.get(delivered[0]) == "one\n", seen


# -- the state dir's guards: lock, modes, trust, damaged files -----------------------------------
def segments(state_dir: str) -> list[str]:
    return sorted(
        os.path.join(state_dir, name) for name in os.listdir(state_dir) if JOURNAL_PATTERN.match(name)
    )


def record_offsets(path: str) -> list[int]:
    """Where each record of a journal segment starts (after its 12-byte header)."""
    data = Path(path).read_bytes()
    offsets, offset = [], 12
    while offset + FRAME_SIZE <= len(data):
        offsets.append(offset)
        (length,) = struct.unpack(">Q", data[offset : offset + 8])
        offset += FRAME_SIZE + length
    return offsets


def put_items_then_die(state_dir: str, count: int) -> None:
    """A table (in the snapshot) and ``count`` items that live only in the journal."""
    in_fresh_process(
        f"""
        ddb = client("dynamodb")
        ddb.create_table(
            TableName="orders",
            KeySchema=[{{"AttributeName": "orderid", "KeyType": "HASH"}}],
            AttributeDefinitions=[{{"AttributeName": "orderid", "AttributeType": "S"}}],
            BillingMode="PAY_PER_REQUEST",
        )
        for i in range({count}):
            ddb.put_item(TableName="orders", Item={{"orderid": {{"S": f"o{{i:03d}}"}}}})
        os._exit(0)
        """,
        state_dir,
    )


def scanned_keys(server: ServerProcess) -> list[str]:
    items = server.client("dynamodb").scan(TableName="orders")["Items"]
    return sorted(item["orderid"]["S"] for item in items)


def dir_files(state_dir: str) -> dict[str, bytes]:
    """The state dir's data files and their bytes (the lock file names whoever opened it last)."""
    return {
        name: Path(state_dir, name).read_bytes()
        for name in sorted(os.listdir(state_dir))
        if name != LOCK_FILE
    }


def assert_one_line_refusal(done: subprocess.CompletedProcess[str], *fragments: str) -> str:
    message = done.stderr.strip()
    assert done.returncode == 2, (done.returncode, message)
    assert "Traceback" not in message and len(message.splitlines()) == 1, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


def test_a_second_server_on_the_same_state_dir_refuses_naming_the_first(tmp_path):
    state_dir = tmp_path / "state"
    with ServerProcess(state_dir) as first:
        first.client("s3").create_bucket(Bucket="first")
        second = ServerProcess(state_dir)
        message = assert_one_line_refusal(second.refused(), str(state_dir), f"pid {first.process.pid}")
        assert "in use by another local_aws" in message
        # The first server goes on, its dir untouched by the second.
        first.client("s3").put_object(Bucket="first", Key="k", Body=b"v")
    with ServerProcess(state_dir) as again:  # the lock goes with the server that held it
        assert again.client("s3").get_object(Bucket="first", Key="k")["Body"].read() == b"v"


def test_state_dir_is_0700_and_its_files_0600_whatever_the_umask(tmp_path):
    state_dir = str(tmp_path / "state")
    in_fresh_process(
        """
        client("s3").create_bucket(Bucket="bucket-one")
        client("s3").put_object(Bucket="bucket-one", Key="k", Body=b"v")
        """,
        state_dir,
        umask=0,
    )
    assert stat.S_IMODE(os.stat(state_dir).st_mode) == 0o700
    modes = {
        name: stat.S_IMODE(os.stat(os.path.join(state_dir, name)).st_mode) for name in os.listdir(state_dir)
    }
    assert SNAPSHOT_FILE in modes and any(JOURNAL_PATTERN.match(name) for name in modes)
    assert set(modes.values()) == {0o600}, modes


def test_an_existing_open_state_dir_is_tightened(tmp_path):
    state_dir = str(tmp_path / "state")
    in_fresh_process('client("s3").create_bucket(Bucket="bucket-one")', state_dir)
    os.chmod(state_dir, 0o755)
    os.chmod(os.path.join(state_dir, SNAPSHOT_FILE), 0o644)  # what earlier versions wrote
    seen = in_fresh_process('result = [b["Name"] for b in client("s3").list_buckets()["Buckets"]]', state_dir)
    assert seen == ["bucket-one"]
    assert stat.S_IMODE(os.stat(state_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(state_dir, SNAPSHOT_FILE)).st_mode) == 0o600


@pytest.mark.parametrize("change", ["group-writable", "another-owner"])
def test_a_snapshot_others_could_have_written_is_never_loaded(tmp_path, change):
    state_dir = str(tmp_path / "state")
    in_fresh_process('client("s3").create_bucket(Bucket="bucket-one")', state_dir)
    snapshot = os.path.join(state_dir, SNAPSHOT_FILE)
    if change == "group-writable":
        os.chmod(snapshot, 0o664)
        expected = "may be written by group or others"
    else:
        if os.geteuid() != 0:
            pytest.skip("only root can give a file to another user")
        os.chown(snapshot, 65534, 65534)
        expected = "belongs to uid 65534"
    before = dir_files(state_dir)
    done = ServerProcess(state_dir).refused()
    assert_one_line_refusal(done, snapshot, expected, "trusted")
    assert dir_files(state_dir) == before


def test_a_missing_snapshot_is_refused_and_the_journal_kept(tmp_path):
    state_dir = str(tmp_path / "state")
    put_items_then_die(state_dir, 5)
    os.unlink(os.path.join(state_dir, SNAPSHOT_FILE))
    before = dir_files(state_dir)
    server = ServerProcess(state_dir)
    assert_one_line_refusal(server.refused(), f"{state_dir}/{SNAPSHOT_FILE} is missing", "--recover")
    assert dir_files(state_dir) == before  # the journal that still holds the writes: untouched

    server.extra_args = ["--recover"]
    with server:
        assert server.client("s3").list_buckets()["Buckets"] == []
    kept = [name for name in os.listdir(state_dir) if ".damaged-" in name]
    assert (
        len(kept) == 1
        and Path(os.path.join(state_dir, kept[0])).read_bytes() == before[kept[0].split(".damaged-")[0]]
    )
    assert "is missing; set" in Path(server.log_path).read_text()


def test_a_damaged_journal_record_is_refused_then_recover_keeps_the_valid_prefix(tmp_path):
    state_dir = str(tmp_path / "state")
    put_items_then_die(state_dir, 10)
    (journal,) = segments(state_dir)
    offsets = record_offsets(journal)
    assert len(offsets) == 10
    data = bytearray(Path(journal).read_bytes())
    data[offsets[6] + FRAME_SIZE + 20] ^= 0xFF  # one flipped bit in the 7th record's payload
    Path(journal).write_bytes(data)
    before = dir_files(state_dir)

    server = ServerProcess(state_dir)
    assert_one_line_refusal(
        server.refused(),
        journal,
        f"damaged at byte {offsets[6]} of {len(data)}",
        "fails its CRC",
        "--recover",
    )
    assert dir_files(state_dir) == before

    server.extra_args = ["--recover"]
    with server:
        assert scanned_keys(server) == [f"o{i:03d}" for i in range(6)]
    log_text = Path(server.log_path).read_text()
    assert f"dropped {len(data) - offsets[6]} bytes from offset {offsets[6]}" in log_text, log_text
    (kept,) = [name for name in os.listdir(state_dir) if ".damaged-" in name]
    assert Path(os.path.join(state_dir, kept)).read_bytes() == bytes(data)


def test_a_wild_length_field_is_refused_without_reading_it(tmp_path):
    state_dir = str(tmp_path / "state")
    put_items_then_die(state_dir, 4)
    (journal,) = segments(state_dir)
    offset = record_offsets(journal)[1]
    data = bytearray(Path(journal).read_bytes())
    data[offset : offset + 8] = struct.pack(">Q", 10**15)  # a length no file here can hold
    Path(journal).write_bytes(data)
    done = ServerProcess(state_dir).refused()
    assert_one_line_refusal(
        done, journal, f"damaged at byte {offset}", "length field", "keep the 1 valid records"
    )
    assert "MemoryError" not in done.stderr


def test_a_record_cut_short_is_dropped_silently_only_at_the_tail(tmp_path):
    """A kill in the middle of appending: that write was never acknowledged, so it is not damage;
    but a record cut short before a later segment was not cut by a kill, and is refused."""
    state_dir = str(tmp_path / "state")
    put_items_then_die(state_dir, 5)
    (journal,) = segments(state_dir)
    os.truncate(journal, os.path.getsize(journal) - 7)
    number = int(JOURNAL_PATTERN.match(os.path.basename(journal)).group(1))
    later = Path(state_dir, f"journal.{number + 1:010d}.log")
    later.write_bytes(journal_header())
    later.chmod(0o600)
    assert_one_line_refusal(ServerProcess(state_dir).refused(), journal, "cut short before the next segment")

    later.unlink()
    with ServerProcess(state_dir) as server:
        assert scanned_keys(server) == [f"o{i:03d}" for i in range(4)]
    assert "--recover" not in Path(server.log_path).read_text()


def test_a_damaged_snapshot_is_refused_naming_it(tmp_path):
    state_dir = str(tmp_path / "state")
    put_items_then_die(state_dir, 3)
    snapshot = os.path.join(state_dir, SNAPSHOT_FILE)
    os.truncate(snapshot, os.path.getsize(snapshot) // 2)
    before = dir_files(state_dir)
    assert_one_line_refusal(ServerProcess(state_dir).refused(), snapshot, "is damaged", "--recover")
    assert dir_files(state_dir) == before


def stream_view(server: ServerProcess) -> dict[str, Any]:
    """Every DynamoDB stream record (id, sequence number, event, time) and Kinesis record, as read."""
    ddb, streams, kinesis = (
        server.client("dynamodb"),
        server.client("dynamodbstreams"),
        server.client("kinesis"),
    )
    arn = ddb.describe_table(TableName="orders")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    changes = [
        (
            r["eventID"],
            r["dynamodb"]["SequenceNumber"],
            r["eventName"],
            r["dynamodb"]["ApproximateCreationDateTime"],
        )
        for r in streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
    ]
    kinesis_shard = kinesis.list_shards(StreamName="feed")["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamName="feed", ShardId=kinesis_shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = [
        (r["SequenceNumber"], r["Data"], r["ApproximateArrivalTimestamp"])
        for r in kinesis.get_records(ShardIterator=iterator, Limit=1000)["Records"]
    ]
    return {"changes": changes, "kinesis": records}


def test_a_replay_restores_the_original_stream_records(tmp_path):
    """After kill -9, writes replayed from the journal keep their event ids and sequence numbers."""
    state_dir = str(tmp_path / "state")
    server = ServerProcess(state_dir, snapshot_interval=3600)  # nothing but the journal after the setup
    try:
        server.start()
        ddb, kinesis = server.client("dynamodb"), server.client("kinesis")
        ddb.create_table(
            TableName="orders",
            KeySchema=[{"AttributeName": "orderid", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "orderid", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        kinesis.create_stream(StreamName="feed", ShardCount=1)
        acknowledged = []
        for i in range(20):
            ddb.put_item(TableName="orders", Item={"orderid": {"S": f"o{i % 7}"}, "n": {"N": str(i)}})
            answer = kinesis.put_record(StreamName="feed", Data=f"r{i}".encode(), PartitionKey="p")
            acknowledged.append(answer["SequenceNumber"])
        ddb.delete_item(TableName="orders", Key={"orderid": {"S": "o1"}})
        before = stream_view(server)
        assert len(before["changes"]) == 21 and [r[0] for r in before["kinesis"]] == acknowledged
        assert journal_bytes(state_dir) > 0  # the writes are in the journal, not in a snapshot
        server.kill()

        server.start()
        after = stream_view(server)
        assert after["changes"] == before["changes"]
        assert after["kinesis"] == before["kinesis"]
        # New writes go on from there, never reusing a sequence number.
        ddb = server.client("dynamodb")
        ddb.put_item(TableName="orders", Item={"orderid": {"S": "new"}, "n": {"N": "0"}})
        latest = stream_view(server)["changes"]
        assert latest[:21] == before["changes"] and len(latest) == 22
        assert int(latest[21][1]) > int(latest[20][1]) and latest[21][0] not in {c[0] for c in latest[:21]}
    finally:
        server.stop()


class _RunsCode:
    """What an attacker would plant: unpickling it runs a shell command."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_a_journal_record_that_would_run_code_is_refused_without_running_it(tmp_path):
    state_dir = str(tmp_path / "state")
    marker = tmp_path / "code-ran"
    put_items_then_die(state_dir, 2)
    (journal,) = segments(state_dir)
    payload = pickle.dumps((3, {"planted": _RunsCode(str(marker))}))
    head = struct.pack(">QI", len(payload), zlib.crc32(payload))
    with open(journal, "ab") as handle:  # a well-framed record, checksums and all
        handle.write(head + struct.pack(">I", zlib.crc32(head)) + payload)
    offset = record_offsets(journal)[2]
    done = ServerProcess(state_dir).refused()
    assert_one_line_refusal(done, journal, f"damaged at byte {offset}", "does not unpickle", "posix.system")
    assert not marker.exists()


def kinesis_records(server: ServerProcess) -> list[tuple[str, bytes, Any]]:
    kinesis = server.client("kinesis")
    shard = kinesis.list_shards(StreamName="feed")["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName="feed", ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    return [
        (r["SequenceNumber"], r["Data"], r["ApproximateArrivalTimestamp"])
        for r in kinesis.get_records(ShardIterator=iterator, Limit=1000)["Records"]
    ]


def test_a_replayed_kinesis_put_keeps_the_sequence_number_it_was_acknowledged_with(tmp_path):
    """A pipe's write to the stream is redone, not journalled; a client's PutRecord after it is
    journalled, and its replay must not take the number the pipe's record had."""
    from tests.local_aws.test_restart import role

    server = ServerProcess(tmp_path / "state", snapshot_interval=3600)
    try:
        server.start()
        ddb, kinesis, pipes = server.client("dynamodb"), server.client("kinesis"), server.client("pipes")
        table_stream = ddb.create_table(
            TableName="orders",
            KeySchema=[{"AttributeName": "orderid", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "orderid", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )["TableDescription"]["LatestStreamArn"]
        kinesis.create_stream(StreamName="feed", ShardCount=1)
        feed = kinesis.describe_stream_summary(StreamName="feed")["StreamDescriptionSummary"]["StreamARN"]
        pipes.create_pipe(
            Name="orders-to-feed",
            Source=table_stream,
            Target=feed,
            RoleArn=role(server, "pipes"),
            SourceParameters={
                "DynamoDBStreamParameters": {"StartingPosition": "TRIM_HORIZON", "BatchSize": 10}
            },
            TargetParameters={"KinesisStreamParameters": {"PartitionKey": "$.dynamodb.Keys.orderid.S"}},
        )
        wait_until(
            lambda: pipes.describe_pipe(Name="orders-to-feed")["CurrentState"] == "RUNNING", timeout=60
        )
        ddb.put_item(TableName="orders", Item={"orderid": {"S": "o1"}})
        wait_until(lambda: len(kinesis_records(server)) == 1, timeout=60, what="the pipe's record")
        acknowledged = kinesis.put_record(StreamName="feed", Data=b"from a client", PartitionKey="p")
        (client_record,) = [r for r in kinesis_records(server) if r[1] == b"from a client"]
        assert client_record[0] == acknowledged["SequenceNumber"]
        server.kill()

        server.start()
        # The pipe delivers the item's change again (at-least-once), after the client's record.
        wait_until(lambda: len(kinesis_records(server)) == 2, timeout=60, what="the pipe's record again")
        after = kinesis_records(server)
        assert [r for r in after if r[1] == b"from a client"] == [client_record]
        assert int(after[-1][0]) > int(client_record[0])
    finally:
        server.stop()
