"""The IAM decision audit: what it records, that it stops, that a record replays, and its file form."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local_aws.iam import audit
from tests.local_aws.server_process import ServerProcess
from tests.support import unique

LIST_BUCKETS = {"Sid": "ListBuckets", "Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}


def _session(iam: Any, sts: Any, endpoint_url: str, statements: list[dict[str, Any]]) -> tuple[str, Any]:
    """(role ARN, an S3 client signed by a session of a new role holding ``statements``)."""
    account = sts.get_caller_identity()["Account"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    name = unique("audited")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    document = {"Version": "2012-10-17", "Statement": statements}
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(document))
    credentials = sts.assume_role(RoleArn=arn, RoleSessionName="audited")["Credentials"]
    client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    return arn, client


def test_recording_keeps_each_decision_of_a_role_session_and_replays_it(
    aws: Callable[..., Any], endpoint_url: str
) -> None:
    role, s3 = _session(aws("iam"), aws("sts"), endpoint_url, [LIST_BUCKETS])
    with audit.recording() as records:
        s3.list_buckets()
        with pytest.raises(ClientError):
            s3.create_bucket(Bucket=unique("refused"))
        aws("s3").list_buckets()  # the account's own keys: not evaluated, so not recorded
    s3.list_buckets()  # after the block: not recorded
    mine = [r for r in records if r.role_arn == role]
    assert [(r.action, r.allowed) for r in mine] == [
        ("s3:ListAllMyBuckets", True),
        ("s3:CreateBucket", False),
    ]
    assert [r.role_arn for r in records if r.action == "s3:ListAllMyBuckets"] == [role]
    listed, refused = mine
    assert listed.principal.caller_arn.endswith(":assumed-role/" + role.rsplit("/", 1)[-1] + "/audited")
    assert listed.context["aws:PrincipalArn"] == role
    assert refused.reason == "implicit deny in identity-based policy"
    # The same request, evaluated again with the policy minus its statement, is denied.
    empty = json.dumps({"Version": "2012-10-17", "Statement": []})
    assert audit.replay(listed).allowed
    assert not audit.replay(listed, identity_policies=(empty,)).allowed
    narrow = {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}
    boundary = json.dumps({"Version": "2012-10-17", "Statement": [{**narrow, "Action": "s3:GetObject"}]})
    assert not audit.replay(listed, boundary=boundary).allowed
    assert audit.replay(listed, boundary=json.dumps({"Statement": [narrow]})).allowed


def test_a_server_started_with_the_audit_path_writes_one_json_line_a_decision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "audit.jsonl"
    monkeypatch.setenv("LOCAL_AWS_IAM_AUDIT", str(log))
    with ServerProcess(tmp_path / "state") as server:
        role, s3 = _session(server.client("iam"), server.client("sts"), server.endpoint_url, [LIST_BUCKETS])
        s3.list_buckets()
        with pytest.raises(ClientError):
            s3.create_bucket(Bucket="refused")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(line["role"], line["action"], line["allowed"]) for line in lines] == [
        (role, "s3:ListAllMyBuckets", True),
        (role, "s3:CreateBucket", False),
    ]
    assert lines[1]["reason"] == "implicit deny in identity-based policy"
    assert lines[0]["principal"].endswith("/audited") and lines[0]["service"] == ""
    assert lines[0]["context"]["aws:SecureTransport"] == "true"
