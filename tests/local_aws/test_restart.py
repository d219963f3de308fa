"""A server killed with SIGKILL mid-stream loses no acknowledged change once restarted on its state dir.

The whole CDC path runs in a `python -m local_aws serve --state-dir` child: table (NEW_AND_OLD_IMAGES)
-> pipe -> Kinesis -> Firehose with a Lambda processor -> S3. A writer puts items while the server
delivers; the server is killed while changes are in flight (some in S3, some not), started again
on the same state dir and port, and every change whose PutItem was acknowledged must reach S3 at
least once. Duplicates are allowed (at-least-once, as in AWS), loss is not; but a duplicate must
be a copy of the same change, with the same DynamoDB ``eventID``, so that the changes view's dedupe
by event id removes it: a replay from the journal must never mint a new event id.
"""

from __future__ import annotations

import io
import json
import os
import textwrap
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.local_aws.server_process import ServerProcess
from tests.support import wait_until

# The kill comes once this many items are acknowledged and some changes are in S3; the writer goes
# on writing until the kill, so changes are always in flight when it comes.
ITEMS = 3000
BATCH = 25
PROCESSOR = """
import base64, json

def handler(event, context):
    answers = []
    for record in event["records"]:
        change = json.loads(base64.b64decode(record["data"]))
        image = change["dynamodb"].get("NewImage") or change["dynamodb"]["OldImage"]
        row = {
            "orderid": image["orderid"]["S"],
            "n": int(image["n"]["N"]),
            "event_name": change["eventName"],
            "event_id": change["eventID"],
            "sequence_number": change["dynamodb"]["SequenceNumber"],
        }
        answers.append({
            "recordId": record["recordId"],
            "result": "Ok",
            "data": base64.b64encode(json.dumps(row).encode() + b"\\n").decode(),
        })
    return {"records": answers}
"""


