"""The test process shares botocore's parsed data files between Sessions (``tests/conftest.py``):
what one client edits in its model must not reach local_aws's own model in the same process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import botocore.config
import botocore.session

from local_aws.iam import s3_operations
from tests.support import unique


def test_a_clients_calls_leave_the_s3_model_of_another_session_as_botocore_ships_it(
    aws: Callable[..., Any],
) -> None:
    s3 = aws("s3", config=botocore.config.Config(s3={"addressing_style": "path"}))
    bucket = unique("model-cache")
    s3.create_bucket(Bucket=bucket)  # botocore strips "/{Bucket}" from the operations it calls
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")

    model = botocore.session.get_session().get_service_model("s3")
    assert model.operation_model("CreateBucket").http["requestUri"] == "/{Bucket}"
    assert model.operation_model("PutObject").http["requestUri"].startswith("/{Bucket}/{Key+}")

    # local_aws's route table, built after those calls, still tells the two apart.
    s3_operations._routes.cache_clear()
    try:
        assert s3_operations.resolve("PUT", f"/{bucket}", "", {}).action == "s3:CreateBucket"
        assert s3_operations.resolve("PUT", f"/{bucket}/k", "", {}).action == "s3:PutObject"
    finally:
        s3_operations._routes.cache_clear()
