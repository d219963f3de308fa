"""Settings from CDC_LAKE_* variables (defaults, overrides, validation) and the dataset definitions."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cdc_pipeline.definitions import (
    PIPELINES,
    SALES_ORDERS,
    PipelineDefinition,
    Topology,
    UnknownPipelineError,
    get_pipeline,
)
from cdc_pipeline.settings import REPO_ROOT, Settings, SettingsError

ACCOUNT = "123456789012"


def test_defaults_without_any_variable() -> None:
    settings = Settings.from_env({})
    assert settings.prefix == "cdc-lake"
    assert settings.region == "us-east-1"
    assert settings.glue_database == "cdc_lake"
    assert settings.athena_workgroup == "cdc-lake"
    assert settings.alerts_topic == "cdc-lake-alerts"
    assert settings.aws_conn_id == "aws_default"
    assert settings.firehose_buffer_interval_seconds == 60
    assert settings.firehose_buffer_size_mb == 64
    assert settings.enforce_aws_minimums is True
    assert settings.lambda_dir == REPO_ROOT / "lambda"
    assert settings.account_id is None


def test_every_variable_overrides_its_setting() -> None:
    settings = Settings.from_env(
        {
            "CDC_LAKE_PREFIX": "acme",
            "CDC_LAKE_REGION": "eu-west-1",
            "CDC_LAKE_ACCOUNT_ID": "210987654321",
            "CDC_LAKE_LAKE_BUCKET": "acme-data-lake",
            "CDC_LAKE_ATHENA_RESULTS_BUCKET": "acme-query-results",
            "CDC_LAKE_GLUE_DATABASE": "acme_lake",
            "CDC_LAKE_ATHENA_WORKGROUP": "acme-wg",
            "CDC_LAKE_ALERTS_TOPIC": "acme-pager",
            "CDC_LAKE_AWS_CONN_ID": "aws_prod",
            "CDC_LAKE_FIREHOSE_BUFFER_INTERVAL": "120",
            "CDC_LAKE_FIREHOSE_BUFFER_SIZE": "128",
            "CDC_LAKE_KINESIS_SHARDS": "4",
            "CDC_LAKE_PIPE_BATCH_SIZE": "500",
            "CDC_LAKE_PIPE_BATCH_WINDOW": "5",
            "CDC_LAKE_ESM_BATCH_SIZE": "10000",
            "CDC_LAKE_TRANSFORM_TIMEOUT": "120",
            "CDC_LAKE_TRANSFORM_MEMORY": "512",
            "CDC_LAKE_LAMBDA_DIR": "/opt/functions",
            "CDC_LAKE_ROLE_PROPAGATION_TIMEOUT": "30",
        }
    )
    assert (settings.prefix, settings.region, settings.account_id) == ("acme", "eu-west-1", "210987654321")
    assert settings.lake_bucket == "acme-data-lake"
    assert settings.athena_results_bucket == "acme-query-results"
    assert settings.athena_output_location == "s3://acme-query-results/athena/"
    assert (settings.glue_database, settings.athena_workgroup) == ("acme_lake", "acme-wg")
    assert (settings.alerts_topic, settings.aws_conn_id) == ("acme-pager", "aws_prod")
    assert (settings.firehose_buffer_interval_seconds, settings.firehose_buffer_size_mb) == (120, 128)
    assert (
        settings.kinesis_shard_count,
        settings.pipe_batch_size,
        settings.pipe_batching_window_seconds,
        settings.esm_batch_size,
    ) == (
        4,
        500,
        5,
        10000,
    )
    assert (settings.transform_timeout_seconds, settings.transform_memory_mb) == (120, 512)
    assert settings.lambda_dir == Path("/opt/functions")
    assert settings.role_propagation_timeout_seconds == 30


def test_names_follow_the_prefix_unless_overridden() -> None:
    settings = Settings.from_env({"CDC_LAKE_PREFIX": "team-b"})
    assert settings.glue_database == "team_b"
    assert settings.athena_workgroup == "team-b"
    assert settings.alerts_topic == "team-b-alerts"


@pytest.mark.parametrize(
    ("env", "region"),
    [
        ({"AWS_DEFAULT_REGION": "eu-central-1"}, "eu-central-1"),
        ({"AWS_REGION": "ap-southeast-2"}, "ap-southeast-2"),
        ({"AWS_DEFAULT_REGION": "eu-central-1", "AWS_REGION": "ap-southeast-2"}, "eu-central-1"),
        ({"AWS_DEFAULT_REGION": "eu-central-1", "CDC_LAKE_REGION": "us-west-2"}, "us-west-2"),
    ],
)
def test_region_precedence(env: dict[str, str], region: str) -> None:
    assert Settings.from_env(env).region == region


def test_bucket_names_derive_from_prefix_account_and_region() -> None:
    settings = Settings.from_env({"CDC_LAKE_PREFIX": "acme", "CDC_LAKE_REGION": "eu-west-1"})
    resolved = settings.with_account_id(ACCOUNT)
    assert resolved.lake_bucket == f"acme-{ACCOUNT}-eu-west-1-lake"
    assert resolved.athena_results_bucket == f"acme-{ACCOUNT}-eu-west-1-athena"
    # Without the account id the derived name cannot exist, and the error says what to set.
    with pytest.raises(SettingsError, match="CDC_LAKE_LAKE_BUCKET"):
        _ = settings.lake_bucket


def test_settings_are_frozen_and_replace_revalidates() -> None:
    settings = Settings.from_env({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.prefix = "other"  # type: ignore[misc]
    with pytest.raises(SettingsError, match="CDC_LAKE_FIREHOSE_BUFFER_INTERVAL"):
        settings.replace(firehose_buffer_interval_seconds=-1)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"CDC_LAKE_FIREHOSE_BUFFER_INTERVAL": "-5"}, "CDC_LAKE_FIREHOSE_BUFFER_INTERVAL"),
        ({"CDC_LAKE_FIREHOSE_BUFFER_INTERVAL": "soon"}, "CDC_LAKE_FIREHOSE_BUFFER_INTERVAL"),
        ({"CDC_LAKE_FIREHOSE_BUFFER_INTERVAL": "901"}, "CDC_LAKE_FIREHOSE_BUFFER_INTERVAL"),
        ({"CDC_LAKE_FIREHOSE_BUFFER_SIZE": "129"}, "CDC_LAKE_FIREHOSE_BUFFER_SIZE"),
        ({"CDC_LAKE_FIREHOSE_BUFFER_SIZE": "1.5"}, "CDC_LAKE_FIREHOSE_BUFFER_SIZE"),
        ({"CDC_LAKE_KINESIS_SHARDS": "0"}, "CDC_LAKE_KINESIS_SHARDS"),
        # A Pipe with a Kinesis target takes at most 500 records a batch; a mapping up to 10,000.
        ({"CDC_LAKE_PIPE_BATCH_SIZE": "501"}, "CDC_LAKE_PIPE_BATCH_SIZE"),
        ({"CDC_LAKE_ESM_BATCH_SIZE": "10001"}, "CDC_LAKE_ESM_BATCH_SIZE"),
        ({"CDC_LAKE_ESM_BATCH_SIZE": "0"}, "CDC_LAKE_ESM_BATCH_SIZE"),
        ({"CDC_LAKE_PIPE_BATCH_WINDOW": "301"}, "CDC_LAKE_PIPE_BATCH_WINDOW"),
        ({"CDC_LAKE_TRANSFORM_MEMORY": "64"}, "CDC_LAKE_TRANSFORM_MEMORY"),
        ({"CDC_LAKE_LAKE_BUCKET": "My_Lake"}, "CDC_LAKE_LAKE_BUCKET"),
        ({"CDC_LAKE_LAKE_BUCKET": "ab"}, "CDC_LAKE_LAKE_BUCKET"),
        ({"CDC_LAKE_LAKE_BUCKET": "lake..data"}, "CDC_LAKE_LAKE_BUCKET"),
        ({"CDC_LAKE_LAKE_BUCKET": "192.168.1.10"}, "CDC_LAKE_LAKE_BUCKET"),
        ({"CDC_LAKE_LAKE_BUCKET": "xn--lake"}, "CDC_LAKE_LAKE_BUCKET"),
        ({"CDC_LAKE_ATHENA_RESULTS_BUCKET": "results-"}, "CDC_LAKE_ATHENA_RESULTS_BUCKET"),
        ({"CDC_LAKE_ATHENA_RESULTS_BUCKET": "x" * 64}, "CDC_LAKE_ATHENA_RESULTS_BUCKET"),
        ({"CDC_LAKE_PREFIX": "Upper"}, "CDC_LAKE_PREFIX"),
        ({"CDC_LAKE_PREFIX": "a-very-long-prefix-indeed"}, "CDC_LAKE_PREFIX"),
        ({"CDC_LAKE_PREFIX": "trailing-"}, "CDC_LAKE_PREFIX"),
        ({"CDC_LAKE_REGION": "mars"}, "CDC_LAKE_REGION"),
        ({"CDC_LAKE_ACCOUNT_ID": "12345"}, "CDC_LAKE_ACCOUNT_ID"),
        ({"CDC_LAKE_GLUE_DATABASE": "Sales-DB"}, "CDC_LAKE_GLUE_DATABASE"),
        ({"CDC_LAKE_ENFORCE_AWS_MINIMUMS": "maybe"}, "CDC_LAKE_ENFORCE_AWS_MINIMUMS"),
        ({"CDC_LAKE_PANDAS_LAYER_ARN": "AWSSDKPandas-Python314"}, "CDC_LAKE_PANDAS_LAYER_ARN"),
        (
            {
                "CDC_LAKE_PANDAS_LAYER_ARN": "arn:aws:lambda:us-east-1:336392948345:layer:AWSSDKPandas-Python314"
            },
            "CDC_LAKE_PANDAS_LAYER_ARN",
        ),
    ],
)
def test_invalid_values_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env(env)


def test_an_account_id_makes_derived_bucket_names_checked_at_once() -> None:
    # A long prefix, account and region are fine alone but together exceed 63 characters.
    env = {"CDC_LAKE_PREFIX": "abcdefghijklmnopqrst", "CDC_LAKE_REGION": "us-gov-southwestern-extreme-1"}
    settings = Settings.from_env(env)
    with pytest.raises(SettingsError, match="CDC_LAKE_ATHENA_RESULTS_BUCKET|CDC_LAKE_LAKE_BUCKET"):
        settings.with_account_id(ACCOUNT)


def test_aws_minimums_for_dynamic_partitioning() -> None:
    with pytest.raises(SettingsError, match="CDC_LAKE_FIREHOSE_BUFFER_INTERVAL=5: with dynamic partitioning"):
        Settings.from_env({"CDC_LAKE_FIREHOSE_BUFFER_INTERVAL": "5"})
    with pytest.raises(SettingsError, match="CDC_LAKE_FIREHOSE_BUFFER_SIZE=5: with dynamic partitioning"):
        Settings.from_env({"CDC_LAKE_FIREHOSE_BUFFER_SIZE": "5"})
    relaxed = Settings.from_env(
        {"CDC_LAKE_FIREHOSE_BUFFER_INTERVAL": "1", "CDC_LAKE_ENFORCE_AWS_MINIMUMS": "false"}
    )
    assert relaxed.firehose_buffer_interval_seconds == 1


@pytest.mark.parametrize(
    ("endpoint", "enforced"),
    [
        ("http://127.0.0.1:4566", False),
        ("http://localhost:4566", False),
        ("http://[::1]:4566", False),
        ("https://s3.eu-west-1.amazonaws.com", True),
        ("", True),
    ],
)
def test_aws_minimums_default_depends_on_the_endpoint(endpoint: str, enforced: bool) -> None:
    assert Settings.from_env({"AWS_ENDPOINT_URL": endpoint}).enforce_aws_minimums is enforced


# -- definitions -----------------------------------------------------------------------------


def test_get_pipeline_and_its_error_lists_valid_names() -> None:
    assert get_pipeline("sales_orders") is SALES_ORDERS
    with pytest.raises(UnknownPipelineError, match="no pipeline named 'orders'; valid names: sales_orders"):
        get_pipeline("orders")


def test_sales_orders_definition() -> None:
    definition = PIPELINES["sales_orders"]
    assert definition.key_attribute == "orderid"
    assert definition.transform_folder == "cdc_transform"
    assert definition.topology is Topology.CDC
    assert definition.partition_keys == ("year", "month", "day", "hour")
    assert definition.lake_prefix_expression == (
        "sales_orders/year=!{partitionKeyFromLambda:year}/month=!{partitionKeyFromLambda:month}/"
        "day=!{partitionKeyFromLambda:day}/hour=!{partitionKeyFromLambda:hour}/"
    )
    assert definition.generator_class().__name__ == "OrderDataset"
    assert definition.sql.path("checks") == REPO_ROOT / "include/sql/quality"


def test_resource_names_are_per_dataset_and_per_prefix() -> None:
    settings = Settings.from_env({"CDC_LAKE_PREFIX": "acme"}).with_account_id(ACCOUNT)
    names = SALES_ORDERS.resources(settings)
    assert names.table == "acme-orders"
    assert names.stream == "acme-sales-orders-changes"
    assert names.function_arn == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:acme-sales-orders-transform"
    assert (
        names.role_arn(names.firehose_role) == f"arn:aws:iam::{ACCOUNT}:role/acme-sales-orders-firehose-role"
    )
    assert names.error_prefix.startswith(
        "errors/sales_orders/!{firehose:error-output-type}/year=!{timestamp:yyyy}/"
    )

    profiles = PipelineDefinition(
        name="user_profiles",
        table="user-profiles",
        key_attribute="id",
        transform_folder="cdc_transform",
        generator="cdc_pipeline.generators.profiles:ProfileDataset",
    )
    other = profiles.resources(settings)
    own = ("table", "stream", "pipe", "delivery_stream", "function", "crawler", "firehose_role", "pipe_role")
    assert all(getattr(names, attr) != getattr(other, attr) for attr in own)
    shared = ("lake_bucket", "athena_results_bucket", "glue_database", "athena_workgroup", "alerts_topic")
    assert all(getattr(names, attr) == getattr(other, attr) for attr in shared)


def test_resource_names_need_the_account_id() -> None:
    with pytest.raises(SettingsError, match="CDC_LAKE_ACCOUNT_ID"):
        SALES_ORDERS.resources(Settings.from_env({}))


def test_partitions_follow_the_region() -> None:
    settings = Settings.from_env({"CDC_LAKE_REGION": "cn-north-1"}).with_account_id(ACCOUNT)
    assert SALES_ORDERS.resources(settings).stream_arn.startswith("arn:aws-cn:kinesis:cn-north-1:")


def test_hourly_start_is_a_whole_utc_hour():
    from datetime import UTC, datetime

    from cdc_pipeline.settings import Settings, SettingsError

    assert Settings.from_env({"CDC_LAKE_HOURLY_START": "2027-01-02T03:00:00+01:00"}).hourly_start == datetime(
        2027, 1, 2, 2, tzinfo=UTC
    )
    assert Settings.from_env({"CDC_LAKE_HOURLY_START": "2027-01-02T03:00"}).hourly_start.tzinfo is not None
    with pytest.raises(SettingsError, match="CDC_LAKE_HOURLY_START.*whole hour"):
        Settings.from_env({"CDC_LAKE_HOURLY_START": "2027-01-02T03:30:00Z"})
    with pytest.raises(SettingsError, match="CDC_LAKE_HOURLY_START.*ISO-8601"):
        Settings.from_env({"CDC_LAKE_HOURLY_START": "yesterday"})


def test_the_sql_checks_use_the_configured_athena_and_aws_connections():
    """Not a hard-coded athena_default with the default AWS connection: both conn ids are settings."""
    from airflow.providers.common.sql.operators.sql import SQLCheckOperator, SQLColumnCheckOperator

    from cdc_pipeline.definitions import SALES_ORDERS
    from cdc_pipeline.workflows import reconciliation
    from cdc_pipeline.workflows.hourly import build
    from cdc_pipeline.workflows.hourly.checks import check_files

    settings = Settings.from_env(
        {"CDC_LAKE_ATHENA_CONN_ID": "athena_prod", "CDC_LAKE_AWS_CONN_ID": "aws_prod"}
    )
    assert (settings.athena_conn_id, settings.aws_conn_id) == ("athena_prod", "aws_prod")
    dag = build(SALES_ORDERS, settings)
    # The quality checks, one per SQL file or TOML column-check declaration, and the reconcile DAG's.
    names = {path.stem for path in check_files(SALES_ORDERS)}
    kinds = (SQLCheckOperator, SQLColumnCheckOperator)
    checks = [t for t in dag.tasks if isinstance(t, kinds) and t.task_id in names]
    assert len(checks) == len(names) > 0, [t.task_id for t in dag.tasks]
    checks.append(reconciliation.build(SALES_ORDERS, settings).get_task(reconciliation.CHECK_ID))
    for check in checks:
        assert (check.conn_id, check.hook_params) == ("athena_prod", {"aws_conn_id": "aws_prod"}), (
            check.task_id
        )
