"""Bucket policies are decided by local_aws.iam alone: moto's own check, which ignores Principal, is off.

moto refused an object request with a bare 403 whenever a Deny statement matched its action and
resource, whoever the statement named: the account's own requests were refused by a Deny written
for someone else, and the journal's replay of an object Firehose wrote was refused on restart, so
the object vanished.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.local_aws.test_persistence import in_fresh_process
from tests.support import unique

ACCOUNT = "123456789012"


def deny_put_to(principal_arn: str, bucket: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Principal": {"AWS": principal_arn},
                    "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
                    "Resource": f"arn:aws:s3:::{bucket}/*",
                }
            ],
        }
    )


def test_a_deny_naming_someone_else_does_not_refuse_the_caller_but_refuses_the_named_user(
    aws: Callable[..., Any],
) -> None:
    s3, iam = aws("s3"), aws("iam")
    bucket = unique("moto-check")
    s3.create_bucket(Bucket=bucket)
    named = iam.create_user(UserName=unique("denied-user"))["User"]
    iam.put_user_policy(
        UserName=named["UserName"],
        PolicyName="s3",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
            }
        ),
    )
    key = iam.create_access_key(UserName=named["UserName"])["AccessKey"]
    s3.put_bucket_policy(Bucket=bucket, Policy=deny_put_to(named["Arn"], bucket))

    # The account's own requests: not the principal the Deny names.
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k"}]})
    assert not result.get("Errors") and [d["Key"] for d in result["Deleted"]] == ["k"]

    # The user it names is refused, with AWS's words (local_aws.iam's answer, not moto's bare 403).
    user_s3 = aws("s3", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    with pytest.raises(ClientError) as error:
        user_s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    response = error.value.response["Error"]
    assert response["Code"] == "AccessDenied"
    assert response["Message"] == (
        f"User: {named['Arn']} is not authorized to perform: s3:PutObject on resource: "
        f'"arn:aws:s3:::{bucket}/k" with an explicit deny in a resource-based policy'
    ), response


def test_an_object_firehose_wrote_survives_a_restart_under_a_deny_naming_another_principal(tmp_path):
    """The replay of a journalled Firehose write goes straight to moto: it must not be authorised again."""
    state_dir = str(tmp_path / "state")
    delivered = in_fresh_process(
        f"""
        import time
        s3 = client("s3")
        s3.create_bucket(Bucket="lake")
        s3.put_bucket_policy(Bucket="lake", Policy={deny_put_to(f"arn:aws:iam::{ACCOUNT}:role/analyst", "lake")!r})
        client("firehose").create_delivery_stream(
            DeliveryStreamName="direct",
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={{
                "RoleARN": "arn:aws:iam::{ACCOUNT}:role/firehose",
                "BucketARN": "arn:aws:s3:::lake",
                "Prefix": "data/",
                "BufferingHints": {{"IntervalInSeconds": 0, "SizeInMBs": 1}},
            }},
        )
        status = "CREATING"  # a new delivery stream takes records once it is ACTIVE
        while status != "ACTIVE":
            time.sleep(0.05)
            status = client("firehose").describe_delivery_stream(DeliveryStreamName="direct")[
                "DeliveryStreamDescription"
            ]["DeliveryStreamStatus"]
        client("firehose").put_record(DeliveryStreamName="direct", Record={{"Data": b"one\\n"}})
        deadline = time.monotonic() + 60
        keys = []
        while not keys and time.monotonic() < deadline:
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket="lake").get("Contents", [])]
            time.sleep(0.05)
        print("RESULT " + json.dumps(keys), flush=True)
        os._exit(0)  # killed before any snapshot could hold the object: only the journal has it
        """,
        state_dir,
    )
    assert len(delivered) == 1

    seen = in_fresh_process(
        """
        s3 = client("s3")
        result = {o["Key"]: s3.get_object(Bucket="lake", Key=o["Key"])["Body"].read().decode()
                  for o in s3.list_objects_v2(Bucket="lake").get("Contents", [])}
        """,
        state_dir,
    )
    # Firehose may deliver the record again (its checkpoint was not in a snapshot either): at least
    # once, as on AWS. The acknowledged object itself must be there, under its own name.
    assert seen.get(delivered[0]) == "one\n", seen
