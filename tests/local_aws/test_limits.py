"""AWS's documented limits, refused with AWS's error code and message, and nothing stored.

Kinesis records, DynamoDB numbers, nesting and items, S3 keys and bucket names; then the limits on
the request itself (a body over the cap, a body that never finishes) and on what the crawler
inflates from a gzip bomb.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.local_aws.server_process import ServerProcess
from tests.support import unique, wait_until

MIB = 1024 * 1024


def error_of(call: Callable[[], Any]) -> tuple[str, str]:
    """The (code, message) a boto3 user sees when ``call`` fails."""
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


# -- Kinesis ------------------------------------------------------------------------------------
@pytest.fixture
def stream(aws: Callable[..., Any]) -> Iterator[str]:
    name = unique("limits")
    kinesis = aws("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    wait_until(
        lambda: (
            kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamStatus"]
            == "ACTIVE"
        ),
        what=f"stream {name}",
    )
    yield name
    kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)


def stream_records(aws: Callable[..., Any], name: str) -> list[bytes]:
    kinesis = aws("kinesis")
    shard = kinesis.list_shards(StreamName=name)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=name, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return [
        record["Data"] for record in kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    ]


def test_a_kinesis_record_over_1_mib_is_refused_and_not_stored(aws: Callable[..., Any], stream: str) -> None:
    kinesis = aws("kinesis")
    code, message = error_of(
        lambda: kinesis.put_record(StreamName=stream, Data=b"x" * (MIB + 1), PartitionKey="p")
    )
    assert code == "ValidationException"
    assert message == (
        "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=1048577 cap=1048577]' at 'data' "
        "failed to satisfy constraint: Member must have length less than or equal to 1048576"
    )
    code, message = error_of(
        lambda: kinesis.put_record(StreamName=stream, Data=b"x" * MIB, PartitionKey="pk")
    )
    assert code == "InvalidArgumentException"
    assert "data plus partition key" in message and "1048578 bytes" in message
    kinesis.put_record(StreamName=stream, Data=b"x" * (MIB - 2), PartitionKey="pk")  # exactly 1 MiB in all
    assert [len(data) for data in stream_records(aws, stream)] == [MIB - 2]


def test_a_partition_key_over_256_characters_is_refused(aws: Callable[..., Any], stream: str) -> None:
    kinesis = aws("kinesis")
    key = "k" * 257
    code, message = error_of(lambda: kinesis.put_record(StreamName=stream, Data=b"x", PartitionKey=key))
    assert code == "ValidationException"
    assert message == (
        f"1 validation error detected: Value '{'k' * 64}...' at 'partitionKey' failed to satisfy constraint: "
        "Member must have length less than or equal to 256"
    )
    kinesis.put_record(StreamName=stream, Data=b"x", PartitionKey="é" * 256)  # characters, not bytes
    assert stream_records(aws, stream) == [b"x"]


def test_a_stream_over_the_shard_quota_is_refused_and_not_created(aws: Callable[..., Any]) -> None:
    kinesis = aws("kinesis")
    name = unique("quota")
    code, message = error_of(lambda: kinesis.create_stream(StreamName=name, ShardCount=501))
    assert code == "LimitExceededException"
    assert message.startswith(
        "This request would exceed the shard limit for the account 123456789012 in us-east-1."
    )
    assert (
        "Limit: 500. Number of additional shards that would have resulted from this request: 501." in message
    )
    assert name not in kinesis.list_streams()["StreamNames"]


# -- DynamoDB -----------------------------------------------------------------------------------
@pytest.fixture
def table(aws: Callable[..., Any]) -> Iterator[str]:
    name = unique("limits")
    dynamodb = aws("dynamodb")
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield name
    dynamodb.delete_table(TableName=name)


def stored_keys(aws: Callable[..., Any], name: str) -> set[str]:
    return {item["pk"]["S"] for item in aws("dynamodb").scan(TableName=name)["Items"]}


@pytest.mark.parametrize(
    ("number", "message"),
    [
        (
            "1E+126",
            "Number overflow. Attempting to store a number with magnitude larger than supported range",
        ),
        (
            "-1E+126",
            "Number overflow. Attempting to store a number with magnitude larger than supported range",
        ),
        (
            "1E-131",
            "Number underflow. Attempting to store a number with magnitude smaller than supported range",
        ),
        ("1" * 39, "Attempting to store more than 38 significant digits in a Number"),
        ("0." + "1" * 39, "Attempting to store more than 38 significant digits in a Number"),
    ],
)
def test_a_number_out_of_dynamodb_range_is_refused(
    aws: Callable[..., Any], table: str, number: str, message: str
) -> None:
    dynamodb = aws("dynamodb")
    item = {"pk": {"S": "n"}, "value": {"N": number}}
    assert error_of(lambda: dynamodb.put_item(TableName=table, Item=item)) == ("ValidationException", message)
    sets = {"pk": {"S": "ns"}, "values": {"NS": ["1", number]}}
    assert error_of(lambda: dynamodb.put_item(TableName=table, Item=sets)) == ("ValidationException", message)
    assert stored_keys(aws, table) == set()


def test_numbers_at_the_edges_of_the_range_are_stored(aws: Callable[..., Any], table: str) -> None:
    dynamodb = aws("dynamodb")
    edges = ["9.9999999999999999999999999999999999999E+125", "1E-130", "1" * 38, "123" + "0" * 100]
    for index, number in enumerate(edges):
        dynamodb.put_item(TableName=table, Item={"pk": {"S": str(index)}, "value": {"N": number}})
    just_over = {"pk": {"S": "over"}, "value": {"N": "10E+125"}}
    assert error_of(lambda: dynamodb.put_item(TableName=table, Item=just_over))[0] == "ValidationException"
    assert stored_keys(aws, table) == {"0", "1", "2", "3"}


def nested(depth: int) -> dict[str, Any]:
    """A map attribute value with ``depth`` levels of maps and lists."""
    value: dict[str, Any] = {"S": "leaf"}
    for level in range(depth):
        value = {"M": {"a": value}} if level % 2 else {"L": [value]}
    return value


def test_documents_nested_deeper_than_32_levels_are_refused(aws: Callable[..., Any], table: str) -> None:
    dynamodb = aws("dynamodb")
    deep = {"pk": {"S": "deep"}, "doc": nested(40)}
    code, message = error_of(lambda: dynamodb.put_item(TableName=table, Item=deep))
    assert (code, message) == ("ValidationException", "Nesting Levels have exceeded supported limits")
    update = {
        "TableName": table,
        "Key": {"pk": {"S": "deep"}},
        "UpdateExpression": "SET doc = :doc",
        "ExpressionAttributeValues": {":doc": nested(40)},
    }
    assert error_of(lambda: dynamodb.update_item(**update))[0] == "ValidationException"
    assert stored_keys(aws, table) == set()
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "ok"}, "doc": nested(32)})
    assert stored_keys(aws, table) == {"ok"}


def test_an_item_over_400_kb_is_refused_in_batches_and_transactions(
    aws: Callable[..., Any], table: str
) -> None:
    dynamodb = aws("dynamodb")
    big = {"pk": {"S": "big"}, "blob": {"S": "x" * (400 * 1024)}}
    batch = {table: [{"PutRequest": {"Item": {"pk": {"S": "small"}}}}, {"PutRequest": {"Item": big}}]}
    message = "Item size has exceeded the maximum allowed size"
    assert error_of(lambda: dynamodb.batch_write_item(RequestItems=batch)) == ("ValidationException", message)
    transaction = [{"Put": {"TableName": table, "Item": big}}]
    assert error_of(lambda: dynamodb.transact_write_items(TransactItems=transaction)) == (
        "ValidationException",
        message,
    )
    assert stored_keys(aws, table) == set(), "a refused batch writes none of its items"


def test_an_empty_key_is_refused_where_moto_took_it(aws: Callable[..., Any], table: str) -> None:
    dynamodb = aws("dynamodb")
    empty = {"pk": {"S": ""}}
    message = (
        "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain "
        "an empty string value. Key: pk"
    )
    calls = [
        lambda: dynamodb.update_item(
            TableName=table,
            Key=empty,
            UpdateExpression="SET a = :a",
            ExpressionAttributeValues={":a": {"S": "x"}},
        ),
        lambda: dynamodb.delete_item(TableName=table, Key=empty),
        lambda: dynamodb.batch_write_item(RequestItems={table: [{"DeleteRequest": {"Key": empty}}]}),
    ]
    for call in calls:
        assert error_of(call) == ("ValidationException", message)
    assert stored_keys(aws, table) == set(), "UpdateItem used to store an item under the empty key"


# -- S3 -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "A_B",
        "MyBucket",
        "under_score",
        "192.168.5.4",
        "xn--bucket",
        "bucket-s3alias",
        "sthree-bucket",
        "a..b",
    ],
)
def test_bucket_names_breaking_the_naming_rules_are_refused(aws: Callable[..., Any], name: str) -> None:
    s3 = aws("s3")
    assert error_of(lambda: s3.create_bucket(Bucket=name)) == (
        "InvalidBucketName",
        "The specified bucket is not valid.",
    )
    assert name not in {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}


def test_object_keys_over_1024_utf8_bytes_are_refused(aws: Callable[..., Any]) -> None:
    s3 = aws("s3")
    bucket = unique("keys")
    s3.create_bucket(Bucket=bucket)
    too_long = "é" * 513  # 513 characters, 1,026 bytes of UTF-8
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key=too_long, Body=b"x")) == (
        "KeyTooLongError",
        "Your key is too long",
    )
    longest = "é" * 512  # 1,024 bytes
    s3.put_object(Bucket=bucket, Key=longest, Body=b"x")
    assert [item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [longest]


# -- the request itself -------------------------------------------------------------------------
def raw_exchange(endpoint_url: str, head: bytes, body: bytes = b"", timeout: float = 60.0) -> bytes:
    """Send raw bytes on a fresh connection; return all the server sends back before closing."""
    host, port = endpoint_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as connection:
        connection.sendall(head + body)
        received = b""
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                return received
            received += chunk


SIGNED = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"


def request_head(service: str, length: int, target: str = "", path: str = "/") -> bytes:
    lines = [
        f"PUT {path} HTTP/1.1" if service == "s3" else f"POST {path} HTTP/1.1",
        "Host: localhost",
        f"Authorization: {SIGNED.format(service=service)}",
        f"Content-Length: {length}",
    ]
    if target:
        lines += [f"X-Amz-Target: {target}", "Content-Type: application/x-amz-json-1.1"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_a_huge_content_length_is_refused_without_reading_the_body(endpoint_url: str) -> None:
    answer = raw_exchange(
        endpoint_url, request_head("kinesis", 10**14, target="Kinesis_20131202.ListStreams")
    )
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 413")
    error = json.loads(body)
    assert error["__type"] == "RequestEntityTooLarge"
    assert "100000000000000 bytes exceeds the maximum of 67108864 bytes" in error["message"]
    answer = raw_exchange(endpoint_url, request_head("s3", 10**14, path=f"/{unique('cap')}/key"))
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"<Code>EntityTooLarge</Code>" in answer


def request_threads() -> list[threading.Thread]:
    """The server's threads that are handling a request right now (one per connection)."""
    return [thread for thread in threading.enumerate() if "process_request_thread" in thread.name]


