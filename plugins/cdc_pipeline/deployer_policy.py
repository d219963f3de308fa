"""The IAM policy for whoever runs the DAGs against real AWS (Airflow's execution role or user).

``python -m cdc_pipeline.deployer_policy`` prints it as JSON for the current settings
(``CDC_LAKE_ACCOUNT_ID`` must be set, or it is asked from STS); ``--boundary`` prints the permissions
boundary instead, for the administrator to create (see below). Every statement names its actions and
the resources by the settings' prefix; ``"Resource": "*"`` appears only for actions AWS does not
scope to a resource (sts:GetCallerIdentity, glue:CreateCrawler, glue:GetCrawlerMetrics,
kinesis:UpdateShardCount, the Lambda event source mapping list, and CreateEventSourceMapping, which
is held to the prefix's functions by its ``lambda:FunctionArn`` condition).

Why the deployer cannot escalate. A deployer that may create roles and write their policies could
write itself ``Action: "*"`` on a role and hand that role to a service that runs its code. Three
things close that:

1. Every role the deployer creates or changes carries the boundary ``<prefix>-boundary``
   (``iam_policies.boundary_policy``). iam:CreateRole, iam:PutRolePolicy, iam:DeleteRolePolicy,
   iam:DetachRolePolicy and iam:PutRolePermissionsBoundary are allowed only when
   ``iam:PermissionsBoundary`` equals that boundary's ARN: a role without it cannot be created, and
   a role that lacks it (the deployer's own, or any other) cannot get a policy written. Whatever an
   inline policy says, the role can do at most what the boundary allows. iam:AttachRolePolicy is
   not granted at all (provisioning never attaches), nor is iam:DeleteRolePermissionsBoundary
   (denied explicitly): a boundary, once on a role, stays.
2. The boundary is the administrator's, not the deployer's. IAM cannot condition
   iam:CreatePolicyVersion on the document it carries, so "may only write versions it generates"
   cannot be expressed: a deployer allowed CreatePolicyVersion (or SetDefaultPolicyVersion) on the
   boundary could make it ``Action: "*"`` and every boundary-carrying role with it. Allowing only
   iam:CreatePolicy is no better: whoever creates the policy first chooses its document. So the
   deployer may read the boundary and nothing else, and every write to it is denied explicitly, so
   that a broader policy attached beside this one does not reopen the path. The administrator
   creates it once (``--boundary`` prints the document) and updates it when a new version of the
   project needs more; provisioning checks it and, run by an identity that may (locally, or by the
   administrator), creates or updates it, else names the command to run.
3. iam:PassRole is allowed only on the service roles' names and only to the service each is for
   (``iam:PassedToService``): transform and consumer roles to Lambda, pipe roles to Pipes, delivery
   roles to Firehose, crawler roles to Glue. Passing a role to another service, or passing any
   other role, is not allowed.

What is left, and why it is not an escalation: iam:UpdateAssumeRolePolicy, iam:TagRole and
iam:DeleteRole take no boundary condition, but they work on the service roles only; a changed
trust policy lets no one in who could not already assume the role (the deployer has no
sts:AssumeRole), and whatever assumes it is held by the boundary.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from cdc_pipeline.iam_policies import boundary_policy, boundary_policy_arn
from cdc_pipeline.settings import Settings


def deployer_policy(settings: Settings) -> dict[str, Any]:
    """The deployer's policy document: IAM statements first, then one group per service it provisions."""
    scope = _Scope(settings)
    allowed = [
        *_storage_statements(scope),
        *_stream_statements(scope),
        *_function_statements(scope),
        *_delivery_statements(scope),
        *_catalog_statements(scope),
        *_query_and_alert_statements(scope),
        *_unscoped_statements(scope),
    ]
    return {"Version": "2012-10-17", "Statement": [*_role_statements(settings), *allowed]}


