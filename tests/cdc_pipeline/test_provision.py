"""Provisioning and teardown against the embedded AWS, checked the way a boto3 user would."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cdc_pipeline.definitions import SALES_ORDERS, ResourceNames
from cdc_pipeline.iam_policies import role_specs
from cdc_pipeline.provision import Outcome, provision, teardown
from cdc_pipeline.provision.dynamodb import TableStreamError
from cdc_pipeline.provision.lambda_function import build_zip, code_sha256
from cdc_pipeline.provision.waiting import retry_while_role_propagates
from cdc_pipeline.settings import Settings
from tests.support import unique

ACCOUNT = "123456789012"
# Each service's documented confused-deputy key; Glue and Lambda send none (cdc_pipeline.iam_policies).
TRUST_CONDITIONS = {
    "pipes.amazonaws.com": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
    "firehose.amazonaws.com": {"StringEquals": {"sts:ExternalId": ACCOUNT}},
    "glue.amazonaws.com": None,
    "lambda.amazonaws.com": None,
}
HANDLER = 'def lambda_handler(event, context):\n    return {"records": []}\n'


@pytest.fixture
def lambda_dir(tmp_path: Path) -> Path:
    """A transform folder of our own, so these tests do not depend on the real transform's code."""
    folder = tmp_path / "functions" / "cdc_transform"
    (folder / "tests").mkdir(parents=True)
    (folder / "__pycache__").mkdir()
    (folder / "handler.py").write_text(HANDLER)
    (folder / "tests" / "test_handler.py").write_text("def test_nothing():\n    pass\n")
    (folder / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"\x00compiled")
    return folder


@pytest.fixture
def settings(lambda_dir: Path) -> Settings:
    """Settings with a prefix no other test uses, and local-sized buffering."""
    return Settings.from_env(
        {
            "CDC_LAKE_PREFIX": unique("t"),
            "CDC_LAKE_FIREHOSE_BUFFER_INTERVAL": "1",
            "CDC_LAKE_ENFORCE_AWS_MINIMUMS": "false",
            "CDC_LAKE_LAMBDA_DIR": str(lambda_dir.parent),
        }
    )


@pytest.fixture
def names(settings: Settings) -> ResourceNames:
    return SALES_ORDERS.resources(settings.with_account_id(ACCOUNT))


@pytest.fixture
def clients(aws: Callable[..., Any]) -> Callable[[str], Any]:
    return lambda service: aws(service)


def actions(outcomes: list[Outcome]) -> dict[str, str]:
    return {outcome.resource: outcome.action for outcome in outcomes}


PLANNED = [
    "lake_bucket",
    "athena_results_bucket",
    "alerts_topic",
    "permissions_boundary",
    "lambda_role",
    "pipe_role",
    "firehose_role",
    "crawler_role",
    "table",
    "stream",
    "transform_function",
    "glue_database",
    # The Parquet change log's schema: Firehose converts with it, so it comes before the stream.
    "change_table",
    # Firehose reads its Kinesis source from LATEST: it must be ACTIVE before the Pipe writes there.
    "delivery_stream",
    "pipe",
    "crawler",
    "athena_workgroup",
    "state_table",
]


