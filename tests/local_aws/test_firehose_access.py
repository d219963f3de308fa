"""Firehose writes as its delivery role: bucket policies and bucket ownership decide, as in AWS.

A denied write is not lost: Firehose keeps the data, reports ``S3.AccessDenied`` in the delivery
stream's CloudWatch Logs error log, retries, and delivers everything once the bucket allows it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from local_aws import bucket_policies
from tests.local_aws.firehose_helpers import (
    ACCOUNT_ID,
    FAST,
    ROLE,
    bucket,
    create_stream,
    deny,
    error_log,
    kinesis_stream,
    lines,
    logged_errors,
    metadata_extraction,
    objects,
    processing,
    put_object_role,
    put_policy,
    send,
    stream_arn,
    wait_active,
    wait_for_errors,
    wait_lines,
    wait_objects,
)
from tests.local_aws.server_process import ServerProcess
from tests.support import unique, wait_until

__all__ = ["bucket", "create_stream", "error_log", "kinesis_stream"]  # fixtures

OTHER_ACCOUNT = "111122223333"
ERROR_LOG_KEYS = {"deliveryStreamARN", "destination", "deliveryStreamVersionId", "message", "errorCode"}


# -- a Deny for the delivery role -------------------------------------------------------------
def test_a_denied_role_keeps_its_records_logs_access_denied_and_delivers_them_once_allowed(
    aws: Callable[..., Any], bucket: str, create_stream, error_log: dict[str, Any]
):
    name = create_stream(
        bucket,
        destination={"Prefix": "data/", "BufferingHints": FAST, "CloudWatchLoggingOptions": error_log},
    )
    put_policy(aws("s3"), bucket, deny({"AWS": ROLE}, f"arn:aws:s3:::{bucket}/*"))
    first = [f"first-{i}\n".encode() for i in range(20)]
    send(aws, name, first)

    (entry, *_) = wait_for_errors(aws, error_log)
    assert set(entry) == ERROR_LOG_KEYS
    assert entry["deliveryStreamARN"] == stream_arn(aws, name)
    assert entry["destination"] == f"arn:aws:s3:::{bucket}"
    assert entry["deliveryStreamVersionId"] == 1
    assert entry["message"].startswith("Access was denied.")
    assert objects(aws, bucket) == {}, "a denied write must not land"

    # Records sent while the stream is blocked wait behind the first flush; the retries go on.
    second = [f"second-{i}\n".encode() for i in range(20)]
    send(aws, name, second)
    seen = len(logged_errors(aws, error_log))
    wait_for_errors(aws, error_log, count=seen + 1)
    assert objects(aws, bucket) == {}

    aws("s3").delete_bucket_policy(Bucket=bucket)
    received = wait_lines(aws, bucket, 40, what="all 40 records after the policy was removed")
    delivered = objects(aws, bucket, "data/")
    assert sorted(received) == sorted(first + second), "every record exactly once"
    # The flush that was blocked lands as it was sealed: the first batch, in order, ahead of the rest.
    (head,) = [body for body in delivered.values() if body.startswith(b"first-0\n")]
    assert head.splitlines(keepends=True) == first[: len(head.splitlines())]
    for body in delivered.values():
        order = body.splitlines(keepends=True)
        assert order == sorted(order, key=(first + second).index), "no record overtakes another"


def test_a_blocked_kinesis_source_keeps_its_checkpoints_and_order_until_the_records_are_in_s3(
    aws: Callable[..., Any],
    local_aws: Any,
    bucket: str,
    create_stream,
    kinesis_stream: tuple[str, str],
    error_log: dict[str, Any],
):
    source_name, source_arn = kinesis_stream
    name = create_stream(
        bucket,
        DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": source_arn, "RoleARN": ROLE},
        destination={"Prefix": "cdc/", "BufferingHints": FAST, "CloudWatchLoggingOptions": error_log},
    )
    put_policy(aws("s3"), bucket, deny({"AWS": ROLE}, f"arn:aws:s3:::{bucket}/cdc/*"))
    state = local_aws.world.store("firehose")["streams"][stream_arn(aws, name)]
    checkpoints = dict(state["shards"])

    def put(records: list[bytes]) -> None:
        aws("kinesis").put_records(
            StreamName=source_name,
            Records=[{"Data": data, "PartitionKey": data.split(b"-")[0].decode()} for data in records],
        )

    first = [f"k{i % 3}-{i}\n".encode() for i in range(30)]
    put(first)
    wait_for_errors(aws, error_log)
    later = [f"k{i % 3}-{i}\n".encode() for i in range(30, 60)]
    put(later)
    seen = len(logged_errors(aws, error_log))
    wait_for_errors(aws, error_log, count=seen + 1)
    assert objects(aws, bucket) == {}
    assert state["shards"] == checkpoints, "no checkpoint moves while nothing is in S3"

    aws("s3").delete_bucket_policy(Bucket=bucket)
    sent = first + later
    received = wait_lines(aws, bucket, len(sent), what="every Kinesis record after the policy was removed")
    delivered = objects(aws, bucket, "cdc/")
    assert sorted(received) == sorted(sent), "every record exactly once"
    for body in delivered.values():
        for key in (b"k0", b"k1", b"k2"):
            mine = [line for line in body.splitlines(keepends=True) if line.startswith(key)]
            assert mine == sorted(mine, key=sent.index), "one partition key's records stay in order"
    wait_until(lambda: state["shards"] != checkpoints, timeout=30, what="checkpoints after delivery")


MATCHING_DENIES = {
    "everyone, with an action wildcard": lambda b: deny("*", f"arn:aws:s3:::{b}/*") | {"Action": "s3:Put*"},
    "the role's account": lambda b: deny({"AWS": ACCOUNT_ID}, f"arn:aws:s3:::{b}/data/*"),
    "the account root ARN": lambda b: deny({"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, f"arn:aws:s3:::{b}/*"),
    "NotResource outside the prefix": lambda b: {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "NotResource": f"arn:aws:s3:::{b}/elsewhere/*",
    },
    "NotPrincipal that exempts someone else": lambda b: {
        "Effect": "Deny",
        "NotPrincipal": {"AWS": [f"arn:aws:iam::{ACCOUNT_ID}:role/admin", f"arn:aws:iam::{ACCOUNT_ID}:root"]},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{b}/*",
    },
    "StringEquals aws:PrincipalAccount": lambda b: deny(
        "*", f"arn:aws:s3:::{b}/*", Condition={"StringEquals": {"aws:PrincipalAccount": ACCOUNT_ID}}
    ),
    "ArnLike aws:PrincipalArn": lambda b: deny(
        "*",
        f"arn:aws:s3:::{b}/*",
        Condition={"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/firehose-*"}},
    ),
    "StringNotLike aws:PrincipalArn (all but admin)": lambda b: deny(
        {"AWS": ROLE},
        f"arn:aws:s3:::{b}/*",
        Condition={"StringNotLike": {"aws:PrincipalArn": "*:role/admin"}},
    ),
    "Null s3:x-amz-acl (no ACL sent)": lambda b: deny(
        "*", f"arn:aws:s3:::{b}/*", Condition={"Null": {"s3:x-amz-acl": "true"}}
    ),
    "NotIpAddress (Firehose is not on your network)": lambda b: deny(
        "*", f"arn:aws:s3:::{b}/*", Condition={"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}
    ),
    "Bool aws:SecureTransport true": lambda b: deny(
        "*", f"arn:aws:s3:::{b}/*", Condition={"Bool": {"aws:SecureTransport": "true"}}
    ),
}


@pytest.mark.parametrize("statement", list(MATCHING_DENIES.values()), ids=list(MATCHING_DENIES))
def test_each_form_of_a_matching_deny_blocks_the_delivery(
    aws: Callable[..., Any], bucket: str, create_stream, error_log: dict[str, Any], statement: Any
):
    name = create_stream(
        bucket,
        destination={"Prefix": "data/", "BufferingHints": FAST, "CloudWatchLoggingOptions": error_log},
    )
    put_policy(aws("s3"), bucket, statement(bucket))
    send(aws, name, [b"blocked\n"])
    wait_for_errors(aws, error_log)
    assert objects(aws, bucket) == {}


NON_MATCHING_DENIES = {
    "another principal": lambda b: deny(
        {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:role/someone-else"}, f"arn:aws:s3:::{b}/*"
    ),
    "another account": lambda b: deny({"AWS": OTHER_ACCOUNT}, f"arn:aws:s3:::{b}/*"),
    "another prefix": lambda b: deny("*", f"arn:aws:s3:::{b}/archive/*"),
    "another action": lambda b: (
        deny("*", f"arn:aws:s3:::{b}/*") | {"Action": ["s3:DeleteObject", "s3:PutObjectAcl"]}
    ),
    "a TLS-only policy": lambda b: deny(
        "*", f"arn:aws:s3:::{b}/*", Condition={"Bool": {"aws:SecureTransport": "false"}}
    ),
    "NotPrincipal exempting the role": lambda b: {
        "Effect": "Deny",
        "NotPrincipal": {"AWS": [ROLE, f"arn:aws:iam::{ACCOUNT_ID}:root"]},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{b}/open/*",
    },
    "StringNotEquals aws:PrincipalAccount (other accounts only)": lambda b: deny(
        "*", f"arn:aws:s3:::{b}/*", Condition={"StringNotEquals": {"aws:PrincipalAccount": ACCOUNT_ID}}
    ),
    "ArnNotLike aws:PrincipalArn": lambda b: deny(
        "*", f"arn:aws:s3:::{b}/open/*", Condition={"ArnNotLike": {"aws:PrincipalArn": ROLE}}
    ),
    "a service principal": lambda b: deny({"Service": "logging.s3.amazonaws.com"}, f"arn:aws:s3:::{b}/*"),
}


@pytest.mark.parametrize("statement", list(NON_MATCHING_DENIES.values()), ids=list(NON_MATCHING_DENIES))
def test_a_deny_about_someone_or_something_else_does_not_block(
    aws: Callable[..., Any], bucket: str, create_stream, error_log: dict[str, Any], statement: Any
):
    # Beside the statement under test, a Deny on blocked/ for the role proves the policy is read.
    open_stream = create_stream(bucket, destination={"Prefix": "open/", "BufferingHints": FAST})
    blocked_stream = create_stream(
        bucket,
        destination={"Prefix": "blocked/", "BufferingHints": FAST, "CloudWatchLoggingOptions": error_log},
    )
    put_policy(aws("s3"), bucket, statement(bucket), deny({"AWS": ROLE}, f"arn:aws:s3:::{bucket}/blocked/*"))
    send(aws, open_stream, [b"open\n"])
    send(aws, blocked_stream, [b"blocked\n"])
    wait_for_errors(aws, error_log)
    delivered = wait_objects(aws, bucket, prefix="open/")
    assert list(delivered.values()) == [b"open\n"]
    assert objects(aws, bucket, "blocked/") == {}


def test_after_the_retention_period_a_blocked_flush_is_discarded_and_its_records_acknowledged(
    aws: Callable[..., Any],
    local_aws: Any,
    monkeypatch: pytest.MonkeyPatch,
    bucket: str,
    create_stream,
    error_log: dict[str, Any],
):
    from local_aws.components import firehose_destination

    monkeypatch.setattr(firehose_destination, "RETENTION_S", 2)  # AWS keeps undeliverable data for 24 hours
    name = create_stream(
        bucket,
        destination={"Prefix": "data/", "BufferingHints": FAST, "CloudWatchLoggingOptions": error_log},
    )
    put_policy(aws("s3"), bucket, deny({"AWS": ROLE}, f"arn:aws:s3:::{bucket}/*"))
    send(aws, name, [b"too-late\n"])
    wait_for_errors(aws, error_log)
    state = local_aws.world.store("firehose")["streams"][stream_arn(aws, name)]
    wait_until(lambda: not state["direct"], timeout=60, what="the discarded record acknowledged")

    aws("s3").delete_bucket_policy(Bucket=bucket)
    send(aws, name, [b"marker\n"])
    delivered = wait_objects(aws, bucket, prefix="data/")
    assert list(delivered.values()) == [b"marker\n"], "the discarded flush never comes back"


def test_a_missing_bucket_is_logged_as_s3_no_such_bucket_and_delivered_once_it_exists(
    aws: Callable[..., Any], create_stream, error_log: dict[str, Any]
):
    bucket = unique("fh-missing-bkt")
    name = create_stream(
        bucket,
        destination={"Prefix": "data/", "BufferingHints": FAST, "CloudWatchLoggingOptions": error_log},
    )
    send(aws, name, [b"waits\n"])
    (entry, *_) = wait_for_errors(aws, error_log, code="S3.NoSuchBucket")
    assert entry["destination"] == f"arn:aws:s3:::{bucket}"
    assert entry["message"].startswith("The specified bucket does not exist.")

    aws("s3").create_bucket(Bucket=bucket)
    assert list(wait_objects(aws, bucket, prefix="data/").values()) == [b"waits\n"]


def test_a_deny_that_exempts_the_role_by_its_unique_id_lets_only_that_role_write(
    aws: Callable[..., Any], bucket: str, create_stream, error_log: dict[str, Any]
):
    # an existing role's own policies are checked too (local_aws.iam)
    role = put_object_role(aws, "fh-writer")
    # AWS's documented way to let one role write: exempt its unique id (aws:userid is "<id>:<session>").
    put_policy(
        aws("s3"),
        bucket,
        deny(
            "*",
            f"arn:aws:s3:::{bucket}/*",
            Condition={"StringNotLike": {"aws:userid": [f"{role['RoleId']}:*"]}},
        ),
    )
    writer = create_stream(
        bucket, destination={"RoleARN": role["Arn"], "Prefix": "writer/", "BufferingHints": FAST}
    )
    other = create_stream(
        bucket,
        destination={"Prefix": "other/", "BufferingHints": FAST, "CloudWatchLoggingOptions": error_log},
    )
    send(aws, writer, [b"mine\n"])
    send(aws, other, [b"not mine\n"])
    wait_for_errors(aws, error_log)
    assert list(wait_objects(aws, bucket, prefix="writer/").values()) == [b"mine\n"]
    assert objects(aws, bucket, "other/") == {}


# -- another account's bucket -----------------------------------------------------------------
@pytest.fixture
def other_account_s3(aws: Callable[..., Any]) -> Any:
    """An S3 client of another account's owner (moto picks the account from ``x-moto-account-id``)."""
    client = aws("s3", aws_access_key_id="testing", aws_secret_access_key="testing")

    def as_other_account(request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = OTHER_ACCOUNT

    client.meta.events.register("before-sign.s3.*", as_other_account)
    return client


def test_a_bucket_of_another_account_needs_an_explicit_allow_for_the_role(
    aws: Callable[..., Any], other_account_s3: Any, create_stream, error_log: dict[str, Any]
):
    bucket = unique("fh-xacct-bkt")
    other_account_s3.create_bucket(Bucket=bucket)
    assert bucket not in [b["Name"] for b in aws("s3").list_buckets()["Buckets"]], (
        "owned by the other account"
    )
    name = create_stream(
        bucket,
        destination={"Prefix": "in/", "BufferingHints": FAST, "CloudWatchLoggingOptions": error_log},
    )
    send(aws, name, [b"one\n", b"two\n"])
    wait_for_errors(aws, error_log)  # no bucket policy: another account's role has no access
    assert other_account_s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0

    # An Allow for some other principal of the stream's account is not an Allow for the role.
    allow = {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
    put_policy(
        other_account_s3, bucket, allow | {"Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:role/other"}}
    )
    seen = len(logged_errors(aws, error_log))
    wait_for_errors(aws, error_log, count=seen + 1)
    assert other_account_s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0

    put_policy(other_account_s3, bucket, allow | {"Principal": {"AWS": ROLE}})
    keys = wait_until(
        lambda: [item["Key"] for item in other_account_s3.list_objects_v2(Bucket=bucket).get("Contents", [])],
        timeout=60,
        what="the delivery into the other account's bucket",
    )
    (key,) = keys
    assert key.startswith("in/")
    assert other_account_s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"one\ntwo\n"


# -- the error prefix ---------------------------------------------------------------------------
def test_the_error_prefix_obeys_the_same_policy(
    aws: Callable[..., Any], bucket: str, create_stream, error_log: dict[str, Any]
):
    name = create_stream(
        bucket,
        destination={
            "Prefix": "orders/customer=!{partitionKeyFromQuery:customer}/",
            "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/",
            "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 0},
            "DynamicPartitioningConfiguration": {"Enabled": True},
            "ProcessingConfiguration": processing(metadata_extraction("{customer: .customer}")),
            "CloudWatchLoggingOptions": error_log,
        },
    )
    put_policy(aws("s3"), bucket, deny({"AWS": ROLE}, f"arn:aws:s3:::{bucket}/errors/*"))
    good, bad = b'{"customer": "c1", "n": 1}', b'{"n": 2}'
    send(aws, name, [good, bad])

    wait_for_errors(aws, error_log)
    delivered = wait_objects(aws, bucket, prefix="orders/")
    assert list(delivered.values()) == [good], "the allowed object of the flush is written"
    assert objects(aws, bucket, "errors/") == {}

    aws("s3").delete_bucket_policy(Bucket=bucket)
    failed = wait_objects(aws, bucket, prefix="errors/")
    ((key, body),) = failed.items()
    assert key.startswith("errors/dynamic-partitioning-failed/")
    (record,) = lines(body)
    assert record["errorCode"] == "DynamicPartitioning.MetadataExtractionFailed"
    assert list(objects(aws, bucket, "orders/").values()) == [good], "nothing written twice"


# -- a restart while blocked -------------------------------------------------------------------
def test_records_held_by_a_deny_survive_a_kill_and_are_delivered_once_allowed(tmp_path: Path):
    server = ServerProcess(tmp_path / "state", snapshot_interval=1.0)
    clients: dict[str, Any] = {}

    def aws(service: str) -> Any:
        if service not in clients:
            clients[service] = server.client(service)
        return clients[service]

    try:
        server.start()
        bucket, name = unique("fh-restart-bkt"), unique("hose")
        options = {
            "Enabled": True,
            "LogGroupName": f"/aws/kinesisfirehose/{name}",
            "LogStreamName": "S3Delivery",
        }
        aws("s3").create_bucket(Bucket=bucket)
        aws("logs").create_log_group(logGroupName=options["LogGroupName"])
        aws("logs").create_log_stream(logGroupName=options["LogGroupName"], logStreamName="S3Delivery")
        aws("firehose").create_delivery_stream(
            DeliveryStreamName=name,
            ExtendedS3DestinationConfiguration={
                "BucketARN": f"arn:aws:s3:::{bucket}",
                "RoleARN": ROLE,
                "BufferingHints": FAST,
                "CloudWatchLoggingOptions": options,
            },
        )
        wait_active(aws("firehose"), name)
        put_policy(aws("s3"), bucket, deny({"AWS": ROLE}, f"arn:aws:s3:::{bucket}/*"))
        sent = [f"held-{i}\n".encode() for i in range(50)]
        send(aws, name, sent)
        wait_for_errors(aws, options)

        server.kill()
        server.start()
        # The restarted server still holds the records and still may not write them.
        seen = len(logged_errors(aws, options))
        wait_for_errors(aws, options, count=seen + 1)
        assert objects(aws, bucket) == {}

        aws("s3").delete_bucket_policy(Bucket=bucket)
        received = wait_lines(aws, bucket, len(sent), what="the held records after the restart")
        assert sorted(received) == sorted(sent), "nothing lost, nothing doubled"
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n--- server log ---\n{server.log_tail()}") from failure
    finally:
        server.stop()


# -- the evaluator on its own -------------------------------------------------------------------
def role_request(key: str = "data/x", **context: str) -> bucket_policies.Request:
    request = bucket_policies.role_request(ROLE, "s3:PutObject", f"arn:aws:s3:::b/{key}", "session")
    return bucket_policies.Request(
        request.principal_arn,
        request.account_id,
        request.action,
        request.resource,
        {**request.context, **context},
        request.session_arn,
    )


@pytest.mark.parametrize(
    ("condition", "context", "holds"),
    [
        ({"StringEquals": {"aws:PrincipalAccount": ["1", ACCOUNT_ID]}}, {}, True),
        ({"StringEqualsIgnoreCase": {"AWS:PRINCIPALTYPE": "assumedrole"}}, {}, True),
        ({"StringNotEquals": {"s3:x-amz-acl": "private"}}, {}, True),  # missing key: negated is true
        ({"StringEquals": {"s3:x-amz-acl": "private"}}, {}, False),  # missing key: positive is false
        ({"StringEqualsIfExists": {"s3:x-amz-acl": "private"}}, {}, True),
        ({"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}, {"s3:x-amz-acl": "private"}, False),
        ({"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/fire?ose-*"}}, {}, True),
        ({"ArnEquals": {"aws:PrincipalArn": ROLE}}, {}, True),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:*"}}, {}, True),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*"}}, {}, False),
        ({"Bool": {"aws:SecureTransport": False}}, {}, False),
        ({"Null": {"aws:SourceVpce": "true"}}, {}, True),
        ({"Null": {"aws:PrincipalArn": "true"}}, {}, False),
        ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "10.1.2.3"}, True),
        (
            {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}},
            {"aws:SourceIp": "10.1.2.3"},
            False,
        ),
        ({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "5"}, True),
        ({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, {}, True),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["c", "b"]}, True),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["c", "b"]}, False),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}, {}, True),
        (
            {"StringEquals": {"aws:PrincipalAccount": ACCOUNT_ID}, "Bool": {"aws:SecureTransport": "false"}},
            {},
            False,
        ),
    ],
)
def test_condition_operators(condition: dict[str, Any], context: dict[str, Any], holds: bool):
    assert bucket_policies.conditions_hold(condition, role_request(**context).context) is holds