class _Scope:
    """The settings' names as the ARNs and wildcards the statements scope their resources to."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.account = settings.require_account_id()
        self.partition, self.region, self.prefix = settings.partition, settings.region, settings.prefix
        self.buckets = [settings.lake_bucket, settings.athena_results_bucket]
        self.database = settings.glue_database

    def arn(self, service: str, resource: str, regional: bool = True) -> str:
        return f"arn:{self.partition}:{service}:{self.region if regional else ''}:{self.account}:{resource}"


def _allow(sid: str, actions: list[str], resources: list[str]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}


def _storage_statements(scope: _Scope) -> list[dict[str, Any]]:
    """S3: the lake and Athena results buckets and their objects."""
    bucket_actions = [
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
        # Teardown aborts unfinished uploads: a bucket that has any cannot be deleted.
        "s3:ListBucketMultipartUploads",
    ]
    object_actions = [
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:AbortMultipartUpload",
    ]
    return [
        _allow("Buckets", bucket_actions, [f"arn:{scope.partition}:s3:::{b}" for b in scope.buckets]),
        _allow("Objects", object_actions, [f"arn:{scope.partition}:s3:::{b}/*" for b in scope.buckets]),
    ]


def _stream_statements(scope: _Scope) -> list[dict[str, Any]]:
    """DynamoDB tables and their streams, Kinesis streams: everything named `<prefix>-*`."""
    table_actions = [
        "dynamodb:CreateTable",
        "dynamodb:DescribeTable",
        # Provisioning switches an older table to on-demand billing.
        "dynamodb:UpdateTable",
        "dynamodb:DeleteTable",
        "dynamodb:Scan",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:TagResource",
    ]
    # GetShardIterator and GetRecords: the reconcile DAG reads the stream.
    table_stream_actions = ["dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"]
    kinesis_actions = [
        "kinesis:CreateStream",
        "kinesis:DeleteStream",
        "kinesis:DescribeStream",
        "kinesis:DescribeStreamSummary",
        "kinesis:ListShards",
        "kinesis:PutRecords",
        "kinesis:AddTagsToStream",
    ]
    prefix = scope.prefix
    return [
        _allow("Tables", table_actions, [scope.arn("dynamodb", f"table/{prefix}-*")]),
        _allow("TableStreams", table_stream_actions, [scope.arn("dynamodb", f"table/{prefix}-*/stream/*")]),
        _allow("Streams", kinesis_actions, [scope.arn("kinesis", f"stream/{prefix}-*")]),
    ]


def _function_statements(scope: _Scope) -> list[dict[str, Any]]:
    """Lambda: the prefix's functions and the event source mappings that feed them."""
    function_actions = [
        "lambda:CreateFunction",
        "lambda:DeleteFunction",
        "lambda:GetFunction",
        "lambda:GetFunctionConfiguration",
        "lambda:UpdateFunctionCode",
        "lambda:UpdateFunctionConfiguration",
        "lambda:TagResource",
    ]
    mapping_actions = [
        "lambda:GetEventSourceMapping",
        "lambda:UpdateEventSourceMapping",
        "lambda:DeleteEventSourceMapping",
    ]
    statements = [
        _allow("Functions", function_actions, [scope.arn("lambda", f"function:{scope.prefix}-*")]),
        _allow("EventSourceMappings", mapping_actions, [scope.arn("lambda", "event-source-mapping:*")]),
    ]
    layer = scope.settings.pandas_layer_arn
    if layer:
        # A function's Layers need lambda:GetLayerVersion on each layer version (the Parquet consumer's
        # AWS SDK for pandas layer, another account's).
        statements.append(_allow("UseLayers", ["lambda:GetLayerVersion"], [layer]))
    return statements


def _delivery_statements(scope: _Scope) -> list[dict[str, Any]]:
    """EventBridge Pipes and Firehose delivery streams named `<prefix>-*`."""
    pipe_actions = [
        "pipes:CreatePipe",
        "pipes:DescribePipe",
        "pipes:UpdatePipe",
        "pipes:DeletePipe",
        "pipes:StartPipe",
        "pipes:StopPipe",
        "pipes:TagResource",
    ]
    delivery_actions = [
        "firehose:CreateDeliveryStream",
        "firehose:DescribeDeliveryStream",
        "firehose:UpdateDestination",
        "firehose:DeleteDeliveryStream",
        "firehose:TagDeliveryStream",
    ]
    return [
        _allow("Pipes", pipe_actions, [scope.arn("pipes", f"pipe/{scope.prefix}-*")]),
        _allow(
            "DeliveryStreams", delivery_actions, [scope.arn("firehose", f"deliverystream/{scope.prefix}-*")]
        ),
    ]


