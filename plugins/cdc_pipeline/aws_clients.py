"""boto3 clients for tasks, built from the Airflow AWS connection.

The endpoint, region and credentials live in the connection (``aws_default`` unless
``CDC_LAKE_AWS_CONN_ID`` says otherwise): the embedded AWS and real AWS differ only there.
"""

from __future__ import annotations

from typing import Any


class ConnectionClients:
    """``clients("s3")``: a boto3 client made by the provider's hook for the named connection."""

    def __init__(self, aws_conn_id: str) -> None:
        self.aws_conn_id = aws_conn_id
        self._clients: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        if service not in self._clients:
            from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

            self._clients[service] = AwsBaseHook(aws_conn_id=self.aws_conn_id, client_type=service).get_conn()
        return self._clients[service]

    def account_id(self) -> str:
        return self("sts").get_caller_identity()["Account"]
