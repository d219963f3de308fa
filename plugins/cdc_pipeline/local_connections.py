"""The Airflow connections for a local run against the embedded AWS, as environment variables.

This is the only place local-only connection settings live. Against real AWS, define
``aws_default`` (and ``athena_default``) in Airflow as usual instead, with no endpoint: the DAG code
is the same.
"""

from __future__ import annotations

import json
import os

# The embedded AWS accepts any credentials; these only satisfy boto3's signer.
LOCAL_ACCESS_KEY = "local"
LOCAL_SECRET_KEY = "local"


def connection_env(endpoint_url: str, region: str, workgroup: str) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variables for ``aws_default`` and ``athena_default`` on ``endpoint_url``.

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
    return {
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws),
        "AIRFLOW_CONN_ATHENA_DEFAULT": json.dumps(athena),
    }


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
        "CDC_LAKE_FIREHOSE_BUFFER_SIZE": "1",
        "CDC_LAKE_PIPE_BATCH_WINDOW": "1",
        "CDC_LAKE_PIPE_BATCH_SIZE": "500",
        "CDC_LAKE_ESM_BATCH_SIZE": "1000",
        "CDC_LAKE_ENFORCE_AWS_MINIMUMS": "false",
        "CDC_LAKE_ROLE_PROPAGATION_TIMEOUT": "0",
        "CDC_LAKE_POLL_INTERVAL": "0.2",
        "CDC_LAKE_DELIVERY_GRACE": "1",
    }
    # The checks' Athena connection must name the workgroup the settings will use.
    workgroup = os.environ.get("CDC_LAKE_ATHENA_WORKGROUP") or prefix
    env.update(connection_env(endpoint_url, region, workgroup))
    return env