def _catalog_statements(scope: _Scope) -> list[dict[str, Any]]:
    """Glue: the settings' database and its tables, and the prefix's crawlers."""
    catalog_actions = [
        "glue:CreateDatabase",
        "glue:GetDatabase",
        "glue:UpdateDatabase",
        "glue:DeleteDatabase",
        "glue:GetTable",
        "glue:GetTables",
        "glue:CreateTable",
        "glue:UpdateTable",
        "glue:DeleteTable",
        "glue:GetPartition",
        "glue:GetPartitions",
        "glue:BatchGetPartition",
    ]
    database = scope.database
    catalog_resources = [
        scope.arn("glue", "catalog"),
        scope.arn("glue", f"database/{database}"),
        scope.arn("glue", f"table/{database}/*"),
        # DeleteDatabase deletes the database's functions too (there are none, but IAM asks).
        scope.arn("glue", f"userDefinedFunction/{database}/*"),
    ]
    crawler_actions = [
        "glue:GetCrawler",
        "glue:UpdateCrawler",
        "glue:DeleteCrawler",
        "glue:StartCrawler",
        # Teardown stops a running crawler before deleting it.
        "glue:StopCrawler",
        "glue:TagResource",
    ]
    return [
        _allow("Catalog", catalog_actions, catalog_resources),
        _allow("Crawlers", crawler_actions, [scope.arn("glue", f"crawler/{scope.prefix}-*")]),
    ]


def _query_and_alert_statements(scope: _Scope) -> list[dict[str, Any]]:
    """Athena in the settings' workgroup, the alerts topic, and the functions' log groups."""
    query_actions = [
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
    ]
    alert_actions = [
        "sns:CreateTopic",
        "sns:DeleteTopic",
        "sns:GetTopicAttributes",
        "sns:SetTopicAttributes",
        "sns:Publish",
    ]
    settings = scope.settings
    return [
        _allow("Queries", query_actions, [scope.arn("athena", f"workgroup/{settings.athena_workgroup}")]),
        _allow("Alerts", alert_actions, [scope.arn("sns", settings.alerts_topic)]),
        _allow(
            "FunctionLogs",
            ["logs:DeleteLogGroup"],
            [scope.arn("logs", f"log-group:/aws/lambda/{scope.prefix}-*")],
        ),
    ]


def _unscoped_statements(scope: _Scope) -> list[dict[str, Any]]:
    """Actions AWS scopes to no resource, and CreateEventSourceMapping held to the prefix by a condition."""
    # AWS scopes none of these to a resource (the Service Authorization Reference lists no resource
    # type for them). CreateCrawler names the crawler's role, which PassRole limits to crawler roles.
    # kinesis:UpdateShardCount (provisioning resizes a stream to the settings' shard count) has no
    # resource type in parliament's copy of the reference, which local_aws.iam enforces.
    unscoped = [
        "sts:GetCallerIdentity",
        "lambda:ListEventSourceMappings",
        "glue:CreateCrawler",
        "glue:GetCrawlerMetrics",
        "kinesis:UpdateShardCount",
    ]
    # CreateEventSourceMapping has no resource type either; its condition key names the function.
    create_mapping = _allow("CreateEventSourceMappings", ["lambda:CreateEventSourceMapping"], ["*"])
    create_mapping["Condition"] = {
        "ArnLike": {"lambda:FunctionArn": scope.arn("lambda", f"function:{scope.prefix}-*")}
    }
    return [_allow("Unscoped", unscoped, ["*"]), create_mapping]


#: The service roles' names end with these (`PipelineDefinition.resources`), and each is for one service.
SERVICE_ROLES = {
    "transform-role": "lambda.amazonaws.com",
    "consumer-role": "lambda.amazonaws.com",
    "pipe-role": "pipes.amazonaws.com",
    "firehose-role": "firehose.amazonaws.com",
    "crawler-role": "glue.amazonaws.com",
}

# Writes that would change the boundary, or bring a policy under its name into being.
_BOUNDARY_WRITES = [
    "iam:CreatePolicy",
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:DeletePolicyVersion",
    "iam:DeletePolicy",
]


