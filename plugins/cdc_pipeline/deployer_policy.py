"""The IAM policy for whoever runs the DAGs against real AWS (Airflow's execution role or user).

``python -m cdc_pipeline.deployer_policy`` prints it as JSON for the current settings
(``CDC_LAKE_ACCOUNT_ID`` must be set, or it is asked from STS). Every statement names its actions
and the resources by the settings' prefix; the only ``"Resource": "*"`` statement holds actions AWS
does not scope to a resource (sts:GetCallerIdentity and the Lambda event source mapping list).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from cdc_pipeline.settings import Settings


def deployer_policy(settings: Settings) -> dict[str, Any]:
    account = settings.require_account_id()
    partition, region, prefix = settings.partition, settings.region, settings.prefix

    def arn(service: str, resource: str, regional: bool = True) -> str:
        return f"arn:{partition}:{service}:{region if regional else ''}:{account}:{resource}"

    buckets = [settings.lake_bucket, settings.athena_results_bucket]
    database = settings.glue_database
    statements = [
        (
            "Buckets",
            [
                "s3:CreateBucket",
                "s3:DeleteBucket",
                "s3:ListBucket",
                "s3:ListBucketVersions",
                "s3:GetBucketLocation",
                "s3:GetEncryptionConfiguration",
                "s3:PutEncryptionConfiguration",
                "s3:GetBucketPublicAccessBlock",
                "s3:PutBucketPublicAccessBlock",
                "s3:GetBucketPolicy",
                "s3:PutBucketPolicy",
                "s3:DeleteBucketPolicy",
                "s3:GetBucketVersioning",
            ],
            [f"arn:{partition}:s3:::{b}" for b in buckets],
        ),
        (
            "Objects",
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"],
            [f"arn:{partition}:s3:::{b}/*" for b in buckets],
        ),
        (
            "ServiceRoles",
            [
                "iam:CreateRole",
                "iam:DeleteRole",
                "iam:GetRole",
                "iam:UpdateAssumeRolePolicy",
                "iam:PutRolePolicy",
                "iam:GetRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:ListRolePolicies",
                "iam:ListAttachedRolePolicies",
                "iam:TagRole",
                "iam:PassRole",
            ],
            [arn("iam", f"role/{prefix}-*", regional=False)],
        ),
        (
            "Tables",
            [
                "dynamodb:CreateTable",
                "dynamodb:DescribeTable",
                "dynamodb:DeleteTable",
                "dynamodb:Scan",
                "dynamodb:PutItem",
                "dynamodb:DeleteItem",
                "dynamodb:BatchWriteItem",
                "dynamodb:TagResource",
            ],
            [arn("dynamodb", f"table/{prefix}-*")],
        ),
        ("TableStreams", ["dynamodb:DescribeStream"], [arn("dynamodb", f"table/{prefix}-*/stream/*")]),
        (
            "Streams",
            [
                "kinesis:CreateStream",
                "kinesis:DeleteStream",
                "kinesis:DescribeStream",
                "kinesis:DescribeStreamSummary",
                "kinesis:ListShards",
                "kinesis:PutRecords",
                "kinesis:AddTagsToStream",
            ],
            [arn("kinesis", f"stream/{prefix}-*")],
        ),
        (
            "Functions",
            [
                "lambda:CreateFunction",
                "lambda:DeleteFunction",
                "lambda:GetFunction",
                "lambda:GetFunctionConfiguration",
                "lambda:UpdateFunctionCode",
                "lambda:UpdateFunctionConfiguration",
                "lambda:TagResource",
            ],
            [arn("lambda", f"function:{prefix}-*")],
        ),
        (
            "EventSourceMappings",
            [
                "lambda:CreateEventSourceMapping",
                "lambda:GetEventSourceMapping",
                "lambda:UpdateEventSourceMapping",
                "lambda:DeleteEventSourceMapping",
            ],
            [arn("lambda", "event-source-mapping:*")],
        ),
        (
            "Pipes",
            [
                "pipes:CreatePipe",
                "pipes:DescribePipe",
                "pipes:UpdatePipe",
                "pipes:DeletePipe",
                "pipes:StartPipe",
                "pipes:StopPipe",
                "pipes:TagResource",
            ],
            [arn("pipes", f"pipe/{prefix}-*")],
        ),
        (
            "DeliveryStreams",
            [
                "firehose:CreateDeliveryStream",
                "firehose:DescribeDeliveryStream",
                "firehose:UpdateDestination",
                "firehose:DeleteDeliveryStream",
                "firehose:TagDeliveryStream",
            ],
            [arn("firehose", f"deliverystream/{prefix}-*")],
        ),
        (
            "Catalog",
            [
                "glue:CreateDatabase",
                "glue:GetDatabase",
                "glue:DeleteDatabase",
                "glue:GetTable",
                "glue:GetTables",
                "glue:CreateTable",
                "glue:UpdateTable",
                "glue:DeleteTable",
                "glue:GetPartition",
                "glue:GetPartitions",
                "glue:BatchGetPartition",
            ],
            [arn("glue", "catalog"), arn("glue", f"database/{database}"), arn("glue", f"table/{database}/*")],
        ),
        (
            "Crawlers",
            [
                "glue:CreateCrawler",
                "glue:GetCrawler",
                "glue:UpdateCrawler",
                "glue:DeleteCrawler",
                "glue:StartCrawler",
                "glue:GetCrawlerMetrics",
                "glue:TagResource",
            ],
            [arn("glue", f"crawler/{prefix}-*")],
        ),
        (
            "Queries",
            [
                "athena:CreateWorkGroup",
                "athena:GetWorkGroup",
                "athena:UpdateWorkGroup",
                "athena:DeleteWorkGroup",
                "athena:StartQueryExecution",
                "athena:GetQueryExecution",
                "athena:GetQueryResults",
                "athena:StopQueryExecution",
                "athena:ListQueryExecutions",
                "athena:BatchGetQueryExecution",
            ],
            [arn("athena", f"workgroup/{settings.athena_workgroup}")],
        ),
        (
            "Alerts",
            [
                "sns:CreateTopic",
                "sns:DeleteTopic",
                "sns:GetTopicAttributes",
                "sns:SetTopicAttributes",
                "sns:Publish",
            ],
            [arn("sns", settings.alerts_topic)],
        ),
        ("FunctionLogs", ["logs:DeleteLogGroup"], [arn("logs", f"log-group:/aws/lambda/{prefix}-*")]),
        # These two cannot be scoped to a resource by AWS.
        ("Unscoped", ["sts:GetCallerIdentity", "lambda:ListEventSourceMappings"], ["*"]),
    ]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}
            for sid, actions, resources in statements
        ],
    }


def main() -> int:
    settings = Settings.from_env()
    if not settings.account_id:
        import boto3

        settings = settings.with_account_id(boto3.client("sts").get_caller_identity()["Account"])
    json.dump(deployer_policy(settings), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