def test_provision_twice_creates_then_changes_nothing(
    settings: Settings, names: ResourceNames, clients: Callable[[str], Any], aws: Callable[..., Any]
) -> None:
    first = provision(SALES_ORDERS, settings, clients)
    assert [o.resource for o in first] == PLANNED
    assert set(actions(first).values()) == {"created"}
    second = provision(SALES_ORDERS, settings, clients)
    assert actions(second) == dict.fromkeys(PLANNED, "unchanged")

    s3 = aws("s3")
    for bucket in (names.lake_bucket, names.athena_results_bucket):
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(
            block[key]
            for key in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
        )
        (statement,) = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
        assert statement["Effect"] == "Deny"
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert f"arn:aws:s3:::{bucket}/*" in statement["Resource"]

    table = aws("dynamodb").describe_table(TableName=names.table)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "orderid", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}

    stream = aws("kinesis").describe_stream_summary(StreamName=names.stream)["StreamDescriptionSummary"]
    assert (stream["StreamStatus"], stream["OpenShardCount"]) == ("ACTIVE", settings.kinesis_shard_count)

    function = aws("lambda").get_function(FunctionName=names.function)["Configuration"]
    assert (function["Runtime"], function["Handler"]) == ("python3.14", "handler.lambda_handler")
    assert function["Role"] == names.role_arn(names.lambda_role)
    variables = function["Environment"]["Variables"]
    assert variables["EVENT_TIME_ATTRIBUTE"] == "updated_at"
    # The Parquet change log keeps undeclared attributes aside: the transform knows what is declared.
    assert json.loads(variables["DECLARED_COLUMNS"]) == dict.fromkeys(
        name for name, _ in SALES_ORDERS.columns
    )
    assert function["CodeSha256"] == code_sha256(build_zip(settings.lambda_dir / "cdc_transform"))

    pipe = aws("pipes").describe_pipe(Name=names.pipe)
    assert pipe["Source"] == table["LatestStreamArn"]
    assert pipe["SourceParameters"]["DynamoDBStreamParameters"]["StartingPosition"] == "TRIM_HORIZON"
    assert pipe["SourceParameters"]["DynamoDBStreamParameters"]["BatchSize"] == settings.pipe_batch_size
    assert pipe["Target"] == names.stream_arn
    assert pipe["TargetParameters"] == {
        "KinesisStreamParameters": {"PartitionKey": "$.dynamodb.Keys.orderid.S"}
    }
    assert pipe["RoleArn"] == names.role_arn(names.pipe_role)

    hose = aws("firehose").describe_delivery_stream(DeliveryStreamName=names.delivery_stream)[
        "DeliveryStreamDescription"
    ]
    assert hose["DeliveryStreamType"] == "KinesisStreamAsSource"
    assert hose["Source"]["KinesisStreamSourceDescription"]["KinesisStreamARN"] == names.stream_arn
    destination = hose["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert destination["BucketARN"] == f"arn:aws:s3:::{names.lake_bucket}"
    assert destination["Prefix"] == SALES_ORDERS.lake_prefix_expression
    assert destination["ErrorOutputPrefix"] == names.error_prefix
    assert destination["BufferingHints"] == {"IntervalInSeconds": 1, "SizeInMBs": 64}
    assert destination["DynamicPartitioningConfiguration"]["Enabled"] is True
    (processor,) = destination["ProcessingConfiguration"]["Processors"]
    assert {"ParameterName": "LambdaArn", "ParameterValue": names.function_arn} in processor["Parameters"]

    glue = aws("glue")
    assert glue.get_database(Name=names.glue_database)["Database"]["Name"] == names.glue_database
    crawler = glue.get_crawler(Name=names.crawler)["Crawler"]
    assert crawler["Targets"]["S3Targets"][0]["Path"] == f"s3://{names.lake_bucket}/sales_orders/"
    assert crawler["DatabaseName"] == names.glue_database
    assert crawler["SchemaChangePolicy"] == {"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "LOG"}
    assert crawler["Role"] == names.role_arn(names.crawler_role)

    workgroup = aws("athena").get_work_group(WorkGroup=names.athena_workgroup)["WorkGroup"]
    configuration = workgroup["Configuration"]
    assert (
        configuration["ResultConfiguration"]["OutputLocation"]
        == f"s3://{names.athena_results_bucket}/athena/"
    )
    assert configuration["EnforceWorkGroupConfiguration"] is True

    topics = [t["TopicArn"] for t in aws("sns").list_topics()["Topics"]]
    assert names.alerts_topic_arn in topics

    teardown(SALES_ORDERS, settings, clients)


def test_changed_settings_update_in_place(
    settings: Settings, names: ResourceNames, clients: Callable[[str], Any], aws: Callable[..., Any]
) -> None:
    provision(SALES_ORDERS, settings, clients)
    firehose = aws("firehose")
    before = firehose.describe_delivery_stream(DeliveryStreamName=names.delivery_stream)[
        "DeliveryStreamDescription"
    ]
    pipe_before = aws("pipes").describe_pipe(Name=names.pipe)

    changed = settings.replace(firehose_buffer_interval_seconds=5, pipe_batch_size=250)
    outcomes = actions(provision(SALES_ORDERS, changed, clients))
    assert outcomes.pop("delivery_stream") == "updated"
    assert outcomes.pop("pipe") == "updated"
    assert set(outcomes.values()) == {"unchanged"}

    after = firehose.describe_delivery_stream(DeliveryStreamName=names.delivery_stream)[
        "DeliveryStreamDescription"
    ]
    hints = after["Destinations"][0]["ExtendedS3DestinationDescription"]["BufferingHints"]
    assert hints["IntervalInSeconds"] == 5
    # In place: the same stream (ARN, creation time), a newer version.
    assert after["DeliveryStreamARN"] == before["DeliveryStreamARN"]
    assert after["CreateTimestamp"] == before["CreateTimestamp"]
    assert int(after["VersionId"]) > int(before["VersionId"])
    pipe_after = aws("pipes").describe_pipe(Name=names.pipe)
    assert pipe_after["SourceParameters"]["DynamoDBStreamParameters"]["BatchSize"] == 250
    assert (pipe_after["Arn"], pipe_after["CreationTime"]) == (
        pipe_before["Arn"],
        pipe_before["CreationTime"],
    )

    assert set(actions(provision(SALES_ORDERS, changed, clients)).values()) == {"unchanged"}
    teardown(SALES_ORDERS, settings, clients)


def test_function_code_is_uploaded_only_when_it_changes(
    settings: Settings,
    names: ResourceNames,
    lambda_dir: Path,
    clients: Callable[[str], Any],
    aws: Callable[..., Any],
) -> None:
    provision(SALES_ORDERS, settings, clients)
    awslambda = aws("lambda")
    first = awslambda.get_function(FunctionName=names.function)["Configuration"]

    # Touching files or adding caches and tests changes nothing that is deployed.
    os.utime(lambda_dir / "handler.py", (1_000_000_000, 1_000_000_000))
    (lambda_dir / "tests" / "test_more.py").write_text("x = 1\n")
    assert actions(provision(SALES_ORDERS, settings, clients))["transform_function"] == "unchanged"

    (lambda_dir / "handler.py").write_text(HANDLER + "\nVERSION = 2\n")
    assert actions(provision(SALES_ORDERS, settings, clients))["transform_function"] == "updated"
    second = awslambda.get_function(FunctionName=names.function)["Configuration"]
    assert second["CodeSha256"] != first["CodeSha256"]
    assert second["CodeSha256"] == code_sha256(build_zip(lambda_dir))

    bigger = settings.replace(transform_memory_mb=512)
    assert actions(provision(SALES_ORDERS, bigger, clients))["transform_function"] == "updated"
    assert awslambda.get_function(FunctionName=names.function)["Configuration"]["MemorySize"] == 512
    teardown(SALES_ORDERS, settings, clients)


def test_a_function_on_a_blocked_runtime_moves_to_ours_before_its_code_changes(
    settings: Settings,
    names: ResourceNames,
    lambda_dir: Path,
    clients: Callable[[str], Any],
    aws: Callable[..., Any],
) -> None:
    """Lambda refuses new code for a function on a runtime past its block-update date (python3.9 since
    September 2026): provisioning must change the runtime first, then the code."""
    from moto.awslambda.models import lambda_backends

    from cdc_pipeline.provision.lambda_function import RUNTIME

    provision(SALES_ORDERS, settings, clients)
    try:
        # Made by an older version of the project while python3.9 was allowed (set in the backend:
        # CreateFunction refuses python3.9 now).
        lambda_backends[ACCOUNT]["us-east-1"].get_function(names.function).run_time = "python3.9"
        (lambda_dir / "handler.py").write_text(HANDLER + "\nVERSION = 2\n")
        assert actions(provision(SALES_ORDERS, settings, clients))["transform_function"] == "updated"
        config = aws("lambda").get_function(FunctionName=names.function)["Configuration"]
        assert config["Runtime"] == RUNTIME
        assert config["CodeSha256"] == code_sha256(build_zip(lambda_dir))
    finally:
        teardown(SALES_ORDERS, settings, clients)


def test_failed_creations_are_deleted_and_recreated(
    settings: Settings, names: ResourceNames, clients: Callable[[str], Any], aws: Callable[..., Any]
) -> None:
    """A delivery stream in CREATING_FAILED and a pipe in CREATE_FAILED or START_FAILED accept only a
    delete on AWS: provisioning deletes them, waits, and creates them again instead of failing on
    every run. The failed states are set in the backends directly (AWS reaches them through
    internal errors or permissions that propagate late, which the embedded AWS does not produce)."""
    from moto.firehose.models import firehose_backends
    from moto.pipes.models import pipes_backends

    provision(SALES_ORDERS, settings, clients)
    try:
        for pipe_state in ("CREATE_FAILED", "START_FAILED"):
            stream = firehose_backends[ACCOUNT]["us-east-1"].delivery_streams[names.delivery_stream]
            stream.delivery_stream_status = "CREATING_FAILED"
            pipes_backends[ACCOUNT]["us-east-1"].pipes[names.pipe]._status = pipe_state
            outcomes = actions(provision(SALES_ORDERS, settings, clients))
            assert outcomes.pop("delivery_stream") == "recreated", pipe_state
            assert outcomes.pop("pipe") == "recreated", pipe_state
            assert set(outcomes.values()) == {"unchanged"}, outcomes
            described = aws("firehose").describe_delivery_stream(DeliveryStreamName=names.delivery_stream)
            assert described["DeliveryStreamDescription"]["DeliveryStreamStatus"] == "ACTIVE"
            assert aws("pipes").describe_pipe(Name=names.pipe)["CurrentState"] == "RUNNING"
    finally:
        teardown(SALES_ORDERS, settings, clients)


def test_arns_name_the_region_of_the_clients_not_a_disagreeing_setting(
    settings: Settings, names: ResourceNames, clients: Callable[[str], Any], aws: Callable[..., Any]
) -> None:
    """The connection's clients call us-east-1; CDC_LAKE_REGION says eu-west-1. Resources are made
    where the clients call, so every ARN (the Pipe's target, the roles' policies) must name that
    region, or the Pipe would write to a stream that does not exist."""
    from cdc_pipeline.provision.context import Deployment

    elsewhere = settings.replace(region="eu-west-1")
    deployment = Deployment.build(SALES_ORDERS, elsewhere, clients)
    assert deployment.settings.region == "us-east-1"
    assert deployment.names.stream_arn == names.stream_arn
    try:
        provision(SALES_ORDERS, elsewhere, clients)
        pipe = aws("pipes").describe_pipe(Name=names.pipe)
        assert (pipe["Target"], pipe["CurrentState"]) == (names.stream_arn, "RUNNING")
    finally:
        teardown(SALES_ORDERS, elsewhere, clients)


def test_zip_is_deterministic_and_leaves_out_tests_and_caches(lambda_dir: Path) -> None:
    import io
    import zipfile

    first = build_zip(lambda_dir)
    os.utime(lambda_dir / "handler.py", (1_500_000_000, 1_500_000_000))
    assert build_zip(lambda_dir) == first
    assert zipfile.ZipFile(io.BytesIO(first)).namelist() == ["handler.py"]
    with pytest.raises(FileNotFoundError, match="no handler.py"):
        build_zip(lambda_dir / "tests")


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return document["Statement"]


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def test_roles_are_least_privilege(
    settings: Settings, names: ResourceNames, clients: Callable[[str], Any], aws: Callable[..., Any]
) -> None:
    provision(SALES_ORDERS, settings, clients)
    iam = aws("iam")
    principals = {}
    for spec in role_specs(names):
        role = iam.get_role(RoleName=spec.name)["Role"]
        (trust,) = _statements(role["AssumeRolePolicyDocument"])
        principals[spec.resource] = trust["Principal"]["Service"]
        assert trust.get("Condition") == TRUST_CONDITIONS[trust["Principal"]["Service"]], spec.name
        assert iam.list_role_policies(RoleName=spec.name)["PolicyNames"] == [spec.policy_name]
        document = iam.get_role_policy(RoleName=spec.name, PolicyName=spec.policy_name)["PolicyDocument"]
        for statement in _statements(document):
            assert statement["Effect"] == "Allow"
            for action in _as_list(statement["Action"]):
                assert "*" not in action, f"{spec.name}: wildcard action {action}"
            if statement["Resource"] == ["*"]:  # AWS scopes ListStreams to no resource
                assert statement["Action"] == ["dynamodb:ListStreams"], spec.name
                continue
            for resource in _as_list(statement["Resource"]):
                # A '*' only ends a named prefix: the table's streams, the dataset's lake prefix...
                assert resource != "*" and "*" not in resource[:-1], f"{spec.name}: {resource}"
                assert resource.startswith(
                    (
                        "arn:aws:s3:::",
                        f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{names.table}/",
                        f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{names.stream}",
                        f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{names.function}",
                        f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:",
                        f"arn:aws:glue:us-east-1:{ACCOUNT}:",
                    )
                ), resource
                if resource.startswith("arn:aws:s3:::"):
                    assert resource == names.lake_bucket_arn or resource.startswith(
                        (
                            f"{names.lake_bucket_arn}/sales_orders/",
                            f"{names.lake_bucket_arn}/errors/sales_orders/",
                        )
                    )
                if resource.startswith("arn:aws:glue"):
                    assert resource.endswith(
                        (
                            "catalog",
                            f"database/{names.glue_database}",
                            f"table/{names.glue_database}/*",
                            f"table/{names.glue_database}/sales_orders",  # the change log's schema
                        )
                    )
    assert principals == {
        "lambda_role": "lambda.amazonaws.com",
        "pipe_role": "pipes.amazonaws.com",
        "firehose_role": "firehose.amazonaws.com",
        "crawler_role": "glue.amazonaws.com",
    }

    # A policy changed behind our back is put back; a stray inline policy is removed.
    iam.put_role_policy(
        RoleName=names.pipe_role,
        PolicyName="stream-to-kinesis",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"}],
            }
        ),
    )
    iam.put_role_policy(
        RoleName=names.firehose_role,
        PolicyName="extra",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
            }
        ),
    )
    outcomes = actions(provision(SALES_ORDERS, settings, clients))
    assert (outcomes["pipe_role"], outcomes["firehose_role"], outcomes["lambda_role"]) == (
        "updated",
        "updated",
        "unchanged",
    )
    assert iam.list_role_policies(RoleName=names.firehose_role)["PolicyNames"] == ["kinesis-to-lake"]
    document = iam.get_role_policy(RoleName=names.pipe_role, PolicyName="stream-to-kinesis")["PolicyDocument"]
    assert all("*" not in action for s in _statements(document) for action in _as_list(s["Action"]))
    teardown(SALES_ORDERS, settings, clients)


