"""The direct topology's Kinesis consumer: its least-privilege role and its function.

The function is deployed from `lambda/<consumer_folder>/` with the same deterministic zip and
CodeSha256 comparison as the Firehose transform (`lambda_function.ensure_function`). Its Timeout and
MemorySize are the transform's settings (`CDC_LAKE_TRANSFORM_TIMEOUT`, `CDC_LAKE_TRANSFORM_MEMORY`):
both functions turn one batch of stream records into lake rows.

On a Parquet change log (``CDC_LAKE_CHANGE_LOG_FORMAT=parquet``) the consumer writes Parquet itself
with the change table's schema: its environment gets the declared columns (``PARQUET_COLUMNS``) and
the function gets AWS's managed layer "AWS SDK for pandas" (``CDC_LAKE_PANDAS_LAYER_ARN``), whose
pyarrow it writes with; the Lambda runtime has none. On JSON it has no layer.
"""

from __future__ import annotations

import json
from typing import Any

from cdc_pipeline.definitions import ResourceNames
from cdc_pipeline.iam_policies import RoleSpec, trust_policy
from cdc_pipeline.provision import change_table, lambda_function
from cdc_pipeline.provision.context import Deployment
from cdc_pipeline.provision.lambda_function import FunctionSpec
from cdc_pipeline.provision.outcome import Outcome

RESOURCE = "consumer_function"
ROLE_RESOURCE = "consumer_role"


def consumer_policy(names: ResourceNames) -> dict[str, Any]:
    """Read its one Kinesis stream, put objects under the dataset's lake and error prefixes, write its logs.

    No s3:GetObject or s3:ListBucket (it only writes), no SubscribeToShard (the mapping is a
    shared-throughput consumer, not enhanced fan-out). kinesis:ListStreams is needed: Lambda refuses
    a Kinesis mapping whose role cannot "perform the GetRecords, GetShardIterator, DescribeStream,
    and ListStreams Actions"; AWS scopes ListStreams to no resource, so it alone gets `"*"`.
    """
    bucket = names.lake_bucket_arn
    log_group = names.function_log_group
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadOwnStream",
                "Effect": "Allow",
                "Action": [
                    "kinesis:DescribeStream",
                    "kinesis:DescribeStreamSummary",
                    "kinesis:GetRecords",
                    "kinesis:GetShardIterator",
                    "kinesis:ListShards",
                ],
                "Resource": [names.stream_arn],
            },
            {"Sid": "ListStreams", "Effect": "Allow", "Action": ["kinesis:ListStreams"], "Resource": ["*"]},
            {
                "Sid": "WriteLakePrefixes",
                "Effect": "Allow",
                "Action": ["s3:PutObject"],
                "Resource": [f"{bucket}/{names.dataset}/*", f"{bucket}/errors/{names.dataset}/*"],
            },
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [
                    names.arn("logs", f"log-group:{log_group}"),
                    names.arn("logs", f"log-group:{log_group}:*"),
                ],
            },
        ],
    }


def consumer_role_spec(names: ResourceNames) -> RoleSpec:
    return RoleSpec(
        ROLE_RESOURCE,
        names.lambda_role,
        "lambda",
        trust_policy("lambda.amazonaws.com", names.account_id),
        "stream-to-lake",
        consumer_policy(names),
    )


class ConsumerFormatError(RuntimeError):
    """The consumer cannot write the change log's format as configured: a Parquet consumer without the
    layer its pyarrow comes from, or JSON lines into a lake whose table is Parquet."""


def consumer_environment(deployment: Deployment) -> dict[str, str]:
    """What the handler reads: where to write, which fields are the key and the event time, and on a
    Parquet change log the declared columns."""
    definition = deployment.definition
    variables = {
        "BUCKET": deployment.names.lake_bucket,
        "DATASET": definition.name,
        "KEY_ATTRIBUTE": definition.key_attribute,
        "EVENT_TIME_ATTRIBUTE": definition.event_time_attribute,
    }
    if deployment.settings.parquet_change_log:
        variables["PARQUET_COLUMNS"] = json.dumps(
            [list(c) for c in definition.columns], separators=(",", ":")
        )
    return variables


def consumer_layers(deployment: Deployment) -> list[str]:
    """The AWS SDK for pandas layer on a Parquet change log; none on JSON."""
    settings = deployment.settings
    if not settings.parquet_change_log:
        return []
    if not settings.pandas_layer_arn:
        raise ConsumerFormatError(
            f"the {deployment.definition.name} consumer writes Parquet with pyarrow from AWS's managed layer "
            "AWS SDK for pandas: set CDC_LAKE_PANDAS_LAYER_ARN to its python3.14 layer version ARN for "
            f"{settings.region} (arn:aws:lambda:{settings.region}:336392948345:layer:AWSSDKPandas-Python314:<version>, "
            "listed at https://aws-sdk-pandas.readthedocs.io/en/stable/layers.html), or set "
            "CDC_LAKE_CHANGE_LOG_FORMAT=json"
        )
    return [settings.pandas_layer_arn]


def function_spec(deployment: Deployment) -> FunctionSpec:
    definition = deployment.definition
    settings = deployment.settings
    return FunctionSpec(
        resource=RESOURCE,
        folder=definition.consumer_dir(settings),
        handler=definition.consumer_handler,
        description=f"cdc-lake {definition.name}: Kinesis consumer",
        configuration={
            "Role": deployment.names.role_arn(deployment.names.lambda_role),
            "Runtime": lambda_function.RUNTIME,
            "Handler": definition.consumer_handler,
            "Timeout": settings.transform_timeout_seconds,
            "MemorySize": settings.transform_memory_mb,
            "Environment": {"Variables": consumer_environment(deployment)},
            "Layers": consumer_layers(deployment),
        },
    )


def ensure_function(deployment: Deployment) -> Outcome:
    if not deployment.settings.parquet_change_log:
        _refuse_json_over_parquet(deployment)
    return lambda_function.ensure_function(deployment, function_spec(deployment))


def _refuse_json_over_parquet(deployment: Deployment) -> None:
    """JSON lines into a prefix whose table is Parquet would leave a lake Athena cannot read."""
    table = change_table.existing_table(deployment)
    serde = ((table or {}).get("StorageDescriptor") or {}).get("SerdeInfo") or {}
    if serde.get("SerializationLibrary") == change_table.PARQUET_SERDE:
        raise ConsumerFormatError(
            f"the change log table {deployment.names.glue_database}.{deployment.definition.name} is stored "
            "as Parquet: the consumer cannot switch it to JSON lines in place. Keep "
            "CDC_LAKE_CHANGE_LOG_FORMAT=parquet, or tear the pipeline down (or use a new CDC_LAKE_PREFIX)"
        )


def delete_function_and_logs(deployment: Deployment) -> list[Outcome]:
    return [
        lambda_function.delete_function(deployment, RESOURCE),
        lambda_function.delete_log_group(deployment, "consumer_log_group"),
    ]