def service_role_arns(settings: Settings, suffixes: list[str] | None = None) -> list[str]:
    """ARN patterns of the service roles of every pipeline under the prefix (or those with `suffixes`)."""
    account = settings.require_account_id()
    return [
        f"arn:{settings.partition}:iam::{account}:role/{settings.prefix}-*-{suffix}"
        for suffix in (suffixes or list(SERVICE_ROLES))
    ]


def _role_statements(settings: Settings) -> list[dict[str, Any]]:
    """IAM: roles only inside the boundary, PassRole only to each role's service, the boundary read-only."""
    roles = service_role_arns(settings)
    boundary = boundary_policy_arn(settings)
    inside_boundary = {"ArnEquals": {"iam:PermissionsBoundary": boundary}}
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadServiceRoles",
            "Effect": "Allow",
            "Action": [
                "iam:GetRole",
                "iam:GetRolePolicy",
                "iam:ListRolePolicies",
                "iam:ListAttachedRolePolicies",
            ],
            "Resource": roles,
        },
        {
            "Sid": "ServiceRolesInsideTheBoundary",
            "Effect": "Allow",
            "Action": [
                "iam:CreateRole",
                "iam:PutRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:DetachRolePolicy",
                "iam:PutRolePermissionsBoundary",
            ],
            "Resource": roles,
            "Condition": inside_boundary,
        },
        {
            # No boundary condition exists for these (see the module docstring for why that is safe).
            "Sid": "ServiceRolesTrustTagsAndDeletion",
            "Effect": "Allow",
            "Action": ["iam:UpdateAssumeRolePolicy", "iam:TagRole", "iam:DeleteRole"],
            "Resource": roles,
        },
    ]
    for service in sorted(set(SERVICE_ROLES.values())):
        suffixes = [suffix for suffix, owner in SERVICE_ROLES.items() if owner == service]
        statements.append(
            {
                "Sid": "PassRoleTo" + service.split(".")[0].capitalize(),
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": service_role_arns(settings, suffixes),
                "Condition": {"StringEquals": {"iam:PassedToService": service}},
            }
        )
    statements += [
        {
            "Sid": "ReadTheBoundary",
            "Effect": "Allow",
            "Action": ["iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyVersions"],
            "Resource": [boundary],
        },
        {
            "Sid": "NeverWriteTheBoundary",
            "Effect": "Deny",
            "Action": _BOUNDARY_WRITES,
            "Resource": [boundary],
        },
        {
            "Sid": "NeverLiftABoundary",
            "Effect": "Deny",
            "Action": ["iam:DeleteRolePermissionsBoundary"],
            "Resource": roles,
        },
    ]
    return statements


#: What the printed policy holds where the account id goes when none is given.
ACCOUNT_PLACEHOLDER = "<ACCOUNT_ID>"
_STAND_IN_ACCOUNT = "000000000000"


def _account_id(text: str) -> str:
    """An argparse type: an AWS account id is 12 digits."""
    if not re.fullmatch(r"\d{12}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a 12-digit AWS account id")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cdc_pipeline.deployer_policy",
        description="Print the IAM policy of whoever runs the DAGs (or, with --boundary, the permissions "
        "boundary every service role carries, for an administrator to create as <prefix>-boundary).",
    )
    parser.add_argument("--boundary", action="store_true", help="print the boundary policy instead")
    parser.add_argument(
        "--account-id",
        type=_account_id,
        help=f"the 12-digit account the ARNs name (default CDC_LAKE_ACCOUNT_ID, else {ACCOUNT_PLACEHOLDER})",
    )
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    # No credentials needed to read a policy: without an account id, a placeholder to replace.
    account = args.account_id or settings.account_id
    if not account:
        print(
            f"no account id (--account-id or CDC_LAKE_ACCOUNT_ID): replace {ACCOUNT_PLACEHOLDER} in the policy",
            file=sys.stderr,
        )
    # Settings take 12 digits only; an id no real account has stands in, then becomes the placeholder.
    settings = settings.with_account_id(account or _STAND_IN_ACCOUNT)
    document = boundary_policy(settings) if args.boundary else deployer_policy(settings)
    text = json.dumps(document, indent=2)
    if not account:
        text = text.replace(_STAND_IN_ACCOUNT, ACCOUNT_PLACEHOLDER)
    sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