def zip_of(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("processor.py", textwrap.dedent(source))
    return buffer.getvalue()


def role(server: ServerProcess, service: str) -> str:
    """A role that ``service`` may assume."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": f"{service}.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    arn = server.client("iam").create_role(
        RoleName=f"{service}-role", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    # local_aws checks service roles (local_aws.iam); this test is about restarts, not permissions.
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    server.client("iam").put_role_policy(
        RoleName=f"{service}-role", PolicyName="all", PolicyDocument=json.dumps(everything)
    )
    return arn


def build_pipeline(server: ServerProcess) -> None:
    """Table -> pipe -> Kinesis -> Firehose (+ processor) -> S3, all named after the scenario."""
    ddb, kinesis, lam = server.client("dynamodb"), server.client("kinesis"), server.client("lambda")
    roles = {service: role(server, service) for service in ("lambda", "firehose", "pipes")}
    server.client("s3").create_bucket(Bucket="lake")
    stream_arn = ddb.create_table(
        TableName="orders",
        KeySchema=[{"AttributeName": "orderid", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "orderid", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    kinesis.create_stream(StreamName="changes", ShardCount=2)
    changes_arn = kinesis.describe_stream_summary(StreamName="changes")["StreamDescriptionSummary"][
        "StreamARN"
    ]
    processor_arn = lam.create_function(
        FunctionName="flatten",
        Runtime="python3.11",
        Role=roles["lambda"],
        Handler="processor.handler",
        Code={"ZipFile": zip_of(PROCESSOR)},
        Timeout=60,
    )["FunctionArn"]
    firehose = server.client("firehose")
    firehose.create_delivery_stream(
        DeliveryStreamName="to-lake",
        DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={
            "KinesisStreamARN": changes_arn,
            "RoleARN": roles["firehose"],
        },
        ExtendedS3DestinationConfiguration={
            "BucketARN": "arn:aws:s3:::lake",
            "RoleARN": roles["firehose"],
            "Prefix": "changes/",
            "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 1},
            "ProcessingConfiguration": {
                "Enabled": True,
                "Processors": [
                    {
                        "Type": "Lambda",
                        "Parameters": [
                            {"ParameterName": "LambdaArn", "ParameterValue": processor_arn},
                            {"ParameterName": "BufferIntervalInSeconds", "ParameterValue": "1"},
                        ],
                    }
                ],
            },
        },
    )
    pipes = server.client("pipes")
    pipes.create_pipe(
        Name="orders-to-changes",
        Source=stream_arn,
        Target=changes_arn,
        RoleArn=roles["pipes"],
        SourceParameters={"DynamoDBStreamParameters": {"StartingPosition": "TRIM_HORIZON", "BatchSize": 100}},
        TargetParameters={"KinesisStreamParameters": {"PartitionKey": "$.dynamodb.Keys.orderid.S"}},
    )
    wait_until(
        lambda: pipes.describe_pipe(Name="orders-to-changes")["CurrentState"] == "RUNNING",
        timeout=30,
        what="pipe RUNNING",
    )


class Lake:
    """Reads the delivered changes; objects never change once written, so each is read once."""

    def __init__(self, server: ServerProcess) -> None:
        self.s3 = server.client("s3")
        self.bodies: dict[str, bytes] = {}

    def rows(self, prefix: str = "changes/") -> list[dict[str, Any]]:
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket="lake", Prefix=prefix):
            for entry in page.get("Contents", []):
                if entry["Key"] not in self.bodies:
                    self.bodies[entry["Key"]] = self.s3.get_object(Bucket="lake", Key=entry["Key"])[
                        "Body"
                    ].read()
        return [
            json.loads(line)
            for key, body in self.bodies.items()
            if key.startswith(prefix)
            for line in body.splitlines()
            if line.strip()
        ]


class Writer(threading.Thread):
    """Writes ``orders`` items in batches of 25 until ``count`` or an error; keeps what was acknowledged."""

    def __init__(self, server: ServerProcess, first: int, count: int) -> None:
        super().__init__(name="restart-writer", daemon=True)
        self.ddb = server.client("dynamodb", retries=0)  # a dead server fails the call at once
        self.first, self.count = first, count
        self.acknowledged: list[int] = []
        self.error: Exception | None = None

    def run(self) -> None:
        for start in range(self.first, self.first + self.count, BATCH):
            numbers = range(start, min(start + BATCH, self.first + self.count))
            requests = [
                {"PutRequest": {"Item": {"orderid": {"S": f"k{n:06d}"}, "n": {"N": str(n)}}}} for n in numbers
            ]
            try:
                answer = self.ddb.batch_write_item(RequestItems={"orders": requests})
            except Exception as error:  # the kill: this batch and any later one are not acknowledged
                self.error = error
                return
            unprocessed = {
                int(request["PutRequest"]["Item"]["n"]["N"])
                for request in answer.get("UnprocessedItems", {}).get("orders", [])
            }
            self.acknowledged += [n for n in numbers if n not in unprocessed]


def wait_for_traffic(writer: Writer, lake: Lake) -> int:
    """Wait until ITEMS items are written and some changes are in S3; how many are there."""
    return wait_until(
        lambda: len(writer.acknowledged) >= ITEMS and len(lake.rows()),
        timeout=90,
        interval=0.2,
        what=f"{ITEMS} items written and the first changes in S3",
    )


def kill_mid_stream(server: ServerProcess, writer: Writer, lake: Lake) -> int:
    """Kill while the writer writes and the pipeline delivers (some changes in S3, some not)."""
    delivered = wait_for_traffic(writer, lake)
    server.kill()
    return delivered


def kill_during_snapshot(server: ServerProcess, writer: Writer, lake: Lake) -> int:
    """As `kill_mid_stream`, but when a snapshot has just begun to be written (its .tmp is empty).

    The whole process group is killed at once: the server and the child writing its snapshot.
    """
    delivered = wait_for_traffic(writer, lake)
    partial = Path(server.state_dir, "snapshot.pickle.tmp")

    def just_begun() -> bool:
        try:
            return partial.stat().st_size == 0  # the child's first megabyte is not yet out
        except FileNotFoundError:
            return False

    wait_until(just_begun, timeout=30, interval=0.0005, what="a snapshot being written")
    server.kill(group=True)
    return delivered


def journalled_records(state_dir: str) -> int:
    """How many writes the journal holds that no finished snapshot has.

    A snapshot's segments are deleted as soon as it is in place, and the next one starts only
    after that, so the segments left by a kill hold writes newer than the last finished snapshot.
    """
    from local_aws.journal import read_segment
    from local_aws.persistence import JOURNAL_PATTERN

    names = sorted(name for name in os.listdir(state_dir) if JOURNAL_PATTERN.match(name))
    return sum(
        len(read_segment(os.path.join(state_dir, name), is_last=name == names[-1]).records) for name in names
    )


@pytest.mark.parametrize(
    ("snapshot_interval", "kill"),
    [(2.0, kill_mid_stream), (0.05, kill_during_snapshot)],
    ids=["mid-stream", "during-snapshot"],
)
def test_every_acknowledged_change_reaches_s3_after_a_kill_and_restart(
    tmp_path: Path, snapshot_interval: float, kill: Callable[[ServerProcess, Writer, Lake], int]
) -> None:
    server = ServerProcess(tmp_path / "state", snapshot_interval=snapshot_interval)
    try:
        server.start()
        build_pipeline(server)
        writer = Writer(server, first=0, count=10 * ITEMS)  # until the kill
        writer.start()
        seen_before_kill = Lake(server)
        delivered_before_kill = kill(server, writer, seen_before_kill)
        writer.join(timeout=30)
        acknowledged = set(writer.acknowledged)
        assert writer.error is not None, "the writer was still writing when the server died"
        assert 0 < delivered_before_kill < len(acknowledged), "killed with changes in flight"
        partial_snapshot_left = os.path.exists(os.path.join(server.state_dir, "snapshot.pickle.tmp"))
        if kill is kill_during_snapshot:
            assert partial_snapshot_left, "the kill came while a snapshot was being written"
        in_journal_only = journalled_records(server.state_dir)
        assert in_journal_only > 0, "the kill came with acknowledged writes that only the journal held"

        server.start()
        # The restarted pipeline also carries new changes.
        after = Writer(server, first=500_000, count=2 * BATCH)
        after.run()
        assert after.error is None, after.error
        acknowledged |= set(after.acknowledged)

        lake = Lake(server)

        def missing() -> set[int]:
            return acknowledged - {row["n"] for row in lake.rows()}

        try:
            wait_until(
                lambda: not missing(), timeout=120, interval=0.5, what="every acknowledged change in S3"
            )
        except AssertionError as error:
            lost = sorted(missing())
            raise AssertionError(
                f"{error}: {len(lost)} of {len(acknowledged)} missing, first {lost[:10]}\n"
                f"server log:\n{server.log_tail()}"
            ) from None
        rows = lake.rows()
        assert not lake.rows("errors/"), "the processor never fails these records"
        assert all(row["event_name"] == "INSERT" for row in rows)
        duplicates = len(rows) - len({row["n"] for row in rows})
        # Each item was written once: one change, so one event id however often it was delivered.
        event_ids: dict[tuple[str, str], set[str]] = {}
        for row in rows:
            event_ids.setdefault((row["orderid"], row["sequence_number"]), set()).add(row["event_id"])
        minted_again = {change: ids for change, ids in event_ids.items() if len(ids) > 1}
        assert not minted_again, f"{len(minted_again)} changes reached S3 under two event ids, e.g. " + str(
            list(minted_again.items())[:3]
        )
        per_key = {row["orderid"] for row in rows}
        assert len(event_ids) == len(per_key), "a change reached S3 under two sequence numbers"
        # Objects Firehose wrote after the last snapshot are rolled back with its checkpoints and
        # written again under new names; reported, not asserted (AWS never takes an object back).
        rewritten = len(set(seen_before_kill.bodies) - set(lake.bodies))
        print(
            f"\n{kill.__name__}: acknowledged before kill {len(writer.acknowledged)}, "
            f"in S3 before kill >= {delivered_before_kill}, rows after restart {len(rows)}, "
            f"duplicates {duplicates}, objects seen before the kill and gone after it {rewritten} "
            f"of {len(seen_before_kill.bodies)}, writes only in the journal at the kill {in_journal_only}, "
            f"partial snapshot left by the kill: {partial_snapshot_left}"
        )
    finally:
        server.stop()
