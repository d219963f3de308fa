"""Every statement of every service role policy is needed, and together they are enough.

One pipeline of each topology runs under local_aws's decision audit (`local_aws.iam.audit`):
provisioned by the project's code, a few changes written, the Pipe, Firehose and its transform (CDC)
or the Kinesis consumer (direct) deliver them, the crawler catalogues them. Then, for each Allow
statement of each role's inline policy and of the permissions boundary, read back from IAM as
provisioned, the recorded requests of the roles it governs are evaluated again without it, by the
evaluator the requests went through (`audit.replay`): at least one must become denied. A statement
no recorded request needs fails the test unless `UNEXERCISED` says what on AWS needs it.

The walk is per statement: an action no request needs inside a statement that is needed (say
s3:GetObject beside Firehose's s3:PutObject) is not caught here.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer
from faker import Faker

from cdc_pipeline.definitions import PIPELINES, Topology
from cdc_pipeline.generators.orders import OrderDataset
from cdc_pipeline.iam_policies import boundary_policy_arn
from cdc_pipeline.local_connections import pandas_layer_arn
from cdc_pipeline.provision import provision, teardown
from cdc_pipeline.settings import Settings
from local_aws.iam import audit
from tests.support import unique, wait_until

CDC, DIRECT = PIPELINES["sales_orders"], PIPELINES["user_events"]
BOUNDARY = "boundary"

#: (role suffix or BOUNDARY, Sid) -> why AWS needs a statement that local_aws never exercises.
UNEXERCISED = {
    # Lambda sends a function's logs to CloudWatch Logs as its execution role; local_aws keeps
    # the log itself (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html,
    # "Required IAM permissions": logs:CreateLogGroup, logs:CreateLogStream, logs:PutLogEvents).
    ("transform-role", "WriteOwnLogs"): "Lambda writes the transform's logs as its role",
    ("consumer-role", "WriteOwnLogs"): "Lambda writes the consumer's logs as its role",
    (BOUNDARY, "WriteOwnLogs"): "the functions' and crawlers' logs, as above",
    # A crawler writes /aws-glue/crawlers logs as its role (AWSGlueServiceRole grants logs:* on
    # /aws-glue/*: https://docs.aws.amazon.com/glue/latest/dg/create-an-iam-role.html).
    ("crawler-role", "WriteCrawlerLogs"): "Glue writes the crawl's log as the crawler's role",
    # A crawler reads and writes its database's tables and partitions as its role ("Step 2: Create
    # an IAM role for AWS Glue", same page; crawler prerequisites: https://docs.aws.amazon.com/glue/
    # latest/dg/crawler-prereqs.html); local_aws's crawler checks only its S3 reads against the
    # role (see local_aws.iam.service_steps, LIMITATIONS), not its catalog calls.
    ("crawler-role", "CatalogOwnDatabase"): "Glue reads and writes the catalog as the crawler's role",
    # Firehose's S3 destination role "needs" s3:AbortMultipartUpload, GetBucketLocation, GetObject,
    # ListBucket, ListBucketMultipartUploads and PutObject (https://docs.aws.amazon.com/firehose/
    # latest/dev/controlling-access.html#using-iam-s3); local_aws's Firehose only puts objects.
    ("firehose-role", "LocateLakeBucket"): "Firehose locates the bucket and its uploads",
    ("firehose-role", "ListLakePrefixes"): "Firehose lists its prefixes (documented grant)",
}


@dataclass
class Walked:
    """What ran: the audit's records, and each role's policies as IAM holds them."""

    records: list[audit.AuditRecord]
    inline: dict[str, dict[str, Any]]  # role ARN -> its one inline policy document
    boundary: dict[str, Any]
    names: dict[str, str]  # role ARN -> its name


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings.from_env(
        {
            "CDC_LAKE_PREFIX": unique("walk"),
            "CDC_LAKE_ENFORCE_AWS_MINIMUMS": "false",
            "CDC_LAKE_FIREHOSE_BUFFER_INTERVAL": "1",
            "CDC_LAKE_PIPE_BATCH_WINDOW": "0",
            "CDC_LAKE_ROLE_PROPAGATION_TIMEOUT": "0",
            # The CDC pipeline's Firehose converts to Parquet: the walk covers the larger role.
            "CDC_LAKE_CHANGE_LOG_FORMAT": "parquet",
            "CDC_LAKE_FIREHOSE_BUFFER_SIZE": "64",
            "CDC_LAKE_PANDAS_LAYER_ARN": pandas_layer_arn("us-east-1"),
        }
    )


def _write_orders(aws: Callable[..., Any], table: str) -> None:
    """A new order, a change to it and a delete of another: INSERT, MODIFY and REMOVE records."""
    dataset = OrderDataset()
    dataset.reset(random.Random(13), Faker())
    now = datetime.now(UTC)
    first, second = dataset.new_item(now), dataset.new_item(now)
    serialize = TypeSerializer().serialize
    for item in (first, second, dataset.updated_item(first, now)):
        aws("dynamodb").put_item(TableName=table, Item={k: serialize(v) for k, v in item.items()})
    aws("dynamodb").delete_item(TableName=table, Key={"orderid": {"S": second["orderid"]}})


def _write_events(aws: Callable[..., Any], stream: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    for index in range(3):
        event = {"event_id": f"e-{index}", "user_id": "u-1", "event_type": "login", "event_time": stamp}
        aws("kinesis").put_record(StreamName=stream, Data=json.dumps(event).encode(), PartitionKey="u-1")


def _run(definition: Any, settings: Settings, aws: Callable[..., Any]) -> None:
    """Provision, write a few changes, wait for them in the lake, crawl it."""
    provision(definition, settings, aws)
    names = definition.resources(settings)
    if definition.topology is Topology.DIRECT:
        _write_events(aws, names.stream)
    else:
        _write_orders(aws, names.table)
    s3 = aws("s3")
    wait_until(
        lambda: s3.list_objects_v2(Bucket=names.lake_bucket, Prefix=f"{names.dataset}/").get("Contents"),
        60,
        what=f"{definition.name}'s changes in the lake",
    )
    glue = aws("glue")
    glue.start_crawler(Name=names.crawler)
    wait_until(
        lambda: (
            glue.get_tables(DatabaseName=names.glue_database).get("TableList")
            and glue.get_crawler(Name=names.crawler)["Crawler"]["State"] == "READY"
        ),
        60,
        what=f"{definition.name}'s crawl",
    )


def _read_back(aws: Callable[..., Any], role_arns: set[str], settings: Settings) -> Walked:
    iam = aws("iam")
    inline, names = {}, {}
    for arn in sorted(role_arns):
        name = arn.rsplit("/", 1)[-1]
        assert iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == [], name
        (policy_name,) = iam.list_role_policies(RoleName=name)["PolicyNames"]
        inline[arn] = iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
        names[arn] = name
        assert iam.get_role(RoleName=name)["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == (
            boundary_policy_arn(settings)
        )
    policy = iam.get_policy(PolicyArn=boundary_policy_arn(settings))["Policy"]
    version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
    return Walked([], inline, version["PolicyVersion"]["Document"], names)


@pytest.fixture(scope="module")
def walked(settings: Settings, aws: Callable[..., Any]) -> Iterator[Walked]:
    account = aws("sts").get_caller_identity()["Account"]
    settings = settings.with_account_id(account)
    roles: set[str] = set()
    try:
        with audit.recording() as records:
            for definition in (CDC, DIRECT):
                _run(definition, settings, aws)
        for definition in (CDC, DIRECT):
            names = definition.resources(settings)
            roles |= {names.role_arn(names.crawler_role), names.role_arn(names.lambda_role)}
            if definition.topology is Topology.CDC:
                roles |= {names.role_arn(names.pipe_role), names.role_arn(names.firehose_role)}
        result = _read_back(aws, roles, settings)
        result.records = [r for r in records if r.role_arn in roles]
        yield result
    finally:
        for definition in (DIRECT, CDC):
            teardown(definition, settings, aws, include_shared=definition is CDC)


def _without(document: dict[str, Any], statement: dict[str, Any]) -> str:
    return json.dumps({**document, "Statement": [s for s in document["Statement"] if s is not statement]})


def _role_key(name: str) -> str:
    """``walk-x-sales-orders-pipe-role`` -> ``pipe-role``: the kind of role, whatever the dataset."""
    return "-".join(name.split("-")[-2:])


def unneeded_statements(walked: Walked) -> set[tuple[str, str]]:
    """(role kind or BOUNDARY, Sid) of every Allow statement no recorded request needs."""
    boundary = json.dumps(walked.boundary)
    unneeded = set()
    for arn, document in walked.inline.items():
        mine = [r for r in walked.records if r.role_arn == arn]
        for statement in document["Statement"]:
            if statement["Effect"] != "Allow":
                continue
            without = (_without(document, statement),)
            if all(audit.replay(r, without, boundary).allowed for r in mine):
                unneeded.add((_role_key(walked.names[arn]), statement["Sid"]))
    for statement in walked.boundary["Statement"]:
        narrower = _without(walked.boundary, statement)
        if statement["Effect"] == "Allow" and all(
            audit.replay(r, (json.dumps(walked.inline[r.role_arn]),), narrower).allowed
            for r in walked.records
        ):
            unneeded.add((BOUNDARY, statement["Sid"]))
    return unneeded


def test_every_role_did_its_work_and_every_request_was_allowed(walked: Walked) -> None:
    boundary = json.dumps(walked.boundary)
    by_role = {_role_key(walked.names[r.role_arn]) for r in walked.records}
    # The transform makes no AWS call, so its role is never evaluated (its statement is UNEXERCISED).
    assert by_role == {"pipe-role", "firehose-role", "crawler-role", "consumer-role"}, by_role
    for record in walked.records:
        assert record.allowed, record.as_json()
        whole = (json.dumps(walked.inline[record.role_arn]),)
        assert audit.replay(record, whole, boundary).allowed, record.as_json()


def test_every_statement_of_every_service_role_and_the_boundary_is_needed(walked: Walked) -> None:
    unneeded = unneeded_statements(walked)
    assert not unneeded - set(UNEXERCISED), f"no recorded request needs {sorted(unneeded - set(UNEXERCISED))}"
    # An allow-listed statement that some request now needs leaves the list.
    assert not set(UNEXERCISED) - unneeded, f"exercised now: {sorted(set(UNEXERCISED) - unneeded)}"


def test_the_walk_names_a_statement_no_request_needs(walked: Walked) -> None:
    """The walk itself can fail: a statement granting something nothing did is named."""
    pipe = next(arn for arn in walked.inline if arn.endswith("-pipe-role"))
    document = walked.inline[pipe]
    extra = {
        "Sid": "DescribeTable",
        "Effect": "Allow",
        "Action": ["dynamodb:DescribeTable"],
        "Resource": ["*"],
    }
    widened = {**document, "Statement": [*document["Statement"], extra]}
    changed = Walked(walked.records, {**walked.inline, pipe: widened}, walked.boundary, walked.names)
    assert unneeded_statements(changed) - set(UNEXERCISED) == {("pipe-role", "DescribeTable")}
