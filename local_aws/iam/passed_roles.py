"""A role handed to Lambda must be one Lambda can assume, whoever signs the request.

CreateFunction and UpdateFunctionConfiguration with a ``Role`` whose trust policy does not let
``lambda.amazonaws.com`` assume it fail with Lambda's ``InvalidParameterValueException: The role
defined for the function cannot be assumed by Lambda.`` (the account's own keys included: this is
Lambda's check, not the caller's permission). A role IAM does not know is let through (see the
package's LIMITATIONS).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from local_aws.iam.evaluation import trust_allows
from local_aws.iam.principals import find_role
from local_aws.validation.errors import AwsError

if TYPE_CHECKING:
    from local_aws.gateway import AwsRequest

_FUNCTION_WRITES = (("POST", "/2015-03-31/functions"), ("PUT", "/configuration"))


def check_lambda_role(request: AwsRequest) -> None:
    """Raise Lambda's InvalidParameterValueException for a role Lambda cannot assume."""
    if request.service != "lambda" or not request.body:
        return
    if not any(
        request.method == method and request.path.rstrip("/").endswith(suffix)
        for method, suffix in _FUNCTION_WRITES
    ):
        return
    try:
        body = json.loads(request.body)
    except ValueError:
        return  # validation answers a malformed body
    role_arn = body.get("Role") if isinstance(body, dict) else None
    if not isinstance(role_arn, str) or not role_arn.startswith("arn:"):
        return
    role = find_role(role_arn)
    if role is None:
        return
    context = {"aws:SecureTransport": "true"}
    if not trust_allows(
        role.assume_role_policy_document, "lambda.amazonaws.com", "sts:AssumeRole", context
    ).allowed:
        raise AwsError(
            "InvalidParameterValueException", "The role defined for the function cannot be assumed by Lambda."
        )
