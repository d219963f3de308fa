"""IAM enforced by local_aws, as a boto3 user with an IAM user's (or role session's) keys sees it.

Each test gives a fresh IAM user exactly the policies it is about, then asserts what AWS answers:
the call succeeds, or fails with the service's AccessDenied code and AWS's message naming the
caller, the action, the resource and the kind of policy that decided.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support import unique

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


class Identity:
    """A fresh IAM user with its own keys; ``client("s3")`` signs as that user."""

    def __init__(self, aws: Callable[..., Any], endpoint_url: str, *statements: dict[str, Any]) -> None:
        self.iam = aws("iam")
        self.endpoint_url = endpoint_url
        self.name = unique("iam-user")
        self.arn = self.iam.create_user(UserName=self.name)["User"]["Arn"]
        if statements:
            self.iam.put_user_policy(
                UserName=self.name, PolicyName="inline", PolicyDocument=document(*statements)
            )
        key = self.iam.create_access_key(UserName=self.name)["AccessKey"]
        self.credentials = {
            "aws_access_key_id": key["AccessKeyId"],
            "aws_secret_access_key": key["SecretAccessKey"],
        }

    def client(self, service: str, **credentials: str) -> Any:
        return boto3.client(
            service, endpoint_url=self.endpoint_url, region_name=REGION, **(credentials or self.credentials)
        )


@pytest.fixture
def identity(aws: Callable[..., Any], endpoint_url: str) -> Callable[..., Identity]:
    return lambda *statements: Identity(aws, endpoint_url, *statements)


@pytest.fixture
def table(aws: Callable[..., Any]) -> str:
    name = unique("iam-orders")
    aws("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def table_arn(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"


def denied(call: Callable[[], Any]) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    return error["Code"], error["Message"], caught.value.response["ResponseMetadata"]["HTTPStatusCode"]


def put(client: Any, table: str) -> Any:
    return client.put_item(TableName=table, Item={"k": {"S": "x"}})


# -- allow, implicit deny, explicit deny ------------------------------------------------------
def test_an_allowed_action_succeeds_and_another_is_implicitly_denied(identity, table):
    user = identity(allow("dynamodb:PutItem", table_arn(table)))
    ddb = user.client("dynamodb")
    put(ddb, table)
    assert denied(lambda: ddb.get_item(TableName=table, Key={"k": {"S": "x"}})) == (
        "AccessDeniedException",
        f"User: {user.arn} is not authorized to perform: dynamodb:GetItem on resource: {table_arn(table)} "
        "because no identity-based policy allows the dynamodb:GetItem action",
        403,
    )


def test_a_user_without_any_policy_is_denied_and_the_default_keys_are_not(aws, identity, table):
    user = identity()
    code, message, status = denied(lambda: put(user.client("dynamodb"), table))
    assert (code, status) == ("AccessDeniedException", 403)
    assert message.endswith("because no identity-based policy allows the dynamodb:PutItem action")
    put(aws("dynamodb"), table)  # the account's own keys: unrestricted, as the root user


def test_an_explicit_deny_wins_over_an_allow(identity, table):
    user = identity(allow("dynamodb:*"), deny("dynamodb:PutItem", table_arn(table)))
    code, message, _ = denied(lambda: put(user.client("dynamodb"), table))
    assert code == "AccessDeniedException"
    assert message == (
        f"User: {user.arn} is not authorized to perform: dynamodb:PutItem on resource: {table_arn(table)} "
        "with an explicit deny in an identity-based policy"
    )


def test_actions_match_case_insensitively_with_wildcards_and_not_action(identity, table):
    user = identity(allow("DynamoDB:put*"), {"Effect": "Allow", "NotAction": "dynamodb:*", "Resource": "*"})
    put(user.client("dynamodb"), table)
    user.client("sns").list_topics()  # NotAction dynamodb:* covers sns
    code, _, _ = denied(lambda: user.client("dynamodb").delete_item(TableName=table, Key={"k": {"S": "x"}}))
    assert code == "AccessDeniedException"


# -- resources ----------------------------------------------------------------------------------
def test_wildcard_arns_match_within_their_segment(identity, table):
    prefix = table.rsplit("-", 1)[0]
    user = identity(allow("dynamodb:PutItem", f"arn:aws:dynamodb:*:{ACCOUNT_ID}:table/{prefix}-????????"))
    put(user.client("dynamodb"), table)
    other = identity(allow("dynamodb:PutItem", f"arn:aws:dynamodb:us-*-1:{ACCOUNT_ID}:table/other-*"))
    assert denied(lambda: put(other.client("dynamodb"), table))[0] == "AccessDeniedException"
    # A wildcard inside the region segment does not run into the account segment.
    across = identity(allow("dynamodb:PutItem", f"arn:aws:dynamodb:us*{ACCOUNT_ID}:table/{table}"))
    assert denied(lambda: put(across.client("dynamodb"), table))[0] == "AccessDeniedException"


def test_s3_objects_and_buckets_are_separate_resources(aws, identity):
    bucket = unique("iam-bkt")
    aws("s3").create_bucket(Bucket=bucket)
    user = identity(allow(["s3:PutObject", "s3:GetObject"], f"arn:aws:s3:::{bucket}/data/*"))
    s3 = user.client("s3")
    s3.put_object(Bucket=bucket, Key="data/a/b.json", Body=b"{}")
    assert s3.get_object(Bucket=bucket, Key="data/a/b.json")["Body"].read() == b"{}"
    code, message, status = denied(lambda: s3.put_object(Bucket=bucket, Key="other/x", Body=b""))
    assert (code, status) == ("AccessDenied", 403)
    assert message == (
        f'User: {user.arn} is not authorized to perform: s3:PutObject on resource: "arn:aws:s3:::{bucket}/other/x" '
        "because no identity-based policy allows the s3:PutObject action"
    )
    # ListObjectsV2 is s3:ListBucket on the bucket, which the object wildcard does not name.
    code, message, _ = denied(lambda: s3.list_objects_v2(Bucket=bucket))
    assert code == "AccessDenied" and "s3:ListBucket" in message and f'"arn:aws:s3:::{bucket}"' in message


def test_an_action_without_resource_type_is_granted_only_by_a_star(identity):
    crawler_arn = f"arn:aws:glue:{REGION}:{ACCOUNT_ID}:crawler/cdc-lake-crawler"
    scoped = identity(allow("glue:GetCrawlerMetrics", crawler_arn))
    code, message, status = denied(lambda: scoped.client("glue").get_crawler_metrics())
    assert (code, status) == ("AccessDeniedException", 403)
    assert message == (
        f"User: {scoped.arn} is not authorized to perform: glue:GetCrawlerMetrics "
        "because no identity-based policy allows the glue:GetCrawlerMetrics action"
    )
    star = identity(allow("glue:GetCrawlerMetrics", "*"))
    assert "CrawlerMetricsList" in star.client("glue").get_crawler_metrics()


def test_glue_get_tables_is_checked_on_every_table_of_its_database(aws, identity):
    database = unique("iamtables").replace("-", "_")
    aws("glue").create_database(DatabaseInput={"Name": database})
    scope = f"arn:aws:glue:{REGION}:{ACCOUNT_ID}"
    catalog_and_database = [f"{scope}:catalog", f"{scope}:database/{database}"]
    listed = identity(allow("glue:GetTables", [*catalog_and_database, f"{scope}:table/{database}/*"]))
    assert listed.client("glue").get_tables(DatabaseName=database)["TableList"] == []
    one_table = identity(allow("glue:GetTables", [*catalog_and_database, f"{scope}:table/{database}/orders"]))
    code, message, status = denied(lambda: one_table.client("glue").get_tables(DatabaseName=database))
    assert (code, status) == ("AccessDeniedException", 403), (code, message, status)
    assert f"glue:GetTables on resource: {scope}:table/{database}/*" in message, message


def test_policy_variables_name_the_caller(aws, identity):
    bucket = unique("iam-home")
    aws("s3").create_bucket(Bucket=bucket)
    user = identity(allow("s3:PutObject", f"arn:aws:s3:::{bucket}/home/${{aws:username}}/*"))
    s3 = user.client("s3")
    s3.put_object(Bucket=bucket, Key=f"home/{user.name}/notes.txt", Body=b"mine")
    assert denied(lambda: s3.put_object(Bucket=bucket, Key="home/someone-else/notes.txt", Body=b""))[0] == (
        "AccessDenied"
    )


# -- conditions ---------------------------------------------------------------------------------
def test_secure_transport_and_requested_region_conditions(identity, table):
    tls_only = identity(
        allow("dynamodb:PutItem", table_arn(table), Condition={"Bool": {"aws:SecureTransport": "true"}}),
        deny("dynamodb:*", Condition={"Bool": {"aws:SecureTransport": "false"}}),
    )
    put(tls_only.client("dynamodb"), table)
    elsewhere = identity(
        allow("dynamodb:PutItem", "*", Condition={"StringEquals": {"aws:RequestedRegion": "eu-west-1"}})
    )
    assert denied(lambda: put(elsewhere.client("dynamodb"), table))[0] == "AccessDeniedException"


def lambda_role(aws: Callable[..., Any], name: str) -> str:
    """A new role Lambda may assume; its ARN."""
    return aws("iam").create_role(
        RoleName=unique(name),
        AssumeRolePolicyDocument=document(
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ),
    )["Role"]["Arn"]


def test_a_functions_layers_need_get_layer_version_on_each(aws, identity):
    role = lambda_role(aws, "iam-layer-role")
    layer = "arn:aws:lambda:us-east-1:336392948345:layer:AWSSDKPandas-Python314:6"
    may_create = [allow("lambda:CreateFunction"), allow("iam:PassRole", role)]

    def create(user: Identity) -> Any:
        return user.client("lambda").create_function(
            FunctionName=unique("iam-layer-fn"),
            Runtime="python3.14",
            Role=role,
            Handler="h.handler",
            Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
            Layers=[layer],
        )

    without = identity(*may_create)
    code, message, status = denied(lambda: create(without))
    assert (code, status) == ("AccessDeniedException", 403)
    assert f"lambda:GetLayerVersion on resource: {layer}" in message
    with_layer = identity(*may_create, allow("lambda:GetLayerVersion", layer))
    try:
        create(with_layer)
    except ClientError as error:  # past IAM: whatever Lambda says about the empty zip is not AccessDenied
        assert "AccessDenied" not in error.response["Error"]["Code"]


def test_get_layer_version_by_arn_is_get_layer_version_on_the_layer(identity):
    # AWS's Service Authorization Reference has no GetLayerVersionByArn action: the call is
    # authorized as lambda:GetLayerVersion on the layer version it names.
    layer = "arn:aws:lambda:us-east-1:336392948345:layer:AWSSDKPandas-Python314:6"

    def get(user: Identity) -> Any:
        return user.client("lambda").get_layer_version_by_arn(Arn=layer)

    code, message, status = denied(lambda: get(identity(allow("lambda:GetLayerVersion", f"{layer}0"))))
    assert (code, status) == ("AccessDeniedException", 403)
    assert f"lambda:GetLayerVersion on resource: {layer}" in message
    assert get(identity(allow("lambda:GetLayerVersion", layer)))["LayerVersionArn"] == layer


def test_pass_role_is_checked_with_the_service_it_is_passed_to(aws, identity):
    role = lambda_role(aws, "iam-fn-role")
    only_to_glue = identity(
        allow("lambda:CreateFunction"),
        allow(
            "iam:PassRole", role, Condition={"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}}
        ),
    )

    def create(user: Identity) -> Any:
        return user.client("lambda").create_function(
            FunctionName=unique("iam-fn"),
            Runtime="python3.12",
            Role=role,
            Handler="h.handler",
            Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
        )

    code, message, status = denied(lambda: create(only_to_glue))
    assert (code, status) == ("AccessDeniedException", 403)
    assert message == (
        f"User: {only_to_glue.arn} is not authorized to perform: iam:PassRole on resource: {role} "
        "because no identity-based policy allows the iam:PassRole action"
    )
    to_lambda = identity(
        allow("lambda:CreateFunction"),
        allow(
            "iam:PassRole", role, Condition={"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}
        ),
    )
    try:
        create(to_lambda)
    except ClientError as error:  # past IAM: whatever Lambda says about the empty zip is not AccessDenied
        assert "AccessDenied" not in error.response["Error"]["Code"]


def test_permissions_boundary_condition_on_role_writes(aws, identity):
    boundary = aws("iam").create_policy(
        PolicyName=unique("iam-boundary"), PolicyDocument=document(allow("s3:*"))
    )["Policy"]["Arn"]
    trust = document(
        {"Effect": "Allow", "Principal": {"Service": "glue.amazonaws.com"}, "Action": "sts:AssumeRole"}
    )
    user = identity(
        allow("iam:CreateRole", Condition={"StringEquals": {"iam:PermissionsBoundary": boundary}}),
        allow("iam:GetRole"),
    )
    iam = user.client("iam")
    code, message, status = denied(
        lambda: iam.create_role(RoleName=unique("iam-unbounded"), AssumeRolePolicyDocument=trust)
    )
    assert (code, status) == ("AccessDenied", 403)
    assert "iam:CreateRole" in message and "because no identity-based policy allows" in message
    name = unique("iam-bounded")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust, PermissionsBoundary=boundary)
    assert iam.get_role(RoleName=name)["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary


# -- roles: boundaries, sessions, trust ---------------------------------------------------------
def _role_with(
    aws: Callable[..., Any], trusted_arn: str, *statements: dict[str, Any], boundary: str | None = None
) -> str:
    trust = document({"Effect": "Allow", "Principal": {"AWS": trusted_arn}, "Action": "sts:AssumeRole"})
    extra = {"PermissionsBoundary": boundary} if boundary else {}
    name = unique("iam-role")
    arn = aws("iam").create_role(RoleName=name, AssumeRolePolicyDocument=trust, **extra)["Role"]["Arn"]
    if statements:
        aws("iam").put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=document(*statements))
    return arn


def _session(user: Identity, role_arn: str) -> dict[str, str]:
    found = user.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="tester")["Credentials"]
    return {
        "aws_access_key_id": found["AccessKeyId"],
        "aws_secret_access_key": found["SecretAccessKey"],
        "aws_session_token": found["SessionToken"],
    }


def test_a_boundary_limits_what_a_role_session_may_do(aws, identity, table):
    boundary = aws("iam").create_policy(
        PolicyName=unique("iam-boundary"), PolicyDocument=document(allow("dynamodb:GetItem"))
    )["Policy"]["Arn"]
    user = identity()
    role = _role_with(aws, user.arn, allow("dynamodb:*"), boundary=boundary)
    session = _session(user, role)
    ddb = user.client("dynamodb", **session)
    ddb.get_item(TableName=table, Key={"k": {"S": "x"}})
    role_name = role.rsplit("/", 1)[-1]
    assert denied(lambda: put(ddb, table)) == (
        "AccessDeniedException",
        f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role_name}/tester is not authorized to perform: "
        f"dynamodb:PutItem on resource: {table_arn(table)} because no permissions boundary allows the "
        "dynamodb:PutItem action",
        403,
    )
    assert (
        user.client("sts", **session)
        .get_caller_identity()["Arn"]
        .endswith(f"assumed-role/{role_name}/tester")
    )


def test_assume_role_needs_a_trust_policy_that_names_the_caller(aws, identity):
    user = identity(allow("sts:AssumeRole"))
    stranger = aws("iam").create_user(UserName=unique("iam-stranger"))["User"]["Arn"]
    role = _role_with(aws, stranger)
    code, message, status = denied(lambda: _session(user, role))
    assert (code, status) == ("AccessDenied", 403)
    assert message == (
        f"User: {user.arn} is not authorized to perform: sts:AssumeRole on resource: {role} "
        "because no resource-based policy allows the sts:AssumeRole action"
    )
    # A trust policy naming the user itself is enough, with no identity policy.
    named = identity()
    _session(named, _role_with(aws, named.arn))


# -- resource policies ---------------------------------------------------------------------------
def test_a_bucket_policy_denies_and_allows_within_the_account(aws, identity):
    bucket = unique("iam-bp")
    aws("s3").create_bucket(Bucket=bucket)
    user = identity(allow("s3:*"))
    reader = identity()
    aws("s3").put_bucket_policy(
        Bucket=bucket,
        Policy=document(
            {
                "Effect": "Deny",
                "Principal": {"AWS": user.arn},
                "Action": "s3:DeleteObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            },
            {
                "Effect": "Allow",
                "Principal": {"AWS": reader.arn},
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            },
        ),
    )
    user.client("s3").put_object(Bucket=bucket, Key="k", Body=b"v")
    code, message, _ = denied(lambda: user.client("s3").delete_object(Bucket=bucket, Key="k"))
    assert code == "AccessDenied"
    assert message.endswith("with an explicit deny in a resource-based policy")
    assert reader.client("s3").get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"


def test_lambda_refuses_a_role_it_cannot_assume_even_for_the_account_keys(aws, identity):
    trust_glue = document(
        {"Effect": "Allow", "Principal": {"Service": "glue.amazonaws.com"}, "Action": "sts:AssumeRole"}
    )
    role = aws("iam").create_role(RoleName=unique("iam-not-lambda"), AssumeRolePolicyDocument=trust_glue)[
        "Role"
    ]["Arn"]
    code, message, status = denied(
        lambda: aws("lambda").create_function(
            FunctionName=unique("iam-fn"),
            Runtime="python3.12",
            Role=role,
            Handler="h.handler",
            Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
        )
    )
    assert (code, message, status) == (
        "InvalidParameterValueException",
        "The role defined for the function cannot be assumed by Lambda.",
        400,
    )
    # Authorization comes first: a caller who may not pass the role hears about iam:PassRole.
    user = identity(allow("lambda:CreateFunction"))
    code, message, _ = denied(
        lambda: user.client("lambda").create_function(
            FunctionName=unique("iam-fn"),
            Runtime="python3.12",
            Role=role,
            Handler="h.handler",
            Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
        )
    )
    assert code == "AccessDeniedException" and "iam:PassRole" in message


def test_athena_query_calls_are_checked_on_the_workgroup_the_query_ran_in(aws, identity):
    bucket, workgroup = unique("iam-athena"), unique("iam-wg")
    aws("s3").create_bucket(Bucket=bucket)
    aws("athena").create_work_group(
        Name=workgroup, Configuration={"ResultConfiguration": {"OutputLocation": f"s3://{bucket}/results/"}}
    )
    workgroup_arn = f"arn:aws:athena:{REGION}:{ACCOUNT_ID}:workgroup/{workgroup}"
    user = identity(allow(["athena:StartQueryExecution", "athena:GetQueryExecution"], workgroup_arn))
    athena = user.client("athena")
    query_id = athena.start_query_execution(QueryString="SELECT 1", WorkGroup=workgroup)["QueryExecutionId"]
    assert athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["WorkGroup"] == workgroup
    other = identity(
        allow("athena:GetQueryExecution", f"arn:aws:athena:{REGION}:{ACCOUNT_ID}:workgroup/other")
    )
    code, message, _ = denied(lambda: other.client("athena").get_query_execution(QueryExecutionId=query_id))
    assert code == "AccessDeniedException"
    assert f"athena:GetQueryExecution on resource: {workgroup_arn} because" in message
    # Without a WorkGroup a query runs in (and is checked on) the primary workgroup.
    code, message, _ = denied(lambda: athena.start_query_execution(QueryString="SELECT 1"))
    assert code == "AccessDeniedException" and message.endswith(
        f"athena:StartQueryExecution on resource: arn:aws:athena:{REGION}:{ACCOUNT_ID}:workgroup/primary "
        "because no identity-based policy allows the athena:StartQueryExecution action"
    )


def test_get_records_is_checked_on_the_stream_its_shard_iterator_belongs_to(aws, identity):
    name = unique("iam-stream")
    aws("kinesis").create_stream(StreamName=name, ShardCount=1)
    stream_arn = aws("kinesis").describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    aws("kinesis").put_record(StreamName=name, Data=b"x", PartitionKey="k")
    reader = identity(
        allow(["kinesis:ListShards", "kinesis:GetShardIterator", "kinesis:GetRecords"], stream_arn)
    )
    kinesis = reader.client("kinesis")
    shard = kinesis.list_shards(StreamName=name)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=name, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=iterator)["Records"]] == [b"x"]
    no_reads = identity(allow(["kinesis:GetRecords"], f"{stream_arn}-other"))
    code, message, _ = denied(lambda: no_reads.client("kinesis").get_records(ShardIterator=iterator))
    assert (
        code == "AccessDeniedException" and f"kinesis:GetRecords on resource: {stream_arn} because" in message
    )


def test_object_keys_are_matched_as_the_caller_wrote_them(aws, identity):
    bucket = unique("iam-utf8")
    aws("s3").create_bucket(Bucket=bucket)
    user = identity(allow("s3:PutObject", f"arn:aws:s3:::{bucket}/données/*%41"))
    user.client("s3").put_object(Bucket=bucket, Key="données/été %41", Body=b"x")
    code, message, _ = denied(lambda: user.client("s3").put_object(Bucket=bucket, Key="données/A", Body=b""))
    assert code == "AccessDenied" and f'"arn:aws:s3:::{bucket}/données/A"' in message


def test_group_and_attached_managed_policies_speak_for_the_user(aws, identity, table):
    user = identity()
    iam = aws("iam")
    group = unique("iam-group")
    iam.create_group(GroupName=group)
    managed = iam.create_policy(
        PolicyName=unique("iam-writers"), PolicyDocument=document(allow("dynamodb:PutItem", table_arn(table)))
    )["Policy"]["Arn"]
    ddb = user.client("dynamodb")
    assert denied(lambda: put(ddb, table))[0] == "AccessDeniedException"
    iam.attach_group_policy(GroupName=group, PolicyArn=managed)
    iam.add_user_to_group(GroupName=group, UserName=user.name)
    put(ddb, table)
    iam.put_user_policy(
        UserName=user.name, PolicyName="no-writes", PolicyDocument=document(deny("dynamodb:Put*"))
    )
    assert denied(lambda: put(ddb, table))[1].endswith("with an explicit deny in an identity-based policy")


def test_a_key_that_outlives_its_user_allows_nothing(aws, identity, table):
    user = identity()
    aws("iam").delete_user(UserName=user.name)  # moto leaves the user's keys behind
    code, message, _ = denied(lambda: put(user.client("dynamodb"), table))
    assert code == "AccessDeniedException"
    assert message.startswith(f"User: {user.arn} is not authorized to perform: dynamodb:PutItem")


def test_a_wildcard_ending_a_segment_runs_past_colons(aws, identity):
    group = f"/cdc/{unique('iam-logs')}"
    aws("logs").create_log_group(logGroupName=group)
    aws("logs").create_log_stream(logGroupName=group, logStreamName="s")
    user = identity(allow("logs:PutLogEvents", f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{group}:*"))
    events = [{"timestamp": 1_700_000_000_000, "message": "m"}]
    user.client("logs").put_log_events(logGroupName=group, logStreamName="s", logEvents=events)
    # Inside a segment a wildcard stays there: "log-group:/cdc*" does not reach ":log-stream:s".
    inner = identity(allow("logs:PutLogEvents", f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:/cdc*s"))
    code, message, _ = denied(
        lambda: inner.client("logs").put_log_events(logGroupName=group, logStreamName="s", logEvents=events)
    )
    assert code == "AccessDeniedException"
    assert (
        f"on resource: arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{group}:log-stream:s because" in message
    )


def test_session_token_credentials_do_not_escape_the_callers_policies(identity, table):
    user = identity(allow("sts:GetSessionToken"))
    found = user.client("sts").get_session_token()["Credentials"]
    session = {
        "aws_access_key_id": found["AccessKeyId"],
        "aws_secret_access_key": found["SecretAccessKey"],
        "aws_session_token": found["SessionToken"],
    }
    assert denied(lambda: put(user.client("dynamodb", **session), table))[0] == "AccessDeniedException"


def test_web_identity_sessions_need_a_role_that_trusts_a_federated_provider(aws, endpoint_url):
    from botocore import UNSIGNED
    from botocore.config import Config

    sts = boto3.client(
        "sts", endpoint_url=endpoint_url, region_name=REGION, config=Config(signature_version=UNSIGNED)
    )
    admin = aws("iam").create_role(
        RoleName=unique("iam-admin"),
        AssumeRolePolicyDocument=document(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
                "Action": "sts:AssumeRole",
            }
        ),
    )["Role"]["Arn"]

    def assume(role: str) -> Any:
        return sts.assume_role_with_web_identity(
            RoleArn=role, RoleSessionName="web", WebIdentityToken="t" * 10
        )

    assert denied(lambda: assume(admin)) == (
        "AccessDenied",
        "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        403,
    )
    federated = aws("iam").create_role(
        RoleName=unique("iam-web"),
        AssumeRolePolicyDocument=document(
            {
                "Effect": "Allow",
                "Principal": {"Federated": "accounts.google.com"},
                "Action": "sts:AssumeRoleWithWebIdentity",
            }
        ),
    )["Role"]["Arn"]
    assert assume(federated)["AssumedRoleUser"]["Arn"].endswith("/web")
