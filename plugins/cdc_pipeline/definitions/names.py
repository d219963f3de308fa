"""The AWS names and ARNs of one dataset's resources, derived from the settings and the dataset name.

A second dataset gets its own table, stream, pipe, delivery stream, function, crawler and roles;
the lake bucket, Glue database, Athena workgroup and alerts topic are shared.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdc_pipeline.settings import Settings

# AWS name limits (IAM role and Lambda function names: 64; Pipe and Firehose names: 64).
_MAX_NAME = 64
_LIMITED_NAMES = (
    "stream",
    "pipe",
    "delivery_stream",
    "function",
    "crawler",
    "lambda_role",
    "pipe_role",
    "firehose_role",
    "crawler_role",
)


@dataclass(frozen=True)
class ResourceNames:
    """Every AWS name and ARN of one dataset's pipeline under one set of settings."""

    dataset: str
    #: The DynamoDB table (empty for a `direct` pipeline, which has none).
    table: str
    stream: str
    pipe: str
    delivery_stream: str
    function: str
    crawler: str
    lambda_role: str
    pipe_role: str
    firehose_role: str
    crawler_role: str
    lake_bucket: str
    athena_results_bucket: str
    glue_database: str
    athena_workgroup: str
    alerts_topic: str
    lake_prefix: str
    error_prefix: str
    partition: str
    region: str
    account_id: str

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        """`arn:<partition>:<service>:<region>:<account>:<resource>` (IAM/S3 ARNs are global)."""
        if service == "s3":
            return f"arn:{self.partition}:s3:::{resource}"
        region = self.region if regional else ""
        return f"arn:{self.partition}:{service}:{region}:{self.account_id}:{resource}"

    @property
    def table_arn(self) -> str:
        return self.arn("dynamodb", f"table/{self.table}")

    @property
    def table_streams_arn(self) -> str:
        """Every stream of the table (the stream label is a timestamp only known after creation)."""
        return f"{self.table_arn}/stream/*"

    @property
    def stream_arn(self) -> str:
        return self.arn("kinesis", f"stream/{self.stream}")

    @property
    def function_arn(self) -> str:
        return self.arn("lambda", f"function:{self.function}")

    @property
    def delivery_stream_arn(self) -> str:
        return self.arn("firehose", f"deliverystream/{self.delivery_stream}")

    @property
    def lake_bucket_arn(self) -> str:
        return self.arn("s3", self.lake_bucket)

    @property
    def alerts_topic_arn(self) -> str:
        return self.arn("sns", self.alerts_topic)

    @property
    def function_log_group(self) -> str:
        return f"/aws/lambda/{self.function}"

    def role_arn(self, role_name: str) -> str:
        return self.arn("iam", f"role/{role_name}", regional=False)


def resource_names(settings: Settings, dataset: str, table: str | None, *, direct: bool) -> ResourceNames:
    """Every resource name of `dataset` under `settings` (needs the account id).

    `table` is the definition's base table name (None for a `direct` pipeline); `direct` pipelines
    name their stream ``-events`` and their one function the consumer, `cdc` ones ``-changes`` and
    the Firehose transform.
    """
    account_id = settings.require_account_id()
    base = f"{settings.prefix}-{dataset.replace('_', '-')}"
    function = "consumer" if direct else "transform"
    names = ResourceNames(
        dataset=dataset,
        table=f"{settings.prefix}-{table}" if table else "",
        stream=f"{base}-events" if direct else f"{base}-changes",
        pipe=f"{base}-pipe",
        delivery_stream=f"{base}-delivery",
        function=f"{base}-{function}",
        crawler=f"{base}-crawler",
        lambda_role=f"{base}-{function}-role",
        pipe_role=f"{base}-pipe-role",
        firehose_role=f"{base}-firehose-role",
        crawler_role=f"{base}-crawler-role",
        lake_bucket=settings.lake_bucket,
        athena_results_bucket=settings.athena_results_bucket,
        glue_database=settings.glue_database,
        athena_workgroup=settings.athena_workgroup,
        alerts_topic=settings.alerts_topic,
        lake_prefix=f"{dataset}/",
        error_prefix=(
            f"errors/{dataset}/!{{firehose:error-output-type}}/year=!{{timestamp:yyyy}}/"
            "month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
        ),
        partition=settings.partition,
        region=settings.region,
        account_id=account_id,
    )
    for attr in _LIMITED_NAMES:
        if len(getattr(names, attr)) > _MAX_NAME:
            raise ValueError(
                f"{attr} name {getattr(names, attr)!r} is longer than AWS's {_MAX_NAME} characters: "
                "use a shorter CDC_LAKE_PREFIX or dataset name"
            )
    return names
