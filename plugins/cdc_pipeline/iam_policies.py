"""Least-privilege IAM documents for the pipeline's roles: named actions on named resource ARNs.

Never `Action: "*"`, never a service-wide `s3:*`; `Resource: "*"` only for an action AWS does not scope
to a resource at all (dynamodb:ListStreams, which Pipes needs); a trailing `*` appears only after a
named prefix (`<table>/stream/*`, `<bucket>/<dataset>/*`, the function's log streams).
Trust policies name one service principal, and carry the confused-deputy condition each service
documents in its own trust policy, on a key that service actually sends: Pipes `aws:SourceAccount`,
Firehose `sts:ExternalId` (the account id). A condition on a key the service does not send makes
the role unusable, so Glue's and Lambda's trust policies, for which AWS documents none, have no
condition; those roles reach a service only through iam:PassRole, which never crosses accounts.

Every role also carries the permissions boundary `<prefix>-boundary` (`boundary_policy`): a managed
policy holding the union of what the service roles of every pipeline under the prefix may do. A role's
effective permissions are its inline policy intersected with the boundary, so whatever inline policy
the deployer writes (see `deployer_policy`), a role can never do more than the boundary says. The
boundary is per prefix, not per dataset: one document serves every pipeline, so adding a pipeline
never needs a boundary change (the inline policies keep each role to its own dataset).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cdc_pipeline.definitions import ResourceNames
from cdc_pipeline.settings import Settings

Document = dict[str, Any]


@dataclass(frozen=True)
class RoleSpec:
    """One role: who may assume it, and its single inline policy."""

    resource: str
    name: str
    service: str
    trust: Document
    policy_name: str
    policy: Document


#: The condition key each service sends when it assumes a role, per its documented trust policy.
TRUST_CONDITION_KEYS = {
    "pipes.amazonaws.com": "aws:SourceAccount",
    "firehose.amazonaws.com": "sts:ExternalId",
}


# What a crawler does to its own database's catalog: the crawler role and the boundary grant the same.
CRAWLER_CATALOG_ACTIONS = (
    "glue:GetDatabase",
    "glue:GetTable",
    "glue:GetTables",
    "glue:CreateTable",
    "glue:UpdateTable",
    "glue:GetPartition",
    "glue:GetPartitions",
    "glue:BatchGetPartition",
    "glue:CreatePartition",
    "glue:BatchCreatePartition",
    "glue:UpdatePartition",
    "glue:BatchUpdatePartition",
    # Crawlers create partition indexes for S3 targets by default (CreatePartitionIndex).
    "glue:GetPartitionIndexes",
    "glue:CreatePartitionIndex",
)


#: What Firehose's record format conversion reads of its schema table (AWS's documented role policy).
SCHEMA_READ_ACTIONS = ("glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions")


def trust_policy(service_principal: str, account_id: str) -> Document:
    statement: Document = {
        "Effect": "Allow",
        "Principal": {"Service": service_principal},
        "Action": "sts:AssumeRole",
    }
    key = TRUST_CONDITION_KEYS.get(service_principal)
    if key is not None:
        statement["Condition"] = {"StringEquals": {key: account_id}}
    return {"Version": "2012-10-17", "Statement": [statement]}


def _policy(*statements: Document) -> Document:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(sid: str, actions: list[str], resources: list[str], **extra: Any) -> Document:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def _log_group_arns(names: ResourceNames, group: str) -> list[str]:
    return [names.arn("logs", f"log-group:{group}"), names.arn("logs", f"log-group:{group}:*")]


def lambda_policy(names: ResourceNames) -> Document:
    """The transform writes its own logs, nothing else (Firehose passes it the records)."""
    return _policy(
        _allow(
            "WriteOwnLogs",
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            _log_group_arns(names, names.function_log_group),
        )
    )


def pipe_policy(names: ResourceNames) -> Document:
    """Read the table's stream, put to the Kinesis stream.

    dynamodb:ListStreams is among the permissions EventBridge Pipes documents for a DynamoDB stream
    source; AWS scopes it to no resource (it lists names only), so it alone gets `"*"`.
    """
    return _policy(
        _allow(
            "ReadTableStream",
            ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
            [names.table_streams_arn],
        ),
        _allow("ListTableStreams", ["dynamodb:ListStreams"], ["*"]),
        _allow("PutToKinesis", ["kinesis:PutRecord", "kinesis:PutRecords"], [names.stream_arn]),
    )


def firehose_policy(names: ResourceNames, *, converts: bool = False) -> Document:
    """Read the Kinesis stream, invoke the transform, write the dataset's lake and error prefixes;
    with ``converts`` (a Parquet change log), read the change table's schema too."""
    bucket = names.lake_bucket_arn
    statements = [
        _allow(
            "ReadSourceStream",
            [
                "kinesis:DescribeStream",
                "kinesis:DescribeStreamSummary",
                "kinesis:GetShardIterator",
                "kinesis:GetRecords",
                "kinesis:ListShards",
            ],
            [names.stream_arn],
        ),
        _allow(
            "InvokeTransform",
            ["lambda:InvokeFunction", "lambda:GetFunctionConfiguration"],
            [names.function_arn, f"{names.function_arn}:*"],
        ),
        _allow("LocateLakeBucket", ["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"], [bucket]),
        _allow(
            "ListLakePrefixes",
            ["s3:ListBucket"],
            [bucket],
            Condition={"StringLike": {"s3:prefix": [f"{names.dataset}/*", f"errors/{names.dataset}/*"]}},
        ),
        _allow(
            "WriteLakePrefixes",
            ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
            [f"{bucket}/{names.dataset}/*", f"{bucket}/errors/{names.dataset}/*"],
        ),
    ]
    if converts:
        schema = [
            names.arn("glue", "catalog"),
            names.arn("glue", f"database/{names.glue_database}"),
            names.arn("glue", f"table/{names.glue_database}/{names.dataset}"),
        ]
        statements.append(_allow("ReadChangeTableSchema", list(SCHEMA_READ_ACTIONS), schema))
    return _policy(*statements)