def test_a_body_that_stops_halfway_is_answered_and_frees_its_thread(
    local_aws: Any, aws: Callable[..., Any]
) -> None:
    previous, local_aws.request_timeout = local_aws.request_timeout, 1.0
    try:
        head = request_head("kinesis", 100, target="Kinesis_20131202.ListStreams")
        answer = raw_exchange(local_aws.endpoint_url, head, b'{"Limit":')  # 9 of 100 bytes, then silence
        s3_answer = raw_exchange(local_aws.endpoint_url, request_head("s3", 100, path="/b/k"), b"half")
    finally:
        local_aws.request_timeout = previous
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 408")
    assert json.loads(body)["__type"] == "RequestTimeoutException"
    assert s3_answer.startswith(b"HTTP/1.1 400") and b"<Code>RequestTimeout</Code>" in s3_answer
    wait_until(lambda: not request_threads(), timeout=30, what="the request threads to end")
    assert "StreamNames" in aws("kinesis").list_streams()


# -- the crawler --------------------------------------------------------------------------------
def peak_rss_bytes(pid: int) -> int:
    """The process's high-water mark of resident memory (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc")


TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "glue.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def test_a_gzip_bomb_does_not_grow_the_crawling_server(tmp_path: Path) -> None:
    bomb = gzip.compress(b"\0" * (200 * MIB), compresslevel=9)  # about 200 KB
    with ServerProcess(tmp_path / "state") as server:
        assert server.process is not None
        s3, glue = server.client("s3"), server.client("glue")
        role = server.client("iam").create_role(RoleName="crawler", AssumeRolePolicyDocument=TRUST)["Role"][
            "Arn"
        ]
        reads = {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}
        server.client("iam").put_role_policy(  # local_aws checks the crawler's role (local_aws.iam)
            RoleName="crawler",
            PolicyName="reads",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [reads]}),
        )
        s3.create_bucket(Bucket="lake")
        s3.put_object(Bucket="lake", Key="data/bomb.json.gz", Body=bomb)
        s3.put_object(Bucket="lake", Key="data/good.json.gz", Body=gzip.compress(b'{"id": 1}\n{"id": 2}\n'))
        glue.create_database(DatabaseInput={"Name": "db"})
        glue.create_crawler(
            Name="bomb", Role=role, DatabaseName="db", Targets={"S3Targets": [{"Path": "s3://lake/data/"}]}
        )
        before = peak_rss_bytes(server.process.pid)
        glue.start_crawler(Name="bomb")
        wait_until(
            lambda: (
                glue.get_crawler(Name="bomb")["Crawler"]["State"] == "READY"
                and glue.get_crawler(Name="bomb")["Crawler"].get("LastCrawl")
            ),
            timeout=120,
            what="the crawl to end",
        )
        grown = peak_rss_bytes(server.process.pid) - before
        assert glue.get_crawler(Name="bomb")["Crawler"]["LastCrawl"]["Status"] == "SUCCEEDED"
        table = glue.get_table(DatabaseName="db", Name="data")["Table"]
        assert [column["Name"] for column in table["StorageDescriptor"]["Columns"]] == ["id"]
    assert grown < 100 * MIB, f"the server grew by {grown / MIB:.0f} MiB while crawling a 200 MiB gzip bomb"


def test_a_gzip_object_past_the_cap_is_classified_from_its_first_records() -> None:
    from local_aws.components import glue_schema

    lines = b"".join(json.dumps({"id": index, "pad": "x" * 100}).encode() + b"\n" for index in range(400_000))
    info = glue_schema.classify(gzip.compress(lines))
    assert (info.classification, info.compression) == ("json", "gzip")
    assert dict(info.fields) == {"id": "int", "pad": "string"}
    assert 0 < info.records < 400_000  # a sample of whole records, as the crawler reads a file's start


def test_a_chunked_body_past_the_cap_is_refused(local_aws: Any) -> None:
    head = (
        "POST / HTTP/1.1\r\nHost: localhost\r\n"
        f"Authorization: {SIGNED.format(service='kinesis')}\r\n"
        "X-Amz-Target: Kinesis_20131202.ListStreams\r\nContent-Type: application/x-amz-json-1.1\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b"x" * 4096
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(4)) + b"0\r\n\r\n"
    previous, local_aws.gateway.max_body_bytes = local_aws.gateway.max_body_bytes, 10_000
    try:
        answer = raw_exchange(local_aws.endpoint_url, head, body)
    finally:
        local_aws.gateway.max_body_bytes = previous
    status, _, payload = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 413")
    assert json.loads(payload)["__type"] == "RequestEntityTooLarge"


def test_a_body_cut_short_is_an_incomplete_body(endpoint_url: str) -> None:
    host, port = endpoint_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as connection:
        connection.sendall(request_head("s3", 100, path=f"/{unique('cut')}/key") + b"only ten b")
        connection.shutdown(socket.SHUT_WR)  # the client is done: 10 of 100 bytes
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"<Code>IncompleteBody</Code>" in answer
    assert b"10 of 100 bytes received" in answer


def test_a_malformed_chunk_header_is_a_bad_request(endpoint_url: str) -> None:
    head = (
        f"PUT /{unique('chunks')}/key HTTP/1.1\r\nHost: localhost\r\n"
        f"Authorization: {SIGNED.format(service='s3')}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    answer = raw_exchange(endpoint_url, head, b"zz\r\nabc\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"<Code>InvalidRequest</Code>" in answer and b"could not be read" in answer
