"""Provisioning and teardown of the direct topology (seed 001) against the embedded AWS."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from cdc_pipeline.definitions import PIPELINES, ResourceNames, Topology
from cdc_pipeline.provision import Outcome, plan, provision, teardown
from cdc_pipeline.provision.context import Deployment
from cdc_pipeline.provision.lambda_function import build_zip, code_sha256
from cdc_pipeline.settings import REPO_ROOT, Settings
from tests.support import unique, wait_until

ACCOUNT = "123456789012"
USER_EVENTS = PIPELINES["user_events"]

PLANNED = [
    "lake_bucket",
    "athena_results_bucket",
    "alerts_topic",
    "permissions_boundary",
    "consumer_role",
    "crawler_role",
    "stream",
    "glue_database",
    "change_table",
    "consumer_function",
    "event_source_mapping",
    "crawler",
    "athena_workgroup",
]
LAYER = "arn:aws:lambda:us-east-1:336392948345:layer:AWSSDKPandas-Python314:6"


@pytest.fixture
def lambda_dir(tmp_path: Path) -> Path:
    """A copy of the real consumer, so a test may change its code without touching the repository."""
    folder = tmp_path / "functions" / "kinesis_consumer"
    folder.mkdir(parents=True)
    for module in ("handler.py", "parquet_rows.py"):
        shutil.copy(REPO_ROOT / "lambda" / "kinesis_consumer" / module, folder / module)
    # The modules every function's zip carries, from beside the function folders.
    shutil.copytree(REPO_ROOT / "lambda" / "shared", folder.parent / "shared")
    return folder


@pytest.fixture
def settings(lambda_dir: Path) -> Settings:
    return Settings.from_env(
        {
            "CDC_LAKE_PREFIX": unique("t"),
            "CDC_LAKE_ENFORCE_AWS_MINIMUMS": "false",
            "CDC_LAKE_LAMBDA_DIR": str(lambda_dir.parent),
            "CDC_LAKE_ESM_BATCH_SIZE": "100",
            "CDC_LAKE_PIPE_BATCH_WINDOW": "0",
            "CDC_LAKE_ROLE_PROPAGATION_TIMEOUT": "0",
            "CDC_LAKE_PANDAS_LAYER_ARN": LAYER,
        }
    )


@pytest.fixture
def names(settings: Settings) -> ResourceNames:
    return USER_EVENTS.resources(settings.with_account_id(ACCOUNT))


@pytest.fixture
def clients(aws: Callable[..., Any]) -> Callable[[str], Any]:
    return lambda service: aws(service)


def actions(outcomes: list[Outcome]) -> dict[str, str]:
    return {outcome.resource: outcome.action for outcome in outcomes}


def mappings(aws: Callable[..., Any], names: ResourceNames) -> list[dict[str, Any]]:
    return aws("lambda").list_event_source_mappings(EventSourceArn=names.stream_arn)["EventSourceMappings"]


def test_the_direct_plan_has_no_table_pipe_or_delivery_stream(settings: Settings, clients) -> None:
    assert USER_EVENTS.topology is Topology.DIRECT
    deployment = Deployment.build(USER_EVENTS, settings.with_account_id(ACCOUNT), clients)
    assert [step.resource for step in plan(deployment)] == PLANNED
    assert {s.resource for s in plan(deployment) if s.shared} == {
        "lake_bucket",
        "athena_results_bucket",
        "alerts_topic",
        "permissions_boundary",
        "glue_database",
        "athena_workgroup",
    }


def test_provision_twice_then_an_event_reaches_the_lake_then_teardown_leaves_nothing(
    settings: Settings, names: ResourceNames, clients, aws, lambda_dir: Path
) -> None:
    first = provision(USER_EVENTS, settings, clients)
    assert [o.resource for o in first] == PLANNED
    assert set(actions(first).values()) == {"created"}
    assert actions(provision(USER_EVENTS, settings, clients)) == dict.fromkeys(PLANNED, "unchanged")

    assert names.function.endswith("-user-events-consumer")
    function = aws("lambda").get_function(FunctionName=names.function)["Configuration"]
    assert (function["Runtime"], function["Handler"]) == ("python3.14", "handler.lambda_handler")
    assert function["Role"] == names.role_arn(names.lambda_role)
    assert function["CodeSha256"] == code_sha256(build_zip(lambda_dir))
    assert function["Environment"]["Variables"] == {
        "BUCKET": names.lake_bucket,
        "DATASET": "user_events",
        "KEY_ATTRIBUTE": "event_id",
        "EVENT_TIME_ATTRIBUTE": "event_time",
        "PARQUET_COLUMNS": json.dumps([list(c) for c in USER_EVENTS.columns], separators=(",", ":")),
    }
    # pyarrow comes from AWS's managed layer: the Lambda runtime has none.
    assert [layer["Arn"] for layer in function["Layers"]] == [LAYER]
    table = aws("glue").get_table(DatabaseName=names.glue_database, Name="user_events")["Table"]
    assert {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}["amount"] == "decimal(12,2)"

    (mapping,) = mappings(aws, names)
    assert mapping["FunctionArn"] == names.function_arn
    assert mapping["State"] == "Enabled"
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert (mapping["BatchSize"], mapping.get("MaximumBatchingWindowInSeconds", 0)) == (100, 0)

    crawler = aws("glue").get_crawler(Name=names.crawler)["Crawler"]
    assert crawler["Targets"]["S3Targets"][0]["Path"] == f"s3://{names.lake_bucket}/user_events/"
    with pytest.raises(ClientError) as missing:
        aws("dynamodb").describe_table(TableName=f"{settings.prefix}-user-events")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"

    # The wiring works: an event put on the stream lands in the lake under its event hour.
    event = {
        "event_id": "e-1",
        "user_id": "u-1",
        "event_type": "login",
        "event_time": "2024-06-01T10:20:30.456Z",
    }
    aws("kinesis").put_record(StreamName=names.stream, Data=json.dumps(event).encode(), PartitionKey="u-1")
    s3 = aws("s3")
    prefix = "user_events/year=2024/month=06/day=01/hour=10/"
    listing = wait_until(
        lambda: s3.list_objects_v2(Bucket=names.lake_bucket, Prefix=prefix).get("Contents"),
        30,
        what="the consumer's object",
    )
    assert listing[0]["Key"].endswith(".parquet")
    body = s3.get_object(Bucket=names.lake_bucket, Key=listing[0]["Key"])["Body"].read()
    (row,) = pq.read_table(io.BytesIO(body)).to_pylist()
    assert (row["event_id"], row["event_name"], row["user_id"]) == ("e-1", "INSERT", "u-1")

    deleted = teardown(USER_EVENTS, settings, clients)
    assert {o.action for o in deleted} == {"deleted"}
    assert [o.resource for o in deleted][:2] == ["athena_workgroup", "crawler"]
    assert actions(deleted)["consumer_log_group"] == "deleted"  # the function ran, so it logged
    assert {o.action for o in teardown(USER_EVENTS, settings, clients)} == {"absent"}

    assert mappings(aws, names) == []
    for call, code in (
        (lambda: aws("lambda").get_function(FunctionName=names.function), "ResourceNotFoundException"),
        (
            lambda: aws("kinesis").describe_stream_summary(StreamName=names.stream),
            "ResourceNotFoundException",
        ),
        (lambda: aws("iam").get_role(RoleName=names.lambda_role), "NoSuchEntity"),
        (lambda: aws("iam").get_role(RoleName=names.crawler_role), "NoSuchEntity"),
        (lambda: aws("glue").get_crawler(Name=names.crawler), "EntityNotFoundException"),
        (lambda: aws("s3").head_bucket(Bucket=names.lake_bucket), "404"),
    ):
        with pytest.raises(ClientError) as gone:
            call()
        assert gone.value.response["Error"]["Code"] == code


def test_the_consumer_role_is_least_privilege(settings: Settings, names: ResourceNames, clients, aws) -> None:
    provision(USER_EVENTS, settings, clients)
    iam = aws("iam")
    role = iam.get_role(RoleName=names.lambda_role)["Role"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert "Condition" not in trust  # Lambda sends no confused-deputy key (cdc_pipeline.iam_policies)
    assert iam.list_role_policies(RoleName=names.lambda_role)["PolicyNames"] == ["stream-to-lake"]
    document = iam.get_role_policy(RoleName=names.lambda_role, PolicyName="stream-to-lake")["PolicyDocument"]
    statements = {s["Sid"]: s for s in document["Statement"]}
    assert statements["ReadOwnStream"]["Resource"] == [names.stream_arn]
    assert statements["WriteLakePrefixes"]["Action"] == ["s3:PutObject"]
    assert statements["WriteLakePrefixes"]["Resource"] == [
        f"arn:aws:s3:::{names.lake_bucket}/user_events/*",
        f"arn:aws:s3:::{names.lake_bucket}/errors/user_events/*",
    ]
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        assert all("*" not in action for action in statement["Action"])
        if statement["Resource"] == ["*"]:  # AWS scopes ListStreams to no resource
            assert statement["Action"] == ["kinesis:ListStreams"]
            continue
        assert all(resource != "*" and ":*:" not in resource for resource in statement["Resource"])
    # No table, no Pipe, no Firehose: none of their roles either.
    for role_name in (names.pipe_role, names.firehose_role):
        with pytest.raises(ClientError):
            iam.get_role(RoleName=role_name)
    teardown(USER_EVENTS, settings, clients)


def test_the_mapping_is_found_again_and_updated_in_place(
    settings: Settings, names: ResourceNames, clients, aws
) -> None:
    provision(USER_EVENTS, settings, clients)
    awslambda = aws("lambda")
    (original,) = mappings(aws, names)

    # The mapping's own batch size, above what a Pipe to Kinesis may take (500).
    changed = settings.replace(esm_batch_size=2500, pipe_batching_window_seconds=3)
    outcomes = actions(provision(USER_EVENTS, changed, clients))
    assert outcomes.pop("event_source_mapping") == "updated"
    assert set(outcomes.values()) == {"unchanged"}
    (updated,) = mappings(aws, names)
    assert updated["UUID"] == original["UUID"]
    assert (updated["BatchSize"], updated["MaximumBatchingWindowInSeconds"]) == (2500, 3)

    # Disabled by hand, and a second mapping made beside it: both are put right.
    awslambda.update_event_source_mapping(UUID=original["UUID"], Enabled=False)
    extra = awslambda.create_event_source_mapping(
        EventSourceArn=names.stream_arn, FunctionName=names.function, StartingPosition="LATEST"
    )
    assert actions(provision(USER_EVENTS, changed, clients))["event_source_mapping"] == "updated"
    (kept,) = mappings(aws, names)
    assert kept["UUID"] == original["UUID"] != extra["UUID"]
    assert kept["State"] == "Enabled"
    assert actions(provision(USER_EVENTS, changed, clients))["event_source_mapping"] == "unchanged"
    teardown(USER_EVENTS, settings, clients)


def test_consumer_code_is_uploaded_only_when_it_changes(
    settings: Settings, names: ResourceNames, clients, aws, lambda_dir: Path
) -> None:
    provision(USER_EVENTS, settings, clients)
    (lambda_dir / "__pycache__").mkdir()
    (lambda_dir / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"\x00")
    assert actions(provision(USER_EVENTS, settings, clients))["consumer_function"] == "unchanged"
    (lambda_dir / "handler.py").write_text((lambda_dir / "handler.py").read_text() + "\nVERSION = 2\n")
    assert actions(provision(USER_EVENTS, settings, clients))["consumer_function"] == "updated"
    function = aws("lambda").get_function(FunctionName=names.function)["Configuration"]
    assert function["CodeSha256"] == code_sha256(build_zip(lambda_dir))
    teardown(USER_EVENTS, settings, clients)


def test_teardown_can_keep_shared_resources(settings: Settings, names: ResourceNames, clients, aws) -> None:
    provision(USER_EVENTS, settings, clients)
    outcomes = teardown(USER_EVENTS, settings, clients, include_shared=False)
    assert {o.resource for o in outcomes} >= {
        "consumer_function",
        "event_source_mapping",
        "stream",
        "crawler",
    }
    assert not {o.resource for o in outcomes} & {"lake_bucket", "glue_database", "athena_workgroup"}
    aws("s3").head_bucket(Bucket=names.lake_bucket)
    teardown(USER_EVENTS, settings, clients)


def test_on_json_lines_the_consumer_has_no_layer_and_the_crawler_makes_the_table(
    settings: Settings, names: ResourceNames, clients, aws
) -> None:
    json_lines = settings.replace(change_log_format="json", pandas_layer_arn=None)
    outcomes = provision(USER_EVENTS, json_lines, clients)
    assert "change_table" not in actions(outcomes)
    function = aws("lambda").get_function(FunctionName=names.function)["Configuration"]
    assert function.get("Layers", []) == []
    assert "PARQUET_COLUMNS" not in function["Environment"]["Variables"]
    teardown(USER_EVENTS, json_lines, clients)


def test_a_parquet_consumer_without_the_layer_is_refused_naming_the_setting(
    settings: Settings, clients
) -> None:
    from cdc_pipeline.provision.consumer import ConsumerFormatError

    with pytest.raises(ConsumerFormatError, match="CDC_LAKE_PANDAS_LAYER_ARN"):
        provision(USER_EVENTS, settings.replace(pandas_layer_arn=None), clients)
    teardown(USER_EVENTS, settings, clients)


def test_a_parquet_lake_is_not_switched_to_json_lines_in_place(settings: Settings, clients) -> None:
    from cdc_pipeline.provision.consumer import ConsumerFormatError

    provision(USER_EVENTS, settings, clients)
    with pytest.raises(ConsumerFormatError, match="stored as Parquet"):
        provision(USER_EVENTS, settings.replace(change_log_format="json"), clients)
    teardown(USER_EVENTS, settings, clients)