def crawler_policy(names: ResourceNames) -> Document:
    """Read the dataset's lake prefix, manage tables and partitions in its one Glue database, log."""
    bucket = names.lake_bucket_arn
    database = names.glue_database
    return _policy(
        _allow(
            "ListLakePrefix",
            ["s3:ListBucket"],
            [bucket],
            Condition={"StringLike": {"s3:prefix": [f"{names.dataset}/*", names.dataset]}},
        ),
        _allow("ReadLakePrefix", ["s3:GetObject"], [f"{bucket}/{names.dataset}/*"]),
        _allow(
            "CatalogOwnDatabase",
            list(CRAWLER_CATALOG_ACTIONS),
            [
                names.arn("glue", "catalog"),
                names.arn("glue", f"database/{database}"),
                names.arn("glue", f"table/{database}/*"),
            ],
        ),
        _allow(
            "WriteCrawlerLogs",
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            _log_group_arns(names, "/aws-glue/crawlers"),
        ),
    )


def role_specs(names: ResourceNames, *, converts: bool = False) -> list[RoleSpec]:
    """The four roles of a CDC pipeline, in the order they are created (``converts``: its Firehose
    converts the change log to Parquet)."""
    account = names.account_id
    return [
        RoleSpec(
            "lambda_role",
            names.lambda_role,
            "lambda",
            trust_policy("lambda.amazonaws.com", account),
            "write-logs",
            lambda_policy(names),
        ),
        RoleSpec(
            "pipe_role",
            names.pipe_role,
            "pipes",
            trust_policy("pipes.amazonaws.com", account),
            "stream-to-kinesis",
            pipe_policy(names),
        ),
        RoleSpec(
            "firehose_role",
            names.firehose_role,
            "firehose",
            trust_policy("firehose.amazonaws.com", account),
            "kinesis-to-lake",
            firehose_policy(names, converts=converts),
        ),
        RoleSpec(
            "crawler_role",
            names.crawler_role,
            "glue",
            trust_policy("glue.amazonaws.com", account),
            "crawl-lake",
            crawler_policy(names),
        ),
    ]


# -- the permissions boundary every service role carries --------------------------------------------


def boundary_policy_name(settings: Settings) -> str:
    return f"{settings.prefix}-boundary"


def boundary_policy_arn(settings: Settings) -> str:
    account = settings.require_account_id()
    return f"arn:{settings.partition}:iam::{account}:policy/{boundary_policy_name(settings)}"


def boundary_policy(settings: Settings) -> Document:
    """The most any service role under the prefix may do: the inline policies' actions, on prefixed resources.

    No iam:*, sts:* or any action that changes a policy: a role inside the boundary cannot widen
    itself or another role. `"*"` only for the two ListStreams, which AWS scopes to no resource. The lake bucket's objects are `<bucket>/*` because datasets come and go
    while the boundary stays; each role's inline policy narrows that to its dataset's prefixes.
    """
    account = settings.require_account_id()
    partition, region, prefix = settings.partition, settings.region, settings.prefix
    database = settings.glue_database
    bucket = f"arn:{partition}:s3:::{settings.lake_bucket}"

    def arn(service: str, resource: str) -> str:
        return f"arn:{partition}:{service}:{region}:{account}:{resource}"

    log_groups = [f"/aws/lambda/{prefix}-*", "/aws-glue/crawlers"]
    return _policy(
        _allow(
            "WriteOwnLogs",
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            [arn("logs", f"log-group:{group}{suffix}") for group in log_groups for suffix in ("", ":*")],
        ),
        _allow(
            "ReadTableStreams",
            ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
            [arn("dynamodb", f"table/{prefix}-*/stream/*")],
        ),
        # Names only, and AWS scopes them to no resource: Pipes (DynamoDB source) and Lambda's
        # Kinesis event source mappings list as their services document.
        _allow("ListStreams", ["dynamodb:ListStreams", "kinesis:ListStreams"], ["*"]),
        _allow(
            "ReadAndPutStreams",
            [
                "kinesis:DescribeStream",
                "kinesis:DescribeStreamSummary",
                "kinesis:GetRecords",
                "kinesis:GetShardIterator",
                "kinesis:ListShards",
                "kinesis:PutRecord",
                "kinesis:PutRecords",
            ],
            [arn("kinesis", f"stream/{prefix}-*")],
        ),
        _allow(
            "InvokeFunctions",
            ["lambda:InvokeFunction", "lambda:GetFunctionConfiguration"],
            [arn("lambda", f"function:{prefix}-*")],
        ),
        _allow(
            "LakeBucket",
            ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
            [bucket],
        ),
        _allow("LakeObjects", ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"], [f"{bucket}/*"]),
        _allow(
            "CatalogOwnDatabase",
            sorted({*CRAWLER_CATALOG_ACTIONS, *SCHEMA_READ_ACTIONS}),
            [arn("glue", "catalog"), arn("glue", f"database/{database}"), arn("glue", f"table/{database}/*")],
        ),
    )