def test_decisions_explicit_deny_wins_and_other_accounts_need_an_allow():
    request = role_request()
    allow = {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}
    denial = {
        "Sid": "NoWrites",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": "*",
    }
    policy = {"Statement": [allow, denial]}

    decision = bucket_policies.decide(policy, ACCOUNT_ID, request)
    assert (decision.allowed, decision.effect, decision.statement_id) == (
        False,
        bucket_policies.Effect.DENY,
        "NoWrites",
    )
    assert bucket_policies.decide(None, ACCOUNT_ID, request).allowed  # the owner's own role
    assert not bucket_policies.decide(None, OTHER_ACCOUNT, request).allowed
    assert bucket_policies.decide({"Statement": allow}, OTHER_ACCOUNT, request).allowed
    assert "belongs to account 111122223333" in bucket_policies.decide(None, OTHER_ACCOUNT, request).reason
    # A NotPrincipal must name the account and the role (or its session) to exempt the role.
    only_role = {**denial, "NotPrincipal": {"AWS": ROLE}}
    del only_role["Principal"]
    assert not bucket_policies.decide({"Statement": [only_role]}, ACCOUNT_ID, request).allowed
    session = {**only_role, "NotPrincipal": {"AWS": [request.session_arn, ACCOUNT_ID]}}
    assert bucket_policies.decide({"Statement": [session]}, ACCOUNT_ID, request).allowed
    with pytest.raises(bucket_policies.PolicyError):
        bucket_policies.decide("{not json", ACCOUNT_ID, request)
