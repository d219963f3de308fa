"""The permissions each data-plane step needs from its service role, as each service documents them.

A component calls one function at the point where the AWS service would be refused; each returns
the first `AccessDenied` (trust first, then each action) or None.

- EventBridge Pipes, DynamoDB stream source: ``dynamodb:DescribeStream``, ``GetRecords``,
  ``GetShardIterator`` on the stream and ``dynamodb:ListStreams`` (no resource type); Kinesis
  target: ``kinesis:PutRecord`` and ``kinesis:PutRecords`` on the stream.
- Firehose, Kinesis source: ``kinesis:DescribeStream``, ``GetShardIterator``, ``GetRecords`` and
  ``ListShards`` on the stream (S3 writes and the processor's ``lambda:InvokeFunction`` are
  checked where Firehose makes them).
- Glue crawler, S3 target: ``s3:ListBucket`` on the bucket and ``s3:GetObject`` on each object it
  reads; ``glue:GetDatabase`` on the catalog and database when the caller names the database.
- Lambda event source mapping (the function's execution role), Kinesis: ``kinesis:DescribeStream``,
  ``DescribeStreamSummary``, ``GetRecords``, ``GetShardIterator``, ``ListShards``,
  ``ListStreams``; DynamoDB stream: ``dynamodb:DescribeStream``, ``GetRecords``,
  ``GetShardIterator``, ``ListStreams``.

LIMITATIONS: what a service does as the role beyond these steps is not checked: the crawler's
Glue catalog calls (local_aws's crawler passes no database, so not even GetDatabase), the
CloudWatch Logs writes of Lambda functions and crawlers (local_aws keeps their logs itself), and
Firehose's GetBucketLocation / ListBucket / ListBucketMultipartUploads / AbortMultipartUpload (it
only puts objects). A role missing those permissions works here and fails on AWS;
tests/cdc_pipeline/test_service_role_walk.py lists the statements this leaves unexercised.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from local_aws import iam

if TYPE_CHECKING:
    from local_aws.world import World

PIPES, FIREHOSE, GLUE, LAMBDA = (
    "pipes.amazonaws.com",
    "firehose.amazonaws.com",
    "glue.amazonaws.com",
    "lambda.amazonaws.com",
)
_DDB_STREAM_READS = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")
_KINESIS_READS = (
    "kinesis:DescribeStream",
    "kinesis:GetShardIterator",
    "kinesis:GetRecords",
    "kinesis:ListShards",
)


def _first_denial(
    world: World,
    role_arn: str,
    service: str,
    checks: Iterable[tuple[str, str | None]],
    source_arn: str | None = None,
) -> iam.AccessDenied | None:
    for action, resource in checks:
        denied = iam.check_service_role(
            world, role_arn, action, resource, service_principal=service, source_arn=source_arn
        )
        if denied is not None:
            return denied
    return None


def _stream_reads(source_arn: str) -> list[tuple[str, str | None]]:
    if ":dynamodb:" in source_arn:
        return [(action, source_arn) for action in _DDB_STREAM_READS] + [("dynamodb:ListStreams", None)]
    if ":kinesis:" in source_arn:
        return [(action, source_arn) for action in _KINESIS_READS]
    return []


def pipe(world: World, pipe_arn: str, role_arn: str, source: str, target: str) -> iam.AccessDenied | None:
    """A pipe reading its source and writing its target as its role."""
    checks = _stream_reads(source)
    if ":kinesis:" in target:
        checks += [("kinesis:PutRecord", target), ("kinesis:PutRecords", target)]
    return _first_denial(world, role_arn, PIPES, checks, pipe_arn)


def firehose_source(
    world: World, stream_arn: str, role_arn: str, kinesis_arn: str
) -> iam.AccessDenied | None:
    """A delivery stream reading its Kinesis source as the source configuration's role."""
    return _first_denial(world, role_arn, FIREHOSE, _stream_reads(kinesis_arn), stream_arn)


def crawler_reads(
    world: World,
    crawler_arn: str,
    role_arn: str,
    bucket: str,
    keys: Iterable[str],
    database_arn: str | None = None,
    prefix: str = "",
) -> iam.AccessDenied | None:
    """A crawler listing an S3 target and reading its objects as the crawler's role.

    The listing carries the target's path as s3:prefix, as Glue's ListObjects does, so a role
    that may list only its dataset's prefix (a `s3:prefix` condition) can crawl it.
    """
    listing = iam.check_service_role(
        world,
        role_arn,
        "s3:ListBucket",
        f"arn:aws:s3:::{bucket}",
        context={"s3:prefix": prefix},
        service_principal=GLUE,
        source_arn=crawler_arn,
    )
    if listing is not None:
        return listing
    checks: list[tuple[str, str | None]] = [("s3:GetObject", f"arn:aws:s3:::{bucket}/{key}") for key in keys]
    if database_arn:
        checks.append(("glue:GetDatabase", database_arn))
    return _first_denial(world, role_arn, GLUE, checks, crawler_arn)


def event_source_mapping(world: World, role_arn: str, source_arn: str) -> iam.AccessDenied | None:
    """Lambda polling a stream for a mapping, as the function's execution role."""
    checks = _stream_reads(source_arn)
    if ":kinesis:" in source_arn:
        checks += [("kinesis:DescribeStreamSummary", source_arn), ("kinesis:ListStreams", None)]
    return _first_denial(world, role_arn, LAMBDA, checks)
