"""Least-privilege IAM documents for the pipeline's roles: named actions on named resource ARNs.

Never `Action: "*"`, never a service-wide `s3:*`, never `Resource: "*"`; a trailing `*` appears only
after a named prefix (`<table>/stream/*`, `<bucket>/<dataset>/*`, the function's log streams).
Trust policies name one service principal and pin `aws:SourceAccount`, so another account's
Firehose or Pipe cannot be tricked into using the role (the confused-deputy guard AWS recommends).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cdc_pipeline.definitions import ResourceNames

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


def trust_policy(service_principal: str, account_id: str) -> Document:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service_principal},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        ],
    }


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

    dynamodb:ListStreams is left out: it cannot be scoped to a resource, and a Pipe whose source is
    a stream ARN does not need it.
    """
    return _policy(
        _allow(
            "ReadTableStream",
            ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
            [names.table_streams_arn],
        ),
        _allow("PutToKinesis", ["kinesis:PutRecord", "kinesis:PutRecords"], [names.stream_arn]),
    )


def firehose_policy(names: ResourceNames) -> Document:
    """Read the Kinesis stream, invoke the transform, write the dataset's lake and error prefixes."""
    bucket = names.lake_bucket_arn
    return _policy(
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
    )


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
            [
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
            ],
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


def role_specs(names: ResourceNames) -> list[RoleSpec]:
    """The four roles of a CDC pipeline, in the order they are created."""
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
            firehose_policy(names),
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
