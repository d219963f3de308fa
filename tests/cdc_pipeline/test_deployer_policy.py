"""The policy the README tells a team to give Airflow on real AWS: scoped, and with no way to escalate.

The escalation tests evaluate the printed policy with a small IAM evaluator (`iam_evaluation`): a
role without the boundary cannot be created or given a policy, a role can be passed only to its own
service, and the boundary itself cannot be changed or lifted. The provisioning tests check, against
the embedded AWS, that every role is created inside the boundary and that an older role gets it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cdc_pipeline.definitions import PIPELINES, SALES_ORDERS, Topology
from cdc_pipeline.deployer_policy import SERVICE_ROLES, deployer_policy, main
from cdc_pipeline.iam_policies import boundary_policy, boundary_policy_arn, role_specs
from cdc_pipeline.local_connections import pandas_layer_arn
from cdc_pipeline.provision import provision, teardown
from cdc_pipeline.provision.consumer import consumer_role_spec
from cdc_pipeline.provision.context import Deployment
from cdc_pipeline.provision.iam import BoundaryNotWritableError, ensure_boundary
from cdc_pipeline.settings import Settings
from tests.cdc_pipeline.iam_evaluation import allows, decision
from tests.support import unique

ACCOUNT = "111122223333"
SETTINGS = Settings.from_env({"CDC_LAKE_PREFIX": "acme-cdc", "CDC_LAKE_ACCOUNT_ID": ACCOUNT})
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/acme-cdc-boundary"
PIPE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/acme-cdc-sales-orders-pipe-role"
DENIED_SIDS = {"NeverWriteTheBoundary", "NeverLiftABoundary"}


def policy() -> dict:
    return deployer_policy(SETTINGS)


def all_role_specs(settings: Settings) -> list[Any]:
    """Every service role of every pipeline under `settings`."""
    specs = []
    for definition in PIPELINES.values():
        names = definition.resources(settings)
        if definition.topology is Topology.DIRECT:
            specs += [
                consumer_role_spec(names),
                *(s for s in role_specs(names) if s.resource == "crawler_role"),
            ]
        else:
            specs += role_specs(names)
    return specs


def test_every_statement_names_its_actions_and_resources():
    for statement in policy()["Statement"]:
        assert statement["Effect"] == "Allow" or statement["Sid"] in DENIED_SIDS, statement["Sid"]
        assert statement["Action"] and statement["Resource"]
        for action in statement["Action"]:
            service, _, name = action.partition(":")
            assert service and name and "*" not in action, action


def test_only_unscopable_actions_get_every_resource():
    unscoped = {s["Sid"]: s for s in policy()["Statement"] if "*" in s["Resource"]}
    assert set(unscoped) == {"Unscoped", "CreateEventSourceMappings"}
    assert set(unscoped["Unscoped"]["Action"]) == {
        "sts:GetCallerIdentity",
        "lambda:ListEventSourceMappings",
        "glue:CreateCrawler",
        "glue:GetCrawlerMetrics",
        "kinesis:UpdateShardCount",  # no resource type in parliament's copy, which local_aws enforces
    }
    # The one write on "*" is held to the prefix's functions by its condition key.
    assert unscoped["CreateEventSourceMappings"]["Condition"] == {
        "ArnLike": {"lambda:FunctionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:acme-cdc-*"}
    }


def test_resources_are_the_prefixed_ones_in_the_account():
    for statement in policy()["Statement"]:
        for resource in statement["Resource"]:
            if resource == "*":
                continue
            assert (
                "acme-cdc" in resource
                or "acme_cdc" in resource
                or resource.endswith(":catalog")
                or ("event-source-mapping" in resource)
            ), resource
            if not resource.startswith("arn:aws:s3:::"):
                assert f":{ACCOUNT}:" in resource, resource


def test_fits_in_an_inline_role_policy():
    assert len(json.dumps(policy(), separators=(",", ":"))) < 10_240


# -- escalation: what the statements do not allow -------------------------------------------------


def test_a_role_is_created_only_inside_the_boundary():
    assert not allows(policy(), "iam:CreateRole", PIPE_ROLE)
    other = f"arn:aws:iam::{ACCOUNT}:policy/acme-cdc-wide-open"
    assert not allows(policy(), "iam:CreateRole", PIPE_ROLE, {"iam:PermissionsBoundary": other})
    assert allows(policy(), "iam:CreateRole", PIPE_ROLE, {"iam:PermissionsBoundary": BOUNDARY})
    # Not even inside the boundary may it create a role that is not a service role (say, for itself).
    admin = f"arn:aws:iam::{ACCOUNT}:role/acme-cdc-admin"
    assert not allows(policy(), "iam:CreateRole", admin, {"iam:PermissionsBoundary": BOUNDARY})


@pytest.mark.parametrize(
    "action", ["iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:DetachRolePolicy", "iam:AttachRolePolicy"]
)
def test_policies_are_written_only_on_roles_inside_the_boundary(action: str):
    # A role without a boundary (an older role, or the deployer's own) gets no policy written.
    assert not allows(policy(), action, PIPE_ROLE)
    deployer_role = f"arn:aws:iam::{ACCOUNT}:role/acme-cdc-airflow"
    assert not allows(policy(), action, deployer_role, {"iam:PermissionsBoundary": BOUNDARY})
    # Provisioning never attaches a managed policy, so AttachRolePolicy is not granted at all.
    expected = action != "iam:AttachRolePolicy"
    assert allows(policy(), action, PIPE_ROLE, {"iam:PermissionsBoundary": BOUNDARY}) is expected


def test_a_role_is_passed_only_to_its_own_service():
    services = set(SERVICE_ROLES.values()) | {"ec2.amazonaws.com", "ecs-tasks.amazonaws.com"}
    for suffix, own in SERVICE_ROLES.items():
        role = f"arn:aws:iam::{ACCOUNT}:role/acme-cdc-sales-orders-{suffix}"
        assert not allows(policy(), "iam:PassRole", role), f"{suffix} passed with no service named"
        for service in services:
            passed = allows(policy(), "iam:PassRole", role, {"iam:PassedToService": service})
            assert passed is (service == own), (suffix, service)
    other = f"arn:aws:iam::{ACCOUNT}:role/acme-cdc-admin"
    assert not allows(policy(), "iam:PassRole", other, {"iam:PassedToService": "lambda.amazonaws.com"})


@pytest.mark.parametrize(
    "action",
    [
        "iam:CreatePolicy",
        "iam:CreatePolicyVersion",
        "iam:SetDefaultPolicyVersion",
        "iam:DeletePolicyVersion",
        "iam:DeletePolicy",
    ],
)
def test_the_boundary_cannot_be_written_even_beside_a_broader_policy(action: str):
    # An explicit Deny: another policy attached to the deployer cannot grant it back.
    assert decision(policy(), action, BOUNDARY) == "Deny"
    assert allows(policy(), "iam:GetPolicyVersion", BOUNDARY)


def test_a_boundary_cannot_be_lifted_or_swapped():
    assert decision(policy(), "iam:DeleteRolePermissionsBoundary", PIPE_ROLE) == "Deny"
    other = f"arn:aws:iam::{ACCOUNT}:policy/acme-cdc-wide-open"
    assert not allows(
        policy(), "iam:PutRolePermissionsBoundary", PIPE_ROLE, {"iam:PermissionsBoundary": other}
    )
    assert allows(
        policy(), "iam:PutRolePermissionsBoundary", PIPE_ROLE, {"iam:PermissionsBoundary": BOUNDARY}
    )


def test_every_service_role_is_passable_to_its_trusted_service_and_works_inside_the_boundary():
    boundary = boundary_policy(SETTINGS)
    for spec in all_role_specs(SETTINGS):
        arn = f"arn:aws:iam::{ACCOUNT}:role/{spec.name}"
        (trust,) = spec.trust["Statement"]
        service = trust["Principal"]["Service"]
        assert allows(policy(), "iam:PassRole", arn, {"iam:PassedToService": service}), spec.name
        # Every permission the inline policy grants survives the boundary (the role still works).
        for statement in spec.policy["Statement"]:
            for action in statement["Action"]:
                for resource in statement["Resource"]:
                    assert allows(boundary, action, resource), (spec.name, action, resource)


def test_the_boundary_grants_no_iam_sts_or_policy_writes():
    for statement in boundary_policy(SETTINGS)["Statement"]:
        assert statement["Effect"] == "Allow"
        for action in statement["Action"]:
            assert not action.startswith(("iam:", "sts:", "organizations:")), action
            assert not action.lower().endswith(("policy", "permissionsboundary")), action
        if "*" in statement["Resource"]:  # only actions AWS scopes to no resource
            assert set(statement["Action"]) == {"dynamodb:ListStreams", "kinesis:ListStreams"}, statement


def test_the_command_prints_the_policy_or_the_boundary(capsys, monkeypatch):
    monkeypatch.setenv("CDC_LAKE_PREFIX", "acme-cdc")
    monkeypatch.setenv("CDC_LAKE_ACCOUNT_ID", ACCOUNT)
    assert main([]) == 0
    assert json.loads(capsys.readouterr().out) == policy()
    assert main(["--boundary"]) == 0
    assert json.loads(capsys.readouterr().out) == boundary_policy(SETTINGS)


# -- provisioning puts every role inside the boundary ----------------------------------------------


@pytest.fixture
def local_settings() -> Settings:
    return Settings.from_env(
        {
            "CDC_LAKE_PREFIX": unique("t"),
            "CDC_LAKE_ENFORCE_AWS_MINIMUMS": "false",
            "CDC_LAKE_FIREHOSE_BUFFER_INTERVAL": "1",
            "CDC_LAKE_ROLE_PROPAGATION_TIMEOUT": "0",
            "CDC_LAKE_PANDAS_LAYER_ARN": pandas_layer_arn("us-east-1"),
        }
    )


def test_provisioned_roles_carry_the_boundary_and_an_older_role_gets_it(
    local_settings: Settings, aws: Callable[..., Any]
) -> None:
    iam = aws("iam")
    account = aws("sts").get_caller_identity()["Account"]
    settings = local_settings.with_account_id(account)
    names = SALES_ORDERS.resources(settings)
    specs = role_specs(names)
    # A role made before boundaries existed (by an older version of the project).
    older = specs[1]
    iam.create_role(RoleName=older.name, AssumeRolePolicyDocument=json.dumps(older.trust))
    try:
        outcomes = {o.resource: o.action for o in provision(SALES_ORDERS, local_settings, aws)}
        assert outcomes["permissions_boundary"] == "created"
        assert outcomes[older.resource] == "updated"
        boundary = boundary_policy_arn(settings)
        for spec in specs:
            role = iam.get_role(RoleName=spec.name)["Role"]
            assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary, spec.name
        stored = iam.get_policy(PolicyArn=boundary)["Policy"]
        version = iam.get_policy_version(PolicyArn=boundary, VersionId=stored["DefaultVersionId"])
        assert version["PolicyVersion"]["Document"] == boundary_policy(settings)
        again = provision(SALES_ORDERS, local_settings, aws)
        assert {o.action for o in again} == {"unchanged"}, again
    finally:
        teardown(SALES_ORDERS, local_settings, aws)
    with pytest.raises(ClientError) as error:
        iam.get_policy(PolicyArn=boundary)
    assert error.value.response["Error"]["Code"] == "NoSuchEntity"


def test_a_deployer_that_may_not_create_the_boundary_is_told_what_to_run(
    local_settings: Settings, aws: Callable[..., Any]
) -> None:
    real = aws("iam")

    class DeniedIam:
        """The embedded IAM, except that writing a policy is AccessDenied as the deployer policy makes it."""

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def create_policy(self, **kwargs: Any) -> Any:
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "not authorized to perform: iam:CreatePolicy"}},
                "CreatePolicy",
            )

    deployment = Deployment.build(
        SALES_ORDERS, local_settings, lambda s: DeniedIam() if s == "iam" else aws(s)
    )
    with pytest.raises(BoundaryNotWritableError) as error:
        ensure_boundary(deployment)
    message = str(error.value)
    assert boundary_policy_arn(deployment.settings) in message and "does not exist" in message
    assert "python -m cdc_pipeline.deployer_policy --boundary" in message
    assert "aws iam create-policy" in message


# -- the same, enforced: local_aws evaluates requests signed by the deployer's role session ---------


def _access_denied(call: Callable[[], Any], action: str, code: str = "AccessDenied") -> str:
    """IAM answers AccessDenied; Lambda (a JSON service) AccessDeniedException."""
    with pytest.raises(ClientError) as error:
        call()
    response = error.value.response["Error"]
    assert response["Code"] == code, response
    assert f"is not authorized to perform: {action}" in response["Message"], response
    return response["Message"]


def _zip() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return event\n")
    return buffer.getvalue()


@pytest.mark.parametrize("definition", [SALES_ORDERS, PIPELINES["user_events"]], ids=lambda d: d.name)
def test_the_deployer_provisions_and_tears_down_but_cannot_escalate(
    definition: Any, local_settings: Settings, aws: Callable[..., Any], endpoint_url: str
) -> None:
    import boto3

    account = aws("sts").get_caller_identity()["Account"]
    settings = local_settings.with_account_id(account)
    prefix = settings.prefix
    iam = aws("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    # Named under the prefix on purpose: the deployer must not be able to widen its own role.
    own_role = f"{prefix}-airflow"
    iam.create_role(RoleName=own_role, AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(
        RoleName=own_role, PolicyName="deployer", PolicyDocument=json.dumps(deployer_policy(settings))
    )
    credentials = aws("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{own_role}", RoleSessionName="airflow"
    )["Credentials"]

    def deployer(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )

    boundary = boundary_policy_arn(settings)
    try:
        # The boundary is the administrator's: the deployer is refused and told what to run.
        with pytest.raises(BoundaryNotWritableError, match="deployer_policy --boundary"):
            ensure_boundary(Deployment.build(definition, settings, deployer))
        ensure_boundary(Deployment.build(definition, settings, aws))

        first = provision(definition, settings, deployer)
        assert {o.action for o in first} == {"created", "unchanged"}, first
        assert {o.action for o in provision(definition, settings, deployer)} == {"unchanged"}

        anything = json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        )
        lambda_trust = json.dumps(role_specs(SALES_ORDERS.resources(settings))[0].trust)
        crawler_role = definition.resources(settings).crawler_role
        client = deployer("iam")
        _access_denied(
            lambda: client.create_role(
                RoleName=f"{prefix}-x-pipe-role", AssumeRolePolicyDocument=lambda_trust
            ),
            "iam:CreateRole",
        )
        _access_denied(
            lambda: client.create_role(
                RoleName=f"{prefix}-admin",
                AssumeRolePolicyDocument=lambda_trust,
                PermissionsBoundary=boundary,
            ),
            "iam:CreateRole",
        )
        _access_denied(
            lambda: client.put_role_policy(
                RoleName=own_role, PolicyName="everything", PolicyDocument=anything
            ),
            "iam:PutRolePolicy",
        )
        message = _access_denied(
            lambda: client.create_policy_version(
                PolicyArn=boundary, PolicyDocument=anything, SetAsDefault=True
            ),
            "iam:CreatePolicyVersion",
        )
        assert "explicit deny" in message
        _access_denied(
            lambda: client.delete_role_permissions_boundary(RoleName=crawler_role),
            "iam:DeleteRolePermissionsBoundary",
        )
        # A crawler's role handed to a Lambda function (whose code the deployer writes) is refused.
        _access_denied(
            lambda: deployer("lambda").create_function(
                FunctionName=f"{prefix}-sales-orders-escape",
                Runtime="python3.11",
                Handler="handler.lambda_handler",
                Role=f"arn:aws:iam::{account}:role/{crawler_role}",
                Code={"ZipFile": _zip()},
            ),
            "iam:PassRole",
            code="AccessDeniedException",
        )

        down = {o.resource: o.action for o in teardown(definition, settings, deployer)}
        assert down.pop("permissions_boundary") == "unchanged"  # left to the administrator
        assert set(down.values()) <= {"deleted", "absent"}, down
    finally:
        teardown(definition, settings, aws)
        iam.delete_role_policy(RoleName=own_role, PolicyName="deployer")
        iam.delete_role(RoleName=own_role)


# -- the update paths, enforced: every call provisioning makes when a resource drifted --------------


def _deployer_session(
    aws: Callable[..., Any], endpoint_url: str, settings: Settings, policy: dict[str, Any] | None = None
) -> Callable[[str], Any]:
    """Clients signed by a role session whose only policy is the deployer policy (or ``policy``).

    The caller removes the role (`_drop_deployer`).
    """
    import boto3

    account = settings.require_account_id()
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    own_role = f"{settings.prefix}-airflow"
    aws("iam").create_role(RoleName=own_role, AssumeRolePolicyDocument=json.dumps(trust))
    aws("iam").put_role_policy(
        RoleName=own_role,
        PolicyName="deployer",
        PolicyDocument=json.dumps(policy or deployer_policy(settings)),
    )
    credentials = aws("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{own_role}", RoleSessionName="airflow"
    )["Credentials"]

    def deployer(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )

    return deployer


def _drop_deployer(aws: Callable[..., Any], settings: Settings) -> None:
    aws("iam").delete_role_policy(RoleName=f"{settings.prefix}-airflow", PolicyName="deployer")
    aws("iam").delete_role(RoleName=f"{settings.prefix}-airflow")


def test_the_deployer_may_converge_drifted_resources_and_stop_a_crawler(
    local_settings: Settings, aws: Callable[..., Any], endpoint_url: str
) -> None:
    """UpdateShardCount, UpdateTable, UpdateDatabase and StopCrawler: each was missing from the policy."""
    settings = local_settings.with_account_id(aws("sts").get_caller_identity()["Account"])
    names = SALES_ORDERS.resources(settings)
    deployer = _deployer_session(aws, endpoint_url, settings)
    try:
        ensure_boundary(Deployment.build(SALES_ORDERS, settings, aws))
        provision(SALES_ORDERS, settings, deployer)
        # Drift made by someone else: an older table on provisioned billing, another description.
        aws("dynamodb").update_table(
            TableName=names.table,
            BillingMode="PROVISIONED",
            ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        )
        aws("glue").update_database(
            Name=names.glue_database, DatabaseInput={"Name": names.glue_database, "Description": "older"}
        )
        resized = settings.replace(kinesis_shard_count=2)
        outcomes = {o.resource: o.action for o in provision(SALES_ORDERS, resized, deployer)}
        assert outcomes["stream"] == "updated", outcomes
        assert outcomes["table"] == "updated", outcomes
        assert outcomes["glue_database"] == "updated", outcomes
        # Teardown stops a running crawler: the deployer is authorised, and Glue answers on the merits.
        with pytest.raises(ClientError) as error:
            deployer("glue").stop_crawler(Name=names.crawler)
        assert error.value.response["Error"]["Code"] == "CrawlerNotRunningException"
    finally:
        teardown(SALES_ORDERS, settings, aws)
        _drop_deployer(aws, settings)


def test_the_crawler_role_may_create_the_partition_indexes_crawlers_create_by_default() -> None:
    names = SALES_ORDERS.resources(SETTINGS)
    (crawler,) = [s for s in role_specs(names) if s.resource == "crawler_role"]
    table = f"arn:aws:glue:us-east-1:{ACCOUNT}:table/{names.glue_database}/sales_orders"
    for action in ("glue:CreatePartitionIndex", "glue:GetPartitionIndexes"):
        assert allows(crawler.policy, action, table), action
        assert allows(boundary_policy(SETTINGS), action, table), action


# -- every statement is needed: without it, provisioning or teardown fails -------------------------

#: Statements provisioning and teardown never need, and the DAG step that does.
NEEDED_OUTSIDE_PROVISIONING = {
    "TableStreams": "the reconcile DAG reads the table's stream",
}


def _walk(
    definition: Any, settings: Settings, aws: Callable[..., Any], endpoint_url: str, policy: dict[str, Any]
) -> BaseException | None:
    """Provision and tear down ``definition`` as a role session holding ``policy``; the error, if any."""
    deployer = _deployer_session(aws, endpoint_url, settings, policy)
    unresolved = settings.replace(account_id=None)  # so the account id is asked from STS too
    try:
        provision(definition, unresolved, deployer)
        # A lake with data, as the pipeline leaves it: teardown must delete objects to delete buckets.
        aws("s3").put_object(Bucket=settings.lake_bucket, Key=f"{definition.name}/part-0", Body=b"{}")
        teardown(definition, unresolved, deployer, include_shared=True)
    except Exception as error:  # noqa: BLE001 - any failure is the answer
        return error
    finally:
        teardown(definition, settings, aws)
        ensure_boundary(Deployment.build(definition, settings, aws))
        _drop_deployer(aws, settings)
    return None


def test_removing_any_statement_the_pipeline_needs_makes_provisioning_or_teardown_fail(
    local_settings: Settings, aws: Callable[..., Any], endpoint_url: str
) -> None:
    settings = local_settings.with_account_id(aws("sts").get_caller_identity()["Account"])
    ensure_boundary(Deployment.build(SALES_ORDERS, settings, aws))
    full = deployer_policy(settings)
    unexercised = []
    for statement in full["Statement"]:
        if statement["Effect"] != "Allow":
            continue  # the Denies close escalation paths; the pipeline needs none of them
        without = {**full, "Statement": [s for s in full["Statement"] if s is not statement]}
        failures = [
            _walk(definition, settings, aws, endpoint_url, without)
            for definition in (SALES_ORDERS, PIPELINES["user_events"])
        ]
        # With the whole policy both succeed (test_the_deployer_provisions_and_tears_down...), so a
        # failure here is the missing statement's (some surface as the step's own error: a HeadBucket
        # refused with 403 reads as a bucket that is someone else's).
        if all(f is None for f in failures):
            unexercised.append(statement["Sid"])
    assert set(unexercised) == set(NEEDED_OUTSIDE_PROVISIONING), unexercised
    iam = aws("iam")
    iam.delete_policy(PolicyArn=boundary_policy_arn(settings))
