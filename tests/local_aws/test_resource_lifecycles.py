"""Resource lifecycles as AWS runs them: a delivery stream is CREATING before ACTIVE, a function Pending
before Active, an update InProgress before Successful, a mapping Creating before Enabled; each
refuses, with AWS's error code, what it cannot do yet; boto3's waiters wait for them.

The `hold` fixture keeps every transition from finishing (``LOCAL_AWS_ACTIVATION_SECONDS`` set
high at run time) while a test looks at the first state; ``release()`` lets them finish at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_aws.components import lifecycle
from tests.local_aws.firehose_helpers import ROLE, bucket, create_stream, error_code, status, wait_active
from tests.local_aws.lambda_helpers import (
    QUICK,
    create_function,
    invoke,
    lambda_role,
    make_zip,
    role_arn,
    wait_mapping,
)
from tests.support import unique, wait_until

__all__ = ["bucket", "create_function", "create_stream", "role_arn"]

ECHO = """
def handler(event, context):
    return {"got": event}
"""


@pytest.fixture
def hold() -> Iterator[Callable[[], None]]:
    """Transitions do not finish until ``release()`` (then they finish at the next read)."""
    lifecycle.set_activation_seconds(3600)
    try:
        yield lambda: lifecycle.set_activation_seconds(0)
    finally:
        lifecycle.set_activation_seconds(None)


def code(call: Callable[[], Any]) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response
    return error["Error"]["Code"], error["Error"]["Message"], error["ResponseMetadata"]["HTTPStatusCode"]


# -- Firehose -----------------------------------------------------------------------------------
def test_a_delivery_stream_is_creating_and_refuses_records_until_it_is_active(
    aws, bucket, create_stream, hold
):
    firehose = aws("firehose")
    name = create_stream(bucket, wait=False)
    assert status(firehose, name) == "CREATING"

    put_code, put_message = error_code(
        lambda: firehose.put_record(DeliveryStreamName=name, Record={"Data": b"x"})
    )
    assert put_code == "ResourceNotFoundException"
    assert name in put_message and "CREATING" in put_message
    batch_code, _ = error_code(
        lambda: firehose.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"x"}])
    )
    assert batch_code == "ResourceNotFoundException"
    delete_code, delete_message = error_code(lambda: firehose.delete_delivery_stream(DeliveryStreamName=name))
    assert delete_code == "ResourceInUseException" and name in delete_message
    described = firehose.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    update_code, _ = error_code(
        lambda: firehose.update_destination(
            DeliveryStreamName=name,
            CurrentDeliveryStreamVersionId=described["VersionId"],
            DestinationId=described["Destinations"][0]["DestinationId"],
            ExtendedS3DestinationUpdate={"BufferingHints": {"SizeInMBs": 2, "IntervalInSeconds": 60}},
        )
    )
    assert update_code == "ResourceInUseException"

    release = hold
    release()
    wait_active(firehose, name)
    assert firehose.put_record(DeliveryStreamName=name, Record={"Data": b"x"})["RecordId"]


def test_a_deleted_delivery_stream_is_deleting_then_gone(aws, bucket, create_stream, hold):
    firehose = aws("firehose")
    release = hold
    lifecycle.set_activation_seconds(0)
    name = create_stream(bucket)
    lifecycle.set_activation_seconds(3600)

    firehose.delete_delivery_stream(DeliveryStreamName=name)
    assert status(firehose, name) == "DELETING"
    assert name in firehose.list_delivery_streams()["DeliveryStreamNames"]
    put_code, put_message = error_code(
        lambda: firehose.put_record(DeliveryStreamName=name, Record={"Data": b"x"})
    )
    assert put_code == "ResourceNotFoundException" and "DELETING" in put_message
    firehose.delete_delivery_stream(DeliveryStreamName=name)  # deleting again is accepted
    again_code, _ = error_code(
        lambda: firehose.create_delivery_stream(
            DeliveryStreamName=name,
            ExtendedS3DestinationConfiguration={"BucketARN": f"arn:aws:s3:::{bucket}", "RoleARN": ROLE},
        )
    )
    assert again_code == "ResourceInUseException", "the name is taken until the delete is over"

    release()
    gone_code, _ = error_code(lambda: firehose.describe_delivery_stream(DeliveryStreamName=name))
    assert gone_code == "ResourceNotFoundException"
    assert name not in firehose.list_delivery_streams()["DeliveryStreamNames"]


# -- Lambda -------------------------------------------------------------------------------------
def test_a_new_function_is_pending_and_refuses_invoke_until_active(aws, role_arn, hold):
    client = aws("lambda")
    name = unique("pending")
    created = client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role_arn,
        Handler="app.handler",
        Code={"ZipFile": make_zip(ECHO)},
    )
    try:
        assert created["State"] == "Pending"
        assert created["StateReasonCode"] == "Creating"
        assert client.get_function(FunctionName=name)["Configuration"]["State"] == "Pending"

        assert code(lambda: client.invoke(FunctionName=name, Payload=b"{}")) == (
            "ResourceConflictException",
            "The operation cannot be performed at this time. "
            "The function is currently in the following state: Pending",
            409,
        )
        conflict, _, _ = code(lambda: client.update_function_configuration(FunctionName=name, Timeout=5))
        assert conflict == "ResourceConflictException"

        hold()  # release
        client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=QUICK)
        configuration = client.get_function_configuration(FunctionName=name)
        assert configuration["State"] == "Active" and configuration["LastUpdateStatus"] == "Successful"
        assert json.loads(invoke(aws, name, {"a": 1})["Body"]) == {"got": {"a": 1}}
    finally:
        client.delete_function(FunctionName=name)


def test_the_active_waiter_waits_through_pending(aws, role_arn):
    client = aws("lambda")
    name = unique("waited")
    lifecycle.set_activation_seconds(0.3)
    try:
        created = client.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role_arn,
            Handler="app.handler",
            Code={"ZipFile": make_zip(ECHO)},
        )
        assert created["State"] == "Pending"
        client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=QUICK)
        assert client.get_function(FunctionName=name)["Configuration"]["State"] == "Active"
    finally:
        lifecycle.set_activation_seconds(None)
        client.delete_function(FunctionName=name)


def test_an_update_is_in_progress_until_successful_and_refuses_another(aws, create_function, hold):
    client = aws("lambda")
    lifecycle.set_activation_seconds(0)
    name = create_function(ECHO)
    lifecycle.set_activation_seconds(3600)

    updated = client.update_function_code(FunctionName=name, ZipFile=make_zip(ECHO + "\n# v2\n"))
    assert updated["LastUpdateStatus"] == "InProgress"
    assert updated["LastUpdateStatusReasonCode"] == "Creating"
    assert client.get_function(FunctionName=name)["Configuration"]["LastUpdateStatus"] == "InProgress"
    arn = client.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    for second in (
        lambda: client.update_function_configuration(FunctionName=name, Timeout=5),
        lambda: client.update_function_code(FunctionName=name, ZipFile=make_zip(ECHO)),
    ):
        assert code(second) == (
            "ResourceConflictException",
            f"The operation cannot be performed at this time. An update is in progress for resource: {arn}",
            409,
        )
    assert invoke(aws, name, {})["StatusCode"] == 200, "an update in progress does not stop invocations"

    hold()  # release
    client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=QUICK)
    assert client.get_function(FunctionName=name)["Configuration"]["LastUpdateStatus"] == "Successful"
    assert client.update_function_configuration(FunctionName=name, Timeout=5)["Timeout"] == 5


# -- event source mappings ------------------------------------------------------------------------
@pytest.fixture
def mapping_parts(aws: Callable[..., Any], create_function) -> tuple[str, str]:
    """A one-shard Kinesis stream and an Active function allowed to read it: (stream ARN, function)."""
    stream = unique("lifecycle")
    aws("kinesis").create_stream(StreamName=stream, ShardCount=1)
    arn = aws("kinesis").describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    role = lambda_role(aws("iam"), "esm-lifecycle", ["kinesis:*"])["Arn"]
    return arn, create_function(ECHO, Role=role)


def test_a_mapping_is_creating_then_enabled_and_refuses_an_update_meanwhile(aws, mapping_parts, hold):
    client = aws("lambda")
    stream_arn, function = mapping_parts
    created = client.create_event_source_mapping(
        EventSourceArn=stream_arn, FunctionName=function, StartingPosition="TRIM_HORIZON"
    )
    uuid = created["UUID"]
    assert created["State"] == "Creating"
    assert client.get_event_source_mapping(UUID=uuid)["State"] == "Creating"
    in_use, message, http = code(lambda: client.update_event_source_mapping(UUID=uuid, BatchSize=5))
    assert (in_use, http) == ("ResourceInUseException", 400) and uuid in message

    hold()  # release
    assert wait_mapping(client, uuid)["State"] == "Enabled"
    lifecycle.set_activation_seconds(3600)
    assert client.update_event_source_mapping(UUID=uuid, BatchSize=5)["State"] == "Updating"
    busy, _, _ = code(lambda: client.delete_event_source_mapping(UUID=uuid))
    assert busy == "ResourceInUseException", "a mapping being updated cannot be deleted"
    again, _, _ = code(lambda: client.update_event_source_mapping(UUID=uuid, BatchSize=6))
    assert again == "ResourceConflictException"

    lifecycle.set_activation_seconds(0)
    assert wait_mapping(client, uuid)["BatchSize"] == 5
    lifecycle.set_activation_seconds(3600)
    assert client.update_event_source_mapping(UUID=uuid, Enabled=False)["State"] == "Disabling"
    lifecycle.set_activation_seconds(0)
    assert wait_mapping(client, uuid)["State"] == "Disabled"

    lifecycle.set_activation_seconds(3600)
    assert client.delete_event_source_mapping(UUID=uuid)["State"] == "Deleting"
    assert client.get_event_source_mapping(UUID=uuid)["State"] == "Deleting"
    listed = client.list_event_source_mappings(FunctionName=function)["EventSourceMappings"]
    assert [m["State"] for m in listed] == ["Deleting"]
    lifecycle.set_activation_seconds(0)
    gone, _, _ = code(lambda: client.get_event_source_mapping(UUID=uuid))
    assert gone == "ResourceNotFoundException"


def test_a_mapping_created_disabled_settles_disabled(aws, mapping_parts, hold):
    client = aws("lambda")
    stream_arn, function = mapping_parts
    created = client.create_event_source_mapping(
        EventSourceArn=stream_arn, FunctionName=function, StartingPosition="TRIM_HORIZON", Enabled=False
    )
    assert created["State"] == "Creating"
    hold()  # release
    assert wait_mapping(client, created["UUID"])["State"] == "Disabled"
    client.delete_event_source_mapping(UUID=created["UUID"])


def test_records_put_while_a_mapping_is_creating_are_delivered_once_it_is_enabled(
    aws, local_aws, mapping_parts, hold
):
    from local_aws.components.event_source_mappings_config import config_of

    client = aws("lambda")
    stream_arn, function = mapping_parts
    uuid = client.create_event_source_mapping(
        EventSourceArn=stream_arn, FunctionName=function, StartingPosition="LATEST"
    )["UUID"]
    aws("kinesis").put_record(StreamARN=stream_arn, Data=b'{"n": 1}', PartitionKey="k")
    with local_aws.world.lock:
        assert config_of(uuid) is None, "the poller reads nothing for a mapping still Creating"
    mapping = client.get_event_source_mapping(UUID=uuid)
    assert (mapping["State"], mapping["LastProcessingResult"]) == ("Creating", "No records processed")

    hold()  # release
    with local_aws.world.lock:
        assert config_of(uuid) is not None
    wait_until(
        lambda: client.get_event_source_mapping(UUID=uuid)["LastProcessingResult"] == "OK",
        timeout=60,
        what="the record put while Creating to be processed",
    )
    client.delete_event_source_mapping(UUID=uuid)


# -- the setting ----------------------------------------------------------------------------------
def test_a_bad_activation_setting_is_named(monkeypatch):
    monkeypatch.setenv(lifecycle.ENV, "soon")
    with pytest.raises(ValueError, match="LOCAL_AWS_ACTIVATION_SECONDS must be a number of seconds"):
        lifecycle.activation_seconds()
    monkeypatch.setenv(lifecycle.ENV, "0.25")
    assert lifecycle.activation_seconds() == 0.25
