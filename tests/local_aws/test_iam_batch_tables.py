"""DynamoDB's batch calls are authorized per table, as AWS does: the tables are RequestItems' keys.

Without this, local_aws.iam could not name the resource of a BatchWriteItem and granted it only to
``"Resource": "*"``: the deployer policy, scoped to the prefix's tables, was refused the generator's
writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import unique

ACCOUNT = "123456789012"


def _table(aws: Callable[..., Any], name: str) -> str:
    aws("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{name}"


def test_batch_write_and_get_are_checked_on_each_table_they_name(aws: Callable[..., Any]) -> None:
    mine, other = unique("iam-batch"), unique("iam-other")
    mine_arn, other_arn = _table(aws, mine), _table(aws, other)
    iam = aws("iam")
    user = iam.create_user(UserName=unique("batch-writer"))["User"]
    iam.put_user_policy(
        UserName=user["UserName"],
        PolicyName="one-table",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["dynamodb:BatchWriteItem", "dynamodb:BatchGetItem"],
                        "Resource": mine_arn,
                    }
                ],
            }
        ),
    )
    key = iam.create_access_key(UserName=user["UserName"])["AccessKey"]
    client = aws(
        "dynamodb", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
    )

    def put(table: str) -> dict[str, Any]:
        return {table: [{"PutRequest": {"Item": {"k": {"S": "1"}}}}]}

    client.batch_write_item(RequestItems=put(mine))
    got = client.batch_get_item(RequestItems={mine: {"Keys": [{"k": {"S": "1"}}]}})
    assert got["Responses"][mine] == [{"k": {"S": "1"}}]

    with pytest.raises(ClientError) as error:
        client.batch_write_item(RequestItems={**put(mine), **put(other)})
    response = error.value.response["Error"]
    assert response["Code"] == "AccessDeniedException"
    assert response["Message"] == (
        f"User: {user['Arn']} is not authorized to perform: dynamodb:BatchWriteItem on resource: "
        f"{other_arn} because no identity-based policy allows the dynamodb:BatchWriteItem action"
    )
