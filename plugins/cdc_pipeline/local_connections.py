"""The Airflow connections for a local run against the embedded AWS, as environment variables.

This is the only place local-only connection settings live. Against real AWS, define
``aws_default`` (and ``athena_default``) in Airflow as usual instead, with no endpoint: the DAG code
is the same.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

# The embedded AWS accepts any credentials; these only satisfy boto3's signer.
LOCAL_ACCESS_KEY = "local"
LOCAL_SECRET_KEY = "local"


def pandas_layer_arn(region: str) -> str:
    """AWS's managed layer AWS SDK for pandas (with pyarrow), which the embedded Lambda provides at any
    version: the Parquet consumer of a direct pipeline needs it."""
    return f"arn:aws:lambda:{region}:336392948345:layer:AWSSDKPandas-Python314:1"


def conn_variable(conn_id: str) -> str:
    """The environment variable Airflow reads connection ``conn_id`` from."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def connection_env(
    endpoint_url: str,
    region: str,
    workgroup: str,
    aws_conn_id: str = "aws_default",
    athena_conn_id: str = "athena_default",
) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variables for the AWS and Athena connections on ``endpoint_url``.

    Named after the connection ids the settings use (``CDC_LAKE_AWS_CONN_ID``,
    ``CDC_LAKE_ATHENA_CONN_ID``), so a configured id gets its connection.

    The Athena SQL hook (used by the common-sql check operators) reads login and password from its
    own connection, and hands the extras to PyAthena, which takes ``endpoint_url`` for its client.
    """
    aws = {
        "conn_type": "aws",
        "login": LOCAL_ACCESS_KEY,
        "password": LOCAL_SECRET_KEY,
        "extra": {"endpoint_url": endpoint_url, "region_name": region},
    }
    athena = {
        "conn_type": "athena",
        "login": LOCAL_ACCESS_KEY,
        "password": LOCAL_SECRET_KEY,
        "extra": {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "work_group": workgroup,
            "poll_interval": 0.2,
        },
    }
    return {conn_variable(aws_conn_id): json.dumps(aws), conn_variable(athena_conn_id): json.dumps(athena)}


def local_env(
    endpoint_url: str, region: str = "us-east-1", prefix: str = "cdc-lake", buffer_seconds: int = 2
) -> dict[str, str]:
    """Everything a local run sets: connections, the standard AWS variables and fast buffering."""
    env = {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY,
        "AWS_DEFAULT_REGION": region,
        "CDC_LAKE_PREFIX": prefix,
        "CDC_LAKE_REGION": region,
        "CDC_LAKE_FIREHOSE_BUFFER_INTERVAL": str(buffer_seconds),
        # The interval flushes first; 64 MB is the least a Parquet conversion takes (as on AWS).
        "CDC_LAKE_FIREHOSE_BUFFER_SIZE": "64",
        "CDC_LAKE_PIPE_BATCH_WINDOW": "1",
        "CDC_LAKE_PIPE_BATCH_SIZE": "500",
        "CDC_LAKE_ESM_BATCH_SIZE": "1000",
        "CDC_LAKE_ENFORCE_AWS_MINIMUMS": "false",
        "CDC_LAKE_ROLE_PROPAGATION_TIMEOUT": "0",
        "CDC_LAKE_POLL_INTERVAL": "0.2",
        "CDC_LAKE_DELIVERY_GRACE": "1",
        "CDC_LAKE_PANDAS_LAYER_ARN": pandas_layer_arn(region),
    }
    # The checks' Athena connection must name the workgroup the settings will use.
    workgroup = os.environ.get("CDC_LAKE_ATHENA_WORKGROUP") or prefix
    conn_ids = {
        "aws_conn_id": os.environ.get("CDC_LAKE_AWS_CONN_ID") or "aws_default",
        "athena_conn_id": os.environ.get("CDC_LAKE_ATHENA_CONN_ID") or "athena_default",
    }
    env.update(connection_env(endpoint_url, region, workgroup, **conn_ids))
    # A configured id or workgroup travels with the connections that use it, for whoever reads the
    # settings from this env (a check's workgroup must be the one the settings name).
    for variable in ("CDC_LAKE_AWS_CONN_ID", "CDC_LAKE_ATHENA_CONN_ID", "CDC_LAKE_ATHENA_WORKGROUP"):
        if os.environ.get(variable):
            env[variable] = os.environ[variable]
    return env


def deployer_env(env: dict[str, str]) -> dict[str, str]:
    """The connections of ``env`` (a `local_env`), signed as the deployer instead of the account's keys.

    With the account's own keys (the administrator), this creates what an administrator creates on
    AWS: the permissions boundary, and a role ``airflow-<prefix>`` whose only policy is the
    generated deployer policy (a role, not a user: the policy is too large for a user's inline
    policies, 2,048 characters, or one managed policy, 6,144). The returned ``AIRFLOW_CONN_*``
    variables carry a session of that role, so the DAGs run as the deployer, and the service roles
    provisioning creates are used exactly as provisioned. Needs a local_aws that enforces IAM.
    """
    import boto3

    from cdc_pipeline.definitions import SALES_ORDERS
    from cdc_pipeline.deployer_policy import deployer_policy
    from cdc_pipeline.provision.context import Deployment
    from cdc_pipeline.provision.iam import ensure_boundary
    from cdc_pipeline.settings import Settings

    endpoint_url, region = env["AWS_ENDPOINT_URL"], env["AWS_DEFAULT_REGION"]

    def admin(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )

    account = admin("sts").get_caller_identity()["Account"]
    settings = Settings.from_env(env).with_account_id(account)
    ensure_boundary(Deployment.build(SALES_ORDERS, settings, admin))
    # Outside the prefix's names: the deployer policy gives it no power over its own role.
    role = f"airflow-{settings.prefix}"
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
    iam = admin("iam")
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(
        RoleName=role, PolicyName="deployer", PolicyDocument=json.dumps(deployer_policy(settings))
    )
    credentials = admin("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="airflow", DurationSeconds=43200
    )["Credentials"]
    aws_variable, athena_variable = (
        conn_variable(settings.aws_conn_id),
        conn_variable(settings.athena_conn_id),
    )
    aws = json.loads(env[aws_variable])
    aws["login"], aws["password"] = credentials["AccessKeyId"], credentials["SecretAccessKey"]
    aws["extra"] = {**aws["extra"], "aws_session_token": credentials["SessionToken"]}
    athena = json.loads(env[athena_variable])
    # The Athena SQL hook hands its merged extras to PyAthena, whose client then takes these three
    # together (an aws_session_token alone would leave it without a key id).
    athena.pop("login", None)
    athena.pop("password", None)
    athena["extra"] = {
        **athena["extra"],
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
    }
    return {aws_variable: json.dumps(aws), athena_variable: json.dumps(athena)}