def test_existing_table_without_stream_is_an_error_not_a_silent_change(
    settings: Settings, names: ResourceNames, clients: Callable[[str], Any], aws: Callable[..., Any]
) -> None:
    dynamodb = aws("dynamodb")
    dynamodb.create_table(
        TableName=names.table,
        AttributeDefinitions=[{"AttributeName": "orderid", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "orderid", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(
        TableStreamError, match=r"Streams disabled.*StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES"
    ):
        provision(SALES_ORDERS, settings, clients)
    assert "StreamSpecification" not in dynamodb.describe_table(TableName=names.table)["Table"]
    teardown(SALES_ORDERS, settings, clients)


def test_existing_table_with_another_stream_view_is_an_error(
    settings: Settings, names: ResourceNames, clients: Callable[[str], Any], aws: Callable[..., Any]
) -> None:
    dynamodb = aws("dynamodb")
    dynamodb.create_table(
        TableName=names.table,
        AttributeDefinitions=[{"AttributeName": "orderid", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "orderid", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )
    stream_arn = dynamodb.describe_table(TableName=names.table)["Table"]["LatestStreamArn"]
    with pytest.raises(
        TableStreamError, match="has a KEYS_ONLY stream; the pipeline needs NEW_AND_OLD_IMAGES"
    ):
        provision(SALES_ORDERS, settings, clients)
    table = dynamodb.describe_table(TableName=names.table)["Table"]
    assert (table["LatestStreamArn"], table["StreamSpecification"]["StreamViewType"]) == (
        stream_arn,
        "KEYS_ONLY",
    )
    teardown(SALES_ORDERS, settings, clients)


def _listed(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    """Every item of a list call, across pages (the server is shared by the whole test session)."""
    if client.can_paginate(operation):
        return [
            item for page in client.get_paginator(operation).paginate(**kwargs) for item in page.get(key, [])
        ]
    return getattr(client, operation)(**kwargs)[key]


def _left_behind(aws: Callable[..., Any], names: ResourceNames) -> dict[str, list[str]]:
    """Every resource whose name carries this test's prefix, listed service by service."""
    prefix = names.table.rsplit("-", 1)[0]
    found = {
        "buckets": [b["Name"] for b in _listed(aws("s3"), "list_buckets", "Buckets")],
        "topics": [t["TopicArn"].rsplit(":", 1)[1] for t in _listed(aws("sns"), "list_topics", "Topics")],
        "roles": [r["RoleName"] for r in _listed(aws("iam"), "list_roles", "Roles")],
        "tables": _listed(aws("dynamodb"), "list_tables", "TableNames"),
        "streams": _listed(aws("kinesis"), "list_streams", "StreamNames"),
        "functions": [f["FunctionName"] for f in _listed(aws("lambda"), "list_functions", "Functions")],
        "pipes": [p["Name"] for p in _listed(aws("pipes"), "list_pipes", "Pipes", NamePrefix=prefix)],
        "delivery_streams": _listed(
            aws("firehose"), "list_delivery_streams", "DeliveryStreamNames", Limit=10000
        ),
        "databases": [d["Name"] for d in _listed(aws("glue"), "get_databases", "DatabaseList")],
        "crawlers": _listed(aws("glue"), "list_crawlers", "CrawlerNames"),
        "workgroups": [w["Name"] for w in _listed(aws("athena"), "list_work_groups", "WorkGroups")],
        "log_groups": [
            g["logGroupName"]
            for g in _listed(
                aws("logs"), "describe_log_groups", "logGroups", logGroupNamePrefix="/aws/lambda/"
            )
        ],
    }

    def ours(name: str) -> bool:
        return prefix in name or name == names.glue_database

    return {kind: [n for n in listed if ours(n)] for kind, listed in found.items() if any(map(ours, listed))}


def test_teardown_leaves_nothing_behind_and_is_safe_twice(
    settings: Settings, names: ResourceNames, clients: Callable[[str], Any], aws: Callable[..., Any]
) -> None:
    provision(SALES_ORDERS, settings, clients)
    s3 = aws("s3")
    # Versions and delete markers must go too, or DeleteBucket fails.
    s3.put_bucket_versioning(Bucket=names.lake_bucket, VersioningConfiguration={"Status": "Enabled"})
    key = "sales_orders/year=2024/month=01/day=02/hour=03/part-1"
    s3.put_object(Bucket=names.lake_bucket, Key=key, Body=b'{"orderid": "1"}\n')
    s3.put_object(Bucket=names.lake_bucket, Key=key, Body=b'{"orderid": "1", "quantity": 2}\n')
    s3.delete_object(Bucket=names.lake_bucket, Key=key)
    s3.put_object(Bucket=names.athena_results_bucket, Key="athena/q1.csv", Body=b"a\n1\n")
    aws("dynamodb").put_item(TableName=names.table, Item={"orderid": {"S": "1"}})
    aws("logs").create_log_group(logGroupName=names.function_log_group)
    # The listing sees every kind of resource, so an empty listing after teardown means something.
    assert set(_left_behind(aws, names)) == {
        "buckets",
        "topics",
        "roles",
        "tables",
        "streams",
        "functions",
        "pipes",
        "delivery_streams",
        "databases",
        "crawlers",
        "workgroups",
        "log_groups",
    }

    first = teardown(SALES_ORDERS, settings, clients)
    assert [o.resource for o in first] == [
        "state_table",
        "athena_workgroup",
        "crawler",
        "pipe",
        "delivery_stream",
        "change_table",
        "glue_database",
        "transform_function",
        "transform_log_group",
        "stream",
        "table",
        "crawler_role",
        "firehose_role",
        "pipe_role",
        "lambda_role",
        "permissions_boundary",
        "alerts_topic",
        "athena_results_bucket",
        "lake_bucket",
    ]
    assert {o.action for o in first} == {"deleted"}
    assert _left_behind(aws, names) == {}
    with pytest.raises(ClientError) as err:
        s3.head_bucket(Bucket=names.lake_bucket)
    assert err.value.response["Error"]["Code"] == "404"

    second = teardown(SALES_ORDERS, settings, clients)
    assert {o.action for o in second} == {"absent"}
    assert len(second) == len(first)


def test_teardown_can_keep_shared_resources(
    settings: Settings, names: ResourceNames, clients: Callable[[str], Any], aws: Callable[..., Any]
) -> None:
    provision(SALES_ORDERS, settings, clients)
    kept = teardown(SALES_ORDERS, settings, clients, include_shared=False)
    assert {o.resource for o in kept}.isdisjoint(
        {"lake_bucket", "athena_results_bucket", "alerts_topic", "glue_database", "athena_workgroup"}
    )
    aws("s3").head_bucket(Bucket=names.lake_bucket)
    assert aws("glue").get_database(Name=names.glue_database)["Database"]["Name"] == names.glue_database
    assert names.table not in aws("dynamodb").list_tables()["TableNames"]
    teardown(SALES_ORDERS, settings, clients)


def _client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "CreateThing")


def test_calls_naming_a_new_role_are_retried_boundedly() -> None:
    attempts = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise _client_error(
                "InvalidParameterValueException",
                "The role defined for the function cannot be assumed by Lambda.",
            )
        return "ok"

    assert retry_while_role_propagates(flaky, "create", timeout=5, first_delay=0.01) == "ok"
    assert len(attempts) == 3

    def never() -> None:
        raise _client_error(
            "InvalidArgumentException", "Firehose is unable to assume role arn:aws:iam::1:role/x"
        )

    with pytest.raises(ClientError, match="unable to assume role"):
        retry_while_role_propagates(never, "create", timeout=0.05, first_delay=0.01)

    other = []

    def unrelated() -> None:
        other.append(1)
        raise _client_error("ValidationException", "BatchSize must be at most 10000")

    with pytest.raises(ClientError, match="BatchSize"):
        retry_while_role_propagates(unrelated, "create", timeout=5, first_delay=0.01)
    assert len(other) == 1


def test_a_crawler_changed_behind_our_back_is_updated_in_place(
    settings: Settings, names: ResourceNames, clients: Callable[[str], Any], aws: Callable[..., Any]
) -> None:
    provision(SALES_ORDERS, settings, clients)
    glue = aws("glue")
    glue.update_crawler(
        Name=names.crawler,
        SchemaChangePolicy={"UpdateBehavior": "LOG", "DeleteBehavior": "DELETE_FROM_DATABASE"},
    )
    outcomes = actions(provision(SALES_ORDERS, settings, clients))
    assert outcomes.pop("crawler") == "updated"
    assert set(outcomes.values()) == {"unchanged"}
    crawler = glue.get_crawler(Name=names.crawler)["Crawler"]
    assert crawler["SchemaChangePolicy"] == {"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "LOG"}
    teardown(SALES_ORDERS, settings, clients)
